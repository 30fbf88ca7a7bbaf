//! The hostile packets: what each one is, where it goes, and the counter it must move.

use std::net::Ipv4Addr;

use drift_testkit::Lab;
use drift_vrrp::wire::Version;

use super::common::raw_vrrp::{AdvertSpec, Sender, GROUP};
use super::{FAST, UNI, V2};

/// One kind of hostile packet, the destination it goes to, and the counter it must move.
pub struct Kind {
    pub name: &'static str,
    /// Multicast (both daemons count it) or unicast to each daemon's address.
    pub unicast: bool,
    /// `"<instance>/<reason>"` or `"unmatched/<reason>"`.
    pub counter: &'static str,
    /// Through the fragmenting socket instead of our own IP header.
    pub fragmented: bool,
    /// (ttl, payload) for a given destination.
    pub build: Box<dyn Fn(Ipv4Addr, Ipv4Addr) -> (u8, Vec<u8>) + Send + Sync>,
}

pub fn kinds(lab: &Lab) -> Vec<Kind> {
    let fast = AdvertSpec {
        version: Version::V3,
        vrid: FAST,
        priority: 254,
        adver_int_cs: 10,
        pass: None,
        vips: vec![lab.addr_v4(111)],
    };
    let v2 = AdvertSpec {
        version: Version::V2,
        vrid: V2,
        priority: 254,
        adver_int_cs: 100,
        pass: Some("wrong"),
        vips: vec![lab.addr_v4(110)],
    };
    let uni = AdvertSpec {
        vrid: UNI,
        vips: vec![lab.addr_v4(112)],
        ..fast.clone()
    };
    let k =
        |name,
         unicast,
         counter,
         build: Box<dyn Fn(Ipv4Addr, Ipv4Addr) -> (u8, Vec<u8>) + Send + Sync>| Kind {
            name,
            unicast,
            counter,
            fragmented: false,
            build,
        };
    let f = fast.clone();
    let ttl = k(
        "ttl 254",
        false,
        "FAST/ttl",
        Box::new(move |s, d| (254, f.to_bytes(s, d))),
    );
    let f = fast.clone();
    let checksum = k(
        "bad checksum",
        false,
        "FAST/checksum",
        Box::new(move |s, d| {
            let mut b = f.to_bytes(s, d);
            b[6] ^= 0x5a;
            (255, b)
        }),
    );
    let w = v2.clone();
    let auth_fail = k(
        "wrong password",
        false,
        "V2/auth_fail",
        Box::new(move |s, d| (255, w.to_bytes(s, d))),
    );
    let w = AdvertSpec {
        pass: None,
        ..v2.clone()
    };
    let auth_type = k(
        "no auth",
        false,
        "V2/auth_type",
        Box::new(move |s, d| (255, w.to_bytes(s, d))),
    );
    let w = AdvertSpec {
        vrid: FAST,
        vips: vec![lab.addr_v4(111)],
        pass: None,
        ..v2.clone()
    };
    let version = k(
        "v2 to a v3 instance",
        false,
        "FAST/version",
        Box::new(move |s, d| (255, w.to_bytes(s, d))),
    );
    let w = AdvertSpec {
        vrid: 99,
        ..fast.clone()
    };
    let vrid = k(
        "unknown vrid",
        false,
        "unmatched/unknown_vrid",
        Box::new(move |s, d| (255, w.to_bytes(s, d))),
    );
    let runt = k(
        "1-byte runt",
        false,
        "unmatched/runt",
        Box::new(|_, _| (255, vec![0x31])),
    );
    let f = fast.clone();
    let truncated = k(
        "truncated",
        false,
        "FAST/length",
        Box::new(move |s, d| (255, f.to_bytes(s, d)[..6].to_vec())),
    );
    let f = fast.clone();
    let oversized = k(
        "oversized",
        false,
        "FAST/length",
        Box::new(move |s, d| {
            let mut b = f.to_bytes(s, d);
            b.resize(1200, 0xee);
            (255, b)
        }),
    );
    let f = fast.clone();
    let mut jumbo = k(
        "fragmented 4000 bytes",
        false,
        "FAST/length",
        Box::new(move |s, d| {
            let mut b = f.to_bytes(s, d);
            b.resize(4000, 0xee);
            (255, b)
        }),
    );
    jumbo.fragmented = true;
    let u = uni.clone();
    let not_peer = k(
        "higher priority from a non-peer",
        true,
        "UNI/unicast_src",
        Box::new(move |s, d| (255, u.to_bytes(s, d))),
    );
    vec![
        ttl, checksum, auth_fail, auth_type, version, vrid, runt, truncated, oversized, jumbo,
        not_peer,
    ]
}

/// Send `kind` once to its destination(s); returns how many packets left.
pub fn fire(tx: &Sender, lab: &Lab, me: Ipv4Addr, kind: &Kind) -> u64 {
    let dsts: Vec<Ipv4Addr> = if kind.unicast {
        vec![lab.host(0).ipv4(), lab.host(1).ipv4()]
    } else {
        vec![GROUP]
    };
    let mut sent = 0;
    for dst in dsts {
        let (ttl, payload) = (kind.build)(me, dst);
        let ok = if kind.fragmented {
            tx.send_fragmented(dst, &payload)
        } else {
            tx.send(me, dst, ttl, &payload)
        };
        sent += u64::from(ok.is_ok());
    }
    sent
}
