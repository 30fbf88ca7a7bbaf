//! `http { ... }`: upstreams, servers and locations, with `proxy_*` settings inherited
//! http -> server -> location the way nginx merges them (a level's `proxy_set_header` list
//! replaces the inherited one only if that level has any).

use super::ctx::{Ctx, IGNORED};
use super::implicit_upstream;
use super::model::{HttpConfig, HttpServer, Location, LocationMatch, NextUpstream, UpstreamConfig};
use super::template::Template;
use super::tree::Directive;
use super::upstream::{build_upstream, Module};
use std::time::Duration;

#[derive(Clone)]
struct Settings {
    set_headers: Option<Vec<(String, Template)>>,
    http_version_11: bool,
    connect_timeout: Duration,
    read_timeout: Duration,
    send_timeout: Duration,
    next_upstream: NextUpstream,
    next_upstream_tries: u32,
    next_upstream_timeout: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            set_headers: None,
            http_version_11: false,
            connect_timeout: Duration::from_secs(60),
            read_timeout: Duration::from_secs(60),
            send_timeout: Duration::from_secs(60),
            next_upstream: NextUpstream::default(),
            next_upstream_tries: 0,
            next_upstream_timeout: Duration::ZERO,
        }
    }
}

pub fn build_http(cx: &mut Ctx, d: &Directive) -> HttpConfig {
    let mut cfg = HttpConfig {
        upstreams: Vec::new(),
        servers: Vec::new(),
        client_header_timeout: Duration::from_secs(60),
        max_header_bytes: 4 * 8192,
        keepalive_timeout: Duration::from_secs(75),
    };
    let body = d.block.as_deref().unwrap_or_default();
    // Upstreams first: nginx lets `proxy_pass` name an upstream defined further down.
    for c in body.iter().filter(|c| c.name == "upstream") {
        if let Some(u) = build_upstream(cx, c, Module::Http) {
            if cfg.upstreams.iter().any(|x| x.name == u.name) {
                cx.err(&c.span, format!("duplicate upstream \"{}\"", u.name));
            } else {
                cfg.upstreams.push(u);
            }
        }
    }
    let mut base = Settings::default();
    for c in body {
        match c.name.as_str() {
            "upstream" | "server" => {}
            "client_header_timeout" if cx.shape(c, 1, 1, false) => {
                cfg.client_header_timeout = cx.time(&c.args[0]).unwrap_or(cfg.client_header_timeout)
            }
            "keepalive_timeout" if cx.shape(c, 1, 2, false) => {
                cfg.keepalive_timeout = cx.time(&c.args[0]).unwrap_or(cfg.keepalive_timeout)
            }
            "large_client_header_buffers" if cx.shape(c, 2, 2, false) => {
                let n = cx.num(&c.args[0], &c.args[0].text).unwrap_or(4) as usize;
                let sz = cx.size(&c.args[1]).unwrap_or(8192) as usize;
                cfg.max_header_bytes = n.saturating_mul(sz).max(1024);
            }
            _ => proxy_setting(cx, c, &mut base, "http"),
        }
    }
    for c in body.iter().filter(|c| c.name == "server") {
        if let Some(s) = server(cx, c, &base, &mut cfg.upstreams) {
            cfg.servers.push(s);
        }
    }
    cfg
}

