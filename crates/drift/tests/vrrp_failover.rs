//! End-to-end failover between `drift run` daemons in a namespace lab: crash (SIGKILL) and clean
//! stop (SIGTERM, priority-0 advert, RFC 3768 §6.4.3) of the master, preemption and `nopreempt`
//! when it returns, gratuitous ARP re-pointing a client, and a three-node cascade.
//!
//! Bounds are generous (debug builds, shared CI); the measured times are printed as `FIGURE`
//! lines (`-- --nocapture`) and the benchmark (`examples/failover_bench.rs`) measures them properly.

mod common;

use std::net::IpAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use common::{assert_stable, figure, holders, wait_holders, Daemon, Instance};
use drift_testkit::{skip_unless_root, wait_until, Lab};

const DRIFT: &str = env!("CARGO_BIN_EXE_drift");

fn bin() -> &'static Path {
    Path::new(DRIFT)
}

fn lab(hosts: usize, client: bool) -> Lab {
    Lab::builder()
        .hosts(hosts)
        .client(client)
        .build()
        .unwrap_or_else(|e| panic!("build lab: {e}"))
}

/// Start master (host 0, prio 100) and backup (host 1, prio 99) and wait for host 0 to hold the VIP.
fn pair(lab: &Lab, master: &Instance, backup: &Instance) -> (Daemon, Daemon) {
    // The backup starts once the master holds the VIP: started together, a loaded machine can
    // start the backup first, and its master-down timer (prio 99) then runs out a few ms before
    // the master's (prio 100) — a startup race, not the behaviour under test.
    let d0 = Daemon::start(bin(), lab, 0, &master.config());
    let vip = master.vip;
    let up = wait_holders(
        lab,
        vip,
        &[0],
        master.master_down() + Duration::from_secs(4),
    );
    let d1 = Daemon::start(bin(), lab, 1, &backup.config());
    assert!(
        up.is_some(),
        "no initial master (holders {:?})\n{}\n{}",
        holders(lab, vip),
        d0.logs(),
        d1.logs()
    );
    // Let the backup hear a few adverts so its master-down timer runs from a known advert.
    std::thread::sleep(Duration::from_secs_f64(
        (2.0 * master.advert_secs()).max(0.5),
    ));
    assert_eq!(holders(lab, vip), vec![0], "backup also holds the VIP");
    (d0, d1)
}

/// Crash the master; the backup must hold the VIP within master-down (+100 ms +1 s debug margin).
fn sigkill_takeover(master: Instance, backup: Instance, label: &str) {
    let lab = lab(2, false);
    let vip = lab.addr_v4(110);
    let (master, backup) = (Instance { vip, ..master }, Instance { vip, ..backup });
    let (mut d0, d1) = pair(&lab, &master, &backup);
    let t0 = Instant::now();
    d0.kill();
    let bound = backup.master_down() + Duration::from_millis(100) + Duration::from_secs(1);
    let took = wait_until(bound, Duration::from_millis(1), || {
        lab.has_addr(1, IpAddr::V4(vip))
    })
    .map(|_| t0.elapsed());
    assert!(took.is_some(), "backup never took over:\n{}", d1.logs());
    figure(
        &format!(
            "{label}: SIGKILL -> VIP on backup (master-down {:.3} s)",
            backup.master_down().as_secs_f64()
        ),
        took.unwrap_or_default(),
        bound,
    );
    assert!(
        d1.logged_master(Duration::from_secs(1)),
        "backup never logged MASTER:\n{}",
        d1.logs()
    );
}

#[test]
fn sigkill_of_master_v2_backup_takes_over_within_master_down() {
    skip_unless_root!();
    let vip = std::net::Ipv4Addr::UNSPECIFIED; // replaced by the lab's
    sigkill_takeover(
        Instance::new("MASTER", 100, vip),
        Instance::new("BACKUP", 99, vip),
        "v2 advert_int 1",
    );
}

#[test]
fn sigkill_of_master_v3_fast_adverts_backup_takes_over_within_master_down() {
    skip_unless_root!();
    let vip = std::net::Ipv4Addr::UNSPECIFIED;
    sigkill_takeover(
        Instance::new("MASTER", 100, vip).v3("0.1"),
        Instance::new("BACKUP", 99, vip).v3("0.1"),
        "v3 advert_int 0.1",
    );
}

#[test]
fn sigterm_of_master_hands_over_after_skew_time() {
    skip_unless_root!();
    let lab = lab(2, false);
    let vip = lab.addr_v4(110);
    let a = Instance::new("MASTER", 100, vip);
    let b = Instance::new("BACKUP", 99, vip);
    let (mut d0, d1) = pair(&lab, &a, &b);
    let t0 = Instant::now();
    let stopper = std::thread::spawn(move || {
        let ok = d0.terminate();
        (ok, d0)
    });
    let bound = Duration::from_millis(1500);
    let took = wait_until(bound, Duration::from_millis(1), || {
        lab.has_addr(1, IpAddr::V4(vip))
    })
    .map(|_| t0.elapsed());
    let (exited_ok, d0) = match stopper.join() {
        Ok(v) => v,
        Err(p) => std::panic::resume_unwind(p),
    };
    assert!(
        exited_ok,
        "master did not exit 0 on SIGTERM:\n{}",
        d0.logs()
    );
    assert!(
        !lab.has_addr(0, IpAddr::V4(vip)),
        "stopped master left its VIP:\n{}",
        d0.logs()
    );
    assert!(
        took.is_some(),
        "backup not master within {bound:?} (skew {:?}):\n{}\n{}",
        b.skew(),
        d0.logs(),
        d1.logs()
    );
    figure(
        &format!(
            "SIGTERM -> VIP on backup (skew {:.3} s)",
            b.skew().as_secs_f64()
        ),
        took.unwrap_or_default(),
        bound,
    );
}

