//! Load through failovers (issue 7): a client that counts every request sends HTTP/1.1 GETs
//! (one connection each) to drift's own proxy on the VIP while the master is SIGKILLed and
//! restored, again and again. Every request carries a unique id; each node's backend answers
//! with that id and its node name and records what it served, so a request answered twice (or
//! by the wrong node, or with another request's id) is caught.
//!
//! Each node runs `drift run --proxy`: a stream proxy on VIP:80 (listening with IP_FREEBIND
//! before it holds the VIP) to a backend on the node's 127.0.0.1:8080. Killing drift kills the
//! node's proxy with it, as a crashed node would; its backend stays (the application). Both
//! nodes are `nopreempt`, so the restored node stays a backup and each cycle kills whichever is
//! master: every failure must fall inside a failover window, from the kill to the new master
//! holding the VIP plus [`MARGIN`]. Two failovers by default, ten with `DRIFT_LONG=1`.

mod common;
mod faults_util;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::proxy_node::ProxyNode as Node;
use common::Instance;
use drift_testkit::{skip_unless_root, Lab};
use faults_util::{ms, p50_p99_max, pick, report, VipWatch};

const BACKEND_PORT: u16 = 8080;
const PROXY_PORT: u16 = 80;
const CLIENTS: usize = 4;
const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(1);
/// After the new master holds the VIP: time for its gratuitous ARP to reach the client.
const MARGIN: Duration = Duration::from_millis(500);
const BOUND: Duration = Duration::from_secs(5);

/// A stream proxy on VIP:PROXY_PORT to the node's own backend, TCP-checked every 100 ms.
fn nginx_conf(vip: Ipv4Addr) -> String {
    format!(
        "stream {{\n  upstream app {{\n    server 127.0.0.1:{BACKEND_PORT};\n    \
             health_check interval=100ms timeout=500ms fall=2 rise=1;\n  }}\n  \
             server {{\n    listen {vip}:{PROXY_PORT};\n    proxy_pass app;\n  }}\n}}\n"
    )
}

/// Ids each backend served, as (id, host).
type Served = Arc<Mutex<Vec<(u64, usize)>>>;

/// An HTTP backend on 127.0.0.1:8080 inside host `host`: answers `GET /<id>` with `<id> h<host>`
/// and records the id; a connection that sends nothing (the proxy's TCP health check) is closed.
fn backend(lab: &Lab, host: usize, served: Served, stop: Arc<AtomicBool>) -> JoinHandle<()> {
    let listener = lab
        .host(host)
        .run_in(|| TcpListener::bind(("127.0.0.1", BACKEND_PORT)))
        .unwrap_or_else(|e| panic!("bind the backend in host {host}: {e}"));
    let _ = listener.set_nonblocking(true);
    std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            let Ok((mut s, _)) = listener.accept() else {
                std::thread::sleep(Duration::from_millis(1));
                continue;
            };
            let served = served.clone();
            std::thread::spawn(move || {
                let _ = s.set_nonblocking(false);
                let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
                let mut req = Vec::new();
                let mut buf = [0u8; 512];
                while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => req.extend_from_slice(&buf[..n]),
                    }
                }
                let text = String::from_utf8_lossy(&req);
                let Some(id) = text
                    .strip_prefix("GET /")
                    .and_then(|r| r.split(' ').next())
                    .and_then(|i| i.parse::<u64>().ok())
                else {
                    return;
                };
                let body = format!("{id} h{host}");
                let resp = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                if s.write_all(resp.as_bytes()).is_ok() {
                    if let Ok(mut v) = served.lock() {
                        v.push((id, host));
                    }
                }
            });
        }
    })
}

/// One client request: its id, when it ran, and the host that answered (None: failed).
#[derive(Debug, Clone)]
struct Request {
    id: u64,
    start: Instant,
    end: Instant,
    answer: Result<usize, String>,
}