fn server(
    cx: &mut Ctx,
    d: &Directive,
    parent: &Settings,
    ups: &mut Vec<UpstreamConfig>,
) -> Option<HttpServer> {
    if !cx.shape(d, 0, 0, true) {
        return None;
    }
    let body = d.block.as_deref().unwrap_or_default();
    let mut srv = HttpServer {
        listen: Vec::new(),
        default_for: Vec::new(),
        server_names: Vec::new(),
        locations: Vec::new(),
    };
    let mut settings = parent.clone();
    let mut own_headers = None;
    for c in body {
        match c.name.as_str() {
            "location" => {}
            "listen" if cx.shape(c, 1, 8, false) => {
                let addr = cx.listen(&c.args[0]);
                if let Some(a) = addr {
                    srv.listen.push(a);
                    if c.args[1..]
                        .iter()
                        .any(|p| p.text == "default_server" || p.text == "default")
                    {
                        srv.default_for.push(a);
                    }
                }
                for p in &c.args[1..] {
                    let ok = [
                        "default_server",
                        "default",
                        "reuseport",
                        "deferred",
                        "so_keepalive=on",
                    ];
                    if !ok.contains(&p.text.as_str()) && !p.text.starts_with("backlog=") {
                        cx.err(
                            &p.span,
                            format!("unsupported listen parameter \"{}\"", p.text),
                        );
                    }
                }
            }
            "server_name" if cx.shape(c, 1, 64, false) => srv
                .server_names
                .extend(c.args.iter().map(|a| a.text.to_ascii_lowercase())),
            "proxy_set_header" => {
                let mut tmp = Settings {
                    set_headers: own_headers.take(),
                    ..settings.clone()
                };
                proxy_setting(cx, c, &mut tmp, "server");
                own_headers = tmp.set_headers;
            }
            _ => proxy_setting(cx, c, &mut settings, "server"),
        }
    }
    if own_headers.is_some() {
        settings.set_headers = own_headers;
    }
    if srv.listen.is_empty() {
        srv.listen
            .push(std::net::SocketAddr::from(([0, 0, 0, 0], 80)));
    }
    for c in body.iter().filter(|c| c.name == "location") {
        if let Some(l) = location(cx, c, &settings, ups) {
            srv.locations.push(l);
        }
    }
    Some(srv)
}

fn location(
    cx: &mut Ctx,
    d: &Directive,
    parent: &Settings,
    ups: &mut Vec<UpstreamConfig>,
) -> Option<Location> {
    if !cx.shape(d, 1, 2, true) {
        return None;
    }
    let matcher = match (d.args[0].text.as_str(), d.args.get(1)) {
        ("=", Some(p)) => LocationMatch::Exact(p.text.clone()),
        ("^~", Some(p)) => LocationMatch::Prefix(p.text.clone()),
        (m @ ("~" | "~*"), Some(_)) => {
            cx.err(
                &d.args[0].span,
                format!("regex locations (\"{m}\") are not supported"),
            );
            return None;
        }
        (p, None) => LocationMatch::Prefix(p.to_string()),
        (_, Some(a)) => {
            cx.err(&a.span, "invalid location modifier");
            return None;
        }
    };
    let mut s = parent.clone();
    let mut own_headers: Option<Vec<(String, Template)>> = None;
    let mut pass = None;
    for c in d.block.as_deref().unwrap_or_default() {
        match c.name.as_str() {
            "proxy_pass" if cx.shape(c, 1, 1, false) => pass = Some(c.args[0].clone()),
            "proxy_set_header" => {
                let mut tmp = Settings {
                    set_headers: own_headers.take(),
                    ..s.clone()
                };
                proxy_setting(cx, c, &mut tmp, "location");
                own_headers = tmp.set_headers;
            }
            _ => proxy_setting(cx, c, &mut s, "location"),
        }
    }
    if own_headers.is_some() {
        s.set_headers = own_headers;
    }
    let Some(pass) = pass else {
        cx.err(
            &d.span,
            "location has no \"proxy_pass\" (drift only proxies)",
        );
        return None;
    };
    let Some(rest) = pass.text.strip_prefix("http://") else {
        cx.err(
            &pass.span,
            format!(
                "invalid URL prefix in \"{}\" (only http:// is supported)",
                pass.text
            ),
        );
        return None;
    };
    let (host, uri) = match rest.find('/') {
        Some(i) => (&rest[..i], Some(rest[i..].to_string())),
        None => (rest, None),
    };
    let upstream = match ups.iter().position(|u| u.name == host) {
        Some(i) => i,
        None => {
            let u = implicit_upstream(cx, &pass, host, Some(80))?;
            ups.push(u);
            ups.len() - 1
        }
    };
    Some(Location {
        matcher,
        upstream,
        uri,
        proxy_host: host.to_string(),
        set_headers: s.set_headers.unwrap_or_default(),
        http_version_11: s.http_version_11,
        connect_timeout: s.connect_timeout,
        read_timeout: s.read_timeout,
        send_timeout: s.send_timeout,
        next_upstream: s.next_upstream,
        next_upstream_tries: s.next_upstream_tries,
        next_upstream_timeout: s.next_upstream_timeout,
    })
}

