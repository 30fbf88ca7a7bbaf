use std::net::Ipv4Addr;
use std::time::Duration;

use crate::config::InstanceConfig;
use crate::instance::tests::{ms, H};
use crate::instance::{Action, Input, Instance, State};
use crate::wire::{Addrs, Version};

/// Instance at 10.0.0.1 (priority `prio`, v3 at 100 ms unless changed); peers are 10.0.0.2.
fn cfg(prio: u8) -> InstanceConfig {
    let mut c = InstanceConfig::new(
        "fast",
        51,
        "10.0.0.1".parse().unwrap(),
        Addrs::V4(vec![Ipv4Addr::new(10, 0, 0, 100)]),
    );
    c.priority = prio;
    c.version = Version::V3;
    c.advert_interval = ms(100);
    c
}

/// The fast-path helpers on top of the instance tests' harness.
impl H {
    fn peer(&mut self, at: Duration, prio: u8) -> Vec<Action> {
        self.peer_advert(at, "10.0.0.2", prio)
    }
    /// Fires the next deadline if it is due by `until`.
    fn run_until(&mut self, until: Duration) {
        while self.i.next_deadline().is_some_and(|d| d <= self.t0 + until) {
            let d = self.deadline();
            self.feed(d, Input::Timer);
        }
    }
    /// Makes a backup the master by letting its master-down timer run out.
    fn master(c: InstanceConfig) -> H {
        let mut h = H::new(c);
        let d = h.deadline();
        h.feed(d, Input::Timer);
        assert_eq!(h.i.state(), State::Master);
        h
    }
}

fn sent(actions: &[Action]) -> Vec<u8> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::SendAdvert(ad) => Some(ad.priority),
            _ => None,
        })
        .collect()
}

#[test]
fn a_master_whose_priority_drops_advertises_it_at_once_and_restarts_its_schedule() {
    let mut h = H::master(cfg(100));
    let t = h.deadline() - ms(60); // mid-interval
    let out = h.feed(t, Input::PriorityChange { effective: 80 });
    assert_eq!(sent(&out), vec![80]);
    assert_eq!(h.deadline(), t + ms(100), "next advert one interval later");
    assert_eq!(h.i.master_priority(), Some(80));
}

#[test]
fn a_master_whose_priority_rises_waits_for_the_next_tick() {
    let mut h = H::master(cfg(100));
    let before = h.deadline();
    let out = h.feed(before - ms(50), Input::PriorityChange { effective: 110 });
    assert!(sent(&out).is_empty());
    assert_eq!(h.deadline(), before);
    let out = h.feed(before, Input::Timer);
    assert_eq!(sent(&out), vec![110]);
}

#[test]
fn a_backup_whose_priority_drops_stays_silent() {
    let mut h = H::new(cfg(100));
    let out = h.feed(ms(10), Input::PriorityChange { effective: 50 });
    assert!(out.is_empty(), "{out:?}");
}

#[test]
fn the_clamped_priority_is_what_gets_advertised() {
    let mut h = H::master(cfg(100));
    let t = h.deadline() - ms(10);
    let out = h.feed(t, Input::PriorityChange { effective: 0 });
    assert_eq!(sent(&out), vec![1], "0 would mean 'stop'");
}

#[test]
fn a_master_going_to_fault_sends_priority_zero_twice_at_once() {
    let mut h = H::master(cfg(100));
    let t = h.deadline() - ms(50);
    let out = h.feed(t, Input::Fault(true));
    assert_eq!(sent(&out), vec![0, 0], "two, as keepalived 2.2.7 sends");
    assert_eq!(out[2], Action::RemoveVips);
    assert_eq!(h.i.state(), State::Fault);
}

#[test]
fn without_the_extension_a_lower_advert_still_waits_out_master_down() {
    let mut h = H::new(cfg(100));
    h.peer(ms(10), 120);
    let md = h.i.master_down_interval();
    assert_eq!(h.deadline(), ms(10) + md);
    h.peer(ms(50), 80);
    assert_eq!(h.deadline(), ms(10) + md, "lower advert ignored");
    assert_eq!(h.i.stats().lower_prio_preempt, 0);
}

#[test]
fn with_the_extension_a_lower_advert_triggers_takeover_after_skew_time() {
    let mut c = cfg(99);
    c.preempt_immediate = true;
    let mut h = H::new(c);
    h.peer(ms(10), 100);
    h.peer(ms(110), 79);
    // Skew for priority 99 at 100 ms: 61.328 ms.
    assert_eq!(h.deadline(), ms(110) + Duration::from_micros(61_328));
    assert_eq!(h.i.stats().lower_prio_preempt, 1);
    h.run_until(ms(200));
    assert_eq!(h.i.state(), State::Master);
}

