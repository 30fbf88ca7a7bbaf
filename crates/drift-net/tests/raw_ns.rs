//! VRRP raw sockets between two namespaces on a bridge (needs root).
//!
//! Pattern: each socket is *created* on a thread that entered the host's namespace
//! (`Netns::run_in`), after which the fd can be used from any thread — a socket stays in the
//! namespace it was created in.

mod common;

use std::io;
use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use drift_net::raw::{
    AsyncVrrpSocket, Family, Received, VrrpSocket, VrrpSocketConfig, VRRP_GROUP_V4, VRRP_GROUP_V6,
};
use drift_testkit::{skip_unless_root, wait_until, Host, Lab, HOST_IF};

/// A VRRPv3-shaped payload (header + one IPv6-sized address slot); content is opaque here.
const PAYLOAD: [u8; 24] = [
    0x31, 51, 100, 1, 0, 100, 0, 0, 10, 203, 0, 110, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
];

fn open(host: &Host, family: Family, src: Option<IpAddr>) -> VrrpSocket {
    let index = host.ifindex().unwrap();
    let mut cfg = VrrpSocketConfig::new(family, HOST_IF, index);
    cfg.src = src;
    host.run_in(|| VrrpSocket::open(cfg)).unwrap()
}

fn recv_within(sock: &VrrpSocket, timeout: Duration) -> Received {
    let mut got = None;
    let found = wait_until(timeout, Duration::from_millis(2), || match sock.recv() {
        Ok(p) => {
            got = Some(p);
            true
        }
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => false,
        Err(e) => panic!("recv: {e}"),
    });
    assert!(found.is_some(), "nothing received within {timeout:?}");
    got.unwrap()
}

fn assert_fresh_kernel_stamp(p: &Received) {
    let kernel = p.time.kernel.expect("SO_TIMESTAMPNS stamp present");
    let age = SystemTime::now().duration_since(kernel).unwrap();
    assert!(age < Duration::from_secs(5), "stamp {age:?} old");
    assert!(p.time.kernel_instant() <= p.time.read_instant);
}

fn assert_queue_empty(sock: &VrrpSocket) {
    let r = sock.recv();
    assert!(
        matches!(&r, Err(e) if e.kind() == io::ErrorKind::WouldBlock),
        "unexpected {r:?}"
    );
}

#[test]
fn ipv4_multicast_advert_arrives_with_src_dst_ttl_255_and_kernel_time() {
    skip_unless_root!();
    let lab = Lab::builder().hosts(2).build().unwrap();
    let (h1, h2) = (lab.host(0), lab.host(1));
    let tx = open(h1, Family::V4, Some(IpAddr::V4(h1.ipv4())));
    let rx = open(h2, Family::V4, None);
    tx.send_to(&PAYLOAD, IpAddr::V4(VRRP_GROUP_V4)).unwrap();
    let p = recv_within(&rx, Duration::from_secs(3));
    assert_eq!(p.src, IpAddr::V4(h1.ipv4()));
    assert_eq!(p.dst, IpAddr::V4(VRRP_GROUP_V4));
    assert_eq!(p.ttl, 255);
    assert_eq!(p.payload, PAYLOAD);
    assert_fresh_kernel_stamp(&p);
    // IP_MULTICAST_LOOP is off: the sender never hears its own advert.
    std::thread::sleep(Duration::from_millis(50));
    assert_queue_empty(&tx);
}

#[test]
fn ipv4_unicast_advert_uses_the_bound_source_address() {
    skip_unless_root!();
    let lab = Lab::builder().hosts(2).build().unwrap();
    let (h1, h2) = (lab.host(0), lab.host(1));
    // A secondary address as unicast_src_ip, to prove the bind (not the primary) picks the source.
    let src = lab.addr_v4(201);
    h1.ip(&["addr", "add", &format!("{src}/24"), "dev", HOST_IF])
        .unwrap();
    let tx = open(h1, Family::V4, Some(IpAddr::V4(src)));
    let rx = open(h2, Family::V4, None);
    tx.send_to(&PAYLOAD, IpAddr::V4(h2.ipv4())).unwrap();
    let p = recv_within(&rx, Duration::from_secs(3));
    assert_eq!(
        (p.src, p.dst, p.ttl),
        (IpAddr::V4(src), IpAddr::V4(h2.ipv4()), 255)
    );
    assert_eq!(p.payload, PAYLOAD);
}

