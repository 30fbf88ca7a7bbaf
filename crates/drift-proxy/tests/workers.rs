//! `spawn_workers` (what `drift run --proxy` and `drift proxy` use): requests are served on every
//! worker thread, the group signal `track_upstream` follows is published, and stop() ends it all.
//! Also: a non-idempotent request is never resent, even on a status listed in proxy_next_upstream.

mod common;

use common::{Backend, Client};
use std::time::Duration;

fn cfg(text: &str) -> drift_proxy::ProxyConfig {
    drift_proxy::check_str("test.conf", text)
        .unwrap_or_else(|d| panic!("{}", drift_proxy::render_all(&d)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_worker_threads_serve_one_port_and_stop_closes_it() {
    let a = Backend::start("a").await;
    let w = drift_proxy::spawn_workers(
        cfg(&format!(
            "http {{ upstream app {{ server {}; keepalive 4; }} server {{ listen 127.0.0.1:0; location / {{ proxy_pass http://app; }} }} }}",
            a.addr
        )),
        2,
    )
    .unwrap_or_else(|e| panic!("spawn_workers: {e}"));
    let addr = w.local_addrs()[0];
    assert_ne!(addr.port(), 0, "port 0 is resolved");
    // Separate connections, so SO_REUSEPORT spreads them over both workers.
    for _ in 0..20 {
        assert_eq!(Client::new(addr).get("/").await, (200, "a".to_string()));
    }
    assert_eq!(a.hits(), 20);
    tokio::task::spawn_blocking(move || w.stop())
        .await
        .unwrap_or_else(|e| panic!("stop: {e}"));
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "still accepting after stop"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_group_signal_turns_false_when_active_checks_fail_every_server() {
    let mut a = Backend::start("a").await;
    let mut b = Backend::start("b").await;
    let w = drift_proxy::spawn_workers(
        cfg(&format!(
            "http {{ upstream app {{ server {}; server {}; health_check interval=50ms fall=1 rise=1 timeout=200ms; }} server {{ listen 127.0.0.1:0; location / {{ proxy_pass http://app; }} }} }}",
            a.addr, b.addr
        )),
        1,
    )
    .unwrap_or_else(|e| panic!("spawn_workers: {e}"));
    assert!(w.upstream_watch("nope").is_none());
    let mut rx = w
        .upstream_watch("app")
        .unwrap_or_else(|| panic!("no watch for app"));
    assert!(*rx.borrow_and_update(), "starts usable");
    a.stop();
    b.stop();
    let down = tokio::time::timeout(Duration::from_secs(5), rx.wait_for(|v| !*v)).await;
    assert!(matches!(down, Ok(Ok(_))), "signal never turned false");
    tokio::task::spawn_blocking(move || w.stop())
        .await
        .unwrap_or_else(|e| panic!("stop: {e}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn post_and_patch_are_not_resent_on_a_listed_status_but_get_is() {
    let (a, b) = (Backend::start("a").await, Backend::start("b").await);
    let (_h, addr) = common::start_proxy(&format!(
        "http {{ upstream app {{ server {} max_fails=0; server {} max_fails=0; }} server {{ listen 127.0.0.1:0; location / {{ proxy_pass http://app; proxy_next_upstream error timeout http_503; }} }} }}",
        a.addr, b.addr
    ))
    .await;
    let mut cl = Client::new(addr);
    for method in ["POST", "PATCH"] {
        let before = a.hits() + b.hits();
        let (st, _) = cl.request(method, "/status/503", "x").await;
        assert_eq!(st, 503, "{method}: the answer is relayed");
        assert_eq!(a.hits() + b.hits() - before, 1, "{method} was sent twice");
    }
    let before = a.hits() + b.hits();
    let (st, _) = cl.get("/status/503").await;
    assert_eq!(st, 503);
    assert_eq!(
        a.hits() + b.hits() - before,
        2,
        "GET is retried once per server"
    );
}
