//! One running instance ("slot"): its state machine, its I/O, what it tracks, and how inputs
//! (packets, timers, link events, script results) are fed to it.

use std::cell::RefCell;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use drift_model::{SyncGroup, VrrpInstance};
use drift_net::netlink::{NetEvent, Netlink};
use drift_net::raw::{AsyncVrrpSocket, Family, Received, VrrpSocket, VrrpSocketConfig};
use drift_vrrp::wire::{Advert, ChecksumMode, PseudoHeader};
use drift_vrrp::{Action, Input, Instance, State};
use tokio::sync::mpsc::UnboundedSender;
use tracing::{debug, info, warn};

use super::instance_trackers::{self, TrackerDefs, TrackerUpdate, Trackers};
use super::io::InstanceIo;
use super::scripts::{NotifyJob, ScriptStatus, Scripts};
use super::tracking::{self, Tracked};

/// Packets read per wake-up per socket.
const RX_BATCH: usize = 64;

/// What every step needs besides the instance.
pub struct Ctx {
    pub nl: Netlink,
    pub scripts: Scripts,
    /// Receive tasks send `(slot id, packet)` here.
    pub pkt_tx: UnboundedSender<(u64, Received)>,
    /// Shared multicast receivers, by (ifindex, IPv6?); receiver `n` reports as
    /// `SHARED_BASE + n`. They live as long as the daemon, so a reload never loses one.
    pub shared: RefCell<Vec<(u32, bool)>>,
    /// What `drift status`, dumps and metrics read (written after each step).
    pub status: Arc<super::status::Hub>,
    /// The shared receivers' sockets, same order as `shared`, so that the VRRP loop can drain
    /// them itself before it judges a master-down timer (see `vrrp_thread::Daemon::drain`).
    pub shared_socks: RefCell<Vec<Arc<VrrpSocket>>>,
    /// Every instance's next deadline (see timer_queue.rs): each step re-schedules its slot.
    pub timers: RefCell<super::timer_queue::TimerQueue>,
}

/// Receive buffer of a shared receiver: room for about a second of adverts from 100
/// instances at 10 ms (a raw IPv4 advert costs about 800 bytes of buffer on a veth).
const SHARED_RCVBUF: usize = 8 << 20;

/// Reader ids at and above this are shared receivers, not slots.
pub const SHARED_BASE: u64 = 1 << 63;

pub struct Slot {
    pub id: u64,
    /// The configuration it runs, compared on reload.
    pub model: VrrpInstance,
    pub io: InstanceIo,
    pub inst: Instance,
    links: Vec<Tracked>,
    trackers: Trackers,
    base_priority: u8,
    /// The sync group it belongs to.
    pub group: Option<String>,
    /// What the state machine was last told.
    fault: bool,
    priority: u8,
    reader: tokio::task::JoinHandle<()>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

impl Slot {
    /// Open the instance's sockets, read its tracked links, remove VIPs a crashed run left
    /// behind, and start its receive task. The state machine is not started yet.
    pub async fn open(
        cx: &Ctx,
        id: u64,
        vi: &VrrpInstance,
        defs: &TrackerDefs,
        group: Option<&SyncGroup>,
    ) -> Result<Slot> {
        let (io, inst) = InstanceIo::open(&cx.nl, vi, group.is_some()).await?;
        let mut links = tracking::tracked_links(vi);
        let trackers = Trackers::for_instance(vi, group, defs);
        if let Some(g) = group {
            super::sync::unweight_member_links(&mut links, g);
            links.extend(tracking::group_trackers(g, &defs.scripts).0);
        }
        for l in &mut links {
            l.up = cx
                .nl
                .link_by_name(&l.name)
                .await
                .is_ok_and(|k| k.is_usable());
        }
        info!(
            "VRRP_Instance({}) on {} (index {}), source {}, vrid {}",
            vi.name, io.ifname, io.ifindex, io.primary, vi.virtual_router_id
        );
        io.remove_stale_vips(&cx.nl).await;
        if io.shared_rx {
            ensure_shared_reader(cx, &io)?;
        }
        let reader = spawn_reader(id, io.socket.clone(), io.name.clone(), cx.pkt_tx.clone());
        Ok(Slot {
            id,
            model: vi.clone(),
            io,
            inst,
            links,
            trackers,
            base_priority: vi.priority,
            group: group.map(|g| g.name.clone()),
            fault: false,
            priority: vi.priority,
            reader,
        })
    }

    /// Re-resolve the tracker references after the trackers changed (reload); the caller
    /// reconciles afterwards.
    pub fn set_trackers(&mut self, defs: &TrackerDefs, group: Option<&SyncGroup>) {
        self.trackers = Trackers::for_instance(&self.model, group, defs);
    }

