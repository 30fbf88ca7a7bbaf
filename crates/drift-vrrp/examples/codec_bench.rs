//! Prints ns per advert for decode (checked view + parse + checksum) and emit (+ checksum), for
//! the three wire flavours, plus one state-machine `handle` of an accepted advert.
//! `cargo run --release -p drift-vrrp --example codec_bench`

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use drift_vrrp::wire::{split_ipv4, Addrs, Advert, AuthType, ChecksumMode, PseudoHeader, Version};
use drift_vrrp::{Auth, Input, Instance, InstanceConfig};

const ITERS: u32 = 2_000_000;

fn time(mut f: impl FnMut()) -> f64 {
    for _ in 0..ITERS / 10 {
        f();
    }
    let t = Instant::now();
    for _ in 0..ITERS {
        f();
    }
    t.elapsed().as_nanos() as f64 / f64::from(ITERS)
}

fn main() {
    let ph4 = PseudoHeader {
        src: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
        dst: IpAddr::V4(Ipv4Addr::new(224, 0, 0, 18)),
    };
    let ph6 = PseudoHeader {
        src: IpAddr::V6("fe80::1".parse().unwrap()),
        dst: IpAddr::V6(Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12)),
    };
    let v4: Vec<Ipv4Addr> = (1..=4).map(|i| Ipv4Addr::new(10, 0, 0, 100 + i)).collect();
    let v6: Vec<Ipv6Addr> = (1..=4)
        .map(|i| Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, i))
        .collect();
    let cases = [
        (
            "v2/IPv4 4 VIPs",
            Advert {
                version: Version::V2,
                vrid: 51,
                priority: 100,
                adver_int_cs: 100,
                auth_type: AuthType::Pass,
                auth_data: *b"1111\0\0\0\0",
                addrs: Addrs::V4(v4.clone()),
            },
            ph4,
        ),
        (
            "v3/IPv4 4 VIPs",
            Advert {
                version: Version::V3,
                vrid: 51,
                priority: 100,
                adver_int_cs: 100,
                auth_type: AuthType::None,
                auth_data: [0; 8],
                addrs: Addrs::V4(v4.clone()),
            },
            ph4,
        ),
        (
            "v3/IPv6 4 VIPs",
            Advert {
                version: Version::V3,
                vrid: 51,
                priority: 100,
                adver_int_cs: 100,
                auth_type: AuthType::None,
                auth_data: [0; 8],
                addrs: Addrs::V6(v6),
            },
            ph6,
        ),
    ];
    println!(
        "drift-vrrp codec, {ITERS} iterations each (machine: {} CPUs)",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "{:<16} {:>8} {:>12} {:>12}",
        "advert", "bytes", "decode ns", "emit ns"
    );
    for (name, advert, ph) in &cases {
        let bytes = advert.to_bytes(ph, ChecksumMode::PseudoHeader);
        let mut buf = vec![0u8; advert.buffer_len()];
        let dec = time(|| {
            black_box(Advert::decode(black_box(&bytes), ph, ChecksumMode::PseudoHeader).ok());
        });
        let enc = time(|| {
            black_box(
                advert
                    .emit(black_box(&mut buf), ph, ChecksumMode::PseudoHeader)
                    .ok(),
            );
        });
        println!("{name:<16} {:>8} {dec:>12.1} {enc:>12.1}", bytes.len());
    }
    // IPv4 splitter on a full datagram (header checksum included).
    let mut dgram = vec![
        0x45, 0xc0, 0x00, 0x20, 0, 0, 0, 0, 255, 112, 0, 0, 10, 0, 0, 1, 224, 0, 0, 18,
    ];
    dgram.extend_from_slice(&cases[1].1.to_bytes(&ph4, ChecksumMode::PseudoHeader)[..12]);
    let c = drift_vrrp::wire::internet_checksum(&dgram[..20]);
    dgram[10..12].copy_from_slice(&c.to_be_bytes());
    let split = time(|| {
        black_box(split_ipv4(black_box(&dgram)).ok());
    });
    println!(
        "{:<16} {:>8} {split:>12.1} {:>12}",
        "split_ipv4",
        dgram.len(),
        "-"
    );

    // One accepted advert through the state machine (backup resetting its timer).
    let mut cfg = InstanceConfig::new(
        "bench",
        51,
        IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
        Addrs::V4(v4),
    );
    cfg.auth = Auth::pass("1111");
    let t0 = Instant::now();
    let mut inst = Instance::new(cfg, t0);
    let mut out = Vec::new();
    inst.handle(t0, Input::Startup, &mut out);
    let advert = cases[0].1.clone();
    let mut n = 0u64;
    let handle = time(|| {
        n += 1;
        let input = Input::Advert {
            src: ph4.src,
            ttl: 255,
            advert: advert.clone(),
        };
        inst.handle(t0 + Duration::from_micros(n), input, &mut out);
        out.clear();
    });
    println!(
        "{:<16} {:>8} {handle:>12.1} {:>12}",
        "Instance::handle", "-", "-"
    );
}
