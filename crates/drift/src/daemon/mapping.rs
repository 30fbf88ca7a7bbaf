//! Config model (`drift_model::VrrpInstance`) -> state-machine config (`drift_vrrp::InstanceConfig`).
//!
//! Pure: the only I/O-derived input is the primary address, which the caller resolves (the
//! configured `mcast_src_ip`/`unicast_src_ip`, else the interface's primary address, as
//! keepalived does).

use std::net::IpAddr;

use anyhow::{bail, Result};
use drift_model::{Authentication, Family, InitialState, VrrpInstance, VrrpVersion};
use drift_vrrp::wire::{Addrs, Version};
use drift_vrrp::{Auth, InstanceConfig, UnicastPeer};

/// The source address configured for adverts, if any: `unicast_src_ip` for unicast instances,
/// `mcast_src_ip` otherwise (keepalived treats them as aliases, unicast wins).
pub fn configured_source(vi: &VrrpInstance) -> Option<IpAddr> {
    if !vi.unicast_peer.is_empty() {
        vi.unicast_src_ip.or(vi.mcast_src_ip)
    } else {
        vi.mcast_src_ip.or(vi.unicast_src_ip)
    }
}

/// The VIPs sent in adverts: the instance's family only (keepalived puts all VIPs of an
/// instance in one family; `virtual_ipaddress_excluded` is never advertised).
pub fn advertised_vips(vi: &VrrpInstance) -> Addrs {
    match vi.family {
        Family::Inet => Addrs::V4(
            vi.virtual_ipaddress
                .iter()
                .filter_map(|v| match v.addr {
                    IpAddr::V4(a) => Some(a),
                    IpAddr::V6(_) => None,
                })
                .collect(),
        ),
        Family::Inet6 => Addrs::V6(
            vi.virtual_ipaddress
                .iter()
                .filter_map(|v| match v.addr {
                    IpAddr::V6(a) => Some(a),
                    IpAddr::V4(_) => None,
                })
                .collect(),
        ),
    }
}

