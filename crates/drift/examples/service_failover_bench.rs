//! Service-failover benchmark (issue 8): the seed article's test, timed. Two hosts with a web
//! server each and a check script on it (`vrrp_script`, weight -20, priorities 100/99), a client
//! polling the VIP every 10 ms; stop the master's web server and report the time until the VIP
//! is on the backup, the time until the client is answered again (start of the first request
//! the backup answered), and the failed requests in between. Medians over `runs`.
//!
//! ```text
//! cargo build --release -p drift
//! cargo run --release -p drift --example service_failover_bench -- [runs] [filter]   # as root
//! ```
//! Rows, each at advert_int 1 (v2) and 0.1 (v3): keepalived/keepalived and drift/drift with
//! keepalived's settings (check interval 1 s, fall 2), and again with weight 0 (FAULT, priority-0
//! advert); drift/drift with 0.1 s checks but no `preempt_immediate` (what the checks alone
//! buy); the fast settings (0.1 s checks, `preempt_immediate`); and `drift run --proxy`
//! tracking its upstream's health (`track_upstream`, TCP check every 0.1 s, fall 2, no script).
//! `filter` keeps only the rows whose label contains it. The drift binary is `$DRIFT_BIN`, else
//! next to the example's directory. The machine's load average is printed with each row: the
//! figures are wall-clock.

#[path = "bench_util/mod.rs"]
mod bench_util;
use bench_util::drift_bin;

#[path = "../tests/common/mod.rs"]
mod common;

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::service::{failures_between, proxy_conf, CheckScript, Poller, ServiceInstance};
use common::{wait_holders, Daemon, NameServer};
use drift_testkit::Lab;

const POLL: Duration = Duration::from_millis(10);
const REQUEST_TIMEOUT: Duration = Duration::from_millis(500);

#[derive(Clone, Copy, PartialEq)]
enum Peer {
    Keepalived,
    Drift,
}

#[derive(Clone, Copy, PartialEq)]
enum Settings {
    /// Check every 1 s, fall 2, weight -20 (keepalived's whole-second checks).
    Keepalived,
    /// The same with weight 0: a failed check means FAULT and a priority-0 advert.
    KeepalivedFault,
    /// Check every 0.1 s, fall 2, weight -20, without `preempt_immediate` (what the checks
    /// alone buy).
    FastChecks,
    /// Check every 0.1 s, fall 2, weight -20, `preempt_immediate`.
    Fast,
    /// `drift run --proxy`: `track_upstream` on a 0.1 s TCP health check, `preempt_immediate`.
    Upstream,
}

struct Row {
    label: String,
    peer: Peer,
    settings: Settings,
    version: u8,
    adv: &'static str,
}

fn rows() -> Vec<Row> {
    let mut v = vec![];
    for (version, adv) in [(2, "1"), (3, "0.1")] {
        for (peer, settings, what) in [
            (
                Peer::Keepalived,
                Settings::Keepalived,
                "keepalived/keepalived, keepalived settings",
            ),
            (
                Peer::Keepalived,
                Settings::KeepalivedFault,
                "keepalived/keepalived, keepalived settings, weight 0 (FAULT)",
            ),
            (
                Peer::Drift,
                Settings::Keepalived,
                "drift/drift, keepalived settings",
            ),
            (
                Peer::Drift,
                Settings::KeepalivedFault,
                "drift/drift, keepalived settings, weight 0 (FAULT)",
            ),
            (
                Peer::Drift,
                Settings::FastChecks,
                "drift/drift, check 0.1 s, no preempt_immediate",
            ),
            (Peer::Drift, Settings::Fast, "drift/drift, fast settings"),
            (
                Peer::Drift,
                Settings::Upstream,
                "drift/drift, track_upstream + preempt_immediate",
            ),
        ] {
            v.push(Row {
                label: format!("{what}, v{version} advert_int {adv}"),
                peer,
                settings,
                version,
                adv,
            });
        }
    }
    v
}

