//! The VRRP loop, on its own OS thread with a current_thread runtime so that nothing else in
//! the process (proxy, scripts, logging bursts) can delay an advert or a master-down timer.
//!
//! Receive tasks (one per instance socket) forward packets over a channel; the loop waits with
//! `biased` select on packets, signals, then the earliest `next_deadline()` (`sleep_until` on
//! the `Instant`, so the wake-up is as precise as tokio's timer wheel: 1 ms).

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use drift_model::Config;
use drift_net::netlink::{self, NetEvent, Netlink};
use drift_net::raw::Received;
use drift_vrrp::wire::{Advert, ChecksumMode, PseudoHeader};
use drift_vrrp::{Action, Input, Instance, State};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use super::io::InstanceIo;
use super::scripts::{NotifyJob, ScriptStatus, Scripts};
use super::tracking::{self, Tracked};

/// Packets read per wake-up per socket.
const RX_BATCH: usize = 64;

/// Run the VRRP thread to completion (until SIGTERM/SIGINT). Blocks the calling thread.
pub fn spawn(config: Config) -> Result<std::thread::JoinHandle<Result<()>>> {
    std::thread::Builder::new()
        .name("vrrp".into())
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("build the VRRP thread's tokio runtime")?;
            rt.block_on(run(config))
        })
        .context("spawn the VRRP thread")
}

/// What every step needs besides the instance.
struct Ctx {
    nl: Netlink,
    scripts: Scripts,
}

struct Slot {
    io: InstanceIo,
    inst: Instance,
    links: Vec<Tracked>,
    scripts: Vec<Tracked>,
    notify: drift_model::Notify,
    base_priority: u8,
    /// What the state machine was last told.
    fault: bool,
    priority: u8,
}

async fn run(config: Config) -> Result<()> {
    // Signal handlers first, so a SIGTERM during setup is not fatal-by-default.
    let mut term = signal(SignalKind::terminate()).context("install SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("install SIGINT handler")?;
    let mut hup = signal(SignalKind::hangup()).context("install SIGHUP handler")?;

    let nl = Netlink::new().context("open rtnetlink")?;
    let (scripts, mut script_rx) = Scripts::start(config.vrrp_scripts.clone())?;
    // Subscribe before reading link states, so no change falls in between.
    let mut events = netlink::subscribe().context("subscribe to link events")?;
    let mut slots = Vec::new();
    for vi in &config.instances {
        let (io, inst) = InstanceIo::open(&nl, vi).await?;
        let mut links = tracking::tracked_links(vi);
        for l in &mut links {
            l.up = nl.link_by_name(&l.name).await.is_ok_and(|k| k.is_usable());
        }
        info!(
            "VRRP_Instance({}) on {} (index {}), source {}, vrid {}",
            vi.name, io.ifname, io.ifindex, io.primary, vi.virtual_router_id
        );
        slots.push(Slot {
            io,
            inst,
            links,
            scripts: tracking::tracked_scripts(vi, &config.vrrp_scripts),
            notify: vi.notify.clone(),
            base_priority: vi.priority,
            fault: false,
            priority: vi.priority,
        });
    }
    if slots.is_empty() {
        warn!("no vrrp_instance configured; waiting for a signal");
    }
    for s in &slots {
        s.io.remove_stale_vips(&nl).await;
    }

    let mut cx = Ctx { nl, scripts };

    let (tx, mut rx) = mpsc::unbounded_channel::<(usize, Received)>();
    let mut readers = Vec::new();
    for (i, s) in slots.iter().enumerate() {
        let sock = s.io.socket.clone();
        let tx = tx.clone();
        let name = s.io.name.clone();
        readers.push(tokio::spawn(async move {
            loop {
                match sock.recv_batch(RX_BATCH).await {
                    Ok(pkts) => {
                        for p in pkts {
                            if tx.send((i, p)).is_err() {
                                return;
                            }
                        }
                    }
                    Err(e) => {
                        warn!("VRRP_Instance({name}) receive error: {e}");
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                }
            }
        }));
    }
    drop(tx);

    let mut out = Vec::new();
    for s in &mut slots {
        step(&cx, s, Input::Startup, &mut out).await;
        retrack(&cx, s, &mut out).await;
    }

    loop {
        let deadline = slots.iter().filter_map(|s| s.inst.next_deadline()).min();
        let sleep_to = deadline
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600))
            .into();
        tokio::select! {
            biased;
            Some((i, pkt)) = rx.recv() => {
                if let Some(s) = slots.get_mut(i) {
                    if let Some(input) = packet_input(s.io.vrid(), &pkt) {
                        step(&cx, s, input, &mut out).await;
                    }
                }
            }
            Some(ev) = events.recv() => on_net_event(&cx, &mut slots, ev, &mut out).await,
            Some(st) = script_rx.recv() => on_script(&cx, &mut slots, st, &mut out).await,
            _ = term.recv() => { info!("SIGTERM: stopping"); break; }
            _ = int.recv() => { info!("SIGINT: stopping"); break; }
            _ = hup.recv() => warn!("SIGHUP: reload not yet supported, ignoring"),
            _ = tokio::time::sleep_until(sleep_to) => {
                let now = Instant::now();
                for s in &mut slots {
                    if s.inst.next_deadline().is_some_and(|d| d <= now) {
                        step(&cx, s, Input::Timer, &mut out).await;
                    }
                }
            }
        }
    }

    for r in &readers {
        r.abort();
    }
    for s in &mut slots {
        step(&cx, s, Input::Shutdown, &mut out).await;
    }
    cx.scripts.finish();
    info!("stopped");
    Ok(())
}

