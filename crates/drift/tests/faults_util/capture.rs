//! The VRRP adverts entering the lab's bridge, with the kernel's receive time.
//!
//! A packet socket in the bridge namespace sees every frame a host sends as it arrives on that
//! host's port (also on a port detached from the bridge), before any bridge decision. Kernel
//! timestamps (SO_TIMESTAMPNS) are taken in the sender's softirq, right after its `sendmsg`, so
//! gaps between a host's adverts measure its sending and not this reader's scheduling.

use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use drift_testkit::{Lab, BRIDGE_IF};
use nix::sys::socket::{
    recvmsg, setsockopt, socket, sockopt, AddressFamily, ControlMessageOwned, LinkAddr, MsgFlags,
    SockFlag, SockProtocol, SockType,
};
use nix::sys::time::TimeVal;

/// Linux `PACKET_OUTGOING`: our copy of a frame the bridge sends out of a port.
const PACKET_OUTGOING: u8 = 4;
const IPPROTO_VRRP: u8 = 112;

/// One advert as it entered the bridge.
#[derive(Debug, Clone, Copy)]
pub struct Advert {
    pub at: Instant,
    pub src: Ipv4Addr,
    pub priority: u8,
}

pub struct AdvertCapture {
    stop: Arc<AtomicBool>,
    adverts: Arc<Mutex<Vec<Advert>>>,
    handle: Option<JoinHandle<()>>,
}

/// The source address and VRRP priority of an IPv4 VRRP packet (v2 and v3 both keep the
/// priority in the third byte); None for anything else.
fn parse(pkt: &[u8]) -> Option<(Ipv4Addr, u8)> {
    let first = *pkt.first()?;
    if first >> 4 != 4 || *pkt.get(9)? != IPPROTO_VRRP {
        return None;
    }
    let ihl = usize::from(first & 0x0f) * 4;
    let src = Ipv4Addr::new(*pkt.get(12)?, *pkt.get(13)?, *pkt.get(14)?, *pkt.get(15)?);
    Some((src, *pkt.get(ihl + 2)?))
}

impl AdvertCapture {
    pub fn start(lab: &Lab) -> AdvertCapture {
        let stop = Arc::new(AtomicBool::new(false));
        let adverts = Arc::new(Mutex::new(Vec::new()));
        let (flag, out) = (stop.clone(), adverts.clone());
        let (tx, rx) = std::sync::mpsc::channel();
        let handle = lab.bridge().spawn_thread(move || {
            let fd = match socket(
                AddressFamily::Packet,
                SockType::Datagram,
                SockFlag::SOCK_CLOEXEC,
                SockProtocol::EthAll,
            ) {
                Ok(fd) => fd,
                Err(e) => {
                    let _ = tx.send(Err(format!("packet socket: {e}")));
                    return;
                }
            };
            let bridge = nix::net::if_::if_nametoindex(BRIDGE_IF).unwrap_or(0) as usize;
            let _ = setsockopt(&fd, sockopt::ReceiveTimestampns, &true);
            let _ = setsockopt(&fd, sockopt::ReceiveTimeout, &TimeVal::new(0, 100_000));
            // Kernel times are CLOCK_REALTIME; map them onto Instant through one pair of readings.
            let (base_i, base_s) = (Instant::now(), SystemTime::now());
            let base_s = base_s.duration_since(UNIX_EPOCH).unwrap_or_default();
            let _ = tx.send(Ok(()));
            let mut buf = [0u8; 2048];
            while !flag.load(Ordering::Relaxed) {
                let mut iov = [std::io::IoSliceMut::new(&mut buf)];
                let mut cmsg = nix::cmsg_space!(nix::sys::time::TimeSpec);
                let Ok(msg) = recvmsg::<LinkAddr>(
                    fd.as_raw_fd(),
                    &mut iov,
                    Some(&mut cmsg),
                    MsgFlags::empty(),
                ) else {
                    continue;
                };
                let Some(link) = msg.address else { continue };
                if link.pkttype() == PACKET_OUTGOING || link.ifindex() == bridge {
                    continue;
                }
                let mut at = Instant::now();
                if let Ok(cmsgs) = msg.cmsgs() {
                    for c in cmsgs {
                        if let ControlMessageOwned::ScmTimestampns(ts) = c {
                            let t = Duration::new(ts.tv_sec() as u64, ts.tv_nsec() as u32);
                            at = match t.checked_sub(base_s) {
                                Some(d) => base_i + d,
                                None => base_i.checked_sub(base_s - t).unwrap_or(base_i),
                            };
                        }
                    }
                }
                let len = msg.bytes;
                if let Some((src, priority)) = parse(&buf[..len.min(buf.len())]) {
                    if let Ok(mut v) = out.lock() {
                        v.push(Advert { at, src, priority });
                    }
                }
            }
        });
        match rx.recv_timeout(Duration::from_secs(5)) {
            Ok(Ok(())) => {}
            other => panic!("advert capture did not start: {other:?}"),
        }
        AdvertCapture {
            stop,
            adverts,
            handle: Some(handle),
        }
    }

    /// Adverts from `src` that entered the bridge in `from..to`, in time order.
    pub fn from(&self, src: Ipv4Addr, from: Instant, to: Instant) -> Vec<Advert> {
        let mut v: Vec<Advert> = self
            .adverts
            .lock()
            .map(|v| v.clone())
            .unwrap_or_default()
            .into_iter()
            .filter(|a| a.src == src && a.at >= from && a.at < to)
            .collect();
        v.sort_by_key(|a| a.at);
        v
    }

    /// Gaps between consecutive adverts of `src` in `from..to`, in seconds.
    pub fn gaps(&self, src: Ipv4Addr, from: Instant, to: Instant) -> Vec<f64> {
        self.from(src, from, to)
            .windows(2)
            .map(|w| (w[1].at - w[0].at).as_secs_f64())
            .collect()
    }

    /// The last advert with a non-zero priority from any source other than `keep` in `from..to`.
    pub fn last_other_master(&self, keep: Ipv4Addr, from: Instant, to: Instant) -> Option<Instant> {
        self.adverts
            .lock()
            .ok()?
            .iter()
            .filter(|a| a.src != keep && a.priority > 0 && a.at >= from && a.at < to)
            .map(|a| a.at)
            .max()
    }
}

impl Drop for AdvertCapture {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

#[test]
fn parse_reads_the_source_and_priority_of_a_vrrp_packet_only() {
    let mut pkt = [0u8; 28];
    pkt[0] = 0x45;
    pkt[9] = IPPROTO_VRRP;
    pkt[12..16].copy_from_slice(&[10, 0, 0, 11]);
    pkt[22] = 100;
    assert_eq!(parse(&pkt), Some((Ipv4Addr::new(10, 0, 0, 11), 100)));
    pkt[9] = 6;
    assert_eq!(parse(&pkt), None);
    assert_eq!(parse(&pkt[..5]), None);
}
