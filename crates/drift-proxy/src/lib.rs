//! drift-proxy: an nginx-compatible HTTP/1.1 and TCP load balancer.
//!
//! Reads the nginx config subset users already have ([`check_file`]), balances exactly as nginx
//! does (smooth weighted round robin, least_conn, ip_hash, ketama consistent hash, random two),
//! with passive (max_fails/fail_timeout) and active (`health_check`) health. [`Proxy::start`]
//! runs on the caller's multi-thread runtime; [`run_blocking`] builds its own, so the proxy's
//! load never shares threads with VRRP timing.

pub mod balance;
pub mod config;
pub mod health;
pub mod http;
pub mod listener;
pub mod metrics;
mod shared;
pub mod stream;
pub mod upstream;

pub use config::{check_file, check_str, render_all, Diagnostic, ProxyConfig};
pub use metrics::MetricsSnapshot;
pub use upstream::UpstreamHealthEvent;

use shared::Shared;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;
use upstream::Upstream;

#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot build the proxy runtime: {0}")]
    Runtime(std::io::Error),
    #[error("cannot install signal handler: {0}")]
    Signal(std::io::Error),
}

pub type Result<T, E = ProxyError> = std::result::Result<T, E>;

pub struct Proxy;

/// Running proxy. Dropping it stops the listeners and health checks (in-flight connections finish).
pub struct ProxyHandle {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    http_upstreams: Vec<Arc<Upstream>>,
    stream_upstreams: Vec<Arc<Upstream>>,
    events: broadcast::Sender<UpstreamHealthEvent>,
    local_addrs: Vec<SocketAddr>,
}

impl Proxy {
    /// Binds every listener first (so a bad address fails before anything runs), then spawns the
    /// accept loops and health checks on the current runtime.
    pub async fn start(cfg: ProxyConfig) -> Result<ProxyHandle> {
        let shared = Shared::new(cfg);
        let (stop, stop_rx) = watch::channel(false);
        let ls = shared.bind(false, None)?;
        let local_addrs = ls
            .iter()
            .zip(shared.listen_addrs())
            .map(|(l, a)| l.local_addr().unwrap_or(a))
            .collect();
        let mut tasks = shared.spawn_listeners(ls, &stop_rx)?;
        tasks.extend(shared.spawn_background());
        Ok(ProxyHandle {
            stop,
            tasks,
            http_upstreams: shared.http_upstreams.clone(),
            stream_upstreams: shared.stream_upstreams.clone(),
            events: shared.events.clone(),
            local_addrs,
        })
    }
}

impl ProxyHandle {
    /// Stops accepting and stops health checks; open connections run to completion.
    pub fn shutdown(&self) {
        let _ = self.stop.send(true);
        self.tasks.iter().for_each(JoinHandle::abort);
    }

    fn find(&self, name: &str) -> Option<&Arc<Upstream>> {
        self.http_upstreams
            .iter()
            .chain(&self.stream_upstreams)
            .find(|u| u.name == name)
    }

    /// `(server, usable now)` per server of upstream `name` (http first, then stream); empty if unknown.
    pub fn upstream_health(&self, name: &str) -> Vec<(String, bool)> {
        self.find(name).map(|u| u.health()).unwrap_or_default()
    }

    /// "Upstream group NAME has usable servers" changes, for a VRRP `track_upstream` tracker.
    pub fn subscribe_health(&self) -> broadcast::Receiver<UpstreamHealthEvent> {
        self.events.subscribe()
    }

    /// Current value plus changes for one group.
    pub fn upstream_watch(&self, name: &str) -> Option<watch::Receiver<bool>> {
        self.find(name).map(|u| u.watch())
    }

    /// Per-server counters of upstream `name`.
    pub fn metrics(&self, name: &str) -> Vec<(String, MetricsSnapshot)> {
        self.find(name)
            .map(|u| {
                u.servers
                    .iter()
                    .zip(&u.metrics)
                    .map(|(s, m)| (s.name.clone(), m.snapshot()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Bound addresses in config order (http listeners sorted by address, then stream); resolves port 0.
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.local_addrs
    }
}

impl Drop for ProxyHandle {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Runs the proxy on its own threads until SIGINT or SIGTERM.
///
/// With `threads > 1` it works like nginx workers: each thread runs a single-threaded runtime
/// with its own `SO_REUSEPORT` listeners and upstream connection pools, so a request and its
/// upstream connection never hop between cores; balancer state, passive/active health and
/// metrics stay shared across threads. On a 2-core box this doubled throughput compared with one
/// work-stealing runtime, whose cross-thread wakeups cost more than they balance.
pub fn run_blocking(cfg: ProxyConfig, threads: usize) -> Result<()> {
    let shared = Arc::new(Shared::new(cfg));
    let threads = threads.max(1);
    let first = shared.bind(threads > 1, None)?;
    let resolved: Vec<SocketAddr> = first
        .iter()
        .zip(shared.listen_addrs())
        .map(|(l, a)| l.local_addr().unwrap_or(a))
        .collect();
    let mut sets = vec![first];
    for _ in 1..threads {
        sets.push(shared.bind(true, Some(&resolved))?);
    }
    let (stop, stop_rx) = watch::channel(false);
    let mut workers = Vec::new();
    for (i, ls) in sets.into_iter().enumerate() {
        let (shared, stop_rx) = (Arc::clone(&shared), stop_rx.clone());
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(ProxyError::Runtime)?;
        let t = std::thread::Builder::new()
            .name(format!("drift-proxy-{i}"))
            .spawn(move || {
                rt.block_on(async move {
                    let mut stop_rx = stop_rx;
                    let tasks = match shared.spawn_listeners(ls, &stop_rx) {
                        Ok(t) => t,
                        Err(e) => {
                            tracing::error!(error = %e, "proxy worker failed to start");
                            return;
                        }
                    };
                    let _ = stop_rx.wait_for(|s| *s).await;
                    tasks.iter().for_each(JoinHandle::abort);
                })
            })
            .map_err(ProxyError::Runtime)?;
        workers.push(t);
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(ProxyError::Runtime)?;
    let res = rt.block_on(async {
        let background = shared.spawn_background();
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).map_err(ProxyError::Signal)?;
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        background.iter().for_each(JoinHandle::abort);
        Ok(())
    });
    let _ = stop.send(true);
    for w in workers {
        let _ = w.join();
    }
    res
}
