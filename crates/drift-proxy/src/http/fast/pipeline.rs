//! Upstream pipelining (a drift extension, off unless the upstream says `pipeline N`): the
//! GET and HEAD requests without a body that one worker thread sends to one server within the
//! same turn of its event loop go out in one write on one connection, HTTP/1.1 pipelined
//! (RFC 9112 §9.3.2), and the responses come back in order on it.
//!
//! Why: on loopback and fast LANs most of a proxy's cost is the kernel's work per TCP segment
//! (on a 2-core VM, `perf`: 63% of drift's CPU was `sendto`, which runs the receiver's TCP
//! input and wake-up in the sender's context). N requests in one segment cost the proxy one
//! send and the server one read instead of N each.
//!
//! How it stays safe:
//! - Only idempotent requests without a body are pipelined, so a request whose response did
//!   not come back whole may be sent again, alone (RFC 9112 §9.3.2, §9.3.1).
//! - The first request of a turn leads: it lets the thread's queued tasks run once (those whose
//!   requests were read in the same turn join), writes
//!   the batch (the joiners' requests first, its own last), reads the joiners' responses whole
//!   (each at most [`MAX_JOINER_RESPONSE`]) and hands each to its joiner, then relays its own
//!   as the normal path does. A slow client therefore holds up only its own response.
//! - Anything unexpected ends the batch and drops the connection. A response that times out or
//!   is invalid is its own request's failure, judged by `proxy_next_upstream` as it would be
//!   alone; every other request not yet answered (and any whose response cannot be held: a
//!   close-delimited or oversized one, or a connection that ended) goes again alone on the
//!   normal path, which owns the retry and failure rules. A joiner never sees half a response.

use super::exchange::Failure;
use crate::http::pool::Pool;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::oneshot;

/// A joiner's response is held whole until its turn comes; past this, the batch ends and the
/// joiner goes alone (its response then streams as usual).
pub const MAX_JOINER_RESPONSE: usize = 256 * 1024;

/// The batch still open for joiners, per server of a pool. A pool belongs to one worker
/// thread (see `workers.rs`), so in the daemon a batch never crosses threads and the lock is
/// never contended; on a multi-thread runtime (`Proxy::start` inside a caller's runtime, tests)
/// a task may resume on another thread between opening and closing its batch, which a
/// thread-local registry would lose (a joiner would then wait forever).
pub struct Slots(Vec<Mutex<Option<Batch>>>);

impl Slots {
    pub fn new(servers: usize) -> Slots {
        Slots((0..servers).map(|_| Mutex::new(None)).collect())
    }

