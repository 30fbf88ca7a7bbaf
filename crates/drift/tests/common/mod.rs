//! Shared helpers for the end-to-end VRRP tests (and `examples/failover_bench.rs`, which includes
//! this file by path): keepalived.conf generators, a daemon guard that owns its config file, a
//! tiny TCP "who am I" server, and VIP/log queries over a [`Lab`].
//!
//! Every test and the benchmark share these so that a change in how the daemon is driven (CLI
//! flags, log wording) is made once.
#![allow(dead_code)]

pub mod proxy_node;
pub mod raw_vrrp;
pub mod scenario;
pub mod service;

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use drift_testkit::{ChildGuard, Lab};

/// Port the per-host name server listens on (inside each namespace, so no clash between labs).
pub const NAME_PORT: u16 = 8080;

/// The drift binary under test. Examples, which include this file too, have no such variable at
/// build time and find theirs with `bench_util`.
pub fn drift_bin() -> &'static Path {
    Path::new(option_env!("CARGO_BIN_EXE_drift").unwrap_or("drift"))
}

/// A lab of `hosts` hosts on one bridge (no client namespace), or a panic that says why not.
pub fn lab(hosts: usize) -> Lab {
    Lab::builder()
        .hosts(hosts)
        .build()
        .unwrap_or_else(|e| panic!("build a lab of {hosts} hosts: {e}"))
}

/// One `vrrp_instance` block, rendered in keepalived.conf syntax.
#[derive(Debug, Clone)]
pub struct Instance {
    pub name: String,
    /// `MASTER` or `BACKUP`.
    pub state: &'static str,
    pub priority: u8,
    pub vrid: u8,
    /// Seconds, as written in the config (`"1"`, `"0.1"`).
    pub advert_int: String,
    /// 2 or 3 (`vrrp_version` in global_defs).
    pub version: u8,
    pub nopreempt: bool,
    pub vip: Ipv4Addr,
    pub interface: String,
}

impl Instance {
    /// The fault tests' pair, VRRPv3 at advert_int 0.1 with priorities 100 and 99: a preempting
    /// MASTER/BACKUP pair, or two `nopreempt` BACKUPs (where a restored node stays backup).
    pub fn v3_pair(vip: Ipv4Addr, preempt: bool) -> [String; 2] {
        if preempt {
            [
                Instance::new("MASTER", 100, vip).v3("0.1").config(),
                Instance::new("BACKUP", 99, vip).v3("0.1").config(),
            ]
        } else {
            [100, 99].map(|prio| {
                Instance::new("BACKUP", prio, vip)
                    .v3("0.1")
                    .nopreempt()
                    .config()
            })
        }
    }

    /// A v2 instance, advert_int 1, on `eth0`, preempting (keepalived's defaults).
    pub fn new(state: &'static str, priority: u8, vip: Ipv4Addr) -> Instance {
        Instance {
            name: "VI_1".into(),
            state,
            priority,
            vrid: 51,
            advert_int: "1".into(),
            version: 2,
            nopreempt: false,
            vip,
            interface: drift_testkit::HOST_IF.into(),
        }
    }

    /// VRRPv3 with a fractional advert interval (`"0.1"`, `"0.05"`).
    pub fn v3(mut self, advert_int: &str) -> Instance {
        self.version = 3;
        self.advert_int = advert_int.into();
        self
    }

    pub fn nopreempt(mut self) -> Instance {
        self.nopreempt = true;
        self
    }

    /// The advert interval in seconds.
    pub fn advert_secs(&self) -> f64 {
        self.advert_int.parse().unwrap_or(1.0)
    }

    /// RFC 5798 §6.1 Master_Down_Interval = 3 × interval + skew, skew = (256 − prio) × interval / 256
    /// (RFC 3768's v2 skew is (256 − prio)/256 s, the same figure at advert_int 1).
    pub fn master_down(&self) -> Duration {
        Duration::from_secs_f64(3.0 * self.advert_secs() + self.skew().as_secs_f64())
    }

    pub fn skew(&self) -> Duration {
        let unit = if self.version == 3 {
            self.advert_secs()
        } else {
            1.0
        };
        Duration::from_secs_f64(f64::from(256 - u16::from(self.priority)) * unit / 256.0)
    }

