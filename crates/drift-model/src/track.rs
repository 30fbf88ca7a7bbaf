//! Trackers (`vrrp_script`, `track_file`, `vrrp_track_process`) and `vrrp_sync_group`.

use crate::{Notify, RawEntry, TrackInterface, TrackRef, TrackScriptRef};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// `vrrp_script NAME { ... }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VrrpScript {
    pub name: String,
    /// Command line as written (keepalived splits it like a shell, honouring quotes).
    pub script: String,
    /// Default 1 s.
    pub interval: Duration,
    /// Defaults to `interval` (keepalived: a script still running after this is considered failed).
    pub timeout: Duration,
    /// Default 0: failure marks the instance FAULT instead of adjusting priority.
    pub weight: i32,
    /// `weight N reverse`: success lowers (or raises) priority instead of failure.
    pub reverse: bool,
    /// Default 1.
    pub rise: u32,
    /// Default 1.
    pub fall: u32,
    pub user: Option<String>,
    pub group: Option<String>,
    /// Start in the failed state (keepalived `init_fail`).
    pub init_fail: bool,
}

impl VrrpScript {
    pub fn new(name: impl Into<String>, script: impl Into<String>) -> Self {
        VrrpScript {
            name: name.into(),
            script: script.into(),
            interval: Duration::from_secs(1),
            timeout: Duration::from_secs(1),
            weight: 0,
            reverse: false,
            rise: 1,
            fall: 1,
            user: None,
            group: None,
            init_fail: false,
        }
    }
}

/// `track_file NAME { file PATH; weight N [reverse]; init_file [VALUE] [overwrite] }`
/// (`vrrp_track_file` is the legacy spelling of the same block).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrackFile {
    pub name: String,
    pub file: String,
    /// Default 1 (keepalived.conf(5): "weight defaults to 1").
    pub weight: i32,
    pub reverse: bool,
    /// `init_file [VALUE] [overwrite]`, as written.
    pub init_file: Option<Vec<String>>,
}

/// `vrrp_track_process NAME { ... }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrackProcess {
    pub name: String,
    pub process: Vec<String>,
    pub param_match: Option<String>,
    /// Default 1.
    pub weight: i32,
    pub reverse: bool,
    /// Default 1.
    pub quorum: u32,
    pub quorum_max: Option<u32>,
    pub delay: Option<Duration>,
    pub fork_delay: Option<Duration>,
    pub terminate_delay: Option<Duration>,
    pub full_command: bool,
}

/// `vrrp_sync_group NAME { group { ... } ... }`: members fail over together.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct SyncGroup {
    pub name: String,
    pub group: Vec<String>,
    pub notify: Notify,
    pub smtp_alert: bool,
    pub global_tracking: bool,
    pub sync_group_tracking_weight: bool,
    pub track_script: Vec<TrackScriptRef>,
    pub track_interface: Vec<TrackInterface>,
    pub track_file: Vec<TrackRef>,
    pub track_process: Vec<TrackRef>,
    pub extra: Vec<RawEntry>,
}
