//! The IPv4 header that a raw IPv4 socket hands us in front of each payload.

use std::net::Ipv4Addr;

/// Fields drift checks on received adverts (RFC 3768 §7.1 / RFC 5798 §7.1: TTL must be 255).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Header {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub ttl: u8,
    pub protocol: u8,
    /// Header length in bytes (IHL * 4); the payload starts here.
    pub header_len: usize,
    /// Bytes of IP packet (header + payload) actually present, per the total-length field.
    pub total_len: usize,
}

/// Parse the header at the front of `buf`; None if it is not a well-formed IPv4 header.
pub fn parse_ipv4_header(buf: &[u8]) -> Option<Ipv4Header> {
    let first = *buf.first()?;
    if first >> 4 != 4 {
        return None;
    }
    let header_len = usize::from(first & 0x0f) * 4;
    if header_len < 20 || buf.len() < header_len {
        return None;
    }
    let total = usize::from(u16::from_be_bytes([buf[2], buf[3]]));
    if total < header_len {
        return None;
    }
    Some(Ipv4Header {
        src: Ipv4Addr::new(buf[12], buf[13], buf[14], buf[15]),
        dst: Ipv4Addr::new(buf[16], buf[17], buf[18], buf[19]),
        ttl: buf[8],
        protocol: buf[9],
        header_len,
        // A packet shorter than its total length was truncated; take what is there.
        total_len: total.min(buf.len()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A keepalived VRRPv2 advert's IP header from the captures: 10.203.0.12 -> 224.0.0.18, TTL 255.
    const HEADER: [u8; 20] = [
        0x45, 0xc0, 0x00, 0x28, 0x00, 0x00, 0x40, 0x00, 0xff, 0x70, 0x00, 0x00, 10, 203, 0, 12,
        224, 0, 0, 18,
    ];

    #[test]
    fn captured_advert_header_parses() {
        let mut pkt = HEADER.to_vec();
        pkt.extend_from_slice(&[0u8; 20]);
        let h = parse_ipv4_header(&pkt).unwrap();
        assert_eq!(h.src, Ipv4Addr::new(10, 203, 0, 12));
        assert_eq!(h.dst, Ipv4Addr::new(224, 0, 0, 18));
        assert_eq!(
            (h.ttl, h.protocol, h.header_len, h.total_len),
            (255, 112, 20, 40)
        );
    }

    #[test]
    fn options_move_the_payload_start() {
        let mut pkt = HEADER.to_vec();
        pkt[0] = 0x46;
        pkt[3] = 44;
        pkt.extend_from_slice(&[0u8; 24]);
        assert_eq!(parse_ipv4_header(&pkt).unwrap().header_len, 24);
    }

    #[test]
    fn garbage_is_rejected_without_panicking() {
        assert_eq!(parse_ipv4_header(&[]), None);
        assert_eq!(parse_ipv4_header(&[0x60; 40]), None); // IPv6 version nibble
        assert_eq!(parse_ipv4_header(&[0x44; 40]), None); // IHL 4 < 5
        assert_eq!(parse_ipv4_header(&HEADER[..19]), None);
        let mut short_total = HEADER;
        short_total[3] = 10;
        assert_eq!(parse_ipv4_header(&short_total), None);
        for len in 0..HEADER.len() {
            let _ = parse_ipv4_header(&HEADER[..len]);
        }
    }

    #[test]
    fn truncated_packet_reports_bytes_present() {
        let mut pkt = HEADER.to_vec();
        pkt.extend_from_slice(&[0u8; 5]);
        assert_eq!(parse_ipv4_header(&pkt).unwrap().total_len, 25);
    }
}
