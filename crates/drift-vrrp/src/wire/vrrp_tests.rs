use super::*;

/// keepalived-v2.pcap frame 1: VRID 51, prio 100, PASS "1111", 10.203.0.110.
const V2: [u8; 20] = [
    0x21, 0x33, 0x64, 0x01, 0x01, 0x01, 0x0c, 0x2f, 0x0a, 0xcb, 0x00, 0x6e, 0x31, 0x31, 0x31, 0x31,
    0, 0, 0, 0,
];
/// keepalived-v3.pcap frame 1: VRID 51, prio 100, 10 cs, pseudo-header checksum.
const V3: [u8; 12] = [
    0x31, 0x33, 0x64, 0x01, 0x00, 0x0a, 0x74, 0x23, 0x0a, 0xcb, 0x00, 0x6e,
];

fn ph4() -> PseudoHeader {
    PseudoHeader {
        src: "10.203.0.11".parse().unwrap(),
        dst: "224.0.0.18".parse().unwrap(),
    }
}

#[test]
fn keepalived_v2_advert_decodes_and_reencodes_identically() {
    let a = Advert::decode(&V2, &ph4(), ChecksumMode::PseudoHeader).unwrap();
    assert_eq!(
        (a.version, a.vrid, a.priority, a.adver_int_cs),
        (Version::V2, 51, 100, 100)
    );
    assert_eq!(a.auth_type, AuthType::Pass);
    assert_eq!(&a.auth_data, b"1111\0\0\0\0");
    assert_eq!(a.addrs, Addrs::V4(vec![Ipv4Addr::new(10, 203, 0, 110)]));
    assert_eq!(a.to_bytes(&ph4(), ChecksumMode::PseudoHeader), V2);
}

#[test]
fn keepalived_v3_advert_decodes_and_reencodes_identically() {
    let a = Advert::decode(&V3, &ph4(), ChecksumMode::PseudoHeader).unwrap();
    assert_eq!(
        (a.version, a.priority, a.adver_int_cs),
        (Version::V3, 100, 10)
    );
    assert_eq!(a.to_bytes(&ph4(), ChecksumMode::PseudoHeader), V3);
}

#[test]
fn v3_checksum_fails_without_the_pseudo_header_and_with_a_wrong_source() {
    let e = Advert::decode(&V3, &ph4(), ChecksumMode::V3AsV2).unwrap_err();
    assert!(matches!(e, WireError::Checksum { stored: 0x7423, .. }));
    let other = PseudoHeader {
        src: "10.203.0.12".parse().unwrap(),
        ..ph4()
    };
    assert!(Advert::decode(&V3, &other, ChecksumMode::PseudoHeader).is_err());
}

#[test]
fn checksum_error_reports_the_value_a_correct_sender_would_store() {
    let mut bad = V2;
    bad[7] ^= 0xff;
    let e = Advert::decode(&bad, &ph4(), ChecksumMode::PseudoHeader).unwrap_err();
    assert_eq!(
        e,
        WireError::Checksum {
            stored: 0x0cd0,
            computed: 0x0c2f
        }
    );
}

#[test]
fn v3_as_v2_mode_round_trips_with_its_own_checksum() {
    let a = Advert::decode(&V3, &ph4(), ChecksumMode::PseudoHeader).unwrap();
    let b = a.to_bytes(&ph4(), ChecksumMode::V3AsV2);
    assert_ne!(b, V3);
    assert_eq!(Advert::decode(&b, &ph4(), ChecksumMode::V3AsV2).unwrap(), a);
}

#[test]
fn count_that_disagrees_with_length_is_a_length_error() {
    let mut b = V3;
    b[3] = 2;
    let e = VrrpPacket::new_checked(&b[..], Family::Ipv4).unwrap_err();
    assert_eq!(
        e,
        WireError::Length {
            expected: 16,
            actual: 12,
            count: 2
        }
    );
}

#[test]
fn unknown_version_non_advert_type_and_v2_over_ipv6_are_rejected() {
    let mut b = V3;
    b[0] = 0x41;
    assert_eq!(
        VrrpPacket::new_checked(&b[..], Family::Ipv4).unwrap_err(),
        WireError::Version(4)
    );
    b[0] = 0x32;
    assert_eq!(
        Advert::decode(&b, &ph4(), ChecksumMode::PseudoHeader).unwrap_err(),
        WireError::Type(2)
    );
    assert_eq!(
        VrrpPacket::new_checked(&V2[..], Family::Ipv6).unwrap_err(),
        WireError::V2OverIpv6
    );
}

#[test]
fn truncated_header_is_rejected_before_any_field_is_read() {
    let e = VrrpPacket::new_checked(&V3[..7], Family::Ipv4).unwrap_err();
    assert_eq!(
        e,
        WireError::Truncated {
            what: Layer::Vrrp,
            len: 7,
            need: 8
        }
    );
}

#[test]
fn ipv6_advert_round_trips_with_the_ipv6_pseudo_header() {
    let ph = PseudoHeader {
        src: "fe80::1".parse().unwrap(),
        dst: "ff02::12".parse().unwrap(),
    };
    let a = Advert {
        version: Version::V3,
        vrid: 7,
        priority: 200,
        adver_int_cs: 100,
        auth_type: AuthType::None,
        auth_data: [0; 8],
        addrs: Addrs::V6(vec![
            "fe80::7".parse().unwrap(),
            "2001:db8::7".parse().unwrap(),
        ]),
    };
    let b = a.to_bytes(&ph, ChecksumMode::PseudoHeader);
    assert_eq!(b.len(), 8 + 32);
    assert_eq!(
        Advert::decode(&b, &ph, ChecksumMode::PseudoHeader).unwrap(),
        a
    );
}

#[test]
fn emit_into_a_short_buffer_is_an_error_not_a_panic() {
    let a = Advert::decode(&V3, &ph4(), ChecksumMode::PseudoHeader).unwrap();
    let mut small = [0u8; 5];
    assert!(a
        .emit(&mut small, &ph4(), ChecksumMode::PseudoHeader)
        .is_err());
}

#[test]
fn mixed_family_pseudo_header_is_rejected() {
    let ph = PseudoHeader {
        src: "10.0.0.1".parse().unwrap(),
        dst: "ff02::12".parse().unwrap(),
    };
    assert_eq!(
        Advert::decode(&V3, &ph, ChecksumMode::PseudoHeader).unwrap_err(),
        WireError::MixedFamily
    );
}

/// Found by the fuzzer: a stored checksum of 0xffff is one's-complement "negative zero" and
/// verifies like the 0x0000 we would compute; it must decode (keepalived accepts it too).
#[test]
fn a_negative_zero_checksum_is_accepted() {
    let bytes = [
        0x21, 0x33, 0x64, 0x01, 0x0c, 0x01, 0xff, 0xff, 0xff, 0xff, 0x01, 0x2f, 0x0a, 0xcb, 0x00,
        0x6e, 0x31, 0x31, 0x31, 0x31,
    ];
    let a = Advert::decode(&bytes, &ph4(), ChecksumMode::PseudoHeader).unwrap();
    assert_eq!(a.auth_type, AuthType::Unknown(12));
    assert_eq!(
        &a.to_bytes(&ph4(), ChecksumMode::PseudoHeader)[6..8],
        &[0, 0]
    );
}
