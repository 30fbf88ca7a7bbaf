//! The VRRP loop, on its own OS thread with a current_thread runtime so that nothing else in
//! the process (proxy, scripts, logging bursts) can delay an advert or a master-down timer.
//!
//! Receive tasks (one per instance socket) forward packets over a channel. Each turn of the
//! loop handles the queued packets (bounded), then the instances whose deadline has come (one
//! heap for all of them, timer_queue.rs; masters' adverts on a common phase grid, so that one
//! wake-up sends them all in one sendmmsg; see turn.rs), then waits with a `biased` select on
//! packets, link events, script results, signals, and the heap's earliest deadline (a
//! timerfd, precise_timer.rs: tokio's timer rounds up to the next millisecond).
//!
//! SIGHUP reloads the configuration like keepalived: a file with errors is refused and the
//! running configuration kept; instances whose configuration is unchanged keep running
//! untouched; a change of priority alone is applied in place (like a tracker weight, no flap);
//! removed or otherwise changed ones are stopped (priority-0 advert, VIPs removed) and changed
//! or new ones started fresh.

use std::cell::RefCell;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use drift_model::{Config, SyncGroup};
use drift_net::netlink::{self, Netlink};
use drift_net::raw::Received;
use drift_vrrp::{Action, Input};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc::{self, UnboundedReceiver};
use tracing::{error, info, warn};

use super::instance_trackers::TrackerUpdate;
use super::precise_timer::PreciseTimer;
use super::proxy::UpstreamFeed;
use super::reload;
use super::sched;
use super::scripts::{Scripts, Setup};
use super::send_batch::AdvertBatch;
use super::slot::{self, Ctx, Slot};
use super::status::{self, Hub, Phase};
use super::sync;
use super::timer_queue::TimerQueue;
use super::tracking;

mod turn;

/// Run the VRRP thread until SIGTERM/SIGINT.
pub fn spawn(
    path: PathBuf,
    config: Config,
    upstreams: UpstreamFeed,
    status: Arc<Hub>,
) -> Result<std::thread::JoinHandle<Result<()>>> {
    std::thread::Builder::new()
        .name("vrrp".into())
        .spawn(move || {
            let g = &config.global_defs;
            let rttime = g
                .extra
                .iter()
                .find(|e| e.key == "vrrp_rlimit_rttime")
                .and_then(|e| e.args.first()?.parse().ok());
            sched::apply(sched::Policy::from_config(
                g.vrrp_rt_priority,
                rttime,
                g.vrrp_priority,
            ));
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("build the VRRP thread's tokio runtime")?;
            rt.block_on(run(path, config, upstreams, status))
        })
        .context("spawn the VRRP thread")
}

struct Daemon {
    cx: Ctx,
    slots: Vec<Slot>,
    next_id: u64,
    script_rx: UnboundedReceiver<TrackerUpdate>,
    /// The running trackers' configuration, compared on reload.
    setup: Setup,
    groups: Vec<SyncGroup>,
    group_states: sync::GroupStates,
    out: Vec<Action>,
    adverts: AdvertBatch,
    /// Slot index by slot id (rebuilt when `slots` changes: startup, reload).
    index: std::collections::HashMap<u64, usize>,
    /// Instances due in this turn (reused, no allocation per turn).
    due: Vec<u64>,
    /// Origin of the advert phase grid: instances with equal intervals advertise together.
    anchor: Instant,
}

fn group_of<'a>(groups: &'a [SyncGroup], instance: &str) -> Option<&'a SyncGroup> {
    groups
        .iter()
        .find(|g| g.group.iter().any(|m| m == instance))
}

