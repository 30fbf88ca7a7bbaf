//! Golden bytes from real keepalived 2.2.7 (see tests/data, copied from shared/captures): every
//! advert decodes, passes an instance's receive policy, and re-encodes to the same bytes,
//! checksum included; the gratuitous ARPs match our builder byte for byte.

mod common;

use std::net::IpAddr;

use common::pcap;
use drift_vrrp::wire::{self, Advert, AuthType, ChecksumMode, PseudoHeader, Version, IPPROTO_VRRP};

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_ARP: u16 = 0x0806;

struct Decoded {
    src: IpAddr,
    ttl: u8,
    advert: Advert,
    bytes: Vec<u8>,
}

fn adverts(name: &str) -> (Vec<Decoded>, Vec<Vec<u8>>) {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    let p = pcap::read(&std::fs::read(&path).unwrap());
    let (mut ads, mut arps) = (vec![], vec![]);
    for frame in &p.frames {
        let (ethertype, payload) = pcap::link_payload(p.linktype, frame).unwrap();
        match ethertype {
            ETHERTYPE_ARP => arps.push(frame.clone()),
            ETHERTYPE_IPV4 => {
                let d = wire::split_ipv4(payload).unwrap();
                assert_eq!(d.protocol, IPPROTO_VRRP);
                let ph = PseudoHeader {
                    src: d.src.into(),
                    dst: d.dst.into(),
                };
                let advert = Advert::decode(d.payload, &ph, ChecksumMode::PseudoHeader)
                    .unwrap_or_else(|e| panic!("{name}: {e}"));
                assert_eq!(
                    advert.to_bytes(&ph, ChecksumMode::PseudoHeader),
                    d.payload,
                    "{name}: re-encode"
                );
                ads.push(Decoded {
                    src: d.src.into(),
                    ttl: d.ttl,
                    advert,
                    bytes: d.payload.to_vec(),
                });
            }
            other => panic!("{name}: unexpected ethertype {other:04x}"),
        }
    }
    (ads, arps)
}

#[test]
fn every_v2_advert_decodes_and_reencodes_to_the_same_bytes() {
    let (ads, _) = adverts("keepalived-v2.pcap");
    assert_eq!(ads.len(), 3);
    for d in &ads {
        let a = &d.advert;
        assert_eq!(
            (a.version, a.vrid, a.priority, a.adver_int_cs),
            (Version::V2, 51, 100, 100)
        );
        assert_eq!(
            (a.auth_type, &a.auth_data),
            (AuthType::Pass, b"1111\0\0\0\0")
        );
        assert_eq!(
            a.addrs.iter().collect::<Vec<_>>(),
            vec!["10.203.0.110".parse::<IpAddr>().unwrap()]
        );
        assert_eq!(d.bytes.len(), 20);
        assert_eq!(d.ttl, 255);
    }
}

#[test]
fn every_v3_advert_decodes_and_reencodes_with_the_pseudo_header_checksum() {
    let (ads, _) = adverts("keepalived-v3.pcap");
    assert_eq!(ads.len(), 30);
    for d in &ads {
        assert_eq!(
            (d.advert.version, d.advert.priority, d.advert.adver_int_cs),
            (Version::V3, 100, 10)
        );
        // And keepalived's checksum is not the pseudo-header-less one.
        let ph = PseudoHeader {
            src: d.src,
            dst: "224.0.0.18".parse().unwrap(),
        };
        assert!(Advert::decode(&d.bytes, &ph, ChecksumMode::V3AsV2).is_err());
    }
}

#[test]
fn takeover_captures_show_priority_zero_then_the_backup_at_priority_99() {
    for (name, version) in [
        ("keepalived-v2-takeover.pcap", Version::V2),
        ("keepalived-v3-takeover.pcap", Version::V3),
    ] {
        let (ads, _) = adverts(name);
        let prios: Vec<(String, u8)> = ads
            .iter()
            .map(|d| (d.src.to_string(), d.advert.priority))
            .collect();
        let zero = prios
            .iter()
            .position(|p| p == &("10.203.0.11".to_string(), 0))
            .expect("priority 0 advert");
        assert!(
            prios[zero + 1..]
                .iter()
                .all(|p| p == &("10.203.0.12".to_string(), 99)),
            "{name}: {prios:?}"
        );
        assert!(ads.iter().all(|d| d.advert.version == version));
    }
}

#[test]
fn takeover_gratuitous_arps_match_our_builder_byte_for_byte() {
    let vip = "10.203.0.110".parse().unwrap();
    let mac = [0x02, 0x00, 0x0a, 0xcb, 0x00, 0x0c];
    for name in ["keepalived-v2-takeover.pcap", "keepalived-v3-takeover.pcap"] {
        let (_, arps) = adverts(name);
        assert_eq!(arps.len(), 5, "{name}: garp_master_repeat 5");
        for f in arps {
            assert_eq!(f, wire::gratuitous_arp(mac, vip).to_vec(), "{name}");
        }
    }
}

#[test]
fn the_captured_adverts_pass_a_matching_instances_policy() {
    use drift_vrrp::{Auth, Input, Instance, InstanceConfig};
    use std::time::Instant;
    let (ads, _) = adverts("keepalived-v2.pcap");
    let vips = wire::Addrs::V4(vec!["10.203.0.110".parse().unwrap()]);
    let mut c = InstanceConfig::new("VI_1", 51, "10.203.0.12".parse().unwrap(), vips);
    c.priority = 99;
    c.auth = Auth::pass("1111");
    let t0 = Instant::now();
    let mut i = Instance::new(c, t0);
    let mut out = vec![];
    i.handle(t0, Input::Startup, &mut out);
    for d in ads {
        i.handle(
            t0,
            Input::Advert {
                src: d.src,
                ttl: d.ttl,
                advert: d.advert,
            },
            &mut out,
        );
    }
    assert_eq!(i.stats().adverts_rx, 3);
    assert_eq!(i.stats().dropped_total(), 0);
    assert_eq!(i.master_addr(), Some("10.203.0.11".parse().unwrap()));
}

