//! Request/response header rewriting: hop-by-hop removal (RFC 9110 §7.6.1) and nginx variables.

use crate::config::model::Location;
use crate::config::template::Var;
use http::header::{
    HeaderMap, HeaderName, HeaderValue, CONNECTION, HOST, PROXY_AUTHENTICATE, PROXY_AUTHORIZATION,
    TE, TRAILER, TRANSFER_ENCODING, UPGRADE,
};
use std::net::SocketAddr;

/// Connection-level facts for `$remote_addr`, `$server_port`, ...
#[derive(Debug, Clone, Copy)]
pub struct ConnInfo {
    pub remote: SocketAddr,
    pub local: SocketAddr,
}

/// Request facts captured before the request is consumed.
pub struct ReqVars<'a> {
    pub conn: &'a ConnInfo,
    pub method: &'a str,
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub headers: &'a HeaderMap,
    pub proxy_host: &'a str,
}

impl ReqVars<'_> {
    /// `$host`: Host header without port, lowercased (nginx falls back to server_name; we use the local address).
    fn host(&self, out: &mut String) {
        match self.headers.get(HOST).and_then(|h| h.to_str().ok()) {
            Some(h) => {
                let h = if h.starts_with('[') {
                    h.split_inclusive(']').next().unwrap_or(h)
                } else {
                    h.split(':').next().unwrap_or(h)
                };
                out.extend(h.chars().map(|c| c.to_ascii_lowercase()));
            }
            None => out.push_str(&self.conn.local.ip().to_string()),
        }
    }

    pub fn value(&self, v: &Var, out: &mut String) {
        use std::fmt::Write;
        match v {
            Var::RemoteAddr => {
                let _ = write!(out, "{}", self.conn.remote.ip());
            }
            Var::RemotePort => {
                let _ = write!(out, "{}", self.conn.remote.port());
            }
            Var::ServerAddr => {
                let _ = write!(out, "{}", self.conn.local.ip());
            }
            Var::ServerPort => {
                let _ = write!(out, "{}", self.conn.local.port());
            }
            Var::Host => self.host(out),
            Var::ProxyHost => out.push_str(self.proxy_host),
            Var::ProxyAddXForwardedFor => {
                let prior: Vec<&str> = self
                    .headers
                    .get_all("x-forwarded-for")
                    .iter()
                    .filter_map(|v| v.to_str().ok())
                    .collect();
                for p in prior {
                    out.push_str(p);
                    out.push_str(", ");
                }
                let _ = write!(out, "{}", self.conn.remote.ip());
            }
            Var::RequestUri => {
                out.push_str(self.path);
                if let Some(q) = self.query {
                    out.push('?');
                    out.push_str(q);
                }
            }
            Var::Uri => out.push_str(self.path),
            Var::Args => out.push_str(self.query.unwrap_or("")),
            Var::Scheme => out.push_str("http"),
            Var::RequestMethod => out.push_str(self.method),
            Var::Http(name) => {
                let vals: Vec<&str> = self
                    .headers
                    .get_all(name.as_str())
                    .iter()
                    .filter_map(|v| v.to_str().ok())
                    .collect();
                out.push_str(&vals.join(", "));
            }
            Var::Arg(name) => {
                let found = self.query.unwrap_or("").split('&').find_map(|kv| {
                    let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                    (k == name).then_some(v)
                });
                out.push_str(found.unwrap_or(""));
            }
        }
    }
}

/// Removes hop-by-hop headers: those named in `Connection`, plus the fixed list. `Upgrade` is
/// kept when the caller is relaying an upgrade handshake.
pub fn strip_hop_by_hop(h: &mut HeaderMap, keep_upgrade: bool) {
    // Fast path: most messages carry none of these; one scan of a few headers is cheaper than
    // nine hashed removals per message.
    if !h
        .keys()
        .any(|k| is_hop_by_hop(k) && !(keep_upgrade && k == UPGRADE))
    {
        return;
    }
    let listed: Vec<HeaderName> = h
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .filter(|n| !(keep_upgrade && n == UPGRADE))
        .collect();
    for n in listed {
        h.remove(n);
    }
    for n in [
        CONNECTION,
        TE,
        TRAILER,
        TRANSFER_ENCODING,
        PROXY_AUTHENTICATE,
        PROXY_AUTHORIZATION,
    ] {
        h.remove(n);
    }
    h.remove(KEEP_ALIVE);
    h.remove(PROXY_CONNECTION);
    if !keep_upgrade {
        h.remove(UPGRADE);
    }
}

const KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");
const PROXY_CONNECTION: HeaderName = HeaderName::from_static("proxy-connection");

fn is_hop_by_hop(k: &HeaderName) -> bool {
    k == CONNECTION
        || k == TE
        || k == TRAILER
        || k == TRANSFER_ENCODING
        || k == UPGRADE
        || k == PROXY_AUTHENTICATE
        || k == PROXY_AUTHORIZATION
        || k == KEEP_ALIVE
        || k == PROXY_CONNECTION
}

/// True for a client asking to switch protocols (WebSocket): `Connection: upgrade` + `Upgrade`.
pub fn wants_upgrade(h: &HeaderMap) -> bool {
    h.contains_key(UPGRADE)
        && h.get_all(CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| {
                v.split(',')
                    .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
            })
}

/// Builds upstream request headers: client headers minus hop-by-hop, `Host: $proxy_host` (nginx
/// default), then `proxy_set_header` values (an empty value removes the header, as in nginx).
pub fn upstream_headers(
    h: HeaderMap,
    loc: &Location,
    vars: &ReqVars<'_>,
    upgrade: bool,
    pooled: bool,
) -> HeaderMap {
    let rendered = render_set_headers(loc, vars);
    finish_headers(h, rendered, vars.proxy_host, upgrade, pooled)
}

