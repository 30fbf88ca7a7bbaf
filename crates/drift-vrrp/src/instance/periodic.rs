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
    fn another_due_timer_leaves_the_turn_to_handle() {
        let (mut m, _) = master();
        // garp_master_refresh is off by default; the delayed GARP batch is not: a refresh of
        // the advert deadline while the GARP delay (5 s) is also due must go through `handle`.
        let late = m.next_deadline().unwrap() + Duration::from_secs(10);
        assert_eq!(m.take_periodic_advert(late), None);
    }
}