fn get(addr: SocketAddr, id: u64) -> Result<usize, String> {
    let mut s = TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(REQUEST_TIMEOUT))
        .map_err(|e| e.to_string())?;
    s.write_all(format!("GET /{id} HTTP/1.1\r\nHost: vip\r\nConnection: close\r\n\r\n").as_bytes())
        .map_err(|e| e.to_string())?;
    let mut out = String::new();
    s.read_to_string(&mut out).map_err(|e| e.to_string())?;
    let body = out.split("\r\n\r\n").nth(1).ok_or("no body")?;
    let (got, host) = body.split_once(" h").ok_or("bad body")?;
    if got != id.to_string() {
        return Err(format!("WRONG ID: asked {id}, got {got}"));
    }
    host.trim().parse().map_err(|_| "bad host".to_string())
}

/// `CLIENTS` sequential clients in the client namespace, each pausing 5 ms between requests.
fn client(lab: &Lab, vip: Ipv4Addr, stop: Arc<AtomicBool>) -> JoinHandle<Vec<Request>> {
    lab.client().spawn_thread(move || {
        let next = Arc::new(AtomicU64::new(1));
        let addr = SocketAddr::new(IpAddr::V4(vip), PROXY_PORT);
        // Threads spawned here inherit the client's network namespace.
        let workers: Vec<_> = (0..CLIENTS)
            .map(|_| {
                let (stop, next) = (stop.clone(), next.clone());
                std::thread::spawn(move || {
                    let mut done = Vec::new();
                    while !stop.load(Ordering::Relaxed) {
                        let id = next.fetch_add(1, Ordering::Relaxed);
                        let start = Instant::now();
                        let answer = get(addr, id);
                        done.push(Request {
                            id,
                            start,
                            end: Instant::now(),
                            answer,
                        });
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    done
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap_or_default())
            .collect()
    })
}

#[test]
fn requests_through_the_vip_fail_only_inside_failover_windows_and_none_is_answered_twice() {
    skip_unless_root!();
    load_through_failovers(false);
}

/// The restored master preempts: a second window per cycle, from its restart to the VIP back on
/// it alone (connections open through the backup's proxy then break: the client's packets now
/// reach a node that never saw them).
#[test]
fn with_a_preempting_master_failures_stay_inside_the_kill_and_preemption_windows() {
    skip_unless_root!();
    load_through_failovers(true);
}

fn load_through_failovers(preempt: bool) {
    let lab = Lab::builder()
        .hosts(2)
        .client(true)
        .build()
        .unwrap_or_else(|e| panic!("build lab: {e}"));
    let vip = lab.addr_v4(110);
    let confs = Instance::v3_pair(vip, preempt);
    let served: Served = Arc::default();
    let stop_backends = Arc::new(AtomicBool::new(false));
    let _backends: Vec<_> = (0..2)
        .map(|h| backend(&lab, h, served.clone(), stop_backends.clone()))
        .collect();
    let watch = VipWatch::start(&lab, IpAddr::V4(vip));
    let mut nodes = vec![Node::start(&lab, 0, &confs[0], &nginx_conf(vip))];
    let logs = |n: &[Node]| {
        n.iter()
            .map(|n| n.child.logs())
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert!(
        watch.wait_for(&[0], BOUND).is_some(),
        "no initial master\n{}",
        logs(&nodes)
    );
    nodes.push(Node::start(&lab, 1, &confs[1], &nginx_conf(vip)));
    std::thread::sleep(Duration::from_secs(1));

    let stop_client = Arc::new(AtomicBool::new(false));
    let load = client(&lab, vip, stop_client.clone());
    std::thread::sleep(Duration::from_secs(2));
    let failovers = pick(2, 10);
    let (mut windows, mut preemptions): (Vec<(Instant, Instant)>, Vec<_>) =
        (Vec::new(), Vec::new());
    let mut master = 0;
    for cycle in 0..failovers {
        let other = 1 - master;
        let killed = Instant::now();
        nodes[master].kill();
        let took = drift_testkit::wait_until(BOUND, Duration::from_millis(2), || {
            watch.holders().contains(&other)
        });
        assert!(
            took.is_some(),
            "cycle {cycle}: no takeover\n{}",
            logs(&nodes)
        );
        windows.push((killed, Instant::now() + MARGIN));
        std::thread::sleep(Duration::from_secs(1));
        let restored = Instant::now();
        nodes[master] = Node::start(&lab, master, &confs[master], &nginx_conf(vip));
        let alone = drift_testkit::wait_until(BOUND, Duration::from_millis(2), || {
            watch
                .segments(restored, Instant::now())
                .iter()
                .any(|s| s.holders == [other])
        });
        assert!(
            alone.is_some(),
            "cycle {cycle}: restored node kept its stale VIP\n{}",
            logs(&nodes)
        );
        if preempt {
            assert!(
                watch.wait_for(&[master], BOUND).is_some(),
                "cycle {cycle}: the restored master did not take the VIP back\n{}",
                logs(&nodes)
            );
            preemptions.push((restored, Instant::now() + MARGIN));
        } else {
            master = other;
        }
        std::thread::sleep(Duration::from_secs(2));
    }
    windows.extend(preemptions.iter().copied());
    stop_client.store(true, Ordering::Relaxed);
    let reqs = load.join().unwrap_or_default();
    stop_backends.store(true, Ordering::Relaxed);

    let in_window = |r: &Request| windows.iter().any(|&(a, b)| r.end >= a && r.start <= b);
    let failed: Vec<&Request> = reqs.iter().filter(|r| r.answer.is_err()).collect();
    let outside: Vec<&&Request> = failed.iter().filter(|r| !in_window(r)).collect();
    let wrong: Vec<&&Request> = failed
        .iter()
        .filter(|r| r.answer.as_ref().is_err_and(|e| e.starts_with("WRONG")))
        .collect();
    let mut served_by: HashMap<u64, Vec<usize>> = HashMap::new();
    for (id, host) in served.lock().map(|v| v.clone()).unwrap_or_default() {
        served_by.entry(id).or_default().push(host);
    }
    let twice = served_by.values().filter(|h| h.len() > 1).count();
    // Every answer the client got was served once, by the node it names.
    let unmatched = reqs
        .iter()
        .filter(|r| {
            r.answer
                .as_ref()
                .is_ok_and(|&h| served_by.get(&r.id).map(Vec::as_slice) != Some(&[h]))
        })
        .count();
    // Per window: the stretch from its first to its last failed request.
    let outages: Vec<f64> = windows[..failovers]
        .iter()
        .map(|&(a, b)| {
            let f: Vec<&&Request> = failed
                .iter()
                .filter(|r| r.end >= a && r.start <= b)
                .collect();
            match (
                f.iter().map(|r| r.start).min(),
                f.iter().map(|r| r.end).max(),
            ) {
                (Some(s), Some(e)) => ms(e - s),
                _ => 0.0,
            }
        })
        .collect();
    let (o50, _, omax) = p50_p99_max(&outages);
    let answered = reqs.len() - failed.len();
    let in_preemption = failed
        .iter()
        .filter(|r| preemptions.iter().any(|&(a, b)| r.end >= a && r.start <= b))
        .count();
    let mode = if preempt {
        "preempting master"
    } else {
        "nopreempt"
    };
    report(&format!(
        "load ({mode}): {failovers} failovers (SIGKILL of the master + restore), {CLIENTS} \
         clients: {} requests sent, {answered} answered, {} failed ({} outside failover windows, \
         {in_preemption} in preemption windows), {twice} ids served twice, {} wrong answers; \
         outage per SIGKILL (first to last failed request) p50 {o50:.0} ms max {omax:.0} ms",
        reqs.len(),
        failed.len(),
        outside.len(),
        wrong.len()
    ));
    assert!(
        answered > 100,
        "hardly any request answered\n{}",
        logs(&nodes)
    );
    assert!(
        outside.is_empty(),
        "{} requests failed outside the failover windows, e.g. {:?}\n{}",
        outside.len(),
        outside.iter().take(5).collect::<Vec<_>>(),
        logs(&nodes)
    );
    assert_eq!(twice, 0, "a request id was served twice");
    assert!(wrong.is_empty(), "answers to the wrong request: {wrong:?}");
    assert_eq!(
        unmatched, 0,
        "answers that no backend (or another one) served"
    );
}