/// `proxy_set_header` values for this request; computed while the client headers are still
/// borrowed, so the header map itself can then be moved (not cloned) into the upstream request.
pub fn render_set_headers<'l>(loc: &'l Location, vars: &ReqVars<'_>) -> Vec<(&'l str, String)> {
    loc.set_headers
        .iter()
        .map(|(name, t)| {
            let mut s = String::new();
            t.render(&mut s, |v, o| vars.value(v, o));
            (name.as_str(), s)
        })
        .collect()
}

pub fn finish_headers(
    mut h: HeaderMap,
    rendered: Vec<(&str, String)>,
    proxy_host: &str,
    upgrade: bool,
    pooled: bool,
) -> HeaderMap {
    strip_hop_by_hop(&mut h, upgrade);
    if let Ok(v) = HeaderValue::from_str(proxy_host) {
        h.insert(HOST, v);
    }
    if upgrade {
        h.insert(CONNECTION, HeaderValue::from_static("upgrade"));
    } else if !pooled {
        h.insert(CONNECTION, HeaderValue::from_static("close"));
    }
    for (name, value) in rendered {
        let Ok(n) = HeaderName::from_bytes(name.as_bytes()) else {
            continue;
        };
        if upgrade && (n == CONNECTION || n == UPGRADE) {
            continue;
        }
        if value.is_empty() {
            h.remove(n);
        } else if let Ok(v) = HeaderValue::from_str(&value) {
            h.insert(n, v);
        }
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::template::Template;

    fn loc(set: &[(&str, &str)]) -> Location {
        let cfg = crate::config::check_str(
            "t",
            "http { server { listen 1; location / { proxy_pass http://127.0.0.1:9; } } }",
        );
        let mut l = cfg
            .ok()
            .and_then(|c| c.http)
            .map(|h| h.servers[0].locations[0].clone())
            .unwrap_or_else(|| unreachable!());
        l.set_headers = set
            .iter()
            .map(|(n, v)| (n.to_string(), Template::parse(v).unwrap_or_default()))
            .collect();
        l
    }

    fn map(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (n, v) in pairs {
            h.append(*n, HeaderValue::from_static(v));
        }
        h
    }

    fn conn() -> ConnInfo {
        ConnInfo {
            remote: "10.1.2.3:5555".parse().unwrap_or_else(|_| unreachable!()),
            local: "127.0.0.1:80".parse().unwrap_or_else(|_| unreachable!()),
        }
    }

    #[test]
    fn connection_listed_and_fixed_hop_by_hop_headers_are_removed() {
        let mut h = map(&[
            ("connection", "keep-alive, x-secret"),
            ("x-secret", "1"),
            ("keep-alive", "t=5"),
            ("te", "trailers"),
            ("upgrade", "h2c"),
            ("proxy-authorization", "x"),
            ("x-ok", "1"),
        ]);
        strip_hop_by_hop(&mut h, false);
        let names: Vec<&str> = h.keys().map(|k| k.as_str()).collect();
        assert_eq!(names, vec!["x-ok"]);
    }

    #[test]
    fn upgrade_is_kept_only_when_relaying_an_upgrade() {
        let mut h = map(&[("connection", "Upgrade"), ("upgrade", "websocket")]);
        assert!(wants_upgrade(&h));
        strip_hop_by_hop(&mut h, true);
        assert!(h.contains_key(UPGRADE));
    }

    #[test]
    fn default_host_is_proxy_host_and_connection_close_without_pooling() {
        let c = conn();
        let h = map(&[("host", "example.com")]);
        let vars = ReqVars {
            conn: &c,
            method: "GET",
            path: "/",
            query: None,
            headers: &h,
            proxy_host: "backend",
        };
        let out = upstream_headers(h.clone(), &loc(&[]), &vars, false, false);
        assert_eq!(out.get(HOST).map(|v| v.as_bytes()), Some(&b"backend"[..]));
        assert_eq!(
            out.get(CONNECTION).map(|v| v.as_bytes()),
            Some(&b"close"[..])
        );
    }

    #[test]
    fn set_headers_render_variables_and_empty_values_remove() {
        let c = conn();
        let h = map(&[
            ("host", "Example.com:8080"),
            ("x-forwarded-for", "1.1.1.1"),
            ("accept-encoding", "gzip"),
        ]);
        let vars = ReqVars {
            conn: &c,
            method: "GET",
            path: "/a",
            query: Some("b=1"),
            headers: &h,
            proxy_host: "u",
        };
        let l = loc(&[
            ("host", "$host"),
            ("x-forwarded-for", "$proxy_add_x_forwarded_for"),
            ("x-uri", "$request_uri $arg_b"),
            ("accept-encoding", ""),
            ("connection", ""),
        ]);
        let out = upstream_headers(h.clone(), &l, &vars, false, true);
        assert_eq!(
            out.get(HOST).map(|v| v.as_bytes()),
            Some(&b"example.com"[..])
        );
        assert_eq!(
            out.get("x-forwarded-for").map(|v| v.as_bytes()),
            Some(&b"1.1.1.1, 10.1.2.3"[..])
        );
        assert_eq!(
            out.get("x-uri").map(|v| v.as_bytes()),
            Some(&b"/a?b=1 1"[..])
        );
        assert!(!out.contains_key("accept-encoding"));
        assert!(!out.contains_key(CONNECTION));
    }
}
