//! `print_conf` for one vrrp_instance.

use crate::lower::values::format_secs;
use crate::print::PrintOut;
use drift_model::{Authentication, InitialState, VrrpInstance, VrrpVersion};

pub(crate) fn instance(o: &mut PrintOut<'_>, i: &VrrpInstance) {
    o.open(&["vrrp_instance", &i.name]);
    o.line(&[
        "state",
        if i.state == InitialState::Master {
            "MASTER"
        } else {
            "BACKUP"
        },
    ]);
    if let Some(ifname) = &i.interface {
        o.line(&["interface", ifname]);
    }
    o.kv("virtual_router_id", i.virtual_router_id);
    o.kv("priority", i.priority);
    o.kv("version", if i.version == VrrpVersion::V3 { 3 } else { 2 });
    o.kv("advert_int", format_secs(i.advert_int));
    if !i.preempt {
        o.line(&["nopreempt"]);
    }
    o.secs("preempt_delay", i.preempt_delay);
    if i.preempt_immediate {
        o.line(&["preempt_immediate"]);
    }
    match &i.authentication {
        None => {}
        Some(a) => {
            let (t, p) = match a {
                Authentication::Pass(p) => ("PASS", p),
                Authentication::Ah(p) => ("AH", p),
            };
            o.open(&["authentication"]);
            o.line(&["auth_type", t]);
            o.line(&["auth_pass", p]);
            o.close();
        }
    }
    if let Some(a) = i.mcast_src_ip {
        o.kv("mcast_src_ip", a);
    }
    o.kv("mcast_dst_ip", i.mcast_dst_ip);
    if let Some(a) = i.unicast_src_ip {
        o.kv("unicast_src_ip", a);
    }
    if !i.unicast_peer.is_empty() {
        o.open(&["unicast_peer"]);
        for p in &i.unicast_peer {
            let addr = p.addr.to_string();
            let min = p.min_ttl.map(|t| t.to_string());
            let max = p.max_ttl.map(|t| t.to_string());
            let mut w = vec![addr.as_str()];
            if let Some(m) = &min {
                w.extend(["min_ttl", m.as_str()]);
            }
            if let Some(m) = &max {
                w.extend(["max_ttl", m.as_str()]);
            }
            o.line(&w);
        }
        o.close();
    }
    if !i.unicast_peer.is_empty() {
        o.kv("unicast_ttl", i.unicast_ttl);
    }
    if i.unicast_fault_no_peer {
        o.line(&["unicast_fault_no_peer"]);
    }
    for (key, list) in [
        ("virtual_ipaddress", &i.virtual_ipaddress),
        ("virtual_ipaddress_excluded", &i.virtual_ipaddress_excluded),
    ] {
        if !list.is_empty() {
            o.open(&[key]);
            for v in list {
                o.vip(v);
            }
            o.close();
        }
    }
    o.lines("virtual_routes", &i.virtual_routes);
    o.lines("virtual_rules", &i.virtual_rules);
    o.tracks(
        &i.track_script,
        &i.track_interface,
        &i.track_file,
        &i.track_process,
    );
    if !i.track_upstream.is_empty() {
        o.open(&["track_upstream"]);
        for t in &i.track_upstream {
            let w = t.weight.map(|w| w.to_string());
            let mut words = vec![t.name.as_str()];
            if let Some(w) = &w {
                words.extend(["weight", w.as_str()]);
            }
            if t.reverse {
                words.push("reverse");
            }
            o.line(&words);
        }
        o.close();
    }
    o.notify(&i.notify);
    o.flag("smtp_alert", i.smtp_alert);
    let g = &i.garp;
    o.secs("garp_master_delay", g.master_delay);
    o.kv("garp_master_repeat", g.master_repeat);
    o.secs("garp_master_refresh", g.master_refresh);
    o.kv("garp_master_refresh_repeat", g.master_refresh_repeat);
    o.secs("garp_lower_prio_delay", g.lower_prio_delay);
    o.kv("garp_lower_prio_repeat", g.lower_prio_repeat);
    o.kv("down_timer_adverts", i.down_timer_adverts);
    if i.dont_track_primary {
        o.line(&["dont_track_primary"]);
    }
    if let Some(v) = &i.use_vmac {
        let mut w = vec!["use_vmac"];
        w.extend(v.iter().map(String::as_str));
        o.line(&w);
    }
    if i.vmac_xmit_base {
        o.line(&["vmac_xmit_base"]);
    }
    o.line(&[if i.accept { "accept" } else { "no_accept" }]);
    o.flag("higher_prio_send_advert", i.higher_prio_send_advert);
    o.flag("lower_prio_no_advert", i.lower_prio_no_advert);
    if i.check_unicast_src {
        o.line(&["check_unicast_src"]);
    }
    o.flag("skip_check_adv_addr", i.skip_check_adv_addr);
    o.flag("strict_mode", i.strict_mode);
    for e in &i.extra {
        o.raw(e);
    }
    o.close();
}
