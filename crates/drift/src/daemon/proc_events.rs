//! The kernel's process events connector (NETLINK_CONNECTOR, CN_IDX_PROC), which keepalived's
//! `vrrp_track_process` follows: a message on every fork, exec, comm change and exit. drift uses
//! it only as a trigger for an immediate /proc scan ([`super::track_process`]); the periodic scan
//! stays, because the connector exists only in the initial network namespace (elsewhere the
//! kernel refuses the subscription with ECONNREFUSED) and because events can be lost (ENOBUFS).

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

const NETLINK_CONNECTOR: libc::c_int = 11;
const CN_IDX_PROC: u32 = 1;
const CN_VAL_PROC: u32 = 1;
const PROC_CN_MCAST_LISTEN: u32 = 1;
const NLMSG_DONE: u16 = 3;

/// A subscribed connector socket.
pub struct ProcEvents {
    fd: AsyncFd<OwnedFd>,
}

/// The subscription message: nlmsghdr, cn_msg (id, seq, ack, len, flags), then the op.
pub fn listen_message(pid: u32) -> Vec<u8> {
    let mut cn = Vec::with_capacity(24);
    cn.extend_from_slice(&CN_IDX_PROC.to_ne_bytes());
    cn.extend_from_slice(&CN_VAL_PROC.to_ne_bytes());
    cn.extend_from_slice(&0u32.to_ne_bytes()); // seq
    cn.extend_from_slice(&0u32.to_ne_bytes()); // ack
    cn.extend_from_slice(&4u16.to_ne_bytes()); // len of the payload
    cn.extend_from_slice(&0u16.to_ne_bytes()); // flags
    cn.extend_from_slice(&PROC_CN_MCAST_LISTEN.to_ne_bytes());
    let len = u32::try_from(16 + cn.len()).unwrap_or(u32::MAX);
    let mut msg = Vec::with_capacity(16 + cn.len());
    msg.extend_from_slice(&len.to_ne_bytes());
    msg.extend_from_slice(&NLMSG_DONE.to_ne_bytes());
    msg.extend_from_slice(&0u16.to_ne_bytes()); // flags
    msg.extend_from_slice(&0u32.to_ne_bytes()); // seq
    msg.extend_from_slice(&pid.to_ne_bytes());
    msg.extend_from_slice(&cn);
    msg
}

impl ProcEvents {
    /// Open and subscribe; must be called inside a tokio runtime.
    pub fn open() -> io::Result<ProcEvents> {
        // SAFETY: plain socket(2) call; the result is checked before use.
        let raw = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_DGRAM | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
                NETLINK_CONNECTOR,
            )
        };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a fresh descriptor we own; OwnedFd closes it exactly once.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // SAFETY: sockaddr_nl is plain old data; all-zero is a valid value.
        let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        addr.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        addr.nl_groups = CN_IDX_PROC;
        // SAFETY: `addr` is a valid sockaddr_nl and the length matches its type.
        let rc = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                std::ptr::addr_of!(addr).cast(),
                std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        let msg = listen_message(0);
        // SAFETY: `msg` is a live buffer of `msg.len()` bytes for the duration of the call.
        let sent = unsafe { libc::send(fd.as_raw_fd(), msg.as_ptr().cast(), msg.len(), 0) };
        if sent < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: the OwnedFd moves into the AsyncFd and is neither closed nor replaced while
        // registered; as_raw_fd always returns that same descriptor.
        let fd = unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) }
            .map_err(|e| io::Error::other(e.to_string()))?;
        Ok(ProcEvents { fd })
    }

    /// Wait for at least one process event and drain every queued one. An overrun (ENOBUFS)
    /// counts as an event: something happened, the caller rescans anyway.
    pub async fn next(&self) -> io::Result<()> {
        let mut buf = [0u8; 4096];
        loop {
            let mut guard = self.fd.readable().await?;
            let mut got = false;
            loop {
                // SAFETY: `buf` is a live, writable buffer of `buf.len()` bytes.
                let n = unsafe {
                    libc::recv(
                        self.fd.get_ref().as_raw_fd(),
                        buf.as_mut_ptr().cast(),
                        buf.len(),
                        0,
                    )
                };
                if n > 0 {
                    got = true;
                    continue;
                }
                let err = io::Error::last_os_error();
                match err.raw_os_error() {
                    Some(libc::EAGAIN) => break,
                    Some(libc::ENOBUFS) => got = true,
                    Some(libc::EINTR) => continue,
                    _ if n == 0 => break,
                    _ => return Err(err),
                }
            }
            guard.clear_ready();
            if got {
                return Ok(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_subscription_is_one_netlink_message_carrying_the_listen_op() {
        let m = listen_message(7);
        assert_eq!(m.len(), 40);
        assert_eq!(u32::from_ne_bytes([m[0], m[1], m[2], m[3]]), 40);
        assert_eq!(u16::from_ne_bytes([m[4], m[5]]), NLMSG_DONE);
        assert_eq!(u32::from_ne_bytes([m[12], m[13], m[14], m[15]]), 7);
        assert_eq!(
            u32::from_ne_bytes([m[16], m[17], m[18], m[19]]),
            CN_IDX_PROC
        );
        assert_eq!(
            u32::from_ne_bytes([m[36], m[37], m[38], m[39]]),
            PROC_CN_MCAST_LISTEN
        );
    }

    /// In the initial network namespace (where this test process runs) a started process is
    /// reported; elsewhere the kernel refuses the subscription, which is the fallback's case.
    #[test]
    fn a_started_process_is_reported_or_the_subscription_is_refused() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: the proc connector needs CAP_NET_ADMIN");
            return;
        }
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let ev = match ProcEvents::open() {
                Ok(ev) => ev,
                Err(e) => {
                    assert_eq!(e.raw_os_error(), Some(libc::ECONNREFUSED), "{e}");
                    return;
                }
            };
            let _ = std::process::Command::new("/bin/true").status();
            let got = tokio::time::timeout(std::time::Duration::from_secs(5), ev.next()).await;
            assert!(matches!(got, Ok(Ok(()))), "no event: {got:?}");
        });
    }
}
