//! Header fields and request targets as forwarded in each direction: hop-by-hop removal
//! (RFC 9110 §7.6.1), end-to-end fields intact, nginx's Host/X-Forwarded-For/X-Real-IP, and
//! `proxy_pass` URI rewriting.

use super::{proxy, proxy_at, Upstream, ALL};
use crate::common::raw::{get, ok, RawBackend, Step, Wire};
use std::net::IpAddr;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hop_by_hop_request_fields_are_dropped_and_end_to_end_ones_kept_verbatim() {
    for up in ALL {
        let be = RawBackend::fixed(&ok("x")).await;
        let (_h, addr) = proxy(&be, up, "").await;
        let mut c = Wire::connect(addr).await;
        c.send(
            b"GET /h HTTP/1.1\r\nHost: t\r\nConnection: x-foo\r\nX-Foo: secret\r\n\
              Keep-Alive: timeout=5\r\nTE: trailers\r\nProxy-Authorization: Basic Zm9vOmJhcg==\r\n\
              Proxy-Connection: keep-alive\r\nX-Multi: a\r\nX-OdD-CaSe: Mixed  Value;q=\"a, b\"\r\n\
              X-Multi: b\r\nAccept: */*\r\nCookie: k=v; k2=v2\r\n\r\n",
        )
        .await;
        assert_eq!(c.expect_response().await.status(), 200, "{up:?}");
        let m = be.only_request();
        for gone in [
            "x-foo",
            "keep-alive",
            "te",
            "proxy-authorization",
            "proxy-connection",
        ] {
            assert!(m.all(gone).is_empty(), "{up:?}: {gone} forwarded:\n{m}");
        }
        // Duplicates may stay separate lines or be combined with ", " (RFC 9110 §5.3).
        assert_eq!(m.all("x-multi").join(", "), "a, b", "{up:?}:\n{m}");
        assert_eq!(
            m.header("x-odd-case"),
            Some("Mixed  Value;q=\"a, b\""),
            "{up:?}"
        );
        assert_eq!(m.header("accept"), Some("*/*"), "{up:?}");
        assert_eq!(m.header("cookie"), Some("k=v; k2=v2"), "{up:?}");
        // The client's Connection never passes; nginx sends its own per the configuration.
        let conn = m.all("connection");
        match up {
            Upstream::Pooled | Upstream::Pipelined => {
                assert!(conn.is_empty(), "{up:?}: {conn:?}")
            }
            Upstream::Fresh => assert_eq!(conn, ["close"], "{up:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hop_by_hop_response_fields_are_dropped_and_end_to_end_ones_relayed() {
    let resp = b"HTTP/1.1 200 OK\r\nConnection: keep-alive, x-bar\r\nX-Bar: internal\r\n\
        Keep-Alive: timeout=30, max=100\r\nProxy-Connection: keep-alive\r\n\
        Set-Cookie: a=1; Path=/\r\nX-Multi: one\r\nSet-Cookie: b=2; Max-Age=60\r\n\
        X-Multi: two\r\nCache-Control: no-cache, private\r\nX-CaSe: Keep  This\r\n\
        Content-Length: 4\r\n\r\nbody";
    for up in ALL {
        let be = RawBackend::fixed(resp).await;
        let (_h, addr) = proxy(&be, up, "").await;
        let mut c = Wire::connect(addr).await;
        c.send(&get("/")).await;
        let r = c.expect_response().await;
        assert_eq!(
            (r.status(), r.body_text().as_str()),
            (200, "body"),
            "{up:?}"
        );
        for gone in ["x-bar", "keep-alive", "proxy-connection"] {
            assert!(r.all(gone).is_empty(), "{up:?}: {gone} relayed:\n{r}");
        }
        let conn = r.all("connection").join(",").to_ascii_lowercase();
        assert!(!conn.contains("x-bar"), "{up:?}: {conn}");
        assert_eq!(
            r.all("set-cookie"),
            ["a=1; Path=/", "b=2; Max-Age=60"],
            "{up:?}"
        );
        assert_eq!(r.all("x-multi").join(", "), "one, two", "{up:?}");
        assert_eq!(r.header("cache-control"), Some("no-cache, private"));
        assert_eq!(r.header("x-case"), Some("Keep  This"));
        // The upstream's `Connection: keep-alive` is not the client connection's: still usable.
        c.send(&get("/again")).await;
        assert_eq!(c.expect_response().await.body_text(), "body", "{up:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_and_forwarding_headers_reach_the_backend_with_nginx_values() {
    let set = "proxy_set_header Host $host; \
               proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for; \
               proxy_set_header X-Real-IP $remote_addr;";
    let client_ip: IpAddr = [127, 0, 0, 7].into();
    for up in ALL {
        let be = RawBackend::fixed(&ok("x")).await;
        let (_h, addr) = proxy(&be, up, set).await;
        let mut c = Wire::connect_from(addr, client_ip).await;
        c.send(
            b"GET / HTTP/1.1\r\nHost: Site.Example:8080\r\nX-Forwarded-For: 203.0.113.9\r\n\
              X-Real-IP: 6.6.6.6\r\n\r\n",
        )
        .await;
        assert_eq!(c.expect_response().await.status(), 200);
        let m = be.only_request();
        // $host: lowercase, without the port.
        assert_eq!(m.header("host"), Some("site.example"), "{up:?}:\n{m}");
        assert_eq!(
            m.all("x-forwarded-for"),
            ["203.0.113.9, 127.0.0.7"],
            "{up:?}:\n{m}"
        );
        assert_eq!(m.all("x-real-ip"), ["127.0.0.7"], "{up:?}:\n{m}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_proxy_set_header_host_the_backend_sees_the_proxy_pass_host() {
    let be = RawBackend::fixed(&ok("x")).await;
    let (_h, addr) = proxy(&be, Upstream::Pooled, "").await;
    let mut c = Wire::connect(addr).await;
    c.send(b"GET / HTTP/1.1\r\nHost: client.example\r\n\r\n")
        .await;
    assert_eq!(c.expect_response().await.status(), 200);
    assert_eq!(be.only_request().all("host"), ["be"], "nginx $proxy_host");

    // proxy_pass to an address: $proxy_host is that host:port.
    let be = RawBackend::fixed(&ok("x")).await;
    let pass = format!("http://{}", be.addr);
    let (_h, addr) = proxy_at(&be, Upstream::Fresh, "/", &pass, "").await;
    let mut c = Wire::connect(addr).await;
    c.send(b"GET / HTTP/1.1\r\nHost: client.example\r\n\r\n")
        .await;
    assert_eq!(c.expect_response().await.status(), 200);
    assert_eq!(be.only_request().all("host"), [be.addr.to_string()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_pass_with_a_uri_replaces_the_location_prefix_and_keeps_the_query() {
    for up in ALL {
        let be = RawBackend::start(|_, m| vec![Step::Write(ok(m.target()))]).await;
        let (_h, addr) = proxy_at(&be, up, "/api/", "http://be/new/", "").await;
        let mut c = Wire::connect(addr).await;
        for (sent, want) in [
            ("/api/x/y?q=1&r=two", "/new/x/y?q=1&r=two"),
            ("/api/", "/new/"),
            ("/api/z", "/new/z"),
        ] {
            c.send(&get(sent)).await;
            let r = c.expect_response().await;
            assert_eq!(r.body_text(), want, "{up:?}: {sent}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_pass_without_a_uri_passes_the_request_target_unchanged() {
    for up in ALL {
        let be = RawBackend::start(|_, m| vec![Step::Write(ok(m.target()))]).await;
        let (_h, addr) = proxy(&be, up, "").await;
        let mut c = Wire::connect(addr).await;
        for target in [
            "/a%2Fb/c%20d?x=%41&y",
            "/p;param/./q/..?a=1&a=2",
            "/%7Euser/",
            "/?",
            "/search?q=a+b&empty=&flag",
        ] {
            c.send(&get(target)).await;
            let r = c.expect_response().await;
            assert_eq!(r.body_text(), target, "{up:?}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_6_kib_request_header_reaches_the_backend_intact() {
    let value = "v".repeat(6 * 1024);
    let be = RawBackend::fixed(&ok("x")).await;
    let (_h, addr) = proxy(&be, Upstream::Pooled, "").await;
    let mut c = Wire::connect(addr).await;
    c.send(format!("GET / HTTP/1.1\r\nHost: t\r\nCookie: {value}\r\n\r\n").as_bytes())
        .await;
    assert_eq!(c.expect_response().await.status(), 200);
    assert_eq!(be.only_request().header("cookie"), Some(value.as_str()));
}

/// Sends `n` extra request fields and gets `n` extra response fields back; all must pass intact.
async fn fields_pass_both_ways(n: usize) {
    let fields: String = (0..n).map(|i| format!("X-F{i}: v{i}\r\n")).collect();
    let resp = format!("HTTP/1.1 200 OK\r\n{fields}Content-Length: 2\r\n\r\nok");
    let be = RawBackend::fixed(resp.as_bytes()).await;
    let (_h, addr) = proxy(&be, Upstream::Pooled, "").await;
    let mut c = Wire::connect(addr).await;
    c.send(format!("GET / HTTP/1.1\r\nHost: t\r\n{fields}\r\n").as_bytes())
        .await;
    let r = c.expect_response().await;
    assert_eq!(r.status(), 200, "{r}");
    let m = be.only_request();
    for i in 0..n {
        let (name, want) = (format!("x-f{i}"), format!("v{i}"));
        assert_eq!(m.header(&name), Some(want.as_str()), "request:\n{m}");
        assert_eq!(r.header(&name), Some(want.as_str()), "response:\n{r}");
    }
}

/// 90 fields each way: above the 64-entry field arrays a hand-written parser might choose.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ninety_header_fields_pass_in_both_directions() {
    fields_pass_both_ways(90).await;
}

/// nginx limits header bytes (large_client_header_buffers 4 8k, proxy_buffer_size 4k|8k), not
/// fields: 150 short fields (about 1.7 KB) pass through it both ways.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_and_fifty_short_header_fields_pass_like_nginx() {
    fields_pass_both_ways(150).await;
}
