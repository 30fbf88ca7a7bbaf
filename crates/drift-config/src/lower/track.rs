//! `vrrp_script`, `track_file`, `vrrp_track_process`, `vrrp_sync_group`.

use super::instance_parts as parts;
use super::keywords::{SCRIPT, SYNC_GROUP, TRACK_FILE, TRACK_PROCESS};
use super::{Cx, RefKind};
use crate::tree::Node;
use drift_model::{Config, SyncGroup, TrackFile, TrackProcess, VrrpScript};

fn name(node: &Node, cx: &mut Cx) -> Option<String> {
    let n = node.args.first().map(|w| w.text.clone());
    if n.is_none() {
        cx.error(node.key.span, format!("{} needs a name", node.key.text));
    }
    n
}

/// `weight N [reverse]` inside a tracker block, N within `limit` either way.
fn weight(n: &Node, cx: &mut Cx, limit: i64, weight: &mut i32, reverse: &mut bool) {
    if let Some(v) = cx.int(n, -limit, limit) {
        *weight = v as i32;
    }
    for w in n.args.iter().skip(1) {
        match w.text.as_str() {
            "reverse" => *reverse = true,
            "noreverse" => *reverse = false,
            other => cx.error(
                w.span,
                format!("unexpected `{other}` after weight (expected `reverse`)"),
            ),
        }
    }
}

/// The shortest vrrp_script interval and timeout drift runs.
const MIN_SCRIPT_TIME: std::time::Duration = std::time::Duration::from_millis(50);

pub fn lower_script(node: &Node, cx: &mut Cx, config: &mut Config) {
    let Some(name) = name(node, cx) else { return };
    let mut s = VrrpScript::new(name, "");
    let mut timeout = None;
    let mut script_span = None;
    for n in cx.block(node).iter() {
        match n.key.text.as_str() {
            "script" => {
                script_span = Some(n.span());
                s.script = cx.command(n).unwrap_or_default();
            }
            "interval" => s.interval = cx.secs(n).unwrap_or(s.interval),
            "timeout" => timeout = cx.secs(n),
            "weight" => weight(n, cx, 253, &mut s.weight, &mut s.reverse),
            "rise" => s.rise = cx.int(n, 1, 1_000_000).map(|v| v as u32).unwrap_or(1),
            "fall" => s.fall = cx.int(n, 1, 1_000_000).map(|v| v as u32).unwrap_or(1),
            "user" => {
                s.user = cx.string(n);
                s.group = n.arg(1).map(|w| w.text.clone());
            }
            "init_fail" => s.init_fail = true,
            _ => cx.unknown(n, "vrrp_script", SCRIPT),
        }
    }
    if script_span.is_none() {
        cx.error(
            node.key.span,
            format!("vrrp_script {} has no `script`", s.name),
        );
    }
    // drift extension (issue 8): fractions of a second, keepalived 2.2.7 takes whole seconds.
    // Below 50 ms a check would mostly measure fork/exec.
    for (what, d) in [("interval", Some(s.interval)), ("timeout", timeout)] {
        if let Some(d) = d.filter(|d| *d < MIN_SCRIPT_TIME) {
            cx.error(
                node.key.span,
                format!(
                    "vrrp_script {}: {what} {:.3} s is below the 0.05 s minimum",
                    s.name,
                    d.as_secs_f64()
                ),
            );
        }
    }
    // keepalived: the timeout defaults to the interval.
    s.timeout = timeout.unwrap_or(s.interval);
    cx.spans.script_path.push(script_span);
    config.vrrp_scripts.push(s);
}

pub fn lower_track_file(node: &Node, cx: &mut Cx, config: &mut Config) {
    let Some(name) = name(node, cx) else { return };
    let mut t = TrackFile {
        name,
        file: String::new(),
        weight: 1,
        reverse: false,
        init_file: None,
    };
    for n in cx.block(node).iter() {
        match n.key.text.as_str() {
            "file" => t.file = cx.string(n).unwrap_or_default(),
            // keepalived.conf(5): -2147483647..2147483647 (the value is multiplied by it).
            "weight" => weight(n, cx, 2_147_483_647, &mut t.weight, &mut t.reverse),
            "init_file" => t.init_file = Some(n.args.iter().map(|w| w.text.clone()).collect()),
            _ => cx.unknown(n, "track_file", TRACK_FILE),
        }
    }
    if t.file.is_empty() {
        cx.error(
            node.key.span,
            format!("{} {} has no `file`", node.key.text, t.name),
        );
    }
    config.track_files.push(t);
}

