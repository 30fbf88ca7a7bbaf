//! The steps the namespace scenarios share, each failing with the message it needs: start the
//! daemons, render the one-host tracker instance, wait for VIP holders or a log line or panic
//! with the holders and every daemon's log. A test then reads as its scenario.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use drift_testkit::Lab;

use super::{drift_bin, fast_instance, holders, wait_holders, wait_log, Daemon};

/// Start the daemon under test (drift, or keepalived under `DRIFT_E2E_PEER=keepalived`) in
/// hosts 0 and 1 with these configs.
pub fn start_pair(lab: &Lab, config0: &str, config1: &str) -> (Daemon, Daemon) {
    (
        Daemon::start(drift_bin(), lab, 0, config0),
        Daemon::start(drift_bin(), lab, 1, config1),
    )
}

/// Start `master` in host 0 and `backup` in host 1 and wait (8 s at most) until host 0 alone
/// holds `vip`: the first step of every failover scenario.
pub fn start_elected_pair(
    lab: &Lab,
    vip: impl Into<IpAddr>,
    master: &str,
    backup: &str,
) -> (Daemon, Daemon) {
    let (d0, d1) = start_pair(lab, master, backup);
    let bound = Duration::from_secs(8);
    expect_holders(lab, vip, &[0], bound, "initial master", &[&d0, &d1]);
    (d0, d1)
}

/// Wait until exactly the hosts `want` hold `vip` and return how long that took; panic with
/// `what`, the holders at the deadline and every daemon's log if they never do.
pub fn expect_holders(
    lab: &Lab,
    vip: impl Into<IpAddr>,
    want: &[usize],
    timeout: Duration,
    what: &str,
    daemons: &[&Daemon],
) -> Duration {
    let vip = vip.into();
    match wait_holders(lab, vip, want, timeout) {
        Some(took) => took,
        None => panic!(
            "{what}: {vip} never held by exactly {want:?} within {timeout:?} (holders {:?})\n{}",
            holders(lab, vip),
            all_logs(daemons)
        ),
    }
}

/// Panic with the daemon's log unless it logs `needle` within `timeout`.
pub fn expect_log(d: &Daemon, needle: &str, timeout: Duration) {
    assert!(
        wait_log(d, needle, timeout),
        "`{needle}` not logged within {timeout:?}:\n{}",
        d.logs()
    );
}

/// Every daemon's log under a header, for failure messages.
pub fn all_logs(daemons: &[&Daemon]) -> String {
    daemons
        .iter()
        .enumerate()
        .map(|(i, d)| format!("--- daemon {i} ---\n{}", d.logs()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The one-host tests' instance: [`fast_instance`] as MASTER at priority 100 on host 0's link,
/// with `extra` lines (see [`tracks`]).
pub fn solo_master(lab: &Lab, vip: Ipv4Addr, extra: &str) -> String {
    fast_instance(lab.host(0).ifname(), "MASTER", 100, vip, extra)
}

/// A `track_script`/`track_file`/`track_process` block naming `names`, as instance lines.
pub fn tracks(kind: &str, names: &[&str]) -> String {
    let body: String = names.iter().map(|n| format!("    {n}\n")).collect();
    format!("  {kind} {{\n{body}  }}\n")
}
