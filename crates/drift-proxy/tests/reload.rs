//! Reload (what SIGHUP does): the new upstream set serves new requests, kept-alive and new
//! client connections never fail across reloads, a bad or unappliable file is refused with the
//! old configuration still serving, listeners are added and removed, and the group signal a
//! `track_upstream` follows stays the same channel without a change.

mod common;

use common::{Backend, Client};
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn cfg(text: &str) -> drift_proxy::ProxyConfig {
    drift_proxy::check_str("test.conf", text)
        .unwrap_or_else(|d| panic!("{}", drift_proxy::render_all(&d)))
}

fn group(servers: &[&Backend], listen: &str) -> String {
    let s: String = servers
        .iter()
        .map(|b| format!("server {}; ", b.addr))
        .collect();
    format!(
        "http {{ upstream app {{ {s} keepalive 8; }} server {{ listen {listen}; location / {{ proxy_pass http://app; }} }} }}"
    )
}

async fn stop(w: drift_proxy::Workers) {
    tokio::task::spawn_blocking(move || w.stop())
        .await
        .unwrap_or_else(|e| panic!("stop: {e}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_reloads_switch_the_upstream_set_with_no_failed_request() {
    let (a, b) = (Backend::start("a").await, Backend::start("b").await);
    let (c, d) = (Backend::start("c").await, Backend::start("d").await);
    let first = group(&[&a, &b], "127.0.0.1:0");
    let second = group(&[&c, &d], "127.0.0.1:0");
    let w = drift_proxy::spawn_workers(cfg(&first), 2).unwrap_or_else(|e| panic!("spawn: {e}"));
    let addr = w.local_addrs()[0];
    let mut signal = w
        .upstream_watch("app")
        .unwrap_or_else(|| panic!("no signal"));
    signal.borrow_and_update();

    // Client loops: three kept-alive connections and one that opens a connection per request.
    let running = Arc::new(AtomicBool::new(true));
    let (ok, bad) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let seen = Arc::new(Mutex::new(BTreeSet::new()));
    let mut loops = Vec::new();
    for i in 0..4 {
        let (running, ok, bad, seen) = (running.clone(), ok.clone(), bad.clone(), seen.clone());
        loops.push(tokio::spawn(async move {
            let mut cl = Client::new(addr);
            while running.load(SeqCst) {
                if i == 3 {
                    cl = Client::new(addr);
                }
                let (st, body) = cl.get("/").await;
                if st == 200 {
                    ok.fetch_add(1, SeqCst);
                    seen.lock().unwrap_or_else(|e| e.into_inner()).insert(body);
                } else {
                    bad.fetch_add(1, SeqCst);
                }
            }
        }));
    }
    let reloader = w.reloader();
    for round in 0..20 {
        tokio::time::sleep(Duration::from_millis(40)).await;
        let (text, now) = if round % 2 == 0 {
            (&second, ["c", "d"])
        } else {
            (&first, ["a", "b"])
        };
        let r = reloader.clone();
        let c2 = cfg(text);
        let rep = tokio::task::spawn_blocking(move || r.reload(c2))
            .await
            .unwrap_or_else(|e| panic!("join: {e}"))
            .unwrap_or_else(|e| panic!("reload {round}: {e}"));
        assert!(rep.added.is_empty() && rep.removed.is_empty(), "{rep:?}");
        // Once reload returns every worker routes by the new set: new and kept-alive
        // connections alike.
        let mut fresh = Client::new(addr);
        for _ in 0..4 {
            let (st, body) = fresh.get("/").await;
            assert_eq!(st, 200);
            assert!(
                now.contains(&body.as_str()),
                "round {round}: {body} not in {now:?}"
            );
        }
    }
    running.store(false, SeqCst);
    for l in loops {
        assert!(
            l.await.is_ok(),
            "a client loop failed (connect or request error)"
        );
    }
    let (ok, bad) = (ok.load(SeqCst), bad.load(SeqCst));
    eprintln!("figure: {ok} requests during 20 reloads, {bad} failed");
    assert_eq!(bad, 0);
    assert!(ok > 100, "only {ok} requests");
    let seen = seen.lock().unwrap_or_else(|e| e.into_inner()).clone();
    assert_eq!(seen, ["a", "b", "c", "d"].map(String::from).into());
    assert!(c.hits() > 0 && d.hits() > 0 && a.hits() > 0 && b.hits() > 0);
    assert!(
        !signal.has_changed().unwrap_or(true),
        "the group signal changed or closed: a track_upstream would have seen the reload"
    );
    assert!(*signal.borrow());
    stop(w).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_file_or_an_address_in_use_is_refused_and_the_old_configuration_serves() {
    let (a, b) = (Backend::start("a").await, Backend::start("b").await);
    let w = drift_proxy::spawn_workers(cfg(&group(&[&a], "127.0.0.1:0")), 1)
        .unwrap_or_else(|e| panic!("spawn: {e}"));
    let addr = w.local_addrs()[0];
    let dir = tempfile_dir();
    let path = dir.join("nginx.conf");
    std::fs::write(
        &path,
        group(&[&b], "127.0.0.1:0").replace("upstream", "upstreem"),
    )
    .unwrap_or_else(|e| panic!("write: {e}"));
    let r = w.reloader();
    let p2 = path.clone();
    let err = tokio::task::spawn_blocking(move || r.reload_file(&p2, |_| Ok(())))
        .await
        .unwrap_or_else(|e| panic!("join: {e}"));
    let msg = format!(
        "{}",
        err.err().unwrap_or_else(|| panic!("bad file applied"))
    );
    assert!(
        msg.contains("refused") && msg.contains("nginx.conf:1"),
        "{msg}"
    );

    // A second server block on a port something else holds: nothing of it is applied.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
    let busy: SocketAddr = taken.local_addr().unwrap_or_else(|e| panic!("{e}"));
    let text = group(&[&b], "127.0.0.1:0").replace(
        "} } }",
        &format!("}} }} server {{ listen {busy}; location / {{ proxy_pass http://app; }} }} }}"),
    );
    let r = w.reloader();
    let err = tokio::task::spawn_blocking(move || r.reload(cfg(&text)))
        .await
        .unwrap_or_else(|e| panic!("join: {e}"));
    assert!(err.is_err(), "applied a listener on a busy port");
    let (st, body) = Client::new(addr).get("/").await;
    assert_eq!(
        (st, body.as_str()),
        (200, "a"),
        "the old upstream set serves"
    );

    // The accept hook refuses (drift run: a tracked group is missing).
    std::fs::write(&path, group(&[&b], "127.0.0.1:0")).unwrap_or_else(|e| panic!("{e}"));
    let r = w.reloader();
    let err = tokio::task::spawn_blocking(move || r.reload_file(&path, |_| Err("no".into())))
        .await
        .unwrap_or_else(|e| panic!("join: {e}"));
    assert!(err.is_err());
    assert_eq!(Client::new(addr).get("/").await.1, "a");
    stop(w).await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_opens_new_listen_addresses_and_closes_removed_ones() {
    let a = Backend::start("a").await;
    let one = group(&[&a], "127.0.0.1:0");
    let w = drift_proxy::spawn_workers(cfg(&one), 2).unwrap_or_else(|e| panic!("spawn: {e}"));
    let first = w.local_addrs()[0];
    let free = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap_or_else(|e| panic!("{e}"));
    let two = one.replace(
        "} } }",
        &format!("}} }} server {{ listen {free}; location / {{ proxy_pass http://app; }} }} }}"),
    );
    let r = w.reloader();
    let rep = tokio::task::spawn_blocking(move || r.reload(cfg(&two)))
        .await
        .unwrap_or_else(|e| panic!("join: {e}"))
        .unwrap_or_else(|e| panic!("reload: {e}"));
    assert_eq!(rep.added, vec![free]);
    assert_eq!(Client::new(free).get("/").await.1, "a");
    assert_eq!(Client::new(first).get("/").await.1, "a");
    let r = w.reloader();
    let rep = tokio::task::spawn_blocking(move || r.reload(cfg(&one)))
        .await
        .unwrap_or_else(|e| panic!("join: {e}"))
        .unwrap_or_else(|e| panic!("reload: {e}"));
    assert_eq!(rep.removed, vec![free]);
    let closed = refused_soon(free).await;
    assert!(
        closed,
        "{free} still accepts after its server block was removed"
    );
    assert_eq!(Client::new(first).get("/").await.1, "a");
    stop(w).await;
}

/// The removed listener closes once its accept loop is gone (asynchronously, on its worker).
async fn refused_soon(addr: SocketAddr) -> bool {
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(addr).await.is_err() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

fn tempfile_dir() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("drift-proxy-reload-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap_or_else(|e| panic!("mkdir: {e}"));
    d
}
