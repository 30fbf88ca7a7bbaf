use std::fmt;

/// Why a received packet failed the *format* checks. Each variant carries the numbers that
/// explain it, so a log line (or a fuzz crash report) says what was wrong, not just "bad packet".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// Fewer bytes than the fixed part of the header needs.
    #[error("{what}: truncated, {len} bytes but at least {need} needed")]
    Truncated {
        what: Layer,
        len: usize,
        need: usize,
    },
    /// The VRRP message length does not match what its address count implies (RFC 5798 §7.1:
    /// "MUST verify that the received packet contains the complete VRRP packet").
    #[error("vrrp: length {actual} does not match {expected} implied by count {count}")]
    Length {
        expected: usize,
        actual: usize,
        count: u8,
    },
    #[error("vrrp: unsupported version {0} (only 2 and 3)")]
    Version(u8),
    #[error("vrrp: packet type {0} is not an advertisement (1)")]
    Type(u8),
    #[error("vrrp: bad checksum 0x{stored:04x}, computed 0x{computed:04x}")]
    Checksum { stored: u16, computed: u16 },
    /// RFC 3768 (VRRPv2) is defined for IPv4 only.
    #[error("vrrp: version 2 over IPv6 is not defined (RFC 3768 is IPv4 only)")]
    V2OverIpv6,
    #[error("vrrp: pseudo-header mixes IPv4 and IPv6 addresses")]
    MixedFamily,
    #[error("ipv4: version field is {0}, not 4")]
    Ipv4Version(u8),
    #[error("ipv4: header length {ihl_bytes} invalid for a {len}-byte datagram")]
    Ipv4HeaderLen { ihl_bytes: usize, len: usize },
    #[error("ipv4: total length {total} invalid (header {ihl_bytes}, received {len})")]
    Ipv4TotalLen {
        total: usize,
        ihl_bytes: usize,
        len: usize,
    },
    #[error("ipv4: fragment (offset {offset}, more fragments {more}); VRRP is never fragmented")]
    Ipv4Fragment { offset: u16, more: bool },
    #[error("ipv4: bad header checksum 0x{stored:04x}")]
    Ipv4Checksum { stored: u16 },
}

/// Which header a length error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layer {
    Vrrp,
    Ipv4,
}

impl fmt::Display for Layer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Layer::Vrrp => "vrrp",
            Layer::Ipv4 => "ipv4",
        })
    }
}
