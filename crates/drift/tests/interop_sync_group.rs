//! `vrrp_sync_group` end to end, with keepalived 2.2.7 as the peer: two instances (VRIDs 51
//! and 52, one VIP each) on the lab LAN, VRRPv3 at 0.1 s.
//!
//! * `the_group_moves_as_one_and_prefers_backup_to_thrashing` (drift low, keepalived high
//!   without a sync group): keepalived faults only its VI_1, so drift's VI_1 *wants* master but
//!   the group refuses while VI_2 still hears a master (keepalived 2.x "prefer backup state to
//!   avoid thrashing"); keepalived dies, both members want master, the group goes MASTER;
//!   keepalived comes back with only VI_2 above drift: drift's VI_2 yields and drags VI_1 to
//!   BACKUP with it. The group notify script sees BACKUP, MASTER, BACKUP.
//! * `a_fault_in_one_member_faults_the_whole_group`: drift (high, sync group) loses VI_1's
//!   tracked interface: both members go FAULT (priority-0 adverts), keepalived takes both VIPs,
//!   the group notify script sees FAULT.

mod common;

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{holders, wait_holders, Daemon};
use drift_testkit::{skip_unless_root, skip_unless_tool, wait_until, Lab, HOST_IF};

const DRIFT: &str = env!("CARGO_BIN_EXE_drift");

/// Two instances with priorities `prio`; `track_x0` makes VI_1 track the extra interface `x0`;
/// `group_notify` wraps both in sync group G whose `notify` appends its arguments to that file
/// (and `notify_stop` the line `group-stop`).
fn config(lab: &Lab, prio: [u8; 2], track_x0: bool, group_notify: Option<&Path>) -> String {
    let mut s = "global_defs {\n    vrrp_version 3\n}\n".to_string();
    if let Some(file) = group_notify {
        s += &format!(
            "vrrp_sync_group G {{\n    group {{\n        VI_1\n        VI_2\n    }}\n    \
             notify \"/bin/sh -c 'echo $* >> {f}' sh\"\n    \
             notify_stop \"/bin/sh -c 'echo group-stop >> {f}'\"\n}}\n",
            f = file.display()
        );
    }
    for (name, vrid, octet, prio) in [("VI_1", 51, 110, prio[0]), ("VI_2", 52, 111, prio[1])] {
        let track = if track_x0 && name == "VI_1" {
            "    track_interface {\n        x0\n    }\n"
        } else {
            ""
        };
        s += &format!(
            "vrrp_instance {name} {{\n    state BACKUP\n    interface {HOST_IF}\n    \
             virtual_router_id {vrid}\n    priority {prio}\n    advert_int 0.1\n{track}    \
             virtual_ipaddress {{\n        {}/32\n    }}\n}}\n",
            lab.addr_v4(octet)
        );
    }
    s
}

/// An extra veth pair `x0`/`x1` inside host `h`, both up: a link to track and pull.
fn add_tracked_link(lab: &Lab, h: usize) {
    let host = lab.host(h);
    host.ip(&["link", "add", "x0", "type", "veth", "peer", "name", "x1"])
        .unwrap_or_else(|e| panic!("add x0: {e}"));
    host.ip(&["link", "set", "x1", "up"])
        .unwrap_or_else(|e| panic!("x1 up: {e}"));
    host.ip(&["link", "set", "x0", "up"])
        .unwrap_or_else(|e| panic!("x0 up: {e}"));
}

