//! Reload on SIGHUP, as `nginx -s reload` does: the new configuration takes effect for new
//! requests (kept-alive client connections included), requests in flight finish on the old
//! one, and listen sockets that stay are the same sockets (never closed, so no connection is
//! refused during a reload). A configuration that cannot be applied (a new address that cannot
//! be bound) is refused before any worker sees it: never half-applied.

use crate::http::route::Router;
use crate::shared::{to_tokio, Service, Shared};
use crate::{ProxyConfig, ProxyError, Result};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

/// Sockets bound for one worker: (configured address, socket).
pub(crate) type Fresh = Vec<(SocketAddr, std::net::TcpListener)>;
/// Configured listen address -> the address it is bound to (port 0 resolved).
pub(crate) type Bound = Vec<(SocketAddr, SocketAddr)>;

/// A new configuration for one worker thread, with the sockets of its new addresses.
pub(crate) struct Apply {
    shared: Arc<Shared>,
    fresh: Fresh,
    done: std::sync::mpsc::SyncSender<()>,
}

/// Binds the addresses of `shared` not in `bound` (configured -> bound address) once per
/// worker: the first socket on the configured address, the others on the address it resolved
/// to (port 0). Returns the sockets per worker and the new configured -> bound list.
pub(crate) fn bind_new(
    shared: &Shared,
    bound: &[(SocketAddr, SocketAddr)],
    workers: usize,
    reuseport: bool,
) -> Result<(Vec<Fresh>, Bound)> {
    let mut sets: Vec<Fresh> = (0..workers).map(|_| Vec::new()).collect();
    let mut next = Vec::new();
    for a in shared.listen_addrs() {
        if next.iter().any(|(c, _)| *c == a) {
            continue;
        }
        if let Some(&(c, b)) = bound.iter().find(|(c, _)| *c == a) {
            next.push((c, b));
            continue;
        }
        let bind = |at: SocketAddr| {
            crate::listener::bind_std(at, reuseport)
                .map_err(|source| ProxyError::Bind { addr: at, source })
        };
        let first = bind(a)?;
        let resolved = first.local_addr().unwrap_or(a);
        sets[0].push((a, first));
        for set in sets.iter_mut().skip(1) {
            set.push((a, bind(resolved)?));
        }
        next.push((a, resolved));
    }
    Ok((sets, next))
}

/// What the worker threads share with whoever reloads them.
pub(crate) struct Control {
    state: Mutex<State>,
    reuseport: bool,
}

struct State {
    current: Arc<Shared>,
    bound: Bound,
    workers: Vec<mpsc::UnboundedSender<Apply>>,
    health: Option<mpsc::UnboundedSender<Arc<Shared>>>,
}

impl Control {
    pub(crate) fn new(current: Arc<Shared>, bound: Bound, reuseport: bool) -> Self {
        Control {
            state: Mutex::new(State {
                current,
                bound,
                workers: Vec::new(),
                health: None,
            }),
            reuseport,
        }
    }

    /// The lock is held for a whole reload, so two reloads never interleave.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn set_channels(
        &self,
        workers: Vec<mpsc::UnboundedSender<Apply>>,
        health: mpsc::UnboundedSender<Arc<Shared>>,
    ) {
        let mut st = self.lock();
        st.workers = workers;
        st.health = Some(health);
    }

    pub(crate) fn current(&self) -> Arc<Shared> {
        Arc::clone(&self.lock().current)
    }

    pub(crate) fn local_addrs(&self) -> Vec<SocketAddr> {
        let st = self.lock();
        st.current
            .listen_addrs()
            .iter()
            .map(|a| {
                st.bound
                    .iter()
                    .find(|(c, _)| c == a)
                    .map_or(*a, |(_, b)| *b)
            })
            .collect()
    }
}

/// What a reload changed, for the log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReloadReport {
    /// Listen addresses bound by this reload.
    pub added: Vec<SocketAddr>,
    /// Listen addresses closed by this reload.
    pub removed: Vec<SocketAddr>,
}

/// Why a reload was refused; the running configuration is untouched in every case.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error("reload of {path} refused, the running configuration stays:\n{diagnostics}")]
    Config { path: String, diagnostics: String },
    #[error("reload of {path} refused, the running configuration stays: {why}")]
    Refused { path: String, why: String },
    #[error("reload of {path} refused, the running configuration stays: {source}")]
    Apply { path: String, source: ProxyError },
}

/// Reloads running workers from any thread (cloneable).
#[derive(Clone)]
pub struct Reloader {
    control: Arc<Control>,
}

/// How long a reload waits for each worker to take the new configuration (a worker only
/// swaps pointers and spawns accept loops; this bounds a wedged thread, not normal work).
const APPLY_WAIT: Duration = Duration::from_secs(10);

impl Reloader {
    pub(crate) fn new(control: Arc<Control>) -> Self {
        Reloader { control }
    }

