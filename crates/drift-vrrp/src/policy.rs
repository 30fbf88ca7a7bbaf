//! Receive policy: what RFC 3768 §7.1 / RFC 5798 §7.1 and keepalived's `vrrp_check_packet`
//! require of a well-formed advert before the state machine may act on it. The order follows
//! keepalived so that the counter that moves is the one keepalived would move.

use std::net::IpAddr;

use crate::config::{Auth, InstanceConfig};
use crate::stats::Drops;
use crate::wire::{Advert, AuthType, Version};

/// RFC 5798 §5.1.1.3: multicast adverts are sent with TTL/hop limit 255, so anything lower
/// crossed a router and must be dropped.
pub const VRRP_TTL: u8 = 255;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    Own,
    Vrid,
    Ttl,
    Version,
    AuthType,
    AuthFail,
    Interval,
    AddrList,
    UnicastSrc,
}

impl DropReason {
    pub(crate) fn count(self, d: &mut Drops) {
        let c = match self {
            DropReason::Own => &mut d.own,
            DropReason::Vrid => &mut d.vrid,
            DropReason::Ttl => &mut d.ttl,
            DropReason::Version => &mut d.version,
            DropReason::AuthType => &mut d.auth_type,
            DropReason::AuthFail => &mut d.auth_fail,
            DropReason::Interval => &mut d.interval,
            DropReason::AddrList => &mut d.addr_list,
            DropReason::UnicastSrc => &mut d.unicast_src,
        };
        *c += 1;
    }
}

/// `current_master` enables `skip_check_adv_addr` for adverts from the master we already know.
pub(crate) fn check(
    cfg: &InstanceConfig,
    src: IpAddr,
    ttl: u8,
    a: &Advert,
    current_master: Option<IpAddr>,
) -> Result<(), DropReason> {
    if src == cfg.primary_addr {
        return Err(DropReason::Own);
    }
    if a.vrid != cfg.vrid {
        return Err(DropReason::Vrid);
    }
    if cfg.unicast_peers.is_empty() && ttl != VRRP_TTL {
        return Err(DropReason::Ttl);
    }
    if a.version != cfg.version {
        return Err(DropReason::Version);
    }
    if cfg.version == Version::V2 {
        check_v2_auth(cfg, a)?;
        // RFC 3768 §7.1 MUST; keepalived: "to prevent concurrent VRID running".
        if a.adver_int_cs != cfg.adver_int_cs() {
            return Err(DropReason::Interval);
        }
    }
    let skip_addrs = cfg.skip_check_adv_addr && current_master == Some(src);
    if !skip_addrs && !same_addresses(cfg, a) {
        return Err(DropReason::AddrList);
    }
    if !cfg.unicast_peers.is_empty() && cfg.check_unicast_src {
        let peer = cfg
            .unicast_peers
            .iter()
            .find(|p| p.addr == src)
            .ok_or(DropReason::UnicastSrc)?;
        if !(peer.min_ttl..=peer.max_ttl).contains(&ttl) {
            return Err(DropReason::Ttl);
        }
    }
    Ok(())
}

fn check_v2_auth(cfg: &InstanceConfig, a: &Advert) -> Result<(), DropReason> {
    let (want, data) = cfg.auth.wire();
    if matches!(a.auth_type, AuthType::Unknown(_)) || a.auth_type != want {
        return Err(DropReason::AuthType);
    }
    if let Auth::Pass(_) = cfg.auth {
        // Not secret against anyone on the LAN (it is sent in clear), so a plain compare is fine.
        if a.auth_data != data {
            return Err(DropReason::AuthFail);
        }
    }
    Ok(())
}

