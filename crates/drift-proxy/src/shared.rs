//! The runtime-independent part of a running proxy (upstream groups with their balancer state,
//! health signal and metrics) and the per-runtime part (listeners, routers, connection pools).
//! One [`Shared`] can serve several single-threaded runtimes, nginx-worker style.

use crate::config::ProxyConfig;
use crate::http::pool::Pool;
use crate::http::route::{Router, Site};
use crate::upstream::{Upstream, UpstreamHealthEvent};
use crate::{health, http, stream, ProxyError, Result};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, watch, Semaphore};
use tokio::task::JoinHandle;

pub struct Shared {
    pub cfg: ProxyConfig,
    pub http_upstreams: Vec<Arc<Upstream>>,
    pub stream_upstreams: Vec<Arc<Upstream>>,
    pub events: broadcast::Sender<UpstreamHealthEvent>,
    /// `worker_connections`, shared by all runtimes.
    pub limit: Arc<Semaphore>,
}

impl Shared {
    pub fn new(cfg: ProxyConfig) -> Shared {
        let (events, _) = broadcast::channel(64);
        let make = |ups: &[crate::config::UpstreamConfig]| {
            ups.iter()
                .map(|u| Upstream::new(u, events.clone()))
                .collect()
        };
        let http_upstreams = cfg
            .http
            .as_ref()
            .map(|h| make(&h.upstreams))
            .unwrap_or_default();
        let stream_upstreams = cfg
            .stream
            .as_ref()
            .map(|s| make(&s.upstreams))
            .unwrap_or_default();
        let limit = Arc::new(Semaphore::new(cfg.worker_connections.max(1)));
        Shared {
            cfg,
            http_upstreams,
            stream_upstreams,
            events,
            limit,
        }
    }

    /// Listen addresses in a fixed order: http (sorted, deduplicated), then stream servers.
    pub fn listen_addrs(&self) -> Vec<SocketAddr> {
        let mut v: Vec<SocketAddr> = Vec::new();
        if let Some(h) = &self.cfg.http {
            let set: std::collections::BTreeSet<SocketAddr> = h
                .servers
                .iter()
                .flat_map(|s| s.listen.iter().copied())
                .collect();
            v.extend(set);
        }
        if let Some(s) = &self.cfg.stream {
            v.extend(s.servers.iter().flat_map(|s| s.listen.iter().copied()));
        }
        v
    }

    /// Binds one set of listeners; `at` replaces the configured addresses (to reuse the ports
    /// the first set resolved from port 0).
    pub fn bind(
        &self,
        reuseport: bool,
        at: Option<&[SocketAddr]>,
    ) -> Result<Vec<std::net::TcpListener>> {
        let addrs = at
            .map(<[SocketAddr]>::to_vec)
            .unwrap_or_else(|| self.listen_addrs());
        addrs
            .into_iter()
            .map(|addr| {
                crate::listener::bind_std(addr, reuseport)
                    .map_err(|source| ProxyError::Bind { addr, source })
            })
            .collect()
    }

    /// Spawns accept loops for `ls` (from [`Shared::bind`]) on the current runtime, with
    /// connection pools private to this runtime so upstream connections stay on its thread.
    pub fn spawn_listeners(
        &self,
        ls: Vec<std::net::TcpListener>,
        stop: &watch::Receiver<bool>,
    ) -> Result<Vec<JoinHandle<()>>> {
        let mut ls = ls.into_iter();
        let mut tasks = Vec::new();
        let to_tokio = |l: std::net::TcpListener| {
            let addr = l
                .local_addr()
                .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
            tokio::net::TcpListener::from_std(l).map_err(|source| ProxyError::Bind { addr, source })
        };
        if let Some(h) = &self.cfg.http {
            let pools: Vec<Arc<Pool>> = self
                .http_upstreams
                .iter()
                .map(|u| Arc::new(Pool::new(u.servers.len(), u.keepalive)))
                .collect();
            let mut by_addr: BTreeMap<SocketAddr, Vec<Site>> = BTreeMap::new();
            for s in &h.servers {
                for a in &s.listen {
                    let site = Site::new(s, &self.http_upstreams, &pools);
                    let sites = by_addr.entry(*a).or_default();
                    // The router falls back to the first site; nginx falls back to default_server.
                    if s.default_for.contains(a) {
                        sites.insert(0, site);
                    } else {
                        sites.push(site);
                    }
                }
            }
            let limits = http::ClientLimits {
                header_read_timeout: h.client_header_timeout,
                max_header_bytes: h.max_header_bytes,
            };
            for (_, sites) in by_addr {
                let Some(l) = ls.next() else { break };
                let router = Arc::new(Router { sites });
                tasks.push(tokio::spawn(http::serve(
                    to_tokio(l)?,
                    router,
                    limits.clone(),
                    Arc::clone(&self.limit),
                    stop.clone(),
                )));
            }
        }
        if let Some(s) = &self.cfg.stream {
            for srv in &s.servers {
                for _ in &srv.listen {
                    let Some(l) = ls.next() else { break };
                    let up = Arc::clone(&self.stream_upstreams[srv.upstream]);
                    tasks.push(tokio::spawn(stream::serve(
                        to_tokio(l)?,
                        up,
                        srv.clone(),
                        Arc::clone(&self.limit),
                        stop.clone(),
                    )));
                }
            }
        }
        Ok(tasks)
    }

    /// Health checks and the group-signal ticker; run once per proxy, on any runtime.
    pub fn spawn_background(&self) -> Vec<JoinHandle<()>> {
        let all: Vec<Arc<Upstream>> = self
            .http_upstreams
            .iter()
            .chain(&self.stream_upstreams)
            .cloned()
            .collect();
        let mut tasks: Vec<JoinHandle<()>> = all.iter().flat_map(health::spawn_checks).collect();
        tasks.push(tokio::spawn(async move {
            // Passive re-admission is a matter of time passing; re-evaluate the group signal often.
            let mut tick = tokio::time::interval(Duration::from_millis(250));
            loop {
                tick.tick().await;
                all.iter().for_each(|u| u.publish());
            }
        }));
        tasks
    }
}
