//! Upstream responses as the client receives them: every body framing, bodiless responses,
//! interim 1xx, large headers, and upstream framing errors that must not desync the client.

use super::{proxy, ALL};
use crate::common::raw::{get, ok, pattern, RawBackend, Step, Wire};
use std::time::Duration;

const PAUSE: Duration = Duration::from_millis(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_content_length_body_split_across_backend_writes_is_relayed_exactly() {
    let body = pattern(100_000);
    for up in ALL {
        let b = body.clone();
        let be = RawBackend::start(move |_, _| {
            let mut steps = vec![Step::Write(
                format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", b.len()).into_bytes(),
            )];
            for part in b.chunks(30_000) {
                steps.push(Step::Pause(PAUSE));
                steps.push(Step::Write(part.to_vec()));
            }
            steps
        })
        .await;
        let (_h, addr) = proxy(&be, up, "").await;
        let mut c = Wire::connect(addr).await;
        for _ in 0..2 {
            c.send(&get("/")).await;
            let r = c.expect_response().await;
            assert_eq!(r.status(), 200, "{up:?}: {r}");
            assert_eq!(r.header("content-length"), Some("100000"), "{up:?}: {r}");
            assert!(
                r.body == body,
                "{up:?}: body differs ({} bytes)",
                r.body.len()
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chunked_body_with_extensions_and_trailers_decodes_to_the_same_payload() {
    let big = pattern(20_000);
    let mut want = b"hello world".to_vec();
    want.extend_from_slice(&big);
    for up in ALL {
        let big = big.clone();
        let be = RawBackend::start(move |ctx, _| {
            if ctx.nth > 1 || ctx.conn > 1 {
                return vec![Step::Write(ok("second"))];
            }
            let mut tail = format!("{:x};big\r\n", big.len()).into_bytes();
            tail.extend_from_slice(&big);
            tail.extend_from_slice(b"\r\n0\r\nX-Sum: 42\r\nX-More: a b\r\n\r\n");
            vec![
                Step::Write(
                    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum, X-More\r\n\r\n"
                        .to_vec(),
                ),
                Step::Write(b"5;ext=1\r\nhello\r\n6;name=\"q v\"\r\n wor".to_vec()),
                Step::Pause(PAUSE),
                Step::Write(b"ld\r\n".to_vec()),
                Step::Pause(PAUSE),
                Step::Write(tail),
            ]
        })
        .await;
        let (_h, addr) = proxy(&be, up, "").await;
        let mut c = Wire::connect(addr).await;
        c.send(&get("/chunked")).await;
        let r = c.expect_response().await;
        assert_eq!(r.status(), 200, "{up:?}: {r}");
        assert!(r.body == want, "{up:?}: payload differs: {r}");
        // The next request on the same connection proves the chunked framing ended exactly.
        c.send(&get("/next")).await;
        let r = c.expect_response().await;
        assert_eq!(
            (r.status(), r.body_text().as_str()),
            (200, "second"),
            "{up:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_close_delimited_body_arrives_whole_and_validly_framed() {
    let body = pattern(50_000);
    for version in ["HTTP/1.1", "HTTP/1.0"] {
        for up in ALL {
            let (b, v) = (body.clone(), version.to_string());
            let be = RawBackend::start(move |ctx, _| {
                if ctx.conn > 1 {
                    return vec![Step::Write(ok("second")), Step::Close];
                }
                vec![
                    Step::Write(
                        format!("{v} 200 OK\r\nContent-Type: application/x\r\n\r\n").into_bytes(),
                    ),
                    Step::Write(b[..20_000].to_vec()),
                    Step::Pause(PAUSE),
                    Step::Write(b[20_000..].to_vec()),
                    Step::Close,
                ]
            })
            .await;
            let (_h, addr) = proxy(&be, up, "").await;
            let mut c = Wire::connect(addr).await;
            c.send(&get("/")).await;
            let r = c.expect_response().await;
            assert_eq!(r.status(), 200, "{version} {up:?}: {r}");
            assert!(r.body == body, "{version} {up:?}: body differs: {r}");
            if r.chunked || r.header("content-length").is_some() {
                // Delimited for the client: the connection stays usable.
                c.send(&get("/next")).await;
                let r = c.expect_response().await;
                assert_eq!(r.body_text(), "second", "{version} {up:?}");
            } else {
                // Close-delimited towards the client too: reading the body consumed the close.
                assert!(c.closed().await.is_ok(), "{version} {up:?}");
            }
        }
    }
}

/// The upstream answers HEAD with the GET's headers, 204 and 304 with no body: the client gets
/// exactly the head (a stray byte would break the next response's parse).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn head_204_304_and_empty_responses_carry_no_body_and_keep_the_connection_usable() {
    for up in ALL {
        let be = RawBackend::start(|_, m| {
            let head: &[u8] = match (m.method(), m.target()) {
                ("HEAD", _) => {
                    b"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\nContent-Type: text/plain\r\n\r\n"
                }
                (_, "/204") => b"HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n",
                (_, "/304") => b"HTTP/1.1 304 Not Modified\r\nETag: \"v1\"\r\n\r\n",
                (_, "/empty") => b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
                (_, "/empty-chunked") => {
                    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
                }
                _ => return vec![Step::Write(ok("last"))],
            };
            vec![Step::Write(head.to_vec())]
        })
        .await;
        let (_h, addr) = proxy(&be, up, "").await;
        let mut c = Wire::connect(addr).await;
        c.send(b"HEAD /file HTTP/1.1\r\nHost: t\r\n\r\n").await;
        let (interim, r) = c.final_response(true).await;
        assert!(interim.is_empty());
        assert_eq!(r.status(), 200, "{up:?}: {r}");
        assert_eq!(r.header("content-length"), Some("1234"), "{up:?}: {r}");
        c.send(&get("/204")).await;
        let r = c.expect_response().await;
        assert_eq!(r.status(), 204, "{up:?}: {r}");
        assert_eq!(r.header("x-a"), Some("1"), "{up:?}: {r}");
        // RFC 9110 §8.6: no Content-Length in a 204; RFC 9112 §6.1: no Transfer-Encoding either.
        assert_eq!(r.header("content-length"), None, "{up:?}: {r}");
        assert_eq!(r.header("transfer-encoding"), None, "{up:?}: {r}");
        c.send(b"GET /304 HTTP/1.1\r\nHost: t\r\nIf-None-Match: \"v1\"\r\n\r\n")
            .await;
        let r = c.expect_response().await;
        assert_eq!(r.status(), 304, "{up:?}: {r}");
        assert_eq!(r.header("etag"), Some("\"v1\""), "{up:?}: {r}");
        assert_eq!(r.header("transfer-encoding"), None, "{up:?}: {r}");
        for path in ["/empty", "/empty-chunked"] {
            c.send(&get(path)).await;
            let r = c.expect_response().await;
            assert_eq!((r.status(), r.body.len()), (200, 0), "{up:?}: {path}: {r}");
        }
        c.send(&get("/last")).await;
        let r = c.expect_response().await;
        assert_eq!(
            (r.status(), r.body_text().as_str()),
            (200, "last"),
            "{up:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interim_1xx_responses_from_upstream_end_in_a_valid_final_response() {
    let interims: [&[u8]; 3] = [
        b"HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n",
        b"HTTP/1.1 100 Continue\r\n\r\n",
        b"HTTP/1.1 103 Early Hints\r\nLink: </a.js>\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </b.js>\r\n\r\n",
    ];
    for interim in interims {
        let i = interim.to_vec();
        let be = RawBackend::start(move |_, m| {
            let mut bytes = i.clone();
            bytes.extend_from_slice(&ok(&format!("final {}", m.target())));
            vec![Step::Write(bytes)]
        })
        .await;
        let (_h, addr) = proxy(&be, super::Upstream::Pooled, "").await;
        let mut c = Wire::connect(addr).await;
        for path in ["/1", "/2"] {
            c.send(&get(path)).await;
            // Relaying or dropping the 1xx are both valid; the final response must be intact.
            let (_, r) = c.final_response(false).await;
            assert_eq!(r.status(), 200, "{r}");
            assert_eq!(r.body_text(), format!("final {path}"));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_6_kib_set_cookie_and_repeated_set_cookies_are_relayed_intact() {
    let big = format!("big={}; Path=/; HttpOnly", "C".repeat(6 * 1024));
    let head = format!(
        "HTTP/1.1 200 OK\r\nSet-Cookie: {big}\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2; Secure\r\nContent-Length: 2\r\n\r\nok"
    );
    for up in ALL {
        let be = RawBackend::fixed(head.as_bytes()).await;
        let (_h, addr) = proxy(&be, up, "").await;
        let mut c = Wire::connect(addr).await;
        c.send(&get("/")).await;
        let r = c.expect_response().await;
        assert_eq!(r.status(), 200, "{up:?}: {r}");
        // Set-Cookie must never be folded into one line (RFC 9110 §5.3).
        assert_eq!(
            r.all("set-cookie"),
            vec![big.as_str(), "a=1", "b=2; Secure"],
            "{up:?}"
        );
        assert_eq!(r.body_text(), "ok");
    }
}

/// RFC 9112 §6.3: Transfer-Encoding overrides Content-Length, and an intermediary that forwards
/// such a response must drop the Content-Length; relaying both would let the client frame the
/// body differently from the proxy (nginx 1.22 relays `hello` chunked, without the length).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_response_with_both_framings_never_reaches_the_client_ambiguous() {
    for up in ALL {
        let be = RawBackend::start(|ctx, _| {
            if ctx.conn == 1 && ctx.nth == 1 {
                return vec![Step::Write(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
                        .to_vec(),
                )];
            }
            vec![Step::Write(ok("clean"))]
        })
        .await;
        let (_h, addr) = proxy(&be, up, "").await;
        let mut c = Wire::connect(addr).await;
        c.send(&get("/")).await;
        let r = c.expect_response().await;
        match r.status() {
            502 => {}
            200 => assert_eq!(
                r.body_text(),
                "hello",
                "{up:?}: chunked framing wins: {:?}",
                String::from_utf8_lossy(&r.raw)
            ),
            s => panic!("{up:?}: status {s}: {r}"),
        }
        c.send(&get("/next")).await;
        let r = c.expect_response().await;
        assert_eq!(
            (r.status(), r.body_text().as_str()),
            (200, "clean"),
            "{up:?}"
        );
    }
}

/// Bytes an upstream sends after a complete response are not the answer to the next request:
/// a pooled connection carrying them must be discarded, never relayed from.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bytes_after_a_complete_upstream_response_never_reach_the_client() {
    for up in ALL {
        let be = RawBackend::start(|ctx, _| {
            if ctx.conn == 1 && ctx.nth == 1 {
                let mut b = ok("first");
                b.extend_from_slice(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nEVIL!");
                return vec![Step::Write(b)];
            }
            vec![Step::Write(ok("real"))]
        })
        .await;
        let (_h, addr) = proxy(&be, up, "").await;
        let mut c = Wire::connect(addr).await;
        c.send(&get("/1")).await;
        assert_eq!(c.expect_response().await.body_text(), "first", "{up:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
        c.send(&get("/2")).await;
        let r = c.expect_response().await;
        assert_eq!(
            (r.status(), r.body_text().as_str()),
            (200, "real"),
            "{up:?}: {r}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unregistered_status_codes_are_relayed_with_their_code() {
    let be = RawBackend::start(|_, m| {
        let code = m.target().trim_start_matches('/');
        vec![Step::Write(
            format!("HTTP/1.1 {code} Whatever You Like\r\nContent-Length: 4\r\n\r\n{code}!")
                .into_bytes(),
        )]
    })
    .await;
    let (_h, addr) = proxy(&be, super::Upstream::Pooled, "").await;
    let mut c = Wire::connect(addr).await;
    for code in [299, 418, 451, 599] {
        c.send(&get(&format!("/{code}"))).await;
        let r = c.expect_response().await;
        assert_eq!(
            (r.status(), r.body_text()),
            (code, format!("{code}!")),
            "{r}"
        );
    }
}
