//! Unsolicited Neighbour Advertisement (RFC 4861 §7.2.6), the IPv6 counterpart of gratuitous ARP
//! that RFC 5798 §6.4.2 asks a new master to send for each IPv6 VIP. Returns the ICMPv6 message
//! only: the net layer sends it on a raw ICMPv6 socket with hop limit 255, which the kernel wraps
//! in the IPv6 header.

use std::net::{IpAddr, Ipv6Addr};

use super::checksum::{fold, pseudo_header_sum, sum_words};

/// ICMPv6 header (4) + flags (4) + target (16) + target link-layer address option (8).
pub const NA_LEN: usize = 32;
/// ff02::1, the usual destination of an unsolicited NA.
pub const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
const ICMPV6: u8 = 58;
const TYPE_NEIGHBOUR_ADVERTISEMENT: u8 = 136;
const FLAG_ROUTER: u8 = 0x80;
const FLAG_OVERRIDE: u8 = 0x20;
const OPT_TARGET_LL_ADDR: u8 = 2;

/// Override is set so caches replace the old master's MAC (RFC 4861 §7.2.6); Solicited is clear
/// (unsolicited). `router` should mirror whether the interface forwards, as keepalived does;
/// the checksum covers the pseudo-header built from `src`/`dst`.
pub fn unsolicited_na(
    mac: [u8; 6],
    target: Ipv6Addr,
    src: Ipv6Addr,
    dst: Ipv6Addr,
    router: bool,
) -> [u8; NA_LEN] {
    let mut m = [0u8; NA_LEN];
    m[0] = TYPE_NEIGHBOUR_ADVERTISEMENT;
    m[4] = FLAG_OVERRIDE | if router { FLAG_ROUTER } else { 0 };
    m[8..24].copy_from_slice(&target.octets());
    m[24] = OPT_TARGET_LL_ADDR;
    m[25] = 1; // option length in units of 8 bytes
    m[26..32].copy_from_slice(&mac);
    let acc = pseudo_header_sum(IpAddr::V6(src), IpAddr::V6(dst), ICMPV6, NA_LEN as u32);
    let c = fold(sum_words(acc, &m));
    m[2..4].copy_from_slice(&c.to_be_bytes());
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verify(m: &[u8], src: Ipv6Addr, dst: Ipv6Addr) -> bool {
        let acc = pseudo_header_sum(IpAddr::V6(src), IpAddr::V6(dst), ICMPV6, m.len() as u32);
        fold(sum_words(acc, m)) == 0
    }

    #[test]
    fn na_sets_override_not_solicited_and_carries_the_mac_option() {
        let target: Ipv6Addr = "fe80::110".parse().unwrap();
        let m = unsolicited_na([2, 0, 0, 0, 0, 0x0c], target, target, ALL_NODES, false);
        assert_eq!(m[0], 136);
        assert_eq!(m[4], 0x20);
        assert_eq!(&m[8..24], &target.octets());
        assert_eq!(&m[24..32], &[2, 1, 2, 0, 0, 0, 0, 0x0c]);
        assert!(verify(&m, target, ALL_NODES));
    }

    #[test]
    fn router_flag_is_set_only_when_asked() {
        let t: Ipv6Addr = "2001:db8::1".parse().unwrap();
        assert_eq!(unsolicited_na([0; 6], t, t, ALL_NODES, true)[4], 0xa0);
    }

    #[test]
    fn checksum_depends_on_the_pseudo_header() {
        let t: Ipv6Addr = "2001:db8::1".parse().unwrap();
        let m = unsolicited_na([1; 6], t, t, ALL_NODES, false);
        assert!(!verify(&m, "2001:db8::2".parse().unwrap(), ALL_NODES));
    }
}
