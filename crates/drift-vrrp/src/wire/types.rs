//! The small value types of the VRRP codec: versions, families, auth types, checksum modes,
//! the pseudo-header and the address list.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::error::WireError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    V2,
    V3,
}

impl Version {
    pub fn number(self) -> u8 {
        match self {
            Version::V2 => 2,
            Version::V3 => 3,
        }
    }
}

/// Address family of the carrying IP packet, which fixes the width of each address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    Ipv4,
    Ipv6,
}

impl Family {
    pub(crate) fn addr_len(self) -> usize {
        match self {
            Family::Ipv4 => 4,
            Family::Ipv6 => 16,
        }
    }
}

/// VRRPv2 authentication type (RFC 3768 §5.3.6 and RFC 2338). Unknown codes are kept, not
/// rejected by the codec: the instance counts them as `auth_type` drops (keepalived's
/// `invalid_authtype`), which is a policy decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthType {
    None,
    /// Simple text password (RFC 2338 type 1), keepalived `auth_type PASS`.
    Pass,
    /// IPsec AH (RFC 2338 type 2); carried in an AH header, not supported by drift.
    Ah,
    Unknown(u8),
}

impl From<u8> for AuthType {
    fn from(v: u8) -> Self {
        match v {
            0 => AuthType::None,
            1 => AuthType::Pass,
            2 => AuthType::Ah,
            x => AuthType::Unknown(x),
        }
    }
}

impl From<AuthType> for u8 {
    fn from(v: AuthType) -> u8 {
        match v {
            AuthType::None => 0,
            AuthType::Pass => 1,
            AuthType::Ah => 2,
            AuthType::Unknown(x) => x,
        }
    }
}

/// How the VRRPv3 checksum is computed. keepalived (since 1.3.6) and RFC 5798 §5.2.8 include the
/// IP pseudo-header; very old peers did not. Wireshark's preference for the latter is `vrrp.v3_checksum_as_in_v2`.
/// VRRPv2 always checksums the message alone, whatever this says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ChecksumMode {
    #[default]
    PseudoHeader,
    /// `v3_checksum_as_v2`: no pseudo-header, for interop with old keepalived peers.
    V3AsV2,
}

/// The IP addresses the checksum covers. For unicast VRRPv3 keepalived may put the multicast
/// group in `dst` (its "unicast checksum compatibility"); the caller decides what to pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PseudoHeader {
    pub src: IpAddr,
    pub dst: IpAddr,
}

impl PseudoHeader {
    pub fn family(&self) -> Result<Family, WireError> {
        match (self.src, self.dst) {
            (IpAddr::V4(_), IpAddr::V4(_)) => Ok(Family::Ipv4),
            (IpAddr::V6(_), IpAddr::V6(_)) => Ok(Family::Ipv6),
            _ => Err(WireError::MixedFamily),
        }
    }
}

/// The virtual addresses of an advert, one family per packet (RFC 5798 §5.2.9), so a mixed list
/// cannot be represented.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Addrs {
    V4(Vec<Ipv4Addr>),
    V6(Vec<Ipv6Addr>),
}

impl Addrs {
    pub fn family(&self) -> Family {
        match self {
            Addrs::V4(_) => Family::Ipv4,
            Addrs::V6(_) => Family::Ipv6,
        }
    }
    pub fn len(&self) -> usize {
        match self {
            Addrs::V4(v) => v.len(),
            Addrs::V6(v) => v.len(),
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    pub fn iter(&self) -> impl Iterator<Item = IpAddr> + '_ {
        let (a, b) = match self {
            Addrs::V4(v) => (Some(v.iter().map(|a| IpAddr::V4(*a))), None),
            Addrs::V6(v) => (None, Some(v.iter().map(|a| IpAddr::V6(*a)))),
        };
        a.into_iter().flatten().chain(b.into_iter().flatten())
    }
    pub fn contains(&self, addr: IpAddr) -> bool {
        match (self, addr) {
            (Addrs::V4(v), IpAddr::V4(a)) => v.contains(&a),
            (Addrs::V6(v), IpAddr::V6(a)) => v.contains(&a),
            _ => false,
        }
    }
}
