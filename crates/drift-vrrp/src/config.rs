//! What the state machine needs to know about one `vrrp_instance`. drift-vrrp does not depend
//! on drift-model: the daemon maps the config model into this, keeping the core buildable alone.
//! Field names are keepalived's keywords so a grep leads from `man 5 keepalived.conf` here.

use std::net::IpAddr;
use std::time::Duration;

use crate::wire::{Addrs, AuthType, Version};

/// keepalived `state MASTER|BACKUP`. See [`InstanceConfig::initial_state`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InitialState {
    #[default]
    Backup,
    Master,
}

/// VRRPv2 authentication (`authentication { auth_type PASS; auth_pass ... }`). VRRPv3 removed
/// authentication (RFC 5798 §9), so v3 instances ignore this.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Auth {
    #[default]
    None,
    /// The password as sent: at most 8 bytes, zero-padded (keepalived uses only the first 8).
    Pass([u8; 8]),
}

impl Auth {
    /// keepalived truncates `auth_pass` to 8 characters and pads with zeros.
    pub fn pass(password: &str) -> Auth {
        let mut data = [0u8; 8];
        for (d, s) in data.iter_mut().zip(password.as_bytes()) {
            *d = *s;
        }
        Auth::Pass(data)
    }

    pub fn wire(&self) -> (AuthType, [u8; 8]) {
        match self {
            Auth::None => (AuthType::None, [0; 8]),
            Auth::Pass(d) => (AuthType::Pass, *d),
        }
    }
}

/// `unicast_peer { <IPADDR> [min_ttl N] [max_ttl N] }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnicastPeer {
    pub addr: IpAddr,
    pub min_ttl: u8,
    pub max_ttl: u8,
}

