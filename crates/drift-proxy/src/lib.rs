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
pub mod stream;
pub mod upstream;

pub use config::{check_file, check_str, render_all, Diagnostic, ProxyConfig};
pub use metrics::MetricsSnapshot;
pub use upstream::UpstreamHealthEvent;

use http::pool::Pool;
use http::route::{Router, Site};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, watch, Semaphore};
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
        let (stop, stop_rx) = watch::channel(false);
        let (events, _) = broadcast::channel(64);
        let limit = Arc::new(Semaphore::new(cfg.worker_connections.max(1)));
        let mut tasks = Vec::new();
        let mut local_addrs = Vec::new();
        let mut http_upstreams = Vec::new();
        let mut stream_upstreams = Vec::new();
        if let Some(h) = &cfg.http {
            http_upstreams = h
                .upstreams
                .iter()
                .map(|u| Upstream::new(u, events.clone()))
                .collect();
            let pools: Vec<Arc<Pool>> = http_upstreams
                .iter()
                .map(|u| Arc::new(Pool::new(u.servers.len(), u.keepalive)))
                .collect();
            let mut by_addr: BTreeMap<SocketAddr, Vec<Site>> = BTreeMap::new();
            for s in &h.servers {
                for a in &s.listen {
                    by_addr
                        .entry(*a)
                        .or_default()
                        .push(Site::new(s, &http_upstreams, &pools));
                }
            }
            let limits = http::ClientLimits {
                header_read_timeout: h.client_header_timeout,
                max_header_bytes: h.max_header_bytes,
            };
            for (addr, sites) in by_addr {
                let l = listener::bind(addr).map_err(|source| ProxyError::Bind { addr, source })?;
                local_addrs.push(l.local_addr().unwrap_or(addr));
                let router = Arc::new(Router { sites });
                tasks.push(tokio::spawn(http::serve(
                    l,
                    router,
                    limits.clone(),
                    Arc::clone(&limit),
                    stop_rx.clone(),
                )));
            }
        }
        if let Some(s) = &cfg.stream {
            stream_upstreams = s
                .upstreams
                .iter()
                .map(|u| Upstream::new(u, events.clone()))
                .collect();
            for srv in &s.servers {
                for &addr in &srv.listen {
                    let l =
                        listener::bind(addr).map_err(|source| ProxyError::Bind { addr, source })?;
                    local_addrs.push(l.local_addr().unwrap_or(addr));
                    let up = Arc::clone(&stream_upstreams[srv.upstream]);
                    tasks.push(tokio::spawn(stream::serve(
                        l,
                        up,
                        srv.clone(),
                        Arc::clone(&limit),
                        stop_rx.clone(),
                    )));
                }
            }
        }
        for up in http_upstreams.iter().chain(&stream_upstreams) {
            tasks.extend(health::spawn_checks(up));
        }
        let all: Vec<Arc<Upstream>> = http_upstreams
            .iter()
            .chain(&stream_upstreams)
            .cloned()
            .collect();
        tasks.push(tokio::spawn(async move {
            // Passive re-admission is a matter of time passing; re-evaluate the group signal often.
            let mut tick = tokio::time::interval(Duration::from_millis(250));
            loop {
                tick.tick().await;
                all.iter().for_each(|u| u.publish());
            }
        }));
        Ok(ProxyHandle {
            stop,
            tasks,
            http_upstreams,
            stream_upstreams,
            events,
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

/// Runs the proxy on its own multi-thread runtime (`threads` workers) until SIGINT or SIGTERM.
pub fn run_blocking(cfg: ProxyConfig, threads: usize) -> Result<()> {
    // Multi-thread even for one worker: measured ~20% less CPU per request than a current-thread
    // runtime driven by block_on here, and the proxy stays off the caller's thread.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.max(1))
        .thread_name("drift-proxy")
        .enable_all()
        .build()
        .map_err(ProxyError::Runtime)?;
    rt.block_on(async {
        let handle = Proxy::start(cfg).await?;
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).map_err(ProxyError::Signal)?;
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        handle.shutdown();
        Ok(())
    })
}
