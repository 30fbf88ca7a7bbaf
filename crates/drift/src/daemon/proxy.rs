//! `drift run --proxy nginx.conf`: the load balancer in the daemon's process, on worker threads
//! of its own (the VRRP thread never shares a runtime with it), and its upstream health as VRRP
//! trackers (`track_upstream`, a drift extension).
//!
//! A `track_upstream NAME` reference is a tracker like a track_script whose "script" is "the
//! upstream group NAME has a usable server" (after passive and active health). It reaches the
//! VRRP thread as a [`ScriptStatus`] named `upstream NAME` (a space cannot occur in a
//! vrrp_script name), so it uses the script path: `on_script`, then reconcile.

use std::path::Path;

use anyhow::{anyhow, bail, Result};
use drift_model::Config;
use tokio::sync::{mpsc, watch};
use tracing::{error, info, warn};

use super::scripts::ScriptStatus;
use super::slot::{self, Slot};

/// The tracker name a `track_upstream NAME` reference gets.
pub fn tracker_name(upstream: &str) -> String {
    format!("upstream {upstream}")
}

/// The upstream names the instances track, each once, in config order.
pub fn tracked_names(model: &Config) -> Vec<&str> {
    let mut v: Vec<&str> = Vec::new();
    for t in model.instances.iter().flat_map(|i| &i.track_upstream) {
        if !v.contains(&t.name.as_str()) {
            v.push(&t.name);
        }
    }
    v
}

/// Tracked names the proxy configuration does not define (`known`: its upstream groups).
pub fn unknown_names<'a>(model: &'a Config, known: &[&str]) -> Vec<&'a str> {
    tracked_names(model)
        .into_iter()
        .filter(|n| !known.contains(n))
        .collect()
}

/// The proxy's worker threads plus the health signals the VRRP thread tracks.
pub struct RunningProxy {
    pub workers: drift_proxy::Workers,
    pub feed: UpstreamFeed,
    /// Dropping it ends the SIGHUP reload thread.
    _reload: watch::Sender<()>,
}

/// Reads, checks and starts the proxy; every `track_upstream` must name one of its groups.
/// Listeners are bound (IP_FREEBIND) before this returns, so a backup already listens on VIPs
/// it does not hold yet.
pub fn start(path: &Path, workers: usize, model: &Config) -> Result<RunningProxy> {
    let cfg = drift_proxy::check_file(path)
        .map_err(|d| anyhow!("{}: {}", path.display(), drift_proxy::render_all(&d)))?;
    let unknown = unknown_names(model, &cfg.upstream_names());
    if !unknown.is_empty() {
        bail!(
            "track_upstream names {unknown:?}, which {} does not define",
            path.display()
        );
    }
    let names: Vec<String> = tracked_names(model).into_iter().map(String::from).collect();
    let workers = if workers == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        workers
    };
    let w = drift_proxy::spawn_workers(cfg, workers)
        .map_err(|e| anyhow!("proxy {}: {e}", path.display()))?;
    info!(
        "proxy from {} on {workers} worker thread(s), listening on {:?}",
        path.display(),
        w.local_addrs()
    );
    let reload = spawn_reloader(path, &w, names.clone())?;
    let watches = names
        .into_iter()
        .filter_map(|n| w.upstream_watch(&n).map(|rx| (n, rx)))
        .collect();
    Ok(RunningProxy {
        workers: w,
        feed: UpstreamFeed { watches },
        _reload: reload,
    })
}

/// SIGHUP re-reads the nginx file on a thread of its own (the VRRP thread, which re-reads
/// keepalived.conf on the same signal, never waits for the proxy). A file with errors, or one
/// that drops a group some `track_upstream` follows, is refused and the running proxy stays.
/// Tracked groups keep their health channel across the reload, so the VRRP side sees no change.
fn spawn_reloader(
    path: &Path,
    w: &drift_proxy::Workers,
    tracked: Vec<String>,
) -> Result<watch::Sender<()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    // Installed before this returns: a SIGHUP from now on reloads, never kills.
    let mut hup = {
        let _g = rt.enter();
        signal(SignalKind::hangup())?
    };
    let (tx, mut done) = watch::channel(());
    let (path, reloader) = (path.to_path_buf(), w.reloader());
    std::thread::Builder::new()
        .name("drift-proxy-reload".into())
        .spawn(move || {
            rt.block_on(async move {
                loop {
                    tokio::select! {
                        _ = done.changed() => return,
                        _ = hup.recv() => {}
                    }
                    let accept = |cfg: &drift_proxy::ProxyConfig| {
                        let known = cfg.upstream_names();
                        let gone: Vec<&String> = tracked
                            .iter()
                            .filter(|t| !known.contains(&t.as_str()))
                            .collect();
                        if gone.is_empty() {
                            Ok(())
                        } else {
                            Err(format!(
                                "track_upstream follows {gone:?}, which it no longer defines"
                            ))
                        }
                    };
                    match reloader.reload_file(&path, accept) {
                        Ok(r) => info!(
                            "SIGHUP: proxy reloaded {} (listeners added {:?}, removed {:?})",
                            path.display(),
                            r.added,
                            r.removed
                        ),
                        Err(e) => error!("SIGHUP: proxy {e}"),
                    }
                }
            })
        })?;
    Ok(tx)
}