    /// A whole keepalived.conf holding this one instance.
    pub fn config(&self) -> String {
        let preempt = if self.nopreempt {
            "    nopreempt\n"
        } else {
            ""
        };
        format!(
            "global_defs {{\n    router_id drift_e2e\n    vrrp_version {version}\n}}\n\n\
             vrrp_instance {name} {{\n    state {state}\n    interface {iface}\n    \
             virtual_router_id {vrid}\n    priority {prio}\n    advert_int {adv}\n{preempt}    \
             virtual_ipaddress {{\n        {vip}/32\n    }}\n}}\n",
            version = self.version,
            name = self.name,
            state = self.state,
            iface = self.interface,
            vrid = self.vrid,
            prio = self.priority,
            adv = self.advert_int,
            vip = self.vip,
        )
    }
}

/// The seed article's config (fixtures/seed/*.conf) adapted to a lab: its real-network addresses
/// replaced by the lab's. `eth0` stays (the lab interface is `eth0` too); the track script
/// `/root/bin/nginx_check.sh` does not exist, which keepalived answers by disabling the script.
pub fn adapt_seed(seed: &str, master_ip: Ipv4Addr, vip: Ipv4Addr) -> String {
    seed.replace("192.168.1.157", &master_ip.to_string())
        .replace("192.168.1.110", &vip.to_string())
}

/// Path of a seed fixture, from the crate directory.
pub fn seed_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/seed")
        .join(name)
}

static CONF_COUNTER: AtomicU32 = AtomicU32::new(0);

/// A `drift run` process inside a lab host; owns its config file and removes it on Drop.
#[derive(Debug)]
pub struct Daemon {
    // Declared first so the process stops before its config disappears.
    pub child: ChildGuard,
    conf: PathBuf,
    ns: String,
    keepalived: bool,
}

/// `DRIFT_E2E_PEER=keepalived` runs the same scenarios against real keepalived instead of drift:
/// a reference that tells a test bug from a daemon bug.
pub fn reference_keepalived() -> bool {
    std::env::var("DRIFT_E2E_PEER").is_ok_and(|v| v == "keepalived")
}

impl Daemon {
    /// Start `drift run -f <conf> -l debug` in host `host` of `lab` (keepalived instead under
    /// `DRIFT_E2E_PEER=keepalived`).
    pub fn start(bin: &Path, lab: &Lab, host: usize, config: &str) -> Daemon {
        Daemon::start_as(bin, lab, host, config, reference_keepalived())
    }

    /// Start real keepalived (`--dont-fork`, logging to stderr) with `config` in host `host`, as
    /// an interoperability peer. Call `skip_unless_tool!("keepalived")` first.
    pub fn start_keepalived(lab: &Lab, host: usize, config: &str) -> Daemon {
        Daemon::start_as(Path::new("keepalived"), lab, host, config, true)
    }

    /// Start drift even under `DRIFT_E2E_PEER=keepalived` (for mixed pairs).
    pub fn start_as_drift(bin: &Path, lab: &Lab, host: usize, config: &str) -> Daemon {
        Daemon::start_as(bin, lab, host, config, false)
    }

    pub fn is_keepalived(&self) -> bool {
        self.keepalived
    }

    fn start_as(bin: &Path, lab: &Lab, host: usize, config: &str, keepalived: bool) -> Daemon {
        let n = CONF_COUNTER.fetch_add(1, Ordering::Relaxed);
        let conf = std::env::temp_dir().join(format!(
            "drift-e2e-{}-{}-h{host}-{n}.conf",
            std::process::id(),
            lab.id()
        ));
        std::fs::write(&conf, config).unwrap_or_else(|e| panic!("write {}: {e}", conf.display()));
        let conf_s = conf.to_string_lossy().into_owned();
        let ns = lab.host(host).name().to_string();
        if keepalived {
            let child = lab
                .host(host)
                .spawn_keepalived(config, &[])
                .unwrap_or_else(|e| panic!("spawn keepalived in host {host}: {e}"));
            return Daemon {
                child,
                conf,
                ns,
                keepalived,
            };
        }
        // Its own dump dir, so that parallel tests' SIGUSR1/SIGUSR2 dumps never mix.
        let dumps = conf.with_extension("dumps");
        let _ = std::fs::create_dir_all(&dumps);
        let dumps_s = dumps.to_string_lossy().into_owned();
        let child = lab
            .spawn(
                host,
                &bin.to_string_lossy(),
                &["run", "-f", &conf_s, "-l", "debug", "--dump-dir", &dumps_s],
            )
            .unwrap_or_else(|e| panic!("spawn drift in host {host}: {e}"));
        Daemon {
            child,
            conf,
            ns,
            keepalived,
        }
    }

