//! The fuzz targets' bodies, shared with the normal test suite: `fuzz_targets/*.rs` call these
//! under libFuzzer and `tests/fuzz_seeds.rs` replays every committed seed and regression
//! (`fuzz/seeds/<target>/*`) through the same functions, so a fixed finding stays fixed in
//! plain `cargo test`. Only drift-proxy's public API is used (this file is compiled into both).
//!
//! Drift's own HTTP code: the fast path's request-head parsing and classification, virtual-server
//! and location choice by Host and path, hop-by-hop removal, `$variable` expansion for
//! `proxy_set_header` and `hash` keys (X-Forwarded-For building included), the upstream URI
//! rewrite and the balancer's use of the key. `http_head` drives those functions with heads
//! hyper would accept; `http_conn` pushes raw bytes through a client connection served exactly
//! as the proxy serves one (fast path, handing over to hyper) over an in-memory stream.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use drift_proxy::balance::{Attempt, Key};
use drift_proxy::config::template::Var;
use drift_proxy::config::{self, ProxyConfig};
use drift_proxy::http::headers::{
    finish_headers, render_set_headers, wants_upgrade, ConnInfo, Fields, ReqVars,
};
use drift_proxy::http::pool::Pool;
use drift_proxy::http::route::{upstream_path, Router, Site};
use drift_proxy::upstream::Upstream;
use http::header::{HeaderMap, HeaderName, HeaderValue, CONNECTION, HOST, UPGRADE};
use http::{Method, Uri};

/// Random words land where host names go; never let them become DNS queries.
fn no_dns() {
    config::ctx::RESOLVE_NAMES.store(false, std::sync::atomic::Ordering::Relaxed);
}

/// The nginx config subset on arbitrary text. Properties: no panic; a rejected config carries at
/// least one diagnostic and they render; an accepted one can be turned into the running proxy's
/// routers and balancers (what `Proxy::start` builds before binding) without a panic.
pub fn nginx_config(data: &[u8]) {
    no_dns();
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match config::check_str("fuzz.conf", text) {
        Ok(cfg) => {
            let _ = routers(&cfg);
        }
        Err(diags) => {
            assert!(!diags.is_empty(), "rejected without a diagnostic");
            let _ = config::render_all(&diags);
        }
    }
}

/// Per listen address, the router `Shared::spawn_listeners` would build (same construction).
pub fn routers(cfg: &ProxyConfig) -> Vec<Router> {
    let Some(h) = &cfg.http else {
        return Vec::new();
    };
    let (events, _) = tokio::sync::broadcast::channel(4);
    let ups: Vec<Arc<Upstream>> = h
        .upstreams
        .iter()
        .map(|u| Upstream::new(u, events.clone()))
        .collect();
    let pools: Vec<Arc<Pool>> = ups
        .iter()
        .map(|u| Arc::new(Pool::new(u.servers.len(), u.keepalive)))
        .collect();
    let mut by_addr: std::collections::BTreeMap<SocketAddr, Vec<Site>> = Default::default();
    for s in &h.servers {
        for a in &s.listen {
            let site = Site::new(s, &ups, &pools);
            let sites = by_addr.entry(*a).or_default();
            if s.default_for.contains(a) {
                sites.insert(0, site);
            } else {
                sites.push(site);
            }
        }
    }
    let limits = drift_proxy::http::ClientLimits {
        header_read_timeout: h.client_header_timeout,
        max_header_bytes: h.max_header_bytes,
    };
    by_addr
        .into_values()
        .map(|sites| Router {
            sites,
            limits: limits.clone(),
        })
        .collect()
}

