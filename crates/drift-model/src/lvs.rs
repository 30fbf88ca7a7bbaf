//! The LVS part (`virtual_server`, `virtual_server_group`). drift parses it so that a
//! keepalived.conf with LVS still loads, but does not serve it; settings are kept generically.

use crate::RawEntry;
use serde::{Deserialize, Serialize};

/// `virtual_server_group NAME { IP PORT | IP-RANGE PORT | fwmark N ... }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VirtualServerGroup {
    pub name: String,
    pub members: Vec<Vec<String>>,
}

/// `virtual_server IP PORT | fwmark N | group NAME { ... }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VirtualServer {
    /// The words after `virtual_server`, e.g. `["10.0.0.1", "80"]` or `["group", "G"]`.
    pub target: Vec<String>,
    pub real_servers: Vec<RealServer>,
    /// Every other setting (lb_algo, lb_kind, persistence_timeout, sorry_server, ...).
    pub settings: Vec<RawEntry>,
}

/// `real_server IP PORT { weight N; TCP_CHECK { ... } ... }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RealServer {
    pub address: String,
    pub port: Option<u16>,
    /// Default 1.
    pub weight: i32,
    /// Checkers (TCP_CHECK, HTTP_GET, SSL_GET, MISC_CHECK, ...) and other settings, nested as written.
    pub settings: Vec<RawEntry>,
}
