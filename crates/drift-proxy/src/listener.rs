//! Listening sockets. IP_FREEBIND lets a VRRP backup bind the VIP before it owns it, so failover
//! needs no proxy restart; SO_REUSEADDR allows quick restarts over TIME_WAIT sockets.

use socket2::{Domain, Protocol, Socket, Type};
use std::io;
use std::net::SocketAddr;
use tokio::net::TcpListener;

pub fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    TcpListener::from_std(bind_std(addr, false)?)
}

/// Binds without a runtime (so sockets can be made before the worker threads exist).
/// `reuseport` lets each worker thread own a listener on the same address; the kernel spreads
/// connections across them, as nginx's `reuseport` does.
pub fn bind_std(addr: SocketAddr, reuseport: bool) -> io::Result<std::net::TcpListener> {
    let sock = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    sock.set_reuse_address(true)?;
    if reuseport {
        sock.set_reuse_port(true)?;
    }
    if addr.is_ipv6() {
        sock.set_only_v6(true)?;
        sock.set_freebind_ipv6(true)?;
    } else {
        sock.set_freebind(true)?;
    }
    sock.set_nonblocking(true)?;
    sock.bind(&addr.into())?;
    sock.listen(1024)?;
    Ok(sock.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn binds_an_address_not_configured_on_any_interface() {
        // 127.0.0.0/8 is all local on Linux, so use a TEST-NET-3 address: only FREEBIND allows it.
        let l = bind("203.0.113.77:0".parse().unwrap_or_else(|_| unreachable!()));
        assert!(l.is_ok(), "{l:?}");
    }
}
