//! The master's periodic advert without an [`Action`](super::Action) (issue 9): at 100
//! instances × 100 adverts/s the daemon sends 10,000 identical adverts a second, and building
//! each as an owned [`Advert`](crate::wire::Advert) (its address list is a `Vec`) and encoding it
//! afresh is an allocation per advert. With this the daemon encodes an instance's advert once
//! per priority and only asks the state machine *whether* to send it now.

use std::time::Instant;

use super::{next_on_schedule, Instance, State};
use crate::timers::TimerKind;

impl Instance {
    /// When the advert timer of a master is the only timer due at `now`, do exactly what
    /// `handle(now, Input::Timer, ..)` would (count the advert, re-arm the timer on its fixed
    /// schedule) and return the priority to advertise, i.e. `advert(priority)` is the advert to
    /// send. `None` in every other case: call `handle(now, Input::Timer, ..)` then.
    pub fn take_periodic_advert(&mut self, now: Instant) -> Option<u8> {
        let now = now.max(self.last_now);
        if self.state != State::Master {
            return None;
        }
        let due = self
            .timers
            .deadline(TimerKind::Advert)
            .filter(|t| *t <= now)?;
        let others_due = TimerKind::ALL
            .iter()
            .any(|&k| k != TimerKind::Advert && self.timers.deadline(k).is_some_and(|t| t <= now));
        if others_due {
            return None;
        }
        self.last_now = now;
        self.stats.adverts_tx += 1;
        let next = next_on_schedule(Some(due), now, self.adver_int());
        self.timers.set(TimerKind::Advert, next);
        Some(self.effective_priority)
    }

    /// Put a master's advert schedule on the grid `anchor + k × Advertisement_Interval`, so
    /// that a daemon running many instances with equal intervals wakes once per interval and
    /// sends all their adverts together (issue 9: 100 instances at 10 ms spread over the
    /// period woke the thread for nearly every advert). The next advert moves *earlier*, to
    /// the one grid point after the last advert: the interval on the wire is shortened once
    /// and never exceeds Advertisement_Interval (a backup's Master_Down_Interval is at least
    /// three of them), and the schedule stays fixed from there. Returns whether it moved;
    /// `false` for a non-master, an aligned schedule, or when the grid point is not after the
    /// last time handled (the next call, one interval later, aligns it).
    pub fn align_advert_phase(&mut self, anchor: Instant) -> bool {
        if self.state != State::Master {
            return false;
        }
        let Some(due) = self.timers.deadline(TimerKind::Advert) else {
            return false;
        };
        let Some(since) = due.checked_duration_since(anchor) else {
            return false;
        };
        let interval = self.adver_int().as_nanos();
        if interval == 0 {
            return false;
        }
        let off = since.as_nanos() % interval;
        // `off` < interval, which is at most 40.95 s: it fits in a u64 of nanoseconds.
        let Ok(off) = u64::try_from(off) else {
            return false;
        };
        if off == 0 {
            return false;
        }
        let Some(point) = due.checked_sub(std::time::Duration::from_nanos(off)) else {
            return false;
        };
        if point <= self.last_now {
            return false;
        }
        self.timers.set(TimerKind::Advert, point);
        true
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;
    use std::time::{Duration, Instant};

    use crate::config::InstanceConfig;
    use crate::wire::Addrs;
    use crate::{Action, Input, Instance, State};

    fn master() -> (Instance, Instant) {
        let t0 = Instant::now();
        let mut c = InstanceConfig::new(
            "vi",
            51,
            "10.0.0.1".parse().unwrap(),
            Addrs::V4(vec![Ipv4Addr::new(10, 0, 0, 100)]),
        );
        c.priority = 255;
        let mut i = Instance::new(c, t0);
        i.handle(t0, Input::Startup, &mut Vec::new());
        assert_eq!(i.state(), State::Master);
        (i, t0)
    }

    #[test]
    fn the_periodic_advert_does_what_a_timer_input_would() {
        let (mut fast, t0) = master();
        let mut slow = fast.clone();
        let at = fast.next_deadline().unwrap() + Duration::from_millis(3);
        assert_eq!(fast.take_periodic_advert(at), Some(255));
        let mut out = Vec::new();
        slow.handle(at, Input::Timer, &mut out);
        assert_eq!(out, vec![Action::SendAdvert(slow.advert(255))]);
        assert_eq!(fast.next_deadline(), slow.next_deadline());
        assert_eq!(fast.stats(), slow.stats());
        assert!(fast.next_deadline().unwrap() > t0);
    }

    #[test]
    fn nothing_is_taken_before_the_deadline_nor_from_a_backup() {
        let (mut m, t0) = master();
        assert_eq!(m.take_periodic_advert(t0), None);
        m.handle(t0, Input::Shutdown, &mut Vec::new());
        assert_eq!(m.take_periodic_advert(t0 + Duration::from_secs(5)), None);
    }

    #[test]
    fn aligning_moves_the_next_advert_earlier_onto_the_grid_and_then_keeps_it_there() {
        let (mut m, t0) = master();
        let int = Duration::from_secs(1); // the default advert_int
        let first = m.next_deadline().unwrap();
        assert_eq!(first, t0 + int);
        let anchor = t0 - Duration::from_millis(300);
        assert!(m.align_advert_phase(anchor));
        // The grid point after the last advert (t0): anchor + 2 s = t0 + 700 ms.
        assert_eq!(m.next_deadline(), Some(t0 + Duration::from_millis(700)));
        assert!(!m.align_advert_phase(anchor), "already on the grid");
        // From there the fixed schedule stays on the grid, with no drift.
        let mut at = m.next_deadline().unwrap();
        for _ in 0..10_000 {
            // The delayed GARP batch (5 s after becoming master) goes through `handle`.
            while let Some(t) = m.next_deadline().filter(|t| *t < at) {
                m.handle(t, Input::Timer, &mut Vec::new());
            }
            assert_eq!(m.take_periodic_advert(at), Some(255));
            assert!(!m.align_advert_phase(anchor));
            at += int;
        }
        assert_eq!(m.next_deadline(), Some(at));
        assert_eq!(at, anchor + int * 10_001);
    }

    #[test]
    fn aligning_never_lengthens_the_interval_nor_touches_a_backup() {
        let (mut m, t0) = master();
        // The state machine last ran at t0 + 500 ms (a no-op input): a grid point at
        // t0 + 200 ms is in its past, and the only later one (t0 + 1.2 s) would lengthen the
        // interval. Left for the next period.
        m.handle(
            t0 + Duration::from_millis(500),
            Input::Fault(false),
            &mut Vec::new(),
        );
        let anchor = t0 + Duration::from_millis(200);
        assert!(!m.align_advert_phase(anchor));
        assert_eq!(m.next_deadline(), Some(t0 + Duration::from_secs(1)));
        let anchor = t0 + Duration::from_millis(600);
        assert!(m.align_advert_phase(anchor));
        assert_eq!(m.next_deadline(), Some(anchor));
        m.handle(t0, Input::Shutdown, &mut Vec::new());
        assert!(!m.align_advert_phase(t0 + Duration::from_millis(20)));
    }

    #[test]
    fn another_due_timer_leaves_the_turn_to_handle() {
        let (mut m, _) = master();
        // garp_master_refresh is off by default; the delayed GARP batch is not: a refresh of
        // the advert deadline while the GARP delay (5 s) is also due must go through `handle`.
        let late = m.next_deadline().unwrap() + Duration::from_secs(10);
        assert_eq!(m.take_periodic_advert(late), None);
    }
}
