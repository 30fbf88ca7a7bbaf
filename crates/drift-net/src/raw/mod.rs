//! VRRP raw sockets (IP protocol 112) bound to one interface.
//!
//! Two kernel sockets per [`VrrpSocket`], as keepalived does: a *receive* socket that is not bound
//! to an address (a raw socket bound to an address only gets packets *to* that address, which
//! would hide multicast adverts), and a *send* socket bound to the source address we want the
//! kernel to use (primary address, `mcast_src_ip` or `unicast_src_ip`). The send socket drops
//! everything it would receive through a reject-all socket filter so its queue never fills.
//!
//! Both are non-blocking; the receive fd is what [`AsRawFd`] exposes, for tokio's `AsyncFd`
//! (see [`AsyncVrrpSocket`]).
//!
//! On the VRRP thread (current_thread runtime):
//! ```no_run
//! # async fn vrrp_thread() -> Result<(), Box<dyn std::error::Error>> {
//! use drift_net::raw::{if_index, AsyncVrrpSocket, Family, VrrpSocket, VrrpSocketConfig};
//! let index = if_index("eth0")?;
//! let cfg = VrrpSocketConfig::new(Family::V4, "eth0", index).with_src("10.0.0.2".parse()?);
//! let sock = AsyncVrrpSocket::new(VrrpSocket::open(cfg)?)?;
//! loop {
//!     for rx in sock.recv_batch(64).await? {
//!         let arrived = rx.time.kernel_instant(); // feed this as `now` with the advert
//!         if rx.ttl != 255 { continue; }           // RFC 5798 §7.1 (count it)
//!         let _ = (arrived, rx.src, &rx.payload);  // -> drift_vrrp::wire parse
//!     }
//!     sock.send_to(&[/* emitted advert */], sock.get_ref().group())?;
//! }
//! # }
//! ```

mod async_socket;
mod batch;
mod ipv4;
mod recv;
pub(crate) mod setup;
mod time;

pub use async_socket::AsyncVrrpSocket;
pub use ipv4::{parse_ipv4_header, Ipv4Header};
pub use time::{RxTime, MAX_PLAUSIBLE_AGE};

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};

use socket2::{SockAddr, Socket};

use crate::Result;

/// IANA protocol number for VRRP.
pub const IPPROTO_VRRP: i32 = 112;
/// RFC 3768 §5.2.2 / RFC 5798 §5.1.1.2: VRRP IPv4 multicast group.
pub const VRRP_GROUP_V4: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);
/// RFC 5798 §5.1.2.2: VRRP IPv6 multicast group.
pub const VRRP_GROUP_V6: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12);
/// Offset of the checksum inside a VRRP packet (for IPV6_CHECKSUM).
pub const VRRP_CHECKSUM_OFFSET: i32 = 6;

/// Interface index for a name, via `if_nametoindex` (no netlink round trip; in the calling
/// thread's network namespace).
pub fn if_index(name: &str) -> Result<u32> {
    match nix::net::if_::if_nametoindex(name) {
        Ok(0) | Err(nix::errno::Errno::ENODEV) => Err(crate::Error::LinkNotFound(name.to_string())),
        Ok(i) => Ok(i),
        Err(e) => Err(crate::Error::io("if_nametoindex", name, io::Error::from(e))),
    }
}

/// Address family of a VRRP socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    V4,
    V6,
}

