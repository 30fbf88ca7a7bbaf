//! The ops thread: everything an operator talks to, kept off the VRRP thread. It owns its own
//! current_thread runtime and serves the control socket, the admin port, keepalived's dump
//! signals (SIGUSR1, SIGUSR2, SIGRTMIN+2) and systemd notifications, reading the state the VRRP
//! thread publishes in the [`Hub`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use prometheus_client::registry::Registry;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::oneshot;
use tracing::{error, info, warn};

use super::dumps::{self, Dump};
use super::metrics::UpstreamSource;
use super::status::{Hub, Snapshot, UpstreamStatus};
use super::systemd::{self, Notifier};

/// What `drift run` was asked to serve.
#[derive(Debug, Clone)]
pub struct OpsOptions {
    /// None: no control socket.
    pub control_socket: Option<PathBuf>,
    pub dump_dir: PathBuf,
    /// None: no admin port (no metrics, no page).
    pub admin: Option<SocketAddr>,
}

/// What the readers read.
#[derive(Debug)]
pub struct Sources {
    pub hub: Arc<Hub>,
    pub upstreams: Option<Arc<dyn UpstreamSource>>,
    pub registry: Registry,
}

impl Sources {
    pub fn new(hub: Arc<Hub>, upstreams: Option<Arc<dyn UpstreamSource>>) -> Sources {
        let registry = super::metrics::registry(hub.clone(), upstreams.clone(), Vec::new());
        Sources {
            hub,
            upstreams,
            registry,
        }
    }

    /// The VRRP state plus, when a proxy runs, its servers.
    pub fn snapshot(&self) -> Snapshot {
        let mut s = self.hub.snapshot();
        if let Some(u) = &self.upstreams {
            s.upstreams = u
                .upstreams()
                .into_iter()
                .map(|r| UpstreamStatus {
                    upstream: r.upstream,
                    server: r.server,
                    healthy: r.healthy,
                    requests: r.requests,
                    errors: r.errors,
                })
                .collect();
        }
        s
    }
}

/// The running ops thread; [`Ops::stop`] ends it (after telling systemd STOPPING=1).
pub struct Ops {
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Ops {
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Ops {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// keepalived's JSON dump signal: SIGRTMIN+2 (`keepalived --signum=JSON` prints 36 with glibc).
pub fn json_signal() -> i32 {
    libc::SIGRTMIN() + 2
}

/// keepalived's STATS_CLEAR signal: SIGRTMAX-1 (63 with glibc).
pub fn stats_clear_signal() -> i32 {
    libc::SIGRTMAX() - 1
}

/// Start the thread; returns once the signal handlers are installed and the ports bound (a
/// dump signal arriving after this is handled, not fatal).
pub fn start(
    hub: Arc<Hub>,
    opts: OpsOptions,
    upstreams: Option<Arc<dyn UpstreamSource>>,
) -> Result<Ops> {
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<()>>();
    let (stop_tx, stop_rx) = oneshot::channel();
    let thread = std::thread::Builder::new()
        .name("ops".into())
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = ready_tx.send(Err(anyhow!("build the ops runtime: {e}")));
                    return;
                }
            };
            let src = Arc::new(Sources::new(hub, upstreams));
            rt.block_on(async move {
                if let Err(e) = serve(src, opts, ready_tx.clone(), stop_rx).await {
                    let _ = ready_tx.send(Err(e));
                }
            });
        })
        .context("spawn the ops thread")?;
    match ready_rx.recv_timeout(Duration::from_secs(10)) {
        Ok(Ok(())) => Ok(Ops {
            stop: Some(stop_tx),
            thread: Some(thread),
        }),
        Ok(Err(e)) => {
            let _ = thread.join();
            Err(e)
        }
        Err(_) => Err(anyhow!("the ops thread did not start within 10 s")),
    }
}

