use super::*;
use crate::config::Auth;
use crate::wire::{Addrs, Version};
use std::net::Ipv4Addr;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}
fn cfg(prio: u8) -> InstanceConfig {
    let mut c = InstanceConfig::new(
        "vi",
        51,
        ip("10.0.0.1"),
        Addrs::V4(vec![Ipv4Addr::new(10, 0, 0, 100)]),
    );
    c.priority = prio;
    c.auth = Auth::pass("1111");
    c
}
pub(super) fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Drives one instance on a virtual clock (`t0` + offsets); shared with the fast-path tests.
pub(super) struct H {
    pub(super) t0: Instant,
    pub(super) i: Instance,
    out: Vec<Action>,
}

impl H {
    pub(super) fn new(c: InstanceConfig) -> H {
        let t0 = Instant::now();
        let mut h = H {
            t0,
            i: Instance::new(c, t0),
            out: vec![],
        };
        h.feed(Duration::ZERO, Input::Startup);
        h
    }
    pub(super) fn feed(&mut self, at: Duration, input: Input) -> Vec<Action> {
        self.out.clear();
        self.i.handle(self.t0 + at, input, &mut self.out);
        self.out.clone()
    }
    /// An advert from `src` with our config but `prio`.
    pub(super) fn peer_advert(&mut self, at: Duration, src: &str, prio: u8) -> Vec<Action> {
        let advert = self.i.advert(prio);
        self.feed(
            at,
            Input::Advert {
                src: ip(src),
                ttl: 255,
                advert,
            },
        )
    }
    pub(super) fn deadline(&self) -> Duration {
        self.i.next_deadline().unwrap() - self.t0
    }
}

fn sent_priorities(actions: &[Action]) -> Vec<u8> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::SendAdvert(ad) => Some(ad.priority),
            _ => None,
        })
        .collect()
}

#[test]
fn owner_goes_master_at_startup_sending_advert_then_vips_then_garp_then_notify() {
    let h = H::new(cfg(255));
    assert_eq!(h.i.state(), State::Master);
    let kinds: Vec<_> = h.out.iter().map(std::mem::discriminant).collect();
    let expected = [
        Action::SendAdvert(h.i.advert(255)),
        Action::AddVips,
        Action::SendGratuitous { count: 5 },
        Action::Notify {
            state: State::Master,
            priority: 255,
        },
    ];
    assert_eq!(
        kinds,
        expected
            .iter()
            .map(std::mem::discriminant)
            .collect::<Vec<_>>()
    );
    assert_eq!(h.out, expected);
}

#[test]
fn backup_takes_over_exactly_at_the_master_down_interval() {
    let mut h = H::new(cfg(100));
    assert_eq!(h.i.state(), State::Backup);
    // 3 × 1 s + (256-100)/256 s
    assert_eq!(h.deadline(), Duration::from_micros(3_609_375));
    assert!(h.feed(ms(3609), Input::Timer).is_empty());
    assert_eq!(h.i.state(), State::Backup);
    h.feed(Duration::from_micros(3_609_375), Input::Timer);
    assert_eq!(h.i.state(), State::Master);
    assert_eq!(h.i.master_addr(), Some(ip("10.0.0.1")));
}

#[test]
fn accepted_adverts_push_the_master_down_timer_back() {
    let mut h = H::new(cfg(100));
    h.peer_advert(ms(3000), "10.0.0.2", 150);
    assert_eq!(h.deadline(), ms(3000) + Duration::from_micros(3_609_375));
    assert_eq!(h.i.master_addr(), Some(ip("10.0.0.2")));
    assert_eq!(h.i.master_priority(), Some(150));
}

#[test]
fn backup_hearing_priority_zero_takes_over_after_skew_only() {
    let mut h = H::new(cfg(99));
    h.peer_advert(ms(1000), "10.0.0.2", 100);
    h.peer_advert(ms(1500), "10.0.0.2", 0);
    assert_eq!(h.deadline(), ms(1500) + Duration::from_micros(613_281));
    assert_eq!(h.i.stats().priority_zero_rx, 1);
}

#[test]
fn preempting_backup_ignores_a_lower_master_and_takes_over() {
    let mut h = H::new(cfg(150));
    let d = h.deadline();
    h.peer_advert(ms(1000), "10.0.0.2", 100);
    assert_eq!(
        h.deadline(),
        d,
        "a lower-priority advert must not reset the timer"
    );
    assert_eq!(h.i.stats().lower_prio_ignored, 1);
    h.feed(d, Input::Timer);
    assert_eq!(h.i.state(), State::Master);
}

#[test]
fn nopreempt_backup_keeps_accepting_a_lower_master() {
    let mut c = cfg(150);
    c.nopreempt = true;
    let mut h = H::new(c);
    for s in 1..20 {
        h.peer_advert(ms(s * 1000), "10.0.0.2", 100);
        h.feed(ms(s * 1000 + 1), Input::Timer);
    }
    assert_eq!(h.i.state(), State::Backup);
}