/// A front end using every request-derived variable, every balancer that reads a request key,
/// both location kinds, a URI rewrite and wildcard server names. The upstreams are closed ports
/// on loopback, so a proxied request ends in a fast 502 (the target is the client side).
pub const CONF: &str = r#"
http {
    client_header_timeout 2s;
    large_client_header_buffers 4 8k;
    upstream app {
        hash $request_uri$http_x_key$arg_id consistent;
        server 127.0.0.1:1;
        server 127.0.0.1:2 weight=3;
        keepalive 4;
    }
    upstream plain {
        hash $host$uri$args;
        server 127.0.0.1:3;
        server 127.0.0.1:4 max_fails=0;
        keepalive 4;
    }
    upstream ip {
        ip_hash;
        server 127.0.0.1:5;
    }
    upstream rr {
        server 127.0.0.1:6;
        server 127.0.0.1:7 backup;
        keepalive 4;
    }
    server {
        listen 127.0.0.1:1;
        server_name example.com *.example.org www.*;
        location / {
            proxy_pass http://app;
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Real-IP $remote_addr:$remote_port;
            proxy_set_header X-Req "$request_method $scheme://$host:$server_port$request_uri";
            proxy_set_header X-Parts "${uri}|${args}|$arg_q|$http_user_agent|$server_addr";
            proxy_set_header X-Proxy $proxy_host;
        }
        location /api/ {
            proxy_pass http://plain/v2/;
            proxy_set_header Connection "";
        }
        location = /exact {
            proxy_pass http://ip/other;
        }
        location /ws {
            proxy_pass http://rr;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection "upgrade";
        }
    }
    server {
        listen 127.0.0.1:1;
        server_name other.test;
        location / {
            proxy_pass http://rr;
        }
    }
}
"#;

fn router() -> &'static Arc<Router> {
    static R: OnceLock<Arc<Router>> = OnceLock::new();
    R.get_or_init(|| {
        no_dns();
        let cfg = config::check_str("fuzz-front.conf", CONF)
            .unwrap_or_else(|d| panic!("fuzz front config: {}", config::render_all(&d)));
        Arc::new(routers(&cfg).pop().unwrap_or_else(|| panic!("no router")))
    })
}

fn conn_info(selector: u8) -> ConnInfo {
    let remote: SocketAddr = if selector & 1 == 0 {
        "192.0.2.7:40000".parse().unwrap_or_else(|_| unreachable!())
    } else {
        "[2001:db8::7]:40000"
            .parse()
            .unwrap_or_else(|_| unreachable!())
    };
    ConnInfo {
        remote,
        local: "127.0.0.1:1".parse().unwrap_or_else(|_| unreachable!()),
    }
}

/// hyper's default limit on the number of request headers.
const MAX_HEADERS: usize = 100;

