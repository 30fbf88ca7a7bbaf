//! One attempt on one upstream server: write the request on a pooled (or new) raw connection,
//! read the response head, and relay head and body to the client from this same task. The
//! response's framing says when it ends; a connection whose response ended exactly goes back
//! to the pool.

use super::batch::{lead, requeue};
use super::chunked::ChunkScanner;
use super::deadline::Deadline;
use super::pipeline::{self, Role};
use super::response::{self, Framing, RespHead, RespParsed};
use crate::http::pool::{connect_raw, ConnectError, RawConn};
use crate::http::retry::FailKind;
use crate::http::route::Route;
use bytes::{Buf, BytesMut};
use std::io;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// nginx's `proxy_buffer_size` is 4-8 KiB; a head beyond 64 KiB is not a head.
const MAX_RESP_HEAD: usize = 64 * 1024;
/// Read size while relaying a body.
pub(super) const BODY_READ: usize = 64 * 1024;

/// Why an attempt failed before the client saw a byte (so another server may be tried).
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    #[error(transparent)]
    Connect(#[from] ConnectError),
    #[error("timed out")]
    Timeout,
    #[error("closed the connection before responding")]
    Closed,
    #[error("{0}")]
    Io(io::Error),
    #[error("sent an invalid response head")]
    Invalid,
}

impl Failure {
    pub fn kind(&self) -> FailKind {
        match self {
            Failure::Connect(ConnectError::Timeout(..)) => FailKind::ConnectTimeout,
            Failure::Connect(_) => FailKind::Connect,
            Failure::Timeout => FailKind::Timeout,
            Failure::Closed | Failure::Io(_) => FailKind::Error,
            Failure::Invalid => FailKind::Invalid,
        }
    }
}

/// What the client side knows after a response was (at least partly) relayed.
pub struct Relayed {
    /// The response went out whole and framed: the client connection can carry another.
    pub client_ok: bool,
}

/// The request of one client exchange, the same for every attempt.
pub struct Req<'a> {
    pub bytes: &'a [u8],
    pub head: bool,
    pub client_close: bool,
    /// GET or HEAD without a body: may share a pipelined upstream write.
    pub pipelinable: bool,
}

pub async fn attempt<C: AsyncWrite + Unpin>(
    route: &Route,
    idx: usize,
    addr: SocketAddr,
    req: &Req<'_>,
    out: &mut Vec<u8>,
    client: &mut C,
    timer: &mut Deadline,
) -> Result<Relayed, Failure> {
    let limit = route.upstream.pipeline;
    if limit > 1 && req.pipelinable {
        match pipeline::join_or_lead(
            &route.pool,
            idx,
            req.bytes,
            req.head,
            req.client_close,
            limit,
        ) {
            Role::Joined(rx) => match rx.await {
                Ok(Ok(resp)) => {
                    return Ok(Relayed {
                        client_ok: client.write_all(&resp).await.is_ok(),
                    })
                }
                // This request's own response timed out or was invalid: the usual verdict.
                Ok(Err(f)) => return Err(f),
                // The batch ended before this request's turn: alone, below.
                Err(_) => {}
            },
            Role::Lead(leader) => {
                // Once round this thread's queue: the requests already read in this turn
                // (ready on the same `epoll_wait`) join before the batch goes out.
                requeue().await;
                let batch = leader.close();
                if !batch.joiners.is_empty() {
                    if let Some(r) = lead(route, idx, addr, req, batch, out, client, timer).await {
                        return r;
                    }
                }
            }
        }
    }
    alone(route, idx, addr, req, out, client, timer).await
}

/// One request on its own connection (the normal path, and every pipelined request whose
/// batch ended before its response).
async fn alone<C: AsyncWrite + Unpin>(
    route: &Route,
    idx: usize,
    addr: SocketAddr,
    req: &Req<'_>,
    out: &mut Vec<u8>,
    client: &mut C,
    timer: &mut Deadline,
) -> Result<Relayed, Failure> {
    let loc = &route.loc;
    let (mut up, mut reused) = connection(route, idx, addr).await?;
    let head = loop {
        let sent = send(&mut up, req.bytes, loc.send_timeout, timer).await;
        match sent.and(
            read_head(
                &mut up,
                req.head,
                req.client_close,
                loc.read_timeout,
                out,
                timer,
            )
            .await,
        ) {
            Ok(h) => break h,
            // A kept-alive connection the server closed while idle: not the server's fault
            // and nothing was processed, so once more on a fresh connection.
            Err(Failure::Closed | Failure::Io(_)) if reused && up.buf.is_empty() => {
                up = connect_raw(addr, loc.connect_timeout).await?;
                reused = false;
            }
            Err(e) => return Err(e),
        }
    };
    Ok(finish(route, idx, up, &head, out, client, timer).await)
}

