//! nginx config subset: lexer -> directive tree (with spans, includes spliced) -> [`ProxyConfig`].
//! Every problem is collected and reported at file:line:col; nothing stops at the first error.

pub mod ctx;
pub mod diag;
mod http;
pub mod lexer;
pub mod model;
mod stream;
pub mod template;
pub mod tree;
pub mod units;
mod upstream;

pub use diag::{render_all, Diagnostic, Span};
pub use model::*;

use ctx::{Ctx, IGNORED};
use std::path::Path;
use std::time::Duration;
use tree::{Arg, Directive};

/// Reads and checks a config file: `Ok` only if there is not a single error.
pub fn check_file(path: &Path) -> Result<ProxyConfig, Vec<Diagnostic>> {
    build(&tree::load(path)?)
}

/// Same as [`check_file`] for in-memory text (tests, stdin); `name` is used in diagnostics.
pub fn check_str(name: &str, text: &str) -> Result<ProxyConfig, Vec<Diagnostic>> {
    build(&tree::parse_str(name, text)?)
}

fn build(top: &[Directive]) -> Result<ProxyConfig, Vec<Diagnostic>> {
    let mut cx = Ctx::default();
    let mut cfg = ProxyConfig {
        http: None,
        stream: None,
        worker_connections: 1024,
    };
    for d in top {
        match d.name.as_str() {
            "http" if cx.shape(d, 0, 0, true) => {
                if cfg.http.is_some() {
                    cx.err(&d.span, "\"http\" directive is duplicate");
                }
                cfg.http = Some(http::build_http(&mut cx, d));
            }
            "stream" if cx.shape(d, 0, 0, true) => {
                if cfg.stream.is_some() {
                    cx.err(&d.span, "\"stream\" directive is duplicate");
                }
                cfg.stream = Some(stream::build_stream(&mut cx, d));
            }
            "events" if cx.shape(d, 0, 0, true) => {
                for c in d.block.as_deref().unwrap_or_default() {
                    match c.name.as_str() {
                        "worker_connections" if cx.shape(c, 1, 1, false) => {
                            if let Some(n) = cx.num(&c.args[0], &c.args[0].text) {
                                cfg.worker_connections = (n as usize).max(1);
                            }
                        }
                        "use" | "multi_accept" | "accept_mutex" | "worker_connections" => {}
                        _ => cx.unknown(c, "events"),
                    }
                }
            }
            n if IGNORED.contains(&n) => {}
            "http" | "stream" | "events" => {}
            _ => cx.unknown(d, "main context"),
        }
    }
    if cfg.http.is_none() && cfg.stream.is_none() {
        cx.diags.push(Diagnostic::global(
            "no \"http\" or \"stream\" block: nothing to proxy",
        ));
    }
    if cx.diags.is_empty() {
        Ok(cfg)
    } else {
        Err(cx.diags)
    }
}

/// `proxy_pass http://10.0.0.1:8080` without an `upstream` block: nginx makes a one-server group.
fn implicit_upstream(
    cx: &mut Ctx,
    at: &Arg,
    host: &str,
    default_port: Option<u16>,
) -> Option<UpstreamConfig> {
    let addr = cx.addr(at, host, default_port)?;
    Some(UpstreamConfig {
        name: host.to_string(),
        servers: vec![ServerSpec {
            name: host.to_string(),
            addr,
            weight: 1,
            max_fails: 1,
            fail_timeout: Duration::from_secs(10),
            backup: false,
            down: false,
            max_conns: 0,
        }],
        balance: Balance::RoundRobin,
        keepalive: 0,
        pipeline: 0,
        health_check: None,
    })
}

#[cfg(test)]
mod tests;
