//! Shared helpers for turning directives into model values while collecting every diagnostic.

use super::diag::{Diagnostic, Span};
use super::tree::{Arg, Directive};
use super::units::{parse_size, parse_time};
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

/// Directives users' nginx.conf files commonly carry that mean nothing to a pure proxy.
/// Accepted anywhere and ignored; documented in README.md. Everything else unknown is an error.
pub const IGNORED: &[&str] = &[
    "user",
    "worker_processes",
    "worker_rlimit_nofile",
    "worker_cpu_affinity",
    "pid",
    "error_log",
    "access_log",
    "log_format",
    "default_type",
    "sendfile",
    "tcp_nopush",
    "tcp_nodelay",
    "server_tokens",
    "charset",
    "types_hash_max_size",
    "client_max_body_size",
    "proxy_buffering",
    "proxy_buffers",
    "proxy_buffer_size",
    "proxy_request_buffering",
    "proxy_redirect",
    "zone",
];

/// Host names in `server`/`proxy_pass` go through the system resolver (nginx resolves at load).
/// Fuzz tests switch this off so random words never become DNS queries leaving the machine.
pub static RESOLVE_NAMES: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

#[derive(Default)]
pub struct Ctx {
    pub diags: Vec<Diagnostic>,
}

impl Ctx {
    pub fn err(&mut self, span: &Span, msg: impl Into<String>) {
        self.diags.push(Diagnostic::at(span, msg));
    }

    pub fn unknown(&mut self, d: &Directive, context: &str) {
        self.err(
            &d.span,
            format!("unknown directive \"{}\" in {context}", d.name),
        );
    }

    /// Checks argument count and block shape; reports and returns false on mismatch.
    pub fn shape(&mut self, d: &Directive, min: usize, max: usize, block: bool) -> bool {
        if block != d.block.is_some() {
            let msg = if block {
                "has no opening \"{\""
            } else {
                "is not a block directive"
            };
            self.err(&d.span, format!("directive \"{}\" {msg}", d.name));
            return false;
        }
        if d.args.len() < min || d.args.len() > max {
            self.err(
                &d.span,
                format!("invalid number of arguments in \"{}\" directive", d.name),
            );
            return false;
        }
        true
    }

    pub fn time(&mut self, a: &Arg) -> Option<Duration> {
        let t = parse_time(&a.text);
        if t.is_none() {
            self.err(&a.span, format!("invalid time value \"{}\"", a.text));
        }
        t
    }

    pub fn size(&mut self, a: &Arg) -> Option<u64> {
        let t = parse_size(&a.text);
        if t.is_none() {
            self.err(&a.span, format!("invalid size value \"{}\"", a.text));
        }
        t
    }

    pub fn num(&mut self, a: &Arg, text: &str) -> Option<u32> {
        let n = text.parse::<u32>().ok();
        if n.is_none() {
            self.err(
                &a.span,
                format!("invalid number \"{text}\" in \"{}\"", a.text),
            );
        }
        n
    }

    pub fn on_off(&mut self, a: &Arg) -> Option<bool> {
        match a.text.as_str() {
            "on" => Some(true),
            "off" => Some(false),
            _ => {
                self.err(
                    &a.span,
                    format!("invalid value \"{}\", it must be \"on\" or \"off\"", a.text),
                );
                None
            }
        }
    }

    /// Resolves `host[:port]`; names go through the system resolver once, at load, like nginx.
    pub fn addr(&mut self, a: &Arg, text: &str, default_port: Option<u16>) -> Option<SocketAddr> {
        if let Ok(sa) = text.parse::<SocketAddr>() {
            return Some(sa);
        }
        let has_port = text
            .rsplit_once(':')
            .is_some_and(|(h, p)| !h.ends_with(':') && p.parse::<u16>().is_ok());
        let with_port = match (has_port, default_port) {
            (true, _) => text.to_string(),
            (false, Some(p)) => format!("{text}:{p}"),
            (false, None) => {
                self.err(&a.span, format!("no port in upstream \"{text}\""));
                return None;
            }
        };
        if !RESOLVE_NAMES.load(std::sync::atomic::Ordering::Relaxed) {
            self.err(
                &a.span,
                format!("host not found in \"{text}\" (name resolution disabled)"),
            );
            return None;
        }
        match with_port.to_socket_addrs().map(|mut i| i.next()) {
            Ok(Some(sa)) => Some(sa),
            _ => {
                self.err(&a.span, format!("host not found in \"{text}\""));
                None
            }
        }
    }

    /// `listen [ADDR:]PORT [params]`: a bare port listens on all IPv4 addresses, as nginx does.
    pub fn listen(&mut self, a: &Arg) -> Option<SocketAddr> {
        let t = a.text.as_str();
        if let Ok(port) = t.parse::<u16>() {
            return Some(SocketAddr::from(([0, 0, 0, 0], port)));
        }
        if let Ok(sa) = t.parse::<SocketAddr>() {
            return Some(sa);
        }
        if let Some(("*", p)) = t.rsplit_once(':') {
            if let Ok(port) = p.parse::<u16>() {
                return Some(SocketAddr::from(([0, 0, 0, 0], port)));
            }
        }
        self.err(
            &a.span,
            format!("invalid listen address \"{t}\" (expected [ADDR:]PORT)"),
        );
        None
    }
}
