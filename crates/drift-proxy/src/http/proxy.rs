//! One client request: route, pick a server, send, retry per `proxy_next_upstream`, relay.

use super::body::{BoxError, PoolSlot, ReqBody, RespBody, REPLAYABLE_BODY_MAX};
use super::headers::{
    finish_headers, render_set_headers, strip_hop_by_hop, wants_upgrade, ConnInfo, Fields, ReqVars,
};
use super::pool::{connect, ConnectError, Sender};
use super::retry::{verdict, Budget, FailKind};
use super::route::{upstream_path, Route, Router};
use super::upgrade::relay_upgrade;
use crate::balance::{Attempt, Key};
use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode, Uri, Version};
use http_body_util::{combinators::BoxBody, BodyExt, Full};
use hyper::body::Incoming;
use std::convert::Infallible;
use std::sync::Arc;

pub type ProxyBody = BoxBody<Bytes, BoxError>;

/// nginx-style error page, so clients and monitoring see familiar bodies.
pub fn error_page(status: StatusCode) -> String {
    let reason = status.canonical_reason().unwrap_or("");
    format!("<html>\r\n<head><title>{0} {1}</title></head>\r\n<body>\r\n<center><h1>{0} {1}</h1></center>\r\n<hr><center>drift</center>\r\n</body>\r\n</html>\r\n", status.as_u16(), reason)
}

pub fn error_response(status: StatusCode) -> Response<ProxyBody> {
    let body = error_page(status);
    let mut r = Response::new(Full::new(Bytes::from(body)).map_err(|e| match e {}).boxed());
    *r.status_mut() = status;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/html"),
    );
    r
}

/// RFC 9110 §9.2.2 methods that are not idempotent; nginx never resends these unless
/// `proxy_next_upstream non_idempotent` is set.
pub fn idempotent_method(m: &str) -> bool {
    !matches!(m, "POST" | "PATCH" | "LOCK")
}

enum Src {
    Replay(Option<Bytes>),
    Stream(Option<Incoming>),
}

impl Src {
    fn body(&mut self) -> Option<ReqBody> {
        match self {
            Src::Replay(None) => Some(ReqBody::Empty),
            Src::Replay(Some(b)) => Some(ReqBody::Full(Some(b.clone()))),
            Src::Stream(s) => s.take().map(ReqBody::Stream),
        }
    }
    fn replayable(&self) -> bool {
        matches!(self, Src::Replay(_))
    }
}

enum Failure {
    /// Nothing was sent: always safe to try another server.
    Connect(ConnectError),
    /// A streamed request body was consumed by an earlier attempt: cannot resend.
    BodyGone,
    Timeout,
    Error(hyper::Error),
}

