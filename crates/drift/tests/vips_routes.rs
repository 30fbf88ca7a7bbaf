//! What a master installs besides its advertised VIPs, end to end, on an IPv6 (VRRPv3)
//! instance with keepalived 2.2.7 as the backup: `virtual_ipaddress_excluded` (added and
//! removed with the VIPs, never advertised: keepalived, configured with the advertised VIP
//! only, must count no address-list error), `virtual_routes` (added on MASTER, removed on
//! leaving it), and the unsolicited NA that re-points a neighbour at the new master.

mod common;

use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use common::{holders, keepalived_stat_errors, wait_holders, Daemon};
use drift_testkit::{skip_unless_root, skip_unless_tool, wait_until, Lab, HOST_IF};

const DRIFT: &str = env!("CARGO_BIN_EXE_drift");

fn config(lab: &Lab, prio: u8, extra: &str) -> String {
    format!(
        "global_defs {{\n    vrrp_version 3\n}}\nvrrp_instance VI_6 {{\n    state BACKUP\n    \
         interface {HOST_IF}\n    virtual_router_id 61\n    priority {prio}\n    \
         advert_int 0.1\n    virtual_ipaddress {{\n        {}/128\n    }}\n{extra}}}\n",
        lab.addr_v6(110)
    )
}

fn routes(lab: &Lab, host: usize, args: &[&str]) -> String {
    lab.host(host)
        .ip(args)
        .unwrap_or_else(|e| panic!("ip {args:?}: {e}"))
}

#[test]
fn excluded_vips_and_virtual_routes_follow_mastership_and_the_na_repoints_the_peer() {
    skip_unless_root!();
    skip_unless_tool!("keepalived");
    let lab = Lab::builder()
        .hosts(2)
        .build()
        .unwrap_or_else(|e| panic!("build lab: {e}"));
    let vip6 = IpAddr::V6(lab.addr_v6(110));
    let (ex6, ex4) = (IpAddr::V6(lab.addr_v6(120)), IpAddr::V4(lab.addr_v4(120)));
    // The peer has a stale entry for the VIP pointing elsewhere (as after a failover); the
    // new master's unsolicited NA (Override flag) must re-point it. (Linux ignores an NA for an
    // address it has no entry for, RFC 4861 §7.2.5.)
    lab.host(1)
        .ip(&[
            "-6",
            "neigh",
            "replace",
            &vip6.to_string(),
            "lladdr",
            "02:00:00:00:00:99",
            "dev",
            HOST_IF,
            "nud",
            "stale",
        ])
        .unwrap_or_else(|e| panic!("neigh: {e}"));
    let extra = format!(
        "    virtual_ipaddress_excluded {{\n        {ex6}/128\n        {ex4}/32\n    }}\n    \
         virtual_routes {{\n        fd00:99::/64 via {} dev {HOST_IF}\n        \
         blackhole 10.99.0.0/24\n    }}\n",
        lab.host(1).ipv6()
    );
    let mut d = Daemon::start_as_drift(Path::new(DRIFT), &lab, 0, &config(&lab, 150, &extra));
    assert!(
        wait_holders(&lab, vip6, &[0], Duration::from_secs(5)).is_some(),
        "{}",
        d.logs()
    );
    for a in [ex6, ex4] {
        assert!(lab.has_addr(0, a), "excluded VIP {a} missing\n{}", d.logs());
    }
    let v6 = routes(&lab, 0, &["-6", "route", "show", "fd00:99::/64"]);
    assert!(
        v6.contains(&format!("via {}", lab.host(1).ipv6())),
        "{v6:?}\n{}",
        d.logs()
    );
    let bh = routes(&lab, 0, &["route", "show", "10.99.0.0/24"]);
    assert!(bh.contains("blackhole"), "{bh:?}");
    let mac0 = lab.mac(0).unwrap_or_else(|e| panic!("mac: {e}"));
    let na = wait_until(Duration::from_secs(2), Duration::from_millis(20), || {
        lab.neigh_mac(1, vip6)
            .is_some_and(|m| m.eq_ignore_ascii_case(&mac0))
    });
    assert!(
        na.is_some(),
        "no neighbour entry from the NA: {:?}",
        lab.neigh_mac(1, vip6)
    );

    // keepalived only now, so that it starts as the backup of a live master (a keepalived that
    // won a startup race would hold the VIP itself and ignore the NA for its own address).
    let ka = Daemon::start_keepalived(&lab, 1, &config(&lab, 100, ""));
    let backup = wait_until(Duration::from_secs(5), Duration::from_millis(20), || {
        ka.logs().contains("Entering BACKUP STATE")
    });
    assert!(backup.is_some(), "{}", ka.logs());
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        holders(&lab, vip6),
        vec![0],
        "keepalived rejected drift\n{}",
        ka.logs()
    );
    let stats = ka.keepalived_stats().unwrap_or_default();
    let (errors, received) = keepalived_stat_errors(&stats);
    assert!(errors.is_empty() && received > 0, "{stats}");

    // Leaving MASTER takes the excluded VIPs and the routes along.
    assert!(d.terminate(), "{}", d.logs());
    assert!(
        wait_holders(&lab, vip6, &[1], Duration::from_secs(3)).is_some(),
        "{}",
        ka.logs()
    );
    for a in [ex6, ex4] {
        assert!(!lab.has_addr(0, a), "excluded VIP {a} left behind");
    }
    assert_eq!(
        routes(&lab, 0, &["-6", "route", "show", "fd00:99::/64"]).trim(),
        ""
    );
    assert_eq!(
        routes(&lab, 0, &["route", "show", "10.99.0.0/24"]).trim(),
        ""
    );
}
