//! Scale benchmark: one master daemon running 100 VRRPv3 instances at 10 ms adverts, beside a
//! backup daemon. Prints the master's CPU (share of one core), its RSS, adverts/s seen on the wire
//! by the backup, and how many times the backup wrongly entered MASTER (spurious takeovers).
//!
//! ```text
//! cargo build --release -p drift
//! cargo run --release -p drift --example scale_bench -- [seconds] [--keepalived]   # as root
//! ```
//! `--keepalived` runs the same pair with the distribution's keepalived afterwards, for a side by
//! side figure. CPU is the sum over every process in the master's namespace (keepalived forks a
//! VRRP child), read from /proc/PID/stat before and after the measured window.

#[path = "bench_util/mod.rs"]
mod bench_util;
use bench_util::{drift_bin, ns_cpu_ticks, ns_rss_kib};

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use drift_testkit::{ChildGuard, Lab, Netns};

const INSTANCES: u8 = 100;

fn main() {
    if !drift_testkit::is_root() {
        eprintln!("SKIP scale_bench: needs root (network namespaces)");
        return;
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    let secs: u64 = args
        .iter()
        .find_map(|a| a.parse().ok())
        .unwrap_or(20)
        .max(2);
    let with_keepalived = args.iter().any(|a| a == "--keepalived");
    let Some(bin) = drift_bin() else {
        eprintln!(
            "scale_bench: drift binary not found; cargo build --release -p drift, or set DRIFT_BIN"
        );
        std::process::exit(2);
    };
    println!("{INSTANCES} VRRPv3 instances, advert_int 0.01, measured for {secs} s");
    println!("| daemon | master CPU % of one core | master RSS MiB | adverts/s on the wire | backup transitions to MASTER |");
    println!("|---|---|---|---|---|");
    run_case("drift", secs, |ns, cfg| {
        let path = write_temp(ns.name(), cfg);
        ns.spawn(&bin.to_string_lossy(), &["run", "-f", &path, "-l", "info"])
    });
    if with_keepalived {
        run_case("keepalived", secs, |ns, cfg| ns.spawn_keepalived(cfg, &[]));
    }
}

fn run_case(label: &str, secs: u64, start: impl Fn(&Netns, &str) -> std::io::Result<ChildGuard>) {
    let lab = match Lab::builder().hosts(2).client(false).build() {
        Ok(l) => l,
        Err(e) => {
            eprintln!("scale_bench: cannot build the lab: {e}");
            return;
        }
    };
    let vips: Vec<Ipv4Addr> = (0..INSTANCES).map(|i| lab.addr_v4(140 + i)).collect();
    let master_cfg = config(&vips, "MASTER", 100, lab.host(0).ipv4());
    let backup_cfg = config(&vips, "BACKUP", 99, lab.host(1).ipv4());
    let (master, backup) = match (
        start(lab.host(0), &master_cfg),
        start(lab.host(1), &backup_cfg),
    ) {
        (Ok(m), Ok(b)) => (m, b),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("scale_bench: cannot start {label}: {e}");
            return;
        }
    };
    let last = *vips.last().unwrap_or(&vips[0]);
    if drift_testkit::wait_until(Duration::from_secs(15), Duration::from_millis(50), || {
        lab.has_addr(0, last.into())
    })
    .is_none()
    {
        eprintln!(
            "scale_bench: {label} master never took all VIPs\n{}",
            master.logs()
        );
        return;
    }
    std::thread::sleep(Duration::from_secs(1));
    let before_takeovers = count_master_entries(&backup.logs());
    let cpu0 = ns_cpu_ticks(lab.host(0));
    let t0 = Instant::now();
    let wire = count_adverts(lab.host(1), secs);
    let cpu1 = ns_cpu_ticks(lab.host(0));
    let elapsed = t0.elapsed().as_secs_f64();
    let ticks = sysconf_ticks();
    let cpu_pct = (cpu1.saturating_sub(cpu0)) as f64 / ticks / elapsed * 100.0;
    let rss = ns_rss_kib(lab.host(0)) as f64 / 1024.0;
    let takeovers = count_master_entries(&backup.logs()).saturating_sub(before_takeovers);
    let rate = wire.map_or("n/a (no tcpdump)".to_string(), |n| {
        format!("{:.0}", n as f64 / secs as f64)
    });
    println!("| {label} | {cpu_pct:.1} | {rss:.1} | {rate} | {takeovers} |");
    drop(master);
    drop(backup);
}

fn config(vips: &[Ipv4Addr], state: &str, prio: u8, src: Ipv4Addr) -> String {
    let mut s = String::from("global_defs {\n  router_id scale\n}\n");
    for (i, vip) in vips.iter().enumerate() {
        let n = i + 1;
        s.push_str(&format!(
            "vrrp_instance VI_{n} {{\n  state {state}\n  interface eth0\n  virtual_router_id {n}\n  priority {prio}\n  advert_int 0.01\n  version 3\n  mcast_src_ip {src}\n  virtual_ipaddress {{\n    {vip}/24\n  }}\n}}\n"
        ));
    }
    s
}

/// Backup's log lines announcing MASTER; drift and keepalived share the wording.
fn count_master_entries(log: &str) -> usize {
    log.lines()
        .filter(|l| l.contains("Entering MASTER STATE"))
        .count()
}

/// Adverts captured on the backup's link for `secs` seconds (tcpdump's own count).
fn count_adverts(ns: &Netns, secs: u64) -> Option<u64> {
    drift_testkit::find_in_path("tcpdump")?;
    let out = ns.exec(&[
        "timeout",
        &secs.to_string(),
        "tcpdump",
        "-ni",
        "eth0",
        "-w",
        "/dev/null",
        "ip proto 112",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    err.lines()
        .find(|l| l.contains("packets captured"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

fn sysconf_ticks() -> f64 {
    // CLK_TCK is 100 on every Linux architecture drift targets.
    100.0
}

fn write_temp(tag: &str, text: &str) -> String {
    let p = std::env::temp_dir().join(format!("drift-scale-{tag}-{}.conf", std::process::id()));
    if let Err(e) = std::fs::write(&p, text) {
        eprintln!("scale_bench: cannot write {}: {e}", p.display());
    }
    p.to_string_lossy().into_owned()
}
