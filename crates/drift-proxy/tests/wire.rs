//! Byte-level HTTP/1.1 conformance of the reverse proxy: raw TCP on both sides, so these tests
//! pin what goes on the wire (framing, headers, connection handling) towards the client and
//! towards the upstream, whatever HTTP implementation sits in between. They gate any rewrite of
//! the hot path: each asserts observable behaviour only (RFC 9110/9112, nginx where it decides).

mod common;

#[path = "wire/connections.rs"]
mod connections;
#[path = "wire/failures.rs"]
mod failures;
#[path = "wire/headers.rs"]
mod headers;
#[path = "wire/malformed.rs"]
mod malformed;
#[path = "wire/requests.rs"]
mod requests;
#[path = "wire/responses.rs"]
mod responses;

use common::raw::RawBackend;
use drift_proxy::ProxyHandle;
use std::net::SocketAddr;

/// How the proxy talks to the upstream group.
#[derive(Clone, Copy, Debug)]
pub enum Upstream {
    /// The benchmark's setup: `keepalive 16` with HTTP/1.1 and no `Connection` header upstream.
    Pooled,
    /// No `keepalive`: one upstream connection per request (`Connection: close`, like nginx).
    Fresh,
    /// `Pooled` plus drift's `pipeline 8`: a lone request goes the pipelining path's way (it
    /// leads a batch nobody joins), which must look the same on the wire.
    Pipelined,
}

pub const ALL: [Upstream; 3] = [Upstream::Pooled, Upstream::Fresh, Upstream::Pipelined];

/// A proxy on an ephemeral port whose `location /` passes to upstream group `be` (the backend).
pub async fn proxy(be: &RawBackend, up: Upstream, loc_extra: &str) -> (ProxyHandle, SocketAddr) {
    proxy_at(be, up, "/", "http://be", loc_extra).await
}

/// A proxy with one location `loc` whose `proxy_pass` is `pass` (group `be` is the backend).
pub async fn proxy_at(
    be: &RawBackend,
    up: Upstream,
    loc: &str,
    pass: &str,
    loc_extra: &str,
) -> (ProxyHandle, SocketAddr) {
    let (group, pooling) = match up {
        Upstream::Pooled => (
            "keepalive 16;",
            "proxy_http_version 1.1; proxy_set_header Connection \"\";",
        ),
        Upstream::Pipelined => (
            "keepalive 16; pipeline 8;",
            "proxy_http_version 1.1; proxy_set_header Connection \"\";",
        ),
        Upstream::Fresh => ("", ""),
    };
    let conf = format!(
        "http {{ upstream be {{ server {}; {group} }}
           server {{ listen 127.0.0.1:0; location {loc} {{ proxy_pass {pass}; {pooling} {loc_extra} }} }} }}",
        be.addr
    );
    common::start_proxy(&conf).await
}
