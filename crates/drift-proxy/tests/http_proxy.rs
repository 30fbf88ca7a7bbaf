//! End-to-end HTTP proxying against real backends on loopback.

mod common;

use common::{start_proxy, Backend, Client};
use std::collections::HashMap;
use std::time::{Duration, Instant};

fn upstream(name: &str, extra: &str, servers: &[(&Backend, &str)]) -> String {
    let s: String = servers
        .iter()
        .map(|(b, p)| format!("server {} {p};\n", b.addr))
        .collect();
    format!("upstream {name} {{ {extra}\n{s} }}")
}

fn http_conf(upstreams: &str, loc: &str) -> String {
    format!("http {{ {upstreams}\n server {{ listen 127.0.0.1:0; location / {{ proxy_pass http://app; {loc} }} }} }}")
}

async fn tally(c: &mut Client, n: usize, path: &str) -> HashMap<String, usize> {
    let mut m = HashMap::new();
    for _ in 0..n {
        let (st, body) = c.get(path).await;
        *m.entry(format!("{st} {body}")).or_default() += 1;
    }
    m
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn distribution_follows_weights_over_10000_requests() {
    let (a, b, c) = (
        Backend::start("a").await,
        Backend::start("b").await,
        Backend::start("c").await,
    );
    let conf = http_conf(
        &upstream(
            "app",
            "keepalive 8;",
            &[(&a, "weight=5"), (&b, "weight=3"), (&c, "weight=2")],
        ),
        "",
    );
    let (_h, addr) = start_proxy(&conf).await;
    let mut cl = Client::new(addr);
    let t = tally(&mut cl, 10_000, "/").await;
    for (id, w) in [("a", 0.5), ("b", 0.3), ("c", 0.2)] {
        let got = t.get(&format!("200 {id}")).copied().unwrap_or(0) as f64 / 10_000.0;
        assert!((got - w).abs() <= w * 0.05, "{id}: {got} vs {w} ({t:?})");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn article_config_runs_as_written() {
    let a = Backend::start_on(
        "tomcat1",
        "127.0.0.1:18888".parse().unwrap_or_else(|_| unreachable!()),
    )
    .await;
    let b = Backend::start_on(
        "tomcat2",
        "127.0.0.1:18889".parse().unwrap_or_else(|_| unreachable!()),
    )
    .await;
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/nginx/article.conf");
    let cfg = drift_proxy::check_file(&path)
        .unwrap_or_else(|d| panic!("{}", drift_proxy::render_all(&d)));
    let h = drift_proxy::Proxy::start(cfg)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut cl = Client::new(h.local_addrs()[0]);
    let t = tally(&mut cl, 10, "/").await;
    assert_eq!(t.get("200 tomcat1"), Some(&5), "{t:?}");
    assert_eq!(t.get("200 tomcat2"), Some(&5), "{t:?}");
    drop((a, b));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_backend_is_ejected_then_readmitted_after_fail_timeout() {
    let a = Backend::start("a").await;
    let mut b = Backend::start("b").await;
    let baddr = b.addr;
    let conf = http_conf(
        &upstream("app", "", &[(&a, ""), (&b, "max_fails=1 fail_timeout=1s")]),
        "",
    );
    let (h, addr) = start_proxy(&conf).await;
    let mut cl = Client::new(addr);
    b.stop();
    // Every request still succeeds: the refused connect is retried on `a` (proxy_next_upstream error).
    let t = tally(&mut cl, 20, "/").await;
    assert_eq!(t.get("200 a"), Some(&20), "{t:?}");
    assert_eq!(
        h.upstream_health("app"),
        vec![(a.addr.to_string(), true), (baddr.to_string(), false)]
    );
    let m = h.metrics("app");
    assert_eq!(
        m[1].1.errors, 1,
        "only one attempt hit the dead server: {m:?}"
    );
    let b = Backend::start_on("b", baddr).await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let t = tally(&mut cl, 20, "/").await;
    assert!(
        t.get("200 b").copied().unwrap_or(0) >= 9,
        "re-admitted: {t:?}"
    );
    assert!(h.upstream_health("app")[1].1);
    drop(b);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn active_health_check_ejects_and_readmits() {
    let (a, b) = (Backend::start("a").await, Backend::start("b").await);
    let conf = http_conf(
        &upstream(
            "app",
            "health_check interval=50ms rise=2 fall=2 uri=/health match_status=200;",
            &[(&a, ""), (&b, "")],
        ),
        "",
    );
    let (h, addr) = start_proxy(&conf).await;
    let mut cl = Client::new(addr);
    b.healthy.store(false, std::sync::atomic::Ordering::SeqCst);
    let deadline = Instant::now() + Duration::from_secs(5);
    while h.upstream_health("app")[1].1 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!h.upstream_health("app")[1].1, "b marked unhealthy");
    let before = b.hits();
    let t = tally(&mut cl, 10, "/").await;
    assert_eq!(t.get("200 a"), Some(&10));
    assert_eq!(b.hits(), before);
    b.healthy.store(true, std::sync::atomic::Ordering::SeqCst);
    let deadline = Instant::now() + Duration::from_secs(5);
    while !h.upstream_health("app")[1].1 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let t = tally(&mut cl, 10, "/").await;
    assert_eq!(t.get("200 b"), Some(&5), "{t:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_serves_only_when_every_primary_is_down() {
    let (mut a, mut b, k) = (
        Backend::start("a").await,
        Backend::start("b").await,
        Backend::start("k").await,
    );
    let conf = http_conf(
        &upstream("app", "", &[(&a, ""), (&b, ""), (&k, "backup")]),
        "",
    );
    let (h, addr) = start_proxy(&conf).await;
    let mut watch = h
        .upstream_watch("app")
        .unwrap_or_else(|| panic!("no watch"));
    assert!(*watch.borrow());
    let mut cl = Client::new(addr);
    tally(&mut cl, 10, "/").await;
    assert_eq!(k.hits(), 0);
    a.stop();
    let t = tally(&mut cl, 10, "/").await;
    assert_eq!(t.get("200 b"), Some(&10), "{t:?}");
    assert_eq!(k.hits(), 0);
    b.stop();
    let t = tally(&mut cl, 10, "/").await;
    assert_eq!(t.get("200 k"), Some(&10), "{t:?}");
    assert!(
        *watch.borrow_and_update(),
        "the backup still serves the group"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_live_upstream_answers_502_and_signals_the_group_down() {
    let mut a = Backend::start("a").await;
    let conf = http_conf(
        &upstream("app", "", &[(&a, "")]),
        "proxy_connect_timeout 1s;",
    );
    let (h, addr) = start_proxy(&conf).await;
    let mut events = h.subscribe_health();
    a.stop();
    let mut cl = Client::new(addr);
    assert_eq!(cl.get("/").await.0, 502);
    let (_, mut a2) = (0, Backend::start("x").await);
    a2.stop();
    // A lone server is never ejected (nginx `single`), so use two dead servers for the signal.
    let conf = http_conf(&upstream("app", "", &[(&a, ""), (&a2, "")]), "");
    let (h2, addr2) = start_proxy(&conf).await;
    let mut ev2 = h2.subscribe_health();
    assert_eq!(Client::new(addr2).get("/").await.0, 502);
    let e = tokio::time::timeout(Duration::from_secs(2), ev2.recv()).await;
    assert!(
        matches!(e, Ok(Ok(ref ev)) if !ev.has_healthy && ev.upstream == "app"),
        "{e:?}"
    );
    assert!(
        events.try_recv().is_err(),
        "single server group keeps its signal"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn post_is_not_retried_but_get_is() {
    // `bad` accepts, reads the request and closes without answering: an error after sending.
    let bad = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let bad_addr = bad.local_addr().unwrap_or_else(|e| panic!("{e}"));
    let bad_hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let bh = bad_hits.clone();
    tokio::spawn(async move {
        use tokio::io::AsyncReadExt;
        while let Ok((mut s, _)) = bad.accept().await {
            bh.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf).await;
        }
    });
    let good = Backend::start("good").await;
    let conf = format!(
        "http {{ upstream app {{ server {bad_addr} max_fails=0; server {} max_fails=0; }} server {{ listen 127.0.0.1:0; location / {{ proxy_pass http://app; }} }} }}",
        good.addr
    );
    let (_h, addr) = start_proxy(&conf).await;
    let mut cl = Client::new(addr);
    let (st, _) = cl.request("POST", "/", "payload").await;
    assert_eq!(st, 502);
    assert_eq!(good.hits(), 0, "POST must not be sent twice");
    assert_eq!(bad_hits.load(std::sync::atomic::Ordering::SeqCst), 1);
    // Round robin now points at `good` first; make the next GET hit `bad` first again.
    let _ = cl.get("/").await;
    let (st, body) = cl.get("/").await;
    assert_eq!(
        (st, body.as_str()),
        (200, "good"),
        "GET retried on the next server"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn next_upstream_http_503_retries_and_counts_tries() {
    let (a, b) = (Backend::start("a").await, Backend::start("b").await);
    let conf = http_conf(
        &upstream("app", "", &[(&a, "max_fails=0"), (&b, "max_fails=0")]),
        "proxy_next_upstream error timeout http_503; proxy_next_upstream_tries 2;",
    );
    let (_h, addr) = start_proxy(&conf).await;
    let mut cl = Client::new(addr);
    let (st, _) = cl.get("/status/503").await;
    assert_eq!(st, 503, "both answered 503: the last answer is relayed");
    assert_eq!(a.hits() + b.hits(), 2);
    let (st, _) = cl.get("/status/500").await;
    assert_eq!(st, 500, "500 not listed: relayed without retry");
    assert_eq!(a.hits() + b.hits(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_read_timeout_answers_504() {
    let a = Backend::start("a").await;
    let conf = http_conf(
        &upstream("app", "", &[(&a, "")]),
        "proxy_read_timeout 300ms;",
    );
    let (_h, addr) = start_proxy(&conf).await;
    let t0 = Instant::now();
    assert_eq!(Client::new(addr).get("/slow").await.0, 504);
    assert!(t0.elapsed() < Duration::from_secs(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers_are_rewritten_like_nginx() {
    let a = Backend::start("a").await;
    let conf = http_conf(
        &upstream("app", "keepalive 4;", &[(&a, "")]),
        "proxy_set_header X-Real-IP $remote_addr; proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for; proxy_set_header X-Req $request_uri;",
    );
    let (_h, addr) = start_proxy(&conf).await;
    let mut cl = Client::new(addr);
    let req = hyper::Request::get("/headers?x=1")
        .header("host", "site.example")
        .header("connection", "keep-alive, x-drop")
        .header("x-drop", "secret")
        .header("keep-alive", "timeout=5")
        .header("x-forwarded-for", "9.9.9.9")
        .body(http_body_util::BodyExt::boxed(http_body_util::Full::new(
            bytes::Bytes::new(),
        )))
        .unwrap_or_else(|e| panic!("{e}"));
    let resp = cl.send(req).await;
    let body = http_body_util::BodyExt::collect(resp.into_body())
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    let text = String::from_utf8_lossy(&body).to_lowercase();
    assert!(text.starts_with("get /headers?x=1"), "{text}");
    assert!(
        text.contains("host: app\n"),
        "Host defaults to $proxy_host: {text}"
    );
    assert!(text.contains("x-real-ip: 127.0.0.1"), "{text}");
    assert!(
        text.contains("x-forwarded-for: 9.9.9.9, 127.0.0.1"),
        "{text}"
    );
    assert!(text.contains("x-req: /headers?x=1"), "{text}");
    assert!(
        !text.contains("x-drop") && !text.contains("keep-alive"),
        "hop-by-hop removed: {text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_host_and_path_without_location_is_404() {
    let a = Backend::start("a").await;
    let conf = format!(
        "http {{ server {{ listen 127.0.0.1:0; location /api/ {{ proxy_pass http://{}; }} }} }}",
        a.addr
    );
    let (_h, addr) = start_proxy(&conf).await;
    assert_eq!(Client::new(addr).get("/other").await.0, 404);
    assert_eq!(
        Client::new(addr).get("/api/x").await,
        (200, "a".to_string())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keepalive_reuses_upstream_connections_and_its_absence_closes_them() {
    let a = Backend::start("a").await;
    let (_h, addr) = start_proxy(&http_conf(
        &upstream("app", "keepalive 4;", &[(&a, "")]),
        "",
    ))
    .await;
    let mut cl = Client::new(addr);
    for _ in 0..50 {
        assert_eq!(cl.get("/").await.0, 200);
    }
    let head = hyper::Request::head("/")
        .header("host", "t")
        .body(http_body_util::BodyExt::boxed(http_body_util::Full::new(
            bytes::Bytes::new(),
        )))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(cl.send(head).await.status().as_u16(), 200);
    assert_eq!(cl.get("/").await.0, 200);
    let used = a.conns.load(std::sync::atomic::Ordering::SeqCst);
    assert!(
        used <= 2,
        "52 sequential requests used {used} upstream connections"
    );

    let b = Backend::start("b").await;
    let (_h2, addr2) = start_proxy(&http_conf(&upstream("app", "", &[(&b, "")]), "")).await;
    let mut cl = Client::new(addr2);
    for _ in 0..10 {
        assert_eq!(cl.get("/").await.0, 200);
    }
    assert_eq!(
        b.conns.load(std::sync::atomic::Ordering::SeqCst),
        10,
        "no keepalive: Connection: close per request, like nginx"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_name_selects_the_site_and_default_server_takes_unknown_hosts() {
    let (a, b) = (Backend::start("a").await, Backend::start("b").await);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(0);
    let conf = format!(
        "http {{ server {{ listen 127.0.0.1:{port}; server_name a.example *.a.example; location / {{ proxy_pass http://{}; }} }}
                 server {{ listen 127.0.0.1:{port} default_server; server_name b.example; location / {{ proxy_pass http://{}; }} }} }}",
        a.addr, b.addr
    );
    let (_h, addr) = start_proxy(&conf).await;
    let mut cl = Client::new(addr);
    for (host, want) in [
        ("a.example", "a"),
        ("www.a.example:8080", "a"),
        ("b.example", "b"),
        ("unknown.example", "b"),
    ] {
        let req = hyper::Request::get("/")
            .header("host", host)
            .body(http_body_util::BodyExt::boxed(http_body_util::Full::new(
                bytes::Bytes::new(),
            )))
            .unwrap_or_else(|e| panic!("{e}"));
        let body = http_body_util::BodyExt::collect(cl.send(req).await.into_body())
            .await
            .map(|c| c.to_bytes())
            .unwrap_or_default();
        assert_eq!(body, want, "Host: {host}");
    }
}
