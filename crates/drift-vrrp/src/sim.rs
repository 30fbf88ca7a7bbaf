//! Deterministic LAN simulation (ARCHITECTURE.md pattern 4, after quinn-proto's `tests/util.rs`
//! `Pair`): N instances on one broadcast segment, a virtual clock that jumps to the next event,
//! per-link latency with jitter, seeded loss, partitions, crashes and restarts. Adverts go
//! through the real codec (emit with the pseudo-header, decode on receipt), so a codec/core
//! mismatch shows up here as well. Thousands of seeds run in well under a second of CPU each.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::instance::{Action, Input, Instance, State};
use crate::wire::{Advert, ChecksumMode, PseudoHeader};
use crate::InstanceConfig;

pub type NodeId = usize;

/// The same for every pair of nodes; `loss` is a probability in 0.0..=1.0 per delivery.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinkModel {
    pub latency: Duration,
    /// Uniform extra delay in `0..jitter` per delivery.
    pub jitter: Duration,
    pub loss: f64,
}

impl Default for LinkModel {
    fn default() -> Self {
        LinkModel {
            latency: Duration::from_micros(200),
            jitter: Duration::ZERO,
            loss: 0.0,
        }
    }
}

struct Node {
    cfg: InstanceConfig,
    inst: Instance,
    up: bool,
    holds_vips: bool,
    gratuitous_sent: u64,
    history: Vec<(Duration, State)>,
}

#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct Delivery {
    at: Instant,
    seq: u64,
    to: NodeId,
    src: IpAddr,
    dst: IpAddr,
    bytes: Vec<u8>,
}

pub struct Lan {
    start: Instant,
    now: Instant,
    nodes: Vec<Node>,
    wire: BinaryHeap<Reverse<Delivery>>,
    seq: u64,
    pub link: LinkModel,
    /// Partition group per node; nodes talk only within a group. None = fully connected.
    groups: Option<Vec<usize>>,
    rng: StdRng,
    out: Vec<Action>,
    /// Last scheduled arrival per (from, to): a LAN link does not reorder, so jitter never
    /// lets a later advert overtake an earlier one (e.g. a priority-0 advert).
    last_arrival: std::collections::HashMap<(NodeId, NodeId), Instant>,
    /// Packets the receiving codec rejected: must stay zero.
    pub decode_errors: u64,
}

const MCAST4: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);
const MCAST6: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12);

impl Lan {
    pub fn new(seed: u64, link: LinkModel) -> Lan {
        let start = Instant::now();
        Lan {
            start,
            now: start,
            nodes: vec![],
            wire: BinaryHeap::new(),
            seq: 0,
            link,
            groups: None,
            rng: StdRng::seed_from_u64(seed),
            out: vec![],
            last_arrival: Default::default(),
            decode_errors: 0,
        }
    }

    /// Adds a node, not yet started (see [`Lan::start`]).
    pub fn add(&mut self, cfg: InstanceConfig) -> NodeId {
        let inst = Instance::new(cfg.clone(), self.now);
        self.nodes.push(Node {
            cfg,
            inst,
            up: false,
            holds_vips: false,
            gratuitous_sent: 0,
            history: vec![],
        });
        self.nodes.len() - 1
    }

    pub fn start(&mut self, id: NodeId) {
        self.nodes[id].inst = Instance::new(self.nodes[id].cfg.clone(), self.now);
        self.nodes[id].up = true;
        self.feed(id, Input::Startup);
    }

    /// Power loss: no priority-0 advert, VIPs gone with the machine.
    pub fn crash(&mut self, id: NodeId) {
        let n = &mut self.nodes[id];
        n.up = false;
        n.holds_vips = false;
    }

    /// Clean stop (keepalived SIGTERM): priority-0 advert if master.
    pub fn shutdown(&mut self, id: NodeId) {
        self.feed(id, Input::Shutdown);
        self.nodes[id].up = false;
    }

    pub fn set_priority(&mut self, id: NodeId, effective: u8) {
        self.feed(id, Input::PriorityChange { effective });
    }

    pub fn fault(&mut self, id: NodeId, fault: bool) {
        self.feed(id, Input::Fault(fault));
    }

    /// Splits the LAN; nodes not listed form one more group together.
    pub fn partition(&mut self, groups: &[&[NodeId]]) {
        let mut g = vec![groups.len(); self.nodes.len()];
        for (i, members) in groups.iter().enumerate() {
            for &m in *members {
                g[m] = i;
            }
        }
        self.groups = Some(g);
    }

    pub fn heal(&mut self) {
        self.groups = None;
    }

    fn connected(&self, a: NodeId, b: NodeId) -> bool {
        match &self.groups {
            None => true,
            Some(g) => g[a] == g[b],
        }
    }

    /// Time since the LAN was created.
    pub fn elapsed(&self) -> Duration {
        self.now - self.start
    }

    pub fn instance(&self, id: NodeId) -> &Instance {
        &self.nodes[id].inst
    }

    pub fn is_up(&self, id: NodeId) -> bool {
        self.nodes[id].up
    }

    /// Running nodes in Master state.
    pub fn masters(&self) -> Vec<NodeId> {
        (0..self.nodes.len())
            .filter(|&i| self.nodes[i].up && self.nodes[i].inst.state() == State::Master)
            .collect()
    }

