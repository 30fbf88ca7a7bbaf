//! Soak benchmark for issue 9: two namespaces, 100 VRRPv3 instances at 10 ms adverts (backup
//! priority 99, so Master_Down_Interval is 36 ms), drift and keepalived side by side. Prints one
//! table row per daemon and condition:
//! master CPU (% of one core, every process in its namespace), master RSS, adverts/s on the
//! wire, the interval between consecutive adverts of each instance as the backup's kernel
//! stamped them (p50/p99/max), and spurious takeovers (the backup's transitions to MASTER).
//!
//! Conditions: `idle`; `busy` (a spinning thread per CPU, normal priority, for the whole soak);
//! `capture` (a spinning thread per CPU, and tcpdump started on the backup's link half way).
//!
//! ```text
//! cargo build --release -p drift --example soak_bench
//! target/release/examples/soak_bench [--secs 300] [--cases idle,busy,capture]
//!     [--daemons drift,keepalived] [--parallel]          # as root; --help for the options
//! ```
//! `--parallel` runs the daemons of one condition at the same time, each pair in its own lab
//! (halves the wall time; each then also loads the machine for the other).

#[path = "bench_util/mod.rs"]
mod bench_util;
use bench_util::{drift_bin, ns_cpu_ticks, ns_rss_kib};

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use drift_net::raw::{Family, VrrpSocket, VrrpSocketConfig};
use drift_testkit::{ChildGuard, Lab, Netns};

const INSTANCES: u8 = 100;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Case {
    Idle,
    Busy,
    Capture,
}

struct Row {
    daemon: &'static str,
    case: Case,
    cpu: f64,
    backup_cpu: f64,
    rss_mib: f64,
    rate: f64,
    gaps: Gaps,
    takeovers: usize,
    load: String,
}

#[derive(Default)]
struct Gaps {
    p50: f64,
    p99: f64,
    max: f64,
    count: usize,
}

fn main() {
    let Opts {
        secs,
        cases,
        daemons,
        parallel,
    } = match parse_args(std::env::args().skip(1)) {
        Ok(Some(o)) => o,
        Ok(None) => {
            print!("{USAGE}");
            return;
        }
        Err(e) => {
            eprint!("soak_bench: {e}\n\n{USAGE}");
            std::process::exit(2);
        }
    };
    if !drift_testkit::is_root() {
        eprintln!("SKIP soak_bench: needs root (network namespaces)");
        return;
    }
    let Some(bin) = drift_bin() else {
        eprintln!(
            "soak_bench: drift binary not found; cargo build --release -p drift, or set DRIFT_BIN"
        );
        std::process::exit(2);
    };
    println!(
        "{INSTANCES} VRRPv3 instances, advert_int 0.01, backup priority 99 (Master_Down 36 ms), \
         {secs} s per condition{}; {} CPUs; load before: {}",
        if parallel {
            ", daemons in parallel"
        } else {
            ""
        },
        cpus(),
        loadavg()
    );
    println!("| daemon | condition | master CPU % | backup CPU % | master RSS MiB | adverts/s | gap p50 ms | gap p99 ms | gap max ms | spurious takeovers | load 1/5/15 at end |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for case in cases {
        let stop = Arc::new(AtomicBool::new(false));
        let spinners: Vec<_> = if case == Case::Idle {
            Vec::new()
        } else {
            (0..cpus()).map(|_| spin(stop.clone())).collect()
        };
        let rows: Vec<Option<Row>> = if parallel {
            std::thread::scope(|s| {
                let hs: Vec<_> = daemons
                    .iter()
                    .map(|d| s.spawn(|| soak(d, case, secs, &bin)))
                    .collect();
                hs.into_iter().map(|h| h.join().ok().flatten()).collect()
            })
        } else {
            daemons.iter().map(|d| soak(d, case, secs, &bin)).collect()
        };
        stop.store(true, Ordering::Relaxed);
        for s in spinners {
            let _ = s.join();
        }
        for r in rows.into_iter().flatten() {
            print_row(&r);
        }
    }
}

const USAGE: &str = "\
usage: soak_bench [--secs N] [--cases LIST] [--daemons LIST] [--parallel]   (as root)
  --secs N         soak length per condition in seconds (default 300)
  --cases LIST     comma-separated: idle, busy, capture (default idle,busy,capture)
  --daemons LIST   comma-separated: drift, keepalived (default drift,keepalived)
  --parallel       run the daemons of a condition at the same time, each pair in its own lab
  -h, --help       this text
env DRIFT_BIN: the drift binary (default: target/<profile>/drift beside this example)
";

struct Opts {
    secs: u64,
    cases: Vec<Case>,
    daemons: Vec<&'static str>,
    parallel: bool,
}