#[test]
fn a_second_lower_advert_does_not_postpone_the_takeover() {
    let mut c = cfg(99);
    c.preempt_immediate = true;
    let mut h = H::new(c);
    h.peer(ms(10), 100);
    h.peer(ms(110), 79);
    let first = h.deadline();
    h.peer(ms(150), 79);
    assert_eq!(h.deadline(), first);
}

#[test]
fn a_restored_priority_during_the_skew_cancels_the_takeover() {
    let mut c = cfg(99);
    c.preempt_immediate = true;
    let mut h = H::new(c);
    h.peer(ms(10), 100);
    h.peer(ms(110), 79);
    h.peer(ms(130), 100);
    h.run_until(ms(300));
    assert_eq!(h.i.state(), State::Backup);
}

#[test]
fn nopreempt_disables_the_extension() {
    let mut c = cfg(99);
    c.preempt_immediate = true;
    c.nopreempt = true;
    let mut h = H::new(c);
    h.peer(ms(10), 100);
    h.peer(ms(110), 79);
    assert_eq!(h.deadline(), ms(110) + h.i.master_down_interval());
    h.run_until(ms(5000) - ms(1));
    // Kept alive by the lower master's adverts (none more here: it times out only later).
    assert_eq!(h.i.stats().lower_prio_preempt, 0);
}

#[test]
fn preempt_delay_holds_immediate_preemption_only_after_startup() {
    let mut c = cfg(99);
    c.preempt_immediate = true;
    c.preempt_delay = ms(2000);
    let mut h = H::new(c);
    // Inside the startup hold-down a lower master is accepted as in keepalived.
    for t in (500..2000).step_by(100) {
        h.peer(ms(t), 79);
        assert_eq!(h.deadline(), ms(t) + h.i.master_down_interval());
    }
    assert_eq!(h.i.state(), State::Backup);
    // After it, the first lower advert arms the takeover.
    h.peer(ms(2100), 79);
    assert_eq!(h.deadline(), ms(2100) + Duration::from_micros(61_328));
}

#[test]
fn preempt_delay_does_not_delay_the_first_failover_after_a_higher_master() {
    // keepalived's preempt_delay counts from the first lower advert after a higher master;
    // with the extension the delay is a hold-down from startup, long over here.
    let mut c = cfg(99);
    c.preempt_immediate = true;
    c.preempt_delay = ms(2000);
    let mut h = H::new(c);
    for t in (2100..=5100).step_by(100) {
        h.peer(ms(t), 100);
    }
    h.peer(ms(5200), 79);
    assert_eq!(h.deadline(), ms(5200) + Duration::from_micros(61_328));
}

#[test]
fn a_node_that_lost_mastership_holds_off_for_the_longer_of_delay_and_master_down() {
    for delay in [ms(0), ms(2000)] {
        let mut c = cfg(99);
        c.preempt_immediate = true;
        let mut h = H::master(c.clone());
        h.i = {
            // Same instance, but with the delay only from now on (startup hold-down is over).
            let mut c2 = c.clone();
            c2.preempt_delay = delay;
            let mut i = Instance::new(c2, h.t0);
            let mut out = vec![];
            i.handle(h.t0, Input::Startup, &mut out);
            let d = i.next_deadline().unwrap();
            i.handle(d.max(h.t0 + delay), Input::Timer, &mut out);
            assert_eq!(i.state(), State::Master);
            i
        };
        let lost = ms(10_000);
        h.peer(lost, 120); // a higher node preempts us
        assert_eq!(h.i.state(), State::Backup);
        let hold = delay.max(h.i.master_down_interval());
        // The preemptor's priority falls below ours right away: accepted while held.
        h.peer(lost + ms(100), 79);
        assert_eq!(h.deadline(), lost + ms(100) + h.i.master_down_interval());
        let mut t = lost + ms(100);
        while t < lost + hold {
            t += ms(100);
            h.peer(t, 79);
        }
        assert_eq!(h.i.state(), State::Backup);
        assert!(
            h.deadline() <= t + ms(62),
            "armed right after the hold-down ({delay:?})"
        );
        h.run_until(t + ms(62));
        assert_eq!(h.i.state(), State::Master);
    }
}

#[test]
fn the_owner_neither_changes_priority_nor_advertises_early() {
    let mut h = H::new(cfg(255));
    let t = h.deadline() - ms(50);
    let out = h.feed(t, Input::PriorityChange { effective: 10 });
    assert!(out.is_empty());
    assert_eq!(h.i.effective_priority(), 255);
}