/// Build the state machine's config. Errors when the primary address's family does not match
/// the instance's (the packet could not be sent).
pub fn instance_config(vi: &VrrpInstance, primary: IpAddr) -> Result<InstanceConfig> {
    let v6 = vi.family == Family::Inet6;
    if primary.is_ipv6() != v6 {
        bail!(
            "VRRP_Instance({}): source address {primary} is not of the instance's family ({:?})",
            vi.name,
            vi.family
        );
    }
    let mut c = InstanceConfig::new(&vi.name, vi.virtual_router_id, primary, advertised_vips(vi));
    c.version = match vi.version {
        VrrpVersion::V2 => Version::V2,
        VrrpVersion::V3 => Version::V3,
    };
    c.priority = vi.priority;
    c.advert_interval = vi.advert_int;
    c.auth = match (&vi.authentication, c.version) {
        (Some(Authentication::Pass(p)), Version::V2) => Auth::pass(p),
        _ => Auth::None,
    };
    c.initial_state = match vi.state {
        InitialState::Master => drift_vrrp::InitialState::Master,
        InitialState::Backup => drift_vrrp::InitialState::Backup,
    };
    c.nopreempt = !vi.preempt;
    c.preempt_delay = vi.preempt_delay;
    c.preempt_immediate = vi.preempt_immediate;
    c.down_timer_adverts = vi.down_timer_adverts;
    c.garp_master_delay = vi.garp.master_delay;
    c.garp_master_repeat = vi.garp.master_repeat;
    c.garp_master_refresh = vi.garp.master_refresh;
    c.garp_master_refresh_repeat = vi.garp.master_refresh_repeat;
    c.garp_lower_prio_repeat = vi.garp.lower_prio_repeat;
    c.garp_lower_prio_delay = vi.garp.lower_prio_delay;
    c.lower_prio_no_advert = vi.lower_prio_no_advert;
    c.higher_prio_send_advert = vi.higher_prio_send_advert;
    c.unicast_peers = vi
        .unicast_peer
        .iter()
        .map(|p| UnicastPeer {
            addr: p.addr,
            min_ttl: p.min_ttl.unwrap_or(0),
            max_ttl: p.max_ttl.unwrap_or(255),
        })
        .collect();
    // keepalived: "Specifying min_ttl or max_ttl turns on check_unicast_src".
    c.check_unicast_src = vi.check_unicast_src
        || vi
            .unicast_peer
            .iter()
            .any(|p| p.min_ttl.is_some() || p.max_ttl.is_some());
    c.skip_check_adv_addr = vi.skip_check_adv_addr;
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use drift_model::{UnicastPeer as ModelPeer, Vip};
    use std::time::Duration;

    fn v4_instance() -> VrrpInstance {
        let mut vi = VrrpInstance::new("VI_1", 51);
        vi.interface = Some("eth0".into());
        vi.virtual_ipaddress = vec![Vip::new("10.0.0.110".parse().unwrap())];
        vi
    }

    #[test]
    fn keepalived_defaults_map_to_the_state_machine_defaults() {
        let c = instance_config(&v4_instance(), "10.0.0.1".parse().unwrap()).unwrap();
        assert_eq!(c.name, "VI_1");
        assert_eq!(c.vrid, 51);
        assert_eq!(c.priority, 100);
        assert_eq!(c.version, Version::V2);
        assert_eq!(c.advert_interval, Duration::from_secs(1));
        assert_eq!(c.vips, Addrs::V4(vec!["10.0.0.110".parse().unwrap()]));
        assert!(!c.nopreempt);
        assert_eq!(c.auth, Auth::None);
        assert!(c.unicast_peers.is_empty());
    }

    #[test]
    fn pass_authentication_master_state_and_nopreempt_are_carried_over() {
        let mut vi = v4_instance();
        vi.authentication = Some(Authentication::Pass("1111".into()));
        vi.state = InitialState::Master;
        vi.priority = 150;
        vi.preempt = false;
        vi.preempt_delay = Duration::from_secs(7);
        let c = instance_config(&vi, "10.0.0.1".parse().unwrap()).unwrap();
        assert_eq!(c.auth, Auth::pass("1111"));
        assert_eq!(c.initial_state, drift_vrrp::InitialState::Master);
        assert_eq!(c.priority, 150);
        assert!(c.nopreempt);
        assert_eq!(c.preempt_delay, Duration::from_secs(7));
    }

    #[test]
    fn the_preempt_immediate_extension_is_carried_over_and_off_by_default() {
        let mut vi = v4_instance();
        let ip = "10.0.0.1".parse().unwrap();
        assert!(!instance_config(&vi, ip).unwrap().preempt_immediate);
        vi.preempt_immediate = true;
        assert!(instance_config(&vi, ip).unwrap().preempt_immediate);
    }

    #[test]
    fn version_3_drops_authentication() {
        let mut vi = v4_instance();
        vi.version = VrrpVersion::V3;
        vi.authentication = Some(Authentication::Pass("1111".into()));
        let c = instance_config(&vi, "10.0.0.1".parse().unwrap()).unwrap();
        assert_eq!(c.version, Version::V3);
        assert_eq!(c.auth, Auth::None);
    }

    #[test]
    fn unicast_peer_ttl_bounds_turn_on_source_checking() {
        let mut vi = v4_instance();
        vi.unicast_src_ip = Some("10.0.0.1".parse().unwrap());
        vi.unicast_peer = vec![ModelPeer {
            addr: "10.0.0.2".parse().unwrap(),
            min_ttl: Some(250),
            max_ttl: None,
        }];
        assert_eq!(configured_source(&vi), vi.unicast_src_ip);
        let c = instance_config(&vi, "10.0.0.1".parse().unwrap()).unwrap();
        assert_eq!(c.unicast_peers.len(), 1);
        assert_eq!(c.unicast_peers[0].min_ttl, 250);
        assert_eq!(c.unicast_peers[0].max_ttl, 255);
        assert!(c.check_unicast_src);
    }

    #[test]
    fn a_source_of_the_wrong_family_is_an_error() {
        assert!(instance_config(&v4_instance(), "fe80::1".parse().unwrap()).is_err());
    }

    #[test]
    fn ipv6_instances_advertise_only_ipv6_vips() {
        let mut vi = v4_instance();
        vi.family = Family::Inet6;
        vi.version = VrrpVersion::V3;
        vi.virtual_ipaddress = vec![Vip::new("fd00::110".parse().unwrap())];
        let c = instance_config(&vi, "fe80::1".parse().unwrap()).unwrap();
        assert_eq!(c.vips, Addrs::V6(vec!["fd00::110".parse().unwrap()]));
    }

    #[test]
    fn garp_settings_are_copied() {
        let mut vi = v4_instance();
        vi.garp.master_repeat = 2;
        vi.garp.master_delay = Duration::ZERO;
        vi.garp.master_refresh = Duration::from_secs(60);
        let c = instance_config(&vi, "10.0.0.1".parse().unwrap()).unwrap();
        assert_eq!(c.garp_master_repeat, 2);
        assert_eq!(c.garp_master_delay, Duration::ZERO);
        assert_eq!(c.garp_master_refresh, Duration::from_secs(60));
    }
}
