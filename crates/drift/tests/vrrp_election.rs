//! End-to-end VRRP elections between `drift run` daemons in a namespace lab: who becomes master
//! (RFC 3768 §6.4.2/§6.4.3: higher priority, then higher primary address), the seed article's own
//! configs, and recovery from a split brain.
//!
//! Root only; every test builds its own [`Lab`]. Measured times are printed as `FIGURE` lines
//! (`cargo test -p drift --test vrrp_election -- --nocapture`).

mod common;

use std::time::Duration;

use common::scenario::{expect_holders, start_elected_pair, start_pair};
use common::{assert_stable, figure, holders, lab, Instance};
use drift_testkit::{skip_unless_root, Lab};

#[test]
fn higher_priority_wins_when_both_start_as_backup() {
    skip_unless_root!();
    let lab = lab(2);
    let vip = lab.addr_v4(110);
    let a = Instance::new("BACKUP", 100, vip);
    let b = Instance::new("BACKUP", 99, vip);
    let (d0, d1) = start_pair(&lab, &a.config(), &b.config());
    let bound = b.master_down() + Duration::from_secs(3);
    let took = expect_holders(&lab, vip, &[0], bound, "priority 100", &[&d0, &d1]);
    figure("election 100 vs 99 (both BACKUP)", took, bound);
    assert_stable(&lab, vip, &[0], Duration::from_secs(3), "after election");
    assert!(
        d0.logged_master(Duration::from_secs(1)),
        "winner never logged MASTER:\n{}",
        d0.logs()
    );
}

#[test]
fn equal_priority_masters_yield_to_the_higher_address() {
    skip_unless_root!();
    let lab = lab(2);
    let vip = lab.addr_v4(110);
    // Two masters must meet for the tie-break of RFC 3768 §6.4.3 (a master hearing an
    // equal-priority advert from a higher address steps down) to decide. Started side by side,
    // whichever backup times out first would simply win, because a backup accepts an
    // equal-priority advert (§6.4.2) — keepalived races the same way. So host 1 starts cut off,
    // both become master, and the LAN is then joined.
    let inst = Instance::new("BACKUP", 100, vip);
    partition(&lab, 1, false);
    let (d0, d1) = start_pair(&lab, &inst.config(), &inst.config());
    let bound = inst.master_down() + Duration::from_secs(3);
    expect_holders(
        &lab,
        vip,
        &[0, 1],
        bound,
        "both master while apart",
        &[&d0, &d1],
    );
    // Host 1 (.12) outranks host 0 (.11) at equal priority.
    assert!(lab.host(1).ipv4() > lab.host(0).ipv4());
    partition(&lab, 1, true);
    let bound = Duration::from_secs_f64(2.0 * inst.advert_secs() + 1.0);
    let took = expect_holders(&lab, vip, &[1], bound, "higher address", &[&d0, &d1]);
    figure(
        "equal priority masters meet -> higher address keeps VIP",
        took,
        bound,
    );
    assert_stable(&lab, vip, &[1], Duration::from_secs(3), "after election");
}

#[test]
fn seed_article_configs_elect_the_master_host() {
    skip_unless_root!();
    let lab = lab(2);
    let vip = lab.addr_v4(110);
    let read = |name: &str| {
        let p = common::seed_path(name);
        std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
    };
    let master = common::adapt_seed(&read("master.conf"), lab.host(0).ipv4(), vip);
    let backup = common::adapt_seed(&read("backup.conf"), lab.host(0).ipv4(), vip);
    assert!(master.contains(&vip.to_string()) && !master.contains("192.168.1."));
    let (mut d0, mut d1) = start_pair(&lab, &master, &backup);
    let bound = Duration::from_secs(6);
    let took = expect_holders(&lab, vip, &[0], bound, "seed MASTER", &[&d0, &d1]);
    figure("seed configs: MASTER holds VIP", took, bound);
    assert_stable(&lab, vip, &[0], Duration::from_secs(3), "seed configs");
    assert!(
        d0.alive() && d1.alive(),
        "a daemon exited:\n{}\n{}",
        d0.logs(),
        d1.logs()
    );
    // A clean stop hands over: the seed BACKUP takes the VIP.
    // Timed from the signal, not from the exit.
    let _ = d0.child.signal(drift_testkit::Signal::SIGTERM);
    let took = common::wait_holders(&lab, vip, &[1], Duration::from_secs(3));
    assert!(d0.terminate(), "SIGTERM did not exit 0:\n{}", d0.logs());
    assert!(
        took.is_some(),
        "seed BACKUP never took over:\n{}",
        d1.logs()
    );
    figure(
        "seed configs: SIGTERM handover",
        took.unwrap_or_default(),
        Duration::from_secs(3),
    );
}

