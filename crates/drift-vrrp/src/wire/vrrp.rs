//! VRRP advertisement: RFC 3768 §5 (v2) and RFC 5798 §5 (v3), one layout with two tails.
//!
//! ```text
//!  0                   1                   2                   3
//!  |Version| Type  | Virtual Rtr ID|   Priority    | Count IPvX Addr|
//!  v2: | Auth Type | Adver Int (s) |          Checksum              |
//!  v3: |(rsvd)|  Max Adver Int (cs, 12 bits)  |     Checksum        |
//!  |                 IPvX Address(es) (4 or 16 bytes each)          |
//!  v2 only: |            Authentication Data (8 bytes)              |
//! ```

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::checksum::{fold, pseudo_header_sum, sum_words};
use super::error::{Layer, WireError};
use super::ipv4::IPPROTO_VRRP;

/// Fixed part shared by both versions.
pub const VRRP_HEADER_LEN: usize = 8;
const AUTH_LEN: usize = 8;
const TYPE_ADVERTISEMENT: u8 = 1;

mod field {
    pub const VER_TYPE: usize = 0;
    pub const VRID: usize = 1;
    pub const PRIO: usize = 2;
    pub const COUNT: usize = 3;
    pub const V2_AUTH_TYPE: usize = 4;
    pub const V2_ADVER_INT: usize = 5;
    pub const V3_ADVER_INT: std::ops::Range<usize> = 4..6;
    pub const CHECKSUM: std::ops::Range<usize> = 6..8;
}

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
    fn addr_len(self) -> usize {
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

/// A read/write view over a VRRP message. Once [`VrrpPacket::new_checked`] succeeds, every
/// accessor is in bounds for any byte content.
#[derive(Debug, Clone)]
pub struct VrrpPacket<T: AsRef<[u8]>> {
    buf: T,
    family: Family,
}

impl<T: AsRef<[u8]>> VrrpPacket<T> {
    /// No checks at all: for emitting into a buffer sized with `Advert::buffer_len`.
    pub fn new_unchecked(buf: T, family: Family) -> Self {
        VrrpPacket { buf, family }
    }

    /// Validates version and exact length (header + count addresses + v2 auth data), the
    /// precondition for every accessor.
    pub fn new_checked(buf: T, family: Family) -> Result<Self, WireError> {
        let p = Self::new_unchecked(buf, family);
        p.check_len()?;
        Ok(p)
    }

    pub fn check_len(&self) -> Result<(), WireError> {
        let b = self.buf.as_ref();
        if b.len() < VRRP_HEADER_LEN {
            return Err(WireError::Truncated {
                what: Layer::Vrrp,
                len: b.len(),
                need: VRRP_HEADER_LEN,
            });
        }
        let version = self.version()?;
        if version == Version::V2 && self.family == Family::Ipv6 {
            return Err(WireError::V2OverIpv6);
        }
        let expected = expected_len(version, self.family, b[field::COUNT]);
        if b.len() != expected {
            return Err(WireError::Length {
                expected,
                actual: b.len(),
                count: b[field::COUNT],
            });
        }
        Ok(())
    }

    pub fn family(&self) -> Family {
        self.family
    }

    pub fn version(&self) -> Result<Version, WireError> {
        match self.buf.as_ref()[field::VER_TYPE] >> 4 {
            2 => Ok(Version::V2),
            3 => Ok(Version::V3),
            v => Err(WireError::Version(v)),
        }
    }

    pub fn kind(&self) -> u8 {
        self.buf.as_ref()[field::VER_TYPE] & 0x0f
    }
    pub fn vrid(&self) -> u8 {
        self.buf.as_ref()[field::VRID]
    }
    pub fn priority(&self) -> u8 {
        self.buf.as_ref()[field::PRIO]
    }
    pub fn count(&self) -> u8 {
        self.buf.as_ref()[field::COUNT]
    }
    /// v2 only (meaningless bytes for v3).
    pub fn auth_type(&self) -> AuthType {
        self.buf.as_ref()[field::V2_AUTH_TYPE].into()
    }
    /// v2: seconds; v3: the low 12 bits of bytes 4-5, in centiseconds.
    pub fn adver_int_cs(&self) -> Result<u16, WireError> {
        let b = self.buf.as_ref();
        Ok(match self.version()? {
            Version::V2 => u16::from(b[field::V2_ADVER_INT]) * 100,
            Version::V3 => u16::from_be_bytes([b[4], b[5]]) & 0x0fff,
        })
    }
    pub fn checksum(&self) -> u16 {
        let b = self.buf.as_ref();
        u16::from_be_bytes([b[6], b[7]])
    }
    fn addr_bytes(&self, i: usize) -> &[u8] {
        let w = self.family.addr_len();
        let start = VRRP_HEADER_LEN + i * w;
        self.buf.as_ref().get(start..start + w).unwrap_or(&[])
    }
    /// v2 authentication data: the 8 bytes after the addresses.
    pub fn auth_data(&self) -> [u8; 8] {
        let b = self.buf.as_ref();
        let mut out = [0; AUTH_LEN];
        if let Some(s) = b
            .len()
            .checked_sub(AUTH_LEN)
            .and_then(|start| b.get(start..))
        {
            out.copy_from_slice(s);
        }
        out
    }
    /// The checksummed part: everything for v2 (incl. auth data, RFC 3768 §5.3.8), header +
    /// addresses for v3 (RFC 5798 §5.2.8).
    fn checksum_sum(&self, ph: &PseudoHeader, mode: ChecksumMode) -> Result<u64, WireError> {
        let b = self.buf.as_ref();
        Ok(match (self.version()?, mode) {
            (Version::V2, _) | (Version::V3, ChecksumMode::V3AsV2) => sum_words(0, b),
            (Version::V3, ChecksumMode::PseudoHeader) => {
                let acc = pseudo_header_sum(ph.src, ph.dst, IPPROTO_VRRP, b.len() as u32);
                sum_words(acc, b)
            }
        })
    }
}

fn expected_len(version: Version, family: Family, count: u8) -> usize {
    let auth = if version == Version::V2 { AUTH_LEN } else { 0 };
    VRRP_HEADER_LEN + usize::from(count) * family.addr_len() + auth
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

/// A decoded advertisement, independent of version quirks: the typed value the state machine
/// sees. `adver_int_cs` is in centiseconds for both versions (v2 seconds × 100) so that the
/// instance compares like with like; v3 `auth_*` are always `None`/zeros.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Advert {
    pub version: Version,
    pub vrid: u8,
    pub priority: u8,
    pub adver_int_cs: u16,
    pub auth_type: AuthType,
    pub auth_data: [u8; 8],
    pub addrs: Addrs,
}

/// VRRP cannot carry more than 255 addresses (8-bit count); emit silently keeps the first 255.
const MAX_ADDRS: usize = 255;

impl Advert {
    /// Format checks that need more than lengths: type, checksum. Policy is left to the caller.
    pub fn parse<T: AsRef<[u8]>>(
        p: &VrrpPacket<T>,
        ph: &PseudoHeader,
        mode: ChecksumMode,
    ) -> Result<Advert, WireError> {
        p.check_len()?;
        let version = p.version()?;
        if p.kind() != TYPE_ADVERTISEMENT {
            return Err(WireError::Type(p.kind()));
        }
        let sum = p.checksum_sum(ph, mode)?;
        if fold(sum) != 0 {
            let stored = p.checksum();
            // The sum included the stored word exactly once (unfolded), so subtracting it gives
            // the sum a correct sender would have complemented.
            let computed = fold(sum - u64::from(stored));
            return Err(WireError::Checksum { stored, computed });
        }
        let n = usize::from(p.count());
        let addrs = match p.family() {
            Family::Ipv4 => Addrs::V4(
                (0..n)
                    .filter_map(|i| <[u8; 4]>::try_from(p.addr_bytes(i)).ok())
                    .map(Ipv4Addr::from)
                    .collect(),
            ),
            Family::Ipv6 => Addrs::V6(
                (0..n)
                    .filter_map(|i| <[u8; 16]>::try_from(p.addr_bytes(i)).ok())
                    .map(Ipv6Addr::from)
                    .collect(),
            ),
        };
        let (auth_type, auth_data) = match version {
            Version::V2 => (p.auth_type(), p.auth_data()),
            Version::V3 => (AuthType::None, [0; AUTH_LEN]),
        };
        Ok(Advert {
            version,
            vrid: p.vrid(),
            priority: p.priority(),
            adver_int_cs: p.adver_int_cs()?,
            auth_type,
            auth_data,
            addrs,
        })
    }

    /// Convenience: check and parse a received VRRP payload in one go.
    pub fn decode(
        bytes: &[u8],
        ph: &PseudoHeader,
        mode: ChecksumMode,
    ) -> Result<Advert, WireError> {
        let p = VrrpPacket::new_checked(bytes, ph.family()?)?;
        Advert::parse(&p, ph, mode)
    }

    fn addr_count(&self) -> usize {
        self.addrs.len().min(MAX_ADDRS)
    }

    pub fn buffer_len(&self) -> usize {
        expected_len(self.version, self.addrs.family(), self.addr_count() as u8)
    }

    /// Writes the advert and its checksum into `buf[..buffer_len()]`, returning that length.
    /// v2 intervals are written in whole seconds (`adver_int_cs / 100`, saturating at 255), v3
    /// in the low 12 bits: build adverts from validated config and these never lose anything.
    pub fn emit(
        &self,
        buf: &mut [u8],
        ph: &PseudoHeader,
        mode: ChecksumMode,
    ) -> Result<usize, WireError> {
        let len = self.buffer_len();
        let Some(out) = buf.get_mut(..len) else {
            return Err(WireError::Truncated {
                what: Layer::Vrrp,
                len: buf.len(),
                need: len,
            });
        };
        out[field::VER_TYPE] = (self.version.number() << 4) | TYPE_ADVERTISEMENT;
        out[field::VRID] = self.vrid;
        out[field::PRIO] = self.priority;
        out[field::COUNT] = self.addr_count() as u8;
        match self.version {
            Version::V2 => {
                out[field::V2_AUTH_TYPE] = self.auth_type.into();
                out[field::V2_ADVER_INT] = (self.adver_int_cs / 100).min(255) as u8;
            }
            Version::V3 => {
                out[field::V3_ADVER_INT]
                    .copy_from_slice(&(self.adver_int_cs & 0x0fff).to_be_bytes());
            }
        }
        out[field::CHECKSUM].fill(0);
        let mut at = VRRP_HEADER_LEN;
        match &self.addrs {
            Addrs::V4(v) => {
                for a in v.iter().take(MAX_ADDRS) {
                    out[at..at + 4].copy_from_slice(&a.octets());
                    at += 4;
                }
            }
            Addrs::V6(v) => {
                for a in v.iter().take(MAX_ADDRS) {
                    out[at..at + 16].copy_from_slice(&a.octets());
                    at += 16;
                }
            }
        }
        if self.version == Version::V2 {
            out[at..at + AUTH_LEN].copy_from_slice(&self.auth_data);
        }
        let p = VrrpPacket::new_unchecked(&*out, self.addrs.family());
        let c = fold(p.checksum_sum(ph, mode)?);
        out[field::CHECKSUM].copy_from_slice(&c.to_be_bytes());
        Ok(len)
    }

    /// Allocating emit, for callers that do not pool buffers.
    pub fn to_bytes(&self, ph: &PseudoHeader, mode: ChecksumMode) -> Vec<u8> {
        let mut v = vec![0; self.buffer_len()];
        // Cannot fail: the buffer is exactly buffer_len() long.
        let _ = self.emit(&mut v, ph, mode);
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// keepalived-v2.pcap frame 1: VRID 51, prio 100, PASS "1111", 10.203.0.110.
    const V2: [u8; 20] = [
        0x21, 0x33, 0x64, 0x01, 0x01, 0x01, 0x0c, 0x2f, 0x0a, 0xcb, 0x00, 0x6e, 0x31, 0x31, 0x31,
        0x31, 0, 0, 0, 0,
    ];
    /// keepalived-v3.pcap frame 1: VRID 51, prio 100, 10 cs, pseudo-header checksum.
    const V3: [u8; 12] = [
        0x31, 0x33, 0x64, 0x01, 0x00, 0x0a, 0x74, 0x23, 0x0a, 0xcb, 0x00, 0x6e,
    ];

    fn ph4() -> PseudoHeader {
        PseudoHeader {
            src: "10.203.0.11".parse().unwrap(),
            dst: "224.0.0.18".parse().unwrap(),
        }
    }

    #[test]
    fn keepalived_v2_advert_decodes_and_reencodes_identically() {
        let a = Advert::decode(&V2, &ph4(), ChecksumMode::PseudoHeader).unwrap();
        assert_eq!(
            (a.version, a.vrid, a.priority, a.adver_int_cs),
            (Version::V2, 51, 100, 100)
        );
        assert_eq!(a.auth_type, AuthType::Pass);
        assert_eq!(&a.auth_data, b"1111\0\0\0\0");
        assert_eq!(a.addrs, Addrs::V4(vec![Ipv4Addr::new(10, 203, 0, 110)]));
        assert_eq!(a.to_bytes(&ph4(), ChecksumMode::PseudoHeader), V2);
    }

    #[test]
    fn keepalived_v3_advert_decodes_and_reencodes_identically() {
        let a = Advert::decode(&V3, &ph4(), ChecksumMode::PseudoHeader).unwrap();
        assert_eq!(
            (a.version, a.priority, a.adver_int_cs),
            (Version::V3, 100, 10)
        );
        assert_eq!(a.to_bytes(&ph4(), ChecksumMode::PseudoHeader), V3);
    }

    #[test]
    fn v3_checksum_fails_without_the_pseudo_header_and_with_a_wrong_source() {
        let e = Advert::decode(&V3, &ph4(), ChecksumMode::V3AsV2).unwrap_err();
        assert!(matches!(e, WireError::Checksum { stored: 0x7423, .. }));
        let other = PseudoHeader {
            src: "10.203.0.12".parse().unwrap(),
            ..ph4()
        };
        assert!(Advert::decode(&V3, &other, ChecksumMode::PseudoHeader).is_err());
    }

    #[test]
    fn checksum_error_reports_the_value_a_correct_sender_would_store() {
        let mut bad = V2;
        bad[7] ^= 0xff;
        let e = Advert::decode(&bad, &ph4(), ChecksumMode::PseudoHeader).unwrap_err();
        assert_eq!(
            e,
            WireError::Checksum {
                stored: 0x0cd0,
                computed: 0x0c2f
            }
        );
    }

    #[test]
    fn v3_as_v2_mode_round_trips_with_its_own_checksum() {
        let a = Advert::decode(&V3, &ph4(), ChecksumMode::PseudoHeader).unwrap();
        let b = a.to_bytes(&ph4(), ChecksumMode::V3AsV2);
        assert_ne!(b, V3);
        assert_eq!(Advert::decode(&b, &ph4(), ChecksumMode::V3AsV2).unwrap(), a);
    }

    #[test]
    fn count_that_disagrees_with_length_is_a_length_error() {
        let mut b = V3;
        b[3] = 2;
        let e = VrrpPacket::new_checked(&b[..], Family::Ipv4).unwrap_err();
        assert_eq!(
            e,
            WireError::Length {
                expected: 16,
                actual: 12,
                count: 2
            }
        );
    }

    #[test]
    fn unknown_version_non_advert_type_and_v2_over_ipv6_are_rejected() {
        let mut b = V3;
        b[0] = 0x41;
        assert_eq!(
            VrrpPacket::new_checked(&b[..], Family::Ipv4).unwrap_err(),
            WireError::Version(4)
        );
        b[0] = 0x32;
        assert_eq!(
            Advert::decode(&b, &ph4(), ChecksumMode::PseudoHeader).unwrap_err(),
            WireError::Type(2)
        );
        assert_eq!(
            VrrpPacket::new_checked(&V2[..], Family::Ipv6).unwrap_err(),
            WireError::V2OverIpv6
        );
    }

    #[test]
    fn truncated_header_is_rejected_before_any_field_is_read() {
        let e = VrrpPacket::new_checked(&V3[..7], Family::Ipv4).unwrap_err();
        assert_eq!(
            e,
            WireError::Truncated {
                what: Layer::Vrrp,
                len: 7,
                need: 8
            }
        );
    }

    #[test]
    fn ipv6_advert_round_trips_with_the_ipv6_pseudo_header() {
        let ph = PseudoHeader {
            src: "fe80::1".parse().unwrap(),
            dst: "ff02::12".parse().unwrap(),
        };
        let a = Advert {
            version: Version::V3,
            vrid: 7,
            priority: 200,
            adver_int_cs: 100,
            auth_type: AuthType::None,
            auth_data: [0; 8],
            addrs: Addrs::V6(vec![
                "fe80::7".parse().unwrap(),
                "2001:db8::7".parse().unwrap(),
            ]),
        };
        let b = a.to_bytes(&ph, ChecksumMode::PseudoHeader);
        assert_eq!(b.len(), 8 + 32);
        assert_eq!(
            Advert::decode(&b, &ph, ChecksumMode::PseudoHeader).unwrap(),
            a
        );
    }

    #[test]
    fn emit_into_a_short_buffer_is_an_error_not_a_panic() {
        let a = Advert::decode(&V3, &ph4(), ChecksumMode::PseudoHeader).unwrap();
        let mut small = [0u8; 5];
        assert!(a
            .emit(&mut small, &ph4(), ChecksumMode::PseudoHeader)
            .is_err());
    }

    #[test]
    fn mixed_family_pseudo_header_is_rejected() {
        let ph = PseudoHeader {
            src: "10.0.0.1".parse().unwrap(),
            dst: "ff02::12".parse().unwrap(),
        };
        assert_eq!(
            Advert::decode(&V3, &ph, ChecksumMode::PseudoHeader).unwrap_err(),
            WireError::MixedFamily
        );
    }

    /// Found by the fuzzer: a stored checksum of 0xffff is one's-complement "negative zero" and
    /// verifies like the 0x0000 we would compute; it must decode (keepalived accepts it too).
    #[test]
    fn a_negative_zero_checksum_is_accepted() {
        let bytes = [
            0x21, 0x33, 0x64, 0x01, 0x0c, 0x01, 0xff, 0xff, 0xff, 0xff, 0x01, 0x2f, 0x0a, 0xcb,
            0x00, 0x6e, 0x31, 0x31, 0x31, 0x31,
        ];
        let a = Advert::decode(&bytes, &ph4(), ChecksumMode::PseudoHeader).unwrap();
        assert_eq!(a.auth_type, AuthType::Unknown(12));
        assert_eq!(
            &a.to_bytes(&ph4(), ChecksumMode::PseudoHeader)[6..8],
            &[0, 0]
        );
    }
}
