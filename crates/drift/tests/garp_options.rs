//! keepalived's GARP options on the wire, end to end: `tcpdump` in another namespace records
//! the gratuitous ARPs a drift master sends, and the test checks their batches and spacing.
//!
//! * `garp_master_refresh`: one batch of `garp_master_repeat` on takeover, then batches of
//!   `garp_master_refresh_repeat` every `garp_master_refresh`.
//! * split brain healing with keepalived: a keepalived cut off from the LAN (with
//!   `dont_track_primary`, so the lost carrier is no FAULT) becomes master too; when the cable is
//!   back, keepalived yields to drift's higher priority within an advert interval, and drift,
//!   having heard a lower-priority master, re-announces the VIP with `garp_lower_prio_repeat`
//!   GARPs, and again after `garp_lower_prio_delay`.

mod common;

use std::net::Ipv4Addr;
use std::path::Path;
use std::time::{Duration, Instant};

use common::{holders, wait_holders, Daemon};
use drift_testkit::{skip_unless_root, skip_unless_tool, wait_until, ChildGuard, Lab, HOST_IF};

const DRIFT: &str = env!("CARGO_BIN_EXE_drift");

fn config(vip: Ipv4Addr, prio: u8, advert: &str, extra: &str) -> String {
    format!(
        "global_defs {{\n    vrrp_version 3\n}}\nvrrp_instance VI_1 {{\n    state BACKUP\n    \
         interface {HOST_IF}\n    virtual_router_id 51\n    priority {prio}\n    \
         advert_int {advert}\n{extra}    virtual_ipaddress {{\n        {vip}/32\n    }}\n}}\n"
    )
}

/// `tcpdump` on `eth0` of host `h`, printing ARP frames with link-level headers and epoch times.
fn capture(lab: &Lab, h: usize) -> ChildGuard {
    let c = lab
        .spawn(
            h,
            "tcpdump",
            &[
                "-i",
                HOST_IF,
                "-l",
                "-n",
                "-e",
                "-tt",
                "--immediate-mode",
                "arp",
            ],
        )
        .unwrap_or_else(|e| panic!("tcpdump: {e}"));
    let ready = wait_until(Duration::from_secs(5), Duration::from_millis(20), || {
        c.stderr().contains("listening on")
    });
    assert!(ready.is_some(), "tcpdump did not start: {}", c.logs());
    c
}

/// Times (epoch seconds) of the gratuitous ARPs for `vip` sent from `mac`.
fn garps(cap: &ChildGuard, mac: &str, vip: Ipv4Addr) -> Vec<f64> {
    let vip = vip.to_string();
    cap.stdout()
        .lines()
        .filter(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            words
                .get(1)
                .is_some_and(|src| src.eq_ignore_ascii_case(mac))
                && l.matches(vip.as_str()).count() >= 2
        })
        .filter_map(|l| l.split_whitespace().next()?.parse().ok())
        .collect()
}

/// Group frame times into batches (frames less than 200 ms apart).
fn batches(times: &[f64]) -> Vec<(f64, usize)> {
    let mut out: Vec<(f64, usize)> = Vec::new();
    let mut last = f64::NEG_INFINITY;
    for &t in times {
        match out.last_mut() {
            Some(b) if t - last < 0.2 => b.1 += 1,
            _ => out.push((t, 1)),
        }
        last = t;
    }
    out
}

#[test]
fn garp_master_refresh_repeats_batches_at_the_configured_period() {
    skip_unless_root!();
    skip_unless_tool!("tcpdump");
    let lab = Lab::builder()
        .hosts(2)
        .build()
        .unwrap_or_else(|e| panic!("build lab: {e}"));
    let vip = lab.addr_v4(110);
    let mac = lab.mac(0).unwrap_or_else(|e| panic!("mac: {e}"));
    let cap = capture(&lab, 1);
    let extra =
        "    garp_master_delay 0\n    garp_master_repeat 2\n    garp_master_refresh 1\n    \
                 garp_master_refresh_repeat 3\n";
    let d = Daemon::start_as_drift(Path::new(DRIFT), &lab, 0, &config(vip, 150, "0.1", extra));
    assert!(
        wait_holders(&lab, vip, &[0], Duration::from_secs(5)).is_some(),
        "{}",
        d.logs()
    );
    std::thread::sleep(Duration::from_millis(3500));
    let b = batches(&garps(&cap, &mac, vip));
    println!("FIGURE garp batches (start, frames): {b:?}");
    assert!(b.len() >= 3, "{b:?}\n{}", cap.logs());
    assert_eq!(b[0].1, 2, "takeover batch: {b:?}");
    for w in b.windows(2) {
        let gap = w[1].0 - w[0].0;
        assert!(
            (0.7..1.6).contains(&gap),
            "refresh period {gap:.3} s: {b:?}"
        );
        assert_eq!(w[1].1, 3, "refresh batch: {b:?}");
    }
}

