//! Property tests: parse(emit(x)) == x for every representable advert, and no input makes the
//! decoders panic (the fuzzer explores the same property much further).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use drift_vrrp::wire::{split_ipv4, Addrs, Advert, AuthType, ChecksumMode, PseudoHeader, Version};
use proptest::prelude::*;

fn v4() -> impl Strategy<Value = Ipv4Addr> {
    any::<u32>().prop_map(Ipv4Addr::from)
}
fn v6() -> impl Strategy<Value = Ipv6Addr> {
    any::<u128>().prop_map(Ipv6Addr::from)
}

/// Adverts as the wire can carry them: v2 only over IPv4 with whole seconds; v3 12-bit
/// centiseconds and no auth.
fn advert_and_ph() -> impl Strategy<Value = (Advert, PseudoHeader)> {
    let v2 = (
        any::<u8>(),
        any::<u8>(),
        any::<u8>(),
        any::<u8>(),
        any::<[u8; 8]>(),
        prop::collection::vec(v4(), 0..20),
        v4(),
        v4(),
    )
        .prop_map(|(vrid, priority, secs, auth, auth_data, addrs, s, d)| {
            let a = Advert {
                version: Version::V2,
                vrid,
                priority,
                adver_int_cs: u16::from(secs) * 100,
                auth_type: AuthType::from(auth),
                auth_data,
                addrs: Addrs::V4(addrs),
            };
            (
                a,
                PseudoHeader {
                    src: IpAddr::V4(s),
                    dst: IpAddr::V4(d),
                },
            )
        });
    let v3_4 = (
        any::<u8>(),
        any::<u8>(),
        0u16..4096,
        prop::collection::vec(v4(), 0..20),
        v4(),
        v4(),
    )
        .prop_map(|(vrid, priority, cs, addrs, s, d)| {
            (
                v3(vrid, priority, cs, Addrs::V4(addrs)),
                PseudoHeader {
                    src: IpAddr::V4(s),
                    dst: IpAddr::V4(d),
                },
            )
        });
    let v3_6 = (
        any::<u8>(),
        any::<u8>(),
        0u16..4096,
        prop::collection::vec(v6(), 0..20),
        v6(),
        v6(),
    )
        .prop_map(|(vrid, priority, cs, addrs, s, d)| {
            (
                v3(vrid, priority, cs, Addrs::V6(addrs)),
                PseudoHeader {
                    src: IpAddr::V6(s),
                    dst: IpAddr::V6(d),
                },
            )
        });
    prop_oneof![v2, v3_4, v3_6]
}

fn v3(vrid: u8, priority: u8, adver_int_cs: u16, addrs: Addrs) -> Advert {
    Advert {
        version: Version::V3,
        vrid,
        priority,
        adver_int_cs,
        auth_type: AuthType::None,
        auth_data: [0; 8],
        addrs,
    }
}

fn mode() -> impl Strategy<Value = ChecksumMode> {
    prop_oneof![Just(ChecksumMode::PseudoHeader), Just(ChecksumMode::V3AsV2)]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn parse_of_emit_is_identity((a, ph) in advert_and_ph(), m in mode()) {
        let bytes = a.to_bytes(&ph, m);
        prop_assert_eq!(bytes.len(), a.buffer_len());
        prop_assert_eq!(Advert::decode(&bytes, &ph, m), Ok(a));
    }

    #[test]
    fn any_single_bit_flip_is_rejected((a, ph) in advert_and_ph(), bit in any::<prop::sample::Index>()) {
        let mut bytes = a.to_bytes(&ph, ChecksumMode::PseudoHeader);
        let i = bit.index(bytes.len() * 8);
        bytes[i / 8] ^= 1 << (i % 8);
        // A one-bit change moves a 16-bit word by 2^k, never by 0xffff, so the one's-complement
        // sum always changes; every byte of a VRRP message is covered by the checksum.
        prop_assert!(Advert::decode(&bytes, &ph, ChecksumMode::PseudoHeader).is_err());
    }

    #[test]
    fn decoders_never_panic_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..300), s in v4(), d in v4()) {
        let ph = PseudoHeader { src: IpAddr::V4(s), dst: IpAddr::V4(d) };
        let _ = Advert::decode(&bytes, &ph, ChecksumMode::PseudoHeader);
        let _ = split_ipv4(&bytes);
    }
}