async fn run(
    path: PathBuf,
    config: Config,
    upstreams: UpstreamFeed,
    status: Arc<Hub>,
) -> Result<()> {
    // Signal handlers first, so a SIGTERM during setup is not fatal-by-default.
    let mut term = signal(SignalKind::terminate()).context("install SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("install SIGINT handler")?;
    let mut hup = signal(SignalKind::hangup()).context("install SIGHUP handler")?;

    let nl = Netlink::new().context("open rtnetlink")?;
    let setup = Setup::new(&config);
    let (scripts, script_rx) = Scripts::start(setup.clone())?;
    // Subscribe before reading link states, so no change falls in between.
    let mut events = netlink::subscribe().context("subscribe to link events")?;
    let (pkt_tx, mut pkt_rx) = mpsc::unbounded_channel::<(u64, Received)>();
    let mut d = Daemon {
        cx: Ctx {
            nl,
            scripts,
            pkt_tx,
            shared: Default::default(),
            status,
            shared_socks: Default::default(),
            timers: RefCell::new(TimerQueue::default()),
        },
        slots: Vec::new(),
        next_id: 0,
        script_rx,
        setup,
        groups: Vec::new(),
        group_states: Default::default(),
        out: Vec::new(),
        adverts: AdvertBatch::default(),
        index: Default::default(),
        due: Vec::new(),
        anchor: Instant::now(),
    };
    d.groups = config.sync_groups.clone();
    for vi in &config.instances {
        let g = group_of(&d.groups, &vi.name);
        let s = Slot::open(&d.cx, d.next_id, vi, &d.setup.defs, g).await?;
        d.next_id += 1;
        d.slots.push(s);
    }
    d.reindex();
    let mut upstream_rx = upstreams.start();
    upstreams.apply_current(&mut d.slots);
    if d.slots.is_empty() {
        warn!("no vrrp_instance configured; waiting for a signal");
    }
    if let Some(delay) = config.global_defs.vrrp_startup_delay {
        info!("vrrp_startup_delay: starting instances in {delay:?}");
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = term.recv() => { info!("SIGTERM during vrrp_startup_delay: stopping"); return Ok(()); }
            _ = int.recv() => { info!("SIGINT during vrrp_startup_delay: stopping"); return Ok(()); }
        }
    }
    for s in &mut d.slots {
        slot::step(&d.cx, s, Input::Startup, &mut d.out).await;
    }
    d.reconcile().await;
    d.cx.status.set_phase(Phase::Running);

    let mut timer = PreciseTimer::new().context("timerfd for the VRRP loop")?;
    loop {
        d.cx.status.beat();
        // Queued packets first (an advert that arrived before a deadline must count), bounded
        // so that a flood cannot starve the timers; then every expired timer.
        for _ in 0..MAX_PACKETS_PER_TURN {
            match pkt_rx.try_recv() {
                Ok((id, pkt)) => d.on_packet(id, &pkt).await,
                Err(_) => break,
            }
        }
        let now = Instant::now();
        sched::check(now);
        d.fire_due(now, &mut pkt_rx).await;
        // Whatever moved above (packets, timers, and the select branch of the last turn).
        sync::sync_groups(
            &d.cx,
            &mut d.slots,
            &d.groups,
            &mut d.group_states,
            &mut d.out,
        )
        .await;
        let deadline = d.cx.timers.borrow_mut().next_wake();
        // Wake at least every IDLE_WAKE so the heartbeat (systemd watchdog) stays fresh.
        let idle = Instant::now() + IDLE_WAKE;
        let sleep_to = deadline.map_or(idle, |t| t.min(idle));
        tokio::select! {
            biased;
            Some((id, pkt)) = pkt_rx.recv() => d.on_packet(id, &pkt).await,
            Some(ev) = events.recv() => {
                slot::on_net_event(&d.cx, &mut d.slots, ev).await;
                d.reconcile().await;
            }
            Some(st) = d.script_rx.recv() => {
                slot::on_tracker(&mut d.slots, st);
                d.reconcile().await;
            }
            Some(st) = upstream_rx.recv() => {
                slot::on_script(&mut d.slots, st);
                d.reconcile().await;
            }
            _ = term.recv() => { info!("SIGTERM: stopping"); break; }
            _ = int.recv() => { info!("SIGINT: stopping"); break; }
            _ = hup.recv() => {
                info!("SIGHUP: reloading {}", path.display());
                d.reload(&path).await;
                upstreams.apply_current(&mut d.slots);
                d.reconcile().await;
            }
            // Expired timers are handled at the top of the loop.
            r = timer.sleep_until(sleep_to) => {
                if let Err(e) = r {
                    warn!("VRRP timer: {e}");
                    tokio::time::sleep_until(sleep_to.into()).await;
                }
            }
        }
    }

    d.cx.status.set_phase(Phase::Stopping);
    for mut s in std::mem::take(&mut d.slots) {
        slot::step(&d.cx, &mut s, Input::Shutdown, &mut d.out).await;
    }
    sync::notify_stop(&d.cx, &d.groups, &d.group_states);
    d.cx.scripts.finish();
    info!("stopped");
    Ok(())
}

/// Longest sleep of the loop without any deadline.
const IDLE_WAKE: Duration = Duration::from_secs(1);

