//! `vrrp_instance`: keywords, then keepalived's completion rules (vrrp.c `vrrp_complete_instance`).

use super::instance_parts as parts;
use super::keywords::INSTANCE;
use super::{lines, values, Cx, RefKind};
use crate::diag::Span;
use crate::tree::Node;
use drift_model::{
    Authentication, Config, Family, InitialState, Notify, VrrpInstance, VrrpVersion,
};
use std::net::IpAddr;
use std::time::Duration;

/// What was written explicitly; completion needs it because keepalived's defaults depend on it.
#[derive(Default)]
struct Written {
    priority: Option<Span>,
    version: Option<(VrrpVersion, Span)>,
    advert_int: Option<Span>,
    nopreempt: Option<Span>,
    preempt_immediate: Option<Span>,
    state: Option<Span>,
    mcast_dst_ip: bool,
    accept: Option<bool>,
    lower_prio_delay: bool,
    lower_prio_repeat: bool,
    /// First VIP of each line, for family errors.
    vip_spans: Vec<Span>,
    unicast_ttl: Option<Span>,
    /// Any `virtual_ipaddress` line at all (even an invalid one, which has its own error).
    vip_lines: bool,
}

pub fn lower_instance(node: &Node, cx: &mut Cx, config: &mut Config) {
    let Some(name_word) = node.args.first() else {
        cx.error(node.key.span, "vrrp_instance needs a name");
        return;
    };
    let g = &config.global_defs;
    let mut i = VrrpInstance::new(name_word.text.clone(), 0);
    i.version = g.vrrp_version;
    i.garp.master_delay = g.vrrp_garp_master_delay;
    i.garp.master_repeat = g.vrrp_garp_master_repeat;
    i.garp.master_refresh = g.vrrp_garp_master_refresh;
    i.garp.master_refresh_repeat = g.vrrp_garp_master_refresh_repeat;
    i.garp.interval = g.vrrp_garp_interval;
    i.garp.gna_interval = g.vrrp_gna_interval;
    i.down_timer_adverts = g.vrrp_down_timer_adverts;
    i.lower_prio_no_advert = g.vrrp_lower_prio_no_advert;
    i.higher_prio_send_advert = g.vrrp_higher_prio_send_advert;
    i.check_unicast_src = g.vrrp_check_unicast_src;
    i.skip_check_adv_addr = g.vrrp_skip_check_adv_addr;
    i.strict_mode = g.vrrp_strict;
    i.smtp_alert = g.smtp_alert.unwrap_or(false);
    let mut w = Written::default();
    let mut vrid_span = None;

    for n in cx.block(node).iter() {
        match n.key.text.as_str() {
            "state" => {
                w.state = Some(n.span());
                if let Some(a) = cx.arg(n) {
                    match a.text.to_ascii_uppercase().as_str() {
                        "MASTER" => i.state = InitialState::Master,
                        "BACKUP" => i.state = InitialState::Backup,
                        _ => cx.error(
                            a.span,
                            format!("invalid state `{}` (expected MASTER or BACKUP)", a.text),
                        ),
                    }
                }
            }
            "interface" => {
                i.interface = cx.string(n);
                if let Some(w) = n.arg(0) {
                    let what = format!("vrrp_instance {}", name_word.text);
                    cx.spans.interfaces.push((w.text.clone(), w.span, what));
                }
            }
            "virtual_router_id" => {
                vrid_span = Some(n.span());
                if let Some(v) = cx.int(n, 1, 255) {
                    i.virtual_router_id = v as u8;
                }
            }
            "priority" => {
                w.priority = Some(n.span());
                if let Some(v) = cx.int(n, 1, 255) {
                    i.priority = v as u8;
                }
            }
            "advert_int" => {
                w.advert_int = Some(n.span());
                if let Some(v) = cx.secs(n) {
                    i.advert_int = v;
                }
            }
            "version" => {
                if let Some(v) = cx.int(n, 2, 3) {
                    let v = if v == 3 {
                        VrrpVersion::V3
                    } else {
                        VrrpVersion::V2
                    };
                    i.version = v;
                    w.version = Some((v, n.span()));
                }
            }
            "nopreempt" => {
                w.nopreempt = Some(n.span());
                i.preempt = false;
            }
            "preempt" => i.preempt = cx.flag(n),
            "preempt_delay" => {
                if let Some(d) = cx.secs(n) {
                    if d > Duration::from_secs(1000) {
                        cx.error(n.span(), "preempt_delay must be at most 1000 seconds");
                    } else {
                        i.preempt_delay = d;
                    }
                }
            }
            "preempt_immediate" => {
                w.preempt_immediate = Some(n.span());
                i.preempt_immediate = cx.flag(n);
            }
            "authentication" => i.authentication = parts::authentication(n, cx),
            "mcast_src_ip" => i.mcast_src_ip = cx.ip(n),
            "mcast_dst_ip" => {
                if let Some(a) = cx.ip(n) {
                    i.mcast_dst_ip = a;
                    w.mcast_dst_ip = true;
                }
            }
            "unicast_src_ip" => i.unicast_src_ip = cx.ip(n),
            "unicast_peer" => i.unicast_peer.extend(parts::unicast_peers(n, cx)),
            "unicast_ttl" => {
                w.unicast_ttl = Some(n.span());
                i.unicast_ttl = cx.int(n, 0, 255).map(|v| v as u8).unwrap_or(i.unicast_ttl)
            }
            "unicast_fault_no_peer" => i.unicast_fault_no_peer = true,
            "virtual_ipaddress" | "virtual_ipaddress_excluded" => {
                for line in cx.block(n) {
                    w.vip_lines |= n.key.text == "virtual_ipaddress";
                    if let Some(v) = parts::vip(line, cx) {
                        w.vip_spans.push(line.key.span);
                        if n.key.text == "virtual_ipaddress" {
                            i.virtual_ipaddress.push(v);
                        } else {
                            i.virtual_ipaddress_excluded.push(v);
                        }
                    }
                }
            }
            "virtual_routes" => i.virtual_routes.extend(lines(cx.block(n))),
            "virtual_rules" => i.virtual_rules.extend(lines(cx.block(n))),
            "track_script" => i.track_script.extend(parts::track_scripts(n, cx)),
            "track_interface" => i.track_interface.extend(parts::track_interfaces(n, cx)),
            "track_file" => i
                .track_file
                .extend(parts::track_refs(n, cx, RefKind::TrackFile)),
            "track_process" => {
                i.track_process
                    .extend(parts::track_refs(n, cx, RefKind::TrackProcess))
            }
            "track_upstream" => i.track_upstream.extend(parts::track_upstreams(n, cx)),
            k if k.starts_with("notify") => notify(n, cx, &mut i.notify),
            "smtp_alert" => i.smtp_alert = cx.flag(n),
            "garp_master_delay" => i.garp.master_delay = cx.secs(n).unwrap_or(i.garp.master_delay),
            "garp_master_repeat" => i.garp.master_repeat = u32_or(cx, n, i.garp.master_repeat),
            "garp_master_refresh" => {
                i.garp.master_refresh = cx.secs(n).unwrap_or(i.garp.master_refresh)
            }
            "garp_master_refresh_repeat" => {
                i.garp.master_refresh_repeat = u32_or(cx, n, i.garp.master_refresh_repeat)
            }
            "garp_lower_prio_delay" => {
                w.lower_prio_delay = true;
                i.garp.lower_prio_delay = cx.secs(n).unwrap_or(i.garp.lower_prio_delay);
            }
            "garp_lower_prio_repeat" => {
                w.lower_prio_repeat = true;
                i.garp.lower_prio_repeat = u32_or(cx, n, i.garp.lower_prio_repeat);
            }
            "down_timer_adverts" => {
                i.down_timer_adverts = cx.int(n, 1, 100).map(|v| v as u32).unwrap_or(3)
            }
            "dont_track_primary" => i.dont_track_primary = true,
            "use_vmac" => i.use_vmac = Some(n.args.iter().map(|a| a.text.clone()).collect()),
            "vmac_xmit_base" => i.vmac_xmit_base = true,
            "accept" => w.accept = Some(true),
            "no_accept" => w.accept = Some(false),
            "higher_prio_send_advert" => i.higher_prio_send_advert = cx.flag(n),
            "lower_prio_no_advert" => i.lower_prio_no_advert = cx.flag(n),
            "check_unicast_src" => i.check_unicast_src = true,
            "skip_check_adv_addr" => i.skip_check_adv_addr = cx.flag(n),
            "strict_mode" => i.strict_mode = cx.flag(n),
            // keepalived: force IPv6 for an instance with no VIPs yet; the family follows the VIPs here.
            "native_ipv6" => i.family = Family::Inet6,
            _ => cx.raw_or_unknown(n, "vrrp_instance", INSTANCE, &mut i.extra),
        }
    }
    complete(&mut i, &w, cx, config, name_word.span);
    cx.spans.instance_name.push(name_word.span);
    cx.spans.instance_vrid.push(vrid_span);
    if vrid_span.is_none() {
        cx.error(
            name_word.span,
            format!("vrrp_instance {} has no virtual_router_id", i.name),
        );
    }
    config.instances.push(i);
}

