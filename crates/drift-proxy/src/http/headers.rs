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

/// One header field of a request head parsed in place by the fast path: byte ranges of the
/// name and value in the connection's read buffer (offsets, so the buffer can still grow while
/// the head is in use).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    pub name: (u32, u32),
    pub value: (u32, u32),
}

/// The client's header fields as either path holds them: hyper's map, or the fast path's
/// spans over its read buffer. Variables and hash keys read both the same way.
#[derive(Clone, Copy)]
pub enum Fields<'a> {
    Map(&'a HeaderMap),
    Raw { buf: &'a [u8], fields: &'a [Field] },
}

impl<'a> Fields<'a> {
    /// Values of every field named `name` (lowercase), in order; values that are not visible
    /// ASCII are skipped, as `HeaderValue::to_str` does.
    pub fn each(&self, name: &str, mut f: impl FnMut(&'a str)) {
        match *self {
            Fields::Map(h) => h
                .get_all(name)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .for_each(f),
            Fields::Raw { buf, fields } => {
                for fl in fields {
                    if span(buf, fl.name).eq_ignore_ascii_case(name.as_bytes()) {
                        if let Some(v) = visible(span(buf, fl.value)) {
                            f(v)
                        }
                    }
                }
            }
        }
    }

    pub fn first(&self, name: &str) -> Option<&'a str> {
        let mut first = None;
        self.each(name, |v| {
            first.get_or_insert(v);
        });
        first
    }
}

/// The bytes of a span; an out-of-range span (impossible for spans made from the same
/// buffer) reads as empty rather than panicking.
pub fn span(buf: &[u8], (a, b): (u32, u32)) -> &[u8] {
    buf.get(a as usize..b as usize).unwrap_or_default()
}

/// `Some` for a value of visible ASCII, spaces and tabs only (what `HeaderValue::to_str`
/// accepts): the same values are usable on both paths.
pub fn visible(v: &[u8]) -> Option<&str> {
    if valid_value(v) && v.is_ascii() {
        std::str::from_utf8(v).ok()
    } else {
        None
    }
}

/// A header value that may be written to the wire: no control characters except tab (so no
/// CR/LF header injection through a rendered `proxy_set_header` value).
pub fn valid_value(v: &[u8]) -> bool {
    v.iter().all(|&b| b == b'\t' || (b >= 0x20 && b != 0x7f))
}

/// Request facts captured before the request is consumed.
pub struct ReqVars<'a> {
    pub conn: &'a ConnInfo,
    pub method: &'a str,
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub headers: Fields<'a>,
    pub proxy_host: &'a str,
}

