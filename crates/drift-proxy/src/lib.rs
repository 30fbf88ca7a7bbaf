//! drift-proxy: an nginx-compatible HTTP/1.1 and TCP load balancer.
//!
//! Reads the nginx config subset users already have ([`check_file`]), balances exactly as nginx
//! does (smooth weighted round robin, least_conn, ip_hash, ketama consistent hash, random two),
//! with passive (max_fails/fail_timeout) and active (`health_check`) health.

pub mod balance;
pub mod config;

pub use config::{check_file, check_str, render_all, Diagnostic, ProxyConfig};