#[test]
fn preempt_delay_accepts_a_lower_master_until_the_delay_then_preempts() {
    let mut c = cfg(150);
    c.preempt_delay = ms(5000);
    let mut h = H::new(c);
    // Startup waits master-down + preempt_delay.
    assert_eq!(h.deadline(), ms(5000) + h.i.master_down_interval());
    let mut t = 0;
    while h.i.state() == State::Backup && t < 20_000 {
        t += 1000;
        h.peer_advert(ms(t), "10.0.0.2", 100);
        if h.i
            .next_deadline()
            .is_some_and(|d| d <= h.t0 + ms(t + 1000))
        {
            let d = h.deadline();
            h.feed(d, Input::Timer);
        }
    }
    // The delay started at startup: lower adverts are accepted until 5 s (the last at 4 s),
    // then ignored, and the master-down interval (3.41 s) runs out at 7.41 s.
    assert_eq!(h.i.state(), State::Master);
    assert_eq!(t, 7000, "took over in the second before {t} ms");
}

#[test]
fn master_yields_to_a_higher_priority_and_removes_its_vips() {
    let mut h = H::new(cfg(255));
    let a = h.peer_advert(ms(100), "10.0.0.2", 255);
    // Equal priority, higher address: yield.
    assert_eq!(
        a,
        vec![
            Action::RemoveVips,
            Action::Notify {
                state: State::Backup,
                priority: 255
            }
        ]
    );
    assert_eq!(h.i.state(), State::Backup);
    assert_eq!(h.i.stats().released_master, 1);
}

#[test]
fn master_keeps_its_role_against_equal_priority_from_a_lower_address() {
    let mut c = cfg(100);
    c.primary_addr = ip("10.0.0.5");
    let mut h = H::new(c);
    let d = h.deadline();
    h.feed(d, Input::Timer);
    let a = h.peer_advert(d + ms(10), "10.0.0.2", 100);
    assert_eq!(h.i.state(), State::Master);
    assert_eq!(
        sent_priorities(&a),
        vec![100],
        "keepalived answers a lower master at once"
    );
    assert!(a.contains(&Action::SendGratuitous { count: 5 }));
}

#[test]
fn lower_prio_no_advert_restores_rfc_silence() {
    let mut c = cfg(255);
    c.lower_prio_no_advert = true;
    c.garp_lower_prio_repeat = 0;
    let mut h = H::new(c);
    assert!(h.peer_advert(ms(10), "10.0.0.2", 100).is_empty());
}

#[test]
fn higher_prio_send_advert_sends_one_advert_before_yielding() {
    let mut c = cfg(100);
    c.higher_prio_send_advert = true;
    let mut h = H::new(c);
    let d = h.deadline();
    h.feed(d, Input::Timer);
    let a = h.peer_advert(d + ms(10), "10.0.0.2", 200);
    assert_eq!(sent_priorities(&a), vec![100]);
    assert_eq!(a[1], Action::RemoveVips);
}

#[test]
fn master_advertises_every_interval_and_repeats_garp_after_the_delay() {
    let mut c = cfg(255);
    c.garp_master_refresh = ms(60_000);
    c.garp_master_refresh_repeat = 2;
    let mut h = H::new(c);
    let mut adverts = 0;
    let mut garps = vec![];
    while h.deadline() <= ms(130_000) {
        let d = h.deadline();
        for a in h.feed(d, Input::Timer) {
            match a {
                Action::SendAdvert(_) => adverts += 1,
                Action::SendGratuitous { count } => garps.push((d.as_secs(), count)),
                _ => {}
            }
        }
    }
    assert_eq!(adverts, 130);
    assert_eq!(garps, vec![(5, 5), (60, 2), (120, 2)]);
}

#[test]
fn shutdown_as_master_sends_priority_zero_and_removes_vips() {
    let mut h = H::new(cfg(255));
    let a = h.feed(ms(500), Input::Shutdown);
    assert_eq!(sent_priorities(&a), vec![0]);
    assert_eq!(
        a[1..],
        [
            Action::RemoveVips,
            Action::Notify {
                state: State::Init,
                priority: 255
            }
        ]
    );
    assert_eq!(h.i.next_deadline(), None);
    assert_eq!(h.i.stats().priority_zero_tx, 1);
}

#[test]
fn shutdown_as_backup_sends_nothing_on_the_wire() {
    let mut h = H::new(cfg(100));
    assert_eq!(
        h.feed(ms(500), Input::Shutdown),
        vec![Action::Notify {
            state: State::Init,
            priority: 100
        }]
    );
}

