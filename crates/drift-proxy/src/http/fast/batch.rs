//! Sending one pipelined batch and reading its responses in order (see `pipeline.rs` for who
//! batches with whom and why).

use super::deadline::Deadline;
use super::exchange::{
    connection, fill, finish, read_head, send, Body, Failure, Relayed, Req, BODY_READ,
};
use super::pipeline::{self, Batch};
use super::response::{Framing, RespHead};
use crate::http::pool::{connect_raw, RawConn};
use crate::http::route::Route;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::AsyncWrite;

/// Runs again after the tasks already queued on this thread, without polling for I/O first.
/// `tokio::task::yield_now` defers to after such a poll: an extra `epoll_wait` per batch, and
/// 5-10% fewer requests/s in `bench/run.sh` (the batches were no larger for it).
pub(super) async fn requeue() {
    let mut queued = false;
    std::future::poll_fn(|cx| {
        if queued {
            return std::task::Poll::Ready(());
        }
        queued = true;
        cx.waker().wake_by_ref();
        std::task::Poll::Pending
    })
    .await
}

/// Sends a batch (the joiners' requests, then the leader's) in one write and hands each
/// joiner its whole response, then relays the leader's own. `None`: the batch ended before
/// the leader's response head for a reason that is not the leader's (the leader goes alone;
/// joiners not yet answered do too, their senders dropped with the batch). A response that
/// times out or is invalid is that request's failure (`proxy_next_upstream` decides, as
/// alone), and ends the batch for those behind it.
#[allow(clippy::too_many_arguments)]
pub(super) async fn lead<C: AsyncWrite + Unpin>(
    route: &Route,
    idx: usize,
    addr: SocketAddr,
    req: &Req<'_>,
    batch: Batch,
    out: &mut Vec<u8>,
    client: &mut C,
    timer: &mut Deadline,
) -> Option<Result<Relayed, Failure>> {
    let loc = &route.loc;
    let Batch { mut wire, joiners } = batch;
    wire.extend_from_slice(req.bytes);
    let (mut up, mut reused) = match connection(route, idx, addr).await {
        Ok(c) => c,
        Err(e) => return Some(Err(e)),
    };
    match send(&mut up, &wire, loc.send_timeout, timer).await {
        Ok(()) => {}
        // A pooled connection the server closed while idle: alone, each, which retries it.
        Err(_) if reused => return None,
        Err(e) => return Some(Err(e)),
    }
    let mut first = true;
    for j in joiners {
        let mut resp = Vec::new();
        let head = loop {
            match read_head(
                &mut up,
                j.head,
                j.client_close,
                loc.read_timeout,
                &mut resp,
                timer,
            )
            .await
            {
                Ok(h) => break h,
                // The pooled connection was closed while idle: the whole batch once more.
                Err(Failure::Closed | Failure::Io(_)) if first && reused && up.buf.is_empty() => {
                    up = match connect_raw(addr, loc.connect_timeout).await {
                        Ok(c) => c,
                        Err(e) => return Some(Err(e.into())),
                    };
                    reused = false;
                    if let Err(e) = send(&mut up, &wire, loc.send_timeout, timer).await {
                        return Some(Err(e));
                    }
                }
                Err(f) => {
                    if own_failure(&f) {
                        let _ = j.tx.send(Err(f));
                    }
                    return None;
                }
            }
        };
        first = false;
        match body_whole(&mut up, &head, loc.read_timeout, &mut resp, timer).await {
            Ok(()) => {}
            Err(Some(f)) => {
                let _ = j.tx.send(Err(f));
                return None;
            }
            Err(None) => return None,
        }
        let _ = j.tx.send(Ok(resp));
        if let Some(m) = route.upstream.metrics.get(idx) {
            m.pipelined(1);
        }
        if head.upstream_close {
            // Delivered, but the server ends the connection here: the rest go alone.
            return None;
        }
    }
    let head = match read_head(
        &mut up,
        req.head,
        req.client_close,
        loc.read_timeout,
        out,
        timer,
    )
    .await
    {
        Ok(h) => h,
        Err(f) if own_failure(&f) => return Some(Err(f)),
        Err(_) => return None,
    };
    if let Some(m) = route.upstream.metrics.get(idx) {
        m.pipelined(1);
    }
    Some(Ok(finish(route, idx, up, &head, out, client, timer).await))
}

/// A failure that belongs to the request whose response was being read (it would have failed
/// alone too), as opposed to the connection ending under the batch.
fn own_failure(f: &Failure) -> bool {
    matches!(f, Failure::Timeout | Failure::Invalid)
}

/// Reads a joiner's response body whole after its head in `resp`, client-ready.
/// `Err(Some(f))`: the request's own failure (timeout, malformed body). `Err(None)`: the body
/// cannot be held (close-delimited, or larger than [`pipeline::MAX_JOINER_RESPONSE`]) or the
/// connection ended: the joiner goes alone.
async fn body_whole(
    up: &mut RawConn,
    head: &RespHead,
    read_timeout: Duration,
    resp: &mut Vec<u8>,
    timer: &mut Deadline,
) -> Result<(), Option<Failure>> {
    if head.framing == Framing::UntilClose {
        return Err(None);
    }
    let mut body = Body::new(head.framing);
    loop {
        match body.take(&mut up.buf, resp) {
            Ok(true) => return Ok(()),
            Ok(false) if resp.len() <= pipeline::MAX_JOINER_RESPONSE => {}
            Ok(false) => return Err(None),
            Err(()) => return Err(Some(Failure::Invalid)),
        }
        if let Err(f) = fill(up, read_timeout, BODY_READ, timer).await {
            return Err(own_failure(&f).then_some(f));
        }
    }
}
