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

use common::scenario::expect_holders;
use common::{drift_bin, holders, lab, Daemon};
use drift_testkit::{skip_unless_root, skip_unless_tool, wait_until, Lab, HOST_IF};

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

/// Both tests' lab: two hosts, an extra link to track in host 0 (see [`add_tracked_link`]), a
/// group notify file, and the two instances' VIPs.
fn setup() -> (Lab, NotifyFile, [IpAddr; 2]) {
    let lab = lab(2);
    let notify = NotifyFile::new(&lab);
    let vips = [110, 111].map(|octet| IpAddr::V4(lab.addr_v4(octet)));
    add_tracked_link(&lab, 0);
    (lab, notify, vips)
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

    /// Panic with the lines so far unless the last one becomes `line` within 3 s.
    fn expect_last(&self, line: &str) {
        let last = wait_until(Duration::from_secs(3), Duration::from_millis(20), || {
            notify_lines(&self.0).last().map(String::as_str) == Some(line)
        });
        assert!(
            last.is_some(),
            "group notify: {:?}, expected `{line}` last",
            notify_lines(&self.0)
        );
    }
}

impl Drop for NotifyFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn the_group_moves_as_one_and_prefers_backup_to_thrashing() {
    skip_unless_root!();
    skip_unless_tool!("keepalived");
    let (lab, notify, [vip1, vip2]) = setup();
    // keepalived first, so that drift starts as a backup of a live master (no startup race).
    let mut ka = Daemon::start_keepalived(&lab, 0, &config(&lab, [150, 150], true, None));
    for vip in [vip1, vip2] {
        let bound = Duration::from_secs(8);
        expect_holders(&lab, vip, &[0], bound, "keepalived master", &[&ka]);
    }
    let drift = Daemon::start_as_drift(
        drift_bin(),
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
        let bound = Duration::from_secs(3);
        expect_holders(&lab, vip, &[1], bound, "drift takes over", &[&drift]);
    }
    assert!(lines(2), "group notify: {:?}", notify_lines(&notify.0));
    assert!(drift
        .logs()
        .contains("VRRP_Group(G) Syncing instances to MASTER state"));

    // 3. keepalived returns above drift for VI_2 only: VI_2 yields, VI_1 follows it down.
    let ka = Daemon::start_keepalived(&lab, 0, &config(&lab, [50, 150], false, None));
    for vip in [vip1, vip2] {
        let bound = Duration::from_secs(4);
        expect_holders(&lab, vip, &[0], bound, "keepalived back", &[&drift, &ka]);
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
    let (lab, notify, [vip1, vip2]) = setup();
    let mut drift = Daemon::start_as_drift(
        drift_bin(),
        &lab,
        0,
        &config(&lab, [150, 150], true, Some(&notify.0)),
    );
    let ka = Daemon::start_keepalived(&lab, 1, &config(&lab, [100, 100], false, None));
    for vip in [vip1, vip2] {
        let bound = Duration::from_secs(8);
        expect_holders(&lab, vip, &[0], bound, "drift master", &[&drift, &ka]);
    }
    lab.host(0)
        .ip(&["link", "set", "x0", "down"])
        .unwrap_or_else(|e| panic!("x0 down: {e}"));
    for vip in [vip1, vip2] {
        let bound = Duration::from_secs(3);
        expect_holders(&lab, vip, &[1], bound, "group fault moves", &[&drift, &ka]);
    }
    let logs = drift.logs();
    let faults = logs
        .lines()
        .filter(|l| l.contains("VRRP_Instance(") && l.contains("Entering FAULT STATE"))
        .count();
    assert_eq!(faults, 2, "{logs}");
    notify.expect_last("GROUP G FAULT 0");
    // Stopping runs the group's notify_stop.
    assert!(drift.terminate(), "{}", drift.logs());
    notify.expect_last("group-stop");
}