pub fn lower_track_process(node: &Node, cx: &mut Cx, config: &mut Config) {
    let Some(name) = name(node, cx) else { return };
    let mut p = TrackProcess {
        name,
        process: Vec::new(),
        param_match: None,
        weight: 1,
        reverse: false,
        quorum: 1,
        quorum_max: None,
        delay: None,
        fork_delay: None,
        terminate_delay: None,
        full_command: false,
    };
    for n in cx.block(node).iter() {
        match n.key.text.as_str() {
            "process" => {
                if cx.arg(n).is_some() {
                    p.process = n.args.iter().map(|w| w.text.clone()).collect();
                }
            }
            "param_match" => p.param_match = cx.string(n),
            "weight" => weight(n, cx, 254, &mut p.weight, &mut p.reverse),
            "quorum" => p.quorum = cx.int(n, 1, 65535).map(|v| v as u32).unwrap_or(1),
            // 0: fail while any matching process runs (keepalived.conf(5)).
            "quorum_max" => p.quorum_max = cx.int(n, 0, 65535).map(|v| v as u32),
            "delay" => p.delay = cx.secs(n),
            "fork_delay" => p.fork_delay = cx.secs(n),
            "terminate_delay" => p.terminate_delay = cx.secs(n),
            "full_command" => p.full_command = true,
            _ => cx.unknown(n, "vrrp_track_process", TRACK_PROCESS),
        }
    }
    if p.process.is_empty() {
        cx.error(
            node.key.span,
            format!("vrrp_track_process {} has no `process`", p.name),
        );
    }
    config.track_processes.push(p);
}

pub fn lower_sync_group(node: &Node, cx: &mut Cx, config: &mut Config) {
    let Some(name) = name(node, cx) else { return };
    let mut g = SyncGroup {
        name,
        ..SyncGroup::default()
    };
    for n in cx.block(node).iter() {
        match n.key.text.as_str() {
            "group" => {
                for line in cx.block(n) {
                    for w in std::iter::once(&line.key).chain(&line.args) {
                        cx.spans
                            .refs
                            .push((RefKind::SyncMember, w.text.clone(), w.span));
                        g.group.push(w.text.clone());
                    }
                }
            }
            "notify_master" => g.notify.master = cx.notify_command(n, &mut g.notify.users),
            "notify_backup" => g.notify.backup = cx.notify_command(n, &mut g.notify.users),
            "notify_fault" => g.notify.fault = cx.notify_command(n, &mut g.notify.users),
            "notify_stop" => g.notify.stop = cx.notify_command(n, &mut g.notify.users),
            "notify_deleted" => g.notify.deleted = cx.notify_command(n, &mut g.notify.users),
            "notify" => g.notify.notify = cx.notify_command(n, &mut g.notify.users),
            "notify_priority_changes" => g.notify.priority_changes = cx.flag(n),
            "smtp_alert" => g.smtp_alert = cx.flag(n),
            "global_tracking" => g.global_tracking = true,
            "sync_group_tracking_weight" => g.sync_group_tracking_weight = true,
            "track_script" => g.track_script.extend(parts::track_scripts(n, cx)),
            "track_interface" => g.track_interface.extend(parts::track_interfaces(n, cx)),
            "track_file" => g
                .track_file
                .extend(parts::track_refs(n, cx, RefKind::TrackFile)),
            "track_process" => {
                g.track_process
                    .extend(parts::track_refs(n, cx, RefKind::TrackProcess))
            }
            _ => cx.raw_or_unknown(n, "vrrp_sync_group", SYNC_GROUP, &mut g.extra),
        }
    }
    cx.spans
        .sync_group_name
        .push(node.args.first().map(|w| w.span).unwrap_or(node.key.span));
    config.sync_groups.push(g);
}
