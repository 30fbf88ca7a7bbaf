//! Socket options for the VRRP receive and send sockets.

use std::io;
use std::mem::size_of;
use std::net::{IpAddr, SocketAddr, SocketAddrV6};
use std::os::fd::AsRawFd;

use socket2::{Domain, InterfaceIndexOrAddress, Protocol, SockAddr, Socket, Type};

use super::{
    Family, VrrpSocketConfig, IPPROTO_VRRP, VRRP_CHECKSUM_OFFSET, VRRP_GROUP_V4, VRRP_GROUP_V6,
};
use crate::error::IoContext;
use crate::Result;

/// RFC 5798 §5.1.1.3 / §5.1.2.3: TTL and hop limit must be 255 (receivers drop anything else,
/// which proves the sender is on-link).
const VRRP_TTL: u32 = 255;
/// Not in every libc version; value from linux/in6.h.
const IPV6_MULTICAST_ALL: libc::c_int = 29;

fn base_socket(cfg: &VrrpSocketConfig) -> Result<Socket> {
    let domain = match cfg.family {
        Family::V4 => Domain::IPV4,
        Family::V6 => Domain::IPV6,
    };
    let s = Socket::new(domain, Type::RAW, Some(Protocol::from(IPPROTO_VRRP)))
        .ctx("socket(IPPROTO_VRRP)", &cfg.ifname)?;
    s.set_nonblocking(true).ctx("O_NONBLOCK", &cfg.ifname)?;
    s.bind_device(Some(cfg.ifname.as_bytes()))
        .ctx("SO_BINDTODEVICE", &cfg.ifname)?;
    if cfg.family == Family::V6 && cfg.kernel_checksum_v6 {
        setsockopt_int(
            &s,
            libc::IPPROTO_IPV6,
            libc::IPV6_CHECKSUM,
            VRRP_CHECKSUM_OFFSET,
        )
        .ctx("IPV6_CHECKSUM", &cfg.ifname)?;
    }
    Ok(s)
}

/// The receive socket: device-bound, in the VRRP group only (IP_MULTICAST_ALL off, so groups
/// other sockets joined on this host are not delivered here), with kernel timestamps and — for
/// IPv6, where the header is not delivered — hop limit and destination as ancillary data.
pub(super) fn open_rx(cfg: &VrrpSocketConfig) -> Result<Socket> {
    let s = base_socket(cfg)?;
    let name = &cfg.ifname;
    setsockopt_int(&s, libc::SOL_SOCKET, libc::SO_TIMESTAMPNS, 1).ctx("SO_TIMESTAMPNS", name)?;
    match cfg.family {
        Family::V4 => {
            s.set_multicast_all_v4(false)
                .ctx("IP_MULTICAST_ALL=0", name)?;
            if cfg.join_multicast {
                s.join_multicast_v4_n(&VRRP_GROUP_V4, &InterfaceIndexOrAddress::Index(cfg.ifindex))
                    .ctx("IP_ADD_MEMBERSHIP 224.0.0.18", name)?;
            }
        }
        Family::V6 => {
            setsockopt_int(&s, libc::IPPROTO_IPV6, IPV6_MULTICAST_ALL, 0)
                .ctx("IPV6_MULTICAST_ALL=0", name)?;
            setsockopt_int(&s, libc::IPPROTO_IPV6, libc::IPV6_RECVHOPLIMIT, 1)
                .ctx("IPV6_RECVHOPLIMIT", name)?;
            setsockopt_int(&s, libc::IPPROTO_IPV6, libc::IPV6_RECVPKTINFO, 1)
                .ctx("IPV6_RECVPKTINFO", name)?;
            if cfg.join_multicast {
                s.join_multicast_v6(&VRRP_GROUP_V6, cfg.ifindex)
                    .ctx("IPV6_ADD_MEMBERSHIP ff02::12", name)?;
            }
        }
    }
    if let Some(bytes) = cfg.rcvbuf {
        set_rcvbuf(&s, bytes).ctx("SO_RCVBUF", name)?;
    }
    if let Some(vrid) = cfg.vrid_filter {
        s.attach_filter(&vrid_filter(cfg.family, vrid))
            .ctx("SO_ATTACH_FILTER (vrid)", name)?;
    }
    Ok(s)
}