pub async fn handle(
    mut req: Request<Incoming>,
    conn: ConnInfo,
    router: Arc<Router>,
) -> Result<Response<ProxyBody>, Infallible> {
    // RFC 9112 §3.2: an HTTP/1.1 request carries exactly one Host (nginx: 400 "client sent
    // duplicate host header" / "no host"); two could route by one name and serve the other.
    if req.version() == Version::HTTP_11
        && req.headers().get_all(http::header::HOST).iter().count() != 1
    {
        let mut r = error_response(StatusCode::BAD_REQUEST);
        // A request this broken ends the connection, as nginx's 400s do.
        r.headers_mut().insert(
            http::header::CONNECTION,
            http::HeaderValue::from_static("close"),
        );
        return Ok(r);
    }
    let host = req
        .headers()
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .or(req.uri().host());
    let Some(route) = router
        .site(host)
        .and_then(|s| s.find(req.uri().path()))
        .cloned()
    else {
        return Ok(error_response(StatusCode::NOT_FOUND));
    };
    let upgrade = wants_upgrade(req.headers());
    let client_upgrade = upgrade.then(|| hyper::upgrade::on(&mut req));
    let (parts, body) = req.into_parts();
    let path = parts.uri.path();
    let query = parts.uri.query();
    let vars = ReqVars {
        conn: &conn,
        method: parts.method.as_str(),
        path,
        query,
        headers: Fields::Map(&parts.headers),
        proxy_host: &route.loc.proxy_host,
    };
    let up = &route.upstream;
    let key_buf = vars.hash_key(up.hash_key.as_ref());
    let key = Key {
        client_ip: Some(conn.remote.ip()),
        hash: key_buf.as_bytes(),
    };
    let pooled = route.pool.enabled() && !upgrade;
    let rendered = render_set_headers(&route.set, &vars);
    let target = match (&route.loc.uri, parts.uri.path_and_query()) {
        // Common case: the URI passes unchanged; reuse its bytes instead of re-parsing.
        (None, Some(pq)) => Uri::from(pq.clone()),
        _ => match upstream_path(&route.loc, path, query).parse::<Uri>() {
            Ok(u) => u,
            Err(_) => return Ok(error_response(StatusCode::BAD_REQUEST)),
        },
    };
    let headers = finish_headers(parts.headers, &route.set, rendered, upgrade, pooled);
    let method = parts.method;

    let mut src = match request_body(body).await {
        Ok(s) => s,
        Err(status) => return Ok(error_response(status)),
    };
    let may_resend = idempotent_method(method.as_str()) || route.loc.next_upstream.non_idempotent;
    let next = route.loc.next_upstream;
    let mut budget = Budget::new(&route.loc);
    let mut at = Attempt::default();
    let mut fallback: Option<Response<ProxyBody>> = None;

    loop {
        let Some(lease) = up.acquire(&key, &mut at) else {
            tracing::debug!(upstream = %up.name, "no live upstreams");
            return Ok(fallback.unwrap_or_else(|| error_response(StatusCode::BAD_GATEWAY)));
        };
        let more = budget.next();
        let head = Head {
            method: &method,
            uri: &target,
            headers: &headers,
        };
        match send(&route, lease.idx, lease.addr(), &head, &mut src, upgrade).await {
            Ok((resp, sender)) => {
                let status = resp.status().as_u16();
                if next.retries_status(status) && more && may_resend && src.replayable() {
                    // nginx counts 5xx/429 (not 403/404) as failed attempts for max_fails.
                    if matches!(status, 500 | 502 | 503 | 504 | 429) {
                        lease.fail();
                    } else {
                        drop(lease);
                    }
                    fallback = Some(relay(resp, None, &route, upgrade));
                    continue;
                }
                if status == 101 {
                    if let (Some(client), true) = (client_upgrade, upgrade) {
                        return Ok(relay_upgrade(resp, client, lease));
                    }
                    return Ok(error_response(StatusCode::BAD_GATEWAY));
                }
                let slot = sender
                    .filter(|_| route.pool.enabled())
                    .map(|sender| PoolSlot {
                        pool: Arc::clone(&route.pool),
                        idx: lease.idx,
                        sender,
                    });
                return Ok(relay(resp, Some((lease, slot)), &route, false));
            }
            Err(Failure::BodyGone) => {
                // The server is not at fault: a streamed body cannot be sent a second time.
                return Ok(fallback.unwrap_or_else(|| error_response(StatusCode::BAD_GATEWAY)));
            }
            Err(f) => {
                let kind = match &f {
                    Failure::Connect(ConnectError::Timeout(..)) => FailKind::ConnectTimeout,
                    Failure::Connect(_) => FailKind::Connect,
                    Failure::Timeout => FailKind::Timeout,
                    Failure::Error(_) | Failure::BodyGone => FailKind::Error,
                };
                let (allowed, status) = verdict(&next, kind, may_resend && src.replayable());
                match &f {
                    Failure::Connect(e) => {
                        tracing::warn!(upstream = %up.name, error = %e, "upstream connect failed")
                    }
                    Failure::Timeout => {
                        tracing::warn!(upstream = %up.name, server = %lease.addr(), "upstream timed out")
                    }
                    Failure::Error(e) => {
                        tracing::warn!(upstream = %up.name, server = %lease.addr(), error = %e, "upstream error")
                    }
                    Failure::BodyGone => {}
                }
                lease.fail();
                if !(allowed && more) {
                    return Ok(error_response(status));
                }
                // If no server is left, nginx answers for the last failure (504 after a timeout).
                fallback = Some(error_response(status));
            }
        }
    }
}

