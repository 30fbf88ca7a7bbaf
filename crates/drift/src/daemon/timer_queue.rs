//! One timer structure for every instance of the VRRP thread (issue 9): a binary heap of the
//! instances' next deadlines (advert, Master_Down, GARP delays: whatever
//! `Instance::next_deadline` returns), so a turn of the loop touches only the instances that
//! are due instead of scanning all of them, and the loop sleeps until the heap's top.
//!
//! The heap is lazy. A backup's Master_Down deadline moves later with every advert (10,000
//! times a second for 100 instances at 10 ms): [`TimerQueue::schedule`] then only records the
//! new deadline, and the instance's heap entry is moved when it reaches the top (in
//! [`TimerQueue::next_wake`], without waking the thread). A deadline moved earlier gets a new
//! entry at once and the old one goes stale; each instance has exactly one live entry, told
//! apart from stale ones by a sequence number. Nothing is allocated once the heap has grown
//! to its working size.
//!
//! Protocol: [`TimerQueue::pop_due`] hands out every instance due by a limit and forgets its
//! entry; the caller handles it and must then [`TimerQueue::schedule`] its next deadline.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::time::Instant;

/// One heap entry: (when, sequence number, instance id); the sequence number breaks ties in
/// insertion order and tells the live entry of an instance from stale ones.
type Entry = Reverse<(Instant, u64, u64)>;

#[derive(Debug, Clone, Copy, PartialEq)]
struct Timer {
    /// The instance's current next deadline (None: nothing armed).
    deadline: Option<Instant>,
    /// The instance's live heap entry, if it has one: (sequence number, time). Its time is
    /// never later than `deadline`.
    live: Option<(u64, Instant)>,
}

#[derive(Default)]
pub struct TimerQueue {
    heap: BinaryHeap<Entry>,
    timers: HashMap<u64, Timer>,
    seq: u64,
}

impl TimerQueue {
    /// Record instance `id`'s next deadline (after any step that may have changed it).
    pub fn schedule(&mut self, id: u64, deadline: Option<Instant>) {
        let t = self.timers.entry(id).or_insert(Timer {
            deadline: None,
            live: None,
        });
        t.deadline = deadline;
        match (deadline, t.live) {
            // The live entry (if any) is dropped when it reaches the top.
            (None, _) => {}
            // Still early enough: moved when it reaches the top (see `next_wake`).
            (Some(at), Some((_, queued))) if queued <= at => {}
            (Some(at), _) => self.push(id, at),
        }
    }

    /// Forget instance `id` (stopped, removed by a reload): its entries go stale.
    pub fn remove(&mut self, id: u64) {
        self.timers.remove(&id);
    }

    /// When the loop must wake next: the earliest armed deadline. Moves entries whose
    /// deadline went later and drops stale ones on the way, so the time returned is a real
    /// deadline.
    pub fn next_wake(&mut self) -> Option<Instant> {
        loop {
            let &Reverse((at, seq, id)) = self.heap.peek()?;
            let t = self.timers.get(&id).copied();
            match t {
                Some(Timer {
                    deadline: Some(d),
                    live: Some((live, _)),
                }) if live == seq => {
                    if d == at {
                        return Some(at);
                    }
                    self.heap.pop();
                    self.push(id, d);
                }
                _ => {
                    // Stale, or the instance disarmed its timers.
                    self.heap.pop();
                    if let Some(t) = self.timers.get_mut(&id) {
                        if t.live.is_some_and(|(live, _)| live == seq) {
                            t.live = None;
                        }
                    }
                }
            }
        }
    }

    /// Append to `out` every instance whose deadline is at or before `limit`, earliest first
    /// (equal deadlines in the order they were scheduled), and forget their entries: the
    /// caller handles each and schedules it again.
    pub fn pop_due(&mut self, limit: Instant, out: &mut Vec<u64>) {
        while let Some(at) = self.next_wake() {
            if at > limit {
                break;
            }
            if let Some(Reverse((_, _, id))) = self.heap.pop() {
                if let Some(t) = self.timers.get_mut(&id) {
                    t.live = None;
                }
                out.push(id);
            }
        }
    }