    /// Re-reads `path` and applies it, unless it has errors, `accept` refuses it (drift run:
    /// every `track_upstream` group must still exist) or it cannot be applied; then the running
    /// configuration stays and the error says why.
    pub fn reload_file(
        &self,
        path: &std::path::Path,
        accept: impl FnOnce(&ProxyConfig) -> std::result::Result<(), String>,
    ) -> std::result::Result<ReloadReport, ReloadError> {
        let cfg = crate::check_file(path).map_err(|d| ReloadError::Config {
            path: path.display().to_string(),
            diagnostics: crate::render_all(&d),
        })?;
        accept(&cfg).map_err(|why| ReloadError::Refused {
            path: path.display().to_string(),
            why,
        })?;
        self.reload(cfg).map_err(|e| ReloadError::Apply {
            path: path.display().to_string(),
            source: e,
        })
    }

    /// Applies `cfg` to every worker, or refuses it (the running configuration stays) when a
    /// new listen address cannot be bound. Groups that keep their name keep their health
    /// signal (see [`crate::upstream::Upstream::succeeding`]); balancer state and counters
    /// restart, as in nginx. Blocks until every worker runs the new configuration.
    pub fn reload(&self, cfg: ProxyConfig) -> Result<ReloadReport> {
        let mut st = self.control.lock();
        let shared = Arc::new(Shared::succeeding(cfg, Some(&st.current)));
        let (sets, bound) = bind_new(
            &shared,
            &st.bound,
            st.workers.len().max(1),
            self.control.reuseport,
        )?;
        let report = ReloadReport {
            added: bound
                .iter()
                .filter(|n| !st.bound.iter().any(|o| o.0 == n.0))
                .map(|n| n.1)
                .collect(),
            removed: st
                .bound
                .iter()
                .filter(|o| !bound.iter().any(|n| n.0 == o.0))
                .map(|o| o.1)
                .collect(),
        };
        let mut waits = Vec::new();
        for (tx, fresh) in st.workers.iter().zip(sets) {
            let (done, wait) = std::sync::mpsc::sync_channel(1);
            let msg = Apply {
                shared: Arc::clone(&shared),
                fresh,
                done,
            };
            if tx.send(msg).is_ok() {
                waits.push(wait);
            }
        }
        for w in waits {
            let _ = w.recv_timeout(APPLY_WAIT);
        }
        if let Some(h) = &st.health {
            let _ = h.send(Arc::clone(&shared));
        }
        st.current = shared;
        st.bound = bound;
        Ok(report)
    }
}

/// One listen address on one worker thread.
struct Live {
    addr: SocketAddr,
    listener: Arc<TcpListener>,
    /// HTTP: the router every request on this address reads; None for a stream listener.
    router: Option<watch::Sender<Arc<Router>>>,
    accept: JoinHandle<()>,
}

/// A worker thread's listeners, across reloads.
pub(crate) struct Worker {
    live: Vec<Live>,
    stop: watch::Receiver<bool>,
}

impl Worker {
    pub(crate) fn new(stop: watch::Receiver<bool>) -> Self {
        Worker {
            live: Vec::new(),
            stop,
        }
    }

    pub(crate) async fn run(
        mut self,
        first: Arc<Shared>,
        fresh: Fresh,
        mut rx: mpsc::UnboundedReceiver<Apply>,
    ) {
        self.apply(&first, fresh);
        while let Some(a) = rx.recv().await {
            self.apply(&a.shared, a.fresh);
            let _ = a.done.send(());
        }
    }

    /// Kept addresses keep their socket: an HTTP one gets the new router (its accept loop and
    /// open connections read it per request), a stream one a new accept loop on the same
    /// socket. New addresses get their fresh socket; addresses gone close.
    fn apply(&mut self, shared: &Shared, fresh: Fresh) {
        let mut fresh = fresh;
        let mut next = Vec::new();
        for (addr, service) in shared.plan() {
            let old = self
                .live
                .iter()
                .position(|l| l.addr == addr)
                .map(|i| self.live.swap_remove(i));
            let listener = match (&old, fresh.iter().position(|f| f.0 == addr)) {
                (Some(o), _) => Arc::clone(&o.listener),
                (None, Some(i)) => match to_tokio(fresh.swap_remove(i).1) {
                    Ok(l) => Arc::new(l),
                    Err(e) => {
                        tracing::error!(%addr, error = %e, "proxy listener not started");
                        continue;
                    }
                },
                (None, None) => {
                    tracing::error!(%addr, "proxy: no socket for listen address (listed twice?)");
                    continue;
                }
            };
            match service {
                Service::Http(router) => match old {
                    Some(o) if o.router.is_some() => {
                        if let Some(tx) = &o.router {
                            tx.send_replace(router);
                        }
                        next.push(o);
                    }
                    old => {
                        if let Some(o) = old {
                            o.accept.abort();
                        }
                        let (tx, rx) = watch::channel(router);
                        let accept = shared.spawn_http(Arc::clone(&listener), rx, &self.stop);
                        next.push(Live {
                            addr,
                            listener,
                            router: Some(tx),
                            accept,
                        });
                    }
                },
                Service::Stream(up, srv) => {
                    if let Some(o) = old {
                        o.accept.abort();
                    }
                    let accept = shared.spawn_stream(Arc::clone(&listener), up, srv, &self.stop);
                    next.push(Live {
                        addr,
                        listener,
                        router: None,
                        accept,
                    });
                }
            }
        }
        // Addresses no longer configured: stop accepting; the socket closes with its loop.
        for gone in self.live.drain(..) {
            gone.accept.abort();
        }
        self.live = next;
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.live.iter().for_each(|l| l.accept.abort());
    }
}