#[test]
fn ipv4_ttl_is_read_from_the_header_not_assumed() {
    skip_unless_root!();
    let lab = Lab::builder().hosts(2).build().unwrap();
    let (h1, h2) = (lab.host(0), lab.host(1));
    let rx = open(h2, Family::V4, None);
    let sloppy = h1.run_in(|| {
        let s = socket2::Socket::new(
            socket2::Domain::IPV4,
            socket2::Type::RAW,
            Some(socket2::Protocol::from(112)),
        )
        .unwrap();
        s.bind_device(Some(HOST_IF.as_bytes())).unwrap();
        s.set_multicast_ttl_v4(7).unwrap();
        s
    });
    let group = std::net::SocketAddr::from((VRRP_GROUP_V4, 0));
    sloppy.send_to(&PAYLOAD, &group.into()).unwrap();
    let p = recv_within(&rx, Duration::from_secs(3));
    assert_eq!(
        p.ttl, 7,
        "a forged/forwarded advert must be visible as such"
    );
}

#[test]
fn ipv6_multicast_advert_arrives_with_hop_limit_255_and_pktinfo_dst() {
    skip_unless_root!();
    let lab = Lab::builder().hosts(2).build().unwrap();
    let (h1, h2) = (lab.host(0), lab.host(1));
    let ll = h1.ipv6_link_local().unwrap();
    let tx = open(h1, Family::V6, Some(IpAddr::V6(ll)));
    let rx = open(h2, Family::V6, None);
    tx.send_to(&PAYLOAD, IpAddr::V6(VRRP_GROUP_V6)).unwrap();
    let p = recv_within(&rx, Duration::from_secs(3));
    assert_eq!(p.src, IpAddr::V6(ll));
    assert_eq!(p.dst, IpAddr::V6(VRRP_GROUP_V6));
    assert_eq!(p.ttl, 255);
    // IPV6_CHECKSUM: the kernel wrote the pseudo-header checksum at offset 6; the rest is ours.
    assert_eq!(p.payload.len(), PAYLOAD.len());
    assert_eq!(p.payload[..6], PAYLOAD[..6]);
    assert_ne!(p.payload[6..8], [0, 0]);
    assert_eq!(p.payload[8..], PAYLOAD[8..]);
    assert_fresh_kernel_stamp(&p);
    std::thread::sleep(Duration::from_millis(50));
    assert_queue_empty(&tx);
}

#[test]
fn ipv6_unicast_advert_to_a_link_local_peer() {
    skip_unless_root!();
    let lab = Lab::builder().hosts(2).build().unwrap();
    let (h1, h2) = (lab.host(0), lab.host(1));
    let (ll1, ll2) = (h1.ipv6_link_local().unwrap(), h2.ipv6_link_local().unwrap());
    let tx = open(h1, Family::V6, Some(IpAddr::V6(ll1)));
    let rx = open(h2, Family::V6, None);
    tx.send_to(&PAYLOAD, IpAddr::V6(ll2)).unwrap();
    let p = recv_within(&rx, Duration::from_secs(3));
    assert_eq!(
        (p.src, p.dst, p.ttl),
        (IpAddr::V6(ll1), IpAddr::V6(ll2), 255)
    );
}

