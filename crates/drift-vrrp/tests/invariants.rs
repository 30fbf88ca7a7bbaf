//! Property test over arbitrary input sequences: whatever arrives, in whatever order, the
//! instance never panics and keeps its bookkeeping straight (the fuzz target `instance` runs
//! the same check much longer).

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use drift_vrrp::wire::{Addrs, Advert, AuthType, Version, WireError};
use drift_vrrp::{Action, Auth, Input, Instance, InstanceConfig, State};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Wait(u16),
    Advert {
        from: u8,
        prio: u8,
        ttl: u8,
        tweak: u8,
    },
    Priority(u8),
    Fault(bool),
    Startup,
    Shutdown,
    Malformed,
    SyncMaster,
    SyncBackup,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => any::<u16>().prop_map(Op::Wait),
        6 => (0u8..4, any::<u8>(), prop_oneof![Just(255u8), any::<u8>()], 0u8..8)
            .prop_map(|(from, prio, ttl, tweak)| Op::Advert { from, prio, ttl, tweak }),
        1 => any::<u8>().prop_map(Op::Priority),
        1 => any::<bool>().prop_map(Op::Fault),
        1 => Just(Op::Startup),
        1 => Just(Op::Shutdown),
        1 => Just(Op::Malformed),
        1 => Just(Op::SyncMaster),
        1 => Just(Op::SyncBackup),
    ]
}

fn config(version: Version, prio: u8, flags: u8) -> InstanceConfig {
    let vips = Addrs::V4(vec![Ipv4Addr::new(10, 0, 0, 100)]);
    let mut c = InstanceConfig::new("p", 9, IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)), vips);
    c.version = version;
    c.priority = prio;
    c.auth = Auth::pass("pw");
    c.nopreempt = flags & 1 != 0;
    c.preempt_delay = if flags & 2 != 0 {
        Duration::from_secs(2)
    } else {
        Duration::ZERO
    };
    c.lower_prio_no_advert = flags & 4 != 0;
    c.higher_prio_send_advert = flags & 8 != 0;
    c.preempt_immediate = flags & 32 != 0;
    c.sync_group = flags & 64 != 0;
    c.garp_master_refresh = if flags & 16 != 0 {
        Duration::from_secs(3)
    } else {
        Duration::ZERO
    };
    c
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn vips_are_held_exactly_while_master_and_timers_match_the_state(
        v3 in any::<bool>(), prio in 1u8..=255, flags in any::<u8>(), ops in prop::collection::vec(op(), 0..80)
    ) {
        let version = if v3 { Version::V3 } else { Version::V2 };
        let cfg = config(version, prio, flags);
        let t0 = Instant::now();
        let mut now = t0;
        let mut inst = Instance::new(cfg.clone(), t0);
        let mut out = vec![];
        let mut holds_vips = false;
        let mut last_state = State::Init;
        for op in ops {
            let input = match op {
                Op::Wait(ms) => {
                    now += Duration::from_millis(u64::from(ms) % 5000);
                    Input::Timer
                }
                Op::Advert { from, prio, ttl, tweak } => {
                    let mut a = inst.advert(prio);
                    match tweak {
                        1 => a.vrid ^= 1,
                        2 => a.auth_type = AuthType::Unknown(7),
                        3 => a.adver_int_cs = 300,
                        4 => a.addrs = Addrs::V4(vec![]),
                        _ => {}
                    }
                    let src = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1 + from));
                    Input::Advert { src, ttl, advert: a }
                }
                Op::Priority(p) => Input::PriorityChange { effective: p },
                Op::Fault(f) => Input::Fault(f),
                Op::Startup => Input::Startup,
                Op::Shutdown => Input::Shutdown,
                Op::Malformed => Input::Malformed(WireError::Version(9)),
                Op::SyncMaster => Input::SyncMaster,
                Op::SyncBackup => Input::SyncBackup,
            };
            let was_timer = input == Input::Timer;
            inst.handle(now, input, &mut out);
            for a in out.drain(..) {
                match a {
                    Action::AddVips => { prop_assert!(!holds_vips, "AddVips twice"); holds_vips = true; }
                    Action::RemoveVips => { prop_assert!(holds_vips, "RemoveVips without AddVips"); holds_vips = false; }
                    Action::Notify { state, .. } => { prop_assert_ne!(state, last_state, "notify without change"); last_state = state; }
                    Action::SendAdvert(ad) => {
                        prop_assert_eq!(ad.vrid, cfg.vrid);
                        prop_assert!(ad.priority == 0 || ad.priority == inst.effective_priority());
                    }
                    Action::SendGratuitous { count } => prop_assert!(count > 0),
                    Action::WantMaster => {
                        prop_assert!(cfg.sync_group, "WantMaster outside a sync group");
                        prop_assert!(inst.wants_master());
                    }
                }
            }
            prop_assert_eq!(holds_vips, inst.state() == State::Master);
            prop_assert_eq!(last_state, inst.state());
            match inst.state() {
                State::Init | State::Fault => prop_assert_eq!(inst.next_deadline(), None),
                State::Backup | State::Master => prop_assert!(inst.next_deadline().is_some()),
            }
            if was_timer {
                // Every due timer fired and re-armed in the future (or was disarmed).
                prop_assert!(!matches!(inst.next_deadline(), Some(d) if d <= now), "due timer left armed");
            }
        }
        let s = inst.stats();
        prop_assert!(s.released_master <= s.became_master);
    }
}

#[test]
fn adverts_sent_by_an_instance_always_encode_and_decode() {
    use drift_vrrp::wire::{ChecksumMode, PseudoHeader};
    for v in [Version::V2, Version::V3] {
        let inst = Instance::new(config(v, 100, 0), Instant::now());
        let ph = PseudoHeader {
            src: "10.0.0.2".parse().unwrap(),
            dst: "224.0.0.18".parse().unwrap(),
        };
        let a: Advert = inst.advert(100);
        let bytes = a.to_bytes(&ph, ChecksumMode::PseudoHeader);
        assert_eq!(
            Advert::decode(&bytes, &ph, ChecksumMode::PseudoHeader),
            Ok(a)
        );
    }
}
