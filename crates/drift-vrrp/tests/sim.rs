//! Seed-swept simulations of whole VRRP LANs (drift_vrrp::sim). Every test runs hundreds of
//! seeds with random priorities, start times, latencies and both protocol versions, and checks
//! the protocol's own bounds rather than fixed timings.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use drift_vrrp::sim::{Lan, LinkModel, NodeId};
use drift_vrrp::wire::{Addrs, Version};
use drift_vrrp::{InstanceConfig, State};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

/// Seeds per test; `DRIFT_SIM_SEEDS=5000 cargo test --release ...` for a deeper sweep.
/// `DRIFT_SIM_SEED=N` replays a single seed.
fn seeds() -> std::ops::Range<u64> {
    if let Some(one) = std::env::var("DRIFT_SIM_SEED")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
    {
        return one..one + 1;
    }
    let n = std::env::var("DRIFT_SIM_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(500);
    0..n
}
const EPS: Duration = Duration::from_millis(1);

struct World {
    lan: Lan,
    rng: StdRng,
    prios: Vec<u8>,
    version: Version,
}

impl World {
    /// `n` nodes with distinct priorities (at least 4 apart, so skews differ by more than the
    /// worst latency+jitter), random addresses, v2 (1 s) or v3 (100 ms) by seed parity.
    fn new(seed: u64, n: usize) -> World {
        let mut rng = StdRng::seed_from_u64(seed);
        let version = if seed & 1 == 0 {
            Version::V2
        } else {
            Version::V3
        };
        // Worst one-way delay stays below the smallest skew difference (4 priority points:
        // 15.6 ms for v2, 1.56 ms for v3 at 100 ms), so a cascade never has two masters.
        let max_us = if version == Version::V2 {
            10_000
        } else {
            1_000
        };
        let link = LinkModel {
            latency: Duration::from_micros(rng.gen_range(20..max_us)),
            jitter: Duration::from_micros(rng.gen_range(0..max_us / 3)),
            loss: 0.0,
        };
        let mut pool: Vec<u8> = (1..=63).map(|p| p * 4).collect();
        pool.shuffle(&mut rng);
        let mut octets: Vec<u8> = (1..=250).collect();
        octets.shuffle(&mut rng);
        let lan = Lan::new(seed, link);
        let mut w = World {
            lan,
            rng,
            prios: vec![],
            version,
        };
        for i in 0..n {
            w.add(pool[i], octets[i]);
        }
        w
    }

    fn config(&self, prio: u8, octet: u8) -> InstanceConfig {
        let vips = Addrs::V4(vec![Ipv4Addr::new(10, 0, 0, 254)]);
        let mut c =
            InstanceConfig::new("sim", 51, IpAddr::V4(Ipv4Addr::new(10, 0, 0, octet)), vips);
        c.priority = prio;
        c.version = self.version;
        if self.version == Version::V3 {
            c.advert_interval = Duration::from_millis(100);
        }
        c
    }

    fn add(&mut self, prio: u8, octet: u8) -> NodeId {
        let c = self.config(prio, octet);
        self.prios.push(prio);
        self.lan.add(c)
    }

    fn interval(&self) -> Duration {
        match self.version {
            Version::V2 => Duration::from_secs(1),
            Version::V3 => Duration::from_millis(100),
        }
    }

    /// Worst one-way delay.
    fn delay(&self) -> Duration {
        self.lan.link.latency + self.lan.link.jitter
    }

    /// Highest-priority node among `ids`.
    fn best(&self, ids: impl IntoIterator<Item = NodeId>) -> NodeId {
        ids.into_iter().max_by_key(|&i| self.prios[i]).unwrap()
    }

    fn md(&self, id: NodeId) -> Duration {
        self.lan.instance(id).master_down_interval()
    }

    /// Starts every node at a random time within 2 s; returns when the highest one started.
    fn start_all_staggered(&mut self) -> Duration {
        let n = self.prios.len();
        let mut offsets: Vec<(Duration, NodeId)> = (0..n)
            .map(|i| (Duration::from_micros(self.rng.gen_range(0..2_000_000)), i))
            .collect();
        offsets.sort();
        let best = self.best(0..n);
        let mut best_start = Duration::ZERO;
        for (at, id) in offsets {
            if self.lan.is_up(id) {
                continue; // started earlier by the test itself
            }
            let now = self.lan.elapsed();
            self.lan.run_for(at.saturating_sub(now));
            self.lan.start(id);
            if id == best {
                best_start = self.lan.elapsed();
            }
        }
        best_start
    }

    /// Starts all, runs to the protocol bound, asserts the highest node alone is master.
    fn converge(&mut self, seed: u64) -> NodeId {
        let best_start = self.start_all_staggered();
        let best = self.best(0..self.prios.len());
        let bound = best_start + self.md(best) + self.delay() + EPS;
        let now = self.lan.elapsed();
        self.lan.run_for(bound.saturating_sub(now));
        assert_eq!(
            self.lan.masters(),
            vec![best],
            "seed {seed}: not converged by {bound:?}"
        );
        assert_eq!(self.lan.vip_holders(), vec![best], "seed {seed}");
        best
    }
}

#[test]
fn one_master_the_highest_within_master_down_plus_latency_and_no_flapping() {
    for seed in seeds() {
        let mut w = World::new(seed, 2 + (seed as usize % 4));
        w.converge(seed);
        let settled = w.lan.elapsed();
        let steady = w.interval() * 60;
        w.lan.run_for(steady);
        assert_eq!(
            w.lan.transitions_after(settled),
            0,
            "seed {seed}: flapping in steady state"
        );
        assert_eq!(w.lan.masters().len(), 1, "seed {seed}");
        assert_eq!(w.lan.decode_errors, 0, "seed {seed}");
    }
}

#[test]
fn killed_master_is_replaced_by_the_highest_backup_within_its_master_down_interval() {
    for seed in seeds() {
        let mut w = World::new(seed, 2 + (seed as usize % 4));
        let old = w.converge(seed);
        w.lan
            .run_for(w.interval() * 5 + Duration::from_micros(seed * 7919 % 1_000_000));
        let killed_at = w.lan.elapsed();
        w.lan.crash(old);
        let next = w.best((0..w.prios.len()).filter(|&i| i != old));
        let took = w
            .lan
            .run_until(w.md(next) + w.delay() + EPS, |l| l.masters() == vec![next])
            .expect("no takeover")
            - killed_at;
        // The last advert left the old master at most one interval before the crash.
        assert!(
            took + w.interval() + EPS >= w.md(next),
            "seed {seed}: took over too early ({took:?})"
        );
        w.lan.run_for(w.delay() + EPS);
        assert_eq!(w.lan.masters(), vec![next], "seed {seed}");
        assert_eq!(w.lan.vip_holders(), vec![next], "seed {seed}");
    }
}

#[test]
fn priority_zero_shutdown_hands_over_within_skew_time() {
    for seed in seeds() {
        let mut w = World::new(seed, 2 + (seed as usize % 4));
        let old = w.converge(seed);
        w.lan.run_for(w.interval() * 3);
        let at = w.lan.elapsed();
        w.lan.shutdown(old);
        let next = w.best((0..w.prios.len()).filter(|&i| i != old));
        let skew = w.md(next) - w.interval() * 3;
        let took = w
            .lan
            .run_until(skew + w.delay() * 2 + EPS, |l| l.masters() == vec![next]);
        let took = took.unwrap_or_else(|| {
            let h: Vec<_> = (0..w.prios.len())
                .map(|i| {
                    (
                        w.prios[i],
                        w.lan.history(i).to_vec(),
                        *w.lan.instance(i).stats(),
                        w.lan.instance(i).state(),
                    )
                })
                .collect();
            panic!(
                "seed {seed}: no handover within skew {skew:?} at {at:?}: {h:?} {:?}",
                w.lan.link
            )
        }) - at;
        assert!(took >= skew, "seed {seed}: {took:?} < skew {skew:?}");
        assert_eq!(w.lan.instance(old).stats().priority_zero_tx, 1);
    }
}

#[test]
fn partition_gives_two_masters_and_healing_leaves_one_within_two_intervals() {
    for seed in seeds() {
        let mut w = World::new(seed, 3 + (seed as usize % 3));
        let old = w.converge(seed);
        w.lan.partition(&[&[old]]);
        let other = w.best((0..w.prios.len()).filter(|&i| i != old));
        let t = w.lan.elapsed();
        w.lan.run_for(w.md(other) + w.delay() + EPS);
        let mut both = vec![old, other];
        both.sort();
        assert_eq!(
            w.lan.masters(),
            both,
            "seed {seed}: split brain expected after {:?}",
            w.lan.elapsed() - t
        );
        w.lan
            .run_for(Duration::from_micros(seed * 104_729 % 1_000_000));
        let healed_at = w.lan.elapsed();
        w.lan.heal();
        let one = w
            .lan
            .run_until(w.interval() * 2, |l| l.masters() == vec![old]);
        assert!(
            one.is_some(),
            "seed {seed}: still {:?} two intervals after heal",
            w.lan.masters()
        );
        let took = one.unwrap() - healed_at;
        assert!(
            took <= w.interval() + w.delay() * 2 + EPS,
            "seed {seed}: heal took {took:?}"
        );
        w.lan.run_for(w.interval() * 10);
        assert_eq!(w.lan.masters(), vec![old], "seed {seed}");
    }
}

#[test]
fn returning_master_preempts_back_but_not_with_nopreempt() {
    for seed in seeds() {
        let nopreempt = seed % 4 >= 2;
        let mut w = World::new(seed, 2 + (seed as usize % 3));
        let top = w.best(0..w.prios.len());
        if nopreempt {
            // Rebuild the top node's config with nopreempt (it starts as backup, as required).
            let mut cfgs: Vec<_> = (0..w.prios.len()).map(|i| w.cfg_of(i)).collect();
            cfgs[top].nopreempt = true;
            w.lan = Lan::new(seed, w.lan.link);
            for c in cfgs {
                w.lan.add(c);
            }
        }
        if nopreempt {
            // With nopreempt the first master keeps the role, so let the top node be first.
            w.lan.start(top);
            w.lan.run_for(w.md(top) + w.delay() + EPS);
        }
        let _ = w.converge(seed);
        w.lan.crash(top);
        let next = w.best((0..w.prios.len()).filter(|&i| i != top));
        w.lan.run_for(w.md(next) + w.delay() + EPS);
        assert_eq!(w.lan.masters(), vec![next], "seed {seed}");
        w.lan.run_for(w.interval() * 3);
        w.lan.start(top);
        if nopreempt {
            w.lan.run_for(w.md(top) * 10);
            assert_eq!(
                w.lan.masters(),
                vec![next],
                "seed {seed}: nopreempt node took over"
            );
            assert_eq!(w.lan.instance(top).state(), State::Backup);
        } else {
            w.lan.run_for(w.md(top) + w.delay() * 2 + EPS);
            assert_eq!(
                w.lan.masters(),
                vec![top],
                "seed {seed}: did not preempt back"
            );
        }
    }
}

impl World {
    fn cfg_of(&self, id: NodeId) -> InstanceConfig {
        self.lan.instance(id).config().clone()
    }
}

#[test]
fn preempt_delay_postpones_preemption_by_the_delay() {
    for seed in seeds() {
        let mut w = World::new(seed, 2);
        let top = w.best(0..2);
        let other = 1 - top;
        let delay = Duration::from_millis(w.rng.gen_range(500..5000));
        let mut c = w.cfg_of(top);
        c.preempt_delay = delay;
        let cfgs = [w.cfg_of(0), w.cfg_of(1)];
        w.lan = Lan::new(seed, w.lan.link);
        for (i, base) in cfgs.into_iter().enumerate() {
            w.lan.add(if i == top { c.clone() } else { base });
        }
        // The other node is master alone first; then the preempt_delay node starts.
        w.lan.start(other);
        w.lan.run_for(w.md(other) + w.delay() + EPS);
        assert_eq!(w.lan.masters(), vec![other]);
        w.lan.run_for(w.interval() * 2);
        let started = w.lan.elapsed();
        w.lan.start(top);
        let bound = delay + w.md(top) + w.delay() * 2 + EPS;
        let when = w.lan.run_until(bound, |l| l.masters() == vec![top]);
        let took =
            when.unwrap_or_else(|| panic!("seed {seed}: no preemption within {bound:?}")) - started;
        assert!(
            took > delay,
            "seed {seed}: preempted after {took:?}, before preempt_delay {delay:?}"
        );
    }
}

#[test]
fn equal_priority_started_together_elects_the_highest_address() {
    for seed in seeds() {
        let mut w = World::new(seed, 2 + (seed as usize % 4));
        let n = w.prios.len();
        let cfgs: Vec<_> = (0..n)
            .map(|i| {
                let mut c = w.cfg_of(i);
                c.priority = 100;
                c
            })
            .collect();
        let winner = (0..n).max_by_key(|&i| cfgs[i].primary_addr).unwrap();
        w.lan = Lan::new(seed, w.lan.link);
        for c in cfgs {
            w.lan.add(c);
        }
        for i in 0..n {
            w.lan.start(i);
        }
        w.lan.run_for(w.md(0) + w.interval() * 2);
        assert_eq!(w.lan.masters(), vec![winner], "seed {seed}");
        assert_eq!(w.lan.vip_holders(), vec![winner], "seed {seed}");
    }
}

#[test]
fn three_node_cascade_follows_priority_down_and_back_up() {
    for seed in seeds() {
        let mut w = World::new(seed, 3);
        let mut order: Vec<NodeId> = (0..3).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(w.prios[i]));
        let [a, b, c] = [order[0], order[1], order[2]];
        assert_eq!(w.converge(seed), a);
        // Let the last-started node hear the master first, or it could be late to take over.
        w.lan.run_for(w.interval() * 2);
        let converged = w.lan.elapsed();
        let step = |w: &mut World, expect: NodeId, what: &str| {
            let limit = w.md(expect) + w.delay() * 2 + EPS;
            let ok = w.lan.run_until(limit, |l| l.masters() == vec![expect]);
            assert!(
                ok.is_some(),
                "seed {seed}: {what}: masters {:?}",
                w.lan.masters()
            );
            w.lan.run_for(w.interval() * 3);
            assert_eq!(
                w.lan.masters(),
                vec![expect],
                "seed {seed}: {what} not stable"
            );
        };
        w.lan.crash(a);
        step(&mut w, b, "a down");
        w.lan.crash(b);
        step(&mut w, c, "b down");
        w.lan.start(b);
        step(&mut w, b, "b back");
        w.lan.start(a);
        step(&mut w, a, "a back");
        let c_master = w
            .lan
            .history(c)
            .iter()
            .filter(|(t, s)| *t > converged && *s == State::Master)
            .count();
        assert_eq!(
            c_master, 1,
            "seed {seed}: c master {c_master} times after {converged:?}: a {:?} b {:?} c {:?} prios {:?} link {:?}", w.lan.history(a), w.lan.history(b), w.lan.history(c), w.prios, w.lan.link
        );
    }
}

