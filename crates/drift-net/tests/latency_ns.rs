//! Prints figures (not tight asserts): how long an advert takes from `send_to` on one host to the
//! kernel stamp and to our read on the other, across veth + bridge namespaces.

use std::io;
use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use drift_net::raw::{Family, VrrpSocket, VrrpSocketConfig, VRRP_GROUP_V4};
use drift_testkit::{skip_unless_root, Lab, HOST_IF};

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[test]
fn advert_one_way_latency_figures() {
    skip_unless_root!();
    let lab = Lab::builder().hosts(2).build().unwrap();
    let (h1, h2) = (lab.host(0), lab.host(1));
    let (i1, i2) = (h1.ifindex().unwrap(), h2.ifindex().unwrap());
    let src = IpAddr::V4(h1.ipv4());
    let tx = h1
        .run_in(|| VrrpSocket::open(VrrpSocketConfig::new(Family::V4, HOST_IF, i1).with_src(src)))
        .unwrap();
    let rx = h2
        .run_in(|| VrrpSocket::open(VrrpSocketConfig::new(Family::V4, HOST_IF, i2)))
        .unwrap();
    let (mut to_kernel, mut to_read) = (Vec::new(), Vec::new());
    for _ in 0..300 {
        let sent = SystemTime::now();
        tx.send_to(
            &[0x31, 51, 100, 1, 0, 10, 0, 0, 10, 203, 0, 110],
            IpAddr::V4(VRRP_GROUP_V4),
        )
        .unwrap();
        let p = loop {
            match rx.recv() {
                Ok(p) => break p,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => std::hint::spin_loop(),
                Err(e) => panic!("{e}"),
            }
        };
        let kernel = p.time.kernel.unwrap();
        to_kernel.push(kernel.duration_since(sent).unwrap_or_default());
        to_read.push(p.time.read_wall.duration_since(sent).unwrap_or_default());
    }
    to_kernel.sort();
    to_read.sort();
    eprintln!(
        "advert send->kernel stamp: median {:?} p99 {:?}; send->read: median {:?} p99 {:?} (n=300, busy-poll)",
        percentile(&to_kernel, 0.5),
        percentile(&to_kernel, 0.99),
        percentile(&to_read, 0.5),
        percentile(&to_read, 0.99)
    );
    // Generous sanity bound only: a LAN hop between namespaces is far below 100 ms.
    assert!(percentile(&to_kernel, 0.5) < Duration::from_millis(100));
}
