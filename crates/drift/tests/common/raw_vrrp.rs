//! A hostile (or merely watching) node on a lab segment: raw IPv4 sockets that send hand-made
//! VRRP packets (any TTL, checksum, length, source) and a capture socket that timestamps the
//! adverts it hears in the kernel. Open both inside the node's namespace (`Netns::run_in`): a
//! socket belongs to the namespace of the thread that created it, and may then be used anywhere.

use std::io;
use std::mem::size_of;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

use drift_vrrp::wire::{Addrs, Advert, AuthType, ChecksumMode, PseudoHeader, Version};

/// The VRRP multicast group (RFC 5798 §5.1.1.2).
pub const GROUP: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);
const IPPROTO_VRRP: i32 = 112;
/// `SIOCGSTAMPNS` (asm-generic/sockios.h): kernel receive time of the last packet read.
const SIOCGSTAMPNS: libc::c_ulong = 0x8907;

fn check(rc: libc::c_int) -> io::Result<libc::c_int> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

fn raw_socket(proto: i32) -> io::Result<OwnedFd> {
    // SAFETY: plain socket(2); on success the descriptor is owned by the OwnedFd alone.
    let fd =
        check(unsafe { libc::socket(libc::AF_INET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, proto) })?;
    // SAFETY: `fd` was just returned by socket(2) and is not owned by anything else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn setopt<T>(fd: &OwnedFd, level: i32, name: i32, val: &T) -> io::Result<()> {
    // SAFETY: `val` points to a live T and the length passed is exactly its size.
    check(unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (val as *const T).cast(),
            size_of::<T>() as libc::socklen_t,
        )
    })
    .map(|_| ())
}

fn bind_device(fd: &OwnedFd, ifname: &str) -> io::Result<()> {
    let name = ifname.as_bytes();
    // SAFETY: the pointer and length describe `name`, alive for the call.
    check(unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_BINDTODEVICE,
            name.as_ptr().cast(),
            name.len() as libc::socklen_t,
        )
    })
    .map(|_| ())
}

fn sockaddr(ip: Ipv4Addr) -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: 0,
        sin_addr: libc::in_addr {
            s_addr: u32::from(ip).to_be(),
        },
        sin_zero: [0; 8],
    }
}

/// Sends raw VRRP packets out of one interface.
pub struct Sender {
    /// `IPPROTO_RAW` (implies IP_HDRINCL): we write the IP header, TTL included. The kernel
    /// still fills in the header checksum and total length.
    hdrincl: OwnedFd,
    /// Protocol 112 without IP_HDRINCL: the kernel builds the header and fragments what is
    /// bigger than the MTU (reassembled again before any raw socket on the receiver sees it).
    plain: OwnedFd,
}

impl Sender {
    pub fn open(ifname: &str) -> io::Result<Sender> {
        let hdrincl = raw_socket(libc::IPPROTO_RAW)?;
        let plain = raw_socket(IPPROTO_VRRP)?;
        for fd in [&hdrincl, &plain] {
            // Multicast leaves through the lab interface without needing a route, and our own
            // packets do not loop back to a capture socket in this namespace.
            bind_device(fd, ifname)?;
            setopt(fd, libc::IPPROTO_IP, libc::IP_MULTICAST_LOOP, &0i32)?;
        }
        setopt(&plain, libc::IPPROTO_IP, libc::IP_MULTICAST_TTL, &255i32)?;
        setopt(&plain, libc::IPPROTO_IP, libc::IP_TTL, &255i32)?;
        Ok(Sender { hdrincl, plain })
    }

    /// One datagram with our own IPv4 header (`src` may be any address: nothing checks it).
    pub fn send(&self, src: Ipv4Addr, dst: Ipv4Addr, ttl: u8, payload: &[u8]) -> io::Result<()> {
        let mut pkt = ipv4_header(src, dst, ttl, payload.len()).to_vec();
        pkt.extend_from_slice(payload);
        send_to(&self.hdrincl, &pkt, dst)
    }

    /// A payload of any size, header and fragmentation by the kernel (TTL 255, our address).
    pub fn send_fragmented(&self, dst: Ipv4Addr, payload: &[u8]) -> io::Result<()> {
        send_to(&self.plain, payload, dst)
    }
}

