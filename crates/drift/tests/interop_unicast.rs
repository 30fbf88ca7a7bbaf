//! Unicast options end to end, with keepalived 2.2.7 as the peer where it can judge: the TTL
//! drift sends (`unicast_ttl`) and checks (`unicast_peer { IP min_ttl N max_ttl N }`),
//! `check_unicast_src`, and the two ways a unicast instance without peers is handled
//! (`unicast_fault_no_peer`: FAULT; otherwise multicast, with a warning, never silently).
//! VRRPv3 at 0.1 s, so each test takes a second or two.

mod common;

use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use common::{holders, keepalived_stat_errors, wait_holders, Daemon};
use drift_testkit::{skip_unless_root, skip_unless_tool, wait_until, Lab, HOST_IF};

const DRIFT: &str = env!("CARGO_BIN_EXE_drift");

/// One v3 instance; `extra` is inserted verbatim (unicast keywords).
fn config(lab: &Lab, prio: u8, extra: &str) -> String {
    format!(
        "global_defs {{\n    vrrp_version 3\n}}\nvrrp_instance VI_1 {{\n    state BACKUP\n    \
         interface {HOST_IF}\n    virtual_router_id 51\n    priority {prio}\n    \
         advert_int 0.1\n{extra}    virtual_ipaddress {{\n        {}/32\n    }}\n}}\n",
        lab.addr_v4(110)
    )
}

fn unicast(lab: &Lab, me: usize, peer: &str) -> String {
    format!(
        "    unicast_src_ip {}\n    unicast_peer {{\n        {peer}\n    }}\n",
        lab.host(me).ipv4()
    )
}

fn lab() -> Lab {
    Lab::builder()
        .hosts(2)
        .build()
        .unwrap_or_else(|e| panic!("build lab: {e}"))
}

fn drift(lab: &Lab, host: usize, conf: &str) -> Daemon {
    Daemon::start_as_drift(Path::new(DRIFT), lab, host, conf)
}

#[test]
fn keepalived_sees_the_unicast_ttl_drift_sends_and_accepts_it_within_min_max_ttl() {
    skip_unless_root!();
    skip_unless_tool!("keepalived");
    let lab = lab();
    let vip = IpAddr::V4(lab.addr_v4(110));
    let h0 = lab.host(0).ipv4();
    let h1 = lab.host(1).ipv4().to_string();
    let d = drift(
        &lab,
        0,
        &config(
            &lab,
            150,
            &format!("{}    unicast_ttl 64\n", unicast(&lab, 0, &h1)),
        ),
    );
    let peer = format!("{h0} min_ttl 64 max_ttl 64");
    let ka = Daemon::start_keepalived(&lab, 1, &config(&lab, 100, &unicast(&lab, 1, &peer)));
    assert!(
        wait_holders(&lab, vip, &[0], Duration::from_secs(5)).is_some(),
        "{}",
        d.logs()
    );
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(
        holders(&lab, vip),
        vec![0],
        "keepalived rejected drift\n{}",
        ka.logs()
    );
    let stats = ka.keepalived_stats().unwrap_or_default();
    let (errors, received) = keepalived_stat_errors(&stats);
    assert!(errors.is_empty() && received > 0, "{stats}");
}

#[test]
fn drift_drops_adverts_outside_the_peers_ttl_range_and_from_unknown_sources() {
    skip_unless_root!();
    skip_unless_tool!("keepalived");
    let lab = lab();
    let vip = IpAddr::V4(lab.addr_v4(110));
    let h0 = lab.host(0).ipv4().to_string();
    let h1 = lab.host(1).ipv4().to_string();
    // keepalived (high) sends with TTL 100; drift wants 200..255 from it: both end up master.
    let ka_conf = config(
        &lab,
        150,
        &format!("{}    unicast_ttl 100\n", unicast(&lab, 0, &h1)),
    );
    let ka = Daemon::start_keepalived(&lab, 0, &ka_conf);
    let d = drift(
        &lab,
        1,
        &config(&lab, 100, &unicast(&lab, 1, &format!("{h0} min_ttl 200"))),
    );
    let both = wait_holders(&lab, vip, &[0, 1], Duration::from_secs(5));
    assert!(
        both.is_some(),
        "drift accepted TTL 100\n{}\n{}",
        d.logs(),
        ka.logs()
    );
    let dropped = wait_until(Duration::from_secs(2), Duration::from_millis(20), || {
        d.logs().contains("dropped a packet from Some(") && d.logs().contains("[\"ttl\"]")
    });
    assert!(dropped.is_some(), "{}", d.logs());
    drop(d);
    // check_unicast_src: keepalived's address is not among drift's peers.
    let d = drift(
        &lab,
        1,
        &config(
            &lab,
            100,
            &format!(
                "{}    check_unicast_src\n",
                unicast(&lab, 1, &lab.addr_v4(99).to_string())
            ),
        ),
    );
    let dropped = wait_until(Duration::from_secs(3), Duration::from_millis(20), || {
        d.logs().contains("[\"unicast_src\"]")
    });
    assert!(dropped.is_some(), "{}", d.logs());
}

#[test]
fn unicast_fault_no_peer_holds_an_instance_without_peers_in_fault() {
    skip_unless_root!();
    let lab = lab();
    let vip = IpAddr::V4(lab.addr_v4(110));
    let extra = format!(
        "    unicast_src_ip {}\n    unicast_fault_no_peer\n",
        lab.host(0).ipv4()
    );
    let d = drift(&lab, 0, &config(&lab, 150, &extra));
    let fault = wait_until(Duration::from_secs(3), Duration::from_millis(20), || {
        d.logs().contains("Entering FAULT STATE")
    });
    assert!(fault.is_some(), "{}", d.logs());
    std::thread::sleep(Duration::from_millis(600));
    assert!(holders(&lab, vip).is_empty(), "{}", d.logs());
    assert_eq!(d.master_entries(), 0, "{}", d.logs());
    assert!(
        d.logs()
            .contains("unicast_fault_no_peer and no unicast_peer"),
        "{}",
        d.logs()
    );
}

#[test]
fn a_unicast_source_without_peers_falls_back_to_multicast_loudly() {
    skip_unless_root!();
    skip_unless_tool!("keepalived");
    let lab = lab();
    let vip = IpAddr::V4(lab.addr_v4(110));
    let extra = format!("    unicast_src_ip {}\n", lab.host(0).ipv4());
    let d = drift(&lab, 0, &config(&lab, 150, &extra));
    let ka = Daemon::start_keepalived(&lab, 1, &config(&lab, 100, ""));
    assert!(
        wait_holders(&lab, vip, &[0], Duration::from_secs(5)).is_some(),
        "{}",
        d.logs()
    );
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(
        holders(&lab, vip),
        vec![0],
        "multicast peer did not hear drift\n{}",
        ka.logs()
    );
    assert!(
        d.logs().contains("but no unicast_peer: sending multicast"),
        "{}",
        d.logs()
    );
}
