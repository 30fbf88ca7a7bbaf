//! Advert jitter under full proxy load: one `drift run --proxy` process is VRRP master (v3, fast
//! adverts) and proxies HTTP on its VIP to an nginx backend, while wrk saturates the proxy from
//! the client namespace. The advert intervals are measured on the wire (tcpdump's kernel
//! timestamps, in the client namespace), idle and under load, and printed as p50/p99/max.
//!
//! ```text
//! cargo build --release -p drift
//! cargo run --release -p drift --example proxy_jitter_bench -- [seconds=10] [advert_int=0.01] [rt] [workers=N]
//! ```
//! `rt` adds `vrrp_rt_priority 50` (SCHED_RR for the VRRP thread only). Needs root, wrk, tcpdump
//! and nginx; everything runs in the lab's namespaces and is stopped by pid.

#[path = "bench_util/mod.rs"]
mod bench_util;
use bench_util::drift_bin;

use std::path::PathBuf;
use std::time::Duration;

use drift_testkit::{ChildGuard, Lab, Netns};

fn main() {
    if !drift_testkit::is_root() {
        eprintln!("SKIP proxy_jitter_bench: needs root (network namespaces)");
        return;
    }
    for tool in ["wrk", "tcpdump", "nginx"] {
        if drift_testkit::find_in_path(tool).is_none() {
            eprintln!("SKIP proxy_jitter_bench: `{tool}` not installed");
            return;
        }
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    let secs: u64 = args.first().and_then(|a| a.parse().ok()).unwrap_or(10);
    let advert: f64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(0.01);
    let rt = args.iter().any(|a| a == "rt");
    let workers: usize = args
        .iter()
        .find_map(|a| a.strip_prefix("workers=")?.parse().ok())
        .unwrap_or(0);
    let Some(bin) = drift_bin() else {
        eprintln!("proxy_jitter_bench: drift binary not found; cargo build --release -p drift, or set DRIFT_BIN");
        std::process::exit(2);
    };
    let lab = Lab::builder()
        .hosts(1)
        .client(true)
        .build()
        .unwrap_or_else(|e| panic!("build lab: {e}"));
    let vip = lab.addr_v4(110);
    let dir = tempfile_dir(lab.id());
    let backend = start_backend(lab.host(0), &dir);
    let kconf = format!(
        "global_defs {{\n  vrrp_version 3\n{}}}\nvrrp_instance VI_1 {{\n  state MASTER\n  \
         interface {}\n  virtual_router_id 51\n  priority 150\n  advert_int {advert}\n  \
         virtual_ipaddress {{\n    {vip}/32\n  }}\n}}\n",
        if rt { "  vrrp_rt_priority 50\n" } else { "" },
        drift_testkit::HOST_IF
    );
    let nconf = format!(
        "events {{ worker_connections 4096; }}\nhttp {{\n  upstream be {{ server 127.0.0.1:19001; keepalive 64; }}\n  \
         server {{\n    listen {vip}:80;\n    location / {{ proxy_pass http://be; proxy_http_version 1.1; \
         proxy_set_header Connection \"\"; }}\n  }}\n}}\n"
    );
    let (k, n) = (dir.join("keepalived.conf"), dir.join("nginx.conf"));
    write(&k, &kconf);
    write(&n, &nconf);
    let workers_s = workers.to_string();
    let drift = lab
        .host(0)
        .spawn(
            &bin.to_string_lossy(),
            &[
                "run",
                "-f",
                &s(&k),
                "-l",
                "warn",
                "--proxy",
                &s(&n),
                "--proxy-workers",
                &workers_s,
            ],
        )
        .unwrap_or_else(|e| panic!("spawn drift: {e}"));
    let held =
        drift_testkit::wait_until(Duration::from_secs(10), Duration::from_millis(20), || {
            lab.has_addr(0, vip.into())
        });
    if held.is_none() {
        eprintln!(
            "proxy_jitter_bench: the VIP never arrived\n{}",
            drift.logs()
        );
        return;
    }
    std::thread::sleep(Duration::from_millis(500));
    println!(
        "drift run --proxy, VRRPv3 advert_int {advert} s{}, proxy workers {}, {secs} s per phase, \
         wrk -t2 -c100 from the client namespace",
        if rt { ", vrrp_rt_priority 50" } else { "" },
        if workers == 0 {
            "one per CPU".to_string()
        } else {
            workers_s.clone()
        }
    );
    println!("| phase | adverts seen | interval p50 ms | p99 ms | max ms | wrk req/s |");
    println!("|---|---|---|---|---|---|");
    let url = format!("http://{vip}/");
    for loaded in [false, true] {
        let client = lab.client();
        let (times, rps) = std::thread::scope(|sc| {
            let cap = sc.spawn(|| capture(client, secs));
            let rps = loaded.then(|| wrk(client, &url, secs));
            (cap.join().unwrap_or_default(), rps)
        });
        report(if loaded { "proxy saturated" } else { "idle" }, &times, rps);
    }
    drop(drift);
    drop(backend);
    let _ = std::fs::remove_dir_all(&dir);
}

fn report(phase: &str, times: &[f64], rps: Option<f64>) {
    let mut iv: Vec<f64> = times.windows(2).map(|w| (w[1] - w[0]) * 1e3).collect();
    iv.sort_by(f64::total_cmp);
    let pct = |p: f64| {
        iv.get(((iv.len() as f64 - 1.0) * p).round() as usize)
            .copied()
            .unwrap_or(f64::NAN)
    };
    println!(
        "| {phase} | {} | {:.3} | {:.3} | {:.3} | {} |",
        times.len(),
        pct(0.5),
        pct(0.99),
        iv.last().copied().unwrap_or(f64::NAN),
        rps.map_or("-".into(), |r| format!("{r:.0}"))
    );
}

/// Kernel receive timestamps (epoch seconds) of the VRRP packets seen in `ns` for `secs`.
fn capture(ns: &Netns, secs: u64) -> Vec<f64> {
    let out = ns.exec(&[
        "timeout",
        &secs.to_string(),
        "tcpdump",
        "-l",
        "-n",
        "-tt",
        "--time-stamp-precision=nano",
        "-i",
        "eth0",
        "ip proto 112",
    ]);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next()?.parse::<f64>().ok())
        .collect()
}

