//! Splitting a received IPv4 datagram. Raw IPv4 sockets (protocol 112) hand us the IP header
//! too; the net layer and the fuzzer share this one validated path to the VRRP payload.

use std::net::Ipv4Addr;

use super::checksum::internet_checksum;
use super::error::{Layer, WireError};

/// IANA protocol number of VRRP (both versions).
pub const IPPROTO_VRRP: u8 = 112;
const MIN_HEADER: usize = 20;

/// The parts of an IPv4 header the VRRP receive path needs, and the payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Datagram<'a> {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub ttl: u8,
    pub protocol: u8,
    /// Exactly `total_length - header_length` bytes: link-layer padding is cut off.
    pub payload: &'a [u8],
}

/// Validates version, header length, total length, fragmentation and header checksum.
/// Fragments are rejected: a VRRP advert is at most 1 KiB and never fragmented, and Linux
/// reassembles before a raw socket sees it anyway.
pub fn split_ipv4(buf: &[u8]) -> Result<Ipv4Datagram<'_>, WireError> {
    if buf.len() < MIN_HEADER {
        return Err(WireError::Truncated {
            what: Layer::Ipv4,
            len: buf.len(),
            need: MIN_HEADER,
        });
    }
    let version = buf[0] >> 4;
    if version != 4 {
        return Err(WireError::Ipv4Version(version));
    }
    let ihl_bytes = usize::from(buf[0] & 0x0f) * 4;
    if ihl_bytes < MIN_HEADER || ihl_bytes > buf.len() {
        return Err(WireError::Ipv4HeaderLen {
            ihl_bytes,
            len: buf.len(),
        });
    }
    let total = usize::from(u16::from_be_bytes([buf[2], buf[3]]));
    if total < ihl_bytes || total > buf.len() {
        return Err(WireError::Ipv4TotalLen {
            total,
            ihl_bytes,
            len: buf.len(),
        });
    }
    let frag = u16::from_be_bytes([buf[6], buf[7]]);
    let (more, offset) = (frag & 0x2000 != 0, frag & 0x1fff);
    if more || offset != 0 {
        return Err(WireError::Ipv4Fragment { offset, more });
    }
    let header = &buf[..ihl_bytes];
    if internet_checksum(header) != 0 {
        return Err(WireError::Ipv4Checksum {
            stored: u16::from_be_bytes([buf[10], buf[11]]),
        });
    }
    Ok(Ipv4Datagram {
        src: Ipv4Addr::new(buf[12], buf[13], buf[14], buf[15]),
        dst: Ipv4Addr::new(buf[16], buf[17], buf[18], buf[19]),
        ttl: buf[8],
        protocol: buf[9],
        payload: &buf[ihl_bytes..total],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// IPv4 header + VRRPv3 advert from keepalived-v3.pcap (frame 1).
    const V3_DATAGRAM: [u8; 32] = [
        0x45, 0xc0, 0x00, 0x20, 0x00, 0x1b, 0x00, 0x00, 0xff, 0x70, 0xcf, 0xaa, 0x0a, 0xcb, 0x00,
        0x0b, 0xe0, 0x00, 0x00, 0x12, 0x31, 0x33, 0x64, 0x01, 0x00, 0x0a, 0x74, 0x23, 0x0a, 0xcb,
        0x00, 0x6e,
    ];

    #[test]
    fn splits_a_keepalived_datagram_into_addresses_ttl_and_payload() {
        let d = split_ipv4(&V3_DATAGRAM).unwrap();
        assert_eq!(d.src, Ipv4Addr::new(10, 203, 0, 11));
        assert_eq!(d.dst, Ipv4Addr::new(224, 0, 0, 18));
        assert_eq!((d.ttl, d.protocol), (255, IPPROTO_VRRP));
        assert_eq!(d.payload, &V3_DATAGRAM[20..]);
    }

    #[test]
    fn trailing_link_padding_is_not_part_of_the_payload() {
        let mut padded = V3_DATAGRAM.to_vec();
        padded.extend_from_slice(&[0; 14]);
        assert_eq!(split_ipv4(&padded).unwrap().payload.len(), 12);
    }

    #[test]
    fn a_corrupted_header_checksum_is_rejected() {
        let mut d = V3_DATAGRAM;
        d[8] = 254;
        assert!(matches!(
            split_ipv4(&d),
            Err(WireError::Ipv4Checksum { .. })
        ));
    }

    #[test]
    fn a_total_length_beyond_the_buffer_is_rejected() {
        let mut d = V3_DATAGRAM;
        d[3] = 0x40;
        assert!(matches!(
            split_ipv4(&d),
            Err(WireError::Ipv4TotalLen { total: 64, .. })
        ));
    }

    #[test]
    fn fragments_are_rejected() {
        let mut d = V3_DATAGRAM;
        d[6] = 0x20;
        assert!(matches!(
            split_ipv4(&d),
            Err(WireError::Ipv4Fragment { more: true, .. })
        ));
    }

    #[test]
    fn a_header_length_below_twenty_bytes_is_rejected() {
        let mut d = V3_DATAGRAM;
        d[0] = 0x44;
        assert!(matches!(
            split_ipv4(&d),
            Err(WireError::Ipv4HeaderLen { ihl_bytes: 16, .. })
        ));
    }

    #[test]
    fn short_and_non_ipv4_buffers_are_rejected() {
        assert!(matches!(
            split_ipv4(&V3_DATAGRAM[..19]),
            Err(WireError::Truncated { .. })
        ));
        let mut d = V3_DATAGRAM;
        d[0] = 0x65;
        assert_eq!(split_ipv4(&d), Err(WireError::Ipv4Version(6)));
    }
}
