//! `vrrp_instance` and the pieces it is made of.

use crate::RawEntry;
use serde::{Deserialize, Serialize};
use std::net::IpAddr;
use std::time::Duration;

/// A `vrrp_instance`, fully resolved (defaults and global_defs applied).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VrrpInstance {
    pub name: String,
    /// Initial state only; RFC 5798 decides the rest.
    pub state: InitialState,
    /// Optional in keepalived when unicast peers are configured.
    pub interface: Option<String>,
    pub virtual_router_id: u8,
    /// keepalived 2.2.7: 100, or 255 when `state MASTER` and no priority is given.
    pub priority: u8,
    /// v2: whole seconds 1..=255; v3: 10 ms steps 0.01..=40.95 s.
    pub advert_int: Duration,
    pub version: VrrpVersion,
    /// Derived from the VIPs (keepalived: all VIPs of one instance share a family).
    pub family: Family,
    /// `nopreempt` clears it. Default on.
    pub preempt: bool,
    pub preempt_delay: Duration,
    /// drift extension `preempt_immediate` (keepalived has no such keyword): a preempting
    /// backup takes over one skew time after hearing a lower-priority advert, instead of a
    /// master-down interval; `preempt_delay` becomes its hold-down. Left out of dumps when off,
    /// so a keepalived config's model is unchanged.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub preempt_immediate: bool,
    pub authentication: Option<Authentication>,
    pub mcast_src_ip: Option<IpAddr>,
    /// The multicast group adverts go to (global vrrp_mcast_group4/6 unless `mcast_dst_ip`).
    pub mcast_dst_ip: IpAddr,
    pub unicast_src_ip: Option<IpAddr>,
    pub unicast_peer: Vec<UnicastPeer>,
    /// TTL / hop limit of unicast adverts. Default 255.
    pub unicast_ttl: u8,
    pub unicast_fault_no_peer: bool,
    pub virtual_ipaddress: Vec<Vip>,
    pub virtual_ipaddress_excluded: Vec<Vip>,
    /// `virtual_routes` lines as words (ip route syntax).
    pub virtual_routes: Vec<Vec<String>>,
    /// `virtual_rules` lines as words (ip rule syntax).
    pub virtual_rules: Vec<Vec<String>>,
    pub track_script: Vec<TrackScriptRef>,
    pub track_interface: Vec<TrackInterface>,
    pub track_file: Vec<TrackRef>,
    pub track_process: Vec<TrackRef>,
    /// drift extension: `track_upstream { NAME [weight N [reverse]] }` (or one line,
    /// `track_upstream NAME [weight N]`): "the proxy's upstream group NAME has a usable server"
    /// as a tracker, with track_script's weight rules (no weight or 0: none usable => FAULT).
    pub track_upstream: Vec<TrackRef>,
    pub notify: Notify,
    pub smtp_alert: bool,
    pub garp: Garp,
    /// Master-down timer in adverts (RFC says 3). Default 3.
    pub down_timer_adverts: u32,
    pub dont_track_primary: bool,
    /// `use_vmac [NAME]` words, if present (drift does not create macvlans yet).
    pub use_vmac: Option<Vec<String>>,
    pub vmac_xmit_base: bool,
    /// Accept packets to VIPs while master. keepalived: on unless `vrrp_strict`/`strict_mode`.
    pub accept: bool,
    pub higher_prio_send_advert: bool,
    pub lower_prio_no_advert: bool,
    pub check_unicast_src: bool,
    pub skip_check_adv_addr: bool,
    pub strict_mode: bool,
    /// Recognised keywords drift does not interpret (debug, kernel_rx_buf_size, ...).
    pub extra: Vec<RawEntry>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum InitialState {
    Master,
    Backup,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum VrrpVersion {
    V2,
    V3,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Family {
    Inet,
    Inet6,
}

/// `authentication { auth_type PASS|AH; auth_pass X }` (VRRPv2 only; RFC 3768 §5.3.6).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Authentication {
    /// Simple password, at most 8 bytes (keepalived truncates longer ones).
    Pass(String),
    /// IPsec AH with the given key.
    Ah(String),
}

/// A virtual IP line: `IP[/MASK] [brd IP] [dev IF] [scope S] [label L] [peer IP] [no_track] ...`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vip {
    pub addr: IpAddr,
    /// keepalived default: 32 for IPv4, 128 for IPv6.
    pub prefix_len: u8,
    pub brd: Option<IpAddr>,
    pub dev: Option<String>,
    /// `global`, `site`, `link`, `host`, `nowhere` or a number.
    pub scope: Option<String>,
    pub label: Option<String>,
    pub peer: Option<IpAddr>,
    /// Do not go to FAULT if this address's interface goes down.
    pub no_track: bool,
    pub track_group: Option<String>,
    pub preferred_lft: Option<String>,
    /// Bare flags: home, -nodad, nodad, mngtmpaddr, noprefixroute, autojoin.
    pub flags: Vec<String>,
}

