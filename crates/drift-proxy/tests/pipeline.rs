//! Upstream pipelining (`pipeline N`, a drift extension) against a strict scripted backend on
//! loopback: batches really happen, every client gets its own response (never a neighbour's),
//! a batch the server cuts short is finished request by request, and only GET/HEAD without a
//! body are ever pipelined.
//!
//! The proxy, the clients and the backend share the test's one thread, so clients that send
//! in the same turn are read in the same turn: the situation pipelining is for.

mod common;

use common::raw::{chunked, ok, pattern, Message, RawBackend, Step, Wire};
use common::start_proxy;
use std::net::SocketAddr;
use tokio::task::JoinSet;

const CLIENTS: usize = 40;
const ROUNDS: usize = 20;

fn conf(backend: SocketAddr, pipeline: usize) -> String {
    format!(
        "http {{ upstream u {{ server {backend}; keepalive 64; pipeline {pipeline}; }}
           server {{ listen 127.0.0.1:0; location / {{ proxy_pass http://u; proxy_http_version 1.1;
             proxy_set_header Connection \"\"; }} }} }}"
    )
}

/// The backend's answer to `target`: the target itself as the body, `big` ones padded with a
/// pattern past the socket buffers, odd rounds chunked; HEAD gets the same head and no body.
fn answer(m: &Message) -> Vec<u8> {
    let target = m.target();
    let mut body = target.as_bytes().to_vec();
    if target.contains("big") {
        body.extend_from_slice(&pattern(300 * 1024));
    }
    let odd_round = target
        .rsplit('r')
        .next()
        .and_then(|n| n.parse::<usize>().ok())
        .is_some_and(|n| n % 2 == 1);
    if odd_round && m.method() != "HEAD" {
        let mut r =
            format!("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Target: {target}\r\n\r\n")
                .into_bytes();
        r.extend_from_slice(&chunked(&body, if body.len() > 1000 { 4096 } else { 7 }));
        return r;
    }
    let mut r = format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nX-Target: {target}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    if m.method() != "HEAD" {
        r.extend_from_slice(&body);
    }
    r
}

/// `CLIENTS` connections, each sending `ROUNDS` requests one after another (all at once at
/// each round); checks every response is the one for its own request.
async fn clients(
    proxy: SocketAddr,
    method: impl Fn(usize, usize) -> &'static str + Copy + Send + 'static,
    big: impl Fn(usize, usize) -> bool + Copy + Send + 'static,
) {
    let mut set = JoinSet::new();
    for c in 0..CLIENTS {
        set.spawn(async move {
            let mut w = Wire::connect(proxy).await;
            for r in 0..ROUNDS {
                let method = method(c, r);
                let target = if big(c, r) {
                    format!("/big/c{c}/r{r}")
                } else {
                    format!("/c{c}/r{r}")
                };
                let body = if method == "POST" { "x" } else { "" };
                w.send(
                    format!(
                        "{method} {target} HTTP/1.1\r\nHost: test\r\nContent-Length: {}\r\n\r\n{body}",
                        body.len()
                    )
                    .as_bytes(),
                )
                .await;
                let (_, resp) = w.final_response(method == "HEAD").await;
                assert_eq!(resp.status(), 200, "{method} {target}: {resp}");
                assert_eq!(
                    resp.header("x-target"),
                    Some(target.as_str()),
                    "{method} {target} got another request's response"
                );
                if method == "HEAD" {
                    assert!(resp.body.is_empty(), "HEAD {target} got a body");
                } else {
                    assert!(
                        resp.body.starts_with(target.as_bytes()),
                        "{method} {target}: body of another request"
                    );
                    if big(c, r) {
                        assert_eq!(&resp.body[target.len()..], pattern(300 * 1024).as_slice());
                    }
                }
            }
        });
    }
    while let Some(r) = set.join_next().await {
        if let Err(e) = r {
            std::panic::resume_unwind(e.into_panic());
        }
    }
}

fn pipelined(b: &RawBackend) -> usize {
    b.requests().iter().filter(|(c, _)| c.pipelined).count()
}

#[tokio::test]
async fn concurrent_gets_share_upstream_writes_and_each_client_gets_its_own_response() {
    let backend = RawBackend::start(|_, m| vec![Step::Write(answer(m))]).await;
    let (h, proxy) = start_proxy(&conf(backend.addr, 8)).await;
    clients(
        proxy,
        |c, r| if (c + r) % 5 == 0 { "HEAD" } else { "GET" },
        |_, _| false,
    )
    .await;
    assert!(backend.errors().is_empty(), "{:?}", backend.errors());
    assert_eq!(
        backend.requests().len(),
        CLIENTS * ROUNDS,
        "every request reached the backend exactly once"
    );
    let p = pipelined(&backend);
    assert!(p > 0, "no request was pipelined: the feature did nothing");
    let counted: u64 = h.metrics("u").iter().map(|(_, m)| m.pipelined).sum();
    assert!(
        counted as usize > p && counted as usize <= CLIENTS * ROUNDS,
        "drift_upstream_pipelined_requests_total {counted}: each batch of n counts n, \
         of which n-1 arrived with another behind them ({p})"
    );
    println!(
        "{p} of {} requests arrived with a later one behind them; {} upstream connections",
        CLIENTS * ROUNDS,
        backend.accepts()
    );
}

#[tokio::test]
async fn without_pipeline_no_request_is_pipelined() {
    let backend = RawBackend::start(|_, m| vec![Step::Write(answer(m))]).await;
    let (_h, proxy) = start_proxy(&conf(backend.addr, 1)).await;
    clients(proxy, |_, _| "GET", |_, _| false).await;
    assert_eq!(backend.requests().len(), CLIENTS * ROUNDS);
    assert_eq!(pipelined(&backend), 0);
}

#[tokio::test]
async fn a_batch_the_server_cuts_short_is_finished_request_by_request() {
    // Every connection answers one request, says `Connection: close` and closes: whatever was
    // pipelined behind that request is never answered, so it must go again, alone.
    let backend = RawBackend::start(|_, m| {
        let mut r = answer(m);
        let at = r.windows(2).position(|w| w == b"\r\n").unwrap_or(0);
        r.splice(at..at, b"\r\nConnection: close".iter().copied());
        vec![Step::Write(r), Step::Close]
    })
    .await;
    let (_h, proxy) = start_proxy(&conf(backend.addr, 8)).await;
    clients(proxy, |_, _| "GET", |_, _| false).await;
    assert!(backend.errors().is_empty(), "{:?}", backend.errors());
    assert!(
        pipelined(&backend) > 0,
        "no batch was cut short: the test tested nothing"
    );
    assert_eq!(
        backend.requests().len(),
        CLIENTS * ROUNDS,
        "each request answered once (the unanswered ones were not counted as seen)"
    );
}

#[tokio::test]
async fn a_response_too_large_to_hold_ends_the_batch_and_its_request_goes_alone() {
    let backend = RawBackend::start(|_, m| vec![Step::Write(answer(m))]).await;
    let (_h, proxy) = start_proxy(&conf(backend.addr, 8)).await;
    // One client in four asks for 300 KiB (over the 256 KiB a joiner's response may take).
    clients(proxy, |_, _| "GET", |c, _| c % 4 == 0).await;
    assert!(backend.errors().is_empty(), "{:?}", backend.errors());
    assert!(pipelined(&backend) > 0, "no batch formed");
}

#[tokio::test]
async fn requests_with_a_body_or_another_method_are_never_pipelined() {
    let backend = RawBackend::start(|_, m| vec![Step::Write(answer(m))]).await;
    let (_h, proxy) = start_proxy(&conf(backend.addr, 8)).await;
    clients(
        proxy,
        |c, r| if (c + r) % 3 == 0 { "POST" } else { "GET" },
        |_, _| false,
    )
    .await;
    let seen = backend.requests();
    assert_eq!(seen.len(), CLIENTS * ROUNDS);
    assert!(pipelined(&backend) > 0, "no batch formed");
    let at = |conn: usize, nth: usize| seen.iter().find(|(c, _)| c.conn == conn && c.nth == nth);
    for (c, m) in &seen {
        if m.method() != "POST" {
            continue;
        }
        // Nothing behind the POST, and the POST was not already behind the request before it.
        assert!(
            !c.pipelined,
            "a request was pipelined behind POST {}",
            m.target()
        );
        if let Some((prev, pm)) = at(c.conn, c.nth - 1) {
            assert!(
                !prev.pipelined,
                "POST {} was pipelined behind {}",
                m.target(),
                pm.target()
            );
        }
    }
}

#[tokio::test]
async fn a_fixed_backend_still_works_when_one_request_is_alone() {
    let backend = RawBackend::fixed(&ok("hello")).await;
    let (_h, proxy) = start_proxy(&conf(backend.addr, 8)).await;
    let mut w = Wire::connect(proxy).await;
    for _ in 0..3 {
        w.send(b"GET /x HTTP/1.1\r\nHost: test\r\n\r\n").await;
        let (_, resp) = w.final_response(false).await;
        assert_eq!(resp.body_text(), "hello");
    }
    assert_eq!(
        pipelined(&backend),
        0,
        "a lone request has nobody to share with"
    );
}

#[tokio::test]
async fn a_response_that_times_out_in_a_batch_fails_only_its_own_request() {
    // `/hang` requests are never answered; the rest at once. A batch that holds one waits on
    // it (responses come in order): that request gets nginx's 504 after proxy_read_timeout,
    // every other one its own response (those behind the hung one go again, alone).
    let backend = RawBackend::start(|_, m| {
        if m.target().starts_with("/hang") {
            vec![Step::Pause(std::time::Duration::from_secs(30))]
        } else {
            vec![Step::Write(answer(m))]
        }
    })
    .await;
    let conf = conf(backend.addr, 8).replace(
        "proxy_http_version 1.1;",
        "proxy_http_version 1.1; proxy_read_timeout 300ms;",
    );
    let (_h, proxy) = start_proxy(&conf).await;
    let mut set = JoinSet::new();
    for c in 0..CLIENTS {
        set.spawn(async move {
            let mut w = Wire::connect(proxy).await;
            for r in 0..3 {
                let hang = c % 8 == 0 && r == 1;
                let target = if hang {
                    format!("/hang/c{c}")
                } else {
                    format!("/c{c}/r{r}")
                };
                w.send(format!("GET {target} HTTP/1.1\r\nHost: test\r\n\r\n").as_bytes())
                    .await;
                let t0 = std::time::Instant::now();
                let (_, resp) = w.final_response(false).await;
                if hang {
                    assert_eq!(resp.status(), 504, "{target}: {resp}");
                    assert!(t0.elapsed().as_secs() < 5, "{target}: {:?}", t0.elapsed());
                } else {
                    assert_eq!(resp.status(), 200, "{target}: {resp}");
                    assert_eq!(resp.header("x-target"), Some(target.as_str()));
                }
            }
        });
    }
    while let Some(r) = set.join_next().await {
        if let Err(e) = r {
            std::panic::resume_unwind(e.into_panic());
        }
    }
    let seen = backend.requests();
    let hung_in_batch = seen
        .iter()
        .filter(|(c, m)| c.pipelined && m.target().starts_with("/hang"))
        .count();
    println!("{hung_in_batch} hung requests had others pipelined behind them");
    assert!(
        seen.iter()
            .any(|(c, m)| c.pipelined && !m.target().starts_with("/hang")),
        "no batch formed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_multi_thread_runtime_no_request_waits_on_a_lost_batch_or_gets_another_response() {
    // Tasks move between threads here (`Proxy::start` inside a caller's runtime): a leader may
    // close its batch on another thread than the one it opened it on.
    let backend = RawBackend::start(|_, m| vec![Step::Write(answer(m))]).await;
    let (_h, proxy) = start_proxy(&conf(backend.addr, 8)).await;
    tokio::time::timeout(
        std::time::Duration::from_secs(60),
        clients(
            proxy,
            |c, r| if (c + r) % 5 == 0 { "HEAD" } else { "GET" },
            |_, _| false,
        ),
    )
    .await
    .unwrap_or_else(|_| panic!("clients still waiting after 60 s: a joiner was left behind"));
    assert!(backend.errors().is_empty(), "{:?}", backend.errors());
    assert_eq!(backend.requests().len(), CLIENTS * ROUNDS);
    println!("{} requests pipelined", pipelined(&backend));
}