/// A request head from bytes, keeping only what hyper would hand to the service: a method and
/// a URI that parse, header names and values `http` accepts (values may hold obs-text, as in
/// hyper), at most [`MAX_HEADERS`]. First byte: connection facts (IPv4 or IPv6 client).
pub fn http_head(data: &[u8]) {
    let Some((&sel, data)) = data.split_first() else {
        return;
    };
    let mut lines = data
        .split(|b| *b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let Some(first) = lines.next() else { return };
    let mut words = first.split(|b| *b == b' ');
    let (Some(m), Some(u)) = (words.next(), words.next()) else {
        return;
    };
    let (Ok(method), Ok(uri)) = (Method::from_bytes(m), Uri::try_from(u)) else {
        return;
    };
    let mut headers = HeaderMap::new();
    for l in lines.take(MAX_HEADERS) {
        let Some(colon) = l.iter().position(|b| *b == b':') else {
            continue;
        };
        let (n, v) = (&l[..colon], l[colon + 1..].trim_ascii());
        if let (Ok(n), Ok(v)) = (HeaderName::from_bytes(n), HeaderValue::from_bytes(v)) {
            headers.append(n, v);
        }
    }
    head(&method, &uri, headers, &conn_info(sel));
}

/// Mirrors `proxy::handle` up to the upstream request (routing, variables, key, balancer,
/// target URI, headers) and checks what it produces.
fn head(method: &Method, uri: &Uri, headers: HeaderMap, conn: &ConnInfo) {
    let host = headers
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .or(uri.host());
    let Some(route) = router().site(host).and_then(|s| s.find(uri.path())) else {
        return;
    };
    let upgrade = wants_upgrade(&headers);
    let (path, query) = (uri.path(), uri.query());
    let vars = ReqVars {
        conn,
        method: method.as_str(),
        path,
        query,
        headers: Fields::Map(&headers),
        proxy_host: &route.loc.proxy_host,
    };
    // Every variable a config could name, the client-chosen ones included.
    let mut s = String::new();
    for v in every_var(&headers, query) {
        s.clear();
        vars.value(&v, &mut s);
    }
    s.clear();
    vars.value(&Var::ProxyAddXForwardedFor, &mut s);
    assert!(
        s.ends_with(&conn.remote.ip().to_string()),
        "X-Forwarded-For {s:?} does not end with the client"
    );
    let up = &route.upstream;
    let key_buf = vars.hash_key(up.hash_key.as_ref());
    let key = Key {
        client_ip: Some(conn.remote.ip()),
        hash: key_buf.as_bytes(),
    };
    let mut at = Attempt::default();
    drop(up.acquire(&key, &mut at));
    let pooled = route.pool.enabled() && !upgrade;
    let rendered = render_set_headers(&route.set, &vars);
    let set: Vec<HeaderName> = route
        .loc
        .set_headers
        .iter()
        .filter_map(|(n, _)| HeaderName::from_bytes(n.as_bytes()).ok())
        .collect();
    let _target = match (&route.loc.uri, uri.path_and_query()) {
        (None, Some(pq)) => Ok(Uri::from(pq.clone())),
        _ => upstream_path(&route.loc, path, query).parse::<Uri>(),
    };
    let listed: Vec<HeaderName> = headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .collect();
    let out = finish_headers(headers.clone(), &route.set, rendered, upgrade, pooled);
    // RFC 9110 §7.6.1: nothing hop-by-hop from the client reaches the upstream, except what the
    // proxy itself sets (Host, Connection, proxy_set_header) and Upgrade on an upgrade.
    let ours = |n: &HeaderName| n == HOST || n == CONNECTION || set.contains(n);
    for n in listed.iter().chain(&hop_by_hop()) {
        if ours(n) || (upgrade && n == UPGRADE) {
            continue;
        }
        assert!(!out.contains_key(n), "hop-by-hop {n} passed upstream");
    }
    if !set.contains(&HOST) {
        assert_eq!(
            out.get(HOST).and_then(|v| v.to_str().ok()),
            Some(route.loc.proxy_host.as_str())
        );
    }
}

fn hop_by_hop() -> [HeaderName; 9] {
    [
        CONNECTION,
        http::header::TE,
        http::header::TRAILER,
        http::header::TRANSFER_ENCODING,
        UPGRADE,
        http::header::PROXY_AUTHENTICATE,
        http::header::PROXY_AUTHORIZATION,
        HeaderName::from_static("keep-alive"),
        HeaderName::from_static("proxy-connection"),
    ]
}

/// The fixed variables plus `$http_<name>` for each header sent and `$arg_<name>` for each
/// query argument (and an invalid header name, which must read as empty).
fn every_var(h: &HeaderMap, query: Option<&str>) -> Vec<Var> {
    let mut v = vec![
        Var::RemoteAddr,
        Var::RemotePort,
        Var::Host,
        Var::ProxyHost,
        Var::ProxyAddXForwardedFor,
        Var::RequestUri,
        Var::Uri,
        Var::Args,
        Var::Scheme,
        Var::ServerPort,
        Var::ServerAddr,
        Var::RequestMethod,
        Var::Http("bad name\u{7f}".into()),
        Var::Arg(String::new()),
    ];
    v.extend(h.keys().map(|k| Var::Http(k.as_str().to_string())));
    for kv in query.unwrap_or("").split('&') {
        v.push(Var::Arg(kv.split('=').next().unwrap_or(kv).to_string()));
    }
    v
}

/// Raw bytes from a client through a client connection served as `http::serve` serves it (the
/// fast path, handing over to hyper for what it leaves), over an in-memory duplex stream; the client
/// half-closes after writing. Properties: no panic; the connection finishes (no hang); whatever
/// comes back is HTTP/1.x responses.
pub fn http_conn(data: &[u8]) {
    let Some((&sel, data)) = data.split_first() else {
        return;
    };
    let rt = runtime();
    let conn = conn_info(sel);
    let reply = rt.block_on(async {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (mut client, server) = tokio::io::duplex(64 * 1024);
        let (_keep, routes) = tokio::sync::watch::channel(Arc::clone(router()));
        let serve = tokio::spawn(drift_proxy::http::fast::serve_conn(server, conn, routes));
        let mut reply = Vec::new();
        let io = async {
            let _ = client.write_all(data).await;
            let _ = client.shutdown().await;
            let _ = client.read_to_end(&mut reply).await;
        };
        let done = tokio::time::timeout(Duration::from_secs(10), async {
            io.await;
            let _ = serve.await;
        })
        .await;
        assert!(done.is_ok(), "connection did not finish within 10 s");
        reply
    });
    if !reply.is_empty() {
        assert!(
            reply.starts_with(b"HTTP/1."),
            "not an HTTP response: {:?}",
            String::from_utf8_lossy(&reply[..reply.len().min(64)])
        );
    }
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("runtime: {e}"))
    })
}

