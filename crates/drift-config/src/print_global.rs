//! `print_conf` for global_defs.

use crate::print::PrintOut;
use drift_model::{GlobalDefs, VrrpVersion};

pub(crate) fn global(o: &mut PrintOut<'_>, g: &GlobalDefs) {
    o.open(&["global_defs"]);
    if let Some(r) = &g.router_id {
        o.line(&["router_id", r]);
    }
    if !g.notification_email.is_empty() {
        o.open(&["notification_email"]);
        for e in &g.notification_email {
            o.line(&[e]);
        }
        o.close();
    }
    if let Some(f) = &g.notification_email_from {
        o.line(&["notification_email_from", f]);
    }
    if let Some(s) = &g.smtp_server {
        o.line(&["smtp_server", &s.host, &s.port.to_string()]);
    }
    if let Some(h) = &g.smtp_helo_name {
        o.line(&["smtp_helo_name", h]);
    }
    o.kv("smtp_connect_timeout", g.smtp_connect_timeout.as_secs());
    if let Some(a) = g.smtp_alert {
        o.flag("smtp_alert", a);
    }
    // Bare keywords in keepalived (an argument is ignored, so `off` would mean on): print only when set.
    if g.enable_script_security {
        o.line(&["enable_script_security"]);
    }
    if let Some(u) = &g.script_user {
        let mut w = vec!["script_user", u.user.as_str()];
        w.extend(u.group.as_deref());
        o.line(&w);
    }
    if let Some(d) = &g.default_interface {
        o.line(&["default_interface", d]);
    }
    if g.dynamic_interfaces {
        o.line(&["dynamic_interfaces"]);
    }
    o.kv(
        "vrrp_version",
        if g.vrrp_version == VrrpVersion::V3 {
            3
        } else {
            2
        },
    );
    o.kv("vrrp_mcast_group4", g.vrrp_mcast_group4);
    o.kv("vrrp_mcast_group6", g.vrrp_mcast_group6);
    o.secs("vrrp_garp_master_delay", g.vrrp_garp_master_delay);
    o.kv("vrrp_garp_master_repeat", g.vrrp_garp_master_repeat);
    o.secs("vrrp_garp_master_refresh", g.vrrp_garp_master_refresh);
    o.kv(
        "vrrp_garp_master_refresh_repeat",
        g.vrrp_garp_master_refresh_repeat,
    );
    if let Some(d) = g.vrrp_garp_lower_prio_delay {
        o.secs("vrrp_garp_lower_prio_delay", d);
    }
    if let Some(r) = g.vrrp_garp_lower_prio_repeat {
        o.kv("vrrp_garp_lower_prio_repeat", r);
    }
    // keepalived rejects 0 here (range 0.000001..); zero is the unset default.
    if !g.vrrp_garp_interval.is_zero() {
        o.secs("vrrp_garp_interval", g.vrrp_garp_interval);
    }
    if !g.vrrp_gna_interval.is_zero() {
        o.secs("vrrp_gna_interval", g.vrrp_gna_interval);
    }
    o.kv("vrrp_down_timer_adverts", g.vrrp_down_timer_adverts);
    o.flag("vrrp_lower_prio_no_advert", g.vrrp_lower_prio_no_advert);
    o.flag(
        "vrrp_higher_prio_send_advert",
        g.vrrp_higher_prio_send_advert,
    );
    for (key, on) in [
        ("vrrp_check_unicast_src", g.vrrp_check_unicast_src),
        ("vrrp_skip_check_adv_addr", g.vrrp_skip_check_adv_addr),
        ("vrrp_strict", g.vrrp_strict),
    ] {
        if on {
            o.line(&[key]);
        }
    }
    if let Some(p) = g.vrrp_rt_priority {
        o.kv("vrrp_rt_priority", p);
    }
    if let Some(p) = g.vrrp_priority {
        o.kv("vrrp_priority", p);
    }
    if let Some(d) = g.vrrp_startup_delay {
        o.secs("vrrp_startup_delay", d);
    }
    for e in &g.extra {
        o.raw(e);
    }
    o.close();
}