fn send_to(fd: &OwnedFd, buf: &[u8], dst: Ipv4Addr) -> io::Result<()> {
    let sa = sockaddr(dst);
    // SAFETY: `buf` and `sa` are live for the call and their lengths are passed with them.
    let n = unsafe {
        libc::sendto(
            fd.as_raw_fd(),
            buf.as_ptr().cast(),
            buf.len(),
            0,
            (&sa as *const libc::sockaddr_in).cast(),
            size_of::<libc::sockaddr_in>() as libc::socklen_t,
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// An IPv4 header for protocol 112 (checksum left 0: the kernel fills it for IP_HDRINCL).
pub fn ipv4_header(src: Ipv4Addr, dst: Ipv4Addr, ttl: u8, payload_len: usize) -> [u8; 20] {
    let total = (20 + payload_len).min(usize::from(u16::MAX)) as u16;
    let mut h = [0u8; 20];
    h[0] = 0x45;
    h[1] = 0xc0;
    h[2..4].copy_from_slice(&total.to_be_bytes());
    h[8] = ttl;
    h[9] = IPPROTO_VRRP as u8;
    h[12..16].copy_from_slice(&src.octets());
    h[16..20].copy_from_slice(&dst.octets());
    h
}

/// What an advert carries; `to_bytes` encodes it with drift-vrrp's codec and a correct checksum.
#[derive(Debug, Clone)]
pub struct AdvertSpec {
    pub version: Version,
    pub vrid: u8,
    pub priority: u8,
    pub adver_int_cs: u16,
    /// v2 only: `Some(password)` for `auth_type PASS`.
    pub pass: Option<&'static str>,
    pub vips: Vec<Ipv4Addr>,
}

impl AdvertSpec {
    pub fn to_bytes(&self, src: Ipv4Addr, dst: Ipv4Addr) -> Vec<u8> {
        let mut auth_data = [0u8; 8];
        if let Some(p) = self.pass {
            for (d, s) in auth_data.iter_mut().zip(p.as_bytes()) {
                *d = *s;
            }
        }
        let a = Advert {
            version: self.version,
            vrid: self.vrid,
            priority: self.priority,
            adver_int_cs: self.adver_int_cs,
            auth_type: if self.pass.is_some() {
                AuthType::Pass
            } else {
                AuthType::None
            },
            auth_data,
            addrs: Addrs::V4(self.vips.clone()),
        };
        let ph = PseudoHeader {
            src: IpAddr::V4(src),
            dst: IpAddr::V4(dst),
        };
        a.to_bytes(&ph, ChecksumMode::PseudoHeader)
    }
}

/// One VRRP packet as heard by [`Capture`].
#[derive(Debug, Clone)]
pub struct Heard {
    /// Kernel receive time, since the Unix epoch.
    pub at: Duration,
    pub src: Ipv4Addr,
    pub ttl: u8,
    pub payload: Vec<u8>,
}

/// A raw protocol-112 socket joined to the VRRP group on one interface.
pub struct Capture {
    fd: OwnedFd,
}

impl Capture {
    pub fn open(ifindex: u32) -> io::Result<Capture> {
        let fd = raw_socket(IPPROTO_VRRP)?;
        let mreq = libc::ip_mreqn {
            imr_multiaddr: libc::in_addr {
                s_addr: u32::from(GROUP).to_be(),
            },
            imr_address: libc::in_addr { s_addr: 0 },
            imr_ifindex: ifindex as libc::c_int,
        };
        setopt(&fd, libc::IPPROTO_IP, libc::IP_ADD_MEMBERSHIP, &mreq)?;
        let tv = libc::timeval {
            tv_sec: 0,
            tv_usec: 100_000,
        };
        setopt(&fd, libc::SOL_SOCKET, libc::SO_RCVTIMEO, &tv)?;
        setopt(&fd, libc::SOL_SOCKET, libc::SO_RCVBUF, &(4i32 << 20))?;
        Ok(Capture { fd })
    }

    /// The next packet, or None after the 100 ms receive timeout.
    pub fn next(&self) -> Option<Heard> {
        let mut buf = [0u8; 2048];
        // SAFETY: `buf` is a live local buffer of the length passed.
        let n = unsafe { libc::recv(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        let n = usize::try_from(n).ok()?;
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: SIOCGSTAMPNS writes one timespec into `ts`, which outlives the call.
        let rc = unsafe { libc::ioctl(self.fd.as_raw_fd(), SIOCGSTAMPNS, &mut ts) };
        let at = if rc == 0 {
            Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
        } else {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
        };
        let pkt = buf.get(..n)?;
        let ihl = usize::from(pkt.first()? & 0x0f) * 4;
        let src = Ipv4Addr::new(*pkt.get(12)?, pkt[13], pkt[14], pkt[15]);
        Some(Heard {
            at,
            src,
            ttl: pkt[8],
            payload: pkt.get(ihl..)?.to_vec(),
        })
    }
}
