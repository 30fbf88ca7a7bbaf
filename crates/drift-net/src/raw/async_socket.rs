//! tokio integration: readiness on the receive fd via `AsyncFd`.

use std::io;
use std::net::IpAddr;

use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

use super::{Received, VrrpSocket};

/// A [`VrrpSocket`] driven by the tokio reactor (works on a current_thread runtime).
#[derive(Debug)]
pub struct AsyncVrrpSocket {
    inner: AsyncFd<VrrpSocket>,
}

impl AsyncVrrpSocket {
    /// Register with the current tokio runtime's reactor.
    pub fn new(sock: VrrpSocket) -> io::Result<AsyncVrrpSocket> {
        // SAFETY: `as_raw_fd` returns the receive socket, which `VrrpSocket` owns and never
        // replaces or closes while it lives, and the AsyncFd owns the VrrpSocket.
        let inner = unsafe { AsyncFd::register_with_interest(sock, Interest::READABLE)? };
        Ok(AsyncVrrpSocket { inner })
    }

    pub fn get_ref(&self) -> &VrrpSocket {
        self.inner.get_ref()
    }

    /// Wait for one packet.
    pub async fn recv(&self) -> io::Result<Received> {
        loop {
            let mut guard = self.inner.readable().await?;
            match guard.try_io(|s| s.get_ref().recv()) {
                Ok(result) => return result,
                Err(_would_block) => continue,
            }
        }
    }

    /// Wait until at least one packet is queued, then drain up to `max` (malformed ones skipped).
    pub async fn recv_batch(&self, max: usize) -> io::Result<Vec<Received>> {
        loop {
            let mut guard = self.inner.readable().await?;
            let mut out = Vec::new();
            let (read, _bad) = self.inner.get_ref().recv_batch(max, &mut out)?;
            if read == 0 {
                // Queue empty (or only malformed packets): wait for the next readiness edge.
                guard.clear_ready();
                continue;
            }
            return Ok(out);
        }
    }

    /// Send without waiting (see [`VrrpSocket::send_to`]).
    pub fn send_to(&self, payload: &[u8], dst: IpAddr) -> io::Result<usize> {
        self.inner.get_ref().send_to(payload, dst)
    }
}