/// A daemon of a row: the common helper, or `drift run --proxy` with its two config files.
enum Node {
    Daemon(Daemon),
    Proxy(drift_testkit::ChildGuard, Vec<PathBuf>),
}

impl Node {
    fn logs(&self) -> String {
        match self {
            Node::Daemon(d) => d.logs(),
            Node::Proxy(c, _) => c.logs(),
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Node::Proxy(c, files) = self {
            let _ = c.stop(Duration::from_secs(5));
            for f in files {
                let _ = std::fs::remove_file(f);
            }
        }
    }
}

struct Run {
    vip: Duration,
    answered: Duration,
    failed: usize,
}

fn main() {
    if !drift_testkit::is_root() {
        eprintln!("SKIP service_failover_bench: needs root (network namespaces)");
        return;
    }
    let mut args = std::env::args().skip(1);
    let runs: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(5).max(1);
    let filter = args.next().unwrap_or_default();
    let Some(bin) = drift_bin() else {
        eprintln!("service_failover_bench: drift binary not found; build it (cargo build --release -p drift) or set DRIFT_BIN");
        std::process::exit(2);
    };
    let have_keepalived = drift_testkit::require_tool("keepalived");
    println!("drift binary: {}; runs per row: {runs}", bin.display());
    let mut table = vec![];
    for row in rows() {
        if !row.label.contains(&filter) {
            continue;
        }
        if row.peer == Peer::Keepalived && !have_keepalived {
            println!("{}: skipped (keepalived not installed)", row.label);
            continue;
        }
        let load0 = loadavg();
        let results = bench_row(&bin, &row, runs);
        let line = summarize(&row, &results, runs, &load0);
        println!("{line}");
        table.push(line);
    }
    println!();
    println!("| pair, settings, protocol | server stopped -> VIP on backup | -> client answered again | failed requests (10 ms polling) | runs ok | load avg (1 min) before/after |");
    println!("| --- | --- | --- | --- | --- | --- |");
    for l in table {
        println!("{l}");
    }
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

fn start(
    bin: &Path,
    lab: &Lab,
    row: &Row,
    host: usize,
    inst: &ServiceInstance,
    script: &CheckScript,
) -> Node {
    let conf = inst.config(&script.path);
    match (row.peer, row.settings) {
        (Peer::Keepalived, _) => Node::Daemon(Daemon::start_keepalived(lab, host, &conf)),
        (Peer::Drift, Settings::Upstream) => {
            let base = std::env::temp_dir().join(format!(
                "drift-sfb-{}-{}-h{host}",
                std::process::id(),
                lab.id()
            ));
            let (k, n) = (base.with_extension("conf"), base.with_extension("nginx"));
            let written = std::fs::write(&k, &conf).and_then(|_| std::fs::write(&n, proxy_conf()));
            if let Err(e) = written {
                panic!("write {}: {e}", base.display());
            }
            let (ks, ns) = (
                k.to_string_lossy().into_owned(),
                n.to_string_lossy().into_owned(),
            );
            let args = ["run", "-f", &ks, "--proxy", &ns, "--proxy-workers", "1"];
            let child = lab
                .spawn(host, &bin.to_string_lossy(), &args)
                .unwrap_or_else(|e| panic!("spawn drift --proxy in host {host}: {e}"));
            Node::Proxy(child, vec![k, n])
        }
        (Peer::Drift, _) => Node::Daemon(Daemon::start_as_drift(bin, lab, host, &conf)),
    }
}

fn bench_row(bin: &Path, row: &Row, runs: usize) -> Vec<Run> {
    let lab = match Lab::builder().hosts(2).client(true).build() {
        Ok(l) => l,
        Err(e) => {
            eprintln!("{}: cannot build lab: {e}", row.label);
            return vec![];
        }
    };
    let vip = lab.addr_v4(110);
    let script = CheckScript::new();
    let mk = |state, prio| {
        let mut i = ServiceInstance::keepalived_settings(state, prio, vip);
        if row.version == 3 {
            i = i.v3(row.adv);
        }
        match row.settings {
            Settings::Keepalived => {}
            Settings::KeepalivedFault => i.weight = 0,
            Settings::FastChecks => i.check_interval = "0.1".into(),
            Settings::Fast => i = i.fast(),
            Settings::Upstream => i = i.upstream(),
        }
        i
    };
    let mut s0 = Some(NameServer::start(lab.host(0), "h0"));
    let _s1 = NameServer::start(lab.host(1), "h1");
    let d0 = start(bin, &lab, row, 0, &mk("MASTER", 100), &script);
    let d1 = start(bin, &lab, row, 1, &mk("BACKUP", 99), &script);
    let adv: f64 = row.adv.parse().unwrap_or(1.0);
    let mut out = vec![];
    for run in 0..runs {
        // Settle: the master holds the VIP, its check passes, the backup has heard it a while.
        if wait_holders(&lab, vip, &[0], Duration::from_secs(40)).is_none() {
            eprintln!(
                "{} run {run}: VIP not back on the master\n{}\n{}",
                row.label,
                d0.logs(),
                d1.logs()
            );
            break;
        }
        std::thread::sleep(Duration::from_secs_f64(1.5 + 3.0 * adv));
        let poller = Poller::start(lab.client(), vip, POLL, REQUEST_TIMEOUT);
        if poller
            .wait_answer_from("h0", Instant::now(), Duration::from_secs(5))
            .is_none()
        {
            eprintln!("{} run {run}: client cannot reach h0", row.label);
            break;
        }
        // A different phase against the advert and check schedules each run.
        std::thread::sleep(Duration::from_secs_f64(phase(run) * adv.max(1.0)));
        let t0 = Instant::now();
        drop(s0.take()); // stop the master's web server
        let moved =
            drift_testkit::wait_until(Duration::from_secs(30), Duration::from_millis(1), || {
                lab.has_addr(1, IpAddr::V4(vip))
            })
            .map(|_| t0.elapsed());
        let answered = poller.wait_answer_from("h1", t0, Duration::from_secs(30));
        std::thread::sleep(REQUEST_TIMEOUT + Duration::from_millis(50));
        let samples = poller.stop();
        match (moved, answered) {
            (Some(vip_t), Some(ans)) => out.push(Run {
                vip: vip_t,
                answered: ans - t0,
                failed: failures_between(&samples, t0, ans),
            }),
            _ => {
                eprintln!(
                    "{} run {run}: no failover\n{}\n{}",
                    row.label,
                    d0.logs(),
                    d1.logs()
                );
                break;
            }
        }
        let _ = s0.insert(NameServer::start(lab.host(0), "h0"));
    }
    drop((d0, d1));
    out
}

/// Deterministic spread of phases in 0..1 (golden-ratio sequence).
fn phase(run: usize) -> f64 {
    (run as f64 * 0.618_033_988_75).fract()
}

fn median_of(mut v: Vec<f64>) -> (f64, f64, f64) {
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() {
        return (f64::NAN, f64::NAN, f64::NAN);
    }
    let mid = if v.len() % 2 == 1 {
        v[v.len() / 2]
    } else {
        (v[v.len() / 2 - 1] + v[v.len() / 2]) / 2.0
    };
    (mid, v[0], v[v.len() - 1])
}

fn summarize(row: &Row, runs: &[Run], wanted: usize, load0: &str) -> String {
    let (vm, vlo, vhi) = median_of(runs.iter().map(|r| r.vip.as_secs_f64()).collect());
    let (am, alo, ahi) = median_of(runs.iter().map(|r| r.answered.as_secs_f64()).collect());
    let (fm, flo, fhi) = median_of(runs.iter().map(|r| r.failed as f64).collect());
    format!(
        "| {} | {vm:.3} s ({vlo:.3}-{vhi:.3}) | {am:.3} s ({alo:.3}-{ahi:.3}) | {fm:.0} ({flo:.0}-{fhi:.0}) | {}/{wanted} | {load0} / {} |",
        row.label,
        runs.len(),
        loadavg()
    )
}