    /// Take a new base priority from a reload without restarting: the caller's reconcile
    /// then feeds the new effective priority to the state machine like a tracker change.
    pub fn retune(&mut self, vi: &VrrpInstance) {
        info!(
            "VRRP_Instance({}) priority {} -> {} by reload, applied in place",
            vi.name, self.base_priority, vi.priority
        );
        self.base_priority = vi.priority;
        self.model = vi.clone();
    }

    /// (fault, effective priority) from this instance's own trackers.
    pub fn tracked_state(&self) -> (bool, u8) {
        instance_trackers::evaluate(self.base_priority, &self.links, &self.trackers)
    }

    /// Every up/down tracker with its kind, for status reports (track_file values are not
    /// up/down and are not listed).
    pub fn trackers(&self) -> impl Iterator<Item = (&'static str, &Tracked)> {
        let links = self.links.iter().map(|t| ("interface", t));
        links
            .chain(self.trackers.scripts.iter().map(|t| ("script", t)))
            .chain(self.trackers.processes.iter().map(|t| ("process", t)))
    }

    /// `track_file` trackers (a value, not up/down), for status reports.
    pub fn file_trackers(&self) -> &[super::instance_trackers::FileTracked] {
        &self.trackers.files
    }
}

/// One socket joined to the VRRP group per interface and family, read by one task. With a
/// joined socket per instance the kernel clones every advert into every instance's socket
/// (before any filter runs): with 100 instances at 10 ms that was 1,000,000 copies a second,
/// and on a veth pair the sender pays for them.
fn ensure_shared_reader(cx: &Ctx, io: &InstanceIo) -> Result<()> {
    let key = (io.ifindex, io.primary.is_ipv6());
    let mut shared = cx.shared.borrow_mut();
    if shared.contains(&key) {
        return Ok(());
    }
    let family = if key.1 { Family::V6 } else { Family::V4 };
    let cfg = VrrpSocketConfig::new(family, io.ifname.clone(), io.ifindex)
        .with_src(io.primary)
        .with_rcvbuf(SHARED_RCVBUF);
    let sock =
        VrrpSocket::open(cfg).with_context(|| format!("shared VRRP receiver on {}", io.ifname))?;
    let sock = Arc::new(sock);
    let id = SHARED_BASE + shared.len() as u64;
    shared.push(key);
    cx.shared_socks.borrow_mut().push(sock.clone());
    // Detached on purpose: it serves every instance on this interface for the daemon's life.
    drop(super::shared_rx::spawn(
        id,
        sock,
        format!("{} shared receiver", io.ifname),
        cx.pkt_tx.clone(),
    ));
    Ok(())
}

fn spawn_reader(
    id: u64,
    sock: Arc<AsyncVrrpSocket>,
    name: String,
    tx: UnboundedSender<(u64, Received)>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            match sock.recv_batch(RX_BATCH).await {
                Ok(pkts) => {
                    for p in pkts {
                        if tx.send((id, p)).is_err() {
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
    })
}

/// Feed one input and carry out the resulting actions.
pub async fn step(cx: &Ctx, s: &mut Slot, input: Input, out: &mut Vec<Action>) {
    step_at(cx, s, Instant::now(), input, out).await;
}

/// [`step`] at a given time: an advert is judged by when the kernel received it, not when the
/// VRRP thread got to it (RFC 5798 §6.4.2 resets Master_Down_Timer on receipt).
pub async fn step_at(cx: &Ctx, s: &mut Slot, now: Instant, input: Input, out: &mut Vec<Action>) {
    let (cause, state_before) = (super::status::Cause::of(&input), s.inst.state());
    out.clear();
    let before = s.inst.stats().drops;
    let preempts = s.inst.stats().lower_prio_preempt;
    let (src, shutdown) = match &input {
        Input::Advert { src, .. } => (Some(*src), false),
        i => (None, *i == Input::Shutdown),
    };
    s.inst.handle(now, input, out);
    let grown = super::drops::grown(&before, &s.inst.stats().drops);
    if !grown.is_empty() {
        debug!(
            "VRRP_Instance({}) dropped a packet from {src:?}: {grown:?}",
            s.io.name
        );
    }
    if s.inst.stats().lower_prio_preempt > preempts {
        info!(
            "VRRP_Instance({}) lower priority advert from {src:?}: taking over after skew time (preempt_immediate)",
            s.io.name
        );
    }
    if shutdown {
        info!("VRRP_Instance({}) stats: {:?}", s.io.name, s.inst.stats());
    }
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
                notify: s.model.notify.clone(),
                state,
                priority: *priority,
                group: false,
                smtp_alert: s.model.smtp_alert,
            });
        }
    }
    out.clear();
    cx.timers
        .borrow_mut()
        .schedule(s.id, s.inst.next_deadline());
    super::status::after_step(&cx.status, s, cause, state_before);
}