    /// Running nodes that have the VIPs configured.
    pub fn vip_holders(&self) -> Vec<NodeId> {
        (0..self.nodes.len())
            .filter(|&i| self.nodes[i].up && self.nodes[i].holds_vips)
            .collect()
    }

    /// Every state change of a node, as (time since creation, new state).
    pub fn history(&self, id: NodeId) -> &[(Duration, State)] {
        &self.nodes[id].history
    }

    pub fn gratuitous_sent(&self, id: NodeId) -> u64 {
        self.nodes[id].gratuitous_sent
    }

    /// State changes of any node strictly after `since`.
    pub fn transitions_after(&self, since: Duration) -> usize {
        self.nodes
            .iter()
            .map(|n| n.history.iter().filter(|(t, _)| *t > since).count())
            .sum()
    }

    fn next_event(&self) -> Option<Instant> {
        let wire = self.wire.peek().map(|Reverse(d)| d.at);
        let timers = self
            .nodes
            .iter()
            .filter(|n| n.up)
            .filter_map(|n| n.inst.next_deadline())
            .min();
        match (wire, timers) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Jumps to the next delivery or deadline and processes it. False when nothing is pending.
    pub fn step(&mut self) -> bool {
        let Some(at) = self.next_event() else {
            return false;
        };
        self.now = self.now.max(at);
        if let Some(Reverse(d)) = self.wire.peek() {
            if d.at <= at {
                let Some(Reverse(d)) = self.wire.pop() else {
                    return false;
                };
                self.deliver(d);
                return true;
            }
        }
        let due = (0..self.nodes.len()).find(|&i| {
            self.nodes[i].up
                && self.nodes[i]
                    .inst
                    .next_deadline()
                    .is_some_and(|t| t <= self.now)
        });
        if let Some(i) = due {
            self.feed(i, Input::Timer);
        }
        true
    }

    /// Processes every event up to `elapsed() + d`, then sets the clock there.
    pub fn run_for(&mut self, d: Duration) {
        let until = self.now + d;
        while self.next_event().is_some_and(|t| t <= until) {
            self.step();
        }
        self.now = until;
    }

    /// Runs until `pred` holds (checked after every event) or `limit` passes; returns the
    /// elapsed time when it first held.
    pub fn run_until(
        &mut self,
        limit: Duration,
        mut pred: impl FnMut(&Lan) -> bool,
    ) -> Option<Duration> {
        let until = self.now + limit;
        loop {
            if pred(self) {
                return Some(self.elapsed());
            }
            match self.next_event() {
                Some(t) if t <= until => {
                    self.step();
                }
                _ => {
                    self.now = until;
                    return pred(self).then(|| self.elapsed());
                }
            }
        }
    }

    fn deliver(&mut self, d: Delivery) {
        if !self.nodes[d.to].up {
            return;
        }
        let ph = PseudoHeader {
            src: d.src,
            dst: d.dst,
        };
        match Advert::decode(&d.bytes, &ph, ChecksumMode::PseudoHeader) {
            Ok(advert) => self.feed(
                d.to,
                Input::Advert {
                    src: d.src,
                    ttl: 255,
                    advert,
                },
            ),
            Err(e) => {
                self.decode_errors += 1;
                self.feed(d.to, Input::Malformed(e));
            }
        }
    }

    fn feed(&mut self, id: NodeId, input: Input) {
        let mut out = std::mem::take(&mut self.out);
        self.nodes[id].inst.handle(self.now, input, &mut out);
        for a in out.drain(..) {
            self.apply(id, a);
        }
        self.out = out;
    }

    fn apply(&mut self, from: NodeId, a: Action) {
        let elapsed = self.elapsed();
        match a {
            Action::SendAdvert(advert) => self.broadcast(from, &advert),
            Action::AddVips => self.nodes[from].holds_vips = true,
            Action::RemoveVips => self.nodes[from].holds_vips = false,
            Action::SendGratuitous { count } => {
                self.nodes[from].gratuitous_sent += u64::from(count)
            }
            Action::Notify { state, .. } => self.nodes[from].history.push((elapsed, state)),
            // The simulator has no sync groups: a lone member never gets its answer.
            Action::WantMaster => {}
        }
    }

    fn broadcast(&mut self, from: NodeId, advert: &Advert) {
        let src = self.nodes[from].cfg.primary_addr;
        let dst = if src.is_ipv4() {
            IpAddr::V4(MCAST4)
        } else {
            IpAddr::V6(MCAST6)
        };
        let bytes = advert.to_bytes(&PseudoHeader { src, dst }, ChecksumMode::PseudoHeader);
        for to in 0..self.nodes.len() {
            if to == from || !self.connected(from, to) {
                continue;
            }
            if self.link.loss > 0.0 && self.rng.gen_bool(self.link.loss.clamp(0.0, 1.0)) {
                continue;
            }
            let jitter = if self.link.jitter.is_zero() {
                Duration::ZERO
            } else {
                self.link.jitter.mul_f64(self.rng.gen::<f64>())
            };
            self.seq += 1;
            let mut at = self.now + self.link.latency + jitter;
            if let Some(prev) = self.last_arrival.get(&(from, to)) {
                at = at.max(*prev);
            }
            self.last_arrival.insert((from, to), at);
            let d = Delivery {
                at,
                seq: self.seq,
                to,
                src,
                dst,
                bytes: bytes.clone(),
            };
            self.wire.push(Reverse(d));
        }
    }
}