/// Replays the old master's side of a takeover capture into an instance configured like the
/// captured backup (10.203.0.12, priority 99) and compares what it sends with what keepalived
/// sent: the same bytes, the takeover at the same moment and the same intervals, each to within
/// 1 ms (keepalived adds scheduling and socket latency; we compute the ideal deadline).
fn replay_takeover(name: &str, version: Version) {
    use drift_vrrp::{Action, Auth, Input, Instance, InstanceConfig};
    use std::time::{Duration, Instant};

    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    let p = pcap::read(&std::fs::read(&path).unwrap());
    let first = p.times_us[0];
    let backup: IpAddr = "10.203.0.12".parse().unwrap();
    let vips = wire::Addrs::V4(vec!["10.203.0.110".parse().unwrap()]);
    let mut c = InstanceConfig::new("VI_1", 51, backup, vips);
    c.priority = 99;
    c.version = version;
    if version == Version::V2 {
        c.auth = Auth::pass("1111");
    } else {
        c.advert_interval = Duration::from_millis(100);
    }
    let t0 = Instant::now();
    let mut inst = Instance::new(c, t0);
    let mut out = vec![];
    inst.handle(t0, Input::Startup, &mut out);
    out.clear();

    // Frames from the backup in the capture, with their times: what we must reproduce.
    let mut theirs = vec![];
    let mut ours: Vec<(u64, Vec<u8>)> = vec![];
    let mut garps = 0;
    for (frame, ts) in p.frames.iter().zip(&p.times_us) {
        let at_us = ts - first;
        // Let our timers fire up to this frame's time.
        while let Some(d) = inst
            .next_deadline()
            .filter(|d| *d <= t0 + Duration::from_micros(at_us))
        {
            inst.handle(d, Input::Timer, &mut out);
            let when = (d - t0).as_micros() as u64;
            for a in out.drain(..) {
                match a {
                    Action::SendAdvert(ad) => {
                        let ph = PseudoHeader {
                            src: backup,
                            dst: "224.0.0.18".parse().unwrap(),
                        };
                        ours.push((when, ad.to_bytes(&ph, ChecksumMode::PseudoHeader)));
                    }
                    Action::SendGratuitous { count } => garps += count,
                    _ => {}
                }
            }
        }
        let (ethertype, payload) = pcap::link_payload(p.linktype, frame).unwrap();
        if ethertype != ETHERTYPE_IPV4 {
            continue;
        }
        let d = wire::split_ipv4(payload).unwrap();
        if IpAddr::V4(d.src) == backup {
            theirs.push((at_us, d.payload.to_vec()));
            continue;
        }
        let ph = PseudoHeader {
            src: d.src.into(),
            dst: d.dst.into(),
        };
        let advert = Advert::decode(d.payload, &ph, ChecksumMode::PseudoHeader).unwrap();
        let now = t0 + Duration::from_micros(at_us);
        inst.handle(
            now,
            Input::Advert {
                src: d.src.into(),
                ttl: d.ttl,
                advert,
            },
            &mut out,
        );
        assert!(
            out.is_empty(),
            "{name}: a backup hearing its master does nothing visible: {out:?}"
        );
    }
    assert!(!theirs.is_empty());
    assert_eq!(garps, 5, "{name}: garp_master_repeat");
    // We may have scheduled one more advert after the capture ended.
    assert!(
        ours.len() >= theirs.len(),
        "{name}: ours {} theirs {}",
        ours.len(),
        theirs.len()
    );
    for ((t_theirs, b_theirs), (_, b_ours)) in theirs.iter().zip(&ours) {
        assert_eq!(
            b_ours, b_theirs,
            "{name}: advert bytes differ at {t_theirs} us"
        );
    }
    // The takeover moment (priority-0 advert + skew) to within 1 ms; after that keepalived
    // re-arms from its actual send time, so compare each interval rather than absolute times.
    let (t_theirs, t_ours) = (theirs[0].0, ours[0].0);
    println!("{name}: first backup advert: keepalived {t_theirs} us, drift {t_ours} us ({} adverts compared)", theirs.len());
    assert!(
        t_theirs.abs_diff(t_ours) <= 1_000,
        "{name}: keepalived took over at {t_theirs} us, we at {t_ours} us"
    );
    for (w_theirs, w_ours) in theirs.windows(2).zip(ours.windows(2)) {
        let (d_theirs, d_ours) = (w_theirs[1].0 - w_theirs[0].0, w_ours[1].0 - w_ours[0].0);
        assert!(
            d_theirs.abs_diff(d_ours) <= 1_000,
            "{name}: interval {d_theirs} us vs ours {d_ours} us"
        );
    }
}

#[test]
fn replaying_the_v2_takeover_we_send_keepalived_s_bytes_at_keepalived_s_times() {
    replay_takeover("keepalived-v2-takeover.pcap", Version::V2);
}

#[test]
fn replaying_the_v3_takeover_we_send_keepalived_s_bytes_at_keepalived_s_times() {
    replay_takeover("keepalived-v3-takeover.pcap", Version::V3);
}
