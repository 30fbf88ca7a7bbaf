//! Connection lifetimes on both sides: client `Connection: close` and HTTP/1.0, upstream
//! keep-alive reuse, and upstream connections that close at awkward moments.

use super::{proxy, Upstream, ALL};
use crate::common::raw::{get, ok, RawBackend, Step, Wire};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_connection_close_gets_its_response_then_the_proxy_closes() {
    for up in ALL {
        let be = RawBackend::fixed(&ok("bye")).await;
        let (_h, addr) = proxy(&be, up, "").await;
        let mut c = Wire::connect(addr).await;
        c.send(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            .await;
        let r = c.expect_response().await;
        assert_eq!((r.status(), r.body_text().as_str()), (200, "bye"), "{up:?}");
        assert_eq!(c.closed().await, Ok(()), "{up:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_1_0_request_without_keep_alive_is_answered_and_closed() {
    for up in ALL {
        let be = RawBackend::fixed(&ok("old")).await;
        let (_h, addr) = proxy(&be, up, "").await;
        let mut c = Wire::connect(addr).await;
        c.send(b"GET /old HTTP/1.0\r\nHost: t\r\n\r\n").await;
        let r = c.expect_response().await;
        assert_eq!((r.status(), r.body_text().as_str()), (200, "old"), "{up:?}");
        // An HTTP/1.0 client cannot decode chunked (RFC 9112 §7.1).
        assert!(!r.chunked, "{up:?}: {r}");
        assert_eq!(c.closed().await, Ok(()), "{up:?}");
        // The upstream request is HTTP/1.1 from the proxy, whatever the client spoke.
        let m = be.only_request();
        assert_eq!(m.start, "GET /old HTTP/1.1", "{up:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_sequential_requests_share_one_pooled_upstream_connection() {
    let be = RawBackend::start(|ctx, _| vec![Step::Write(ok(&ctx.conn.to_string()))]).await;
    let (_h, addr) = proxy(&be, Upstream::Pooled, "").await;
    let mut c = Wire::connect(addr).await;
    for i in 0..20 {
        c.send(&get(&format!("/{i}"))).await;
        assert_eq!(c.expect_response().await.status(), 200);
    }
    assert_eq!(be.accepts(), 1, "20 sequential requests, pooled");
    let pooled = be.requests().iter().all(|(ctx, m)| {
        ctx.conn == 1 && m.all("connection").is_empty() && m.start.ends_with("HTTP/1.1")
    });
    assert!(pooled, "{:?}", be.requests());

    // Without keepalive, each request opens (and closes) its own upstream connection.
    let be = RawBackend::fixed(&ok("x")).await;
    let (_h, addr) = proxy(&be, Upstream::Fresh, "").await;
    let mut c = Wire::connect(addr).await;
    for i in 0..5 {
        c.send(&get(&format!("/{i}"))).await;
        assert_eq!(c.expect_response().await.status(), 200);
    }
    assert_eq!(be.accepts(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pooled_connection_the_backend_closed_while_idle_is_not_an_error() {
    // The backend answers once per connection and then closes it (its keepalive_timeout).
    let be = RawBackend::start(|ctx, _| {
        vec![Step::Write(ok(&format!("conn {}", ctx.conn))), Step::Close]
    })
    .await;
    let (_h, addr) = proxy(&be, Upstream::Pooled, "").await;
    let mut c = Wire::connect(addr).await;
    for i in 1..=3 {
        c.send(&get("/")).await;
        let r = c.expect_response().await;
        assert_eq!((r.status(), r.body_text()), (200, format!("conn {i}")));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_get_on_a_pooled_connection_closed_under_it_is_retried_on_a_fresh_one() {
    // The first connection answers one request, then closes on reading the second one
    // without answering: the race a pooled connection loses against the backend's timeout.
    let be = RawBackend::start(|ctx, m| match (ctx.conn, ctx.nth) {
        (1, 1) => vec![Step::Write(ok("first"))],
        (1, _) => vec![Step::Close],
        _ => vec![Step::Write(ok(&format!("fresh {}", m.target())))],
    })
    .await;
    let (_h, addr) = proxy(&be, Upstream::Pooled, "").await;
    let mut c = Wire::connect(addr).await;
    c.send(&get("/1")).await;
    assert_eq!(c.expect_response().await.body_text(), "first");
    c.send(&get("/2")).await;
    let r = c.expect_response().await;
    assert_eq!(
        (r.status(), r.body_text().as_str()),
        (200, "fresh /2"),
        "{r}"
    );
    assert_eq!(be.accepts(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_connection_close_does_not_end_the_client_keep_alive() {
    let be = RawBackend::start(|ctx, _| {
        let body = format!("conn {}", ctx.conn);
        vec![
            Step::Write(
                format!(
                    "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                )
                .into_bytes(),
            ),
            Step::Close,
        ]
    })
    .await;
    let (_h, addr) = proxy(&be, Upstream::Pooled, "").await;
    let mut c = Wire::connect(addr).await;
    for i in 1..=3 {
        c.send(&get("/")).await;
        let r = c.expect_response().await;
        assert_eq!(
            (r.status(), r.body_text()),
            (200, format!("conn {i}")),
            "{r}"
        );
        let conn = r.all("connection").join(",").to_ascii_lowercase();
        assert!(!conn.contains("close"), "upstream's close relayed: {r}");
    }
    assert_eq!(be.accepts(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodiless_responses_leave_the_pooled_upstream_connection_reusable() {
    let be = RawBackend::start(|_, m| {
        let head: &[u8] = match (m.method(), m.target()) {
            ("HEAD", _) => b"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n",
            (_, "/204") => b"HTTP/1.1 204 No Content\r\n\r\n",
            (_, "/304") => b"HTTP/1.1 304 Not Modified\r\n\r\n",
            _ => return vec![Step::Write(ok("body"))],
        };
        vec![Step::Write(head.to_vec())]
    })
    .await;
    let (_h, addr) = proxy(&be, Upstream::Pooled, "").await;
    let mut c = Wire::connect(addr).await;
    for _ in 0..3 {
        c.send(b"HEAD / HTTP/1.1\r\nHost: t\r\n\r\n").await;
        assert_eq!(c.final_response(true).await.1.status(), 200);
        for (path, st) in [("/204", 204), ("/304", 304), ("/", 200)] {
            c.send(&get(path)).await;
            assert_eq!(c.expect_response().await.status(), st);
        }
    }
    assert_eq!(be.accepts(), 1, "12 requests, pooled");
}

/// An HTTP/1.0 client cannot decode chunked (RFC 9112 §7.1): a chunked upstream body reaches
/// it close-delimited (or with a length), never chunked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_1_0_client_never_gets_a_chunked_body() {
    for up in ALL {
        let be = RawBackend::fixed(
            &[
                &b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"[..],
                &crate::common::raw::chunked(b"made of several chunks", 5),
            ]
            .concat(),
        )
        .await;
        let (_h, addr) = proxy(&be, up, "").await;
        let mut c = Wire::connect(addr).await;
        c.send(b"GET / HTTP/1.0\r\nHost: t\r\n\r\n").await;
        let r = c.expect_response().await;
        assert!(
            !r.chunked && r.header("transfer-encoding").is_none(),
            "{up:?}: {r}"
        );
        assert_eq!(r.body_text(), "made of several chunks", "{up:?}");
        assert_eq!(c.closed().await, Ok(()), "{up:?}");
    }
}

/// HTTP/1.0 keep-alive is optional for a server, but the answer must match what happens: a
/// response that says `Connection: keep-alive` keeps the connection, one that does not closes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_1_0_keep_alive_request_is_kept_alive_only_if_the_response_says_so() {
    let be = RawBackend::fixed(&ok("ten")).await;
    let (_h, addr) = proxy(&be, Upstream::Pooled, "").await;
    let mut c = Wire::connect(addr).await;
    let req = b"GET / HTTP/1.0\r\nHost: t\r\nConnection: keep-alive\r\n\r\n";
    c.send(req).await;
    let r = c.expect_response().await;
    assert_eq!(r.body_text(), "ten");
    let kept = r
        .all("connection")
        .iter()
        .any(|v| v.eq_ignore_ascii_case("keep-alive"));
    if kept {
        assert!(r.header("content-length").is_some(), "{r}");
        c.send(req).await;
        assert_eq!(c.expect_response().await.body_text(), "ten");
    } else {
        assert_eq!(c.closed().await, Ok(()));
    }
}

/// The handshake passes with its Upgrade/Connection fields, then bytes flow both ways raw; a
/// declined upgrade (a plain 200) leaves an ordinary keep-alive connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upgrade_relays_the_101_then_raw_bytes_and_a_declined_one_stays_http() {
    let be = RawBackend::start(|_, m| match m.target() {
        "/ws" => vec![
            Step::Write(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: abc=\r\n\r\n"
                    .to_vec(),
            ),
            Step::Echo,
        ],
        _ => vec![Step::Write(ok("plain"))],
    })
    .await;
    let (_h, addr) = proxy(&be, Upstream::Pooled, "").await;
    let mut c = Wire::connect(addr).await;
    let hs = |path: &str| {
        format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: k==\r\nSec-WebSocket-Version: 13\r\n\r\n")
    };
    c.send(hs("/declined").as_bytes()).await;
    assert_eq!(c.expect_response().await.body_text(), "plain", "declined");
    c.send(hs("/ws").as_bytes()).await;
    let (_, r) = c.final_response(false).await;
    assert_eq!(r.status(), 101, "{r}");
    assert_eq!(r.header("upgrade"), Some("websocket"), "{r}");
    assert_eq!(r.header("sec-websocket-accept"), Some("abc="), "{r}");
    let at_backend = be.requests();
    let Some((_, m)) = at_backend.last() else {
        panic!("no handshake at the backend")
    };
    assert_eq!(m.header("upgrade"), Some("websocket"), "{m}");
    assert_eq!(m.header("sec-websocket-key"), Some("k=="), "{m}");
    let conn = m.all("connection").join(",").to_ascii_lowercase();
    assert!(conn.contains("upgrade"), "{m}");
    // Raw bytes now, including ones that look like HTTP: nothing parses them any more.
    for msg in [
        &b"\x81\x05hello"[..],
        b"GET / HTTP/1.1\r\n\r\n",
        &[0u8; 3000],
    ] {
        c.send(msg).await;
        let mut got = vec![0u8; msg.len()];
        tokio::time::timeout(
            Duration::from_secs(10),
            tokio::io::AsyncReadExt::read_exact(&mut c.stream, &mut got),
        )
        .await
        .unwrap_or_else(|_| panic!("no echo"))
        .unwrap_or_else(|e| panic!("echo: {e}"));
        assert_eq!(got, msg);
    }
}
