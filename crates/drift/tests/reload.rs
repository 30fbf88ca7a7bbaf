//! Reload without flaps (issue 6): 100 SIGHUPs, the config file rewritten before each (an
//! unrelated global change, or the master's priority 100 <-> 101), plus one broken file in the
//! middle, while a client keeps asking the master's web server through the VIP. Expected:
//! every request answered by the master, no VRRP transition on either node, every good reload
//! done and the broken one refused. Needs root.

mod common;

use std::io::Read;
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{name_servers, wait_holders, Instance, NAME_PORT};
use drift_testkit::{skip_unless_root, wait_until, ChildGuard, Lab, Signal};

const RELOADS: usize = 100;

/// Counts of one client's requests through the VIP.
#[derive(Default)]
struct Tally {
    ok: AtomicU64,
    failed: AtomicU64,
    /// Answers from a node other than the master.
    wrong: AtomicU64,
}

/// VRRP state changes a node logged (keepalived's `Entering MASTER STATE` wording).
fn transitions(log: &str) -> usize {
    log.lines().filter(|l| l.contains("Entering ")).count()
}

#[test]
fn a_hundred_reloads_under_traffic_fail_no_request_and_cause_no_transition() {
    skip_unless_root!();
    let lab = Lab::builder().hosts(2).client(true).build().unwrap();
    let vip = lab.addr_v4(110);
    let master = Instance::new("MASTER", 100, vip).config();
    // Variants of the master's file: the same instance under another router_id, and a
    // priority change that stays above the backup's (applied in place, no restart).
    let variants = [
        master.clone(),
        master.replace("router_id drift_e2e", "router_id drift_e2e_reloaded"),
        Instance::new("MASTER", 101, vip).config(),
    ];
    let backup = Instance::new("BACKUP", 99, vip).config();
    let dir = tempfile::tempdir().unwrap();
    let files = [dir.path().join("h0.conf"), dir.path().join("h1.conf")];
    std::fs::write(&files[0], &master).unwrap();
    std::fs::write(&files[1], &backup).unwrap();
    let bin = env!("CARGO_BIN_EXE_drift");
    let nodes: Vec<ChildGuard> = files
        .iter()
        .enumerate()
        .map(|(i, f)| {
            lab.spawn(i, bin, &["run", "-f", f.to_str().unwrap(), "-l", "debug"])
                .unwrap()
        })
        .collect();
    let logs = || format!("{}\n{}", nodes[0].logs(), nodes[1].logs());
    let _servers = name_servers(&lab);
    assert!(
        wait_holders(&lab, vip, &[0], Duration::from_secs(10)).is_some(),
        "no election:\n{}",
        logs()
    );

    let stop = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(Tally::default());
    let client = {
        let (stop, tally) = (stop.clone(), tally.clone());
        lab.client().spawn_thread(move || {
            let addr = SocketAddr::new(IpAddr::V4(vip), NAME_PORT);
            while !stop.load(Ordering::Relaxed) {
                match ask(addr) {
                    Some(name) if name == "h0" => tally.ok.fetch_add(1, Ordering::Relaxed),
                    Some(_) => tally.wrong.fetch_add(1, Ordering::Relaxed),
                    None => tally.failed.fetch_add(1, Ordering::Relaxed),
                };
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };
    let answered = wait_until(Duration::from_secs(5), Duration::from_millis(10), || {
        tally.ok.load(Ordering::Relaxed) >= 5
    });
    assert!(answered.is_some(), "client gets no answers:\n{}", logs());
    // Let the backup learn the master before counting.
    std::thread::sleep(Duration::from_millis(1500));
    let before = [
        transitions(&nodes[0].stderr()),
        transitions(&nodes[1].stderr()),
    ];

    let mut took = Vec::with_capacity(RELOADS);
    for k in 0..RELOADS {
        if k == RELOADS / 2 {
            std::fs::write(
                &files[0],
                "vrrp_instance VI_1 {\n  virtual_router_id 300\n}\n",
            )
            .unwrap();
            nodes[0].signal(Signal::SIGHUP).unwrap();
            let refused = wait_until(Duration::from_secs(5), Duration::from_millis(5), || {
                nodes[0].stderr().contains("reload refused")
            });
            assert!(refused.is_some(), "broken file not refused:\n{}", logs());
        }
        std::fs::write(&files[0], &variants[(k + 1) % variants.len()]).unwrap();
        let t0 = Instant::now();
        nodes[0].signal(Signal::SIGHUP).unwrap();
        let done = wait_until(Duration::from_secs(5), Duration::from_millis(2), || {
            nodes[0].stderr().matches("reload done").count() > k
        });
        assert!(done.is_some(), "reload {k} not done:\n{}", logs());
        took.push(t0.elapsed());
        // Spread the reloads over ~2 s so that the client's requests interleave with them.
        std::thread::sleep(Duration::from_millis(20));
    }
    // A few more adverts after the last reload, for a late flap to show.
    std::thread::sleep(Duration::from_millis(2500));
    stop.store(true, Ordering::Relaxed);
    client.join().unwrap();

    let after = [
        transitions(&nodes[0].stderr()),
        transitions(&nodes[1].stderr()),
    ];
    took.sort();
    let (ok, failed, wrong) = (
        tally.ok.load(Ordering::Relaxed),
        tally.failed.load(Ordering::Relaxed),
        tally.wrong.load(Ordering::Relaxed),
    );
    println!(
        "FIGURE {RELOADS} reloads: median {:?}, max {:?}; client {ok} ok, {failed} failed, {wrong} \
         answered by the backup; transitions during reloads {:?}",
        took[took.len() / 2],
        took[took.len() - 1],
        [after[0] - before[0], after[1] - before[1]]
    );
    assert_eq!(
        before,
        after,
        "VRRP transitions during reloads:\n{}",
        logs()
    );
    assert_eq!((failed, wrong), (0, 0), "requests disturbed:\n{}", logs());
    assert!(ok > 100, "too few requests to mean anything: {ok}");
    let master_log = nodes[0].stderr();
    assert!(
        master_log.contains("applied in place") && !master_log.contains("changed by reload"),
        "priority changes should be applied in place:\n{master_log}"
    );
    assert_eq!(
        wait_holders(&lab, vip, &[0], Duration::ZERO).map(|_| ()),
        Some(())
    );
}

/// One request to the name server through the VIP; its answer, or None on any failure.
fn ask(addr: SocketAddr) -> Option<String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(500)).ok()?;
    s.set_read_timeout(Some(Duration::from_millis(500))).ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}
