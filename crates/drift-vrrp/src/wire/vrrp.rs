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

use std::net::{Ipv4Addr, Ipv6Addr};

use super::checksum::{fold, pseudo_header_sum, sum_words};
use super::error::{Layer, WireError};
use super::ipv4::IPPROTO_VRRP;
pub use super::types::{Addrs, AuthType, ChecksumMode, Family, PseudoHeader, Version};

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
#[path = "vrrp_tests.rs"]
mod tests;
