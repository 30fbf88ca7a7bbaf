//! Netlink against a real kernel, inside throwaway namespaces (needs root).

mod common;

use std::net::IpAddr;
use std::time::Duration;

use common::block_on_in;
use drift_net::netlink::{self, AddOutcome, AddrScope, AddressSpec, DelOutcome, NetEvent, Netlink};
use drift_net::Error;
use drift_testkit::{skip_unless_root, Lab, HOST_IF};

#[test]
fn link_lookup_reports_index_mac_and_state() {
    skip_unless_root!();
    let lab = Lab::builder().hosts(1).build().unwrap();
    let h = lab.host(0);
    let (link, missing) = block_on_in(h, || async {
        let nl = Netlink::new().unwrap();
        let link = nl.link_by_name(HOST_IF).await.unwrap();
        let missing = nl.link_by_name("nosuch0").await;
        (link, missing)
    });
    assert_eq!(link.index, h.ifindex().unwrap());
    let mac: Vec<String> = link
        .mac
        .clone()
        .unwrap()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(mac.join(":"), h.host_mac().unwrap());
    assert!(link.is_usable());
    assert!(
        matches!(missing, Err(Error::LinkNotFound(_))),
        "{missing:?}"
    );
}

#[test]
fn vip_add_and_remove_is_idempotent_and_visible_to_ip() {
    skip_unless_root!();
    let lab = Lab::builder().hosts(1).build().unwrap();
    let h = lab.host(0);
    let index = h.ifindex().unwrap();
    let v4 = AddressSpec::new(IpAddr::V4(lab.addr_v4(110)), 32).with_label("eth0:vip");
    let v6 = AddressSpec::new(IpAddr::V6(lab.addr_v6(110)), 64);

    let added = block_on_in(h, || async {
        let nl = Netlink::new().unwrap();
        let a = [
            nl.add_address(index, &v4).await.unwrap(),
            nl.add_address(index, &v4).await.unwrap(),
            nl.add_address(index, &v6).await.unwrap(),
            nl.add_address(index, &v6).await.unwrap(),
        ];
        let listed = nl.addresses(index).await.unwrap();
        (a, listed)
    });
    assert_eq!(
        added.0,
        [
            AddOutcome::Added,
            AddOutcome::AlreadyPresent,
            AddOutcome::Added,
            AddOutcome::AlreadyPresent
        ]
    );
    assert!(added
        .1
        .iter()
        .any(|e| e.addr == v4.addr && e.label.as_deref() == Some("eth0:vip")));

    let seen4 = h.addr(v4.addr).expect("v4 VIP visible to ip -j addr");
    assert_eq!(
        (seen4.prefix_len, seen4.label.as_deref()),
        (32, Some("eth0:vip"))
    );
    let seen6 = h.addr(v6.addr).expect("v6 VIP visible");
    assert_eq!(seen6.prefix_len, 64);
    assert!(seen6.nodad && !seen6.tentative, "{seen6:?}");

    let removed = block_on_in(h, || async {
        let nl = Netlink::new().unwrap();
        [
            nl.del_address(index, &v4).await.unwrap(),
            nl.del_address(index, &v4).await.unwrap(),
            nl.del_address(index, &v6).await.unwrap(),
            nl.del_address(index, &v6).await.unwrap(),
        ]
    });
    assert_eq!(
        removed,
        [
            DelOutcome::Removed,
            DelOutcome::NotPresent,
            DelOutcome::Removed,
            DelOutcome::NotPresent
        ]
    );
    assert!(!h.has_addr(v4.addr) && !h.has_addr(v6.addr));
}

#[test]
fn vip_with_peer_broadcast_and_scope_is_added_as_asked() {
    skip_unless_root!();
    let lab = Lab::builder().hosts(1).build().unwrap();
    let h = lab.host(0);
    let index = h.ifindex().unwrap();
    // /32, not /24: a second address inside eth0's /24 is a "secondary" and the kernel rejects
    // (EINVAL, "ipv4: Invalid scope value") a secondary whose scope differs from the primary's.
    let spec = AddressSpec::new(IpAddr::V4(lab.addr_v4(120)), 32)
        .with_broadcast(lab.addr_v4(255))
        .with_scope(AddrScope::Link);
    let p2p =
        AddressSpec::new(IpAddr::V4(lab.addr_v4(121)), 32).with_peer(IpAddr::V4(lab.addr_v4(122)));
    let listed = block_on_in(h, || async {
        let nl = Netlink::new().unwrap();
        nl.add_address(index, &spec).await.unwrap();
        nl.add_address(index, &p2p).await.unwrap();
        nl.addresses(index).await.unwrap()
    });
    let e = listed.iter().find(|e| e.addr == spec.addr).unwrap();
    assert_eq!((e.broadcast, e.scope), (spec.broadcast, AddrScope::Link));
    let e = listed.iter().find(|e| e.addr == p2p.addr).unwrap();
    assert_eq!(e.peer, p2p.peer);
    assert_eq!(h.addr(spec.addr).unwrap().scope, "link");
}