#[test]
fn receiver_without_group_membership_ignores_multicast_but_gets_unicast() {
    skip_unless_root!();
    let lab = Lab::builder().hosts(2).build().unwrap();
    let (h1, h2) = (lab.host(0), lab.host(1));
    let tx = open(h1, Family::V4, Some(IpAddr::V4(h1.ipv4())));
    let cfg = VrrpSocketConfig::new(Family::V4, HOST_IF, h2.ifindex().unwrap()).without_multicast();
    let rx = h2.run_in(|| VrrpSocket::open(cfg)).unwrap();
    tx.send_to(&PAYLOAD, IpAddr::V4(VRRP_GROUP_V4)).unwrap();
    tx.send_to(&PAYLOAD, IpAddr::V4(h2.ipv4())).unwrap();
    let p = recv_within(&rx, Duration::from_secs(3));
    assert_eq!(
        p.dst,
        IpAddr::V4(h2.ipv4()),
        "multicast must not arrive without IP_ADD_MEMBERSHIP"
    );
    std::thread::sleep(Duration::from_millis(50));
    assert_queue_empty(&rx);
}

#[test]
fn async_socket_on_a_current_thread_runtime_receives_a_batch() {
    skip_unless_root!();
    let lab = Lab::builder().hosts(2).build().unwrap();
    let (h1, h2) = (lab.host(0), lab.host(1));
    let tx = open(h1, Family::V4, Some(IpAddr::V4(h1.ipv4())));
    let index = h2.ifindex().unwrap();
    let batch = common::block_on_in(h2, || async move {
        let rx = AsyncVrrpSocket::new(
            VrrpSocket::open(VrrpSocketConfig::new(Family::V4, HOST_IF, index)).unwrap(),
        )
        .unwrap();
        for i in 0..5u8 {
            let mut p = PAYLOAD;
            p[3] = i;
            tx.send_to(&p, IpAddr::V4(VRRP_GROUP_V4)).unwrap();
        }
        let first = tokio::time::timeout(Duration::from_secs(3), rx.recv())
            .await
            .unwrap()
            .unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        let mut rest = tokio::time::timeout(Duration::from_secs(3), rx.recv_batch(64))
            .await
            .unwrap()
            .unwrap();
        rest.insert(0, first);
        rest
    });
    let order: Vec<u8> = batch.iter().map(|p| p.payload[3]).collect();
    assert_eq!(order, [0, 1, 2, 3, 4]);
    assert!(batch
        .iter()
        .all(|p| p.src == IpAddr::V4(h1.ipv4()) && p.ttl == 255));
}

#[test]
fn send_batch_delivers_every_message_in_one_call() {
    skip_unless_root!();
    let lab = Lab::builder().hosts(2).build().unwrap();
    let (h1, h2) = (lab.host(0), lab.host(1));
    let tx = open(h1, Family::V4, Some(IpAddr::V4(h1.ipv4())));
    let rx = open(h2, Family::V4, None);
    let payloads: Vec<[u8; 24]> = (0..4u8)
        .map(|i| {
            let mut p = PAYLOAD;
            p[3] = i;
            p
        })
        .collect();
    let group = IpAddr::V4(VRRP_GROUP_V4);
    let unicast = IpAddr::V4(h2.ipv4());
    let msgs: Vec<(&[u8], IpAddr)> = vec![
        (&payloads[0], group),
        (&payloads[1], unicast),
        (&payloads[2], group),
        (&payloads[3], unicast),
    ];
    assert_eq!(tx.send_batch(&msgs).unwrap(), 4);
    let mut got = Vec::new();
    let done = wait_until(Duration::from_secs(3), Duration::from_millis(5), || {
        rx.recv_batch(16, &mut got).unwrap();
        got.len() >= 4
    });
    assert!(done.is_some(), "got {} of 4", got.len());
    let seen: Vec<(u8, IpAddr)> = got.iter().map(|p| (p.payload[3], p.dst)).collect();
    assert_eq!(seen, [(0, group), (1, unicast), (2, group), (3, unicast)]);
}

#[test]
fn wrong_family_destination_is_rejected_not_sent() {
    skip_unless_root!();
    let lab = Lab::builder().hosts(1).build().unwrap();
    let tx = open(lab.host(0), Family::V4, None);
    let err = tx.send_to(&PAYLOAD, IpAddr::V6(VRRP_GROUP_V6)).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
}