fn u32_or(cx: &mut Cx, n: &Node, old: u32) -> u32 {
    cx.int(n, 0, 1_000_000).map(|v| v as u32).unwrap_or(old)
}

fn notify(n: &Node, cx: &mut Cx, out: &mut Notify) {
    let slot = match n.key.text.as_str() {
        "notify_master" => &mut out.master,
        "notify_backup" => &mut out.backup,
        "notify_fault" => &mut out.fault,
        "notify_stop" => &mut out.stop,
        "notify_deleted" => &mut out.deleted,
        "notify" => &mut out.notify,
        "notify_master_rx_lower_pri" => &mut out.master_rx_lower_pri,
        "notify_priority_changes" => {
            out.priority_changes = cx.flag(n);
            return;
        }
        _ => {
            cx.unknown(n, "vrrp_instance", INSTANCE);
            return;
        }
    };
    *slot = cx.notify_command(n, &mut out.users);
}

/// keepalived's completion rules, with the warnings it prints for each adjustment.
fn complete(i: &mut VrrpInstance, w: &Written, cx: &mut Cx, config: &Config, name: Span) {
    let g = &config.global_defs;
    // Family: all VIPs must share one (keepalived drops the others: "address family must match").
    let all = i
        .virtual_ipaddress
        .iter()
        .chain(&i.virtual_ipaddress_excluded);
    let first = all.clone().next().map(|v| v.addr);
    if let Some(f) = first
        .or(i.unicast_src_ip)
        .or(i.mcast_src_ip)
        .or(i.unicast_peer.first().map(|p| p.addr))
    {
        i.family = if f.is_ipv4() {
            Family::Inet
        } else {
            Family::Inet6
        };
    }
    // keepalived.conf(5): virtual_ipaddress_excluded "can also be used if you want to be able
    // to add a mixture of IPv4 and IPv6 addresses", so only the advertised VIPs must match.
    let advertised = i.virtual_ipaddress.len();
    for (v, at) in all.zip(&w.vip_spans).take(advertised) {
        if v.addr.is_ipv4() != (i.family == Family::Inet) {
            cx.error(*at, format!("{}: VIP {} is not the instance's address family (all VIPs of an instance must be IPv4 or all IPv6)", i.name, v.addr));
        }
    }
    if !w.vip_lines {
        cx.warn(
            name,
            format!(
                "{}: no virtual_ipaddress; at least one VIP is sensible",
                i.name
            ),
        );
    }
    // RFC 5798: IPv6 needs VRRPv3. keepalived switches silently; say so when v2 was asked for.
    if i.family == Family::Inet6 && i.version == VrrpVersion::V2 {
        if let Some((_, at)) = w.version {
            cx.warn(
                at,
                format!("{}: IPv6 needs VRRP version 3; using version 3", i.name),
            );
        }
        i.version = VrrpVersion::V3;
    }
    advert_int(i, w, cx);
    if w.priority.is_none() && i.state == InitialState::Master {
        // keepalived 2.x: `state MASTER` without a priority means address owner (255).
        i.priority = 255;
    }
    if let (Some(Authentication::Ah(_)), InitialState::Master, Some(at)) =
        (&i.authentication, i.state, w.state)
    {
        cx.warn(
            at,
            format!(
                "{}: initial state MASTER is incompatible with AH authentication; using BACKUP",
                i.name
            ),
        );
        i.state = InitialState::Backup;
    }
    if let Some(at) = w.nopreempt {
        if i.state == InitialState::Master {
            cx.warn(
                at,
                format!(
                    "{}: nopreempt does not work with initial state MASTER; ignoring nopreempt",
                    i.name
                ),
            );
            i.preempt = true;
        } else if i.priority == 255 {
            cx.warn(
                at,
                format!(
                    "{}: nopreempt is incompatible with priority 255; ignoring nopreempt",
                    i.name
                ),
            );
            i.preempt = true;
        }
    }
    if let (Some(at), true, false) = (w.preempt_immediate, i.preempt_immediate, i.preempt) {
        cx.warn(
            at,
            format!(
                "{}: preempt_immediate has no effect with nopreempt; ignoring it",
                i.name
            ),
        );
        i.preempt_immediate = false;
    }
    if !w.mcast_dst_ip {
        i.mcast_dst_ip = match i.family {
            Family::Inet => IpAddr::V4(g.vrrp_mcast_group4),
            Family::Inet6 => IpAddr::V6(g.vrrp_mcast_group6),
        };
    }
    i.accept = w.accept.unwrap_or(!i.strict_mode);
    if !w.lower_prio_delay {
        i.garp.lower_prio_delay = g.vrrp_garp_lower_prio_delay.unwrap_or(i.garp.master_delay);
    }
    if !w.lower_prio_repeat {
        i.garp.lower_prio_repeat = g
            .vrrp_garp_lower_prio_repeat
            .unwrap_or(i.garp.master_repeat);
    }
    if let (Some(at), true) = (w.unicast_ttl, i.unicast_peer.is_empty()) {
        cx.warn(
            at,
            format!(
                "{}: unicast_ttl without unicast_peer has no effect; ignoring it",
                i.name
            ),
        );
        i.unicast_ttl = 255;
    }
    if i.interface.is_none() && i.unicast_peer.is_empty() && g.default_interface.is_none() {
        cx.error(
            name,
            format!(
                "{}: no interface (required unless unicast_peer is used)",
                i.name
            ),
        );
    }
}