    /// Times this daemon logged `Entering MASTER STATE`.
    pub fn master_entries(&self) -> usize {
        self.child.stderr().matches("Entering MASTER STATE").count()
            + self.child.stdout().matches("Entering MASTER STATE").count()
    }

    /// Whether `Entering MASTER STATE` shows up in the log within `timeout` (the VIP can appear
    /// in the kernel a moment before the daemon writes the line).
    pub fn logged_master(&self, timeout: Duration) -> bool {
        drift_testkit::wait_until(timeout, Duration::from_millis(10), || {
            self.master_entries() >= 1
        })
        .is_some()
    }

    pub fn logs(&self) -> String {
        self.child.logs()
    }

    /// Crash: SIGKILL and reap (the VIP stays on the interface, as after a real daemon crash).
    pub fn kill(&mut self) {
        if self.keepalived {
            // keepalived's VRRP process is a fork of the one we started and shuts down cleanly
            // (priority-0 advert) when its parent dies: kill the forks first, as a crash would.
            self.kill_namespace();
        }
        let _ = self.child.signal(drift_testkit::Signal::SIGKILL);
        let _ = self.child.stop(Duration::from_secs(2));
    }

    fn kill_namespace(&self) {
        let out = std::process::Command::new("ip")
            .args(["netns", "pids", &self.ns])
            .output();
        let pids = out
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        // By pid (listed for this namespace only), never by name.
        let parent = self.child.pid().to_string();
        for pid in pids
            .split_whitespace()
            .filter(|p| p.parse::<u32>().is_ok() && *p != parent)
        {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", pid])
                .status();
        }
    }

    /// Clean stop: SIGTERM (priority-0 advert, VIPs removed); returns whether it exited 0.
    pub fn terminate(&mut self) -> bool {
        self.child
            .stop(Duration::from_secs(5))
            .map(|s| s.success())
            .unwrap_or(false)
    }

    /// Ask for the statistics dump (SIGUSR2) and return it once written, or None: keepalived's
    /// `$TMPDIR/keepalived.stats` (TMPDIR being the guard's private dir) or drift's
    /// `<dump-dir>/drift.stats`, which has the same layout.
    /// [`Daemon::stats_dump`] (the name predates drift's own dump).
    pub fn keepalived_stats(&self) -> Option<String> {
        self.stats_dump()
    }

    pub fn stats_dump(&self) -> Option<String> {
        let path = if self.keepalived {
            self.child.dir().join("keepalived.stats")
        } else {
            self.conf.with_extension("dumps").join("drift.stats")
        };
        let _ = std::fs::remove_file(&path);
        self.child.signal(drift_testkit::Signal::SIGUSR2).ok()?;
        let mut last = String::new();
        drift_testkit::wait_until(Duration::from_secs(3), Duration::from_millis(20), || {
            // Complete once the file stops growing between two reads.
            let now = std::fs::read_to_string(&path).unwrap_or_default();
            let done = !now.is_empty() && now == last;
            last = now;
            done
        })?;
        Some(last)
    }

    /// Rewrite the configuration file the daemon reads and SIGHUP it (a reload, for drift and
    /// keepalived alike).
    pub fn reload(&self, config: &str) {
        let path = if self.keepalived {
            self.child.dir().join("keepalived.conf")
        } else {
            self.conf.clone()
        };
        std::fs::write(&path, config).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        self.child
            .signal(drift_testkit::Signal::SIGHUP)
            .unwrap_or_else(|e| panic!("SIGHUP: {e}"));
    }

    /// Whether the process is still running (false if it exited, e.g. on a config error).
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(self.conf.with_extension("dumps"));
        let _ = std::fs::remove_file(&self.conf);
    }
}