/// `Ok(None)` for --help. Anything unknown is an error: a typo must not start a 300 s soak.
fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Option<Opts>, String> {
    let mut o = Opts {
        secs: 300,
        cases: vec![Case::Idle, Case::Busy, Case::Capture],
        daemons: vec!["drift", "keepalived"],
        parallel: false,
    };
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{a} needs a value"));
        match a.as_str() {
            "-h" | "--help" => return Ok(None),
            "--parallel" => o.parallel = true,
            "--secs" => {
                let v = value()?;
                o.secs = v
                    .parse()
                    .ok()
                    .filter(|s| *s > 0)
                    .ok_or_else(|| format!("--secs {v}: not a positive number of seconds"))?;
            }
            "--cases" => {
                o.cases = value()?
                    .split(',')
                    .map(|c| match c {
                        "idle" => Ok(Case::Idle),
                        "busy" => Ok(Case::Busy),
                        "capture" => Ok(Case::Capture),
                        _ => Err(format!("--cases: unknown condition {c:?}")),
                    })
                    .collect::<Result<_, _>>()?;
            }
            "--daemons" => {
                o.daemons = value()?
                    .split(',')
                    .map(|d| match d {
                        "drift" => Ok("drift"),
                        "keepalived" => Ok("keepalived"),
                        _ => Err(format!("--daemons: unknown daemon {d:?}")),
                    })
                    .collect::<Result<_, _>>()?;
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(Some(o))
}

fn print_row(r: &Row) {
    println!(
        "| {} | {:?} | {:.1} | {:.1} | {:.1} | {:.0} | {:.2} | {:.2} | {:.1} | {} | {} |",
        r.daemon,
        r.case,
        r.cpu,
        r.backup_cpu,
        r.rss_mib,
        r.rate,
        r.gaps.p50,
        r.gaps.p99,
        r.gaps.max,
        r.takeovers,
        r.load
    );
    if r.gaps.count == 0 {
        eprintln!("soak_bench: {} {:?}: no adverts observed", r.daemon, r.case);
    }
}

fn spin(stop: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut x = 0u64;
        while !stop.load(Ordering::Relaxed) {
            for _ in 0..10_000 {
                x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
            }
        }
    })
}

fn start(
    daemon: &str,
    ns: &Netns,
    cfg: &str,
    bin: &std::path::Path,
) -> std::io::Result<ChildGuard> {
    if daemon == "keepalived" {
        return ns.spawn_keepalived(cfg, &[]);
    }
    let path = conf_path(ns);
    std::fs::write(&path, cfg)?;
    ns.spawn(
        &bin.to_string_lossy(),
        &["run", "-f", &path.to_string_lossy(), "-l", "info"],
    )
}

fn conf_path(ns: &Netns) -> PathBuf {
    std::env::temp_dir().join(format!("drift-soak-{}.conf", ns.name()))
}

fn soak(daemon: &'static str, case: Case, secs: u64, bin: &std::path::Path) -> Option<Row> {
    let fail = |what: String| {
        eprintln!("soak_bench: {daemon} {case:?}: {what}");
        None
    };
    let lab = match Lab::builder().hosts(2).client(false).build() {
        Ok(l) => l,
        Err(e) => return fail(format!("cannot build the lab: {e}")),
    };
    let vips: Vec<Ipv4Addr> = (0..INSTANCES).map(|i| lab.addr_v4(140 + i)).collect();
    let master = match start(daemon, lab.host(0), &config(&vips, "MASTER", 100), bin) {
        Ok(m) => m,
        Err(e) => return fail(format!("cannot start the master: {e}")),
    };
    let all =
        drift_testkit::wait_until(Duration::from_secs(30), Duration::from_millis(100), || {
            vips.iter().all(|v| lab.has_addr(0, (*v).into()))
        });
    if all.is_none() {
        return fail(format!("master never took every VIP\n{}", master.logs()));
    }
    // The backup starts once the master holds everything: startup contention is not a stall.
    let backup = match start(daemon, lab.host(1), &config(&vips, "BACKUP", 99), bin) {
        Ok(b) => b,
        Err(e) => return fail(format!("cannot start the backup: {e}")),
    };
    std::thread::sleep(Duration::from_secs(3));
    let before = master_entries(&backup.logs());
    let stop = Arc::new(AtomicBool::new(false));
    let observer = {
        let stop = stop.clone();
        lab.host(1).spawn_thread(move || observe(&stop))
    };
    let (cpu0, bcpu0, t0) = (
        ns_cpu_ticks(lab.host(0)),
        ns_cpu_ticks(lab.host(1)),
        Instant::now(),
    );
    let mut capture = None;
    if case == Case::Capture {
        std::thread::sleep(Duration::from_secs(secs / 2));
        capture = lab
            .host(1)
            .spawn(
                "tcpdump",
                &["-ni", "eth0", "-w", "/dev/null", "ip proto 112"],
            )
            .map_err(|e| eprintln!("soak_bench: tcpdump: {e}"))
            .ok();
        std::thread::sleep(Duration::from_secs(secs - secs / 2));
    } else {
        std::thread::sleep(Duration::from_secs(secs));
    }
    let (cpu1, bcpu1) = (ns_cpu_ticks(lab.host(0)), ns_cpu_ticks(lab.host(1)));
    let elapsed = t0.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let (count, mut gaps) = observer.join().unwrap_or_default();
    drop(capture);
    let takeovers = master_entries(&backup.logs()).saturating_sub(before);
    if takeovers > 0 {
        // For the post-mortem: which instances, when, and what the master was doing then.
        for (who, g) in [("backup", &backup), ("master", &master)] {
            let p = std::env::temp_dir().join(format!("soak-{daemon}-{case:?}-{who}.log"));
            let _ = std::fs::write(&p, g.logs());
            eprintln!(
                "soak_bench: {daemon} {case:?}: {who} log in {}",
                p.display()
            );
        }
    }
    for h in 0..2 {
        let _ = std::fs::remove_file(conf_path(lab.host(h)));
    }
    let rss = ns_rss_kib(lab.host(0)) as f64 / 1024.0;
    let pct = |a: u64, b: u64| b.saturating_sub(a) as f64 / 100.0 / elapsed * 100.0;
    Some(Row {
        daemon,
        case,
        cpu: pct(cpu0, cpu1),
        backup_cpu: pct(bcpu0, bcpu1),
        rss_mib: rss,
        rate: count as f64 / elapsed,
        gaps: percentiles(&mut gaps),
        takeovers,
        load: loadavg(),
    })
}

