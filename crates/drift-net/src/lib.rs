//! Linux I/O for drift: netlink (links, VIP addresses, change events), VRRP raw sockets
//! (IP protocol 112 with TTL/hop-limit and kernel receive timestamps), gratuitous ARP and
//! unsolicited Neighbour Advertisements, and a capability check.
//!
//! Everything here works on raw payload bytes and `std::net` types; encoding VRRP is drift-vrrp's
//! job. All sockets belong to the network namespace of the thread that creates them, which is how
//! the integration tests run this code inside throwaway namespaces.
//!
//! Modules: [`netlink`] (links, VIPs, events), [`raw`] (VRRP sockets), [`garp`] (GARP/NA),
//! [`caps`] (CAP_NET_ADMIN / CAP_NET_RAW check).
#![cfg(target_os = "linux")]

pub mod caps;
mod error;
pub mod garp;
pub mod netlink;
pub mod raw;

pub use error::{Error, Result};
