//! RFC 1071 Internet checksum, shared by VRRP (v2 over the message, v3 over pseudo-header +
//! message), the IPv4 header check and ICMPv6 Neighbour Advertisements.

use std::net::IpAddr;

/// Adds `data` as big-endian 16-bit words to `acc` (odd trailing byte padded with zero).
/// The accumulator is u64 so that no realistic input (< 2^48 bytes) can overflow before folding.
pub(crate) fn sum_words(mut acc: u64, data: &[u8]) -> u64 {
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        acc += u64::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        acc += u64::from(*last) << 8;
    }
    acc
}

/// Folds the carries and complements: the value to store in a checksum field, or zero when
/// verifying a buffer whose checksum field is included.
pub(crate) fn fold(mut acc: u64) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    !(acc as u16)
}

/// Checksum of `data` alone (VRRPv2, IPv4 header).
pub fn internet_checksum(data: &[u8]) -> u16 {
    fold(sum_words(0, data))
}

/// Unfolded sum of the IPv4 (RFC 791/768 style) or IPv6 (RFC 8200 §8.1) pseudo-header.
/// Both reduce to the same word sum: addresses, then the length, then the protocol number,
/// because the zero padding contributes nothing. Mixed families are summed as given; the
/// caller rejects them before it matters.
pub fn pseudo_header_sum(src: IpAddr, dst: IpAddr, protocol: u8, len: u32) -> u64 {
    let mut acc = 0;
    for a in [src, dst] {
        acc = match a {
            IpAddr::V4(v4) => sum_words(acc, &v4.octets()),
            IpAddr::V6(v6) => sum_words(acc, &v6.octets()),
        };
    }
    acc + u64::from(len >> 16) + u64::from(len & 0xffff) + u64::from(protocol)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc1071_example_sums_to_the_documented_value() {
        // RFC 1071 §3 example: words 0001 f203 f4f5 f6f7 sum to ddf2 (before complement).
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(internet_checksum(&data), !0xddf2);
    }

    #[test]
    fn odd_length_pads_the_last_byte_on_the_right() {
        assert_eq!(internet_checksum(&[0x12]), !0x1200);
    }

    #[test]
    fn buffer_including_its_checksum_verifies_to_zero() {
        let mut data = vec![0x45, 0x00, 0x00, 0x1c, 0x12, 0x34, 0x00, 0x00];
        let c = internet_checksum(&data);
        data.extend_from_slice(&c.to_be_bytes());
        assert_eq!(internet_checksum(&data), 0);
    }
}