#[test]
fn fault_releases_mastership_with_priority_zero_and_recovery_waits_as_backup() {
    let mut h = H::new(cfg(100));
    let d = h.deadline();
    h.feed(d, Input::Timer);
    let a = h.feed(d + ms(1), Input::Fault(true));
    assert_eq!(sent_priorities(&a), vec![0, 0]);
    assert_eq!(h.i.state(), State::Fault);
    assert!(h.peer_advert(d + ms(2), "10.0.0.2", 50).is_empty());
    assert_eq!(h.i.stats().drops.not_running, 1);
    h.feed(d + ms(3), Input::Fault(false));
    assert_eq!(h.i.state(), State::Backup);
    assert_eq!(h.deadline(), d + ms(3) + h.i.master_down_interval());
}

#[test]
fn a_fault_before_startup_starts_in_fault() {
    let t0 = Instant::now();
    let mut i = Instance::new(cfg(255), t0);
    let mut out = vec![];
    i.handle(t0, Input::Fault(true), &mut out);
    assert!(out.is_empty());
    i.handle(t0, Input::Startup, &mut out);
    assert_eq!(i.state(), State::Fault);
    assert_eq!(
        out,
        vec![Action::Notify {
            state: State::Fault,
            priority: 255
        }]
    );
}

#[test]
fn v3_backup_learns_the_masters_interval_for_its_timers() {
    let mut c = cfg(99);
    c.version = Version::V3;
    c.advert_interval = ms(1000);
    let mut h = H::new(c);
    let mut advert = h.i.advert(100);
    advert.adver_int_cs = 10;
    h.feed(
        ms(50),
        Input::Advert {
            src: ip("10.0.0.2"),
            ttl: 255,
            advert,
        },
    );
    // 3 × 100 ms + 157 × 100 ms / 256
    assert_eq!(
        h.deadline(),
        ms(50) + ms(300) + Duration::from_micros(61_328)
    );
}

#[test]
fn rejected_adverts_are_counted_and_change_nothing() {
    let mut h = H::new(cfg(100));
    let d = h.deadline();
    let mut bad = h.i.advert(200);
    bad.auth_data = *b"wrong\0\0\0";
    h.feed(
        ms(10),
        Input::Advert {
            src: ip("10.0.0.2"),
            ttl: 255,
            advert: bad,
        },
    );
    let good = h.i.advert(200);
    h.feed(
        ms(20),
        Input::Advert {
            src: ip("10.0.0.2"),
            ttl: 64,
            advert: good,
        },
    );
    h.feed(ms(30), Input::Malformed(WireError::Version(7)));
    assert_eq!(h.deadline(), d);
    let s = h.i.stats();
    assert_eq!(
        (
            s.drops.auth_fail,
            s.drops.ttl,
            s.drops.version,
            s.adverts_rx
        ),
        (1, 1, 1, 0)
    );
    assert_eq!(s.dropped_total(), 3);
}

#[test]
fn time_going_backwards_is_treated_as_the_latest_time_seen() {
    let mut h = H::new(cfg(100));
    h.peer_advert(ms(2000), "10.0.0.2", 200);
    let d = h.deadline();
    h.peer_advert(ms(1000), "10.0.0.2", 200);
    assert_eq!(h.deadline(), d);
}

#[test]
fn initial_state_master_clears_nopreempt_as_keepalived_does() {
    let mut c = cfg(150);
    c.initial_state = InitialState::Master;
    c.nopreempt = true;
    let mut h = H::new(c);
    assert_eq!(h.i.state(), State::Backup);
    let d = h.deadline();
    h.peer_advert(ms(1000), "10.0.0.2", 100);
    h.feed(d, Input::Timer);
    assert_eq!(h.i.state(), State::Master);
}

#[test]
fn tracked_priority_stays_within_1_to_254_and_the_owner_ignores_it() {
    let mut h = H::new(cfg(100));
    h.feed(ms(1), Input::PriorityChange { effective: 0 });
    assert_eq!(h.i.effective_priority(), 1);
    h.feed(ms(1), Input::PriorityChange { effective: 255 });
    assert_eq!(h.i.effective_priority(), 254);
    let mut o = H::new(cfg(255));
    o.feed(ms(1), Input::PriorityChange { effective: 10 });
    assert_eq!(o.i.effective_priority(), 255);
}

#[test]
fn a_master_hearing_priority_zero_readvertises_at_once() {
    let mut h = H::new(cfg(255));
    let a = h.peer_advert(ms(300), "10.0.0.2", 0);
    assert_eq!(sent_priorities(&a), vec![255]);
    assert_eq!(h.deadline(), ms(1300));
}