fn proxy_setting(cx: &mut Ctx, c: &Directive, s: &mut Settings, ctx: &str) {
    let a = |i: usize| &c.args[i];
    match c.name.as_str() {
        "proxy_set_header" if cx.shape(c, 2, 2, false) => match Template::parse(&a(1).text) {
            Ok(t) => s
                .set_headers
                .get_or_insert_with(Vec::new)
                .push((a(0).text.to_ascii_lowercase(), t)),
            Err(v) => cx.err(&a(1).span, format!("unknown \"{v}\" variable")),
        },
        "proxy_http_version" if cx.shape(c, 1, 1, false) => match a(0).text.as_str() {
            "1.0" => s.http_version_11 = false,
            "1.1" => s.http_version_11 = true,
            o => cx.err(&a(0).span, format!("invalid value \"{o}\" (1.0 or 1.1)")),
        },
        "proxy_connect_timeout" if cx.shape(c, 1, 1, false) => {
            s.connect_timeout = cx.time(a(0)).unwrap_or(s.connect_timeout)
        }
        "proxy_read_timeout" if cx.shape(c, 1, 1, false) => {
            s.read_timeout = cx.time(a(0)).unwrap_or(s.read_timeout)
        }
        "proxy_send_timeout" if cx.shape(c, 1, 1, false) => {
            s.send_timeout = cx.time(a(0)).unwrap_or(s.send_timeout)
        }
        "proxy_next_upstream_tries" if cx.shape(c, 1, 1, false) => {
            s.next_upstream_tries = cx.num(a(0), &a(0).text).unwrap_or(0)
        }
        "proxy_next_upstream_timeout" if cx.shape(c, 1, 1, false) => {
            s.next_upstream_timeout = cx.time(a(0)).unwrap_or(Duration::ZERO)
        }
        "proxy_next_upstream" if cx.shape(c, 1, 12, false) => {
            let mut n = NextUpstream::off();
            for arg in &c.args {
                match arg.text.as_str() {
                    "error" => n.error = true,
                    "timeout" => n.timeout = true,
                    "invalid_header" => n.invalid_header = true,
                    "http_500" => n.http_500 = true,
                    "http_502" => n.http_502 = true,
                    "http_503" => n.http_503 = true,
                    "http_504" => n.http_504 = true,
                    "http_403" => n.http_403 = true,
                    "http_404" => n.http_404 = true,
                    "http_429" => n.http_429 = true,
                    "non_idempotent" => n.non_idempotent = true,
                    "off" => n = NextUpstream::off(),
                    o => cx.err(
                        &arg.span,
                        format!("invalid value \"{o}\" in \"proxy_next_upstream\""),
                    ),
                }
            }
            s.next_upstream = n;
        }
        n if IGNORED.contains(&n) => {}
        "proxy_set_header"
        | "proxy_http_version"
        | "proxy_connect_timeout"
        | "proxy_read_timeout"
        | "proxy_send_timeout"
        | "proxy_next_upstream_tries"
        | "proxy_next_upstream_timeout"
        | "proxy_next_upstream"
        | "client_header_timeout"
        | "keepalive_timeout"
        | "large_client_header_buffers"
        | "listen"
        | "server_name" => {}
        _ => cx.unknown(c, ctx),
    }
}