/// How to open a [`VrrpSocket`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VrrpSocketConfig {
    pub family: Family,
    /// Interface name, for SO_BINDTODEVICE.
    pub ifname: String,
    /// Interface index, for multicast membership/IF and IPv6 scope ids.
    pub ifindex: u32,
    /// Source address for sent packets; None lets the kernel choose (the interface's primary).
    pub src: Option<IpAddr>,
    /// Join 224.0.0.18 / ff02::12 (off for unicast-only instances).
    pub join_multicast: bool,
    /// IPv6 only: IPV6_CHECKSUM at offset 6, so the kernel fills in the VRRPv3 checksum on send
    /// and drops bad ones on receive, as keepalived configures it (its adverts carry the right
    /// pseudo-header checksum whatever source address the kernel picks).
    pub kernel_checksum_v6: bool,
    /// Queue only adverts of this virtual router id (an in-kernel BPF filter). Every raw socket
    /// joined on an interface gets a copy of every VRRP packet there; with 100 instances each
    /// socket would wake its reader 100 times per advert interval for packets it then discards.
    pub vrid_filter: Option<u8>,
    /// Receive buffer size (SO_RCVBUFFORCE when permitted, else SO_RCVBUF capped by
    /// `net.core.rmem_max`). A receiver that serves many instances must hold every advert that
    /// arrives while its reader is stalled: 100 instances at 10 ms are 1,000 packets in 100 ms,
    /// several times the default 208 KiB; a dropped advert cannot be judged by its arrival time.
    pub rcvbuf: Option<usize>,
    /// Open no receive socket (see [`VrrpSocketConfig::send_only`]).
    pub send_only: bool,
}

impl VrrpSocketConfig {
    pub fn new(family: Family, ifname: impl Into<String>, ifindex: u32) -> VrrpSocketConfig {
        VrrpSocketConfig {
            family,
            ifname: ifname.into(),
            ifindex,
            src: None,
            join_multicast: true,
            kernel_checksum_v6: true,
            vrid_filter: None,
            rcvbuf: None,
            send_only: false,
        }
    }

    /// For an instance whose adverts are heard through another (shared) socket: no receive
    /// socket is opened and the receive side is a duplicate of the deaf send socket. Every raw
    /// socket of protocol 112 in the namespace is visited for each incoming VRRP packet (and the
    /// sender's softirq pays for it on a veth), so 100 idle receive sockets cost real CPU.
    pub fn send_only(mut self) -> Self {
        self.send_only = true;
        self
    }

    /// See [`VrrpSocketConfig::rcvbuf`].
    pub fn with_rcvbuf(mut self, bytes: usize) -> Self {
        self.rcvbuf = Some(bytes);
        self
    }

    /// See [`VrrpSocketConfig::vrid_filter`].
    pub fn with_vrid_filter(mut self, vrid: u8) -> Self {
        self.vrid_filter = Some(vrid);
        self
    }

    pub fn with_src(mut self, src: IpAddr) -> Self {
        self.src = Some(src);
        self
    }

    pub fn without_multicast(mut self) -> Self {
        self.join_multicast = false;
        self
    }
}

/// A received VRRP packet (payload starts at the VRRP header).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub src: IpAddr,
    pub dst: IpAddr,
    /// IPv4 TTL or IPv6 hop limit; RFC 5798 §7.1 drops packets where this is not 255.
    pub ttl: u8,
    pub payload: Vec<u8>,
    pub time: RxTime,
}

/// A VRRP socket pair on one interface; see the module docs.
#[derive(Debug)]
pub struct VrrpSocket {
    rx: Socket,
    tx: Socket,
    cfg: VrrpSocketConfig,
}

impl VrrpSocket {
    /// Open and configure both sockets. Needs CAP_NET_RAW; creates them in the calling thread's
    /// network namespace.
    pub fn open(cfg: VrrpSocketConfig) -> Result<VrrpSocket> {
        let tx = setup::open_tx(&cfg)?;
        let rx = if cfg.send_only {
            tx.try_clone()
                .map_err(|e| crate::Error::io("dup send socket", &cfg.ifname, e))?
        } else {
            setup::open_rx(&cfg)?
        };
        Ok(VrrpSocket { rx, tx, cfg })
    }

    pub fn config(&self) -> &VrrpSocketConfig {
        &self.cfg
    }

    /// The multicast group for this socket's family.
    pub fn group(&self) -> IpAddr {
        match self.cfg.family {
            Family::V4 => IpAddr::V4(VRRP_GROUP_V4),
            Family::V6 => IpAddr::V6(VRRP_GROUP_V6),
        }
    }