#[test]
fn preempt_delay_counts_from_the_first_lower_advert_after_a_higher_master_left() {
    let mut c = cfg(150);
    c.preempt_delay = ms(2000);
    let mut h = H::new(c);
    h.peer_advert(ms(100), "10.0.0.3", 200); // a higher master clears the startup delay
    h.peer_advert(ms(10_000), "10.0.0.2", 100); // first lower advert: delay runs to 12 s
    h.peer_advert(ms(11_000), "10.0.0.2", 100);
    h.peer_advert(ms(12_000), "10.0.0.2", 100); // ignored: delay over
    assert_eq!(h.i.stats().lower_prio_ignored, 1);
    assert_eq!(h.deadline(), ms(11_000) + h.i.master_down_interval());
}

#[test]
fn restart_after_shutdown_begins_again_as_backup_with_a_fresh_timer() {
    let mut c = cfg(100);
    c.nopreempt = true;
    c.preempt_delay = ms(3000);
    let mut h = H::new(c);
    h.peer_advert(ms(50), "10.0.0.2", 90); // a lower master starts the preempt_delay clock
    h.feed(ms(100), Input::Shutdown);
    assert_eq!(h.i.state(), State::Init);
    let a = h.feed(ms(200), Input::Startup);
    assert_eq!(
        a,
        vec![Action::Notify {
            state: State::Backup,
            priority: 100
        }]
    );
    // nopreempt: no startup preempt_delay on top of the master-down interval.
    assert_eq!(h.deadline(), ms(200) + h.i.master_down_interval());
}

#[test]
fn adverts_keep_a_fixed_schedule_when_the_wake_up_is_late() {
    let t0 = Instant::now();
    let iv = Duration::from_millis(10);
    // Woke 3 ms late: the next advert is still due 10 ms after the previous *deadline*.
    assert_eq!(
        super::next_on_schedule(Some(t0), t0 + Duration::from_millis(3), iv),
        t0 + iv
    );
    // On time: plain interval.
    assert_eq!(super::next_on_schedule(Some(t0), t0, iv), t0 + iv);
}

#[test]
fn a_stall_longer_than_an_interval_restarts_the_schedule_without_a_burst() {
    let t0 = Instant::now();
    let iv = Duration::from_millis(10);
    let late = t0 + Duration::from_millis(35);
    assert_eq!(super::next_on_schedule(Some(t0), late, iv), late + iv);
    assert_eq!(super::next_on_schedule(None, late, iv), late + iv);
}

#[test]
fn a_late_master_down_while_following_a_master_waits_one_more_interval_then_takes_over() {
    let mut h = H::new(cfg(100));
    h.peer_advert(ms(0), "10.0.0.2", 150);
    let due = h.deadline();
    // Handled 40 ms late (the daemon or the machine stalled): no takeover yet.
    assert!(h.feed(due + ms(40), Input::Timer).is_empty());
    assert_eq!(h.i.state(), State::Backup);
    assert_eq!(h.i.stats().stall_graces, 1);
    // v2: one advert interval (1 s) plus skew (609.375 ms) from when it ran again.
    assert_eq!(
        h.deadline(),
        due + ms(40) + Duration::from_micros(1_609_375)
    );
    // Still silent then, even if that expiry is late too: the master is gone.
    h.feed(h.deadline() + ms(40), Input::Timer);
    assert_eq!(h.i.state(), State::Master);
}

#[test]
fn an_advert_arriving_during_the_grace_keeps_the_backup_and_rearms_the_grace() {
    let mut h = H::new(cfg(100));
    h.peer_advert(ms(0), "10.0.0.2", 150);
    let due = h.deadline();
    h.feed(due + ms(40), Input::Timer);
    h.peer_advert(due + ms(45), "10.0.0.2", 150);
    assert_eq!(h.i.state(), State::Backup);
    // The next silence gets its own grace.
    let due2 = h.deadline();
    assert!(h.feed(due2 + ms(40), Input::Timer).is_empty());
    assert_eq!(h.i.stats().stall_graces, 2);
}

#[test]
fn no_grace_on_time_nor_after_priority_zero_nor_before_any_master_was_heard() {
    // On time (within the tolerance): take over.
    let mut h = H::new(cfg(100));
    h.peer_advert(ms(0), "10.0.0.2", 150);
    let due = h.deadline();
    h.feed(due + ms(1), Input::Timer);
    assert_eq!(h.i.state(), State::Master);
    // The master said it is leaving: a late skew timer still takes over.
    let mut h = H::new(cfg(100));
    h.peer_advert(ms(0), "10.0.0.2", 150);
    h.peer_advert(ms(10), "10.0.0.2", 0);
    let due = h.deadline();
    h.feed(due + ms(500), Input::Timer);
    assert_eq!(h.i.state(), State::Master);
    // Startup without any master: a late first expiry takes over too.
    let mut h = H::new(cfg(100));
    let due = h.deadline();
    h.feed(due + ms(500), Input::Timer);
    assert_eq!(h.i.state(), State::Master);
    assert_eq!(h.i.stats().stall_graces, 0);
}