impl RunningProxy {
    /// The servers as metrics, `drift status` and the admin page show them.
    pub fn upstream_source(&self) -> std::sync::Arc<dyn super::metrics::UpstreamSource> {
        std::sync::Arc::new(ProxyServers(self.workers.server_stats()))
    }
}

/// [`drift_proxy::ServerStats`] as an [`super::metrics::UpstreamSource`].
#[derive(Debug)]
struct ProxyServers(drift_proxy::ServerStats);

impl super::metrics::UpstreamSource for ProxyServers {
    fn upstreams(&self) -> Vec<super::metrics::UpstreamReport> {
        self.0
            .servers()
            .into_iter()
            .map(|r| super::metrics::UpstreamReport {
                upstream: r.upstream,
                server: r.server,
                healthy: r.healthy,
                requests: r.metrics.requests,
                errors: r.metrics.errors,
                active: r.metrics.active,
                pipelined: r.metrics.pipelined,
                latency_sum: r.metrics.latency_us_sum as f64 / 1e6,
                latency_buckets: drift_proxy::metrics::LATENCY_BOUNDS_S
                    .iter()
                    .copied()
                    .zip(r.metrics.latency_buckets)
                    .collect(),
            })
            .collect()
    }
}

/// Without `--proxy` a `track_upstream` could never change: refuse it rather than ignore it.
pub fn require_no_tracking(model: &Config) -> Result<()> {
    let names = tracked_names(model);
    if !names.is_empty() {
        bail!("track_upstream {names:?} needs the proxy: run with --proxy nginx.conf");
    }
    Ok(())
}

/// "Group has a usable server" signals for the VRRP thread (empty without a proxy).
#[derive(Default)]
pub struct UpstreamFeed {
    watches: Vec<(String, watch::Receiver<bool>)>,
}

impl UpstreamFeed {
    /// Forwards every change as a [`ScriptStatus`], from tasks on the calling (VRRP) runtime.
    pub fn start(&self) -> mpsc::UnboundedReceiver<ScriptStatus> {
        let (tx, rx) = mpsc::unbounded_channel();
        for (name, w) in &self.watches {
            let (tx, mut w, name) = (tx.clone(), w.clone(), name.clone());
            tokio::spawn(async move {
                while w.changed().await.is_ok() {
                    let ok = *w.borrow_and_update();
                    info!(
                        "upstream {name}: {}",
                        if ok {
                            "has a usable server"
                        } else {
                            "no usable server"
                        }
                    );
                    let st = ScriptStatus {
                        name: tracker_name(&name),
                        ok,
                    };
                    if tx.send(st).is_err() {
                        return;
                    }
                }
            });
        }
        rx
    }

    /// Sets every tracker to the proxy's current verdict: at startup and after a reload, which
    /// rebuilds trackers in their initial (usable) state. The caller reconciles. A reload may
    /// name a group the proxy (not reloaded) does not have: that tracker could never change, so
    /// say so.
    pub fn apply_current(&self, slots: &mut [Slot]) {
        for s in slots.iter() {
            for t in &s.model.track_upstream {
                if !self.watches.iter().any(|(n, _)| *n == t.name) {
                    warn!(
                        "VRRP_Instance({}) track_upstream {}: no such upstream group in the \
                         running proxy; the tracker stays up",
                        s.model.name, t.name
                    );
                }
            }
        }
        for (name, w) in &self.watches {
            let ok = *w.borrow();
            slot::on_script(
                slots,
                ScriptStatus {
                    name: tracker_name(name),
                    ok,
                },
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use drift_model::{TrackRef, VrrpInstance};

    fn model(refs: &[&[&str]]) -> Config {
        let mut c = Config::default();
        for (i, names) in refs.iter().enumerate() {
            let mut vi = VrrpInstance::new(format!("VI_{i}"), 1 + i as u8);
            vi.track_upstream = names
                .iter()
                .map(|n| TrackRef {
                    name: (*n).into(),
                    weight: None,
                    reverse: false,
                })
                .collect();
            c.instances.push(vi);
        }
        c
    }

    #[test]
    fn tracked_names_are_listed_once_in_config_order() {
        let m = model(&[&["web", "api"], &["api", "tcp"]]);
        assert_eq!(tracked_names(&m), vec!["web", "api", "tcp"]);
    }

    #[test]
    fn names_the_proxy_does_not_define_are_reported() {
        let m = model(&[&["web", "wbe"]]);
        assert_eq!(unknown_names(&m, &["web", "api"]), vec!["wbe"]);
        assert!(unknown_names(&m, &["web", "wbe"]).is_empty());
    }

    #[test]
    fn tracking_an_upstream_without_a_proxy_is_refused() {
        assert!(require_no_tracking(&model(&[&["web"]])).is_err());
        assert!(require_no_tracking(&model(&[&[]])).is_ok());
    }

    #[test]
    fn a_tracker_name_cannot_collide_with_a_vrrp_script_name() {
        assert!(tracker_name("web").contains(' '));
    }
}