/// A pooled connection to server `idx` (`true`: reused) or a new one.
pub(super) async fn connection(
    route: &Route,
    idx: usize,
    addr: SocketAddr,
) -> Result<(RawConn, bool), Failure> {
    Ok(match route.pool.checkout_raw(idx) {
        Some(c) => (c, true),
        None => (connect_raw(addr, route.loc.connect_timeout).await?, false),
    })
}

/// Relays the response whose head is in `out`; the connection goes back to the pool when the
/// response ended exactly and the server keeps it open.
pub(super) async fn finish<C: AsyncWrite + Unpin>(
    route: &Route,
    idx: usize,
    mut up: RawConn,
    head: &RespHead,
    out: &mut Vec<u8>,
    client: &mut C,
    timer: &mut Deadline,
) -> Relayed {
    let relayed = relay(&mut up, head, route.loc.read_timeout, out, client, timer).await;
    if relayed.upstream_reusable && !head.upstream_close && up.buf.is_empty() {
        route.pool.put_raw(idx, up);
    }
    Relayed {
        client_ok: relayed.client_ok,
    }
}

/// Writes a request (or a batch) within `send_timeout`.
pub(super) async fn send(
    up: &mut RawConn,
    bytes: &[u8],
    send_timeout: Duration,
    timer: &mut Deadline,
) -> Result<(), Failure> {
    // Usually the whole request fits the socket buffer: one write, no timer.
    let sent = match up.tcp.try_write(bytes) {
        Ok(n) => n,
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => 0,
        Err(e) => return Err(Failure::Io(e)),
    };
    if sent < bytes.len() {
        let at = tokio::time::Instant::now() + send_timeout;
        match timer.run_until(at, up.tcp.write_all(&bytes[sent..])).await {
            None => return Err(Failure::Timeout),
            Some(Err(e)) => return Err(Failure::Io(e)),
            Some(Ok(())) => {}
        }
    }
    Ok(())
}

/// Reads up to the end of the final response head; `out` then holds the client's head.
pub(super) async fn read_head(
    up: &mut RawConn,
    head_req: bool,
    client_close: bool,
    read_timeout: Duration,
    out: &mut Vec<u8>,
    timer: &mut Deadline,
) -> Result<RespHead, Failure> {
    loop {
        if !up.buf.is_empty() {
            out.clear();
            match response::parse(&up.buf, head_req, client_close, out) {
                RespParsed::Ready(h) => {
                    up.buf.advance(h.len);
                    return Ok(h);
                }
                RespParsed::Interim(n) => {
                    up.buf.advance(n);
                    continue;
                }
                RespParsed::Bad => return Err(Failure::Invalid),
                RespParsed::Partial if up.buf.len() > MAX_RESP_HEAD => {
                    return Err(Failure::Invalid)
                }
                RespParsed::Partial => {}
            }
        }
        fill(up, read_timeout, 8192, timer).await?;
    }
}

/// Reads more of the upstream's bytes into its buffer.
pub(super) async fn fill(
    up: &mut RawConn,
    read_timeout: Duration,
    want: usize,
    timer: &mut Deadline,
) -> Result<(), Failure> {
    if up.buf.capacity() - up.buf.len() < want / 2 {
        up.buf.reserve(want);
    }
    let at = tokio::time::Instant::now() + read_timeout;
    match timer.run_until(at, up.tcp.read_buf(&mut up.buf)).await {
        None => Err(Failure::Timeout),
        Some(Err(e)) => Err(Failure::Io(e)),
        Some(Ok(0)) => Err(Failure::Closed),
        Some(Ok(_)) => Ok(()),
    }
}

struct Outcome {
    client_ok: bool,
    upstream_reusable: bool,
}

