//! The fuzz targets' bodies, shared with the normal test suite: `fuzz_targets/*.rs` call these
//! under libFuzzer, and `tests/fuzz_seeds.rs` replays every committed seed and regression
//! (`fuzz/seeds/<target>/*`) through the same functions, so a fixed finding stays fixed in
//! plain `cargo test`. Only drift-vrrp's public API is used (this file is compiled into both).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use drift_vrrp::wire::{split_ipv4, Addrs, Advert, AuthType, ChecksumMode, PseudoHeader, Version};
use drift_vrrp::{Action, Auth, Input, Instance, InstanceConfig, State};

/// Every receive-path decoder on arbitrary bytes, then the receive policy: the IPv4 splitter,
/// VRRP v2/v3 over IPv4 and v3 over IPv6 with both checksum modes. Properties: no panic;
/// anything that decodes re-encodes to exactly the input bytes; a decoded advert fed to a
/// backup instance (v2 with PASS auth, or v3) is either counted as one drop or accepted, and is
/// only accepted with the configured password.
pub fn decode(data: &[u8]) {
    // Whole datagram as a raw IPv4 socket would deliver it (TTL from the header).
    if let Ok(d) = split_ipv4(data) {
        let ph = PseudoHeader {
            src: IpAddr::V4(d.src),
            dst: IpAddr::V4(d.dst),
        };
        check(d.payload, &ph, d.ttl);
    }
    // Bare VRRP payloads with fixed pseudo-headers (IPv6 raw sockets give no IP header).
    let ph4 = PseudoHeader {
        src: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
        dst: IpAddr::V4(Ipv4Addr::new(224, 0, 0, 18)),
    };
    check(data, &ph4, 255);
    let ph6 = PseudoHeader {
        src: IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1)),
        dst: IpAddr::V6(Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12)),
    };
    check(data, &ph6, 255);
}

fn check(bytes: &[u8], ph: &PseudoHeader, ttl: u8) {
    for mode in [ChecksumMode::PseudoHeader, ChecksumMode::V3AsV2] {
        match Advert::decode(bytes, ph, mode) {
            Ok(a) => {
                round_trip(bytes, ph, mode, &a);
                judge(ph.src, ttl, Ok(a));
            }
            Err(e) => judge(ph.src, ttl, Err(e)),
        }
    }
}

fn round_trip(bytes: &[u8], ph: &PseudoHeader, mode: ChecksumMode, a: &Advert) {
    // Reserved v3 bits are ignored on receive and zeroed on send (RFC 5798 §5.2.5), so when
    // they were set the bytes (and the checksum) legitimately differ there.
    let mut expected = bytes.to_vec();
    let mut got = a.to_bytes(ph, mode);
    if bytes.first().is_some_and(|b| b >> 4 == 3) && bytes.get(4).is_some_and(|b| b >> 4 != 0) {
        expected[4] &= 0x0f;
        got[4] &= 0x0f;
        expected[6..8].fill(0);
        got[6..8].fill(0);
    }
    // One's-complement arithmetic has two zeros: a stored 0xffff verifies like 0x0000 (which
    // is what we compute), so both are the same checksum.
    if expected.get(6..8) == Some(&[0xff, 0xff]) && got.get(6..8) == Some(&[0, 0]) {
        got[6..8].fill(0xff);
    }
    assert_eq!(got, expected, "re-encode differs for {a:?}");
}

/// The password the v2 judge is configured with (as keepalived pads it).
const PASS: &str = "1111";

/// Feed the decode result to a running backup with the advert's VRID and address list (so the
/// auth, TTL, interval and version checks are what decides), and check the bookkeeping.
fn judge(src: IpAddr, ttl: u8, decoded: Result<Advert, drift_vrrp::wire::WireError>) {
    let (vrid, addrs, version) = match &decoded {
        Ok(a) => (a.vrid, a.addrs.clone(), a.version),
        Err(_) => (
            1,
            Addrs::V4(vec![Ipv4Addr::new(10, 0, 0, 100)]),
            Version::V2,
        ),
    };
    let primary = match src {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 2)),
    };
    let mut c = InstanceConfig::new("fuzz", vrid, primary, addrs);
    c.version = version;
    c.auth = Auth::pass(PASS);
    let t0 = Instant::now();
    let mut inst = Instance::new(c, t0);
    let mut out = Vec::new();
    inst.handle(t0, Input::Startup, &mut out);
    let before = *inst.stats();
    let input = match decoded.clone() {
        Ok(advert) => Input::Advert { src, ttl, advert },
        Err(e) => Input::Malformed(e),
    };
    inst.handle(t0 + Duration::from_millis(1), input, &mut out);
    let after = *inst.stats();
    let dropped = after.dropped_total() - before.dropped_total();
    let accepted = after.adverts_rx - before.adverts_rx;
    assert!(dropped <= 1, "one packet counted as {dropped} drops");
    match decoded {
        Err(e) => assert_eq!(dropped, 1, "malformed packet not counted: {e}"),
        Ok(a) => {
            // Every advert that is not dropped is received (and counted as such).
            assert_eq!(
                accepted,
                1 - dropped,
                "advert both or neither dropped and received"
            );
            if dropped == 0 && a.version == Version::V2 {
                assert_eq!(a.auth_type, AuthType::Pass, "accepted without auth: {a:?}");
                assert_eq!(a.auth_data, *b"1111\0\0\0\0", "accepted a wrong password");
            }
            if dropped == 0 && src.is_ipv4() && src != primary {
                assert_eq!(ttl, 255, "accepted a multicast advert with TTL {ttl}");
            }
        }
    }
    // An advert never makes a backup that just started master by itself.
    assert!(
        !out.iter().any(|a| matches!(a, Action::AddVips)),
        "one advert made the backup master"
    );
    assert_ne!(inst.state(), State::Master);
}

/// The state machine under arbitrary input sequences: each 4-byte chunk of the input is one
/// input (startup, advert with chosen priority/TTL/tweak, time step + timer, tracker priority,
/// fault, shutdown). Properties: no panic; VIPs held exactly while Master; every due timer
/// handled on `Input::Timer`.
pub fn instance(data: &[u8]) {
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
}
