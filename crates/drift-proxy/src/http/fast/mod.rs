//! The HTTP/1.1 fast path: the common proxied request (origin-form target, no body or a small
//! one with Content-Length, upstream `keepalive` pool, no status-based retries) served from
//! the client connection's own task: the head parsed in place, the upstream request written
//! on a pooled raw socket, the response relayed as it comes. No header map, no channel to a
//! connection task, no per-request buffers.
//!
//! Why: hyper's server + client cost ~31,700 instructions per proxied request against
//! nginx's ~18,300 (callgrind, `bench/instructions.sh`); most of it building header maps
//! twice and handing each request to the client connection's task.
//!
//! Anything else hands the connection to hyper for the rest of its life, bytes already read
//! included ([`Prefixed`]): upgrades, chunked or large request bodies, `Expect`, HTTP/1.0,
//! malformed or oversized heads (hyper answers 400/431 as before), locations without an
//! upstream pool or with `proxy_next_upstream http_*`.

mod batch;
pub mod chunked;
mod date;
mod deadline;
mod exchange;
mod head;
mod names;
pub(crate) mod pipeline;
pub mod response;

pub use head::MAX_FIELDS;

use super::body::REPLAYABLE_BODY_MAX;
use super::headers::{render_set_headers, span, ConnInfo, Field, Fields, ReqVars};
use super::prefixed::Prefixed;
use super::proxy::{error_page, idempotent_method};
use super::retry::{verdict, Budget};
use super::route::{upstream_path, Route, Router};
use crate::balance::{Attempt, Key};
use bytes::{Buf, BytesMut};
use exchange::{attempt, Req};
use head::{Parsed, ReqHead};
use http::StatusCode;
use names::is_hop;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::watch;

/// Serves one client connection until it closes, on the fast path while requests allow.
pub async fn serve_conn<S>(mut io: S, conn: ConnInfo, router: watch::Receiver<Arc<Router>>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut rbuf = BytesMut::with_capacity(4096);
    let mut fields: Vec<Field> = Vec::new();
    let mut req: Vec<u8> = Vec::new();
    let mut out: Vec<u8> = Vec::new();
    let mut client_timer = deadline::Deadline::new();
    let mut upstream_timer = deadline::Deadline::new();
    loop {
        let r = Arc::clone(&router.borrow());
        // 1. A complete head, within client_header_timeout of starting to wait for it (the
        // idle wait between kept-alive requests included, as on the hyper path).
        let deadline = tokio::time::Instant::now() + r.limits.header_read_timeout;
        let head = loop {
            if !rbuf.is_empty() {
                match head::parse(&rbuf, &mut fields) {
                    Parsed::Ready(h) => break h,
                    Parsed::Partial if rbuf.len() < r.limits.max_header_bytes => {}
                    _ => return hand_over(io, rbuf, conn, router).await,
                }
            }
            if rbuf.capacity() - rbuf.len() < 1024 {
                rbuf.reserve(4096);
            }
            match client_timer
                .run_until(deadline, io.read_buf(&mut rbuf))
                .await
            {
                Some(Ok(n)) if n > 0 => {}
                _ => return,
            }
        };
        // 2. Where it goes; what the fast path does not do goes to hyper.
        let Some(route) = route_of(&r, &rbuf, &head, &fields) else {
            if head.content_length > 0 {
                return hand_over(io, rbuf, conn, router).await;
            }
            rbuf.advance(head.len);
            if !answer(&mut io, &mut out, StatusCode::NOT_FOUND, head.close).await || head.close {
                return;
            }
            continue;
        };
        if !fast_route(&route) || head.content_length > REPLAYABLE_BODY_MAX {
            return hand_over(io, rbuf, conn, router).await;
        }
        // 3. The body (small: it was bounded above), kept for a retry like the hyper path's.
        let total = head.len + head.content_length as usize;
        while rbuf.len() < total {
            rbuf.reserve(total - rbuf.len());
            match io.read_buf(&mut rbuf).await {
                Ok(n) if n > 0 => {}
                _ => return,
            }
        }
        // 4. The upstream request, once for every attempt.
        let (key_buf, resendable) =
            upstream_request(&mut req, &rbuf[..total], &head, &fields, &route, &conn);
        let is_head = head.is_head(&rbuf);
        let pipelinable =
            head.content_length == 0 && (is_head || span(&rbuf, head.method) == b"GET");
        rbuf.advance(total);
        let key = Key {
            client_ip: Some(conn.remote.ip()),
            hash: key_buf.as_bytes(),
        };
        let exchange = Req {
            bytes: &req,
            head: is_head,
            client_close: head.close,
            pipelinable,
        };
        let ok = proxy(
            &route,
            &key,
            &exchange,
            resendable,
            &mut out,
            &mut io,
            &mut upstream_timer,
        )
        .await;
        if !ok || head.close {
            let _ = io.shutdown().await;
            return;
        }
        // A buffer grown by a large request goes back to its usual size.
        if rbuf.capacity() > 64 * 1024 && rbuf.is_empty() {
            rbuf = BytesMut::with_capacity(4096);
        }
    }
}

