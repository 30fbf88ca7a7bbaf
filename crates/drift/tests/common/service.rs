//! The article's service-failure setup (issue 4 "failure tests", issue 8 benchmark): a check
//! script that asks the host's local web server, the seed configs pointed at it, and a client
//! that polls the VIP every few milliseconds and records every answer and failure.
//!
//! Shared by `tests/article_failures.rs`, `tests/fast_failover.rs` and
//! `examples/service_failover_bench.rs` so that all three measure the same thing.

use std::io::Read;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::NAME_PORT;

static SCRIPT_COUNTER: AtomicU32 = AtomicU32::new(0);

/// An executable check script in the temp dir, removed on Drop. It exits 0 when something
/// accepts a TCP connection on 127.0.0.1:[`NAME_PORT`] of the namespace it runs in (the
/// daemon's), like the article's `nginx_check.sh` asks the local nginx. bash's /dev/tcp keeps
/// it to one fork and no network dependency.
pub struct CheckScript {
    pub path: PathBuf,
}

impl CheckScript {
    pub fn new() -> CheckScript {
        let n = SCRIPT_COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("drift-check-{}-{n}.sh", std::process::id()));
        let body = format!(
            "#!/bin/bash\n# Is the local web server answering?\nexec 3<>/dev/tcp/127.0.0.1/{NAME_PORT}\n"
        );
        std::fs::write(&path, body).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
            .unwrap_or_else(|e| panic!("chmod {}: {e}", path.display()));
        CheckScript { path }
    }

    pub fn path_str(&self) -> String {
        self.path.to_string_lossy().into_owned()
    }
}

impl Default for CheckScript {
    fn default() -> Self {
        CheckScript::new()
    }
}

impl Drop for CheckScript {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// A seed config (fixtures/seed/master.conf or backup.conf) for a lab: addresses replaced, the
/// track script pointed at `script`, and its `interval 5` replaced by `interval` (seconds, as
/// written), so a test does not wait 5 s for a check. Everything else (no weight, so a failing
/// check means FAULT; the single-member sync group; PASS auth) stays as the article wrote it.
pub fn article_config(
    seed_file: &str,
    master_ip: Ipv4Addr,
    vip: Ipv4Addr,
    script: &Path,
    interval: &str,
) -> String {
    let text = std::fs::read_to_string(super::seed_path(seed_file))
        .unwrap_or_else(|e| panic!("read seed {seed_file}: {e}"));
    super::adapt_seed(&text, master_ip, vip)
        .replace("/root/bin/nginx_check.sh", &script.to_string_lossy())
        .replace("interval 5", &format!("interval {interval}"))
}

/// One client request: when it started and the name of the host that answered (None: failed).
#[derive(Debug, Clone)]
pub struct Sample {
    pub at: Instant,
    pub answer: Option<String>,
}

/// A client in its own namespace asking `vip:NAME_PORT` for the server's name every `period`,
/// each request on its own short-lived thread (bounded by `timeout`), so a request hanging on
/// a dead ARP entry does not hold back the next ones: the first answer after an outage is
/// seen within one period of the service coming back. Runs until stopped or dropped.
pub struct Poller {
    stop: Arc<AtomicBool>,
    samples: Arc<Mutex<Vec<Sample>>>,
    handle: Option<JoinHandle<()>>,
}

impl Poller {
    pub fn start(
        ns: &drift_testkit::Netns,
        vip: Ipv4Addr,
        period: Duration,
        timeout: Duration,
    ) -> Poller {
        let stop = Arc::new(AtomicBool::new(false));
        let samples = Arc::new(Mutex::new(Vec::new()));
        let (flag, out) = (stop.clone(), samples.clone());
        // Threads spawned from inside the namespace thread inherit its network namespace.
        let handle = ns.spawn_thread(move || {
            let addr = SocketAddr::new(IpAddr::V4(vip), NAME_PORT);
            let start = Instant::now();
            let mut tick = 0u32;
            let mut inflight: Vec<JoinHandle<()>> = Vec::new();
            while !flag.load(Ordering::Relaxed) {
                let out = out.clone();
                inflight.push(std::thread::spawn(move || {
                    let at = Instant::now();
                    let answer = ask(addr, timeout);
                    if let Ok(mut v) = out.lock() {
                        v.push(Sample { at, answer });
                    }
                }));
                inflight.retain(|h| !h.is_finished());
                tick += 1;
                let next = start + period * tick;
                let now = Instant::now();
                if next > now {
                    std::thread::sleep(next - now);
                } else {
                    // Fell behind (a stalled machine): keep the period from now on, no burst.
                    tick = ((now - start).as_nanos() / period.as_nanos().max(1)) as u32;
                }
            }
            for h in inflight {
                let _ = h.join();
            }
        });
        Poller {
            stop,
            samples,
            handle: Some(handle),
        }
    }

    /// A copy of everything recorded so far.
    pub fn samples(&self) -> Vec<Sample> {
        let mut v = self.samples.lock().map(|v| v.clone()).unwrap_or_default();
        v.sort_by_key(|s| s.at);
        v
    }

    /// Waits until a request started after `since` is answered by `who`; returns that request's
    /// start time.
    pub fn wait_answer_from(
        &self,
        who: &str,
        since: Instant,
        timeout: Duration,
    ) -> Option<Instant> {
        let mut found = None;
        drift_testkit::wait_until(timeout, Duration::from_millis(5), || {
            found = first_answer_from(&self.samples(), who, since);
            found.is_some()
        });
        found
    }

