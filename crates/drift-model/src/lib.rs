//! drift-model: the resolved configuration, as plain typed data.
//!
//! Every value here is *resolved*: keepalived's defaults are filled in and global defaults
//! (`vrrp_garp_*`, `vrrp_version`, ...) have already been propagated to each instance, so
//! consumers (the VRRP core, reload diffing) never need to know where a value came from.
//! Intervals are `Duration`s and addresses are `IpAddr`s; units are converted only at the wire.

mod global;
mod instance;
mod lvs;
mod track;

pub use global::{GlobalDefs, ScriptUser, SmtpServer};
pub use instance::{
    Authentication, Family, Garp, InitialState, Notify, NotifyUser, TrackInterface, TrackRef,
    TrackScriptRef, UnicastPeer, Vip, VrrpInstance, VrrpVersion,
};
pub use lvs::{RealServer, VirtualServer, VirtualServerGroup};
pub use track::{SyncGroup, TrackFile, TrackProcess, VrrpScript};

use serde::{Deserialize, Serialize};

/// A whole keepalived.conf, includes expanded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Config {
    pub global_defs: GlobalDefs,
    pub vrrp_scripts: Vec<VrrpScript>,
    pub track_files: Vec<TrackFile>,
    pub track_processes: Vec<TrackProcess>,
    pub sync_groups: Vec<SyncGroup>,
    pub instances: Vec<VrrpInstance>,
    /// `static_ipaddress`: addresses keepalived adds at startup and never moves.
    pub static_ipaddress: Vec<Vip>,
    /// `static_routes`: `ip route` syntax, kept as words (drift does not install them yet).
    pub static_routes: Vec<Vec<String>>,
    /// `static_rules`: `ip rule` syntax, kept as words.
    pub static_rules: Vec<Vec<String>>,
    pub virtual_server_groups: Vec<VirtualServerGroup>,
    pub virtual_servers: Vec<VirtualServer>,
    /// Other real top-level keepalived blocks drift does not model (bfd_instance, linkbeat_interfaces,
    /// track_group, vrrp_garp_interval groups, ...), kept verbatim so `--dump conf` loses nothing.
    pub extra: Vec<RawEntry>,
}

/// A keyword with its values and optional nested block, exactly as written (minus comments).
/// Used for real keepalived keywords drift accepts but does not interpret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RawEntry {
    pub key: String,
    pub args: Vec<String>,
    pub block: Option<Vec<RawEntry>>,
}

impl RawEntry {
    pub fn new(key: impl Into<String>, args: Vec<String>) -> Self {
        RawEntry {
            key: key.into(),
            args,
            block: None,
        }
    }
}

impl Config {
    /// Looks an instance up by name (names are unique after validation).
    pub fn instance(&self, name: &str) -> Option<&VrrpInstance> {
        self.instances.iter().find(|i| i.name == name)
    }

    /// Looks a vrrp_script up by name.
    pub fn script(&self, name: &str) -> Option<&VrrpScript> {
        self.vrrp_scripts.iter().find(|s| s.name == name)
    }
}
