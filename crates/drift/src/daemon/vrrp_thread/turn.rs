//! One turn of the VRRP loop's timers, and the packet path: the instances due now come off
//! the timer heap (timer_queue.rs) and their adverts leave together; a backup's Master_Down
//! decision waits until every advert already received has been applied (issue 9).

use std::time::{Duration, Instant};

use drift_net::raw::{Received, VrrpSocket};
use drift_vrrp::Input;
use tokio::sync::mpsc::UnboundedReceiver;

use super::Daemon;
use crate::daemon::slot::{self, Slot};
use crate::daemon::status;

/// Everything queued on `sock`, without waiting (bounded: a flood must not keep us here).
fn read_queued(sock: &VrrpSocket, id: u64, out: &mut Vec<(u64, Received)>) {
    let mut buf = Vec::new();
    let mut read = 0;
    while read < MAX_DRAIN_PER_SOCKET {
        match sock.recv_batch(64, &mut buf) {
            Ok((0, 0)) | Err(_) => break,
            Ok((n, bad)) => read += n + bad,
        }
    }
    out.extend(buf.into_iter().map(|p| (id, p)));
}

/// How early a periodic advert may leave to share a wake-up (and a sendmmsg) with others
/// (their phases are aligned, so this only absorbs the timer's own lateness).
const ADVERT_SLACK: Duration = Duration::from_micros(200);

/// Packets a drain reads from one socket at most (a flood must not keep it there forever).
const MAX_DRAIN_PER_SOCKET: usize = 16_384;

impl Daemon {
    /// Handle every instance whose deadline has come (periodic adverts up to ADVERT_SLACK
    /// early, in one sendmmsg), after draining the sockets if a backup's Master_Down timer
    /// is among them. Each handled master is put on the advert phase grid.
    pub(super) async fn fire_due(
        &mut self,
        now: Instant,
        pkt_rx: &mut UnboundedReceiver<(u64, Received)>,
    ) {
        let early = now + ADVERT_SLACK;
        let mut due = std::mem::take(&mut self.due);
        due.clear();
        self.cx.timers.borrow_mut().pop_due(early, &mut due);
        let master_down = due.iter().any(|id| {
            self.slot(*id).is_some_and(|s| {
                s.inst.state() == drift_vrrp::State::Backup
                    && s.inst.next_deadline().is_some_and(|t| t <= now)
            })
        });
        if master_down {
            // Judge the master only after every advert that arrived before `now` is applied:
            // after a stall of this thread they are still queued (in the channel or in the
            // sockets, with the kernel's receive time), and a stall of drift itself is no
            // evidence that the master died.
            self.drain(pkt_rx).await;
        }
        for &id in &due {
            let Some(&i) = self.index.get(&id) else {
                continue;
            };
            let Some(s) = self.slots.get_mut(i) else {
                continue;
            };
            if s.inst.next_deadline().is_some_and(|t| t <= early) {
                // A master's periodic advert: encoded once, sent with the others due now.
                if let Some(prio) = s.inst.take_periodic_advert(early) {
                    self.adverts.push(s, prio);
                    let cause = status::Cause::of(&Input::Timer);
                    status::after_step(&self.cx.status, s, cause, drift_vrrp::State::Master);
                } else if s.inst.next_deadline().is_some_and(|t| t <= now) {
                    self.adverts.flush();
                    slot::step(&self.cx, s, Input::Timer, &mut self.out).await;
                }
            }
            s.inst.align_advert_phase(self.anchor);
            // Every popped instance is scheduled again, due or not (its entry was taken).
            self.cx
                .timers
                .borrow_mut()
                .schedule(id, s.inst.next_deadline());
        }
        self.adverts.flush();
        self.due = due;
    }

    fn slot(&self, id: u64) -> Option<&Slot> {
        self.index.get(&id).and_then(|&i| self.slots.get(i))
    }

    /// Rebuild the id -> index map after `slots` changed.
    pub(super) fn reindex(&mut self) {
        self.index.clear();
        self.index
            .extend(self.slots.iter().enumerate().map(|(i, s)| (s.id, i)));
    }

    /// Apply everything received so far: the channel first (older), then whatever is still in
    /// the shared receivers and the instances' own sockets, read here without waiting.
    async fn drain(&mut self, pkt_rx: &mut UnboundedReceiver<(u64, Received)>) {
        while let Ok((id, pkt)) = pkt_rx.try_recv() {
            self.on_packet(id, &pkt).await;
        }
        let shared: Vec<_> = self.cx.shared_socks.borrow().clone();
        let mut queued = Vec::new();
        for (n, sock) in shared.iter().enumerate() {
            read_queued(sock, slot::SHARED_BASE + n as u64, &mut queued);
        }
        for s in self.slots.iter().filter(|s| !s.io.shared_rx) {
            read_queued(s.io.socket.get_ref(), s.id, &mut queued);
        }
        for (id, pkt) in queued {
            self.on_packet(id, &pkt).await;
        }
    }

    pub(super) async fn on_packet(&mut self, id: u64, pkt: &Received) {
        let target = if id >= slot::SHARED_BASE {
            // A shared receiver: hand the advert to the instance with its VRID on that link.
            let key = usize::try_from(id - slot::SHARED_BASE)
                .ok()
                .and_then(|n| self.cx.shared.borrow().get(n).copied());
            match (key, pkt.payload.get(1).copied()) {
                (Some((ifindex, v6)), Some(vrid)) => self.slots.iter_mut().find(|s| {
                    s.io.shared_rx
                        && s.io.ifindex == ifindex
                        && s.io.primary.is_ipv6() == v6
                        && s.io.vrid() == vrid
                }),
                _ => None,
            }
        } else {
            let i = self.index.get(&id).copied();
            i.and_then(|i| self.slots.get_mut(i))
        };
        let matched = target.and_then(|s| Some((slot::packet_input(s.io.vrid(), pkt)?, s)));
        let Some((input, s)) = matched else {
            if !crate::daemon::drops::heard_on_own_socket(&self.slots, &self.cx, id, pkt) {
                self.cx.status.unmatched.count(&pkt.payload);
            }
            return;
        };
        let arrived = pkt.time.kernel_instant();
        slot::step_at(&self.cx, s, arrived, input, &mut self.out).await;
    }
}
