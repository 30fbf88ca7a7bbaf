//! Byte-level codecs, smoltcp style (see `smoltcp/src/wire/mod.rs` for the contract this follows):
//!
//! * A checked view (`VrrpPacket::new_checked`, `split_ipv4`) validates lengths once; after that
//!   no accessor can panic, whatever the bytes are. Untrusted input must go through the checked
//!   constructors.
//! * A `Repr` (`Advert`) is the typed value: `parse` from a checked view, `buffer_len` to size a
//!   buffer, `emit` into a buffer of exactly `buffer_len()` bytes.
//! * The codec checks *format* only (length, version, type, checksum, address count vs length)
//!   and reports a typed [`WireError`]. *Policy* (TTL, VRID, auth, interval, address list) is the
//!   state machine's business, so that every drop is counted per instance (see `Stats`).
//!
//! The kernel builds outgoing IP headers (raw sockets), so there is no IP emitter here; the IPv4
//! splitter exists because raw IPv4 sockets deliver the IP header on receive.

mod arp;
mod checksum;
mod error;
mod ipv4;
mod ndisc;
mod types;
mod vrrp;

pub use arp::{gratuitous_arp, GARP_FRAME_LEN};
pub use checksum::{internet_checksum, pseudo_header_sum};
pub use error::Layer;
pub use error::WireError;
pub use ipv4::{split_ipv4, Ipv4Datagram, IPPROTO_VRRP};
pub use ndisc::{unsolicited_na, ALL_NODES, NA_LEN};
pub use vrrp::{
    Addrs, Advert, AuthType, ChecksumMode, Family, PseudoHeader, Version, VrrpPacket,
    VRRP_HEADER_LEN,
};
