//! Fast failover in simulation (issue 8): the `preempt_immediate` extension moves the VIP one
//! skew time after the master advertises a lower priority, and it cannot make the VIP bounce:
//! however a node's priority oscillates around its peer's, a node that lost the VIP never gets
//! it back sooner than `max(preempt_delay, 3 × advert_int)` after losing it (plain VRRP's own
//! pace, or the configured delay if longer).

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use drift_vrrp::sim::{Lan, LinkModel};
use drift_vrrp::timers::skew;
use drift_vrrp::wire::{Addrs, Version};
use drift_vrrp::{InstanceConfig, State};
use proptest::prelude::*;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn config(octet: u8, prio: u8, version: Version, immediate: bool) -> InstanceConfig {
    let vips = Addrs::V4(vec![Ipv4Addr::new(10, 0, 0, 100)]);
    let addr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, octet));
    let mut c = InstanceConfig::new("fast", 51, addr, vips);
    c.version = version;
    c.advert_interval = match version {
        Version::V2 => ms(1000),
        Version::V3 => ms(100),
    };
    c.priority = prio;
    c.preempt_immediate = immediate;
    c
}

/// The article's pair (100/99, weight -20) with the master's check failing at `fail_at`.
fn article_failover(version: Version, immediate: bool, fail_at: Duration) -> Duration {
    let mut lan = Lan::new(7, LinkModel::default());
    let a = lan.add(config(1, 100, version, immediate));
    let b = lan.add(config(2, 99, version, immediate));
    lan.start(a);
    lan.start(b);
    lan.run_for(fail_at);
    assert_eq!(lan.masters(), vec![a]);
    lan.set_priority(a, 80);
    let t = lan
        .run_until(ms(10_000), |l| l.vip_holders() == vec![b])
        .expect("the backup takes over");
    t - fail_at
}

#[test]
fn immediate_preemption_moves_the_vip_one_skew_time_after_the_lowered_advert() {
    for (version, interval) in [(Version::V2, ms(1000)), (Version::V3, ms(100))] {
        let sk = skew(version, 99, interval);
        for fail_ms in [5_000, 5_010, 5_350, 5_999] {
            let fast = article_failover(version, true, ms(fail_ms));
            let latency = LinkModel::default().latency;
            // Lowered advert (at once) + one link latency + skew + the new master's advert.
            assert!(
                fast >= sk && fast <= sk + latency * 3,
                "{version:?} at {fail_ms} ms: {fast:?} vs skew {sk:?}"
            );
            let plain = article_failover(version, false, ms(fail_ms));
            assert!(
                plain >= interval * 2,
                "{version:?}: plain VRRP waits out master-down ({plain:?})"
            );
        }
    }
}

#[derive(Debug, Clone)]
struct Case {
    v3: bool,
    immediate: bool,
    /// `preempt_delay` in advert intervals.
    delay_intervals: u32,
    /// (time to the next change in ms, A's new priority); B stays at 100.
    schedule: Vec<(u64, u8)>,
    latency_us: u64,
}

fn case() -> impl Strategy<Value = Case> {
    (
        any::<bool>(),
        prop_oneof![3 => Just(true), 1 => Just(false)],
        prop_oneof![Just(0u32), 1u32..40],
        prop::collection::vec(
            (1u64..3000, prop_oneof![60u8..100, Just(100u8), 101u8..140]),
            1..40,
        ),
        20u64..2000,
    )
        .prop_map(
            |(v3, immediate, delay_intervals, schedule, latency_us)| Case {
                v3,
                immediate,
                delay_intervals,
                schedule,
                latency_us,
            },
        )
}

/// Every (loss, regain) interval of one node's mastership.
fn returns(history: &[(Duration, State)]) -> Vec<(Duration, Duration)> {
    let mut out = vec![];
    let mut lost = None;
    let mut master = false;
    for &(t, s) in history {
        match (master, s == State::Master) {
            (true, false) => lost = Some(t),
            (false, true) => {
                if let Some(l) = lost.take() {
                    out.push((l, t));
                }
            }
            _ => {}
        }
        master = s == State::Master;
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn an_oscillating_priority_never_brings_the_vip_back_sooner_than_the_hold_down(c in case()) {
        let version = if c.v3 { Version::V3 } else { Version::V2 };
        let interval = if c.v3 { ms(100) } else { ms(1000) };
        // v3 scales the schedule down with the interval so both see the same number of flips.
        let scale = if c.v3 { 10 } else { 1 };
        let delay = interval * c.delay_intervals;
        let link = LinkModel { latency: Duration::from_micros(c.latency_us / scale), ..LinkModel::default() };
        let mut lan = Lan::new(c.latency_us, link);
        let mut ca = config(1, 110, version, c.immediate);
        let mut cb = config(2, 100, version, c.immediate);
        ca.preempt_delay = delay;
        cb.preempt_delay = delay;
        let a = lan.add(ca);
        let b = lan.add(cb);
        lan.start(a);
        lan.start(b);
        lan.run_for(interval * 5 + delay);
        for &(gap, prio) in &c.schedule {
            lan.set_priority(a, prio);
            lan.run_for(ms(gap / scale + 1));
        }
        lan.run_for(interval * 5 + delay);
        let hold = delay.max(interval * 3);
        for id in [a, b] {
            for (lost, regained) in returns(lan.history(id)) {
                prop_assert!(
                    regained - lost >= hold,
                    "node {id} lost the VIP at {lost:?} and regained it at {regained:?} (hold {hold:?}); {:?}",
                    lan.history(id)
                );
            }
        }
        // And it always ends with exactly one master.
        prop_assert_eq!(lan.masters().len(), 1);
        prop_assert_eq!(lan.decode_errors, 0);
    }
}
