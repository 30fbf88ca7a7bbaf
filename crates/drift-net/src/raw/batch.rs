//! `sendmmsg(2)`: several adverts (e.g. one per unicast peer, or one per instance on the same
//! interface) in a single system call.

use std::io;
use std::mem::zeroed;
use std::net::IpAddr;
use std::os::fd::AsRawFd;

use socket2::SockAddr;

use super::VrrpSocket;

/// The kernel's per-call limit (UIO_MAXIOV); larger batches are split.
const MAX_BATCH: usize = 1024;

impl VrrpSocket {
    /// Send each `(payload, destination)` pair; returns how many the kernel accepted (it stops at
    /// the first failure, as `sendmmsg` does; an error is returned only if none was sent).
    pub fn send_batch(&self, msgs: &[(&[u8], IpAddr)]) -> io::Result<usize> {
        let mut sent = 0;
        for chunk in msgs.chunks(MAX_BATCH) {
            let n = self.send_chunk(chunk);
            match n {
                Ok(n) => {
                    sent += n;
                    if n < chunk.len() {
                        break;
                    }
                }
                Err(e) if sent == 0 => return Err(e),
                Err(_) => break,
            }
        }
        Ok(sent)
    }

    fn send_chunk(&self, chunk: &[(&[u8], IpAddr)]) -> io::Result<usize> {
        let addrs: Vec<SockAddr> = chunk
            .iter()
            .map(|(_, dst)| self.dest(*dst))
            .collect::<io::Result<_>>()?;
        let mut iovs: Vec<libc::iovec> = chunk
            .iter()
            .map(|(payload, _)| libc::iovec {
                iov_base: payload.as_ptr() as *mut libc::c_void,
                iov_len: payload.len(),
            })
            .collect();
        let mut hdrs: Vec<libc::mmsghdr> = iovs
            .iter_mut()
            .zip(&addrs)
            .map(|(iov, addr)| {
                // SAFETY: mmsghdr is plain old data; all-zero is valid and the used fields are set.
                let mut h: libc::mmsghdr = unsafe { zeroed() };
                h.msg_hdr.msg_name = addr.as_ptr() as *mut libc::c_void;
                h.msg_hdr.msg_namelen = addr.len();
                h.msg_hdr.msg_iov = iov;
                h.msg_hdr.msg_iovlen = 1;
                h
            })
            .collect();
        // SAFETY: `hdrs` points into `iovs`, `addrs` and the caller's payload slices, all alive
        // until after the call; the kernel only reads them (and writes msg_len in `hdrs`).
        let n = unsafe {
            libc::sendmmsg(
                self.tx.as_raw_fd(),
                hdrs.as_mut_ptr(),
                hdrs.len() as libc::c_uint,
                libc::MSG_DONTWAIT,
            )
        };
        if n < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(n as usize)
        }
    }
}