/// Buffers small bodies of known length (replayable on retry); streams everything else.
async fn request_body(body: Incoming) -> Result<Src, StatusCode> {
    use http_body::Body;
    if body.is_end_stream() {
        return Ok(Src::Replay(None));
    }
    match body.size_hint().exact() {
        Some(n) if n <= REPLAYABLE_BODY_MAX => match body.collect().await {
            Ok(c) => Ok(Src::Replay(Some(c.to_bytes()))),
            Err(_) => Err(StatusCode::BAD_REQUEST),
        },
        _ => Ok(Src::Stream(Some(body))),
    }
}

/// Sends on a pooled connection, or a fresh one; a pooled connection that turns out to be closed
/// by the server is retried once on a fresh connection when the body can be replayed.
/// The parts of the upstream request that every attempt reuses.
struct Head<'a> {
    method: &'a Method,
    uri: &'a Uri,
    headers: &'a HeaderMap,
}

impl Head<'_> {
    fn request(&self, src: &mut Src) -> Option<Request<ReqBody>> {
        let mut r = Request::new(src.body()?);
        *r.method_mut() = self.method.clone();
        *r.uri_mut() = self.uri.clone();
        *r.version_mut() = Version::HTTP_11;
        *r.headers_mut() = self.headers.clone();
        Some(r)
    }
}

/// Sends on a pooled connection, or a fresh one; a pooled connection that turns out to be closed
/// by the server is retried once on a fresh connection when the body can be replayed.
async fn send(
    route: &Route,
    idx: usize,
    addr: std::net::SocketAddr,
    head: &Head<'_>,
    src: &mut Src,
    upgrade: bool,
) -> Result<(Response<Incoming>, Option<Sender>), Failure> {
    let loc = &route.loc;
    let pooled = if upgrade {
        None
    } else {
        route.pool.checkout(idx)
    };
    let reused = pooled.is_some();
    let mut sender = match pooled {
        Some(s) => s,
        None => connect(addr, loc.connect_timeout, loc.send_timeout)
            .await
            .map_err(Failure::Connect)?,
    };
    let req = head.request(src).ok_or(Failure::BodyGone)?;
    match tokio::time::timeout(loc.read_timeout, sender.send_request(req)).await {
        Err(_) => Err(Failure::Timeout),
        Ok(Ok(resp)) => Ok((resp, (!upgrade).then_some(sender))),
        Ok(Err(e)) => {
            let stale = reused
                && src.replayable()
                && (e.is_canceled() || e.is_incomplete_message() || e.is_closed());
            if !stale {
                return Err(if send_timed_out(&e) {
                    Failure::Timeout
                } else {
                    Failure::Error(e)
                });
            }
            let req = head.request(src).ok_or(Failure::BodyGone)?;
            let mut fresh = connect(addr, loc.connect_timeout, loc.send_timeout)
                .await
                .map_err(Failure::Connect)?;
            match tokio::time::timeout(loc.read_timeout, fresh.send_request(req)).await {
                Err(_) => Err(Failure::Timeout),
                Ok(Ok(resp)) => Ok((resp, Some(fresh))),
                Ok(Err(e)) => Err(if send_timed_out(&e) {
                    Failure::Timeout
                } else {
                    Failure::Error(e)
                }),
            }
        }
    }
}

/// A `proxy_send_timeout` expiry surfaces as an I/O TimedOut inside hyper's error; nginx answers
/// 504 for it, like any upstream timeout.
fn send_timed_out(e: &hyper::Error) -> bool {
    let mut src: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(s) = src {
        if s.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut)
        {
            return true;
        }
        src = s.source();
    }
    false
}

fn relay(
    resp: Response<Incoming>,
    lease: Option<(crate::upstream::Lease, Option<PoolSlot>)>,
    route: &Route,
    upgrade: bool,
) -> Response<ProxyBody> {
    let (mut parts, body) = resp.into_parts();
    // RFC 9112 §6.3: with Transfer-Encoding the length is the chunked framing's (hyper read
    // it so); a Content-Length beside it is stale and must not reach the client.
    if parts.headers.contains_key(http::header::TRANSFER_ENCODING) {
        parts.headers.remove(http::header::CONTENT_LENGTH);
    }
    strip_hop_by_hop(&mut parts.headers, upgrade);
    let body = match lease {
        Some((l, slot)) => RespBody::new(body, l, slot, route.loc.read_timeout).boxed(),
        None => body.map_err(BoxError::from).boxed(),
    };
    Response::from_parts(parts, body)
}