#[test]
fn lossy_links_still_end_with_one_master() {
    for seed in seeds() {
        let mut w = World::new(seed, 3);
        w.lan.link.loss = f64::from(seed as u32 % 4) / 100.0;
        w.start_all_staggered();
        w.lan.run_for(w.interval() * 60);
        // A lost run of 3 adverts can briefly make a second master; it resolves within one
        // interval, so sample after an extra interval and a half if needed.
        if w.lan.masters().len() != 1 {
            w.lan.run_for(w.interval() * 3 / 2);
        }
        assert_eq!(
            w.lan.masters().len(),
            1,
            "seed {seed}: {:?}",
            w.lan.masters()
        );
        assert_eq!(w.lan.masters(), vec![w.best(0..3)], "seed {seed}");
    }
}

#[test]
fn fault_on_the_master_hands_over_within_skew_and_recovery_preempts_back() {
    for seed in seeds() {
        let mut w = World::new(seed, 2 + (seed as usize % 3));
        let top = w.converge(seed);
        let next = w.best((0..w.prios.len()).filter(|&i| i != top));
        w.lan.fault(top, true);
        let skew = w.md(next) - w.interval() * 3;
        assert!(
            w.lan
                .run_until(skew + w.delay() * 2 + EPS, |l| l.masters() == vec![next])
                .is_some(),
            "seed {seed}"
        );
        assert_eq!(w.lan.instance(top).state(), State::Fault);
        w.lan.fault(top, false);
        assert!(
            w.lan
                .run_until(w.md(top) + w.delay() * 2 + EPS, |l| l.masters()
                    == vec![top])
                .is_some(),
            "seed {seed}"
        );
    }
}

