//! The state machine under arbitrary input sequences: each 4-byte chunk of the fuzz input is
//! one input (startup, advert with chosen priority/TTL/tweak, time step + timer, tracker
//! priority, fault, shutdown). Properties: no panic; VIPs held exactly while Master; every due
//! timer handled on `Input::Timer`.
#![no_main]

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use drift_vrrp::wire::{Addrs, AuthType, Version};
use drift_vrrp::{Action, Auth, Input, Instance, InstanceConfig, State};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((head, rest)) = data.split_first_chunk::<3>() else {
        return;
    };
    let vips = Addrs::V4(vec![
        Ipv4Addr::new(10, 0, 0, 100),
        Ipv4Addr::new(10, 0, 0, 101),
    ]);
    let mut c = InstanceConfig::new("f", 9, IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)), vips);
    c.version = if head[0] & 1 == 0 {
        Version::V2
    } else {
        Version::V3
    };
    c.priority = head[1];
    let flags = head[2];
    c.auth = if flags & 1 != 0 {
        Auth::pass("pw")
    } else {
        Auth::None
    };
    c.nopreempt = flags & 2 != 0;
    c.preempt_delay = Duration::from_millis(u64::from(flags & 4) * 500);
    c.lower_prio_no_advert = flags & 8 != 0;
    c.higher_prio_send_advert = flags & 16 != 0;
    c.garp_master_refresh = Duration::from_millis(u64::from(flags & 32) * 50);
    c.skip_check_adv_addr = flags & 64 != 0;
    c.down_timer_adverts = u32::from(head[0] >> 1);
    if head[0] & 2 != 0 {
        c.initial_state = drift_vrrp::InitialState::Master;
    }
    let t0 = Instant::now();
    let mut now = t0;
    let mut inst = Instance::new(c, t0);
    let mut out = vec![];
    let mut holds = false;
    for op in rest.chunks_exact(4) {
        let input = match op[0] % 8 {
            0 => Input::Startup,
            1 | 2 => {
                let mut a = inst.advert(op[1]);
                match op[3] % 6 {
                    1 => a.vrid = op[2],
                    2 => a.auth_type = AuthType::from(op[2]),
                    3 => a.adver_int_cs = u16::from(op[2]) * 7,
                    4 => a.addrs = Addrs::V4(vec![Ipv4Addr::new(10, 0, 0, op[2])]),
                    _ => {}
                }
                let src = IpAddr::V4(Ipv4Addr::new(10, 0, 0, op[3] >> 5));
                Input::Advert {
                    src,
                    ttl: if op[3] & 16 != 0 { op[2] } else { 255 },
                    advert: a,
                }
            }
            3 | 4 => {
                now += Duration::from_micros(u64::from(u16::from_be_bytes([op[1], op[2]])) * 100);
                Input::Timer
            }
            5 => Input::PriorityChange { effective: op[1] },
            6 => Input::Fault(op[1] & 1 != 0),
            _ => Input::Shutdown,
        };
        let was_timer = input == Input::Timer;
        inst.handle(now, input, &mut out);
        for a in out.drain(..) {
            match a {
                Action::AddVips => {
                    assert!(!holds);
                    holds = true;
                }
                Action::RemoveVips => {
                    assert!(holds);
                    holds = false;
                }
                _ => {}
            }
        }
        assert_eq!(holds, inst.state() == State::Master);
        if was_timer {
            assert!(!matches!(inst.next_deadline(), Some(d) if d <= now));
        }
    }
});