impl UnicastPeer {
    pub fn new(addr: IpAddr) -> Self {
        UnicastPeer {
            addr,
            min_ttl: 0,
            max_ttl: 255,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceConfig {
    /// Instance name, for the daemon's logs only.
    pub name: String,
    pub vrid: u8,
    pub version: Version,
    /// Base priority, 1..=255; 255 means address owner (RFC 5798 §6.1).
    pub priority: u8,
    /// `advert_int`. v2 carries whole seconds, v3 centiseconds; the daemon rounds accordingly.
    pub advert_interval: Duration,
    /// Our source address: compared with advert sources for the equal-priority tie-break
    /// (RFC 5798 §6.4.3) and to recognise our own looped-back adverts.
    pub primary_addr: IpAddr,
    /// `virtual_ipaddress`, in the order sent in adverts and compared with received ones.
    pub vips: Addrs,
    pub auth: Auth,
    /// With priority 255 the instance goes master at startup without waiting (drift does this
    /// for every owner, as RFC 5798 §6.4.1 says; keepalived only with `state MASTER`). Otherwise
    /// `state MASTER` waits the master-down interval like a backup ("between 3 and 4 advert
    /// intervals"), and as in keepalived it disables `nopreempt` and `preempt_delay`
    /// ("For this to work, the initial state must not be MASTER").
    pub initial_state: InitialState,
    pub nopreempt: bool,
    /// Extra delay before preempting a lower-priority master, at startup or after first seeing
    /// one (keepalived semantics: ~`preempt_delay` + master-down interval in total). With
    /// `preempt_immediate` it means something else: see [`InstanceConfig::preempt_immediate`].
    pub preempt_delay: Duration,
    /// drift extension `preempt_immediate` (off by default, so keepalived configs behave exactly
    /// as in keepalived). A preempting backup that hears an advert with a priority lower than
    /// its own takes over after Skew_Time, as if the master had sent priority 0, instead of
    /// ignoring it and waiting out the master-down interval (RFC 5798 §6.4.2). Skew_Time still
    /// orders several backups: the highest claims first and the others hear it in time.
    ///
    /// Against flapping, `preempt_delay` becomes a hold-down: no immediate preemption within
    /// `preempt_delay` of startup, nor within `max(preempt_delay, master-down interval)` of
    /// leaving MASTER (to BACKUP or FAULT). So the first failover when the master's service
    /// dies is immediate, and the VIP never comes back to a node sooner than plain VRRP would
    /// bring it back, nor sooner than `preempt_delay`. No effect with `nopreempt`.
    pub preempt_immediate: bool,
    /// Master-down interval in advert intervals (RFC: 3), plus skew.
    pub down_timer_adverts: u32,
    /// Second batch of gratuitous ARP/NA after becoming master (0 = none).
    pub garp_master_delay: Duration,
    /// Gratuitous ARP/NA messages per VIP per batch.
    pub garp_master_repeat: u32,
    /// Periodic refresh while master (ZERO = off).
    pub garp_master_refresh: Duration,
    pub garp_master_refresh_repeat: u32,
    /// Batch sent when a master hears a lower-priority advert (keepalived default: the
    /// `garp_master_*` values), and its delayed second batch.
    pub garp_lower_prio_repeat: u32,
    pub garp_lower_prio_delay: Duration,
    /// RFC behaviour: a master ignores lower-priority adverts. keepalived's default (false) is to
    /// answer them with an advert at once so the other master steps down quickly.
    pub lower_prio_no_advert: bool,
    /// A master about to yield to a higher-priority one first sends one more advert.
    pub higher_prio_send_advert: bool,
    /// Empty: multicast, received TTL must be 255 (RFC 5798 §7.1). Non-empty: unicast, TTL is
    /// checked against the sending peer's `min_ttl..=max_ttl` when `check_unicast_src` is set.
    pub unicast_peers: Vec<UnicastPeer>,
    /// keepalived `check_unicast_src` / `vrrp_check_unicast_src`; the daemon must also set it
    /// when any peer has `min_ttl`/`max_ttl` ("Specifying min_ttl or max_ttl turns on
    /// check_unicast_src").
    pub check_unicast_src: bool,
    /// Skip comparing the address list when the advert comes from the current master.
    pub skip_check_adv_addr: bool,
    /// Member of a `vrrp_sync_group`: see [`crate::instance::sync`].
    pub sync_group: bool,
}

impl InstanceConfig {
    /// keepalived's defaults: priority 100, 1 s adverts, v2 for IPv4 and v3 for IPv6, GARP
    /// 5 messages now and 5 more after 5 s, no refresh, 3 adverts to master-down.
    pub fn new(name: &str, vrid: u8, primary_addr: IpAddr, vips: Addrs) -> Self {
        let version = if primary_addr.is_ipv6() {
            Version::V3
        } else {
            Version::V2
        };
        InstanceConfig {
            name: name.to_string(),
            vrid,
            version,
            priority: 100,
            advert_interval: Duration::from_secs(1),
            primary_addr,
            vips,
            auth: Auth::None,
            initial_state: InitialState::Backup,
            nopreempt: false,
            preempt_delay: Duration::ZERO,
            preempt_immediate: false,
            down_timer_adverts: 3,
            garp_master_delay: Duration::from_secs(5),
            garp_master_repeat: 5,
            garp_master_refresh: Duration::ZERO,
            garp_master_refresh_repeat: 1,
            garp_lower_prio_repeat: 5,
            garp_lower_prio_delay: Duration::from_secs(5),
            lower_prio_no_advert: false,
            higher_prio_send_advert: false,
            unicast_peers: Vec::new(),
            check_unicast_src: false,
            skip_check_adv_addr: false,
            sync_group: false,
        }
    }

    /// The interval as carried on the wire, in centiseconds (v2: whole seconds × 100).
    pub fn adver_int_cs(&self) -> u16 {
        let cs = (self.advert_interval.as_millis() / 10).clamp(1, 4095) as u16;
        match self.version {
            Version::V2 => (cs / 100).max(1) * 100,
            Version::V3 => cs,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_pass_is_truncated_to_eight_bytes_and_zero_padded() {
        assert_eq!(Auth::pass("1111"), Auth::Pass(*b"1111\0\0\0\0"));
        assert_eq!(Auth::pass("123456789"), Auth::Pass(*b"12345678"));
    }

    #[test]
    fn ipv6_instances_default_to_version_3() {
        let c = InstanceConfig::new("v6", 1, "fe80::1".parse().unwrap(), Addrs::V6(vec![]));
        assert_eq!(c.version, Version::V3);
    }

    #[test]
    fn wire_interval_is_whole_seconds_for_v2_and_centiseconds_for_v3() {
        let mut c = InstanceConfig::new("a", 1, "10.0.0.1".parse().unwrap(), Addrs::V4(vec![]));
        c.advert_interval = Duration::from_millis(2500);
        assert_eq!(c.adver_int_cs(), 200);
        c.version = Version::V3;
        assert_eq!(c.adver_int_cs(), 250);
    }
}