impl Vip {
    /// A plain address with the default mask for its family.
    pub fn new(addr: IpAddr) -> Self {
        Vip {
            addr,
            prefix_len: if addr.is_ipv4() { 32 } else { 128 },
            brd: None,
            dev: None,
            scope: None,
            label: None,
            peer: None,
            no_track: false,
            track_group: None,
            preferred_lft: None,
            flags: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnicastPeer {
    pub addr: IpAddr,
    pub min_ttl: Option<u8>,
    pub max_ttl: Option<u8>,
}

/// An instance's reference to a vrrp_script. `weight` overrides the script's own weight.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackScriptRef {
    pub name: String,
    pub weight: Option<i32>,
    pub reverse: bool,
}

/// A reference to a track_file / vrrp_track_process (weight overrides the tracker's).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackRef {
    pub name: String,
    pub weight: Option<i32>,
    pub reverse: bool,
}

/// `track_interface { IF [weight N [reverse]] }`: weight 0 means "down => FAULT".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackInterface {
    pub name: String,
    pub weight: i32,
    pub reverse: bool,
}

/// Notify scripts (instances and sync groups).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Notify {
    pub master: Option<String>,
    pub backup: Option<String>,
    pub fault: Option<String>,
    pub stop: Option<String>,
    pub deleted: Option<String>,
    /// `notify` – called with TYPE NAME STATE PRIORITY on every change.
    pub notify: Option<String>,
    pub master_rx_lower_pri: Option<String>,
    pub priority_changes: bool,
    /// `notify_* SCRIPT [username [groupname]]`: the scripts given their own user.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub users: Vec<NotifyUser>,
}

/// The user a notify script runs as, when its line names one (keepalived: words after the
/// script are `username [groupname]`, not arguments).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotifyUser {
    /// The keyword (`notify_master`, `notify`, ...).
    pub keyword: String,
    pub user: String,
    pub group: Option<String>,
}

/// Gratuitous ARP / unsolicited NA schedule on becoming master (keepalived garp_* keywords).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Garp {
    /// Second burst after this delay. Default 5 s (0 disables the second burst).
    pub master_delay: Duration,
    /// Packets per burst. Default 5.
    pub master_repeat: u32,
    /// Periodic refresh while master; zero disables. Default 0.
    pub master_refresh: Duration,
    pub master_refresh_repeat: u32,
    /// After a lower-priority advert is received while master.
    pub lower_prio_delay: Duration,
    pub lower_prio_repeat: u32,
    /// Gap between GARP packets. Default 0.
    pub interval: Duration,
    /// Gap between unsolicited NA packets. Default 0.
    pub gna_interval: Duration,
}

impl Default for Garp {
    fn default() -> Self {
        Garp {
            master_delay: Duration::from_secs(5),
            master_repeat: 5,
            master_refresh: Duration::ZERO,
            master_refresh_repeat: 1,
            lower_prio_delay: Duration::from_secs(5),
            lower_prio_repeat: 5,
            interval: Duration::ZERO,
            gna_interval: Duration::ZERO,
        }
    }
}

impl VrrpInstance {
    /// An IPv4 VRRPv2 instance with keepalived's defaults (what a block with only a name
    /// and VRID would give).
    pub fn new(name: impl Into<String>, virtual_router_id: u8) -> Self {
        VrrpInstance {
            name: name.into(),
            state: InitialState::Backup,
            interface: None,
            virtual_router_id,
            priority: 100,
            advert_int: Duration::from_secs(1),
            version: VrrpVersion::V2,
            family: Family::Inet,
            preempt: true,
            preempt_delay: Duration::ZERO,
            preempt_immediate: false,
            authentication: None,
            mcast_src_ip: None,
            mcast_dst_ip: IpAddr::from([224, 0, 0, 18]),
            unicast_src_ip: None,
            unicast_peer: Vec::new(),
            unicast_ttl: 255,
            unicast_fault_no_peer: false,
            virtual_ipaddress: Vec::new(),
            virtual_ipaddress_excluded: Vec::new(),
            virtual_routes: Vec::new(),
            virtual_rules: Vec::new(),
            track_script: Vec::new(),
            track_interface: Vec::new(),
            track_file: Vec::new(),
            track_process: Vec::new(),
            track_upstream: Vec::new(),
            notify: Notify::default(),
            smtp_alert: false,
            garp: Garp::default(),
            down_timer_adverts: 3,
            dont_track_primary: false,
            use_vmac: None,
            vmac_xmit_base: false,
            accept: true,
            higher_prio_send_advert: false,
            lower_prio_no_advert: false,
            check_unicast_src: false,
            skip_check_adv_addr: false,
            strict_mode: false,
            extra: Vec::new(),
        }
    }
}