    /// Send one VRRP payload to `dst` (the group or a unicast peer). Non-blocking: a full send
    /// buffer is `WouldBlock`, which a VRRP sender can treat as a lost advert.
    pub fn send_to(&self, payload: &[u8], dst: IpAddr) -> io::Result<usize> {
        self.tx.send_to(payload, &self.dest(dst)?)
    }

    /// keepalived `unicast_ttl`: the TTL / hop limit of unicast adverts (multicast ones keep
    /// 255, RFC 5798 §5.1.1.3). For peers behind a router, whose `min_ttl` expects less.
    pub fn set_unicast_ttl(&self, ttl: u8) -> io::Result<()> {
        match self.cfg.family {
            Family::V4 => self.tx.set_ttl(u32::from(ttl)),
            Family::V6 => self.tx.set_unicast_hops_v6(u32::from(ttl)),
        }
    }

    fn dest(&self, dst: IpAddr) -> io::Result<SockAddr> {
        match (self.cfg.family, dst) {
            (Family::V4, IpAddr::V4(v4)) => Ok(SockAddr::from(SocketAddr::from((v4, 0)))),
            (Family::V6, IpAddr::V6(v6)) => {
                // Link-local and multicast destinations need the interface as scope.
                let scoped = v6.is_multicast() || v6.segments()[0] & 0xffc0 == 0xfe80;
                let scope = if scoped { self.cfg.ifindex } else { 0 };
                Ok(SockAddr::from(SocketAddrV6::new(v6, 0, 0, scope)))
            }
            _ => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "destination {dst} does not match socket family {:?}",
                    self.cfg.family
                ),
            )),
        }
    }

    /// Read one queued packet; `Err(WouldBlock)` when none is queued. Packets that are not
    /// well-formed IPv4 (cannot happen from the kernel, but we never trust it to panic on) are
    /// `InvalidData` errors, which the caller counts and skips.
    pub fn recv(&self) -> io::Result<Received> {
        let mut buf = vec![0u8; recv::RECV_BUF];
        let d = recv::recvmsg(self.rx.as_raw_fd(), &mut buf)?;
        let time = RxTime::now(d.kernel_time);
        buf.truncate(d.len);
        match self.cfg.family {
            Family::V4 => {
                let h = parse_ipv4_header(&buf).ok_or_else(|| {
                    io::Error::new(
                        io::ErrorKind::InvalidData,
                        "raw IPv4 datagram without a valid IP header",
                    )
                })?;
                let payload = buf[h.header_len..h.total_len].to_vec();
                Ok(Received {
                    src: IpAddr::V4(h.src),
                    dst: IpAddr::V4(h.dst),
                    ttl: h.ttl,
                    payload,
                    time,
                })
            }
            Family::V6 => {
                let missing = |what| {
                    io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("IPv6 datagram without {what}"),
                    )
                };
                let src = d.from.ok_or_else(|| missing("source address"))?;
                let dst = d.pktinfo_dst.ok_or_else(|| missing("IPV6_PKTINFO"))?;
                let ttl = d.hop_limit.ok_or_else(|| missing("IPV6_HOPLIMIT"))?;
                Ok(Received {
                    src,
                    dst: IpAddr::V6(dst),
                    ttl,
                    payload: buf,
                    time,
                })
            }
        }
    }

    /// Drain everything currently queued (up to `max` packets) into `out`; returns how many were
    /// read. Malformed datagrams are skipped and counted in the second value.
    pub fn recv_batch(&self, max: usize, out: &mut Vec<Received>) -> io::Result<(usize, usize)> {
        let (mut read, mut bad) = (0, 0);
        while read + bad < max {
            match self.recv() {
                Ok(p) => {
                    out.push(p);
                    read += 1;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::InvalidData => bad += 1,
                Err(e) if read + bad == 0 => return Err(e),
                Err(_) => break,
            }
        }
        Ok((read, bad))
    }
}

impl AsRawFd for VrrpSocket {
    /// The receive socket: poll it for readability.
    fn as_raw_fd(&self) -> RawFd {
        self.rx.as_raw_fd()
    }
}

impl AsFd for VrrpSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.rx.as_fd()
    }
}
