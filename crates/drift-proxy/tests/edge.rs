//! Upgrades, streaming memory, hostile clients and the TCP proxy.

mod common;

use bytes::Bytes;
use common::{rss_kib, start_proxy, Backend, Client};
use futures_util::{SinkExt, StreamExt};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use std::convert::Infallible;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::Message;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_echo_through_the_proxy() {
    let ws = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let ws_addr = ws.local_addr().unwrap_or_else(|e| panic!("{e}"));
    tokio::spawn(async move {
        while let Ok((s, _)) = ws.accept().await {
            tokio::spawn(async move {
                let Ok(mut ws) = tokio_tungstenite::accept_async(s).await else {
                    return;
                };
                while let Some(Ok(m)) = ws.next().await {
                    if m.is_text() || m.is_binary() {
                        let _ = ws.send(m).await;
                    }
                }
            });
        }
    });
    let conf = format!("http {{ upstream ws {{ server {ws_addr}; keepalive 4; }} server {{ listen 127.0.0.1:0; location /ws {{ proxy_pass http://ws; proxy_http_version 1.1; }} }} }}");
    let (_h, addr) = start_proxy(&conf).await;
    let tcp = TcpStream::connect(addr)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let (mut c, resp) = tokio_tungstenite::client_async(format!("ws://{addr}/ws"), tcp)
        .await
        .unwrap_or_else(|e| panic!("ws handshake: {e}"));
    assert_eq!(resp.status().as_u16(), 101);
    for i in 0..10 {
        c.send(Message::text(format!("hello {i}")))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let m = tokio::time::timeout(Duration::from_secs(2), c.next()).await;
        let Ok(Some(Ok(m))) = m else {
            panic!("no echo: {m:?}")
        };
        assert_eq!(
            m.into_text().map(|t| t.to_string()).unwrap_or_default(),
            format!("hello {i}")
        );
    }
    let big = vec![7u8; 1 << 20];
    c.send(Message::binary(big.clone()))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let m = tokio::time::timeout(Duration::from_secs(5), c.next()).await;
    let Ok(Some(Ok(Message::Binary(b)))) = m else {
        panic!("no binary echo")
    };
    assert_eq!(b.len(), big.len());
}

/// Streams `total` bytes up through the proxy and `total` bytes back down, returning RSS growth in MiB.
async fn stream_both_ways(total: u64) -> (u64, Duration) {
    let a = Backend::start("a").await;
    let conf = format!("http {{ upstream app {{ server {}; keepalive 2; }} server {{ listen 127.0.0.1:0; location / {{ proxy_pass http://app; proxy_http_version 1.1; }} }} }}", a.addr);
    let (_h, addr) = start_proxy(&conf).await;
    let mut cl = Client::new(addr);
    // Warm up so allocator pools and buffers exist before the baseline.
    let _ = cl.get("/big/1048576").await;
    let (rss0, _) = rss_kib();
    let t0 = Instant::now();
    let chunk = Bytes::from(vec![b'u'; 256 * 1024]);
    let frames = futures_util::stream::unfold(total, move |left| {
        let chunk = chunk.clone();
        async move {
            (left > 0).then(|| {
                let n = left.min(chunk.len() as u64);
                (
                    Ok::<_, Infallible>(Frame::data(chunk.slice(..n as usize))),
                    left - n,
                )
            })
        }
    });
    let req = hyper::Request::post("/count")
        .header("host", "t")
        .body(BodyExt::boxed(StreamBody::new(frames)))
        .unwrap_or_else(|e| panic!("{e}"));
    let resp = cl.send(req).await;
    assert_eq!(resp.status().as_u16(), 200);
    let got = resp
        .into_body()
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    assert_eq!(
        String::from_utf8_lossy(&got),
        total.to_string(),
        "backend saw every byte"
    );
    let (mid, _) = rss_kib();
    let resp = cl
        .send(
            hyper::Request::get(format!("/big/{total}"))
                .header("host", "t")
                .body(http_body_util::Full::new(Bytes::new()).boxed())
                .unwrap_or_else(|e| panic!("{e}")),
        )
        .await;
    let mut body = resp.into_body();
    let mut n = 0u64;
    while let Some(Ok(f)) = body.frame().await {
        n += f.data_ref().map_or(0, |d| d.len() as u64);
    }
    assert_eq!(n, total);
    let (rss1, _) = rss_kib();
    let growth = rss1.max(mid).saturating_sub(rss0) / 1024;
    println!(
        "streamed {} MiB each way in {:?}; RSS {} -> {} -> {} KiB (growth {growth} MiB)",
        total >> 20,
        t0.elapsed(),
        rss0,
        mid,
        rss1
    );
    (growth, t0.elapsed())
}

