//! Runtime side of an upstream group: the balancer state behind a lock, per-server metrics, the
//! "group has usable servers" signal, and leases that return a connection slot when dropped.

use crate::balance::{Attempt, Key, Peers};
use crate::config::model::{HealthCheck, ServerSpec, UpstreamConfig};
use crate::config::template::Template;
use crate::metrics::ServerMetrics;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::{broadcast, watch};

/// Sent whenever a group flips between "some server usable" and "none usable".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamHealthEvent {
    pub upstream: String,
    pub has_healthy: bool,
}

pub struct Upstream {
    pub name: String,
    /// Peer order matches [`Peers`]: primaries then backups.
    pub servers: Vec<ServerSpec>,
    pub hash_key: Option<Template>,
    pub health_check: Option<HealthCheck>,
    pub keepalive: usize,
    /// See `UpstreamConfig::pipeline`.
    pub pipeline: usize,
    pub metrics: Vec<ServerMetrics>,
    peers: Mutex<Peers>,
    healthy_tx: watch::Sender<bool>,
    events: broadcast::Sender<UpstreamHealthEvent>,
}

impl Upstream {
    pub fn new(cfg: &UpstreamConfig, events: broadcast::Sender<UpstreamHealthEvent>) -> Arc<Self> {
        Self::succeeding(cfg, events, None)
    }

    /// A group built by a reload. With `prev` (the running group of the same name), active
    /// health verdicts carry over for servers that stay (same `server` text), and the group
    /// signal is the same channel, so a `track_upstream` watching it neither flaps nor goes
    /// stale: nginx forgets health on reload, but here the VRRP side depends on it.
    pub fn succeeding(
        cfg: &UpstreamConfig,
        events: broadcast::Sender<UpstreamHealthEvent>,
        prev: Option<&Upstream>,
    ) -> Arc<Self> {
        let mut servers: Vec<ServerSpec> =
            cfg.servers.iter().filter(|s| !s.backup).cloned().collect();
        servers.extend(cfg.servers.iter().filter(|s| s.backup).cloned());
        let hash_key = match &cfg.balance {
            crate::config::model::Balance::Hash { key, .. } => Some(key.clone()),
            _ => None,
        };
        let mut peers = Peers::new(&cfg.servers, &cfg.balance, rand::random());
        if let Some(prev) = prev {
            let old = prev.lock();
            for p in &mut peers.peers {
                if let Some(o) = old.peers.iter().find(|o| o.name == p.name) {
                    p.healthy = o.healthy;
                }
            }
        }
        let now_ok = peers.any_available(Instant::now());
        let healthy_tx = match prev {
            Some(prev) => {
                prev.healthy_tx
                    .send_if_modified(|v| std::mem::replace(v, now_ok) != now_ok);
                prev.healthy_tx.clone()
            }
            None => watch::channel(now_ok).0,
        };
        Arc::new(Upstream {
            name: cfg.name.clone(),
            metrics: servers.iter().map(|_| ServerMetrics::default()).collect(),
            servers,
            hash_key,
            health_check: cfg.health_check.clone(),
            keepalive: cfg.keepalive,
            pipeline: cfg.pipeline,
            peers: Mutex::new(peers),
            healthy_tx,
            events,
        })
    }

    /// A poisoned lock only means another task panicked mid-update; the counters are still
    /// usable, so keep serving rather than cascading the panic.
    fn lock(&self) -> MutexGuard<'_, Peers> {
        self.peers.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Picks a server; `None` is nginx's "no live upstreams".
    pub fn acquire(self: &Arc<Self>, key: &Key<'_>, at: &mut Attempt) -> Option<Lease> {
        let now = Instant::now();
        let idx = self.lock().select(now, key, at)?;
        self.metrics[idx].begin();
        Some(Lease {
            up: Arc::clone(self),
            idx,
            start: now,
            done: false,
        })
    }

    pub fn addr(&self, idx: usize) -> SocketAddr {
        self.servers[idx].addr
    }

    /// Active health verdict for one server.
    pub fn set_healthy(&self, idx: usize, healthy: bool) {
        let changed = {
            let mut p = self.lock();
            let Some(peer) = p.peers.get_mut(idx) else {
                return;
            };
            let changed = peer.healthy != healthy;
            peer.healthy = healthy;
            changed
        };
        if changed {
            tracing::warn!(upstream = %self.name, server = %self.servers[idx].name, healthy, "health check verdict changed");
            self.publish();
        }
    }

    /// The active health verdict of server `idx` (where a restarted health check starts from).
    pub fn marked_healthy(&self, idx: usize) -> bool {
        self.lock().peers.get(idx).is_none_or(|p| p.healthy)
    }

    /// `(server, usable now)` for every server, for status output and tests.
    pub fn health(&self) -> Vec<(String, bool)> {
        let p = self.lock();
        let now = Instant::now();
        let none = Attempt::default();
        (0..p.peers.len())
            .map(|i| (p.peers[i].name.clone(), p.usable(i, now, &none)))
            .collect()
    }

    pub fn watch(&self) -> watch::Receiver<bool> {
        self.healthy_tx.subscribe()
    }

    /// Recomputes the group signal and announces a change; cheap, called after failures and by a ticker
    /// (passive re-admission happens by time passing, not by an event).
    pub fn publish(&self) {
        let has = self.lock().any_available(Instant::now());
        let changed = self.healthy_tx.send_if_modified(|v| {
            let c = *v != has;
            *v = has;
            c
        });
        if changed {
            let _ = self.events.send(UpstreamHealthEvent {
                upstream: self.name.clone(),
                has_healthy: has,
            });
        }
    }

    fn release(&self, idx: usize, failed: bool, latency: Duration) {
        self.lock().release(idx, Instant::now(), failed);
        self.metrics[idx].end(failed, latency);
        if failed {
            self.publish();
        }
    }
}

/// One request's hold on a server: counts toward least_conn/max_conns until dropped.
pub struct Lease {
    up: Arc<Upstream>,
    pub idx: usize,
    start: Instant,
    done: bool,
}

impl Lease {
    pub fn addr(&self) -> SocketAddr {
        self.up.addr(self.idx)
    }
    pub fn upstream(&self) -> &Arc<Upstream> {
        &self.up
    }
    /// Reports a failure (passive health) and frees the slot now.
    pub fn fail(mut self) {
        self.done = true;
        self.up.release(self.idx, true, self.start.elapsed());
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if !self.done {
            self.up.release(self.idx, false, self.start.elapsed());
        }
    }
}