fn wrk(ns: &Netns, url: &str, secs: u64) -> f64 {
    let out = ns.exec(&["wrk", "-t2", "-c100", &format!("-d{secs}s"), url]);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("Requests/sec:")?.trim().parse().ok())
        .unwrap_or(f64::NAN)
}

/// nginx answering `200 ok` on 127.0.0.1:19001 inside `ns`: one process (no master), so the
/// guard's pid is the whole server.
fn start_backend(ns: &Netns, dir: &std::path::Path) -> ChildGuard {
    let conf = dir.join("backend.conf");
    write(
        &conf,
        &format!(
            "daemon off;\nmaster_process off;\nworker_processes 1;\npid {d}/backend.pid;\n\
             error_log {d}/backend.err;\nevents {{ worker_connections 4096; }}\nhttp {{\n  access_log off;\n  \
             server {{ listen 127.0.0.1:19001; keepalive_requests 1000000; location / {{ return 200 \"ok\"; }} }}\n}}\n",
            d = dir.display()
        ),
    );
    let g = ns
        .spawn(
            "nginx",
            &["-c", &s(&conf), "-e", &s(&dir.join("backend.err"))],
        )
        .unwrap_or_else(|e| panic!("spawn nginx: {e}"));
    std::thread::sleep(Duration::from_millis(300));
    g
}

fn tempfile_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("drift-jitter-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap_or_else(|e| panic!("mkdir {}: {e}", d.display()));
    d
}

fn write(p: &std::path::Path, text: &str) {
    std::fs::write(p, text).unwrap_or_else(|e| panic!("write {}: {e}", p.display()));
}

fn s(p: &std::path::Path) -> String {
    p.to_string_lossy().into_owned()
}