#[test]
fn returning_master_preempts_the_backup() {
    skip_unless_root!();
    let lab = lab(2, false);
    let vip = lab.addr_v4(110);
    let a = Instance::new("BACKUP", 100, vip);
    let b = Instance::new("BACKUP", 99, vip);
    let (mut d0, d1) = pair(&lab, &a, &b);
    assert!(d0.terminate(), "SIGTERM did not exit 0:\n{}", d0.logs());
    assert!(
        wait_holders(&lab, vip, &[1], Duration::from_secs(3)).is_some(),
        "backup never took over:\n{}",
        d1.logs()
    );
    let t0 = Instant::now();
    let d0 = Daemon::start(bin(), &lab, 0, &a.config());
    let bound = a.master_down() + Duration::from_secs(2);
    let took = wait_holders(&lab, vip, &[0], bound).map(|_| t0.elapsed());
    assert!(
        took.is_some(),
        "restarted higher priority did not preempt (holders {:?})\n{}\n{}",
        holders(&lab, vip),
        d0.logs(),
        d1.logs()
    );
    figure("restart -> preempted back", took.unwrap_or_default(), bound);
    assert_stable(&lab, vip, &[0], Duration::from_secs(2), "after preemption");
}

#[test]
fn nopreempt_master_does_not_take_back_the_vip() {
    skip_unless_root!();
    let lab = lab(2, false);
    let vip = lab.addr_v4(110);
    let a = Instance::new("BACKUP", 100, vip).nopreempt();
    let b = Instance::new("BACKUP", 99, vip);
    let (mut d0, d1) = pair(&lab, &a, &b);
    assert!(d0.terminate(), "SIGTERM did not exit 0:\n{}", d0.logs());
    assert!(
        wait_holders(&lab, vip, &[1], Duration::from_secs(3)).is_some(),
        "backup never took over:\n{}",
        d1.logs()
    );
    let d0 = Daemon::start(bin(), &lab, 0, &a.config());
    // Longer than master-down (3.6 s): a preempting daemon would have taken it by then.
    assert_stable(&lab, vip, &[1], Duration::from_secs(6), "nopreempt restart");
    assert_eq!(
        d0.master_entries(),
        0,
        "nopreempt host entered MASTER:\n{}",
        d0.logs()
    );
}

#[test]
fn takeover_repoints_the_client_and_tcp_reaches_the_new_master() {
    skip_unless_root!();
    let lab = lab(2, true);
    let vip = lab.addr_v4(110);
    let a = Instance::new("MASTER", 100, vip);
    let b = Instance::new("BACKUP", 99, vip);
    let _servers = common::name_servers(&lab);
    let (mut d0, d1) = pair(&lab, &a, &b);
    let client = lab.client();
    let timeout = Duration::from_secs(2);
    assert_eq!(
        common::ask_name(client, vip, timeout).as_deref(),
        Some("h0"),
        "client did not reach the master through the VIP"
    );
    let (mac0, mac1) = (
        lab.mac(0).unwrap_or_default(),
        lab.mac(1).unwrap_or_default(),
    );
    assert_eq!(client.neigh_mac(IpAddr::V4(vip)), Some(mac0.clone()));

    let t0 = Instant::now();
    d0.kill();
    // A crashed daemon leaves the VIP on host 0; a dead machine would not answer for it.
    common::drop_stale_vip(&lab, 0, vip);
    let bound = b.master_down() + Duration::from_secs(2);
    let took = wait_until(bound, Duration::from_millis(1), || {
        client.neigh_mac(IpAddr::V4(vip)).as_deref() == Some(mac1.as_str())
    })
    .map(|_| t0.elapsed());
    assert!(
        took.is_some(),
        "client neighbour entry still {:?} (new master {mac1}):\n{}",
        client.neigh_mac(IpAddr::V4(vip)),
        d1.logs()
    );
    figure(
        "SIGKILL -> client ARP entry on new master",
        took.unwrap_or_default(),
        bound,
    );
    assert_eq!(
        common::ask_name(client, vip, timeout).as_deref(),
        Some("h1"),
        "TCP through the VIP did not reach the new master"
    );
}

