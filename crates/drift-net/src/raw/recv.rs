//! `recvmsg` with ancillary data: kernel timestamp, IPv6 hop limit and packet info.

use std::io;
use std::mem::{size_of, zeroed, MaybeUninit};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::RawFd;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Large enough for any IPv4/IPv6 datagram, so nothing is ever truncated.
pub(crate) const RECV_BUF: usize = 65_536;

/// What one `recvmsg` returned, before family-specific interpretation.
pub(crate) struct RawDatagram {
    pub len: usize,
    pub from: Option<IpAddr>,
    pub kernel_time: Option<SystemTime>,
    pub hop_limit: Option<u8>,
    pub pktinfo_dst: Option<Ipv6Addr>,
    pub pktinfo_ifindex: Option<u32>,
}

/// One non-blocking `recvmsg` into `buf`. `Err(WouldBlock)` when the queue is empty.
pub(crate) fn recvmsg(fd: RawFd, buf: &mut [u8]) -> io::Result<RawDatagram> {
    // u64 storage keeps the control buffer aligned for cmsghdr.
    let mut control = [0u64; 32];
    // SAFETY: sockaddr_storage is plain old data; all-zero is a valid value.
    let mut from: libc::sockaddr_storage = unsafe { zeroed() };
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: msghdr is plain old data; all-zero is valid and every pointer is set below.
    let mut msg: libc::msghdr = unsafe { zeroed() };
    msg.msg_name = (&mut from as *mut libc::sockaddr_storage).cast();
    msg.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = size_of::<[u64; 32]>();
    // SAFETY: every pointer in `msg` refers to a live local buffer of the stated length, which
    // outlives the call; the kernel writes at most those lengths.
    let n = unsafe { libc::recvmsg(fd, &mut msg, libc::MSG_DONTWAIT) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut out = RawDatagram {
        len: n as usize,
        from: sockaddr_ip(&from),
        kernel_time: None,
        hop_limit: None,
        pktinfo_dst: None,
        pktinfo_ifindex: None,
    };
    // SAFETY: `msg` was filled by a successful recvmsg, so CMSG_FIRSTHDR/NXTHDR walk only within
    // `control` (bounded by msg_controllen); each payload is read unaligned with its kernel-defined type
    // after checking cmsg_len covers it.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            let hdr = &*cmsg;
            let data = libc::CMSG_DATA(cmsg);
            let data_len = hdr.cmsg_len as usize - (data as usize - cmsg as usize);
            match (hdr.cmsg_level, hdr.cmsg_type) {
                (libc::SOL_SOCKET, libc::SCM_TIMESTAMPNS)
                    if data_len >= size_of::<libc::timespec>() =>
                {
                    let ts: libc::timespec = read(data);
                    out.kernel_time = timespec_to_system_time(ts);
                }
                (libc::IPPROTO_IPV6, libc::IPV6_HOPLIMIT)
                    if data_len >= size_of::<libc::c_int>() =>
                {
                    let hl: libc::c_int = read(data);
                    out.hop_limit = u8::try_from(hl).ok();
                }
                (libc::IPPROTO_IPV6, libc::IPV6_PKTINFO)
                    if data_len >= size_of::<libc::in6_pktinfo>() =>
                {
                    let info: libc::in6_pktinfo = read(data);
                    out.pktinfo_dst = Some(Ipv6Addr::from(info.ipi6_addr.s6_addr));
                    out.pktinfo_ifindex = Some(info.ipi6_ifindex);
                }
                _ => {}
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
    }
    Ok(out)
}

/// # Safety
/// `p` must point to at least `size_of::<T>()` readable bytes holding a valid `T`.
unsafe fn read<T>(p: *const u8) -> T {
    let mut v = MaybeUninit::<T>::uninit();
    // SAFETY: guaranteed by the caller; the destination is a properly sized local.
    unsafe { std::ptr::copy_nonoverlapping(p, v.as_mut_ptr().cast::<u8>(), size_of::<T>()) };
    // SAFETY: all bytes were just initialised from a valid T.
    unsafe { v.assume_init() }
}

fn timespec_to_system_time(ts: libc::timespec) -> Option<SystemTime> {
    let secs = u64::try_from(ts.tv_sec).ok()?;
    let nanos = u32::try_from(ts.tv_nsec)
        .ok()
        .filter(|n| *n < 1_000_000_000)?;
    UNIX_EPOCH.checked_add(Duration::new(secs, nanos))
}

fn sockaddr_ip(ss: &libc::sockaddr_storage) -> Option<IpAddr> {
    match i32::from(ss.ss_family) {
        libc::AF_INET => {
            // SAFETY: ss_family says the storage holds a sockaddr_in, which fits inside it.
            let sin: &libc::sockaddr_in = unsafe { &*(ss as *const _ as *const libc::sockaddr_in) };
            Some(IpAddr::V4(Ipv4Addr::from(u32::from_be(
                sin.sin_addr.s_addr,
            ))))
        }
        libc::AF_INET6 => {
            // SAFETY: ss_family says the storage holds a sockaddr_in6, which fits inside it.
            let sin6: &libc::sockaddr_in6 =
                unsafe { &*(ss as *const _ as *const libc::sockaddr_in6) };
            Some(IpAddr::V6(Ipv6Addr::from(sin6.sin6_addr.s6_addr)))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timespecs_convert_and_invalid_ones_are_rejected() {
        let ok = libc::timespec {
            tv_sec: 10,
            tv_nsec: 5,
        };
        assert_eq!(
            timespec_to_system_time(ok),
            Some(UNIX_EPOCH + Duration::new(10, 5))
        );
        let neg = libc::timespec {
            tv_sec: -1,
            tv_nsec: 0,
        };
        assert_eq!(timespec_to_system_time(neg), None);
        let bad = libc::timespec {
            tv_sec: 1,
            tv_nsec: 1_000_000_000,
        };
        assert_eq!(timespec_to_system_time(bad), None);
    }
}
