//! Failover benchmark: how long after the master dies (SIGKILL) the backup holds the VIP, and
//! how long until a client's TCP connect through the VIP succeeds again, beside the protocol's own
//! Master_Down_Interval (3 × advert_int + skew, RFC 5798 §6.1).
//!
//! ```text
//! cargo build --release -p drift
//! cargo run --release -p drift --example failover_bench -- [runs]     # as root
//! ```
//! The drift binary is taken from `$DRIFT_BIN`, else next to this example's directory
//! (`target/release/examples/..`). Runs in its own namespace lab; skips with a message if not root.
//!
//! Polling is 1 ms, but reading the kernel's addresses spawns `ip -j addr` (a few ms each), so
//! the VIP figure has that resolution; the TCP figure is taken inside the client namespace.

#[path = "bench_util/mod.rs"]
mod bench_util;
use bench_util::drift_bin;

#[path = "../tests/common/mod.rs"]
mod common;

use std::io::Read;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::{Daemon, Instance};
use drift_testkit::Lab;

fn main() {
    if !drift_testkit::is_root() {
        eprintln!("SKIP failover_bench: needs root (network namespaces)");
        return;
    }
    let runs: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10)
        .max(1);
    let bin = match drift_bin() {
        Some(b) => b,
        None => {
            eprintln!("failover_bench: drift binary not found; build it (cargo build --release -p drift) or set DRIFT_BIN");
            std::process::exit(2);
        }
    };
    if common::reference_keepalived() {
        println!("peer: keepalived (DRIFT_E2E_PEER=keepalived), for comparison");
    } else {
        println!("drift binary: {}", bin.display());
    }
    println!("runs per case: {runs}");
    for (label, version, adv) in [
        ("v2 advert_int 1", 2, "1"),
        ("v3 advert_int 0.05", 3, "0.05"),
    ] {
        bench_case(&bin, label, version, adv, runs);
    }
}

fn bench_case(bin: &std::path::Path, label: &str, version: u8, adv: &str, runs: usize) {
    let lab = match Lab::builder().hosts(2).client(true).build() {
        Ok(l) => l,
        Err(e) => {
            eprintln!("failover_bench: cannot build lab: {e}");
            return;
        }
    };
    let vip = lab.addr_v4(110);
    let mk = |state, prio| {
        let i = Instance::new(state, prio, vip);
        if version == 3 {
            i.v3(adv)
        } else {
            i
        }
    };
    let (master, backup) = (mk("MASTER", 100), mk("BACKUP", 99));
    let _servers = common::name_servers(&lab);
    let d1 = Daemon::start(bin, &lab, 1, &backup.config());
    let mut vip_times = Vec::new();
    let mut tcp_times = Vec::new();
    for run in 0..runs {
        common::drop_stale_vip(&lab, 0, vip);
        let mut d0 = Daemon::start(bin, &lab, 0, &master.config());
        if common::wait_holders(&lab, vip, &[0], Duration::from_secs(10)).is_none() {
            eprintln!(
                "{label} run {run}: master never sole holder (holders {:?})\n{}\n{}",
                common::holders(&lab, vip),
                d0.logs(),
                d1.logs()
            );
            return;
        }
        // Let the backup settle on the master's adverts, and give the client an ARP entry.
        // Spread the kill over the advert phase (run k of 10 lands k/10 of an interval after an
        // advert), as a real crash would, instead of always right after one.
        let phase = master.advert_secs() * (run % 10) as f64 / 10.0;
        std::thread::sleep(Duration::from_secs_f64(
            (3.0 * master.advert_secs()).max(0.5) + phase,
        ));
        let _ = common::ask_name(lab.client(), vip, Duration::from_secs(1));
        let bound = backup.master_down() + Duration::from_secs(5);
        let (tv, tt) = std::thread::scope(|s| {
            let t0 = Instant::now();
            let client = lab.client();
            let tcp = s.spawn(move || client.run_in(move || tcp_until_new_master(vip, t0, bound)));
            d0.kill();
            // The dead machine's kernel would not answer for the VIP any more.
            common::drop_stale_vip(&lab, 0, vip);
            let tv = drift_testkit::wait_until(bound, Duration::from_millis(1), || {
                lab.has_addr(1, IpAddr::V4(vip))
            })
            .map(|_| t0.elapsed());
            (tv, tcp.join().ok().flatten())
        });
        match (tv, tt) {
            (Some(v), Some(t)) => {
                vip_times.push(v);
                tcp_times.push(t);
            }
            _ => eprintln!(
                "{label} run {run}: no takeover (vip {tv:?}, tcp {tt:?})\n{}",
                d1.logs()
            ),
        }
    }
    println!(
        "{label}: master-down interval {:.3} s | SIGKILL -> VIP on backup median {} | -> first client TCP connect median {} | n={}",
        backup.master_down().as_secs_f64(),
        median(&mut vip_times),
        median(&mut tcp_times),
        vip_times.len()
    );
    for (what, times) in [("VIP", &vip_times), ("TCP", &tcp_times)] {
        println!(
            "  {label} {what} times (s): {}",
            times
                .iter()
                .map(|d| format!("{:.3}", d.as_secs_f64()))
                .collect::<Vec<_>>()
                .join(" ")
        );
    }
}

/// Connect to the VIP repeatedly (short timeouts, fresh socket each time) until the new master
/// (`h1`) answers; the time from `t0`.
fn tcp_until_new_master(vip: Ipv4Addr, t0: Instant, bound: Duration) -> Option<Duration> {
    let addr = SocketAddr::new(IpAddr::V4(vip), common::NAME_PORT);
    while t0.elapsed() < bound {
        if let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_millis(20)) {
            let _ = s.set_read_timeout(Some(Duration::from_millis(200)));
            let mut name = String::new();
            if s.read_to_string(&mut name).is_ok() && name == "h1" {
                return Some(t0.elapsed());
            }
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    None
}

fn median(v: &mut [Duration]) -> String {
    if v.is_empty() {
        return "n/a".into();
    }
    v.sort();
    format!("{:.3} s", v[v.len() / 2].as_secs_f64())
}
