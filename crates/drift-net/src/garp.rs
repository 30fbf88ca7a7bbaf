//! Announcing a VIP's new owner: gratuitous ARP over AF_PACKET (IPv4) and unsolicited Neighbour
//! Advertisements over a raw ICMPv6 socket (IPv6), as keepalived does after becoming master
//! (RFC 5798 §6.4.2: "broadcast a gratuitous ARP request ... / send an unsolicited ND NA").
//!
//! The frames themselves are built by drift-vrrp's `wire` module (pure, checked byte for byte
//! against keepalived's captures); this module only puts them on the wire.

use std::io;
use std::mem::size_of;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV6};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use crate::error::IoContext;
use crate::raw::setup::attach_drop_all_filter;
use crate::Result;

/// All-nodes multicast, the destination of unsolicited NAs (RFC 4861 §7.2.6).
pub use drift_vrrp::wire::ALL_NODES;

/// Sends whole Ethernet frames out of one interface. Protocol 0, so it never receives anything.
#[derive(Debug)]
pub struct FrameSender {
    fd: OwnedFd,
    ifindex: u32,
}

impl FrameSender {
    /// Open an AF_PACKET socket for `ifindex` (needs CAP_NET_RAW; in the caller thread's netns).
    pub fn open(ifindex: u32) -> Result<FrameSender> {
        // SAFETY: plain socket(2) call; the result is checked before use and then owned.
        let raw = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
        if raw < 0 {
            return Err(io::Error::last_os_error())
                .ctx("socket(AF_PACKET)", format!("ifindex {ifindex}"));
        }
        // SAFETY: `raw` is a fresh, valid fd that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        Ok(FrameSender { fd, ifindex })
    }

    /// Send one complete frame (Ethernet header included) to the broadcast/destination in it.
    pub fn send_frame(&self, frame: &[u8]) -> io::Result<usize> {
        if frame.len() < 14 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "frame shorter than an Ethernet header",
            ));
        }
        // SAFETY: sockaddr_ll is plain old data; all-zero is valid.
        let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_ifindex = i32::try_from(self.ifindex).map_err(io::Error::other)?;
        sll.sll_protocol = u16::from_be_bytes([frame[12], frame[13]]).to_be();
        sll.sll_halen = 6;
        sll.sll_addr[..6].copy_from_slice(&frame[..6]);
        // SAFETY: `frame` and `sll` are live for the call and their exact lengths are passed.
        let n = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                frame.as_ptr().cast(),
                frame.len(),
                0,
                (&sll as *const libc::sockaddr_ll).cast(),
                size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if n < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(n as usize)
        }
    }

    /// Broadcast a gratuitous ARP for `ip` at `mac`.
    pub fn send_garp(&self, mac: [u8; 6], ip: Ipv4Addr) -> io::Result<usize> {
        self.send_frame(&drift_vrrp::wire::gratuitous_arp(mac, ip))
    }
}

/// Sends ICMPv6 messages with hop limit 255 (receivers drop ND messages with any other value,
/// RFC 4861 §7.1.2) out of one interface. Deaf: a drop-all filter keeps its queue empty.
#[derive(Debug)]
pub struct NaSender {
    sock: Socket,
    ifindex: u32,
}

impl NaSender {
    /// Open on `ifname`/`ifindex`; `src` (usually the link-local address) is bound as the source,
    /// otherwise the kernel picks one.
    pub fn open(ifname: &str, ifindex: u32, src: Option<Ipv6Addr>) -> Result<NaSender> {
        let sock = Socket::new(Domain::IPV6, Type::RAW, Some(Protocol::ICMPV6))
            .ctx("socket(ICMPV6)", ifname)?;
        sock.bind_device(Some(ifname.as_bytes()))
            .ctx("SO_BINDTODEVICE", ifname)?;
        sock.set_multicast_hops_v6(255)
            .ctx("IPV6_MULTICAST_HOPS", ifname)?;
        sock.set_unicast_hops_v6(255)
            .ctx("IPV6_UNICAST_HOPS", ifname)?;
        sock.set_multicast_if_v6(ifindex)
            .ctx("IPV6_MULTICAST_IF", ifname)?;
        sock.set_multicast_loop_v6(false)
            .ctx("IPV6_MULTICAST_LOOP=0", ifname)?;
        if let Some(src) = src {
            let link_local = src.segments()[0] & 0xffc0 == 0xfe80;
            let addr = SocketAddrV6::new(src, 0, 0, if link_local { ifindex } else { 0 });
            sock.bind(&SockAddr::from(addr))
                .ctx("bind NA source", format!("{src} on {ifname}"))?;
        }
        attach_drop_all_filter(&sock).ctx("SO_ATTACH_FILTER (drop all)", ifname)?;
        Ok(NaSender { sock, ifindex })
    }

    /// Send an ICMPv6 payload (checksum filled by the kernel) to `dst`, normally [`ALL_NODES`].
    pub fn send(&self, icmp: &[u8], dst: Ipv6Addr) -> io::Result<usize> {
        let scoped = dst.is_multicast() || dst.segments()[0] & 0xffc0 == 0xfe80;
        let addr = SocketAddrV6::new(dst, 0, 0, if scoped { self.ifindex } else { 0 });
        self.sock.send_to(icmp, &SockAddr::from(addr))
    }

    /// Unsolicited NA for `target` at `mac` to all nodes.
    pub fn send_unsolicited_na(
        &self,
        target: Ipv6Addr,
        mac: [u8; 6],
        router: bool,
    ) -> io::Result<usize> {
        // The kernel computes the ICMPv6 checksum on raw ICMPv6 sockets (replacing whatever the
        // builder stored), so the source it will pick need not be known here.
        let na =
            drift_vrrp::wire::unsolicited_na(mac, target, Ipv6Addr::UNSPECIFIED, ALL_NODES, router);
        self.send(&na, ALL_NODES)
    }
}
