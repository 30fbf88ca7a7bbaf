//! nginx's `proxy_next_upstream` rules, shared by the hyper path and the fast path: which
//! failures may move a request to the next server, and the budget of tries.

use crate::config::model::{Location, NextUpstream};
use http::StatusCode;
use std::time::Instant;

/// How an attempt failed before anything reached the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailKind {
    /// Nothing was sent: always safe to retry (if `timeout` is listed).
    ConnectTimeout,
    /// Nothing was sent: always safe to retry (if `error` is listed).
    Connect,
    /// The request went out and no (complete) answer came in time.
    Timeout,
    /// The request went out and the connection failed.
    Error,
    /// The server answered with something that is not an HTTP response head.
    Invalid,
}

/// Whether another server may be tried, and the status to answer if not. Once the request
/// was sent, only a request that may be sent twice (`resendable`) moves on.
pub fn verdict(next: &NextUpstream, kind: FailKind, resendable: bool) -> (bool, StatusCode) {
    match kind {
        FailKind::ConnectTimeout => (next.timeout, StatusCode::GATEWAY_TIMEOUT),
        FailKind::Connect => (next.error, StatusCode::BAD_GATEWAY),
        FailKind::Timeout => (next.timeout && resendable, StatusCode::GATEWAY_TIMEOUT),
        FailKind::Error => (next.error && resendable, StatusCode::BAD_GATEWAY),
        FailKind::Invalid => (next.invalid_header && resendable, StatusCode::BAD_GATEWAY),
    }
}

/// `proxy_next_upstream_tries` and `proxy_next_upstream_timeout` of one request.
pub struct Budget {
    limit: u32,
    tries: u32,
    give_up_at: Option<Instant>,
}

impl Budget {
    pub fn new(loc: &Location) -> Budget {
        Budget {
            limit: if loc.next_upstream_tries == 0 {
                u32::MAX
            } else {
                loc.next_upstream_tries
            },
            tries: 0,
            give_up_at: (!loc.next_upstream_timeout.is_zero())
                .then(|| Instant::now() + loc.next_upstream_timeout),
        }
    }

    /// Counts a try; true when another may follow it.
    pub fn next(&mut self) -> bool {
        self.tries += 1;
        self.tries < self.limit && self.give_up_at.is_none_or(|t| Instant::now() < t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sent_request_moves_on_only_when_it_may_be_sent_twice() {
        let next = NextUpstream::default();
        assert_eq!(
            verdict(&next, FailKind::Connect, false),
            (true, StatusCode::BAD_GATEWAY)
        );
        assert_eq!(
            verdict(&next, FailKind::ConnectTimeout, false),
            (true, StatusCode::GATEWAY_TIMEOUT)
        );
        assert_eq!(
            verdict(&next, FailKind::Error, false),
            (false, StatusCode::BAD_GATEWAY)
        );
        assert_eq!(
            verdict(&next, FailKind::Error, true),
            (true, StatusCode::BAD_GATEWAY)
        );
        assert_eq!(
            verdict(&next, FailKind::Timeout, true),
            (true, StatusCode::GATEWAY_TIMEOUT)
        );
    }

    #[test]
    fn invalid_heads_move_on_only_with_invalid_header_listed() {
        let mut next = NextUpstream::default();
        assert!(!verdict(&next, FailKind::Invalid, true).0);
        next.invalid_header = true;
        assert!(verdict(&next, FailKind::Invalid, true).0);
    }
}