/// Classic BPF that accepts a packet only when its VRRP VRID byte equals `vrid`. IPv4 raw
/// sockets see the IP header first (its length is in the low nibble of byte 0); IPv6 raw
/// sockets see the VRRP header directly. A packet too short to hold the byte is dropped by the
/// kernel (an out-of-bounds load returns 0), which is what a malformed advert deserves anyway.
pub(crate) fn vrid_filter(family: Family, vrid: u8) -> Vec<libc::sock_filter> {
    let op = |code: u32, jt: u8, jf: u8, k: u32| libc::sock_filter {
        code: code as u16,
        jt,
        jf,
        k,
    };
    let load_vrid = match family {
        // X = 4 * (ip[0] & 0xf); A = ip[X + 1]
        Family::V4 => vec![
            op(libc::BPF_LDX | libc::BPF_B | libc::BPF_MSH, 0, 0, 0),
            op(libc::BPF_LD | libc::BPF_B | libc::BPF_IND, 0, 0, 1),
        ],
        // A = vrrp[1]
        Family::V6 => vec![op(libc::BPF_LD | libc::BPF_B | libc::BPF_ABS, 0, 0, 1)],
    };
    let mut prog = load_vrid;
    prog.push(op(
        libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K,
        0,
        1,
        u32::from(vrid),
    ));
    prog.push(op(libc::BPF_RET | libc::BPF_K, 0, 0, 0x0004_0000));
    prog.push(op(libc::BPF_RET | libc::BPF_K, 0, 0, 0));
    prog
}

/// The send socket: TTL/hop limit 255 for unicast and multicast, multicast out of our interface,
/// no loopback of our own adverts, bound to the chosen source address, and deaf.
pub(super) fn open_tx(cfg: &VrrpSocketConfig) -> Result<Socket> {
    let s = base_socket(cfg)?;
    let name = &cfg.ifname;
    match cfg.family {
        Family::V4 => {
            s.set_ttl(VRRP_TTL).ctx("IP_TTL", name)?;
            s.set_multicast_ttl_v4(VRRP_TTL)
                .ctx("IP_MULTICAST_TTL", name)?;
            s.set_multicast_loop_v4(false)
                .ctx("IP_MULTICAST_LOOP=0", name)?;
            set_multicast_if_v4_index(&s, cfg.ifindex).ctx("IP_MULTICAST_IF", name)?;
        }
        Family::V6 => {
            s.set_unicast_hops_v6(VRRP_TTL)
                .ctx("IPV6_UNICAST_HOPS", name)?;
            s.set_multicast_hops_v6(VRRP_TTL)
                .ctx("IPV6_MULTICAST_HOPS", name)?;
            s.set_multicast_loop_v6(false)
                .ctx("IPV6_MULTICAST_LOOP=0", name)?;
            s.set_multicast_if_v6(cfg.ifindex)
                .ctx("IPV6_MULTICAST_IF", name)?;
        }
    }
    if let Some(src) = cfg.src {
        let addr = match src {
            IpAddr::V4(v4) => SockAddr::from(SocketAddr::from((v4, 0))),
            IpAddr::V6(v6) => {
                let link_local = v6.segments()[0] & 0xffc0 == 0xfe80;
                SockAddr::from(SocketAddrV6::new(
                    v6,
                    0,
                    0,
                    if link_local { cfg.ifindex } else { 0 },
                ))
            }
        };
        s.bind(&addr)
            .ctx("bind source address", format!("{src} on {name}"))?;
    }
    attach_drop_all_filter(&s).ctx("SO_ATTACH_FILTER (drop all)", name)?;
    Ok(s)
}

/// SO_RCVBUFFORCE (CAP_NET_ADMIN, ignores `rmem_max`), falling back to SO_RCVBUF.
fn set_rcvbuf(s: &Socket, bytes: usize) -> io::Result<()> {
    let v = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
    setsockopt_int(s, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, v)
        .or_else(|_| setsockopt_int(s, libc::SOL_SOCKET, libc::SO_RCVBUF, v))
}

fn setsockopt_int(
    s: &Socket,
    level: libc::c_int,
    opt: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    // SAFETY: `value` is a live c_int and we pass its exact size; the fd is owned by `s`.
    let rc = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            level,
            opt,
            (&value as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// IP_MULTICAST_IF by interface index (`ip_mreqn`), which works even before the interface has an
/// IPv4 address; socket2 only offers the by-address form.
fn set_multicast_if_v4_index(s: &Socket, ifindex: u32) -> io::Result<()> {
    let mreqn = libc::ip_mreqn {
        imr_multiaddr: libc::in_addr { s_addr: 0 },
        imr_address: libc::in_addr { s_addr: 0 },
        imr_ifindex: i32::try_from(ifindex).map_err(io::Error::other)?,
    };
    // SAFETY: `mreqn` is a live ip_mreqn and we pass its exact size; the fd is owned by `s`.
    let rc = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_MULTICAST_IF,
            (&mreqn as *const libc::ip_mreqn).cast(),
            size_of::<libc::ip_mreqn>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Classic BPF `ret #0`: accept zero bytes of every packet, i.e. queue nothing.
pub(crate) fn attach_drop_all_filter(s: &Socket) -> io::Result<()> {
    let filter = [libc::sock_filter {
        code: (libc::BPF_RET | libc::BPF_K) as u16,
        jt: 0,
        jf: 0,
        k: 0,
    }];
    s.attach_filter(&filter)
}