/// Packets handled before the timers get their turn again.
const MAX_PACKETS_PER_TURN: usize = 256;

impl Daemon {
    /// Bring every state machine in line with its trackers and its sync group: a member's
    /// FAULT faults the whole group.
    async fn reconcile(&mut self) {
        let own: Vec<(bool, u8)> = self
            .slots
            .iter()
            .map(|s| {
                let (fault, prio) = s.tracked_state();
                (fault || s.io.no_peer_fault, prio)
            })
            .collect();
        let faulted: Vec<String> = tracking::faulted_groups(
            self.slots
                .iter()
                .zip(&own)
                .map(|(s, o)| (s.group.as_deref(), o.0)),
        )
        .into_iter()
        .map(String::from)
        .collect();
        for (s, (fault, prio)) in self.slots.iter_mut().zip(own) {
            let group_fault = s.group.as_ref().is_some_and(|g| faulted.contains(g));
            slot::tell(&self.cx, s, fault || group_fault, prio, &mut self.out).await;
        }
        status::publish_all(&self.cx.status, &self.slots);
    }

    async fn reload(&mut self, path: &std::path::Path) {
        self.cx.status.set_phase(Phase::Reloading);
        let loaded = match drift_config::load(path) {
            Ok(l) => l,
            Err(e) => {
                error!("reload refused, keeping the running configuration: {e}");
                self.cx.status.reload_finished(format!("refused: {e}"));
                return;
            }
        };
        if !loaded.warnings.is_empty() {
            warn!("{}", loaded.rendered_warnings.trim_end());
        }
        let new = loaded.model;
        let setup = Setup::new(&new);
        let scripts_changed = setup != self.setup;
        if scripts_changed {
            // The old thread stops first: its FIFOs must be closed before the new one opens them.
            self.cx.scripts.finish();
            match Scripts::start(setup.clone()) {
                Ok((scripts, rx)) => {
                    self.cx.scripts = scripts;
                    self.script_rx = rx;
                    self.setup = setup;
                }
                Err(e) => error!("reload: cannot restart trackers: {e:#}"),
            }
        }
        let groups_changed = new.sync_groups != self.groups;
        self.groups = new.sync_groups.clone();
        let running: Vec<_> = self.slots.iter().map(|s| s.model.clone()).collect();
        let plan = reload::plan(&running, &new.instances);
        let mut kept = Vec::new();
        for mut s in std::mem::take(&mut self.slots) {
            let same_group =
                group_of(&self.groups, &s.model.name).map(|g| &g.name) == s.group.as_ref();
            let retune = plan.retune.iter().find(|v| v.name == s.model.name);
            if plan.keep.contains(&s.model.name) && same_group {
                kept.push(s);
            } else if let Some(vi) = retune.filter(|_| same_group) {
                s.retune(vi);
                kept.push(s);
            } else {
                info!(
                    "VRRP_Instance({}) removed or changed by reload: stopping",
                    s.model.name
                );
                slot::step(&self.cx, &mut s, Input::Shutdown, &mut self.out).await;
                self.cx.timers.borrow_mut().remove(s.id);
            }
        }
        if scripts_changed || groups_changed {
            for s in &mut kept {
                s.set_trackers(&self.setup.defs, group_of(&self.groups, &s.model.name));
            }
        }
        let kept_names: Vec<String> = kept.iter().map(|s| s.model.name.clone()).collect();
        let to_start = new
            .instances
            .iter()
            .filter(|vi| !kept_names.contains(&vi.name));
        for vi in to_start {
            let g = group_of(&self.groups, &vi.name);
            match Slot::open(&self.cx, self.next_id, vi, &self.setup.defs, g).await {
                Ok(mut s) => {
                    self.next_id += 1;
                    slot::step(&self.cx, &mut s, Input::Startup, &mut self.out).await;
                    kept.push(s);
                }
                Err(e) => error!("reload: VRRP_Instance({}) not started: {e:#}", vi.name),
            }
        }
        self.slots = kept;
        self.reindex();
        let live: Vec<u64> = self.slots.iter().map(|s| s.id).collect();
        self.adverts.retain(|id| live.contains(&id));
        self.reconcile().await;
        info!("reload done: {} instance(s) running", self.slots.len());
        let n = self.slots.len();
        self.cx
            .status
            .reload_finished(format!("ok: {n} instance(s) running"));
    }
}
