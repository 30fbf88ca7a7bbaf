//! The resolved proxy configuration: nginx defaults applied, names resolved, units typed.

use super::template::Template;
use std::net::SocketAddr;
use std::time::Duration;

#[derive(Debug, Clone, Default)]
pub struct ProxyConfig {
    pub http: Option<HttpConfig>,
    pub stream: Option<StreamConfig>,
    /// `events { worker_connections N; }`: cap on concurrent client connections per listener set.
    pub worker_connections: usize,
}

impl ProxyConfig {
    /// Every upstream group's name (http, then stream): what a VRRP `track_upstream` may name.
    pub fn upstream_names(&self) -> Vec<&str> {
        let http = self.http.iter().flat_map(|h| &h.upstreams);
        let stream = self.stream.iter().flat_map(|s| &s.upstreams);
        http.chain(stream).map(|u| u.name.as_str()).collect()
    }
}

#[derive(Debug, Clone)]
pub struct HttpConfig {
    pub upstreams: Vec<UpstreamConfig>,
    pub servers: Vec<HttpServer>,
    /// `client_header_timeout` (default 60s): slowloris defence.
    pub client_header_timeout: Duration,
    /// `large_client_header_buffers N SIZE`: N*SIZE bounds the request head (431 beyond).
    pub max_header_bytes: usize,
    /// `keepalive_timeout` for client connections (default 75s).
    pub keepalive_timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct StreamConfig {
    pub upstreams: Vec<UpstreamConfig>,
    pub servers: Vec<StreamServer>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Balance {
    RoundRobin,
    LeastConn,
    IpHash,
    Hash { key: Template, consistent: bool },
    Random { two: bool },
}

#[derive(Debug, Clone)]
pub struct ServerSpec {
    /// As written (`host:port`); the consistent-hash ring hashes this text, exactly as nginx does.
    pub name: String,
    pub addr: SocketAddr,
    pub weight: u32,
    pub max_fails: u32,
    pub fail_timeout: Duration,
    pub backup: bool,
    pub down: bool,
    /// 0 = unlimited.
    pub max_conns: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub enum HealthKind {
    Tcp,
    Http {
        uri: String,
        statuses: Vec<(u16, u16)>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct HealthCheck {
    pub interval: Duration,
    pub timeout: Duration,
    pub rise: u32,
    pub fall: u32,
    pub kind: HealthKind,
    /// Probe a different port than the traffic port (`port=N`); 0 = same port.
    pub port: u16,
}

#[derive(Debug, Clone)]
pub struct UpstreamConfig {
    pub name: String,
    pub servers: Vec<ServerSpec>,
    pub balance: Balance,
    /// `keepalive N`: idle upstream connections kept per server; 0 disables pooling (nginx default).
    pub keepalive: usize,
    /// `pipeline N` (drift extension): most GET/HEAD requests written together on one upstream
    /// connection; 0 or 1 = off. Needs `keepalive`.
    pub pipeline: usize,
    pub health_check: Option<HealthCheck>,
}

#[derive(Debug, Clone)]
pub struct HttpServer {
    pub listen: Vec<SocketAddr>,
    /// Addresses where this server is the `default_server` (answers unknown Host names).
    pub default_for: Vec<SocketAddr>,
    pub server_names: Vec<String>,
    pub locations: Vec<Location>,
}

/// `proxy_next_upstream` conditions (nginx default: `error timeout`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NextUpstream {
    pub error: bool,
    pub timeout: bool,
    pub invalid_header: bool,
    pub http_500: bool,
    pub http_502: bool,
    pub http_503: bool,
    pub http_504: bool,
    pub http_403: bool,
    pub http_404: bool,
    pub http_429: bool,
    pub non_idempotent: bool,
}

impl Default for NextUpstream {
    fn default() -> Self {
        NextUpstream {
            error: true,
            timeout: true,
            invalid_header: false,
            http_500: false,
            http_502: false,
            http_503: false,
            http_504: false,
            http_403: false,
            http_404: false,
            http_429: false,
            non_idempotent: false,
        }
    }
}

impl NextUpstream {
    pub fn off() -> Self {
        NextUpstream {
            error: false,
            timeout: false,
            ..Default::default()
        }
    }
    /// Some response status is retried (then a response must be inspected before relaying).
    pub fn on_status(&self) -> bool {
        [500, 502, 503, 504, 403, 404, 429]
            .into_iter()
            .any(|s| self.retries_status(s))
    }

    pub fn retries_status(&self, status: u16) -> bool {
        match status {
            500 => self.http_500,
            502 => self.http_502,
            503 => self.http_503,
            504 => self.http_504,
            403 => self.http_403,
            404 => self.http_404,
            429 => self.http_429,
            _ => false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocationMatch {
    Prefix(String),
    Exact(String),
}

#[derive(Debug, Clone)]
pub struct Location {
    pub matcher: LocationMatch,
    /// Index into `HttpConfig::upstreams` (implicit single-server upstreams included).
    pub upstream: usize,
    /// `proxy_pass http://u/new/` replaces the matched prefix with `/new/`; `None` passes the URI as is.
    pub uri: Option<String>,
    /// Value of `$proxy_host`: the upstream name as written in `proxy_pass`.
    pub proxy_host: String,
    pub set_headers: Vec<(String, Template)>,
    pub http_version_11: bool,
    pub connect_timeout: Duration,
    pub read_timeout: Duration,
    pub send_timeout: Duration,
    pub next_upstream: NextUpstream,
    /// 0 = unlimited (bounded by the number of servers).
    pub next_upstream_tries: u32,
    pub next_upstream_timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct StreamServer {
    pub listen: Vec<SocketAddr>,
    pub upstream: usize,
    pub connect_timeout: Duration,
    /// Idle timeout between two successive reads or writes (`proxy_timeout`, default 10m).
    pub timeout: Duration,
    pub next_upstream: bool,
    pub next_upstream_tries: u32,
}
