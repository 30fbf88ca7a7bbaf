//! Checks across blocks (names, VRIDs, references), as keepalived does after parsing.

use crate::diag::Diagnostic;
use crate::lower::{RefKind, SpanIndex};
use drift_model::{Config, Family};
use std::collections::{HashMap, HashSet};
use std::path::Path;

pub fn validate(config: &Config, spans: &SpanIndex, diags: &mut Vec<Diagnostic>) {
    let mut names: HashMap<&str, usize> = HashMap::new();
    let mut vrids: HashMap<(&str, Family, u8), usize> = HashMap::new();
    for (idx, inst) in config.instances.iter().enumerate() {
        let name_span = spans.instance_name.get(idx).copied().unwrap_or_default();
        if let Some(first) = names.insert(&inst.name, idx) {
            names.insert(&inst.name, first);
            diags.push(Diagnostic::error(
                name_span,
                format!("vrrp_instance {} is already defined", inst.name),
            ));
        }
        let Some(Some(vrid_span)) = spans.instance_vrid.get(idx) else {
            continue;
        };
        if inst.virtual_router_id == 0 {
            continue;
        }
        // RFC 5798 §7.3: the VRID identifies the router on its LAN per family; keepalived refuses reuse
        // on the same interface (unicast instances are exempt since adverts never meet).
        if !inst.unicast_peer.is_empty() {
            continue;
        }
        let iface = inst.interface.as_deref().unwrap_or("");
        let key = (iface, inst.family, inst.virtual_router_id);
        if let Some(&other) = vrids.get(&key) {
            let other = &config.instances[other].name;
            let fam = if inst.family == Family::Inet {
                "IPv4"
            } else {
                "IPv6"
            };
            diags.push(
                Diagnostic::error(
                    *vrid_span,
                    format!(
                    "virtual_router_id {} already used by {other} with {fam} on interface {iface}",
                    inst.virtual_router_id
                ),
                )
                .with_label("duplicate VRID"),
            );
        } else {
            vrids.insert(key, idx);
        }
    }
    check_refs(config, spans, diags);
    check_sync_groups(config, spans, diags);
}

fn check_refs(config: &Config, spans: &SpanIndex, diags: &mut Vec<Diagnostic>) {
    let scripts: HashSet<&str> = config
        .vrrp_scripts
        .iter()
        .map(|s| s.name.as_str())
        .collect();
    let files: HashSet<&str> = config.track_files.iter().map(|s| s.name.as_str()).collect();
    let procs: HashSet<&str> = config
        .track_processes
        .iter()
        .map(|s| s.name.as_str())
        .collect();
    let insts: HashSet<&str> = config.instances.iter().map(|s| s.name.as_str()).collect();
    for (kind, name, span) in &spans.refs {
        let (set, what) = match kind {
            RefKind::Script => (&scripts, "vrrp_script"),
            RefKind::TrackFile => (&files, "track_file"),
            RefKind::TrackProcess => (&procs, "vrrp_track_process"),
            RefKind::SyncMember => (&insts, "vrrp_instance"),
        };
        if set.contains(name.as_str()) {
            continue;
        }
        let mut d = Diagnostic::error(*span, format!("`{name}` is not defined by any {what}"))
            .with_label(format!("undefined {what}"));
        let best = set
            .iter()
            .map(|c| (strsim::jaro_winkler(name, c), *c))
            .filter(|(s, _)| *s >= 0.85)
            .max_by(|a, b| a.0.total_cmp(&b.0));
        if let Some((_, c)) = best {
            d = d.with_note(format!("help: did you mean `{c}`?"));
        }
        diags.push(d);
    }
}

fn check_sync_groups(config: &Config, spans: &SpanIndex, diags: &mut Vec<Diagnostic>) {
    let mut owner: HashMap<&str, &str> = HashMap::new();
    let instances: HashSet<&str> = config.instances.iter().map(|i| i.name.as_str()).collect();
    for (idx, g) in config.sync_groups.iter().enumerate() {
        let at = spans.sync_group_name.get(idx).copied().unwrap_or_default();
        let members: HashSet<&str> = g.group.iter().map(String::as_str).collect();
        let existing = members.iter().filter(|m| instances.contains(*m)).count();
        match existing {
            0 => diags.push(Diagnostic::warning(
                at,
                format!(
                    "sync group {} has no virtual routers; keepalived removes it",
                    g.name
                ),
            )),
            1 => diags.push(Diagnostic::warning(
                at,
                format!(
                    "sync group {} has only 1 virtual router - this probably isn't what you want",
                    g.name
                ),
            )),
            _ => {}
        }
        for m in members {
            if let Some(other) = owner.insert(m, &g.name) {
                diags.push(Diagnostic::error(
                    at,
                    format!("vrrp_instance {m} is in sync groups {other} and {}", g.name),
                ));
            }
        }
    }
}

/// keepalived -t disables a vrrp_script whose program is missing or not executable; drift warns
/// the same way (only when checking real files, never from `parse_str`).
pub fn check_script_files(config: &Config, spans: &SpanIndex, diags: &mut Vec<Diagnostic>) {
    use std::os::unix::fs::PermissionsExt;
    for (s, span) in config.vrrp_scripts.iter().zip(&spans.script_path) {
        let Some(span) = span else { continue };
        let Some(prog) = s.script.split_whitespace().next() else {
            continue;
        };
        if !prog.starts_with('/') {
            continue; // resolved through PATH at run time, as keepalived does.
        }
        let ok = std::fs::metadata(prog)
            .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false);
        if !ok {
            diags.push(Diagnostic::warning(*span, format!(
                "script `{prog}` of vrrp_script {} not found or not executable; the track script will be disabled",
                s.name
            )));
            continue;
        }
        // enable_script_security: a script root runs must not be modifiable by anyone else.
        // Run as root: its own user, else script_user, is root or unset (keepalived_script, the
        // other default, is not resolved here).
        let user = s.user.as_deref().or(config
            .global_defs
            .script_user
            .as_ref()
            .map(|u| u.user.as_str()));
        if config.global_defs.enable_script_security && user.is_none_or(|u| u == "root") {
            let real =
                std::fs::canonicalize(prog).unwrap_or_else(|_| Path::new(prog).to_path_buf());
            if let Ok(Some(c)) = crate::script_security::first_unsafe_component(&real) {
                diags.push(Diagnostic::warning(*span, format!(
                    "vrrp_script {}: '{}' can be modified by a non-root user and the script runs as root; with enable_script_security it will be disabled",
                    s.name,
                    c.display()
                )));
            }
        }
    }
}

/// keepalived -t warns about interfaces the host does not have ("Non-existent interface
/// specified in configuration") and runs anyway; drift does the same when checking real files.
/// Skipped when /sys/class/net cannot be read (not Linux, or a restricted container).
pub fn check_interfaces(spans: &SpanIndex, diags: &mut Vec<Diagnostic>) {
    let Ok(dir) = std::fs::read_dir("/sys/class/net") else {
        return;
    };
    let present: HashSet<String> = dir
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    for (name, span, what) in &spans.interfaces {
        if !present.contains(name) {
            diags.push(Diagnostic::warning(
                *span,
                format!("interface {name} for {what} doesn't exist on this host"),
            ));
        }
    }
}
