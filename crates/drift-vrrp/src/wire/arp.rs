//! Gratuitous ARP (RFC 5227 §3 "ARP Announcement", RFC 5798 §6.4.2 says a new master sends one
//! per VIP). The layout matches keepalived's byte for byte, checked against the takeover captures:
//! an ARP *request* to the Ethernet broadcast address, sender = target = VIP, and the target
//! hardware address set to broadcast too.

use std::net::Ipv4Addr;

/// Ethernet header (14) + ARP for IPv4 over Ethernet (28); no padding, as keepalived sends it.
pub const GARP_FRAME_LEN: usize = 42;

/// A complete Ethernet frame for an AF_PACKET socket.
pub fn gratuitous_arp(mac: [u8; 6], vip: Ipv4Addr) -> [u8; GARP_FRAME_LEN] {
    const BROADCAST: [u8; 6] = [0xff; 6];
    let mut f = [0u8; GARP_FRAME_LEN];
    f[0..6].copy_from_slice(&BROADCAST);
    f[6..12].copy_from_slice(&mac);
    f[12..14].copy_from_slice(&0x0806u16.to_be_bytes()); // EtherType ARP
    f[14..16].copy_from_slice(&1u16.to_be_bytes()); // hardware type Ethernet
    f[16..18].copy_from_slice(&0x0800u16.to_be_bytes()); // protocol type IPv4
    f[18] = 6;
    f[19] = 4;
    f[20..22].copy_from_slice(&1u16.to_be_bytes()); // operation: request
    f[22..28].copy_from_slice(&mac);
    f[28..32].copy_from_slice(&vip.octets());
    f[32..38].copy_from_slice(&BROADCAST);
    f[38..42].copy_from_slice(&vip.octets());
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_frame_keepalived_sent_for_10_203_0_110() {
        // keepalived-v2-takeover.pcap frame 4.
        let expected: [u8; 42] = [
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0x00, 0x0a, 0xcb, 0x00, 0x0c, 0x08, 0x06,
            0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, 0x02, 0x00, 0x0a, 0xcb, 0x00, 0x0c,
            0x0a, 0xcb, 0x00, 0x6e, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0a, 0xcb, 0x00, 0x6e,
        ];
        let mac = [0x02, 0x00, 0x0a, 0xcb, 0x00, 0x0c];
        assert_eq!(
            gratuitous_arp(mac, Ipv4Addr::new(10, 203, 0, 110)),
            expected
        );
    }
}