    fn lock(&self, idx: usize) -> Option<MutexGuard<'_, Option<Batch>>> {
        self.0
            .get(idx)
            .map(|m| m.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

#[derive(Default)]
pub struct Batch {
    /// The joiners' upstream requests, back to back in join order.
    pub wire: Vec<u8>,
    pub joiners: Vec<Joiner>,
}

pub struct Joiner {
    /// The client-ready response (head rewritten, body framed), whole; or this request's own
    /// failure (its response timed out or was invalid).
    pub tx: oneshot::Sender<Result<Vec<u8>, Failure>>,
    /// HEAD request: its response has no body whatever the head says.
    pub head: bool,
    pub client_close: bool,
}

pub enum Role {
    /// Another request of this turn leads; its response comes here, or the sender is dropped
    /// and this request goes alone.
    Joined(oneshot::Receiver<Result<Vec<u8>, Failure>>),
    /// This request leads: joiners gather until [`Leader::close`].
    Lead(Leader),
}

/// Joins the open batch for server `idx` of `pool`, or opens one. `limit`: most requests in
/// one batch.
pub fn join_or_lead(
    pool: &Arc<Pool>,
    idx: usize,
    wire: &[u8],
    head: bool,
    client_close: bool,
    limit: usize,
) -> Role {
    let alone = || Role::Lead(Leader { pool: None, idx });
    let Some(mut slot) = pool.batches.lock(idx) else {
        return alone();
    };
    match slot.as_mut() {
        // The leader counts as one.
        Some(b) if b.joiners.len() + 1 < limit => {
            let (tx, rx) = oneshot::channel();
            b.wire.extend_from_slice(wire);
            b.joiners.push(Joiner {
                tx,
                head,
                client_close,
            });
            Role::Joined(rx)
        }
        // Full: this one leads nothing and goes alone (the caller sees an empty batch).
        Some(_) => alone(),
        None => {
            *slot = Some(Batch::default());
            Role::Lead(Leader {
                pool: Some(Arc::clone(pool)),
                idx,
            })
        }
    }
}

/// The open batch's owner (`pool` is `None` for a request that leads nothing). Dropped
/// without [`Leader::close`] (its task was cancelled), it removes the batch, dropping the
/// joiners' senders so they go alone.
pub struct Leader {
    pool: Option<Arc<Pool>>,
    idx: usize,
}

impl Leader {
    /// Closes the batch to joiners and takes it.
    pub fn close(mut self) -> Batch {
        self.take().unwrap_or_default()
    }

    fn take(&mut self) -> Option<Batch> {
        let pool = self.pool.take()?;
        let batch = pool.batches.lock(self.idx)?.take();
        batch
    }
}

impl Drop for Leader {
    fn drop(&mut self) {
        drop(self.take());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(servers: usize) -> Arc<Pool> {
        Arc::new(Pool::new(servers, 8))
    }

    #[test]
    fn the_first_request_leads_and_later_ones_join_its_batch_in_order() {
        let p = pool(1);
        let Role::Lead(leader) = join_or_lead(&p, 0, b"A", false, false, 8) else {
            panic!("first must lead")
        };
        let Role::Joined(_rx1) = join_or_lead(&p, 0, b"B", true, false, 8) else {
            panic!("second must join")
        };
        let Role::Joined(_rx2) = join_or_lead(&p, 0, b"C", false, true, 8) else {
            panic!("third must join")
        };
        let b = leader.close();
        assert_eq!(b.wire, b"BC");
        assert_eq!(
            b.joiners
                .iter()
                .map(|j| (j.head, j.client_close))
                .collect::<Vec<_>>(),
            vec![(true, false), (false, true)]
        );
        // Closed: the next request leads a new batch.
        assert!(matches!(
            join_or_lead(&p, 0, b"D", false, false, 8),
            Role::Lead(_)
        ));
    }

    #[test]
    fn a_full_batch_makes_the_next_request_go_alone() {
        let p = pool(1);
        let Role::Lead(leader) = join_or_lead(&p, 0, b"A", false, false, 2) else {
            panic!("first must lead")
        };
        let Role::Joined(_rx) = join_or_lead(&p, 0, b"B", false, false, 2) else {
            panic!("second must join")
        };
        let Role::Lead(alone) = join_or_lead(&p, 0, b"C", false, false, 2) else {
            panic!("third must not join a full batch")
        };
        assert!(alone.close().joiners.is_empty());
        assert_eq!(leader.close().joiners.len(), 1);
    }

    #[test]
    fn servers_and_pools_have_separate_batches() {
        let (p, q) = (pool(2), pool(1));
        let Role::Lead(a) = join_or_lead(&p, 0, b"A", false, false, 8) else {
            panic!()
        };
        let Role::Lead(b) = join_or_lead(&p, 1, b"B", false, false, 8) else {
            panic!("another server: its own batch")
        };
        let Role::Lead(c) = join_or_lead(&q, 0, b"C", false, false, 8) else {
            panic!("another pool: its own batch")
        };
        let Role::Lead(d) = join_or_lead(&q, 5, b"D", false, false, 8) else {
            panic!("a server the pool does not have: alone")
        };
        assert!(d.close().joiners.is_empty());
        drop((a, b, c));
    }

    #[test]
    fn a_cancelled_leader_releases_its_joiners() {
        let p = pool(1);
        let Role::Lead(leader) = join_or_lead(&p, 0, b"A", false, false, 8) else {
            panic!()
        };
        let Role::Joined(mut rx) = join_or_lead(&p, 0, b"B", false, false, 8) else {
            panic!()
        };
        drop(leader);
        assert!(
            matches!(rx.try_recv(), Err(oneshot::error::TryRecvError::Closed)),
            "the joiner learns it must go alone"
        );
        assert!(matches!(
            join_or_lead(&p, 0, b"C", false, false, 8),
            Role::Lead(_)
        ));
    }

    #[test]
    fn a_batch_opened_on_one_thread_is_closed_from_another() {
        // A multi-thread runtime may resume the leader elsewhere after its one pass.
        let p = pool(1);
        let Role::Lead(leader) = join_or_lead(&p, 0, b"A", false, false, 8) else {
            panic!()
        };
        let q = Arc::clone(&p);
        let joined = std::thread::spawn(move || {
            matches!(join_or_lead(&q, 0, b"B", false, false, 8), Role::Joined(_))
        })
        .join()
        .unwrap_or(false);
        assert!(joined, "a task on another thread joins the open batch");
        let b = std::thread::spawn(move || leader.close().wire)
            .join()
            .unwrap_or_default();
        assert_eq!(b, b"B");
        assert!(
            matches!(join_or_lead(&p, 0, b"C", false, false, 8), Role::Lead(_)),
            "no batch is left open"
        );
    }
}
