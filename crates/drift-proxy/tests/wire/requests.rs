//! Client requests as the upstream receives them: pipelining, dribbled heads, bodies in both
//! framings, `Expect: 100-continue`, request targets, and smuggling attempts.

use super::{proxy, Upstream, ALL};
use crate::common::raw::{chunked, get, ok, pattern, Message, RawBackend, Step, Wire};
use std::time::Duration;

/// Answers every request with `METHOD TARGET BODY-LENGTH`, so order and bodies can be checked;
/// targets starting with `/slow` are answered after 300 ms.
async fn echo() -> RawBackend {
    RawBackend::start(|_, m| {
        let answer = Step::Write(ok(&format!(
            "{} {} {}",
            m.method(),
            m.target(),
            m.body.len()
        )));
        if m.target().starts_with("/slow") {
            vec![Step::Pause(Duration::from_millis(300)), answer]
        } else {
            vec![answer]
        }
    })
    .await
}

fn post(target: &str, body: &[u8]) -> Vec<u8> {
    let mut r = format!(
        "POST {target} HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    r.extend_from_slice(body);
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_pipelined_requests_in_one_write_get_three_responses_in_order() {
    for up in ALL {
        let be = echo().await;
        let (_h, addr) = proxy(&be, up, "").await;
        let mut c = Wire::connect(addr).await;
        c.send(&[get("/1"), get("/2"), get("/3")].concat()).await;
        for want in ["GET /1 0", "GET /2 0", "GET /3 0"] {
            let r = c.expect_response().await;
            assert_eq!((r.status(), r.body_text().as_str()), (200, want), "{up:?}");
        }
        // A body in the middle of the pipeline must not swallow or shift its neighbours.
        c.send(&[get("/a"), post("/b", b"0123456789"), get("/c")].concat())
            .await;
        for want in ["GET /a 0", "POST /b 10", "GET /c 0"] {
            let r = c.expect_response().await;
            assert_eq!((r.status(), r.body_text().as_str()), (200, want), "{up:?}");
        }
        // A slow first answer must not let a quicker later one overtake it.
        c.send(&[get("/slow1"), get("/fast2")].concat()).await;
        for want in ["GET /slow1 0", "GET /fast2 0"] {
            let r = c.expect_response().await;
            assert_eq!((r.status(), r.body_text().as_str()), (200, want), "{up:?}");
        }
        let seen: Vec<String> = be.requests().iter().map(|(_, m)| m.start.clone()).collect();
        assert_eq!(seen.len(), 8, "{up:?}: {seen:?}");
        assert!(be.errors().is_empty(), "{:?}", be.errors());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_written_one_byte_at_a_time_is_still_answered() {
    let be = echo().await;
    let (_h, addr) = proxy(&be, Upstream::Pooled, "").await;
    let mut c = Wire::connect(addr).await;
    let _ = c.stream.set_nodelay(true);
    // About 70 writes 5 ms apart: far below client_header_timeout (60 s by default).
    for b in post("/slow", b"payload!") {
        c.send(&[b]).await;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let r = c.expect_response().await;
    assert_eq!((r.status(), r.body_text().as_str()), (200, "POST /slow 8"));
    assert_eq!(be.only_request().body, b"payload!");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn content_length_bodies_of_10_kib_and_200_kib_arrive_byte_exact() {
    // 200 KiB is above the size the proxy keeps for retries: that body is streamed.
    for n in [10 * 1024, 200 * 1024] {
        for up in ALL {
            let body = pattern(n);
            let be = echo().await;
            let (_h, addr) = proxy(&be, up, "").await;
            let mut c = Wire::connect(addr).await;
            c.send(&post("/upload", &body)).await;
            let r = c.expect_response().await;
            assert_eq!(r.body_text(), format!("POST /upload {n}"), "{up:?}");
            let m = be.only_request();
            assert_eq!(m.header("content-length"), Some(n.to_string().as_str()));
            assert!(!m.chunked, "{up:?}: a known length stays a Content-Length");
            assert!(m.body == body, "{up:?}: {n}-byte body differs");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chunked_request_body_arrives_with_its_payload_intact() {
    let payload = pattern(150_000);
    for up in ALL {
        let be = echo().await;
        let (_h, addr) = proxy(&be, up, "").await;
        let mut c = Wire::connect(addr).await;
        let mut req =
            b"POST /c HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=x\r\nabc\r\n"
                .to_vec();
        let body = chunked(&payload, 7_000);
        req.extend_from_slice(&body[..body.len() - 2]);
        req.extend_from_slice(b"X-Trailer: t\r\n\r\n");
        c.send(&req[..1_000]).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
        c.send(&req[1_000..]).await;
        let r = c.expect_response().await;
        let n = payload.len() + 3;
        assert_eq!(r.body_text(), format!("POST /c {n}"), "{up:?}");
        let m = be.only_request();
        assert_eq!(&m.body[..3], b"abc");
        assert!(m.body[3..] == payload, "{up:?}: chunked payload differs");
        // The next request on the connection proves the chunked body was consumed exactly.
        c.send(&get("/after")).await;
        assert_eq!(c.expect_response().await.body_text(), "GET /after 0");
    }
}

/// Sends the head, waits (up to 3 s) for a 100 as RFC 9110 §10.1.1 lets a client do, then the body.
async fn expect_continue(c: &mut Wire, body: &[u8]) -> (Vec<Message>, Message) {
    c.send(
        format!(
            "PUT /e HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    )
    .await;
    let mut interim = Vec::new();
    let mut peek = [0u8; 1];
    if let Ok(Ok(_)) = tokio::time::timeout(Duration::from_secs(3), c.stream.peek(&mut peek)).await
    {
        match c.response(false).await {
            Ok(Some(m)) if m.status() == 100 => interim.push(m),
            Ok(Some(m)) => return (interim, m),
            other => panic!("before the body: {other:?}"),
        }
    }
    c.send(body).await;
    let (more, m) = c.final_response(false).await;
    interim.extend(more);
    (interim, m)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expect_100_continue_gets_a_continue_or_final_response_and_the_body_arrives() {
    for n in [11, 100_000] {
        for up in ALL {
            let be = echo().await;
            let (_h, addr) = proxy(&be, up, "").await;
            let mut c = Wire::connect(addr).await;
            let body = pattern(n);
            let (interim, r) = expect_continue(&mut c, &body).await;
            assert!(
                interim.iter().all(|m| m.status() == 100),
                "{up:?}: {interim:?}"
            );
            assert_eq!(r.body_text(), format!("PUT /e {n}"), "{up:?}");
            assert!(be.only_request().body == body, "{up:?}");
            c.send(&get("/after")).await;
            assert_eq!(c.expect_response().await.body_text(), "GET /after 0");
        }
    }
}

/// RFC 9112 §6.3: conflicting lengths, or a final transfer coding other than chunked, leave no
/// way to find the end of the body: 400 and close; nothing may reach the upstream, where a
/// different reading of the framing could smuggle the trailing request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_with_unframeable_bodies_are_rejected_with_400_and_closed() {
    let cases = [
        format!("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\nhello!!{SMUGGLE}"),
        format!("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5, 7\r\n\r\nhello!!{SMUGGLE}"),
        format!("POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\nhello{SMUGGLE}"),
        format!("POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked, gzip\r\n\r\n5\r\nhello\r\n0\r\n\r\n{SMUGGLE}"),
    ];
    for up in ALL {
        let be = echo().await;
        let (_h, addr) = proxy(&be, up, "").await;
        for req in &cases {
            let mut c = Wire::connect(addr).await;
            c.send(req.as_bytes()).await;
            let r = c.expect_response().await;
            assert_eq!(r.status(), 400, "{up:?}: {req:?} -> {r}");
            assert_eq!(c.closed().await, Ok(()), "{up:?}: {req:?} left open");
        }
        assert!(be.requests().is_empty(), "{up:?}: {:?}", be.requests());
        assert!(be.errors().is_empty(), "{up:?}: {:?}", be.errors());
    }
}

const SMUGGLE: &str = "GET /smuggled HTTP/1.1\r\nHost: t\r\n\r\n";

/// RFC 9112 §6.1: with both Transfer-Encoding and Content-Length a server may reject (nginx: 400)
/// or go by Transfer-Encoding alone, and must close the connection after responding either way.
/// Today the proxy (hyper) does the latter; whatever it does, the upstream gets one framing and
/// the bytes after the chunked body are never taken as a request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn content_length_with_transfer_encoding_is_rejected_or_dechunked_and_closed() {
    let cases = [
        format!("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n{SMUGGLE}"),
        format!("POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nContent-Length: 40\r\n\r\n0\r\n\r\n{SMUGGLE}"),
    ];
    for up in ALL {
        let be = echo().await;
        let (_h, addr) = proxy(&be, up, "").await;
        for req in &cases {
            let mut c = Wire::connect(addr).await;
            c.send(req.as_bytes()).await;
            let r = c.expect_response().await;
            match r.status() {
                400 => {}
                200 => assert_eq!(r.body_text(), "POST / 0", "{up:?}: {req:?}"),
                s => panic!("{up:?}: {req:?} -> {s}: {r}"),
            }
            assert_eq!(c.closed().await, Ok(()), "{up:?}: {req:?} left open");
        }
        assert!(be.errors().is_empty(), "{up:?}: {:?}", be.errors());
        for (_, m) in be.requests() {
            assert_eq!(m.start, "POST / HTTP/1.1", "{up:?}: smuggled:\n{m}");
            assert!(m.body.is_empty(), "{up:?}:\n{m}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_absolute_form_target_reaches_the_upstream_in_origin_form() {
    let be = echo().await;
    let (_h, addr) = proxy(&be, Upstream::Pooled, "").await;
    let mut c = Wire::connect(addr).await;
    c.send(b"GET http://example.com/abs/p?x=1 HTTP/1.1\r\nHost: example.com\r\n\r\n")
        .await;
    let r = c.expect_response().await;
    assert_eq!(r.body_text(), "GET /abs/p?x=1 0", "{r}");
}

/// Methods are case-sensitive (RFC 9110 §9.1): `get` is not GET.
/// Today the proxy forwards an unknown lowercase method unchanged (nginx would answer 400);
/// either is acceptable, silently turning it into GET is not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lowercase_method_is_never_turned_into_its_uppercase_namesake() {
    let be = echo().await;
    let (_h, addr) = proxy(&be, Upstream::Pooled, "").await;
    let mut c = Wire::connect(addr).await;
    c.send(b"get /lower HTTP/1.1\r\nHost: t\r\n\r\n").await;
    let r = c.expect_response().await;
    match r.status() {
        400 => assert!(be.requests().is_empty()),
        200 => assert_eq!(r.body_text(), "get /lower 0"),
        s => panic!("status {s}: {r}"),
    }
}
