//! Shared by the `faults_*` tests (issue 7, "Faults" and "Load through failovers"): silent
//! partitions and VRRP packet loss on a [`Lab`], a watcher that records every change of who
//! holds a VIP ([`VipWatch`]), a capture of the adverts crossing the lab's bridge with kernel
//! receive times ([`AdvertCapture`]), and small statistics helpers.
//!
//! Each test has a short default (a few tens of seconds, run by `cargo test`) and a long
//! version selected with `DRIFT_LONG=1` (minutes; figures in README "### Faults").
//!
//! Why not `tc netem`: the kernels this runs on may lack `sch_netem` (and every tc action), so
//! partitions detach the host's port from the bridge and loss uses iptables' `statistic` match
//! inside the host's namespace. Both need nothing from the machine's own network.
#![allow(dead_code)]

mod capture;
mod vip_watch;

#[allow(unused_imports)]
pub use capture::{Advert, AdvertCapture};
#[allow(unused_imports)]
pub use vip_watch::{Segment, VipWatch};

use std::io;
use std::time::Duration;

use drift_testkit::{Lab, BRIDGE_IF};

/// `DRIFT_LONG=1` selects the long versions (minutes) instead of the default short ones.
pub fn long() -> bool {
    std::env::var("DRIFT_LONG").is_ok_and(|v| !v.is_empty() && v != "0")
}

/// `short` normally, `long` under `DRIFT_LONG=1`.
pub fn pick<T>(short: T, long: T) -> T {
    if self::long() {
        long
    } else {
        short
    }
}

/// Takes host `i` off the segment by detaching its port from the bridge. Its `eth0` keeps
/// carrier (the veth pair stays up), so its daemon hears silence rather than seeing a dead
/// link: a real split brain, not the FAULT state a link-down would cause.
pub fn detach(lab: &Lab, i: usize) -> io::Result<()> {
    lab.bridge()
        .ip(&["link", "set", lab.host(i).port(), "nomaster"])
        .map(|_| ())
}

/// Puts host `i` back on the segment (STP is off, so the port forwards at once).
pub fn attach(lab: &Lab, i: usize) -> io::Result<()> {
    lab.bridge()
        .ip(&["link", "set", lab.host(i).port(), "master", BRIDGE_IF])
        .map(|_| ())
}

/// Drops `percent` % of VRRP packets (IP protocol 112) at random on host `i`, both ways: its
/// own adverts in OUTPUT, the ones it hears in INPUT (drift receives through a raw IP socket,
/// which sits after INPUT). iptables' `statistic` match draws independently per packet.
pub fn vrrp_loss(lab: &Lab, i: usize, percent: u32) -> io::Result<()> {
    let p = format!("{:.4}", f64::from(percent) / 100.0);
    for chain in ["OUTPUT", "INPUT"] {
        lab.host(i).exec_checked(&[
            "iptables",
            "-w",
            "-A",
            chain,
            "-p",
            "112",
            "-m",
            "statistic",
            "--mode",
            "random",
            "--probability",
            &p,
            "-j",
            "DROP",
        ])?;
    }
    Ok(())
}

/// Removes every rule [`vrrp_loss`] added on host `i`.
pub fn clear_loss(lab: &Lab, i: usize) -> io::Result<()> {
    for chain in ["OUTPUT", "INPUT"] {
        lab.host(i).exec_checked(&["iptables", "-w", "-F", chain])?;
    }
    Ok(())
}

/// A tiny xorshift generator: reproducible partitions from a printed seed without a new
/// dependency (`DRIFT_FAULTS_SEED` replays a run).
pub struct Rng(u64);

impl Rng {
    /// Seeded from `DRIFT_FAULTS_SEED` or the clock; returns the seed to print.
    pub fn from_env() -> (Rng, u64) {
        let seed = std::env::var("DRIFT_FAULTS_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or(0x5eed)
            });
        (Rng(seed | 1), seed)
    }

    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    /// Uniform duration in `lo..hi`.
    pub fn between(&mut self, lo: Duration, hi: Duration) -> Duration {
        let span = hi.saturating_sub(lo).as_micros() as u64;
        lo + Duration::from_micros(self.below(span.max(1)))
    }
}

/// p50, p99 and max of `values` (nearest rank), in the values' unit; zeros when empty.
pub fn p50_p99_max(values: &[f64]) -> (f64, f64, f64) {
    if values.is_empty() {
        return (0.0, 0.0, 0.0);
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let rank = |p: f64| v[(((p * v.len() as f64).ceil() as usize).max(1) - 1).min(v.len() - 1)];
    (rank(0.50), rank(0.99), v[v.len() - 1])
}

/// Milliseconds of a duration, for reports.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Print a report line (`FAULTS ...`), visible with `-- --nocapture` and in failure output.
pub fn report(line: &str) {
    println!("FAULTS {line}");
}

#[test]
fn percentiles_use_the_nearest_rank() {
    let v: Vec<f64> = (1..=100).map(f64::from).collect();
    assert_eq!(p50_p99_max(&v), (50.0, 99.0, 100.0));
    assert_eq!(p50_p99_max(&[3.0]), (3.0, 3.0, 3.0));
    assert_eq!(p50_p99_max(&[]), (0.0, 0.0, 0.0));
}

#[test]
fn the_rng_stays_in_range_and_is_reproducible() {
    let (mut a, mut b) = (Rng(42), Rng(42));
    for _ in 0..1000 {
        let x = a.below(7);
        assert!(x < 7);
        assert_eq!(x, b.below(7));
    }
    let d = a.between(Duration::from_millis(10), Duration::from_millis(20));
    assert!(d >= Duration::from_millis(10) && d < Duration::from_millis(20));
}