/// Indices of the hosts whose interfaces hold `vip` (IPv4 or IPv6).
pub fn holders(lab: &Lab, vip: impl Into<IpAddr>) -> Vec<usize> {
    let vip = vip.into();
    (0..lab.hosts().len())
        .filter(|&i| lab.has_addr(i, vip))
        .collect()
}

/// Wait until exactly the hosts `want` hold `vip`; returns how long that took.
pub fn wait_holders(
    lab: &Lab,
    vip: impl Into<IpAddr>,
    want: &[usize],
    timeout: Duration,
) -> Option<Duration> {
    let vip = vip.into();
    drift_testkit::wait_until(timeout, Duration::from_millis(5), || {
        holders(lab, vip) == want
    })
}

/// Assert the VIP holder set stays `want` for `period` (sampled every 50 ms).
pub fn assert_stable(
    lab: &Lab,
    vip: impl Into<IpAddr>,
    want: &[usize],
    period: Duration,
    what: &str,
) {
    let vip = vip.into();
    let end = Instant::now() + period;
    while Instant::now() < end {
        let now = holders(lab, vip);
        assert_eq!(now, want, "{what}: VIP holders changed");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Remove a VIP a crashed daemon left behind (a SIGKILLed daemon cannot clean up; on a real
/// failed machine the address would be gone with it).
pub fn drop_stale_vip(lab: &Lab, host: usize, vip: impl Into<IpAddr>) {
    let vip = vip.into();
    let len = if vip.is_ipv4() { 32 } else { 128 };
    let _ = lab.host(host).ip(&[
        "addr",
        "del",
        &format!("{vip}/{len}"),
        "dev",
        drift_testkit::HOST_IF,
    ]);
}

/// A TCP server on `0.0.0.0:NAME_PORT` inside a namespace that answers every connection with a
/// fixed name and closes; stopped (and joined) on Drop.
pub struct NameServer {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl NameServer {
    pub fn start(ns: &drift_testkit::Netns, name: &str) -> NameServer {
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = std::sync::mpsc::channel();
        let name = name.to_string();
        let flag = stop.clone();
        let handle = ns.spawn_thread(move || {
            let listener = match TcpListener::bind(("0.0.0.0", NAME_PORT)) {
                Ok(l) => l,
                Err(e) => {
                    let _ = tx.send(Err(e.to_string()));
                    return;
                }
            };
            let _ = listener.set_nonblocking(true);
            let _ = tx.send(Ok(()));
            while !flag.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((mut s, _)) => {
                        let _ = s.set_nonblocking(false);
                        let _ = s.write_all(name.as_bytes());
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(2)),
                }
            }
        });
        match rx.recv_timeout(Duration::from_secs(5)) {
            Ok(Ok(())) => {}
            other => panic!("name server did not start: {other:?}"),
        }
        NameServer {
            stop,
            handle: Some(handle),
        }
    }
}

impl Drop for NameServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// Connect from inside `ns` to `ip:NAME_PORT` and read the server's name.
pub fn ask_name(ns: &drift_testkit::Netns, ip: Ipv4Addr, timeout: Duration) -> Option<String> {
    ns.run_in(move || {
        let addr = SocketAddr::new(IpAddr::V4(ip), NAME_PORT);
        let mut s = TcpStream::connect_timeout(&addr, timeout).ok()?;
        s.set_read_timeout(Some(timeout)).ok()?;
        let mut out = String::new();
        s.read_to_string(&mut out).ok()?;
        Some(out)
    })
}

/// Start one name server per host, answering `h0`, `h1`, ...
pub fn name_servers(lab: &Lab) -> Vec<NameServer> {
    lab.hosts()
        .iter()
        .enumerate()
        .map(|(i, h)| NameServer::start(h, &format!("h{i}")))
        .collect()
}

/// Print a measured figure so it shows in `cargo test -- --nocapture` and in failure output.
pub fn figure(what: &str, took: Duration, bound: Duration) {
    println!(
        "FIGURE {what}: {:.3} s (bound {:.3} s)",
        took.as_secs_f64(),
        bound.as_secs_f64()
    );
}

/// The non-zero error counters of a keepalived (or drift) stats dump (`Packet Errors`,
/// `Authentication Errors`, and drift's `Other drops` that mean a rejected peer: version,
/// checksum, unicast_src, other), as `"Section/Counter: N"`, and the total of
/// `Advertisements: Received`.
pub fn keepalived_stat_errors(stats: &str) -> (Vec<String>, u64) {
    let mut errors = Vec::new();
    let (mut section, mut received, mut in_adverts) = (String::new(), 0u64, false);
    for line in stats.lines() {
        let t = line.trim();
        if let Some(name) = t.strip_suffix(':') {
            section = name.to_string();
            in_adverts = name == "Advertisements";
            continue;
        }
        let Some((key, value)) = t.split_once(':') else {
            continue;
        };
        let value: u64 = value.trim().parse().unwrap_or(0);
        if in_adverts && key == "Received" {
            received += value;
        }
        let drift_reject = section.starts_with("Other drops")
            && ["version", "checksum", "unicast_src", "other"].contains(&key);
        if (section.ends_with("Errors") || drift_reject) && value > 0 {
            errors.push(format!("{section}/{key}: {value}"));
        }
    }
    (errors, received)
}

/// A VRRPv3 instance (advert_int 0.1, so a lone node is master within half a second) on
/// `ifname`, with `extra` lines (trackers, notify) inserted before its VIPs.
pub fn fast_instance(
    ifname: &str,
    state: &str,
    priority: u8,
    vip: Ipv4Addr,
    extra: &str,
) -> String {
    format!(
        "vrrp_instance VI_1 {{\n  state {state}\n  interface {ifname}\n  virtual_router_id 51\n  \
         version 3\n  priority {priority}\n  advert_int 0.1\n{extra}  virtual_ipaddress {{\n    {vip}/32\n  \
         }}\n}}\n"
    )
}

/// Whether `needle` shows up in the daemon's log within `timeout`.
pub fn wait_log(d: &Daemon, needle: &str, timeout: Duration) -> bool {
    drift_testkit::wait_until(timeout, Duration::from_millis(20), || {
        d.logs().contains(needle)
    })
    .is_some()
}

/// A one-shot SMTP server on 127.0.0.1 inside a namespace: it answers a client like a mail
/// relay would and hands back every DATA section it received (headers and body).
pub struct SmtpSink {
    pub port: u16,
    mails: std::sync::mpsc::Receiver<String>,
    _handle: JoinHandle<()>,
}

impl SmtpSink {
    pub fn start(ns: &drift_testkit::Netns) -> SmtpSink {
        let listener = ns
            .run_in(|| TcpListener::bind(("127.0.0.1", 0)))
            .unwrap_or_else(|e| panic!("bind the SMTP sink: {e}"));
        let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
        let (tx, mails) = std::sync::mpsc::channel();
        let handle = std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                if let Some(mail) = smtp_session(stream) {
                    if tx.send(mail).is_err() {
                        return;
                    }
                }
            }
        });
        SmtpSink {
            port,
            mails,
            _handle: handle,
        }
    }

    /// The next mail received within `timeout`.
    pub fn next(&self, timeout: Duration) -> Option<String> {
        self.mails.recv_timeout(timeout).ok()
    }
}

fn smtp_session(mut s: TcpStream) -> Option<String> {
    use std::io::BufRead;
    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
    let mut r = std::io::BufReader::new(s.try_clone().ok()?);
    s.write_all(b"220 sink ESMTP\r\n").ok()?;
    let mut data = None;
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).ok()? == 0 {
            return data;
        }
        let cmd = line.trim_end().to_ascii_uppercase();
        if cmd.starts_with("EHLO") || cmd.starts_with("HELO") {
            s.write_all(b"250 sink\r\n").ok()?;
        } else if cmd.starts_with("DATA") {
            s.write_all(b"354 go ahead\r\n").ok()?;
            let mut body = String::new();
            loop {
                let mut l = String::new();
                if r.read_line(&mut l).ok()? == 0 || l == ".\r\n" {
                    break;
                }
                body.push_str(&l);
            }
            data = Some(body);
            s.write_all(b"250 queued\r\n").ok()?;
        } else if cmd.starts_with("QUIT") {
            let _ = s.write_all(b"221 bye\r\n");
            return data;
        } else {
            s.write_all(b"250 ok\r\n").ok()?;
        }
    }
}
