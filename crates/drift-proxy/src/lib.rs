//! drift-proxy: an nginx-compatible HTTP/1.1 and TCP load balancer.
//!
//! Reads the nginx config subset users already have ([`check_file`]), balances exactly as nginx
//! does (smooth weighted round robin, least_conn, ip_hash, ketama consistent hash, random two),
//! with passive (max_fails/fail_timeout) and active (`health_check`) health. [`Proxy::start`]
//! runs on the caller's multi-thread runtime; [`spawn_workers`] (and [`run_blocking`], which
//! adds signal handling) builds its own threads, so the proxy's load never shares threads with
//! VRRP timing.

pub mod balance;
pub mod config;
pub mod health;
pub mod http;
pub mod listener;
pub mod metrics;
mod reload;
mod shared;
pub mod stream;
pub mod upstream;
mod workers;

pub use config::{check_file, check_str, render_all, Diagnostic, ProxyConfig};
pub use metrics::MetricsSnapshot;
pub use reload::{ReloadError, ReloadReport, Reloader};
pub use upstream::UpstreamHealthEvent;
pub use workers::{run_blocking, spawn_workers, ServerReport, ServerStats, Workers};

use shared::Shared;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;
use upstream::Upstream;

#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("cannot listen on {addr}: {source}{}", low_port_hint(.addr, .source))]
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

/// EACCES on a low port is the capability, not the address: a drift given only CAP_NET_ADMIN
/// and CAP_NET_RAW (dist/drift.service) meets it on `listen 80`, so say what is missing.
fn low_port_hint(addr: &SocketAddr, e: &std::io::Error) -> &'static str {
    if e.kind() == std::io::ErrorKind::PermissionDenied && addr.port() < 1024 {
        " (a port below net.ipv4.ip_unprivileged_port_start, 1024 by default, needs \
         CAP_NET_BIND_SERVICE)"
    } else {
        ""
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Error, ErrorKind};

    fn bind_error(addr: &str, kind: ErrorKind) -> String {
        ProxyError::Bind {
            addr: addr.parse().unwrap(),
            source: Error::from(kind),
        }
        .to_string()
    }

    #[test]
    fn permission_denied_on_a_low_port_names_the_missing_capability() {
        let e = bind_error("10.0.0.1:80", ErrorKind::PermissionDenied);
        assert!(e.contains("needs CAP_NET_BIND_SERVICE"), "{e}");
    }

    #[test]
    fn other_bind_errors_carry_no_capability_hint() {
        for (addr, kind) in [
            ("10.0.0.1:8080", ErrorKind::PermissionDenied),
            ("10.0.0.1:80", ErrorKind::AddrInUse),
        ] {
            let e = bind_error(addr, kind);
            assert!(!e.contains("CAP_"), "{e}");
        }
    }
}