#[test]
fn split_brain_heals_at_once_and_the_master_reannounces_with_lower_prio_garps() {
    skip_unless_root!();
    skip_unless_tool!("tcpdump");
    skip_unless_tool!("keepalived");
    let lab = Lab::builder()
        .hosts(2)
        .client(true)
        .build()
        .unwrap_or_else(|e| panic!("build lab: {e}"));
    let vip = lab.addr_v4(110);
    let mac = lab.mac(0).unwrap_or_else(|e| panic!("mac: {e}"));
    let extra =
        "    garp_master_delay 0\n    garp_master_repeat 1\n    garp_lower_prio_repeat 4\n    \
                 garp_lower_prio_delay 1\n";
    // drift advertises every second, keepalived ten times as often (VRRPv3 lets them differ):
    // after the reconnect drift hears keepalived's advert long before its own next one is due.
    let d = Daemon::start_as_drift(Path::new(DRIFT), &lab, 0, &config(vip, 150, "1", extra));
    assert!(
        wait_holders(&lab, vip, &[0], Duration::from_secs(8)).is_some(),
        "{}",
        d.logs()
    );
    // keepalived, cut off, becomes a second master.
    lab.host(1).cut().unwrap_or_else(|e| panic!("cut: {e}"));
    // dont_track_primary: without it keepalived would go FAULT on the lost carrier.
    let ka = Daemon::start_keepalived(
        &lab,
        1,
        &config(vip, 100, "0.1", "    dont_track_primary\n"),
    );
    let both = wait_holders(&lab, vip, &[0, 1], Duration::from_secs(8));
    assert!(both.is_some(), "no split brain\n{}", ka.logs());
    let cap_client = {
        // The client sees the LAN from a third namespace.
        let c = lab
            .client()
            .spawn(
                "tcpdump",
                &[
                    "-i",
                    HOST_IF,
                    "-l",
                    "-n",
                    "-e",
                    "-tt",
                    "--immediate-mode",
                    "arp",
                ],
            )
            .unwrap_or_else(|e| panic!("tcpdump: {e}"));
        let ready = wait_until(Duration::from_secs(5), Duration::from_millis(20), || {
            c.stderr().contains("listening on")
        });
        assert!(ready.is_some(), "tcpdump did not start: {}", c.logs());
        c
    };

    let t0 = Instant::now();
    lab.host(1)
        .reconnect()
        .unwrap_or_else(|e| panic!("reconnect: {e}"));
    let healed = wait_holders(&lab, vip, &[0], Duration::from_secs(3)).map(|_| t0.elapsed());
    assert!(
        healed.is_some(),
        "split brain persists {:?}\n{}",
        holders(&lab, vip),
        ka.logs()
    );
    // drift answers keepalived's first advert at once (`lower_prio_no_advert` off) instead of
    // waiting up to its own 1 s interval.
    let bound = Duration::from_millis(900);
    let healed = healed.unwrap_or_default();
    common::figure("split brain healed after reconnect", healed, bound);
    assert!(healed < bound, "healed after {healed:?}\n{}", d.logs());
    std::thread::sleep(Duration::from_millis(1800));
    let b = batches(&garps(&cap_client, &mac, vip));
    println!("FIGURE lower-prio garp batches (start, frames): {b:?}");
    assert!(b.len() >= 2, "{b:?}\n{}", d.logs());
    assert!(
        b[0].1 >= 4 && b[0].1.is_multiple_of(4),
        "first batch: {b:?}"
    );
    let gap = b[1].0 - b[0].0;
    assert!(
        (0.7..1.6).contains(&gap),
        "garp_lower_prio_delay {gap:.3} s: {b:?}"
    );
    assert!(b[1].1 >= 4, "delayed batch: {b:?}");
}