/// Detach host `i`'s bridge port from the bridge while leaving it up: the host keeps carrier (no
/// FAULT state) but hears nobody — a true split brain. Port names follow the testkit (`p1`, ...).
fn partition(lab: &Lab, i: usize, joined: bool) {
    let port = format!("p{}", i + 1);
    let args: &[&str] = if joined {
        &["link", "set", &port, "master", drift_testkit::BRIDGE_IF]
    } else {
        &["link", "set", &port, "nomaster"]
    };
    lab.bridge()
        .ip(args)
        .unwrap_or_else(|e| panic!("partition host {i}: {e}"));
}

#[test]
fn partition_makes_two_masters_and_healing_leaves_one() {
    skip_unless_root!();
    let lab = lab(2);
    let vip = lab.addr_v4(110);
    let a = Instance::new("MASTER", 100, vip);
    let b = Instance::new("BACKUP", 99, vip);
    let (d0, d1) = start_elected_pair(&lab, vip, &a.config(), &b.config());
    let ds = [&d0, &d1];
    assert_stable(&lab, vip, &[0], Duration::from_secs(2), "before partition");

    partition(&lab, 0, false);
    let bound = b.master_down() + Duration::from_secs(2);
    let took = expect_holders(&lab, vip, &[0, 1], bound, "split brain", &ds);
    figure("partition: backup also MASTER", took, bound);
    assert!(
        d1.logged_master(Duration::from_secs(1)),
        "backup never logged MASTER:\n{}",
        d1.logs()
    );

    partition(&lab, 0, true);
    // The higher priority master's next advert demotes the other: two intervals plus margin.
    let bound = Duration::from_secs_f64(2.0 * a.advert_secs() + 1.0);
    let took = expect_holders(&lab, vip, &[0], bound, "healed", &ds);
    figure("partition healed: one master", took, bound);
    assert_stable(&lab, vip, &[0], Duration::from_secs(3), "after healing");
}

#[test]
fn cut_cable_hands_over_and_reconnect_leaves_one_master() {
    skip_unless_root!();
    let lab = lab(2);
    let vip = lab.addr_v4(110);
    let a = Instance::new("MASTER", 100, vip);
    let b = Instance::new("BACKUP", 99, vip);
    let (d0, d1) = start_elected_pair(&lab, vip, &a.config(), &b.config());
    let ds = [&d0, &d1];
    std::thread::sleep(Duration::from_secs(2));
    // Carrier loss on the master (bridge port down): the backup stops hearing adverts and takes
    // over; whether the master keeps its VIP (split brain) or drops it (FAULT, as keepalived does
    // on a down interface) is the daemon's choice, so only the backup is asserted here.
    lab.host(0)
        .cut()
        .unwrap_or_else(|e| panic!("cut host 0: {e}"));
    let bound = b.master_down() + Duration::from_secs(2);
    let took = drift_testkit::wait_until(bound, Duration::from_millis(5), || {
        holders(&lab, vip).contains(&1)
    });
    assert!(took.is_some(), "backup never took over:\n{}", d1.logs());
    figure(
        "cable cut -> backup holds VIP",
        took.unwrap_or_default(),
        bound,
    );
    println!("holders while cut: {:?}", holders(&lab, vip));

    lab.host(0)
        .reconnect()
        .unwrap_or_else(|e| panic!("reconnect host 0: {e}"));
    let bound = Duration::from_secs_f64(2.0 * a.advert_secs() + 1.0);
    let took = drift_testkit::wait_until(bound, Duration::from_millis(5), || {
        holders(&lab, vip).len() == 1
    });
    assert!(
        took.is_some(),
        "holders {:?} after reconnect\n{}",
        holders(&lab, vip),
        common::scenario::all_logs(&ds)
    );
    figure("reconnect -> one master", took.unwrap_or_default(), bound);
    // The preempting higher priority ends as the only holder (after its master-down at most).
    let bound = a.master_down() + Duration::from_secs(2);
    expect_holders(&lab, vip, &[0], bound, "host 0 takes the VIP back", &ds);
}
