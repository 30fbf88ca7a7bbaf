//! drift-net against real keepalived 2.2.7 in namespaces (needs root and keepalived).

mod common;

use std::net::IpAddr;
use std::time::Duration;

use drift_net::netlink::{self, NetEvent};
use drift_net::raw::{AsyncVrrpSocket, Family, VrrpSocket, VrrpSocketConfig, VRRP_GROUP_V4};
use drift_testkit::{skip_unless_root, skip_unless_tool, Lab, HOST_IF};

fn config(vip: std::net::Ipv4Addr, version: u8) -> String {
    format!(
        "global_defs {{\n  router_id ka\n  vrrp_version {version}\n}}\nvrrp_instance VI_1 {{\n  state MASTER\n  \
         interface {HOST_IF}\n  virtual_router_id 51\n  priority 100\n  advert_int 0.1\n  \
         virtual_ipaddress {{\n    {vip}/24\n  }}\n}}\n"
    )
}

#[test]
fn keepalived_adverts_arrive_with_ttl_255_and_its_vip_add_is_seen_as_an_event() {
    skip_unless_root!();
    skip_unless_tool!("keepalived");
    let lab = Lab::builder().hosts(2).build().unwrap();
    let (ka_host, drift_host) = (lab.host(0), lab.host(1));
    let vip = lab.addr_v4(110);
    let index = drift_host.ifindex().unwrap();
    let ka_index = ka_host.ifindex().unwrap();

    // Subscribe in keepalived's namespace before it starts, so its VIP add cannot be missed.
    let (events_ready_tx, events_ready_rx) = std::sync::mpsc::channel();
    let events_thread = ka_host.spawn_thread(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(async move {
                let mut sub = netlink::subscribe().unwrap();
                events_ready_tx.send(()).unwrap();
                let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
                while let Ok(Some(ev)) = tokio::time::timeout_at(deadline, sub.recv()).await {
                    if let NetEvent::AddrAdded(a) = ev {
                        if a.addr == IpAddr::V4(vip) && a.index == ka_index {
                            return true;
                        }
                    }
                }
                false
            })
    });
    events_ready_rx.recv().unwrap();
    let ka = ka_host
        .spawn_keepalived(&config(vip, 3), &["--vrrp"])
        .unwrap();

    let adverts = common::block_on_in(drift_host, || async move {
        let sock = AsyncVrrpSocket::new(
            VrrpSocket::open(VrrpSocketConfig::new(Family::V4, HOST_IF, index)).unwrap(),
        )
        .unwrap();
        let mut got = Vec::new();
        while got.len() < 3 {
            match tokio::time::timeout(Duration::from_secs(10), sock.recv()).await {
                Ok(Ok(p)) => got.push(p),
                _ => break,
            }
        }
        got
    });
    assert!(
        adverts.len() >= 3,
        "only {} adverts from keepalived:\n{}",
        adverts.len(),
        ka.logs()
    );
    for p in &adverts {
        assert_eq!(
            (p.src, p.dst, p.ttl),
            (IpAddr::V4(ka_host.ipv4()), IpAddr::V4(VRRP_GROUP_V4), 255)
        );
        assert_eq!(p.payload[0], 0x31, "VRRPv3 advertisement");
        assert_eq!(p.payload[1], 51, "virtual_router_id");
        assert!(p.time.kernel.is_some());
    }
    // Inter-arrival of kernel stamps ~ advert_int 0.1 s.
    let gaps: Vec<Duration> = adverts
        .windows(2)
        .map(|w| {
            w[1].time
                .kernel
                .unwrap()
                .duration_since(w[0].time.kernel.unwrap())
                .unwrap()
        })
        .collect();
    eprintln!("keepalived advert gaps by kernel timestamp: {gaps:?}");
    assert!(
        gaps.iter()
            .all(|g| *g > Duration::from_millis(50) && *g < Duration::from_millis(500)),
        "{gaps:?}"
    );
    assert!(
        events_thread.join().unwrap(),
        "no RTM_NEWADDR for keepalived's VIP:\n{}",
        ka.logs()
    );
}

#[test]
fn keepalived_ipv6_adverts_pass_kernel_checksum_verification_with_hop_limit_255() {
    skip_unless_root!();
    skip_unless_tool!("keepalived");
    let lab = Lab::builder().hosts(2).build().unwrap();
    let (ka_host, drift_host) = (lab.host(0), lab.host(1));
    let vip6 = lab.addr_v6(110);
    let conf = format!(
        "global_defs {{\n  router_id ka6\n}}\nvrrp_instance VI_6 {{\n  state MASTER\n  interface {HOST_IF}\n  \
         virtual_router_id 52\n  priority 100\n  advert_int 0.1\n  virtual_ipaddress {{\n    {vip6}/64\n  }}\n}}\n"
    );
    let index = drift_host.ifindex().unwrap();
    // Open the receiver first so the first adverts are not missed.
    let sock = drift_host
        .run_in(|| VrrpSocket::open(VrrpSocketConfig::new(Family::V6, HOST_IF, index)))
        .unwrap();
    let ka = ka_host.spawn_keepalived(&conf, &["--vrrp"]).unwrap();
    let mut got = Vec::new();
    let ok = drift_testkit::wait_until(Duration::from_secs(10), Duration::from_millis(10), || {
        sock.recv_batch(16, &mut got).unwrap();
        got.len() >= 2
    });
    assert!(
        ok.is_some(),
        "no IPv6 adverts (kernel drops bad checksums with IPV6_CHECKSUM):\n{}",
        ka.logs()
    );
    let ll = ka_host.ipv6_link_local().unwrap();
    for p in &got {
        assert_eq!((p.src, p.ttl), (IpAddr::V6(ll), 255));
        assert_eq!(p.dst, IpAddr::V6(drift_net::raw::VRRP_GROUP_V6));
        assert_eq!((p.payload[0], p.payload[1]), (0x31, 52));
    }
    // keepalived adds IPv6 VIPs with IFA_F_NODAD too.
    let vip = ka_host
        .addr(IpAddr::V6(vip6))
        .expect("keepalived added its VIP");
    assert!(vip.nodad && !vip.tentative, "{vip:?}");
}