fn notify_lines(file: &Path) -> Vec<String> {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

struct NotifyFile(PathBuf);

impl NotifyFile {
    fn new(lab: &Lab) -> NotifyFile {
        NotifyFile(std::env::temp_dir().join(format!("drift-sync-notify-{}", lab.id())))
    }
}

impl Drop for NotifyFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn lab() -> Lab {
    Lab::builder()
        .hosts(2)
        .build()
        .unwrap_or_else(|e| panic!("build lab: {e}"))
}

#[test]
fn the_group_moves_as_one_and_prefers_backup_to_thrashing() {
    skip_unless_root!();
    skip_unless_tool!("keepalived");
    let lab = lab();
    let notify = NotifyFile::new(&lab);
    let (vip1, vip2) = (IpAddr::V4(lab.addr_v4(110)), IpAddr::V4(lab.addr_v4(111)));
    add_tracked_link(&lab, 0);
    // keepalived first, so that drift starts as a backup of a live master (no startup race).
    let mut ka = Daemon::start_keepalived(&lab, 0, &config(&lab, [150, 150], true, None));
    for vip in [vip1, vip2] {
        let up = wait_holders(&lab, vip, &[0], Duration::from_secs(8));
        assert!(up.is_some(), "keepalived never master\n{}", ka.logs());
    }
    let drift = Daemon::start_as_drift(
        Path::new(DRIFT),
        &lab,
        1,
        &config(&lab, [100, 100], false, Some(&notify.0)),
    );
    let lines = |n: usize| {
        let want = &["GROUP G BACKUP 0", "GROUP G MASTER 0", "GROUP G BACKUP 0"][..n];
        wait_until(Duration::from_secs(4), Duration::from_millis(20), || {
            notify_lines(&notify.0) == want
        })
        .is_some()
    };
    assert!(lines(1), "group notify: {:?}", notify_lines(&notify.0));

    // 1. Only keepalived's VI_1 fails: drift's VI_1 wants master, its group says no.
    lab.host(0)
        .ip(&["link", "set", "x0", "down"])
        .unwrap_or_else(|e| panic!("x0 down: {e}"));
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(
        holders(&lab, vip1),
        Vec::<usize>::new(),
        "VI_1\n{}",
        drift.logs()
    );
    assert_eq!(holders(&lab, vip2), vec![0], "VI_2\n{}", drift.logs());
    assert!(lines(1), "group notify: {:?}", notify_lines(&notify.0));

    // 2. keepalived dies: every member wants master, the group goes MASTER together.
    ka.kill();
    common::drop_stale_vip(&lab, 0, vip2);
    for vip in [vip1, vip2] {
        let up = wait_holders(&lab, vip, &[1], Duration::from_secs(3));
        assert!(up.is_some(), "{vip} not taken\n{}", drift.logs());
    }
    assert!(lines(2), "group notify: {:?}", notify_lines(&notify.0));
    assert!(drift
        .logs()
        .contains("VRRP_Group(G) Syncing instances to MASTER state"));

    // 3. keepalived returns above drift for VI_2 only: VI_2 yields, VI_1 follows it down.
    let ka = Daemon::start_keepalived(&lab, 0, &config(&lab, [50, 150], false, None));
    for vip in [vip1, vip2] {
        let moved = wait_holders(&lab, vip, &[0], Duration::from_secs(4));
        assert!(
            moved.is_some(),
            "{vip} not back\n{}\n{}",
            drift.logs(),
            ka.logs()
        );
    }
    assert!(lines(3), "group notify: {:?}", notify_lines(&notify.0));
    let logs = drift.logs();
    assert!(
        logs.contains("VRRP_Group(G) Syncing instances to BACKUP state"),
        "{logs}"
    );
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(
        holders(&lab, vip1),
        vec![0],
        "VI_1 thrashed\n{}",
        drift.logs()
    );
    assert!(
        lines(3),
        "the group kept moving: {:?}",
        notify_lines(&notify.0)
    );
}

#[test]
fn a_fault_in_one_member_faults_the_whole_group() {
    skip_unless_root!();
    skip_unless_tool!("keepalived");
    let lab = lab();
    let notify = NotifyFile::new(&lab);
    let (vip1, vip2) = (IpAddr::V4(lab.addr_v4(110)), IpAddr::V4(lab.addr_v4(111)));
    add_tracked_link(&lab, 0);
    let mut drift = Daemon::start_as_drift(
        Path::new(DRIFT),
        &lab,
        0,
        &config(&lab, [150, 150], true, Some(&notify.0)),
    );
    let ka = Daemon::start_keepalived(&lab, 1, &config(&lab, [100, 100], false, None));
    for vip in [vip1, vip2] {
        let up = wait_holders(&lab, vip, &[0], Duration::from_secs(8));
        assert!(
            up.is_some(),
            "drift never master\n{}\n{}",
            drift.logs(),
            ka.logs()
        );
    }
    lab.host(0)
        .ip(&["link", "set", "x0", "down"])
        .unwrap_or_else(|e| panic!("x0 down: {e}"));
    for vip in [vip1, vip2] {
        let moved = wait_holders(&lab, vip, &[1], Duration::from_secs(3));
        assert!(
            moved.is_some(),
            "{vip} did not move\n{}\n{}",
            drift.logs(),
            ka.logs()
        );
    }
    let logs = drift.logs();
    let faults = logs
        .lines()
        .filter(|l| l.contains("VRRP_Instance(") && l.contains("Entering FAULT STATE"))
        .count();
    assert_eq!(faults, 2, "{logs}");
    let faulted = wait_until(Duration::from_secs(3), Duration::from_millis(20), || {
        notify_lines(&notify.0).last().map(String::as_str) == Some("GROUP G FAULT 0")
    });
    assert!(
        faulted.is_some(),
        "group notify: {:?}",
        notify_lines(&notify.0)
    );
    // Stopping runs the group's notify_stop.
    assert!(drift.terminate(), "{}", drift.logs());
    let stopped = wait_until(Duration::from_secs(3), Duration::from_millis(20), || {
        notify_lines(&notify.0).last().map(String::as_str) == Some("group-stop")
    });
    assert!(
        stopped.is_some(),
        "group notify: {:?}",
        notify_lines(&notify.0)
    );
}