    /// Entries in the heap, live and stale (the tests check that it stays bounded).
    #[cfg(test)]
    pub fn heap_len(&self) -> usize {
        self.heap.len()
    }

    fn push(&mut self, id: u64, at: Instant) {
        self.seq += 1;
        self.heap.push(Reverse((at, self.seq, id)));
        if let Some(t) = self.timers.get_mut(&id) {
            t.live = Some((self.seq, at));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;
    use std::time::Duration;

    use drift_vrrp::wire::{Addrs, Version};
    use drift_vrrp::{Action, Input, Instance, InstanceConfig, State};

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn due(q: &mut TimerQueue, limit: Instant) -> Vec<u64> {
        let mut out = Vec::new();
        q.pop_due(limit, &mut out);
        out
    }

    #[test]
    fn instances_come_due_in_deadline_order_and_only_once_due() {
        let t0 = Instant::now();
        let mut q = TimerQueue::default();
        q.schedule(1, Some(t0 + ms(30)));
        q.schedule(2, Some(t0 + ms(10)));
        q.schedule(3, Some(t0 + ms(20)));
        q.schedule(4, None);
        assert_eq!(q.next_wake(), Some(t0 + ms(10)));
        assert_eq!(due(&mut q, t0 + ms(9)), Vec::<u64>::new());
        assert_eq!(due(&mut q, t0 + ms(25)), vec![2, 3]);
        assert_eq!(q.next_wake(), Some(t0 + ms(30)));
        assert_eq!(due(&mut q, t0 + ms(100)), vec![1]);
        assert_eq!(
            q.next_wake(),
            None,
            "popped instances wait to be scheduled again"
        );
    }

    #[test]
    fn equal_deadlines_and_those_within_the_limit_come_out_in_one_batch() {
        let t0 = Instant::now();
        let mut q = TimerQueue::default();
        for id in 0..100 {
            q.schedule(id, Some(t0 + ms(10)));
        }
        q.schedule(100, Some(t0 + ms(10) + Duration::from_micros(150)));
        q.schedule(101, Some(t0 + ms(11)));
        let batch = due(&mut q, t0 + ms(10) + Duration::from_micros(200));
        assert_eq!(batch, (0..=100).collect::<Vec<u64>>(), "scheduling order");
        assert_eq!(q.next_wake(), Some(t0 + ms(11)));
    }

    #[test]
    fn a_deadline_moved_later_or_earlier_is_honoured_and_the_heap_stays_small() {
        let t0 = Instant::now();
        let mut q = TimerQueue::default();
        // A backup's Master_Down timer, pushed back by each of 10,000 adverts.
        for k in 0..10_000u64 {
            q.schedule(7, Some(t0 + ms(k) + ms(36)));
        }
        assert_eq!(q.heap_len(), 1, "later deadlines do not grow the heap");
        assert_eq!(q.next_wake(), Some(t0 + ms(9_999 + 36)));
        assert_eq!(due(&mut q, t0 + ms(10_000)), Vec::<u64>::new());
        // Earlier (a priority-0 advert: skew time): the new deadline wins at once.
        q.schedule(7, Some(t0 + ms(5)));
        assert_eq!(q.next_wake(), Some(t0 + ms(5)));
        assert_eq!(due(&mut q, t0 + ms(5)), vec![7]);
        assert_eq!(q.next_wake(), None, "the older, later entry was stale");
        assert_eq!(q.heap_len(), 0);
    }

    #[test]
    fn a_removed_or_disarmed_instance_never_comes_due() {
        let t0 = Instant::now();
        let mut q = TimerQueue::default();
        q.schedule(1, Some(t0 + ms(10)));
        q.schedule(2, Some(t0 + ms(10)));
        q.schedule(3, Some(t0 + ms(10)));
        q.remove(1); // stopped by a reload
        q.schedule(2, None); // shut down: every timer stopped
        assert_eq!(q.next_wake(), Some(t0 + ms(10)));
        assert_eq!(due(&mut q, t0 + ms(50)), vec![3]);
        // A new instance started by the reload under a fresh id.
        q.schedule(4, Some(t0 + ms(60)));
        assert_eq!(due(&mut q, t0 + ms(60)), vec![4]);
        assert_eq!(q.heap_len(), 0);
    }

    fn master(vrid: u8, now: Instant) -> Instance {
        let mut c = InstanceConfig::new(
            "vi",
            vrid,
            Ipv4Addr::new(10, 0, 0, 1).into(),
            Addrs::V4(vec![Ipv4Addr::new(10, 0, 0, vrid)]),
        );
        c.version = Version::V3;
        c.advert_interval = ms(10);
        c.priority = 255;
        let mut i = Instance::new(c, now);
        let mut out = Vec::new();
        i.handle(now, Input::Startup, &mut out);
        assert_eq!(i.state(), State::Master);
        i
    }

    /// The VRRP loop's turn (vrrp_thread::Daemon::fire_due) on simulated time: 100 masters
    /// started at scattered times end up on one grid and wake the loop once per period, and
    /// 10,000 periods later every schedule is still exactly on it.
    #[test]
    fn aligned_masters_wake_once_per_period_without_drift_over_ten_thousand_periods() {
        let anchor = Instant::now();
        let slack = Duration::from_micros(200);
        let mut q = TimerQueue::default();
        let mut insts: Vec<Instance> = (0..100u8)
            .map(|n| {
                // Started over the first 10 ms, 97 µs apart (as slow netlink calls spread them).
                let started = anchor + Duration::from_micros(97 * u64::from(n));
                master(n + 1, started)
            })
            .collect();
        for (id, i) in insts.iter().enumerate() {
            q.schedule(id as u64, i.next_deadline());
        }
        let (mut wakes, mut sent) = (0u64, vec![0u64; insts.len()]);
        let (mut batch, mut out) = (Vec::new(), Vec::new());
        let periods = 10_000u64;
        let end = anchor + ms(10) * (periods as u32 + 2);
        while let Some(now) = q.next_wake().filter(|t| *t < end) {
            wakes += 1;
            batch.clear();
            q.pop_due(now + slack, &mut batch);
            for &id in &batch {
                let i = &mut insts[id as usize];
                if i.take_periodic_advert(now + slack).is_some() {
                    sent[id as usize] += 1;
                } else if i.next_deadline().is_some_and(|t| t <= now) {
                    // Another timer (the delayed GARP batch): through `handle`, as the loop does.
                    out.clear();
                    i.handle(now, Input::Timer, &mut out);
                    sent[id as usize] += out
                        .iter()
                        .filter(|a| matches!(a, Action::SendAdvert(_)))
                        .count() as u64;
                }
                i.align_advert_phase(anchor);
                q.schedule(id, i.next_deadline());
            }
            assert!(q.heap_len() <= 2 * insts.len(), "heap {}", q.heap_len());
        }
        // One period to align, then one wake-up per period for all 100; plus, once, the
        // delayed GARP batches 5 s after each start (not aligned, rare).
        assert!(wakes <= periods + 2 + 2 * 100, "{wakes} wake-ups");
        for (n, i) in insts.iter().enumerate() {
            let next = i.next_deadline().unwrap();
            assert_eq!(next, end, "instance {n} drifted");
            // 100 adverts a second each, plus the one shortened interval.
            assert!(
                (periods..=periods + 2).contains(&sent[n]),
                "instance {n}: {}",
                sent[n]
            );
        }
    }
}