    pub fn stop(mut self) -> Vec<Sample> {
        self.halt();
        self.samples()
    }

    fn halt(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

impl Drop for Poller {
    fn drop(&mut self) {
        self.halt();
    }
}

fn ask(addr: SocketAddr, timeout: Duration) -> Option<String> {
    let deadline = Instant::now() + timeout;
    let mut s = TcpStream::connect_timeout(&addr, timeout).ok()?;
    let left = deadline.saturating_duration_since(Instant::now());
    s.set_read_timeout(Some(left.max(Duration::from_millis(1))))
        .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    (!out.is_empty()).then_some(out)
}

/// The first request started at or after `since` that `who` answered.
pub fn first_answer_from(samples: &[Sample], who: &str, since: Instant) -> Option<Instant> {
    samples
        .iter()
        .find(|s| s.at >= since && s.answer.as_deref() == Some(who))
        .map(|s| s.at)
}

/// Failed requests started in `from..to`.
pub fn failures_between(samples: &[Sample], from: Instant, to: Instant) -> usize {
    samples
        .iter()
        .filter(|s| s.at >= from && s.at < to && s.answer.is_none())
        .count()
}

/// Requests started in `from..to`.
pub fn requests_between(samples: &[Sample], from: Instant, to: Instant) -> usize {
    samples.iter().filter(|s| s.at >= from && s.at < to).count()
}

/// The benchmark's `vrrp_instance` (issue 8): one `vrrp_script` on the local web server with
/// `interval`, `fall` and `weight`, tracked by an instance at `priority`; `fast` adds the
/// `preempt_immediate` extension. keepalived's settings: interval 1, fall 2, weight -20.
#[derive(Debug, Clone)]
pub struct ServiceInstance {
    pub state: &'static str,
    pub priority: u8,
    /// 2 or 3.
    pub version: u8,
    /// Seconds as written (`"1"`, `"0.1"`).
    pub advert_int: String,
    pub check_interval: String,
    pub fall: u32,
    pub weight: i32,
    pub fast: bool,
    /// Track the proxy's upstream group `web` (`track_upstream`, drift's load balancer health)
    /// instead of the script; see [`proxy_conf`].
    pub upstream: bool,
    pub vip: Ipv4Addr,
}

impl ServiceInstance {
    /// keepalived's settings from the issue: check every 1 s, fall 2, weight -20, v2 at 1 s.
    pub fn keepalived_settings(state: &'static str, priority: u8, vip: Ipv4Addr) -> Self {
        ServiceInstance {
            state,
            priority,
            version: 2,
            advert_int: "1".into(),
            check_interval: "1".into(),
            fall: 2,
            weight: -20,
            fast: false,
            upstream: false,
            vip,
        }
    }

    pub fn v3(mut self, advert_int: &str) -> Self {
        self.version = 3;
        self.advert_int = advert_int.into();
        self
    }

    /// drift's fast settings: check every 0.1 s (fall 2 kept) and immediate preemption.
    pub fn fast(mut self) -> Self {
        self.check_interval = "0.1".into();
        self.fast = true;
        self
    }

    /// The fast settings with the proxy's health check as the tracker: no script at all.
    pub fn upstream(mut self) -> Self {
        self = self.fast();
        self.upstream = true;
        self
    }

    pub fn config(&self, script: &Path) -> String {
        let track = if self.upstream {
            format!(
                "    track_upstream {{\n        web weight {}\n    }}\n",
                self.weight
            )
        } else {
            "    track_script {\n        chk_web\n    }\n".to_string()
        };
        let fast = if self.fast {
            "    preempt_immediate\n"
        } else {
            ""
        };
        format!(
            "global_defs {{\n    router_id drift_bench\n    vrrp_version {version}\n}}\n\n\
             vrrp_script chk_web {{\n    script \"{script}\"\n    interval {interval}\n    \
             fall {fall}\n    rise 1\n    weight {weight}\n}}\n\n\
             vrrp_instance VI_1 {{\n    state {state}\n    interface {iface}\n    \
             virtual_router_id 51\n    priority {prio}\n    advert_int {adv}\n{fast}    \
             {track}    virtual_ipaddress {{\n        {vip}/32\n    }}\n}}\n",
            version = self.version,
            script = script.display(),
            interval = self.check_interval,
            fall = self.fall,
            weight = self.weight,
            state = self.state,
            iface = drift_testkit::HOST_IF,
            prio = self.priority,
            adv = self.advert_int,
            vip = self.vip,
        )
    }
}

/// `drift run --proxy` configuration for [`ServiceInstance::upstream`]: a stream upstream `web`
/// on the host's own web server, TCP-checked every 100 ms (fall 2, like the fast script), and a
/// listener on loopback only (the client keeps asking the web server directly through the VIP,
/// so every row measures the same path).
pub fn proxy_conf() -> String {
    format!(
        "stream {{\n  upstream web {{\n    server 127.0.0.1:{NAME_PORT};\n    \
         health_check interval=100ms timeout=500ms fall=2 rise=1;\n  }}\n  \
         server {{\n    listen 127.0.0.1:18080;\n    proxy_pass web;\n  }}\n}}\n"
    )
}