/// An upstream's bytes as the fast path reads them: the response head (1xx skipped) rewritten
/// for the client, then a chunked body's end found by the scanner. First byte: request was HEAD
/// (bit 0), client closes (bit 1), where to split the body (rest). Properties: no panic; a head
/// that parses is rewritten into a valid HTTP/1.1 head with at most one framing field and no
/// hop-by-hop field; the chunk scanner finds the same end however the body is split.
pub fn http_response(data: &[u8]) {
    use drift_proxy::http::fast::chunked::ChunkScanner;
    use drift_proxy::http::fast::response::{parse, Framing, RespParsed};
    let Some((&sel, mut buf)) = data.split_first() else {
        return;
    };
    let mut out = Vec::new();
    let head = loop {
        out.clear();
        match parse(buf, sel & 1 != 0, sel & 2 != 0, &mut out) {
            RespParsed::Interim(n) => {
                assert!(
                    n > 0 && n <= buf.len(),
                    "interim length {n} of {}",
                    buf.len()
                );
                buf = &buf[n..];
            }
            RespParsed::Ready(h) => break h,
            RespParsed::Partial | RespParsed::Bad => return,
        }
    };
    assert!(head.len <= buf.len());
    let mut fields = [httparse::EMPTY_HEADER; 300];
    let mut resp = httparse::Response::new(&mut fields);
    let n = match resp.parse(&out) {
        Ok(httparse::Status::Complete(n)) => n,
        other => panic!(
            "rewritten head does not parse: {other:?} {:?}",
            String::from_utf8_lossy(&out)
        ),
    };
    assert_eq!(n, out.len(), "one head, nothing after it");
    assert_eq!(resp.version, Some(1));
    let count = |name: &str| {
        resp.headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case(name))
            .count()
    };
    assert!(
        count("content-length") + count("transfer-encoding") <= 1,
        "{:?}",
        String::from_utf8_lossy(&out)
    );
    for hop in [
        "connection",
        "keep-alive",
        "te",
        "trailer",
        "upgrade",
        "proxy-connection",
    ] {
        let allowed = usize::from(hop == "connection" && sel & 2 != 0);
        assert!(
            count(hop) <= allowed,
            "{hop} relayed: {:?}",
            String::from_utf8_lossy(&out)
        );
    }
    if head.framing == Framing::Chunked {
        let body = &buf[head.len..];
        let whole = ChunkScanner::default().scan(body);
        let cut = usize::from(sel >> 2).min(body.len());
        let mut s = ChunkScanner::default();
        let split = match s.scan(&body[..cut]) {
            Ok(Some(end)) => Ok(Some(end)),
            Ok(None) => s.scan(&body[cut..]).map(|e| e.map(|e| e + cut)),
            Err(e) => Err(e),
        };
        assert_eq!(whole, split, "split at {cut}");
    }
}