/// keepalived drops on a count mismatch, then on any configured VIP missing from the advert
/// ("ip address associated with VRID not present in MASTER advert"), in any order.
fn same_addresses(cfg: &InstanceConfig, a: &Advert) -> bool {
    a.addrs.len() == cfg.vips.len() && cfg.vips.iter().all(|v| a.addrs.contains(v))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::UnicastPeer;
    use crate::wire::Addrs;
    use std::net::Ipv4Addr;
    use std::time::Duration;

    fn cfg() -> InstanceConfig {
        let mut c = InstanceConfig::new(
            "t",
            51,
            ip("10.0.0.1"),
            Addrs::V4(vec![Ipv4Addr::new(10, 0, 0, 100)]),
        );
        c.auth = Auth::pass("1111");
        c
    }
    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }
    fn advert(c: &InstanceConfig) -> Advert {
        let (auth_type, auth_data) = c.auth.wire();
        Advert {
            version: c.version,
            vrid: c.vrid,
            priority: 100,
            adver_int_cs: c.adver_int_cs(),
            auth_type,
            auth_data,
            addrs: c.vips.clone(),
        }
    }
    fn peer() -> IpAddr {
        ip("10.0.0.2")
    }

    #[test]
    fn a_matching_advert_passes() {
        let c = cfg();
        assert_eq!(check(&c, peer(), 255, &advert(&c), None), Ok(()));
    }

    #[test]
    fn our_own_looped_back_advert_is_dropped_first() {
        let c = cfg();
        assert_eq!(
            check(&c, c.primary_addr, 1, &advert(&c), None),
            Err(DropReason::Own)
        );
    }

    #[test]
    fn multicast_requires_ttl_255() {
        let c = cfg();
        assert_eq!(
            check(&c, peer(), 254, &advert(&c), None),
            Err(DropReason::Ttl)
        );
    }

    #[test]
    fn other_vrid_version_and_interval_are_dropped() {
        let c = cfg();
        let mut a = advert(&c);
        a.vrid = 52;
        assert_eq!(check(&c, peer(), 255, &a, None), Err(DropReason::Vrid));
        let mut a = advert(&c);
        a.version = Version::V3;
        assert_eq!(check(&c, peer(), 255, &a, None), Err(DropReason::Version));
        let mut a = advert(&c);
        a.adver_int_cs = 200;
        assert_eq!(check(&c, peer(), 255, &a, None), Err(DropReason::Interval));
    }

    #[test]
    fn wrong_password_and_wrong_auth_type_are_told_apart() {
        let c = cfg();
        let mut a = advert(&c);
        a.auth_data = *b"2222\0\0\0\0";
        assert_eq!(check(&c, peer(), 255, &a, None), Err(DropReason::AuthFail));
        a.auth_type = AuthType::None;
        assert_eq!(check(&c, peer(), 255, &a, None), Err(DropReason::AuthType));
        a.auth_type = AuthType::Unknown(9);
        assert_eq!(check(&c, peer(), 255, &a, None), Err(DropReason::AuthType));
    }

    #[test]
    fn v3_ignores_auth_and_accepts_another_interval() {
        let mut c = cfg();
        c.version = Version::V3;
        let mut a = advert(&c);
        a.auth_type = AuthType::None;
        a.adver_int_cs = 37;
        assert_eq!(check(&c, peer(), 255, &a, None), Ok(()));
    }

    #[test]
    fn address_list_mismatch_is_dropped_unless_skipped_for_the_known_master() {
        let mut c = cfg();
        let mut a = advert(&c);
        a.addrs = Addrs::V4(vec![Ipv4Addr::new(10, 0, 0, 101)]);
        assert_eq!(check(&c, peer(), 255, &a, None), Err(DropReason::AddrList));
        c.skip_check_adv_addr = true;
        assert_eq!(check(&c, peer(), 255, &a, Some(peer())), Ok(()));
        assert_eq!(
            check(&c, peer(), 255, &a, Some(ip("10.0.0.3"))),
            Err(DropReason::AddrList)
        );
    }

    #[test]
    fn unicast_accepts_any_ttl_unless_peer_checking_is_on() {
        let mut c = cfg();
        c.advert_interval = Duration::from_secs(1);
        c.unicast_peers = vec![UnicastPeer {
            addr: peer(),
            min_ttl: 250,
            max_ttl: 255,
        }];
        assert_eq!(check(&c, peer(), 64, &advert(&c), None), Ok(()));
        c.check_unicast_src = true;
        assert_eq!(
            check(&c, peer(), 64, &advert(&c), None),
            Err(DropReason::Ttl)
        );
        assert_eq!(check(&c, peer(), 252, &advert(&c), None), Ok(()));
        assert_eq!(
            check(&c, ip("10.0.0.9"), 255, &advert(&c), None),
            Err(DropReason::UnicastSrc)
        );
    }
}
