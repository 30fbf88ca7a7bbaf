//! Body types. Request bodies stream straight through unless small enough to keep for a retry;
//! response bodies stream with nginx's `proxy_read_timeout` applied between reads and keep the
//! server lease (least_conn/max_conns) until the last byte.

use super::pool::{Pool, Sender};
use crate::upstream::Lease;
use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::{Instant, Sleep};

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Request bodies at most this large (known Content-Length) are buffered so a failed attempt can
/// be replayed on the next server, like nginx's request buffering; larger ones stream and are
/// retried only if not a byte was sent.
pub const REPLAYABLE_BODY_MAX: u64 = 64 * 1024;

pub enum ReqBody {
    Empty,
    Full(Option<Bytes>),
    Stream(Incoming),
}

impl Body for ReqBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        match self.get_mut() {
            ReqBody::Empty => Poll::Ready(None),
            ReqBody::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            ReqBody::Stream(s) => Pin::new(s).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ReqBody::Empty => true,
            ReqBody::Full(b) => b.is_none(),
            ReqBody::Stream(s) => s.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ReqBody::Empty => SizeHint::with_exact(0),
            ReqBody::Full(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            ReqBody::Stream(s) => s.size_hint(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("upstream timed out ({0:?}) while reading response body")]
pub struct BodyTimeout(Duration);

/// Where a finished upstream connection goes back to.
pub struct PoolSlot {
    pub pool: Arc<Pool>,
    pub idx: usize,
    pub sender: Sender,
}

/// Upstream response body relayed to the client.
pub struct RespBody {
    inner: Incoming,
    lease: Option<Lease>,
    /// Returned to the pool only once the body has been read to its end, so a reused
    /// connection never carries leftovers of the previous response.
    slot: Option<PoolSlot>,
    timeout: Duration,
    last: Instant,
    sleep: Option<Pin<Box<Sleep>>>,
}

impl RespBody {
    pub fn new(inner: Incoming, lease: Lease, slot: Option<PoolSlot>, timeout: Duration) -> Self {
        RespBody {
            inner,
            lease: Some(lease),
            slot,
            timeout,
            last: Instant::now(),
            sleep: None,
        }
    }

    fn finished(&mut self) {
        self.lease = None;
        if let Some(s) = self.slot.take() {
            s.pool.put(s.idx, s.sender);
        }
    }
}

impl Drop for RespBody {
    fn drop(&mut self) {
        // Empty bodies (HEAD, 204, 304) may never be polled; the connection is still reusable.
        if self.inner.is_end_stream() {
            self.finished();
        }
    }
}

impl Body for RespBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(f))) => {
                this.last = Instant::now();
                if this.inner.is_end_stream() {
                    this.finished();
                }
                Poll::Ready(Some(Ok(f)))
            }
            Poll::Ready(Some(Err(e))) => {
                this.lease = None;
                this.slot = None;
                Poll::Ready(Some(Err(e.into())))
            }
            Poll::Ready(None) => {
                this.finished();
                Poll::Ready(None)
            }
            Poll::Pending => {
                // One timer per body, re-armed only when it fires early: cheaper than resetting per frame.
                let deadline = this.last + this.timeout;
                let sleep = this
                    .sleep
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
                loop {
                    if sleep.as_mut().poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                    let deadline = this.last + this.timeout;
                    if Instant::now() >= deadline {
                        this.lease = None;
                        this.slot = None;
                        return Poll::Ready(Some(Err(Box::new(BodyTimeout(this.timeout)))));
                    }
                    sleep.as_mut().reset(deadline);
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