/// Relays the body after the head in `out`. The head goes out together with the body bytes
/// already read (one write for a small response); then body bytes as they come.
async fn relay<C: AsyncWrite + Unpin>(
    up: &mut RawConn,
    head: &RespHead,
    read_timeout: Duration,
    out: &mut Vec<u8>,
    client: &mut C,
    timer: &mut Deadline,
) -> Outcome {
    let broken = Outcome {
        client_ok: false,
        upstream_reusable: false,
    };
    let mut body = Body::new(head.framing);
    loop {
        let end = match body.take(&mut up.buf, out) {
            Ok(end) => end,
            Err(()) => {
                tracing::warn!("upstream sent a malformed chunked body");
                return broken;
            }
        };
        if client.write_all(out).await.is_err() {
            return broken;
        }
        out.clear();
        if end {
            return Outcome {
                client_ok: true,
                upstream_reusable: body.framing != Framing::UntilClose,
            };
        }
        match fill(up, read_timeout, BODY_READ, timer).await {
            Ok(()) => {}
            Err(Failure::Closed) if body.framing == Framing::UntilClose => {
                out.extend_from_slice(b"0\r\n\r\n");
                let ok = client.write_all(out).await.is_ok();
                out.clear();
                return Outcome {
                    client_ok: ok,
                    upstream_reusable: false,
                };
            }
            Err(e) => {
                tracing::warn!(error = %e, "upstream failed while sending the response body");
                return broken;
            }
        }
    }
}

/// Progress through one response body.
pub(super) struct Body {
    framing: Framing,
    left: u64,
    chunks: ChunkScanner,
}

impl Body {
    pub(super) fn new(framing: Framing) -> Body {
        Body {
            framing,
            left: match framing {
                Framing::Length(n) => n,
                _ => 0,
            },
            chunks: ChunkScanner::default(),
        }
    }

    /// Moves the body's bytes from `buf` (consumed) to `out`, framed for the client; true when
    /// the body is complete.
    pub(super) fn take(&mut self, buf: &mut BytesMut, out: &mut Vec<u8>) -> Result<bool, ()> {
        match self.framing {
            Framing::Empty => Ok(true),
            Framing::Length(_) => {
                let n = (self.left.min(buf.len() as u64)) as usize;
                out.extend_from_slice(&buf[..n]);
                buf.advance(n);
                self.left -= n as u64;
                Ok(self.left == 0)
            }
            Framing::Chunked => match self.chunks.scan(buf).map_err(|_| ())? {
                Some(n) => {
                    out.extend_from_slice(&buf[..n]);
                    buf.advance(n);
                    Ok(true)
                }
                None => {
                    out.extend_from_slice(buf);
                    buf.clear();
                    Ok(false)
                }
            },
            Framing::UntilClose => {
                if !buf.is_empty() {
                    use std::io::Write;
                    let _ = write!(out, "{:x}\r\n", buf.len());
                    out.extend_from_slice(buf);
                    out.extend_from_slice(b"\r\n");
                    buf.clear();
                }
                Ok(false)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn take_all(framing: Framing, parts: &[&[u8]]) -> (Vec<u8>, bool, usize) {
        let mut b = Body::new(framing);
        let mut out = Vec::new();
        let mut end = false;
        let mut left = 0;
        for p in parts {
            let mut buf = BytesMut::from(*p);
            end = b
                .take(&mut buf, &mut out)
                .unwrap_or_else(|()| panic!("bad"));
            left = buf.len();
            if end {
                break;
            }
        }
        (out, end, left)
    }

    #[test]
    fn a_length_body_takes_exactly_its_length_and_leaves_the_rest() {
        let (out, end, left) = take_all(Framing::Length(5), &[b"he", b"lloEXTRA"]);
        assert_eq!((out.as_slice(), end, left), (&b"hello"[..], true, 5));
    }

    #[test]
    fn a_chunked_body_is_relayed_verbatim_up_to_its_end() {
        let (out, end, left) = take_all(Framing::Chunked, &[b"2\r\nok\r", b"\n0\r\n\r\nX"]);
        assert_eq!(
            (out.as_slice(), end, left),
            (&b"2\r\nok\r\n0\r\n\r\n"[..], true, 1)
        );
    }

    #[test]
    fn a_close_delimited_body_is_chunked_for_the_client() {
        let (out, end, _) = take_all(Framing::UntilClose, &[b"abc", b"", b"0123456789abcdefg"]);
        assert_eq!(out, b"3\r\nabc\r\n11\r\n0123456789abcdefg\r\n");
        assert!(!end, "ends only when the upstream closes");
    }

    #[test]
    fn an_empty_body_is_complete_at_once() {
        let (out, end, left) = take_all(Framing::Empty, &[b"leftover"]);
        assert_eq!((out.len(), end, left), (0, true, 8));
    }
}
