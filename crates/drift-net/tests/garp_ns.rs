//! Gratuitous ARP and unsolicited NA move a neighbour entry to the new VIP owner (needs root).
//!
//! Kernel rules these tests rely on (and document):
//! - IPv4 (`arp_process`): a gratuitous ARP *updates an existing* neighbour entry (override, even
//!   inside `locktime`), whatever `arp_accept` says; it *creates* a missing entry only when
//!   `net.ipv4.conf.{all,IF}.arp_accept=1`.
//! - IPv6 (`ndisc_recv_na`): an unsolicited NA with the Override flag updates an existing entry;
//!   a missing entry is not created unless `accept_untracked_na` is set. Hop limit must be 255.

use std::net::IpAddr;
use std::time::Duration;

use drift_net::garp::{FrameSender, NaSender};
use drift_testkit::{skip_unless_root, wait_until, Host, Lab, HOST_IF};

const STALE_MAC: &str = "02:00:00:00:00:99";

fn mac_bytes(host: &Host) -> [u8; 6] {
    let text = host.host_mac().unwrap();
    let mut mac = [0u8; 6];
    for (slot, part) in mac.iter_mut().zip(text.split(':')) {
        *slot = u8::from_str_radix(part, 16).unwrap();
    }
    mac
}

fn wait_for_mac(host: &Host, ip: IpAddr, mac: &str) -> Option<Duration> {
    wait_until(Duration::from_secs(3), Duration::from_millis(10), || {
        host.neigh_mac(ip).as_deref() == Some(mac)
    })
}

#[test]
fn gratuitous_arp_moves_an_existing_stale_entry_to_the_new_owner() {
    skip_unless_root!();
    let lab = Lab::builder().hosts(2).build().unwrap();
    let (h1, h2) = (lab.host(0), lab.host(1));
    let vip = lab.addr_v4(110);
    h2.ip(&[
        "neigh",
        "replace",
        &vip.to_string(),
        "lladdr",
        STALE_MAC,
        "dev",
        HOST_IF,
        "nud",
        "stale",
    ])
    .unwrap();
    assert_eq!(h2.neigh_mac(IpAddr::V4(vip)).as_deref(), Some(STALE_MAC));
    h1.ip(&["addr", "add", &format!("{vip}/32"), "dev", HOST_IF])
        .unwrap();

    let index = h1.ifindex().unwrap();
    let sender = h1.run_in(|| FrameSender::open(index)).unwrap();
    // Control: nothing else in the lab rewrites the entry on its own.
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(h2.neigh_mac(IpAddr::V4(vip)).as_deref(), Some(STALE_MAC));
    assert_eq!(sender.send_garp(mac_bytes(h1), vip).unwrap(), 42);

    let took = wait_for_mac(h2, IpAddr::V4(vip), &h1.host_mac().unwrap());
    assert!(
        took.is_some(),
        "h2 still maps {vip} to {:?}",
        h2.neigh_mac(IpAddr::V4(vip))
    );
}

#[test]
fn gratuitous_arp_creates_an_entry_only_with_arp_accept() {
    skip_unless_root!();
    let lab = Lab::builder().hosts(3).build().unwrap();
    let (h1, strict, accepting) = (lab.host(0), lab.host(1), lab.host(2));
    accepting
        .sysctl("net.ipv4.conf.all.arp_accept", "1")
        .unwrap();
    accepting
        .sysctl(&format!("net.ipv4.conf.{HOST_IF}.arp_accept"), "1")
        .unwrap();
    let vip = lab.addr_v4(111);
    let index = h1.ifindex().unwrap();
    let sender = h1.run_in(|| FrameSender::open(index)).unwrap();
    sender.send_garp(mac_bytes(h1), vip).unwrap();

    assert!(wait_for_mac(accepting, IpAddr::V4(vip), &h1.host_mac().unwrap()).is_some());
    assert_eq!(
        strict.neigh_mac(IpAddr::V4(vip)),
        None,
        "arp_accept=0 must not learn from GARP"
    );
}

#[test]
fn unsolicited_na_moves_an_existing_ipv6_neighbour_entry() {
    skip_unless_root!();
    let lab = Lab::builder().hosts(2).build().unwrap();
    let (h1, h2) = (lab.host(0), lab.host(1));
    let vip = lab.addr_v6(110);
    h2.ip(&[
        "-6",
        "neigh",
        "replace",
        &vip.to_string(),
        "lladdr",
        STALE_MAC,
        "dev",
        HOST_IF,
        "nud",
        "stale",
    ])
    .unwrap();
    h1.ip(&["addr", "add", &format!("{vip}/64"), "dev", HOST_IF, "nodad"])
        .unwrap();

    let index = h1.ifindex().unwrap();
    let ll = h1.ipv6_link_local();
    let sender = h1.run_in(|| NaSender::open(HOST_IF, index, ll)).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(
        h2.neigh_mac(IpAddr::V6(vip)).as_deref(),
        Some(STALE_MAC),
        "control"
    );
    sender
        .send_unsolicited_na(vip, mac_bytes(h1), false)
        .unwrap();

    let took = wait_for_mac(h2, IpAddr::V6(vip), &h1.host_mac().unwrap());
    assert!(
        took.is_some(),
        "h2 still maps {vip} to {:?}",
        h2.neigh_mac(IpAddr::V6(vip))
    );
}