/// Read every VRRP packet on the backup's link (a raw socket of our own, kernel receive
/// stamps) until `stop`; returns the packet count and each instance's advert intervals in µs.
fn observe(stop: &AtomicBool) -> (u64, Vec<u32>) {
    let cfg = match drift_net::raw::if_index("eth0") {
        Ok(i) => VrrpSocketConfig::new(Family::V4, "eth0", i).with_rcvbuf(64 << 20),
        Err(e) => {
            eprintln!("soak_bench: observer: {e}");
            return (0, Vec::new());
        }
    };
    let sock = match VrrpSocket::open(cfg) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("soak_bench: observer socket: {e}");
            return (0, Vec::new());
        }
    };
    let mut last: HashMap<u8, SystemTime> = HashMap::new();
    let (mut count, mut gaps, mut buf) = (0u64, Vec::with_capacity(4_000_000), Vec::new());
    while !stop.load(Ordering::Relaxed) {
        // No poll: a sleeping reader is never woken per packet (the wake-up would be charged
        // to the sender's softirq, i.e. to the master's CPU); the kernel stamps and queues.
        std::thread::sleep(Duration::from_millis(20));
        buf.clear();
        while let Ok((n, _)) = sock.recv_batch(4096, &mut buf) {
            if n == 0 {
                break;
            }
        }
        for p in &buf {
            let (Some(vrid), Some(at)) = (p.payload.get(1), p.time.kernel) else {
                continue;
            };
            count += 1;
            if let Some(prev) = last.insert(*vrid, at) {
                if let Ok(d) = at.duration_since(prev) {
                    gaps.push(u32::try_from(d.as_micros()).unwrap_or(u32::MAX));
                }
            }
        }
    }
    (count, gaps)
}

fn percentiles(v: &mut [u32]) -> Gaps {
    if v.is_empty() {
        return Gaps::default();
    }
    v.sort_unstable();
    let at = |q: f64| f64::from(v[((v.len() - 1) as f64 * q) as usize]) / 1000.0;
    Gaps {
        p50: at(0.50),
        p99: at(0.99),
        max: at(1.0),
        count: v.len(),
    }
}

fn config(vips: &[Ipv4Addr], state: &str, prio: u8) -> String {
    let mut s = String::from("global_defs {\n  router_id soak\n}\n");
    for (i, vip) in vips.iter().enumerate() {
        let n = i + 1;
        s.push_str(&format!(
            "vrrp_instance VI_{n} {{\n  state {state}\n  interface eth0\n  virtual_router_id {n}\n  \
             priority {prio}\n  advert_int 0.01\n  version 3\n  virtual_ipaddress {{\n    {vip}/24\n  }}\n}}\n"
        ));
    }
    s
}

fn master_entries(log: &str) -> usize {
    log.matches("Entering MASTER STATE").count()
}

fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join("/"))
        .unwrap_or_default()
}