async fn serve(
    src: Arc<Sources>,
    opts: OpsOptions,
    ready: std::sync::mpsc::Sender<Result<()>>,
    mut stop: oneshot::Receiver<()>,
) -> Result<()> {
    let mut usr1 = signal(SignalKind::user_defined1()).context("install SIGUSR1 handler")?;
    let mut usr2 = signal(SignalKind::user_defined2()).context("install SIGUSR2 handler")?;
    let mut clear =
        signal(SignalKind::from_raw(stats_clear_signal())).context("install SIGRTMAX-1 handler")?;
    let mut json =
        signal(SignalKind::from_raw(json_signal())).context("install SIGRTMIN+2 handler")?;
    let admin = match opts.admin {
        Some(a) => {
            let l = tokio::net::TcpListener::bind(a)
                .await
                .with_context(|| format!("admin port {a}"))?;
            info!(
                "admin port on http://{} (/, /status.json, /metrics)",
                l.local_addr().unwrap_or(a)
            );
            Some(l)
        }
        None => None,
    };
    let mut control = None;
    if let Some(path) = &opts.control_socket {
        match super::control::bind(path) {
            Ok(Some(l)) => {
                control = Some((
                    tokio::net::UnixListener::from_std(l).context("register control socket")?,
                    path.clone(),
                ));
                info!("control socket {}", path.display());
            }
            Ok(None) => {}
            Err(e) => warn!("no control socket: {e:#}"),
        }
    }
    let mut life = src.hub.lifecycle();
    let mut notifier = Notifier::default();
    let watchdog = systemd::watchdog_interval();
    let mut tick = tokio::time::interval(watchdog.unwrap_or(Duration::from_secs(3600)));
    let _ = ready.send(Ok(()));
    loop {
        tokio::select! {
            _ = &mut stop => break,
            Ok(()) = life.changed() => {
                let l = *life.borrow_and_update();
                notifier.on_change(l, src.hub.snapshot().instances.len());
            }
            Some(()) = usr1.recv() => dump(&src, &opts, Dump::Data, "SIGUSR1"),
            Some(()) = usr2.recv() => dump(&src, &opts, Dump::Stats, "SIGUSR2"),
            Some(()) = json.recv() => dump(&src, &opts, Dump::Json, "SIGRTMIN+2"),
            Some(()) = clear.recv() => {
                src.hub.clear_stats();
                info!("SIGRTMAX-1 (STATS_CLEAR): counters cleared");
            }
            Ok((s, _)) = accept_unix(&control) => {
                let src = src.clone();
                tokio::spawn(async move { super::control::serve_one(s, &src).await });
            }
            Ok((s, _)) = accept_tcp(&admin) => {
                let src = src.clone();
                tokio::spawn(async move { super::admin::serve_one(s, &src).await });
            }
            _ = tick.tick(), if watchdog.is_some() => {
                if let Some(period) = watchdog {
                    systemd::ping_if_alive(src.hub.heartbeat_age(), period);
                }
            }
        }
    }
    let l = *life.borrow();
    notifier.on_change(l, 0);
    if !notifier.stopping_told() {
        notifier.on_change(
            super::status::Lifecycle {
                phase: super::status::Phase::Stopping,
                ..l
            },
            0,
        );
    }
    if let Some((_, path)) = control {
        let _ = std::fs::remove_file(path);
    }
    Ok(())
}

async fn accept_unix(
    l: &Option<(tokio::net::UnixListener, PathBuf)>,
) -> std::io::Result<(tokio::net::UnixStream, tokio::net::unix::SocketAddr)> {
    match l {
        Some((l, _)) => l.accept().await,
        None => std::future::pending().await,
    }
}

async fn accept_tcp(
    l: &Option<tokio::net::TcpListener>,
) -> std::io::Result<(tokio::net::TcpStream, SocketAddr)> {
    match l {
        Some(l) => l.accept().await,
        None => std::future::pending().await,
    }
}

fn dump(src: &Sources, opts: &OpsOptions, d: Dump, sig: &str) {
    match dumps::write(&opts.dump_dir, d, &src.snapshot()) {
        Ok(p) => info!("{sig}: wrote {}", p.display()),
        Err(e) => error!("{sig}: {e:#}"),
    }
}