#[test]
fn add_on_a_missing_link_is_link_not_found() {
    skip_unless_root!();
    let lab = Lab::builder().hosts(1).build().unwrap();
    let r = block_on_in(lab.host(0), || async {
        let nl = Netlink::new().unwrap();
        nl.add_address(9999, &AddressSpec::new(IpAddr::V4(lab.addr_v4(110)), 32))
            .await
    });
    assert!(matches!(r, Err(Error::LinkNotFound(_))), "{r:?}");
}

#[test]
fn event_stream_sees_link_down_and_address_changes() {
    skip_unless_root!();
    let lab = Lab::builder().hosts(1).build().unwrap();
    let h = lab.host(0);
    let index = h.ifindex().unwrap();
    let vip = lab.addr_v4(130);
    let events = block_on_in(h, || async {
        let mut sub = netlink::subscribe().unwrap();
        // Change things from outside (the `ip` tool), as a human operator would.
        h.ip(&["addr", "add", &format!("{vip}/32"), "dev", HOST_IF])
            .unwrap();
        h.ip(&["addr", "del", &format!("{vip}/32"), "dev", HOST_IF])
            .unwrap();
        h.link_down(HOST_IF).unwrap();
        let mut seen = Vec::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while let Ok(Some(ev)) = tokio::time::timeout_at(deadline, sub.recv()).await {
            let done = matches!(&ev, NetEvent::Link(l) if l.index == index && !l.admin_up);
            seen.push(ev);
            if done {
                break;
            }
        }
        seen
    });
    let vip = IpAddr::V4(vip);
    assert!(
        events
            .iter()
            .any(|e| matches!(e, NetEvent::AddrAdded(a) if a.addr == vip)),
        "{events:#?}"
    );
    assert!(
        events
            .iter()
            .any(|e| matches!(e, NetEvent::AddrRemoved(a) if a.addr == vip)),
        "{events:#?}"
    );
    assert!(
        events
            .iter()
            .any(|e| matches!(e, NetEvent::Link(l) if l.index == index && !l.is_usable())),
        "{events:#?}"
    );
}

#[test]
fn primary_address_is_the_first_ipv4_or_the_link_local_ipv6() {
    skip_unless_root!();
    let lab = Lab::builder().hosts(1).build().unwrap();
    let h = lab.host(0);
    let index = h.ifindex().unwrap();
    // A secondary in the same /24 must not be picked.
    h.ip(&[
        "addr",
        "add",
        &format!("{}/24", lab.addr_v4(150)),
        "dev",
        HOST_IF,
    ])
    .unwrap();
    let (v4, v6) = block_on_in(h, || async {
        let nl = Netlink::new().unwrap();
        (
            nl.primary_address(index, false).await.unwrap(),
            nl.primary_address(index, true).await.unwrap(),
        )
    });
    assert_eq!(v4, Some(IpAddr::V4(h.ipv4())));
    assert_eq!(v6, h.ipv6_link_local().map(IpAddr::V6));
}

#[test]
fn event_stream_reports_carrier_loss_while_admin_up() {
    skip_unless_root!();
    let lab = Lab::builder().hosts(1).build().unwrap();
    let h = lab.host(0);
    let index = h.ifindex().unwrap();
    async fn next_link(
        sub: &mut netlink::NetEvents,
        index: u32,
        want_running: bool,
    ) -> Option<drift_net::netlink::Link> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while let Ok(Some(ev)) = tokio::time::timeout_at(deadline, sub.recv()).await {
            if let NetEvent::Link(l) = ev {
                if l.index == index && l.running == want_running {
                    return Some(l);
                }
            }
        }
        None
    }
    let (lost, back) = block_on_in(h, || async {
        let mut sub = netlink::subscribe().unwrap();
        h.cut().unwrap();
        let lost = next_link(&mut sub, index, false).await;
        h.reconnect().unwrap();
        let back = next_link(&mut sub, index, true).await;
        (lost, back)
    });
    let lost = lost.expect("no carrier-loss event");
    assert!(lost.admin_up && !lost.is_usable(), "{lost:?}");
    assert!(back.expect("no carrier-back event").is_usable());
}