#[test]
fn three_nodes_cascade_to_the_last() {
    skip_unless_root!();
    let lab = lab(3, false);
    let vip = lab.addr_v4(110);
    let insts = [
        Instance::new("MASTER", 100, vip),
        Instance::new("BACKUP", 99, vip),
        Instance::new("BACKUP", 98, vip),
    ];
    let mut ds: Vec<Daemon> = insts
        .iter()
        .enumerate()
        .map(|(i, inst)| Daemon::start(bin(), &lab, i, &inst.config()))
        .collect();
    let logs = |ds: &[Daemon]| ds.iter().map(Daemon::logs).collect::<Vec<_>>().join("\n");
    assert!(
        wait_holders(&lab, vip, &[0], Duration::from_secs(8)).is_some(),
        "no initial master:\n{}",
        logs(&ds)
    );
    std::thread::sleep(Duration::from_secs(2));
    for dead in 0..2 {
        let next = dead + 1;
        let t0 = Instant::now();
        ds[dead].kill();
        common::drop_stale_vip(&lab, dead, vip);
        let bound = insts[next].master_down() + Duration::from_secs(2);
        let took = wait_holders(&lab, vip, &[next], bound).map(|_| t0.elapsed());
        assert!(
            took.is_some(),
            "host {next} never became the sole holder (holders {:?}):\n{}",
            holders(&lab, vip),
            logs(&ds)
        );
        figure(
            &format!("cascade: kill {dead} -> VIP on {next}"),
            took.unwrap_or_default(),
            bound,
        );
        std::thread::sleep(Duration::from_secs(1));
    }
    assert_stable(&lab, vip, &[2], Duration::from_secs(2), "cascade end");
}

/// drift and keepalived on one LAN: the master (`drift_master` picks which) must be accepted by
/// the other as master for a while (no flapping, so adverts are mutually understood), and a
/// clean stop must hand over within the skew time.
fn interop(drift_master: bool, master: Instance, backup: Instance, label: &str) {
    let lab = lab(2, false);
    let vip = lab.addr_v4(110);
    let (master, backup) = (Instance { vip, ..master }, Instance { vip, ..backup });
    let start = |host: usize, inst: &Instance, drift: bool| {
        if drift {
            Daemon::start(bin(), &lab, host, &inst.config())
        } else {
            Daemon::start_keepalived(&lab, host, &inst.config())
        }
    };
    let mut d0 = start(0, &master, drift_master);
    let d1 = start(1, &backup, !drift_master);
    let up = wait_holders(
        &lab,
        vip,
        &[0],
        master.master_down() + Duration::from_secs(4),
    );
    assert!(
        up.is_some(),
        "{label}: no initial master (holders {:?})\n{}\n{}",
        holders(&lab, vip),
        d0.logs(),
        d1.logs()
    );
    // Both start in BACKUP and may race for a few ms at startup; count from the settled state.
    std::thread::sleep(Duration::from_millis(200));
    let before = d1.master_entries();
    // Longer than the backup's master-down: it would have taken over if it ignored the adverts.
    let settle = backup.master_down() + Duration::from_secs(1);
    assert_stable(&lab, vip, &[0], settle, label);
    assert_eq!(
        d1.master_entries(),
        before,
        "{label}: backup went MASTER:\n{}",
        d1.logs()
    );
    let t0 = Instant::now();
    // Measured from the signal, not from the exit (keepalived takes ~1 s to exit).
    let _ = d0.child.signal(drift_testkit::Signal::SIGTERM);
    let bound = Duration::from_millis(1500);
    let took = wait_until(bound, Duration::from_millis(1), || {
        lab.has_addr(1, IpAddr::V4(vip))
    })
    .map(|_| t0.elapsed());
    assert!(
        d0.terminate(),
        "{label}: master did not exit 0:\n{}",
        d0.logs()
    );
    assert!(took.is_some(), "{label}: no handover:\n{}", d1.logs());
    figure(
        &format!("{label}: SIGTERM handover"),
        took.unwrap_or_default(),
        bound,
    );
}

#[test]
fn drift_master_is_accepted_by_a_keepalived_backup_v2_and_v3() {
    skip_unless_root!();
    drift_testkit::skip_unless_tool!("keepalived");
    let vip = std::net::Ipv4Addr::UNSPECIFIED;
    interop(
        true,
        Instance::new("MASTER", 100, vip),
        Instance::new("BACKUP", 99, vip),
        "drift master / keepalived backup v2",
    );
    interop(
        true,
        Instance::new("MASTER", 100, vip).v3("0.1"),
        Instance::new("BACKUP", 99, vip).v3("0.1"),
        "drift master / keepalived backup v3",
    );
}

#[test]
fn keepalived_master_is_accepted_by_a_drift_backup_v2_and_v3() {
    skip_unless_root!();
    drift_testkit::skip_unless_tool!("keepalived");
    let vip = std::net::Ipv4Addr::UNSPECIFIED;
    interop(
        false,
        Instance::new("MASTER", 100, vip),
        Instance::new("BACKUP", 99, vip),
        "keepalived master / drift backup v2",
    );
    interop(
        false,
        Instance::new("MASTER", 100, vip).v3("0.1"),
        Instance::new("BACKUP", 99, vip).v3("0.1"),
        "keepalived master / drift backup v3",
    );
}
