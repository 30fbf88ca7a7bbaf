//! Replays every committed fuzz seed and regression (`fuzz/seeds/<target>/*`) through the fuzz
//! targets' own bodies (`fuzz/entry.rs`), so that a finding fixed once stays fixed in plain
//! `cargo test` (CI does not run the fuzzers themselves).

#[path = "../fuzz/entry.rs"]
mod entry;

use std::net::{IpAddr, Ipv6Addr};
use std::path::{Path, PathBuf};

use drift_vrrp::wire::{Advert, ChecksumMode, PseudoHeader};

fn seeds(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/seeds")
        .join(target);
    let mut v: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect();
    v.sort();
    v
}

#[test]
fn every_decode_seed_and_regression_passes_the_decode_target() {
    let all = seeds("decode");
    assert!(all.len() >= 10, "decode seeds went missing");
    for (path, bytes) in all {
        println!("{}", path.display());
        entry::decode(&bytes);
    }
}

#[test]
fn every_instance_seed_passes_the_instance_target() {
    for (path, bytes) in seeds("instance") {
        println!("{}", path.display());
        entry::instance(&bytes);
    }
}

#[test]
fn the_seeds_cover_ipv6_and_the_v2_auth_paths() {
    // The seeds are only worth committing if they reach the paths they are named after.
    let read = |n: &str| {
        std::fs::read(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("fuzz/seeds/decode")
                .join(n),
        )
        .unwrap()
    };
    let ph6 = PseudoHeader {
        src: IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1)),
        dst: IpAddr::V6(Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12)),
    };
    let a = Advert::decode(&read("v3-ipv6-vrrp"), &ph6, ChecksumMode::PseudoHeader).unwrap();
    assert_eq!((a.vrid, a.addrs.len()), (51, 1));
    let ph4 = PseudoHeader {
        src: "10.0.0.1".parse().unwrap(),
        dst: "224.0.0.18".parse().unwrap(),
    };
    let wrong = Advert::decode(
        &read("v2-wrong-pass-vrrp"),
        &ph4,
        ChecksumMode::PseudoHeader,
    )
    .unwrap();
    assert_eq!(&wrong.auth_data[..4], b"2222");
    let none = Advert::decode(&read("v2-no-auth-vrrp"), &ph4, ChecksumMode::PseudoHeader).unwrap();
    assert_eq!(none.auth_type, drift_vrrp::wire::AuthType::None);
}