impl ReqVars<'_> {
    /// The `hash` key of this request for an upstream group (empty without `hash`); the
    /// balancer reads it with the client address (ip_hash).
    pub fn hash_key(&self, key: Option<&crate::config::template::Template>) -> String {
        let mut out = String::new();
        if let Some(t) = key {
            t.render(&mut out, |v, o| self.value(v, o));
        }
        out
    }

    /// `$host`: Host header without port, lowercased (nginx falls back to server_name; we use the local address).
    fn host(&self, out: &mut String) {
        match self.headers.first("host") {
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
                self.headers.each("x-forwarded-for", |p| {
                    out.push_str(p);
                    out.push_str(", ");
                });
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
                let mut sep = "";
                self.headers.each(name, |v| {
                    out.push_str(sep);
                    out.push_str(v);
                    sep = ", ";
                });
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
///
/// Only headers actually present are removed: every upstream response carries `Connection:
/// keep-alive`, and hashing nine absent names per message cost ~2,700 instructions a request
/// (callgrind), 8% of the proxy's user-space work.
pub fn strip_hop_by_hop(h: &mut HeaderMap, keep_upgrade: bool) {
    // One scan notes which of the fixed names are present (comparing standard names is an
    // integer compare); only those are then removed, without collecting anything.
    let mut present = 0u16;
    for k in h.keys() {
        if let Some(i) = hop_index(k.as_str()) {
            present |= 1 << i;
        }
    }
    if keep_upgrade {
        present &= !(1 << UPGRADE_BIT);
    }
    if present == 0 {
        return;
    }
    // Names listed in Connection: the usual tokens (keep-alive, close) name nothing to remove,
    // so a header name is parsed only for other tokens.
    let mut listed: Vec<HeaderName> = Vec::new();
    if present & 1 != 0 {
        for v in h.get_all(CONNECTION).iter().filter_map(|v| v.to_str().ok()) {
            for n in v.split(',').map(str::trim) {
                if n.is_empty()
                    || n.eq_ignore_ascii_case("keep-alive")
                    || n.eq_ignore_ascii_case("close")
                {
                    continue;
                }
                if let Ok(n) = HeaderName::from_bytes(n.as_bytes()) {
                    if !(HOP_BY_HOP.contains(&n) || keep_upgrade && n == UPGRADE) {
                        listed.push(n);
                    }
                }
            }
        }
    }
    for (i, n) in HOP_BY_HOP.iter().enumerate() {
        if present & (1 << i) != 0 {
            h.remove(n);
        }
    }
    for n in listed {
        h.remove(n);
    }
}

/// RFC 9110 §7.6.1 hop-by-hop fields plus the de-facto ones; `Connection` first (bit 0).
static HOP_BY_HOP: [HeaderName; 9] = [
    CONNECTION,
    TE,
    TRAILER,
    TRANSFER_ENCODING,
    UPGRADE,
    PROXY_AUTHENTICATE,
    PROXY_AUTHORIZATION,
    KEEP_ALIVE,
    PROXY_CONNECTION,
];
const UPGRADE_BIT: usize = 4;

/// Position in [`HOP_BY_HOP`] by length first: most names are rejected by one compare.
fn hop_index(k: &str) -> Option<usize> {
    let is = |i: usize| (k == HOP_BY_HOP[i].as_str()).then_some(i);
    match k.len() {
        2 => is(1),
        7 => is(2).or_else(|| is(4)),
        10 => is(0).or_else(|| is(7)),
        16 => is(8),
        17 => is(3),
        18 => is(5),
        19 => is(6),
        _ => None,
    }
}

const KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");
const PROXY_CONNECTION: HeaderName = HeaderName::from_static("proxy-connection");

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
#[cfg(test)]
fn upstream_headers(
    h: HeaderMap,
    loc: &Location,
    vars: &ReqVars<'_>,
    upgrade: bool,
    pooled: bool,
) -> HeaderMap {
    let mut set = SetHeaders::new(loc);
    if set.host.is_some() {
        set.host = HeaderValue::from_str(vars.proxy_host).ok();
    }
    let rendered = render_set_headers(&set, vars);
    finish_headers(h, &set, rendered, upgrade, pooled)
}

/// A location's `proxy_set_header` list and `Host` value, parsed once (per worker and
/// reload) instead of per request: header names, and the values that use no variable.
pub struct SetHeaders {
    /// `Host: $proxy_host` (nginx's default), unless the list sets Host itself.
    host: Option<HeaderValue>,
    list: Vec<(HeaderName, SetValue)>,
}

enum SetValue {
    /// An empty value: nginx removes the header.
    Remove,
    Fixed(HeaderValue),
    Template(crate::config::template::Template),
}

static HOST_NAME: HeaderName = HOST;

impl SetHeaders {
    pub fn new(loc: &Location) -> SetHeaders {
        use crate::config::template::Part;
        let list: Vec<(HeaderName, SetValue)> = loc
            .set_headers
            .iter()
            .filter_map(|(name, t)| {
                let n = HeaderName::from_bytes(name.as_bytes()).ok()?;
                let literal: Option<String> = t
                    .parts
                    .iter()
                    .map(|p| match p {
                        Part::Lit(s) => Some(s.as_str()),
                        Part::Var(_) => None,
                    })
                    .collect();
                let v = match literal {
                    Some(s) if s.is_empty() => SetValue::Remove,
                    Some(s) => SetValue::Fixed(HeaderValue::from_str(&s).ok()?),
                    None => SetValue::Template(t.clone()),
                };
                Some((n, v))
            })
            .collect();
        let host = if list.iter().any(|(n, _)| n == HOST) {
            None
        } else {
            HeaderValue::from_str(&loc.proxy_host).ok()
        };
        SetHeaders { host, list }
    }

    /// True when this location sends its own value for the client header `name` (or removes
    /// it), so the client's value is not forwarded.
    pub fn overrides(&self, name: &[u8]) -> bool {
        (self.host.is_some() && name.eq_ignore_ascii_case(b"host"))
            || self
                .list
                .iter()
                .any(|(n, _)| name.eq_ignore_ascii_case(n.as_str().as_bytes()))
    }

    /// Every header this location sends, in order, with this request's rendered values (from
    /// [`render_set_headers`]); removed, empty and unwritable values are skipped.
    pub fn each<'s>(&'s self, rendered: &'s [String], mut f: impl FnMut(&'s HeaderName, &'s [u8])) {
        if let Some(v) = &self.host {
            f(&HOST_NAME, v.as_bytes());
        }
        let mut rendered = rendered.iter();
        for (n, v) in &self.list {
            let value = match v {
                SetValue::Remove => continue,
                SetValue::Fixed(v) => v.as_bytes(),
                SetValue::Template(_) => match rendered.next() {
                    Some(s) if !s.is_empty() && valid_value(s.as_bytes()) => s.as_bytes(),
                    _ => continue,
                },
            };
            f(n, value);
        }
    }
}

/// `proxy_set_header` values for this request that use variables; computed while the client
/// headers are still borrowed, so the header map itself can then be moved (not cloned) into
/// the upstream request. Empty (no allocation) when every value is fixed.
pub fn render_set_headers(set: &SetHeaders, vars: &ReqVars<'_>) -> Vec<String> {
    set.list
        .iter()
        .filter_map(|(_, v)| match v {
            SetValue::Template(t) => {
                let mut s = String::new();
                t.render(&mut s, |v, o| vars.value(v, o));
                Some(s)
            }
            _ => None,
        })
        .collect()
}

/// The upstream request's headers on the hyper path: the client's minus hop-by-hop and minus
/// what the location sets, then the location's own (the fast path writes the same set from
/// [`SetHeaders::overrides`] and [`SetHeaders::each`]).
pub fn finish_headers(
    mut h: HeaderMap,
    set: &SetHeaders,
    rendered: Vec<String>,
    upgrade: bool,
    pooled: bool,
) -> HeaderMap {
    strip_hop_by_hop(&mut h, upgrade);
    if set.host.is_some() {
        h.remove(HOST);
    }
    if upgrade {
        h.insert(CONNECTION, HeaderValue::from_static("upgrade"));
    } else if !pooled {
        h.insert(CONNECTION, HeaderValue::from_static("close"));
    }
    // On an upgrade the handshake's own Connection/Upgrade win over proxy_set_header.
    let kept = |n: &HeaderName| upgrade && (n == CONNECTION || n == UPGRADE);
    for (n, _) in &set.list {
        if !kept(n) {
            h.remove(n);
        }
    }
    set.each(&rendered, |n, v| {
        if !kept(n) {
            if let Ok(v) = HeaderValue::from_bytes(v) {
                h.append(n.clone(), v);
            }
        }
    });
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
    fn every_hop_by_hop_name_is_found_by_its_index() {
        for (i, n) in HOP_BY_HOP.iter().enumerate() {
            assert_eq!(hop_index(n.as_str()), Some(i), "{n}");
        }
        assert_eq!(hop_index("content-type"), None);
        assert_eq!(hop_index("x-upgrade"), None);
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
            headers: Fields::Map(&h),
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
            headers: Fields::Map(&h),
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
