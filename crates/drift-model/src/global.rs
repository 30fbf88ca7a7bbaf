//! `global_defs`.

use crate::{RawEntry, VrrpVersion};
use serde::{Deserialize, Serialize};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Duration;

/// `global_defs` with keepalived 2.2.7's defaults. The `vrrp_*` values are the defaults that
/// instances inherit; they are already copied into each `VrrpInstance`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GlobalDefs {
    pub router_id: Option<String>,
    pub notification_email: Vec<String>,
    pub notification_email_from: Option<String>,
    pub smtp_server: Option<SmtpServer>,
    pub smtp_helo_name: Option<String>,
    /// Default 30 s (keepalived `smtp_connect_timeout`).
    pub smtp_connect_timeout: Duration,
    /// Global default for instances' and sync groups' `smtp_alert`.
    pub smtp_alert: Option<bool>,
    pub enable_script_security: bool,
    pub script_user: Option<ScriptUser>,
    pub default_interface: Option<String>,
    pub dynamic_interfaces: bool,
    pub vrrp_version: VrrpVersion,
    pub vrrp_mcast_group4: Ipv4Addr,
    pub vrrp_mcast_group6: Ipv6Addr,
    pub vrrp_garp_master_delay: Duration,
    pub vrrp_garp_master_repeat: u32,
    /// Zero means "no periodic refresh" (keepalived default).
    pub vrrp_garp_master_refresh: Duration,
    pub vrrp_garp_master_refresh_repeat: u32,
    /// Unset means "same as vrrp_garp_master_delay" (keepalived resolves it per instance).
    pub vrrp_garp_lower_prio_delay: Option<Duration>,
    pub vrrp_garp_lower_prio_repeat: Option<u32>,
    pub vrrp_garp_interval: Duration,
    pub vrrp_gna_interval: Duration,
    pub vrrp_down_timer_adverts: u32,
    pub vrrp_lower_prio_no_advert: bool,
    pub vrrp_higher_prio_send_advert: bool,
    pub vrrp_check_unicast_src: bool,
    pub vrrp_skip_check_adv_addr: bool,
    pub vrrp_strict: bool,
    pub vrrp_rt_priority: Option<i32>,
    pub vrrp_priority: Option<i32>,
    pub vrrp_startup_delay: Option<Duration>,
    /// Recognised keywords drift does not interpret (process names, SNMP, nftables, ...).
    pub extra: Vec<RawEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmtpServer {
    /// Host name or address, as written.
    pub host: String,
    /// Default 25.
    pub port: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScriptUser {
    pub user: String,
    pub group: Option<String>,
}

impl Default for GlobalDefs {
    fn default() -> Self {
        GlobalDefs {
            router_id: None,
            notification_email: Vec::new(),
            notification_email_from: None,
            smtp_server: None,
            smtp_helo_name: None,
            smtp_connect_timeout: Duration::from_secs(30),
            smtp_alert: None,
            enable_script_security: false,
            script_user: None,
            default_interface: None,
            dynamic_interfaces: false,
            vrrp_version: VrrpVersion::V2,
            vrrp_mcast_group4: Ipv4Addr::new(224, 0, 0, 18),
            vrrp_mcast_group6: Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12),
            vrrp_garp_master_delay: Duration::from_secs(5),
            vrrp_garp_master_repeat: 5,
            vrrp_garp_master_refresh: Duration::ZERO,
            vrrp_garp_master_refresh_repeat: 1,
            vrrp_garp_lower_prio_delay: None,
            vrrp_garp_lower_prio_repeat: None,
            vrrp_garp_interval: Duration::ZERO,
            vrrp_gna_interval: Duration::ZERO,
            vrrp_down_timer_adverts: 3,
            vrrp_lower_prio_no_advert: false,
            vrrp_higher_prio_send_advert: false,
            vrrp_check_unicast_src: false,
            vrrp_skip_check_adv_addr: false,
            vrrp_strict: false,
            vrrp_rt_priority: None,
            vrrp_priority: None,
            vrrp_startup_delay: None,
            extra: Vec::new(),
        }
    }
}