/// The route of a request, by Host and path.
fn route_of(r: &Router, buf: &[u8], head: &ReqHead, fields: &[Field]) -> Option<Arc<Route>> {
    let target = std::str::from_utf8(span(buf, head.target)).ok()?;
    let path = target.split('?').next().unwrap_or(target);
    let host = Fields::Raw { buf, fields }.first("host");
    r.site(host).and_then(|s| s.find(path)).cloned()
}

/// Locations the fast path serves: pooled upstream connections (without `keepalive` every
/// request gets `Connection: close` and a new connection, which hyper does as well), and no
/// retry on a response status (which needs the whole response held back).
fn fast_route(route: &Route) -> bool {
    route.pool.enabled() && !route.loc.next_upstream.on_status()
}

/// Writes the upstream request into `req`; returns the balancer's hash key and whether the
/// request may be sent twice.
fn upstream_request(
    req: &mut Vec<u8>,
    buf: &[u8],
    head: &ReqHead,
    fields: &[Field],
    route: &Route,
    conn: &ConnInfo,
) -> (String, bool) {
    let method = std::str::from_utf8(span(buf, head.method)).unwrap_or("");
    let target = std::str::from_utf8(span(buf, head.target)).unwrap_or("/");
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (target, None),
    };
    let vars = ReqVars {
        conn,
        method,
        path,
        query,
        headers: Fields::Raw { buf, fields },
        proxy_host: &route.loc.proxy_host,
    };
    let key_buf = vars.hash_key(route.upstream.hash_key.as_ref());
    let rendered = render_set_headers(&route.set, &vars);

    req.clear();
    req.extend_from_slice(method.as_bytes());
    req.push(b' ');
    match &route.loc.uri {
        None => req.extend_from_slice(target.as_bytes()),
        Some(_) => req.extend_from_slice(upstream_path(&route.loc, path, query).as_bytes()),
    }
    req.extend_from_slice(b" HTTP/1.1\r\n");
    // Connection values, for the rare request that names fields in it.
    let mut conn_vals: [&[u8]; 4] = [b""; 4];
    let mut n = 0;
    if head.has_hop {
        for f in fields {
            if span(buf, f.name).eq_ignore_ascii_case(b"connection") && n < conn_vals.len() {
                conn_vals[n] = span(buf, f.value);
                n += 1;
            }
        }
    }
    for f in fields {
        let name = span(buf, f.name);
        if (head.has_hop && is_hop(name, &conn_vals[..n])) || route.set.overrides(name) {
            continue;
        }
        push_field(req, name, span(buf, f.value));
    }
    route
        .set
        .each(&rendered, |n, v| push_field(req, n.as_str().as_bytes(), v));
    req.extend_from_slice(b"\r\n");
    req.extend_from_slice(&buf[head.len..]);
    let resendable = idempotent_method(method) || route.loc.next_upstream.non_idempotent;
    (key_buf, resendable)
}

fn push_field(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// Tries servers per `proxy_next_upstream` like the hyper path; false when the client
/// connection must close (a response could not be relayed whole).
async fn proxy<C: AsyncWrite + Unpin>(
    route: &Route,
    key: &Key<'_>,
    req: &Req<'_>,
    resendable: bool,
    out: &mut Vec<u8>,
    client: &mut C,
    timer: &mut deadline::Deadline,
) -> bool {
    let up = &route.upstream;
    let mut budget = Budget::new(&route.loc);
    let mut at = Attempt::default();
    let mut last = StatusCode::BAD_GATEWAY;
    loop {
        let Some(lease) = up.acquire(key, &mut at) else {
            tracing::debug!(upstream = %up.name, "no live upstreams");
            return answer(client, out, last, req.client_close).await;
        };
        let more = budget.next();
        match attempt(route, lease.idx, lease.addr(), req, out, client, timer).await {
            Ok(r) => return r.client_ok,
            Err(f) => {
                tracing::warn!(upstream = %up.name, server = %lease.addr(), error = %f, "upstream attempt failed");
                let (allowed, status) = verdict(&route.loc.next_upstream, f.kind(), resendable);
                lease.fail();
                if !(allowed && more) {
                    return answer(client, out, status, req.client_close).await;
                }
                last = status;
            }
        }
    }
}

/// The proxy's own response (nginx-style page); false if the client is gone.
async fn answer<C: AsyncWrite + Unpin>(
    client: &mut C,
    out: &mut Vec<u8>,
    status: StatusCode,
    close: bool,
) -> bool {
    use std::io::Write;
    let page = error_page(status);
    out.clear();
    let _ = write!(
        out,
        "HTTP/1.1 {} {}\r\nContent-Type: text/html\r\nContent-Length: {}\r\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or(""),
        page.len()
    );
    date::append(out);
    if close {
        out.extend_from_slice(b"Connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(page.as_bytes());
    let ok = client.write_all(out).await.is_ok();
    out.clear();
    ok
}

/// The rest of the connection goes to hyper, starting with the bytes already read.
async fn hand_over<S>(io: S, rbuf: BytesMut, conn: ConnInfo, router: watch::Receiver<Arc<Router>>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    super::serve_hyper(Prefixed::new(rbuf.freeze(), io), conn, router).await
}