/// Tell the state machine about a changed fault condition or effective priority.
pub async fn tell(cx: &Ctx, s: &mut Slot, fault: bool, prio: u8, out: &mut Vec<Action>) {
    if fault != s.fault {
        s.fault = fault;
        if fault {
            let mut down: Vec<&str> = s
                .links
                .iter()
                .filter(|l| !l.up)
                .map(|l| l.name.as_str())
                .collect();
            down.extend(s.trackers.failing());
            info!(
                "VRRP_Instance({}) fault (failed trackers: {down:?}, sync group {:?})",
                s.io.name, s.group
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

/// A script-like tracker (track script, `track_upstream`) flipped (the caller reconciles).
pub fn on_script(slots: &mut [Slot], st: ScriptStatus) {
    on_tracker(
        slots,
        TrackerUpdate::Script {
            name: st.name,
            ok: st.ok,
        },
    );
}

/// A tracker (script, process, file) changed: update every instance that tracks it (the
/// caller reconciles).
pub fn on_tracker(slots: &mut [Slot], u: TrackerUpdate) {
    for s in slots.iter_mut() {
        s.trackers.apply(&u);
    }
}

/// Link up/down (keepalived: IFF_UP and IFF_RUNNING) for tracked interfaces (the caller
/// reconciles).
pub async fn on_net_event(cx: &Ctx, slots: &mut [Slot], ev: NetEvent) {
    let (name, up) = match ev {
        NetEvent::Link(l) => (Some(l.name.clone()), l.is_usable()),
        NetEvent::LinkRemoved(l) => (Some(l.name), false),
        NetEvent::Overrun => (None, false),
        NetEvent::AddrAdded(_) | NetEvent::AddrRemoved(_) => return,
    };
    for s in slots.iter_mut() {
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
            }
        }
    }
}

/// Turn a received packet into the instance's input, or None when it belongs to another VRID
/// (every socket on an interface sees every VRRP packet).
pub fn packet_input(vrid: u8, pkt: &Received) -> Option<Input> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use drift_net::raw::RxTime;
    use drift_vrrp::wire::{Addrs, AuthType, Version};
    use std::net::IpAddr;
    use std::time::SystemTime;

    fn received(payload: Vec<u8>) -> Received {
        Received {
            src: "10.0.0.1".parse().unwrap(),
            dst: "224.0.0.18".parse().unwrap(),
            ttl: 255,
            payload,
            time: RxTime {
                kernel: None,
                read_wall: SystemTime::now(),
                read_instant: Instant::now(),
            },
        }
    }

    fn advert_bytes(vrid: u8) -> Vec<u8> {
        let adv = Advert {
            version: Version::V2,
            vrid,
            priority: 100,
            adver_int_cs: 100,
            auth_type: AuthType::None,
            auth_data: [0; 8],
            addrs: Addrs::V4(vec!["10.0.0.110".parse().unwrap()]),
        };
        let ph = PseudoHeader {
            src: "10.0.0.1".parse::<IpAddr>().unwrap(),
            dst: "224.0.0.18".parse().unwrap(),
        };
        adv.to_bytes(&ph, ChecksumMode::PseudoHeader)
    }

    #[test]
    fn an_advert_for_the_instance_vrid_becomes_an_advert_input() {
        match packet_input(51, &received(advert_bytes(51))) {
            Some(Input::Advert { src, ttl, advert }) => {
                assert_eq!(src, "10.0.0.1".parse::<IpAddr>().unwrap());
                assert_eq!((ttl, advert.vrid, advert.priority), (255, 51, 100));
            }
            other => panic!("expected an advert, got {other:?}"),
        }
    }

    #[test]
    fn packets_of_other_vrids_and_too_short_ones_are_not_this_instances_business() {
        assert_eq!(packet_input(52, &received(advert_bytes(51))), None);
        assert_eq!(packet_input(51, &received(vec![0x21])), None);
    }

    #[test]
    fn a_corrupted_advert_is_counted_as_malformed() {
        let mut bytes = advert_bytes(51);
        bytes[6] ^= 0xff; // checksum
        assert!(matches!(
            packet_input(51, &received(bytes)),
            Some(Input::Malformed(_))
        ));
    }
}