#[test]
fn if_index_matches_the_kernel_and_reports_missing_links() {
    skip_unless_root!();
    let lab = Lab::builder().hosts(1).build().unwrap();
    let h = lab.host(0);
    let (found, missing) = h.run_in(|| {
        (
            drift_net::raw::if_index(HOST_IF),
            drift_net::raw::if_index("nosuch0"),
        )
    });
    assert_eq!(found.unwrap(), h.ifindex().unwrap());
    assert!(
        matches!(missing, Err(drift_net::Error::LinkNotFound(_))),
        "{missing:?}"
    );
}

#[test]
fn ipv6_adverts_with_a_bad_checksum_are_dropped_by_the_kernel_unless_checksum_offload_is_off() {
    skip_unless_root!();
    let lab = Lab::builder().hosts(2).build().unwrap();
    let (h1, h2) = (lab.host(0), lab.host(1));
    let index = h2.ifindex().unwrap();
    let checked = open(h2, Family::V6, None);
    let mut cfg = VrrpSocketConfig::new(Family::V6, HOST_IF, index);
    cfg.kernel_checksum_v6 = false;
    let unchecked = h2.run_in(|| VrrpSocket::open(cfg)).unwrap();
    let h1_index = h1.ifindex().unwrap();
    let forger = h1.run_in(|| {
        let s = socket2::Socket::new(
            socket2::Domain::IPV6,
            socket2::Type::RAW,
            Some(socket2::Protocol::from(112)),
        )
        .unwrap();
        s.set_multicast_hops_v6(255).unwrap();
        s.set_multicast_if_v6(h1_index).unwrap();
        s
    });
    let mut bad = PAYLOAD;
    bad[6..8].copy_from_slice(&[0xde, 0xad]);
    let group = std::net::SocketAddrV6::new(VRRP_GROUP_V6, 0, 0, h1_index);
    forger.send_to(&bad, &group.into()).unwrap();
    let p = recv_within(&unchecked, Duration::from_secs(3));
    assert_eq!(p.payload, bad);
    assert_queue_empty(&checked);
}

/// Sends a VRID 51 and then a VRID 52 advert to a receiver filtered on 52: only 52 is queued.
fn assert_vrid_filter_passes_only_its_own(family: Family) {
    let lab = Lab::builder().hosts(2).build().unwrap();
    let (h1, h2) = (lab.host(0), lab.host(1));
    let (src, group) = match family {
        Family::V4 => (IpAddr::V4(h1.ipv4()), IpAddr::V4(VRRP_GROUP_V4)),
        Family::V6 => (
            IpAddr::V6(h1.ipv6_link_local().unwrap()),
            IpAddr::V6(VRRP_GROUP_V6),
        ),
    };
    let tx = open(h1, family, Some(src));
    let cfg = VrrpSocketConfig::new(family, HOST_IF, h2.ifindex().unwrap()).with_vrid_filter(52);
    let rx = h2.run_in(|| VrrpSocket::open(cfg)).unwrap();
    for vrid in [51, 52] {
        let mut advert = PAYLOAD;
        advert[1] = vrid;
        tx.send_to(&advert, group).unwrap();
    }
    let p = recv_within(&rx, Duration::from_secs(3));
    assert_eq!(
        p.payload[1], 52,
        "the VRID 51 advert must have been filtered out"
    );
    std::thread::sleep(Duration::from_millis(50));
    assert_queue_empty(&rx);
}

#[test]
fn vrid_filter_queues_only_the_own_virtual_router() {
    skip_unless_root!();
    assert_vrid_filter_passes_only_its_own(Family::V4);
}

#[test]
fn ipv6_vrid_filter_queues_only_the_own_virtual_router() {
    skip_unless_root!();
    assert_vrid_filter_passes_only_its_own(Family::V6);
}