/// Feed one input and carry out the resulting actions.
async fn step(cx: &Ctx, s: &mut Slot, input: Input, out: &mut Vec<Action>) {
    out.clear();
    s.inst.handle(Instant::now(), input, out);
    s.io.apply(&cx.nl, out).await;
    for a in out.iter() {
        if let Action::Notify { state, priority } = a {
            let state = match state {
                State::Master => "MASTER",
                State::Backup => "BACKUP",
                State::Fault => "FAULT",
                State::Init => "STOP",
            };
            cx.scripts.notify(NotifyJob {
                instance: s.io.name.clone(),
                notify: s.notify.clone(),
                state,
                priority: *priority,
            });
        }
    }
    out.clear();
}

/// Tell the state machine about a changed fault condition or effective priority.
async fn retrack(cx: &Ctx, s: &mut Slot, out: &mut Vec<Action>) {
    let all: Vec<Tracked> = s.links.iter().chain(&s.scripts).cloned().collect();
    let (fault, prio) = tracking::evaluate(s.base_priority, &all);
    if fault != s.fault {
        s.fault = fault;
        if fault {
            let down: Vec<_> = s.links.iter().filter(|l| !l.up).map(|l| &l.name).collect();
            info!(
                "VRRP_Instance({}) tracked interface fault (down: {down:?})",
                s.io.name
            );
        }
        step(cx, s, Input::Fault(fault), out).await;
    }
    if prio != s.priority {
        info!(
            "VRRP_Instance({}) effective priority {} -> {prio}",
            s.io.name, s.priority
        );
        s.priority = prio;
        step(cx, s, Input::PriorityChange { effective: prio }, out).await;
    }
}

/// A track script flipped: update every instance that tracks it.
async fn on_script(cx: &Ctx, slots: &mut [Slot], st: ScriptStatus, out: &mut Vec<Action>) {
    for s in slots.iter_mut() {
        let mut changed = false;
        for t in s.scripts.iter_mut().filter(|t| t.name == st.name) {
            changed |= t.up != st.ok;
            t.up = st.ok;
        }
        if changed {
            retrack(cx, s, out).await;
        }
    }
}

/// Link up/down (keepalived: IFF_UP and IFF_RUNNING) for tracked interfaces.
async fn on_net_event(cx: &Ctx, slots: &mut [Slot], ev: NetEvent, out: &mut Vec<Action>) {
    let (name, up) = match ev {
        NetEvent::Link(l) => (Some(l.name.clone()), l.is_usable()),
        NetEvent::LinkRemoved(l) => (Some(l.name), false),
        NetEvent::Overrun => (None, false),
        NetEvent::AddrAdded(_) | NetEvent::AddrRemoved(_) => return,
    };
    for s in slots.iter_mut() {
        let mut changed = false;
        for l in &mut s.links {
            let now_up = match &name {
                Some(n) if *n == l.name => up,
                Some(_) => continue,
                // Notifications were lost: re-read every tracked link.
                None => cx
                    .nl
                    .link_by_name(&l.name)
                    .await
                    .is_ok_and(|k| k.is_usable()),
            };
            if now_up != l.up {
                info!(
                    "VRRP_Instance({}) tracked interface {} is {}",
                    s.io.name,
                    l.name,
                    if now_up { "up" } else { "down" }
                );
                l.up = now_up;
                changed = true;
            }
        }
        if changed {
            retrack(cx, s, out).await;
        }
    }
}

/// Turn a received packet into the instance's input, or None when it belongs to another VRID
/// (every socket on an interface sees every VRRP packet).
fn packet_input(vrid: u8, pkt: &Received) -> Option<Input> {
    let pkt_vrid = *pkt.payload.get(1)?;
    if pkt_vrid != vrid {
        return None;
    }
    let ph = PseudoHeader {
        src: pkt.src,
        dst: pkt.dst,
    };
    Some(
        match Advert::decode(&pkt.payload, &ph, ChecksumMode::PseudoHeader) {
            Ok(advert) => Input::Advert {
                src: pkt.src,
                ttl: pkt.ttl,
                advert,
            },
            Err(e) => {
                debug!("malformed VRRP packet from {}: {e}", pkt.src);
                Input::Malformed(e)
            }
        },
    )
}
