//! `global_defs`.

use super::keywords::GLOBAL;
use super::Cx;
use crate::tree::Node;
use drift_model::{GlobalDefs, ScriptUser, SmtpServer, VrrpVersion};
use std::net::IpAddr;

pub fn lower_global(node: &Node, cx: &mut Cx, g: &mut GlobalDefs) {
    for n in cx.block(node).iter() {
        let key = n.key.text.as_str();
        match key {
            "router_id" => g.router_id = cx.string(n).or(g.router_id.take()),
            "notification_email" => {
                for line in cx.block(n) {
                    g.notification_email.push(line.key.text.clone());
                    g.notification_email
                        .extend(line.args.iter().map(|w| w.text.clone()));
                }
            }
            "notification_email_from" => g.notification_email_from = cx.string(n),
            "smtp_server" => {
                if let Some(host) = cx.string(n) {
                    let port = match n.arg(1) {
                        Some(w) => {
                            cx.int_word("smtp_server port", w, 1, 65535).unwrap_or(25) as u16
                        }
                        None => 25,
                    };
                    g.smtp_server = Some(SmtpServer { host, port });
                }
            }
            "smtp_helo_name" => g.smtp_helo_name = cx.string(n),
            "smtp_connect_timeout" => {
                if let Some(v) = cx.int(n, 1, 3600) {
                    g.smtp_connect_timeout = std::time::Duration::from_secs(v as u64);
                }
            }
            "smtp_alert" => g.smtp_alert = Some(cx.flag(n)),
            "enable_script_security" => g.enable_script_security = cx.flag(n),
            "script_user" => {
                if let Some(user) = cx.string(n) {
                    g.script_user = Some(ScriptUser {
                        user,
                        group: n.arg(1).map(|w| w.text.clone()),
                    });
                }
            }
            "default_interface" => g.default_interface = cx.string(n),
            // The optional `allow_if_changes` modifier is not modelled; the feature is on either way.
            "dynamic_interfaces" => g.dynamic_interfaces = true,
            "vrrp_version" => {
                if let Some(v) = cx.int(n, 2, 3) {
                    g.vrrp_version = if v == 3 {
                        VrrpVersion::V3
                    } else {
                        VrrpVersion::V2
                    };
                }
            }
            "vrrp_mcast_group4" => match cx.ip(n) {
                Some(IpAddr::V4(a)) if a.is_multicast() => g.vrrp_mcast_group4 = a,
                Some(a) => cx.error(
                    n.span(),
                    format!("vrrp_mcast_group4 {a} is not an IPv4 multicast address"),
                ),
                None => {}
            },
            "vrrp_mcast_group6" => match cx.ip(n) {
                Some(IpAddr::V6(a)) if a.is_multicast() => g.vrrp_mcast_group6 = a,
                Some(a) => cx.error(
                    n.span(),
                    format!("vrrp_mcast_group6 {a} is not an IPv6 multicast address"),
                ),
                None => {}
            },
            "vrrp_garp_master_delay" => set_secs(cx, n, &mut g.vrrp_garp_master_delay),
            "vrrp_garp_master_repeat" => set_u32(cx, n, &mut g.vrrp_garp_master_repeat),
            "vrrp_garp_master_refresh" => set_secs(cx, n, &mut g.vrrp_garp_master_refresh),
            "vrrp_garp_master_refresh_repeat" => {
                set_u32(cx, n, &mut g.vrrp_garp_master_refresh_repeat)
            }
            "vrrp_garp_lower_prio_delay" => g.vrrp_garp_lower_prio_delay = cx.secs(n),
            "vrrp_garp_lower_prio_repeat" => {
                g.vrrp_garp_lower_prio_repeat = cx.int(n, 0, 1_000_000).map(|v| v as u32)
            }
            "vrrp_garp_interval" => set_secs(cx, n, &mut g.vrrp_garp_interval),
            "vrrp_gna_interval" => set_secs(cx, n, &mut g.vrrp_gna_interval),
            "vrrp_down_timer_adverts" => {
                if let Some(v) = cx.int(n, 1, 100) {
                    g.vrrp_down_timer_adverts = v as u32;
                }
            }
            "vrrp_lower_prio_no_advert" => g.vrrp_lower_prio_no_advert = cx.flag(n),
            "vrrp_higher_prio_send_advert" => g.vrrp_higher_prio_send_advert = cx.flag(n),
            "vrrp_check_unicast_src" => g.vrrp_check_unicast_src = cx.flag(n),
            "vrrp_skip_check_adv_addr" => g.vrrp_skip_check_adv_addr = cx.flag(n),
            "vrrp_strict" => g.vrrp_strict = cx.flag(n),
            // 0 is drift's "stay at normal priority" (it runs SCHED_RR 1 when unset).
            "vrrp_rt_priority" => g.vrrp_rt_priority = cx.int(n, 0, 99).map(|v| v as i32),
            "vrrp_priority" => g.vrrp_priority = cx.int(n, -20, 19).map(|v| v as i32),
            "vrrp_startup_delay" => g.vrrp_startup_delay = cx.secs(n),
            _ => cx.raw_or_unknown(n, "global_defs", GLOBAL, &mut g.extra),
        }
    }
}

fn set_secs(cx: &mut Cx, n: &Node, slot: &mut std::time::Duration) {
    if let Some(v) = cx.secs(n) {
        *slot = v;
    }
}

fn set_u32(cx: &mut Cx, n: &Node, slot: &mut u32) {
    if let Some(v) = cx.int(n, 0, 1_000_000) {
        *slot = v as u32;
    }
}
