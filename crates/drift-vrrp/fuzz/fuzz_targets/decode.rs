//! Every receive-path decoder on arbitrary bytes: the IPv4 splitter, then VRRP v2/v3 over IPv4
//! and v3 over IPv6 with both checksum modes. The properties: no panic, and anything that
//! decodes re-encodes to exactly the input bytes when the checksum verified.
#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use drift_vrrp::wire::{split_ipv4, Advert, ChecksumMode, PseudoHeader};
use libfuzzer_sys::fuzz_target;

fn check(bytes: &[u8], ph: &PseudoHeader) {
    for mode in [ChecksumMode::PseudoHeader, ChecksumMode::V3AsV2] {
        if let Ok(a) = Advert::decode(bytes, ph, mode) {
            // Reserved v3 bits are ignored on receive and zeroed on send (RFC 5798 §5.2.5), so
            // when they were set the bytes (and the checksum) legitimately differ there.
            let mut expected = bytes.to_vec();
            let mut got = a.to_bytes(ph, mode);
            if bytes.first().is_some_and(|b| b >> 4 == 3)
                && bytes.get(4).is_some_and(|b| b >> 4 != 0)
            {
                expected[4] &= 0x0f;
                got[4] &= 0x0f;
                expected[6..8].fill(0);
                got[6..8].fill(0);
            }
            // One's-complement arithmetic has two zeros: a stored 0xffff verifies like 0x0000
            // (which is what we compute), so both are the same checksum.
            if expected.get(6..8) == Some(&[0xff, 0xff]) && got.get(6..8) == Some(&[0, 0]) {
                got[6..8].fill(0xff);
            }
            assert_eq!(got, expected, "re-encode differs for {a:?}");
        }
    }
}

fuzz_target!(|data: &[u8]| {
    // Whole datagram as a raw IPv4 socket would deliver it.
    if let Ok(d) = split_ipv4(data) {
        let ph = PseudoHeader {
            src: IpAddr::V4(d.src),
            dst: IpAddr::V4(d.dst),
        };
        check(d.payload, &ph);
    }
    // Bare VRRP payloads with fixed pseudo-headers (IPv6 raw sockets give no IP header).
    let ph4 = PseudoHeader {
        src: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
        dst: IpAddr::V4(Ipv4Addr::new(224, 0, 0, 18)),
    };
    check(data, &ph4);
    let ph6 = PseudoHeader {
        src: IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1)),
        dst: IpAddr::V6(Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12)),
    };
    check(data, &ph6);
});