#[test]
fn tracker_lowering_the_masters_priority_hands_over_and_raising_it_takes_back() {
    for seed in seeds() {
        let mut w = World::new(seed, 2 + (seed as usize % 3));
        let top = w.converge(seed);
        w.lan.run_for(w.interval() * 2);
        let next = w.best((0..w.prios.len()).filter(|&i| i != top));
        // A failing track_script with a large negative weight.
        w.lan.set_priority(top, w.prios[next] - 2);
        let limit = w.md(next) + w.interval() + w.delay() * 2 + EPS;
        assert!(
            w.lan
                .run_until(limit, |l| l.masters() == vec![next])
                .is_some(),
            "seed {seed}: no handover"
        );
        w.lan.set_priority(top, w.prios[top]);
        let limit = w.md(top) + w.interval() + w.delay() * 2 + EPS;
        assert!(
            w.lan
                .run_until(limit, |l| l.masters() == vec![top])
                .is_some(),
            "seed {seed}: no take-back"
        );
    }
}

#[test]
fn ipv6_v3_lan_elects_fails_over_and_hands_back() {
    use std::net::Ipv6Addr;
    for seed in seeds().take(100) {
        let mut lan = Lan::new(
            seed,
            LinkModel {
                latency: Duration::from_micros(300),
                ..LinkModel::default()
            },
        );
        let vips = Addrs::V6(vec![
            "fe80::100".parse().unwrap(),
            "2001:db8::100".parse().unwrap(),
        ]);
        let ids: Vec<NodeId> = [(200u8, 1u16), (150, 2), (100, 3)]
            .iter()
            .map(|&(prio, last)| {
                let addr = IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, last));
                let mut c = InstanceConfig::new("v6", 7, addr, vips.clone());
                c.priority = prio;
                c.advert_interval = Duration::from_millis(100);
                assert_eq!(c.version, Version::V3);
                lan.add(c)
            })
            .collect();
        for &i in &ids {
            lan.start(i);
        }
        lan.run_for(Duration::from_secs(1));
        assert_eq!(lan.masters(), vec![ids[0]], "seed {seed}");
        lan.shutdown(ids[0]);
        lan.run_for(Duration::from_millis(50));
        assert_eq!(lan.masters(), vec![ids[1]], "seed {seed}");
        lan.start(ids[0]);
        lan.run_for(Duration::from_secs(1));
        assert_eq!(lan.masters(), vec![ids[0]], "seed {seed}");
        assert_eq!(lan.decode_errors, 0);
        assert!(
            ids.iter()
                .all(|&i| lan.instance(i).stats().dropped_total() == 0),
            "seed {seed}"
        );
    }
}
