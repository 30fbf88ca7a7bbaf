//! nginx-style worker threads: the proxy on threads of its own, so that `drift run --proxy` can
//! put the VRRP engine on another thread that the proxy's load never delays. A running set of
//! workers can be given a new configuration ([`Reloader::reload`], what SIGHUP does).

use crate::reload::{Control, Worker};
use crate::shared::Shared;
use crate::{ProxyConfig, ProxyError, Result};
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle as ThreadHandle;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::reload::Reloader;

/// Running worker threads. [`Workers::stop`] (or drop) stops accepting and joins the threads.
pub struct Workers {
    stop: watch::Sender<bool>,
    threads: Vec<ThreadHandle<()>>,
    control: Arc<Control>,
}

/// Starts the proxy on `threads` worker threads plus one thread for health checks.
///
/// With `threads > 1` it works like nginx workers: each thread runs a single-threaded runtime
/// with its own `SO_REUSEPORT` listeners and upstream connection pools, so a request and its
/// upstream connection never hop between cores; balancer state, passive/active health and
/// metrics stay shared across threads. On a 2-core box this doubled throughput compared with one
/// work-stealing runtime, whose cross-thread wakeups cost more than they balance.
///
/// Every listener is bound (with IP_FREEBIND) before any thread starts, so a bad address is an
/// error here and not a log line later.
pub fn spawn_workers(cfg: ProxyConfig, threads: usize) -> Result<Workers> {
    let shared = Arc::new(Shared::new(cfg));
    let threads = threads.max(1);
    let reuseport = threads > 1;
    let (sets, bound) = crate::reload::bind_new(&shared, &[], threads, reuseport)?;
    let (stop, stop_rx) = watch::channel(false);
    let mut w = Workers {
        stop,
        threads: Vec::new(),
        control: Arc::new(Control::new(Arc::clone(&shared), bound, reuseport)),
    };
    let mut ctl = Vec::new();
    for (i, ls) in sets.into_iter().enumerate() {
        let (tx, rx) = mpsc::unbounded_channel();
        let sh = Arc::clone(&shared);
        w.spawn_thread(
            format!("drift-proxy-{i}"),
            &stop_rx,
            move |stop_rx| async move { Worker::new(stop_rx).run(sh, ls, rx).await },
        )?;
        ctl.push(tx);
    }
    let (health_tx, mut health_rx) = mpsc::unbounded_channel::<Arc<Shared>>();
    w.spawn_thread("drift-proxy-health".into(), &stop_rx, move |_| async move {
        let mut tasks: Vec<JoinHandle<()>> = shared.spawn_background();
        while let Some(next) = health_rx.recv().await {
            tasks.iter().for_each(JoinHandle::abort);
            tasks = next.spawn_background();
        }
        tasks.iter().for_each(JoinHandle::abort);
    })?;
    w.control.set_channels(ctl, health_tx);
    Ok(w)
}

impl Workers {
    /// One thread with a current_thread runtime running `body` until it ends or stop.
    fn spawn_thread<F, Fut>(
        &mut self,
        name: String,
        stop_rx: &watch::Receiver<bool>,
        body: F,
    ) -> Result<()>
    where
        F: FnOnce(watch::Receiver<bool>) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()>,
    {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(ProxyError::Runtime)?;
        let mut stop_rx = stop_rx.clone();
        let t = std::thread::Builder::new()
            .name(name)
            .spawn(move || {
                rt.block_on(async move {
                    let run = body(stop_rx.clone());
                    tokio::select! {
                        _ = run => {}
                        _ = stop_rx.wait_for(|s| *s) => {}
                    }
                })
            })
            .map_err(ProxyError::Runtime)?;
        self.threads.push(t);
        Ok(())
    }

    /// "Group NAME has a usable server", current value plus changes; None for an unknown name.
    /// Usable from any runtime (the VRRP thread's, for `track_upstream`). The channel outlives
    /// reloads that keep the group.
    pub fn upstream_watch(&self, name: &str) -> Option<watch::Receiver<bool>> {
        let sh = self.control.current();
        sh.http_upstreams
            .iter()
            .chain(&sh.stream_upstreams)
            .find(|u| u.name == name)
            .map(|u| u.watch())
    }

    /// A handle on every server's health and counters, for metrics and status pages.
    pub fn server_stats(&self) -> ServerStats {
        ServerStats {
            control: Arc::clone(&self.control),
        }
    }

    /// A handle that reloads these workers from any thread.
    pub fn reloader(&self) -> Reloader {
        Reloader::new(Arc::clone(&self.control))
    }

    /// Bound addresses (http listeners sorted by address, then stream); port 0 resolved.
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.control.local_addrs()
    }

    /// Stops accepting and health checks, and joins the threads (open connections are dropped
    /// with their runtime).
    pub fn stop(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        let _ = self.stop.send(true);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

/// Runs the proxy on its own threads (see [`spawn_workers`]) until SIGINT or SIGTERM; on
/// SIGHUP calls `on_hup`, which typically re-reads the file and calls [`Reloader::reload`].
pub fn run_blocking(
    cfg: ProxyConfig,
    threads: usize,
    mut on_hup: impl FnMut(&Reloader),
) -> Result<()> {
    let workers = spawn_workers(cfg, threads)?;
    let reloader = workers.reloader();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(ProxyError::Runtime)?;
    let res = rt.block_on(async {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).map_err(ProxyError::Signal)?;
        let mut hup = signal(SignalKind::hangup()).map_err(ProxyError::Signal)?;
        loop {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => break,
                _ = term.recv() => break,
                _ = hup.recv() => {
                    let r = reloader.clone();
                    // Reloading waits for the workers; keep this runtime's signal streams polled.
                    on_hup(&r);
                }
            }
        }
        Ok(())
    });
    workers.stop();
    res
}

/// Cloneable, thread-safe view of the servers' health and counters (reads atomics and takes
/// each upstream's peer lock briefly; never blocks the request path for long).
#[derive(Clone)]
pub struct ServerStats {
    control: Arc<Control>,
}

impl std::fmt::Debug for ServerStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServerStats")
    }
}

/// One server of one upstream group.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerReport {
    pub upstream: String,
    pub server: String,
    /// Usable now (active and passive health).
    pub healthy: bool,
    pub metrics: crate::metrics::MetricsSnapshot,
}

impl ServerStats {
    /// Every server of every group (http groups first, then stream), in config order, of the
    /// configuration running now (counters restart with a reload, as nginx's do).
    pub fn servers(&self) -> Vec<ServerReport> {
        let sh = self.control.current();
        let mut v = Vec::new();
        for u in sh.http_upstreams.iter().chain(&sh.stream_upstreams) {
            let health = u.health();
            for (i, (s, m)) in u.servers.iter().zip(&u.metrics).enumerate() {
                v.push(ServerReport {
                    upstream: u.name.clone(),
                    server: s.name.clone(),
                    healthy: health.get(i).is_some_and(|h| h.1),
                    metrics: m.snapshot(),
                });
            }
        }
        v
    }
}