/// 1 GiB up and 1 GiB down through the proxy (about 5 s in a debug build, so not ignored).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_1_gib_body_streams_both_ways_with_flat_memory() {
    let (growth, _) = stream_both_ways(1 << 30).await;
    assert!(
        growth < 48,
        "RSS grew {growth} MiB for 1 GiB bodies: something buffers"
    );
}

async fn proxy_for_hostile_clients() -> (drift_proxy::ProxyHandle, std::net::SocketAddr, Backend) {
    let a = Backend::start("a").await;
    let conf = format!("http {{ client_header_timeout 1s; large_client_header_buffers 2 8k; upstream app {{ server {}; }} server {{ listen 127.0.0.1:0; location / {{ proxy_pass http://app; }} }} }}", a.addr);
    let (h, addr) = start_proxy(&conf).await;
    (h, addr, a)
}

async fn read_all(s: &mut TcpStream, limit: Duration) -> (String, Duration) {
    let t0 = Instant::now();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(limit, s.read_to_end(&mut out)).await;
    (String::from_utf8_lossy(&out).into_owned(), t0.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_is_cut_off_by_the_header_timeout() {
    let (_h, addr, a) = proxy_for_hostile_clients().await;
    let mut s = TcpStream::connect(addr)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let _ = s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").await;
    let slow = tokio::spawn(async move {
        // Trickle one header byte every 200 ms: never finishes within the 1 s timeout.
        for _ in 0..50 {
            tokio::time::sleep(Duration::from_millis(200)).await;
            if s.write_all(b"X").await.is_err() {
                return Some(s);
            }
        }
        Some(s)
    });
    let mut s = tokio::time::timeout(Duration::from_secs(15), slow)
        .await
        .ok()
        .and_then(|r| r.ok())
        .flatten()
        .unwrap_or_else(|| panic!("writer hung"));
    let (text, _) = read_all(&mut s, Duration::from_secs(3)).await;
    assert!(
        text.is_empty() || text.starts_with("HTTP/1.1 408"),
        "{text}"
    );
    assert_eq!(a.hits(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_request_gets_400_and_is_closed() {
    let (_h, addr, a) = proxy_for_hostile_clients().await;
    for junk in [
        &b"GARBAGE\r\n\r\n"[..],
        b"GET / HTTP/1.1\r\nHo st: x\r\n\r\n",
        b"\x00\x01\x02\xff\r\n\r\n",
        b"GET / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
    ] {
        let mut s = TcpStream::connect(addr)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let _ = s.write_all(junk).await;
        let (text, took) = read_all(&mut s, Duration::from_secs(3)).await;
        assert!(text.starts_with("HTTP/1.1 400"), "{junk:?} -> {text}");
        assert!(took < Duration::from_secs(2), "closed promptly");
    }
    assert_eq!(a.hits(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_headers_get_431() {
    let (_h, addr, a) = proxy_for_hostile_clients().await;
    let mut s = TcpStream::connect(addr)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let req = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(64 * 1024)
    );
    let _ = s.write_all(req.as_bytes()).await;
    let (text, _) = read_all(&mut s, Duration::from_secs(3)).await;
    assert!(
        text.starts_with("HTTP/1.1 431"),
        "{}",
        &text[..text.len().min(80)]
    );
    assert_eq!(a.hits(), 0);
    // The proxy still serves normal clients afterwards.
    assert_eq!(Client::new(addr).get("/").await, (200, "a".to_string()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_proxy_echoes_and_forwards_half_close() {
    // Backend reads until EOF, then answers with what it got, then closes: needs half-close relayed.
    let echo = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let echo_addr = echo.local_addr().unwrap_or_else(|e| panic!("{e}"));
    tokio::spawn(async move {
        while let Ok((mut s, _)) = echo.accept().await {
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let _ = s.read_to_end(&mut buf).await;
                let _ = s.write_all(b"got:").await;
                let _ = s.write_all(&buf).await;
            });
        }
    });
    let dead = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let dead_addr = dead.local_addr().unwrap_or_else(|e| panic!("{e}"));
    drop(dead);
    let conf = format!("stream {{ upstream e {{ server {dead_addr}; server {echo_addr}; }} server {{ listen 127.0.0.1:0; proxy_pass e; proxy_connect_timeout 1s; proxy_timeout 5s; }} }}");
    let (h, addr) = start_proxy(&conf).await;
    for _ in 0..3 {
        let mut s = TcpStream::connect(addr)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        s.write_all(b"hello")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        s.shutdown().await.unwrap_or_else(|e| panic!("{e}"));
        let (text, _) = read_all(&mut s, Duration::from_secs(3)).await;
        assert_eq!(text, "got:hello");
    }
    assert_eq!(
        h.upstream_health("e"),
        vec![
            (dead_addr.to_string(), false),
            (echo_addr.to_string(), true)
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_proxy_closes_idle_sessions_after_proxy_timeout() {
    let sink = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let sink_addr = sink.local_addr().unwrap_or_else(|e| panic!("{e}"));
    tokio::spawn(async move {
        while let Ok((s, _)) = sink.accept().await {
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_secs(30)).await;
                drop(s);
            });
        }
    });
    let conf = format!("stream {{ server {{ listen 127.0.0.1:0; proxy_pass {sink_addr}; proxy_timeout 300ms; }} }}");
    let (_h, addr) = start_proxy(&conf).await;
    let mut s = TcpStream::connect(addr)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let (_, took) = read_all(&mut s, Duration::from_secs(5)).await;
    assert!(
        took >= Duration::from_millis(250) && took < Duration::from_secs(3),
        "{took:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_connections_caps_concurrent_clients() {
    let a = Backend::start("a").await;
    let conf = format!("events {{ worker_connections 2; }} http {{ upstream app {{ server {}; }} server {{ listen 127.0.0.1:0; location / {{ proxy_pass http://app; }} }} }}", a.addr);
    let (_h, addr) = start_proxy(&conf).await;
    let mut c1 = Client::new(addr);
    let mut c2 = Client::new(addr);
    assert_eq!(c1.get("/").await.0, 200);
    assert_eq!(c2.get("/").await.0, 200);
    // Both permits are held by the idle keep-alive connections: a third client waits in the backlog.
    let mut third = TcpStream::connect(addr)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let _ = third
        .write_all(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .await;
    let mut buf = [0u8; 64];
    let early = tokio::time::timeout(Duration::from_millis(300), third.read(&mut buf)).await;
    assert!(
        early.is_err(),
        "third connection must not be served while two are open"
    );
    drop(c1);
    let (text, _) = read_all(&mut third, Duration::from_secs(3)).await;
    assert!(
        text.starts_with("HTTP/1.1 200"),
        "served once a slot freed: {text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_bytes_never_take_the_proxy_down() {
    use rand::{Rng, SeedableRng};
    let (_h, addr, _backend) = proxy_for_hostile_clients().await;
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let prefixes: [&[u8]; 4] = [
        b"",
        b"GET / HTTP/1.1\r\n",
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: upgrade\r\n",
    ];
    for i in 0..200 {
        let mut bytes = prefixes[i % prefixes.len()].to_vec();
        let n = rng.gen_range(0..512);
        bytes.extend((0..n).map(|_| rng.gen::<u8>()));
        bytes.extend_from_slice(b"\r\n\r\n");
        let mut s = TcpStream::connect(addr)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let _ = s.write_all(&bytes).await;
        let _ = s.shutdown().await;
        let (text, _) = read_all(&mut s, Duration::from_secs(3)).await;
        assert!(
            text.is_empty() || text.starts_with("HTTP/1.1 "),
            "case {i}: {text:?}"
        );
    }
    assert_eq!(
        Client::new(addr).get("/").await,
        (200, "a".to_string()),
        "still serving"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_keepalive_clients_are_closed_by_the_header_timeout() {
    let (_h, addr, _backend) = proxy_for_hostile_clients().await;
    let mut s = TcpStream::connect(addr)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let _ = s.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").await;
    let mut buf = vec![0u8; 4096];
    let n = s.read(&mut buf).await.unwrap_or(0);
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    // Now idle: client_header_timeout (1 s) also bounds the wait for the next request head.
    let (_, took) = read_all(&mut s, Duration::from_secs(5)).await;
    assert!(
        took < Duration::from_secs(3),
        "idle keep-alive connection closed after {took:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_that_stops_reading_trips_proxy_send_timeout() {
    // Accepts and then never reads: the request body fills the socket buffers and writes block.
    let deaf = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let deaf_addr = deaf.local_addr().unwrap_or_else(|e| panic!("{e}"));
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = deaf.accept().await {
            held.push(s);
        }
    });
    let conf = format!("http {{ server {{ listen 127.0.0.1:0; location / {{ proxy_pass http://{deaf_addr}; proxy_send_timeout 300ms; proxy_read_timeout 20s; }} }} }}");
    let (_h, addr) = start_proxy(&conf).await;
    let chunk = Bytes::from(vec![b'x'; 1 << 20]);
    let frames = futures_util::stream::iter(
        (0..64).map(move |_| Ok::<_, Infallible>(Frame::data(chunk.clone()))),
    );
    let req = hyper::Request::post("/")
        .header("host", "t")
        .body(BodyExt::boxed(StreamBody::new(frames)))
        .unwrap_or_else(|e| panic!("{e}"));
    let t0 = Instant::now();
    let resp = tokio::time::timeout(Duration::from_secs(10), Client::new(addr).send(req)).await;
    let status = resp.map(|r| r.status().as_u16()).unwrap_or(0);
    assert_eq!(status, 504, "after {:?}", t0.elapsed());
    assert!(t0.elapsed() < Duration::from_secs(5));
}
