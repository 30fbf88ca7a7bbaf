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
        Self::succeeding(cfg, None)
    }

    /// The state a reload builds: fresh balancer state (as nginx), but groups that keep their
    /// name keep their health signal and active verdicts (see [`Upstream::succeeding`]).
    pub fn succeeding(cfg: ProxyConfig, prev: Option<&Shared>) -> Shared {
        let events = prev
            .map(|p| p.events.clone())
            .unwrap_or_else(|| broadcast::channel(64).0);
        let old = |name: &str| {
            prev.and_then(|p| {
                p.http_upstreams
                    .iter()
                    .chain(&p.stream_upstreams)
                    .find(|u| u.name == name)
                    .map(|u| &**u)
            })
        };
        let make = |ups: &[crate::config::UpstreamConfig]| {
            ups.iter()
                .map(|u| Upstream::succeeding(u, events.clone(), old(&u.name)))
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

    /// What each listen address serves, in [`Shared::listen_addrs`] order, with connection pools
    /// private to the calling runtime so upstream connections stay on its thread.
    pub fn plan(&self) -> Vec<(SocketAddr, Service)> {
        let mut v = Vec::new();
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
            for (addr, sites) in by_addr {
                let router = Arc::new(Router {
                    sites,
                    limits: limits.clone(),
                });
                v.push((addr, Service::Http(router)));
            }
        }
        if let Some(s) = &self.cfg.stream {
            for srv in &s.servers {
                for a in &srv.listen {
                    let up = Arc::clone(&self.stream_upstreams[srv.upstream]);
                    v.push((*a, Service::Stream(up, srv.clone())));
                }
            }
        }
        v
    }

    /// Spawns accept loops for `ls` (from [`Shared::bind`]) on the current runtime.
    pub fn spawn_listeners(
        &self,
        ls: Vec<std::net::TcpListener>,
        stop: &watch::Receiver<bool>,
    ) -> Result<Vec<JoinHandle<()>>> {
        let mut tasks = Vec::new();
        for ((_, service), l) in self.plan().into_iter().zip(ls) {
            let l = Arc::new(to_tokio(l)?);
            tasks.push(match service {
                Service::Http(router) => {
                    let (_tx, rx) = watch::channel(router);
                    self.spawn_http(l, rx, stop)
                }
                Service::Stream(up, srv) => self.spawn_stream(l, up, srv, stop),
            });
        }
        Ok(tasks)
    }

    /// An HTTP accept loop; each request reads the router from `router` (a reload replaces it).
    pub fn spawn_http(
        &self,
        l: Arc<tokio::net::TcpListener>,
        router: watch::Receiver<Arc<Router>>,
        stop: &watch::Receiver<bool>,
    ) -> JoinHandle<()> {
        tokio::spawn(http::serve(
            l,
            router,
            Arc::clone(&self.limit),
            stop.clone(),
        ))
    }

    pub fn spawn_stream(
        &self,
        l: Arc<tokio::net::TcpListener>,
        up: Arc<Upstream>,
        srv: crate::config::model::StreamServer,
        stop: &watch::Receiver<bool>,
    ) -> JoinHandle<()> {
        tokio::spawn(stream::serve(
            l,
            up,
            srv,
            Arc::clone(&self.limit),
            stop.clone(),
        ))
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

/// What one listen address serves.
pub enum Service {
    Http(Arc<Router>),
    Stream(Arc<Upstream>, crate::config::model::StreamServer),
}

/// Registers a listener bound without a runtime with the current one.
pub fn to_tokio(l: std::net::TcpListener) -> Result<tokio::net::TcpListener> {
    let addr = l
        .local_addr()
        .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
    tokio::net::TcpListener::from_std(l).map_err(|source| ProxyError::Bind { addr, source })
}
