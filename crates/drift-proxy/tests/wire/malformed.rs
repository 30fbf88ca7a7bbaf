//! Requests that break RFC 9112's message syntax, and clients that vanish mid-body: the proxy
//! answers 400 (or closes), and the upstream never receives a request that looks complete.

use super::{proxy, Upstream, ALL};
use crate::common::raw::{ok, RawBackend, Wire};
use std::time::{Duration, Instant};

/// Sends `req` on a fresh connection; returns the status (0 if closed without a response)
/// after checking that a 400 is followed by a close.
async fn status_of(addr: std::net::SocketAddr, req: &[u8]) -> u16 {
    let mut c = Wire::connect(addr).await;
    c.send(req).await;
    match c.response(false).await {
        Ok(Some(r)) => {
            if r.status() == 400 {
                assert_eq!(c.closed().await, Ok(()), "{req:?}: open after 400");
            }
            r.status()
        }
        Ok(None) => 0,
        Err(e) => panic!("{req:?}: {e}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_content_length_values_are_rejected_with_400() {
    let be = RawBackend::fixed(&ok("x")).await;
    let (_h, addr) = proxy(&be, Upstream::Pooled, "").await;
    for cl in [
        "-1",
        "+5",
        "0x5",
        "5 5",
        "5.0",
        "",
        "99999999999999999999999",
    ] {
        let req = format!("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: {cl}\r\n\r\nhello");
        assert_eq!(
            status_of(addr, req.as_bytes()).await,
            400,
            "Content-Length: {cl:?}"
        );
    }
    assert!(be.requests().is_empty(), "{:?}", be.requests());
}

/// RFC 9112 §5.1: no whitespace between a field name and the colon (`Content-Length : 5` is a
/// classic smuggling vector: some parsers ignore the field, others honour it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whitespace_before_a_field_colon_is_rejected_with_400() {
    let be = RawBackend::fixed(&ok("x")).await;
    let (_h, addr) = proxy(&be, Upstream::Pooled, "").await;
    for req in [
        &b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length : 5\r\n\r\nhello"[..],
        b"GET / HTTP/1.1\r\nHost: t\r\nX-A\t: b\r\n\r\n",
    ] {
        assert_eq!(status_of(addr, req).await, 400, "{req:?}");
    }
    assert!(be.requests().is_empty(), "{:?}", be.requests());
}

/// RFC 9112 §5.2: a server must reject obs-fold with 400 or replace each fold with spaces;
/// the upstream never sees a continuation line (the strict backend parser would refuse it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_obs_folded_field_is_rejected_or_unfolded() {
    let be = RawBackend::fixed(&ok("x")).await;
    let (_h, addr) = proxy(&be, Upstream::Pooled, "").await;
    let st = status_of(
        addr,
        b"GET / HTTP/1.1\r\nHost: t\r\nX-Fold: a\r\n  b\r\n\r\n",
    )
    .await;
    assert!(st == 400 || st == 200, "status {st}");
    assert!(be.errors().is_empty(), "{:?}", be.errors());
    if st == 200 {
        let m = be.only_request();
        let v = m.header("x-fold").unwrap_or("");
        assert!(
            v.starts_with('a') && v.ends_with('b') && !v.contains('\n'),
            "{m}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_chunk_sizes_never_reach_the_upstream_as_a_complete_request() {
    for up in ALL {
        let be = RawBackend::fixed(&ok("x")).await;
        let (_h, addr) = proxy(&be, up, "").await;
        for body in [
            &b"zz\r\nhello\r\n0\r\n\r\n"[..],
            b"fffffffffffffffffff\r\nhello\r\n0\r\n\r\n",
            b"5\r\nhelloXX\r\n0\r\n\r\n",
            b"-5\r\nhello\r\n0\r\n\r\n",
        ] {
            let mut req =
                b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
            req.extend_from_slice(body);
            let mut c = Wire::connect(addr).await;
            c.send(&req).await;
            // The head may already be on its way upstream: 400, 502 or a close are all fine.
            let got = c
                .rest()
                .await
                .unwrap_or_else(|e| panic!("{up:?}: {body:?}: left open: {e}"));
            assert!(
                got.is_empty() || got.starts_with(b"HTTP/1.1 4") || got.starts_with(b"HTTP/1.1 5"),
                "{up:?}: {body:?} -> {:?}",
                String::from_utf8_lossy(&got)
            );
        }
        assert!(be.requests().is_empty(), "{up:?}: {:?}", be.requests());
    }
}

/// Waits (up to 10 s) until the backend has seen `n` connections end inside a request.
async fn aborted_upstream_requests(be: &RawBackend, n: usize) -> Vec<String> {
    let t0 = Instant::now();
    while be.errors().len() < n && t0.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    be.errors()
}

/// A client that disconnects halfway through its body must not produce a complete request
/// upstream (no padding, no terminating chunk), and the upstream connection is closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_vanishing_mid_body_never_completes_the_upstream_request() {
    let chunked_part = [
        &b"POST /c HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"[..],
        &b"4000\r\n"[..],
        &[b'c'; 0x4000][..],
        b"\r\n4000\r\n",
        &[b'd'; 0x2000][..],
    ]
    .concat();
    let length_part = [
        &b"POST /l HTTP/1.1\r\nHost: t\r\nContent-Length: 200000\r\n\r\n"[..],
        &[b'l'; 100_000][..],
    ]
    .concat();
    for up in ALL {
        let be = RawBackend::fixed(&ok("x")).await;
        let (_h, addr) = proxy(&be, up, "").await;
        for (i, part) in [&chunked_part, &length_part].into_iter().enumerate() {
            let mut c = Wire::connect(addr).await;
            c.send(part).await;
            tokio::time::sleep(Duration::from_millis(200)).await;
            drop(c);
            let errors = aborted_upstream_requests(&be, i + 1).await;
            assert_eq!(errors.len(), i + 1, "{up:?}: upstream connection left open");
            assert!(
                errors.iter().all(|e| e.contains("EOF")),
                "{up:?}: {errors:?}"
            );
        }
        assert!(be.requests().is_empty(), "{up:?}: {:?}", be.requests());
    }
}

/// RFC 9112 §3.2: a server must answer 400 to an HTTP/1.1 request without Host (nginx does).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_1_1_request_without_host_is_rejected_with_400() {
    let be = RawBackend::fixed(&ok("x")).await;
    let (_h, addr) = proxy(&be, Upstream::Pooled, "").await;
    assert_eq!(status_of(addr, b"GET / HTTP/1.1\r\n\r\n").await, 400);
    assert!(be.requests().is_empty(), "{:?}", be.requests());
}

/// RFC 9112 §3.2: two Host lines are a 400 (nginx: "client sent duplicate host header"); the
/// proxy could route by one name while the upstream serves the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicate_host_is_rejected_with_400() {
    let be = RawBackend::fixed(&ok("x")).await;
    let (_h, addr) = proxy(&be, Upstream::Pooled, "").await;
    let req = b"GET / HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\n\r\n";
    assert_eq!(status_of(addr, req).await, 400);
    assert!(be.requests().is_empty(), "{:?}", be.requests());
}
