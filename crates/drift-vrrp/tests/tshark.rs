//! Independent check of our encoder: Wireshark's VRRP dissector must decode what we emit and
//! call its checksum good (v2, v3 over IPv4 with the pseudo-header, v3 over IPv6).
//! Skips with a printed reason when tshark is not installed.

mod common;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::process::Command;

use common::pcap;
use drift_vrrp::wire::{
    internet_checksum, Addrs, Advert, AuthType, ChecksumMode, PseudoHeader, Version,
};

const SRC_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];

fn ipv4_frame(src: Ipv4Addr, dst: Ipv4Addr, vrrp: &[u8]) -> Vec<u8> {
    let mut f = vec![0x01, 0x00, 0x5e, 0x00, 0x00, 0x12];
    f.extend_from_slice(&SRC_MAC);
    f.extend_from_slice(&0x0800u16.to_be_bytes());
    let mut ip = vec![0x45, 0xc0];
    ip.extend_from_slice(&((20 + vrrp.len()) as u16).to_be_bytes());
    ip.extend_from_slice(&[0, 0, 0, 0, 255, 112, 0, 0]);
    ip.extend_from_slice(&src.octets());
    ip.extend_from_slice(&dst.octets());
    let c = internet_checksum(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    f.extend_from_slice(&ip);
    f.extend_from_slice(vrrp);
    f
}

fn ipv6_frame(src: Ipv6Addr, dst: Ipv6Addr, vrrp: &[u8]) -> Vec<u8> {
    let mut f = vec![0x33, 0x33, 0x00, 0x00, 0x00, 0x12];
    f.extend_from_slice(&SRC_MAC);
    f.extend_from_slice(&0x86ddu16.to_be_bytes());
    f.extend_from_slice(&[0x60, 0, 0, 0]);
    f.extend_from_slice(&(vrrp.len() as u16).to_be_bytes());
    f.extend_from_slice(&[112, 255]);
    f.extend_from_slice(&src.octets());
    f.extend_from_slice(&dst.octets());
    f.extend_from_slice(vrrp);
    f
}

fn advert(version: Version, addrs: Addrs) -> Advert {
    let (auth_type, auth_data) = match version {
        Version::V2 => (AuthType::Pass, *b"secret\0\0"),
        Version::V3 => (AuthType::None, [0; 8]),
    };
    Advert {
        version,
        vrid: 42,
        priority: 150,
        adver_int_cs: 100,
        auth_type,
        auth_data,
        addrs,
    }
}

#[test]
fn tshark_decodes_our_v2_v3_and_ipv6_adverts_with_good_checksums() {
    if Command::new("tshark").arg("--version").output().is_err() {
        println!("SKIP tshark_decodes_our_adverts: tshark not installed");
        return;
    }
    let (s4, d4) = (Ipv4Addr::new(10, 9, 0, 1), Ipv4Addr::new(224, 0, 0, 18));
    let (s6, d6): (Ipv6Addr, Ipv6Addr) = ("fe80::1".parse().unwrap(), "ff02::12".parse().unwrap());
    let ph4 = PseudoHeader {
        src: IpAddr::V4(s4),
        dst: IpAddr::V4(d4),
    };
    let ph6 = PseudoHeader {
        src: IpAddr::V6(s6),
        dst: IpAddr::V6(d6),
    };
    let vips4 = Addrs::V4(vec![
        Ipv4Addr::new(10, 9, 0, 100),
        Ipv4Addr::new(10, 9, 0, 101),
    ]);
    let vips6 = Addrs::V6(vec![
        "fe80::100".parse().unwrap(),
        "2001:db8::100".parse().unwrap(),
    ]);
    let frames = vec![
        ipv4_frame(
            s4,
            d4,
            &advert(Version::V2, vips4.clone()).to_bytes(&ph4, ChecksumMode::PseudoHeader),
        ),
        ipv4_frame(
            s4,
            d4,
            &advert(Version::V3, vips4).to_bytes(&ph4, ChecksumMode::PseudoHeader),
        ),
        ipv6_frame(
            s6,
            d6,
            &advert(Version::V3, vips6).to_bytes(&ph6, ChecksumMode::PseudoHeader),
        ),
    ];
    let path = std::env::temp_dir().join(format!("drift-vrrp-tshark-{}.pcap", std::process::id()));
    std::fs::write(&path, pcap::write(&frames)).unwrap();
    let out = Command::new("tshark")
        .args([
            "-r",
            path.to_str().unwrap(),
            "-V",
            "-Y",
            "vrrp",
            "-o",
            "vrrp.v3_checksum_as_in_v2:FALSE",
        ])
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&path);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "tshark failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        text.matches("Virtual Router Redundancy Protocol").count(),
        3,
        "{text}"
    );
    assert_eq!(text.matches("[Checksum Status: Good]").count(), 3, "{text}");
    for needle in [
        "VRRP protocol version: 2",
        "VRRP protocol version: 3",
        "Virtual Rtr ID: 42",
        "Auth Type: Simple Text Authentication",
        "IP Address: 10.9.0.101",
        "IPv6 Address: 2001:db8::100",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
}

#[test]
fn tshark_agrees_with_our_v3_as_v2_checksum_when_told_to_use_that_algorithm() {
    if Command::new("tshark").arg("--version").output().is_err() {
        println!("SKIP tshark_agrees_with_v3_as_v2: tshark not installed");
        return;
    }
    let (s4, d4) = (Ipv4Addr::new(10, 9, 0, 1), Ipv4Addr::new(224, 0, 0, 18));
    let ph4 = PseudoHeader {
        src: IpAddr::V4(s4),
        dst: IpAddr::V4(d4),
    };
    let vrrp = advert(Version::V3, Addrs::V4(vec![Ipv4Addr::new(10, 9, 0, 100)]))
        .to_bytes(&ph4, ChecksumMode::V3AsV2);
    let path = std::env::temp_dir().join(format!(
        "drift-vrrp-tshark-v2sum-{}.pcap",
        std::process::id()
    ));
    std::fs::write(&path, pcap::write(&[ipv4_frame(s4, d4, &vrrp)])).unwrap();
    let run = |pref: &str| {
        let out = Command::new("tshark")
            .args(["-r", path.to_str().unwrap(), "-V", "-Y", "vrrp", "-o", pref])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let as_v2 = run("vrrp.v3_checksum_as_in_v2:TRUE");
    let default = run("vrrp.v3_checksum_as_in_v2:FALSE");
    let _ = std::fs::remove_file(&path);
    assert!(as_v2.contains("[Checksum Status: Good]"), "{as_v2}");
    assert!(default.contains("[Checksum Status: Bad]"), "{default}");
}
