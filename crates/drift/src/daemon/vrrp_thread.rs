//! The VRRP loop, on its own OS thread with a current_thread runtime so that nothing else in
//! the process (proxy, scripts, logging bursts) can delay an advert or a master-down timer.
//!
//! Receive tasks (one per instance socket) forward packets over a channel; the loop waits with
//! `biased` select on packets, link events, script results, signals, then the earliest
//! `next_deadline()` (`sleep_until` on the `Instant`: tokio's timer has 1 ms resolution).
//!
//! SIGHUP reloads the configuration like keepalived: a file with errors is refused and the
//! running configuration kept; instances whose configuration is unchanged keep running
//! untouched; removed or changed ones are stopped (priority-0 advert, VIPs removed) and changed
//! or new ones started fresh.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use drift_model::{Config, VrrpScript};
use drift_net::netlink::{self, Netlink};
use drift_net::raw::Received;
use drift_vrrp::{Action, Input};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc::{self, UnboundedReceiver};
use tracing::{error, info, warn};

use super::reload;
use super::scripts::{ScriptStatus, Scripts};
use super::slot::{self, Ctx, Slot};

/// Run the VRRP thread until SIGTERM/SIGINT.
pub fn spawn(path: PathBuf, config: Config) -> Result<std::thread::JoinHandle<Result<()>>> {
    std::thread::Builder::new()
        .name("vrrp".into())
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("build the VRRP thread's tokio runtime")?;
            rt.block_on(run(path, config))
        })
        .context("spawn the VRRP thread")
}

struct Daemon {
    cx: Ctx,
    slots: Vec<Slot>,
    next_id: u64,
    script_rx: UnboundedReceiver<ScriptStatus>,
    scripts: Vec<VrrpScript>,
    out: Vec<Action>,
}

async fn run(path: PathBuf, config: Config) -> Result<()> {
    // Signal handlers first, so a SIGTERM during setup is not fatal-by-default.
    let mut term = signal(SignalKind::terminate()).context("install SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("install SIGINT handler")?;
    let mut hup = signal(SignalKind::hangup()).context("install SIGHUP handler")?;

    let nl = Netlink::new().context("open rtnetlink")?;
    let (scripts, script_rx) = Scripts::start(config.vrrp_scripts.clone())?;
    // Subscribe before reading link states, so no change falls in between.
    let mut events = netlink::subscribe().context("subscribe to link events")?;
    let (pkt_tx, mut pkt_rx) = mpsc::unbounded_channel::<(u64, Received)>();
    let mut d = Daemon {
        cx: Ctx {
            nl,
            scripts,
            pkt_tx,
        },
        slots: Vec::new(),
        next_id: 0,
        script_rx,
        scripts: config.vrrp_scripts.clone(),
        out: Vec::new(),
    };
    for vi in &config.instances {
        let s = Slot::open(&d.cx, d.next_id, vi, &d.scripts).await?;
        d.next_id += 1;
        d.slots.push(s);
    }
    if d.slots.is_empty() {
        warn!("no vrrp_instance configured; waiting for a signal");
    }
    for s in &mut d.slots {
        s.start(&d.cx, &mut d.out).await;
    }

    loop {
        let deadline = d.slots.iter().filter_map(|s| s.inst.next_deadline()).min();
        let sleep_to = deadline
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600))
            .into();
        tokio::select! {
            biased;
            Some((id, pkt)) = pkt_rx.recv() => {
                if let Some(s) = d.slots.iter_mut().find(|s| s.id == id) {
                    if let Some(input) = slot::packet_input(s.io.vrid(), &pkt) {
                        slot::step(&d.cx, s, input, &mut d.out).await;
                    }
                }
            }
            Some(ev) = events.recv() => {
                slot::on_net_event(&d.cx, &mut d.slots, ev, &mut d.out).await;
            }
            Some(st) = d.script_rx.recv() => {
                slot::on_script(&d.cx, &mut d.slots, st, &mut d.out).await;
            }
            _ = term.recv() => { info!("SIGTERM: stopping"); break; }
            _ = int.recv() => { info!("SIGINT: stopping"); break; }
            _ = hup.recv() => {
                info!("SIGHUP: reloading {}", path.display());
                d.reload(&path).await;
            }
            _ = tokio::time::sleep_until(sleep_to) => {
                let now = Instant::now();
                for s in &mut d.slots {
                    if s.inst.next_deadline().is_some_and(|t| t <= now) {
                        slot::step(&d.cx, s, Input::Timer, &mut d.out).await;
                    }
                }
            }
        }
    }

    for mut s in std::mem::take(&mut d.slots) {
        slot::step(&d.cx, &mut s, Input::Shutdown, &mut d.out).await;
    }
    d.cx.scripts.finish();
    info!("stopped");
    Ok(())
}

impl Daemon {
    async fn reload(&mut self, path: &std::path::Path) {
        let loaded = match drift_config::load(path) {
            Ok(l) => l,
            Err(e) => {
                error!("reload refused, keeping the running configuration: {e}");
                return;
            }
        };
        if !loaded.warnings.is_empty() {
            warn!("{}", loaded.rendered_warnings.trim_end());
        }
        let new = loaded.model;
        let scripts_changed = new.vrrp_scripts != self.scripts;
        if scripts_changed {
            match Scripts::start(new.vrrp_scripts.clone()) {
                Ok((scripts, rx)) => {
                    let mut old = std::mem::replace(&mut self.cx.scripts, scripts);
                    old.finish();
                    self.script_rx = rx;
                    self.scripts = new.vrrp_scripts.clone();
                }
                Err(e) => error!("reload: cannot restart track scripts: {e:#}"),
            }
        }
        let running: Vec<_> = self.slots.iter().map(|s| s.model.clone()).collect();
        let plan = reload::plan(&running, &new.instances);
        let mut kept = Vec::new();
        for mut s in std::mem::take(&mut self.slots) {
            if plan.keep.contains(&s.model.name) {
                kept.push(s);
            } else {
                info!(
                    "VRRP_Instance({}) removed or changed by reload: stopping",
                    s.model.name
                );
                slot::step(&self.cx, &mut s, Input::Shutdown, &mut self.out).await;
            }
        }
        if scripts_changed {
            for s in &mut kept {
                s.set_scripts(&self.cx, &self.scripts, &mut self.out).await;
            }
        }
        for vi in plan.start {
            match Slot::open(&self.cx, self.next_id, vi, &self.scripts).await {
                Ok(mut s) => {
                    self.next_id += 1;
                    s.start(&self.cx, &mut self.out).await;
                    kept.push(s);
                }
                Err(e) => error!("reload: VRRP_Instance({}) not started: {e:#}", vi.name),
            }
        }
        self.slots = kept;
        info!("reload done: {} instance(s) running", self.slots.len());
    }
}