/// keepalived reads advert_int as seconds in [0.01, 255]; v2 carries whole seconds (RFC 3768
/// §5.3.7, keepalived rounds to nearest with a warning), v3 carries centiseconds up to 40.95 s
/// (RFC 5798 §5.2.7, keepalived clamps with a warning).
fn advert_int(i: &mut VrrpInstance, w: &Written, cx: &mut Cx) {
    let at = w.advert_int.unwrap_or_default();
    let cs = (i.advert_int.as_micros() + 5_000) / 10_000;
    if w.advert_int.is_some() && !(1..=25_500).contains(&cs) {
        cx.error(
            at,
            format!(
                "{}: advert_int {} is outside 0.01..=255 seconds",
                i.name,
                values::format_secs(i.advert_int)
            ),
        );
        i.advert_int = Duration::from_secs(1);
        return;
    }
    match i.version {
        VrrpVersion::V2 => {
            let whole = ((cs + 50) / 100).max(1) as u64;
            if !cs.is_multiple_of(100) {
                cx.warn(
                    at,
                    format!(
                        "{}: VRRPv2 advert_int must be whole seconds; {} rounded to {whole}",
                        i.name,
                        values::format_secs(i.advert_int)
                    ),
                );
            }
            i.advert_int = Duration::from_secs(whole);
        }
        VrrpVersion::V3 => {
            if cs > 4095 {
                cx.warn(
                    at,
                    format!(
                        "{}: VRRPv3 advert_int must be below 40.96 s; using 40.95",
                        i.name
                    ),
                );
            }
            i.advert_int = Duration::from_millis(cs.min(4095) as u64 * 10);
        }
    }
}
