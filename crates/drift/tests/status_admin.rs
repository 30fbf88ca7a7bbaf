//! The admin port (Prometheus metrics, the status page in headless Chromium) and systemd
//! notifications (a fake NOTIFY_SOCKET bound by the test) of a `drift run` inside a namespace.
//! Needs root; the Chromium part skips with a reason when Chromium is absent, except under CI.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{wait_holders, Instance};
use drift_testkit::{skip_unless_root, ChildGuard, Lab, Signal};

const BIN: &str = env!("CARGO_BIN_EXE_drift");
/// Inside the lab host's own namespace, so it cannot clash with anything.
const ADMIN: &str = "127.0.0.1:9477";

fn single(lab: &Lab, dir: &Path, env: &[String]) -> ChildGuard {
    single_with(lab, dir, env, &[])
}

fn single_with(lab: &Lab, dir: &Path, env: &[String], extra: &[&str]) -> ChildGuard {
    let vip = lab.addr_v4(110);
    let conf = dir.join("h0.conf");
    std::fs::write(&conf, Instance::new("MASTER", 150, vip).v3("0.1").config()).unwrap();
    let sock = dir.join("h0.sock");
    let mut args: Vec<String> = env.to_vec();
    args.extend(
        [
            BIN,
            "run",
            "-f",
            conf.to_str().unwrap(),
            "--control-socket",
            sock.to_str().unwrap(),
            "--dump-dir",
            dir.to_str().unwrap(),
            "--admin",
            ADMIN,
            "--log-format",
            "json",
        ]
        .map(String::from),
    );
    args.extend(extra.iter().map(|a| a.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let child = lab.spawn(0, "env", &args).unwrap();
    assert!(
        wait_holders(lab, vip, &[0], Duration::from_secs(10)).is_some(),
        "no VIP\n{}",
        child.logs()
    );
    child
}

/// GET `path` on the admin port, from inside the lab host.
fn get(lab: &Lab, path: &str) -> String {
    let path = path.to_string();
    lab.host(0).run_in(move || {
        let addr: SocketAddr = ADMIN.parse().unwrap();
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    })
}

#[test]
fn metrics_and_the_status_page_show_the_instance_state() {
    skip_unless_root!();
    let lab = Lab::builder().hosts(1).build().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let child = single(&lab, dir.path(), &[]);
    // JSON logs: every stderr line is one JSON object.
    let first = child.stderr().lines().next().unwrap_or("").to_string();
    assert!(
        serde_json::from_str::<serde_json::Value>(&first).is_ok(),
        "not a JSON log line: {first}"
    );

    let m = get(&lab, "/metrics");
    assert!(m.starts_with("HTTP/1.1 200 OK"), "{m}");
    assert!(
        m.contains("drift_vrrp_state{instance=\"VI_1\",state=\"MASTER\"} 1"),
        "{m}"
    );
    assert!(m.contains("drift_vrrp_adverts_sent_total{instance=\"VI_1\"}"));
    assert!(m.contains("drift_vrrp_dropped_packets_total{instance=\"VI_1\",reason=\"ttl\"} 0"));
    assert!(m.contains(
        "drift_vrrp_tracker_up{instance=\"VI_1\",tracker=\"eth0\",kind=\"interface\"} 1"
    ));
    let page = get(&lab, "/");
    assert!(
        page.contains("<span class=\"state MASTER\">MASTER</span>"),
        "{page}"
    );
    assert!(get(&lab, "/nope").starts_with("HTTP/1.1 404"));

    let Some((dom, png)) = chromium(&lab, dir.path()) else {
        return;
    };
    assert!(
        dom.contains("class=\"state MASTER\"") && dom.contains("VI_1"),
        "chromium --dump-dom: {dom}"
    );
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 5000,
        "{} bytes",
        png.len()
    );
    if let Ok(keep) = std::env::var("DRIFT_SCREENSHOT") {
        std::fs::write(keep, &png).unwrap();
    }
}

/// The status page as headless Chromium sees it, from inside the lab host: `(--dump-dom,
/// --screenshot PNG)`. None (printed) when Chromium is missing, which fails under CI.
fn chromium(lab: &Lab, dir: &Path) -> Option<(String, Vec<u8>)> {
    let Some(chromium) = drift_testkit::find_in_path("chromium") else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "chromium is missing under CI (.ci/run installs it)"
        );
        println!("SKIP chromium part: chromium is not installed (apt-get install chromium)");
        return None;
    };
    let profile = dir.join("chromium-profile");
    let shot = dir.join("page.png");
    let url = format!("http://{ADMIN}/");
    let base = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
    ];
    let chrome = |extra: &[&str]| {
        // A hung browser must fail the test, not stall CI.
        let mut args = vec!["timeout", "60", chromium.to_str().unwrap()];
        args.extend(base);
        let ud = format!("--user-data-dir={}", profile.display());
        args.push(&ud);
        args.extend(extra);
        args.push(&url);
        lab.host(0).exec(&args)
    };
    let dom = chrome(&["--dump-dom"]);
    let dom_text = String::from_utf8_lossy(&dom.stdout).into_owned();
    assert!(
        !dom_text.is_empty(),
        "chromium --dump-dom printed nothing: {}",
        String::from_utf8_lossy(&dom.stderr)
    );
    let ss = format!("--screenshot={}", shot.display());
    let out = chrome(&[&ss, "--window-size=1280,640", "--hide-scrollbars"]);
    let png = std::fs::read(&shot).unwrap_or_else(|e| {
        panic!(
            "no screenshot ({e}): {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    Some((dom_text, png))
}

#[test]
fn with_the_proxy_in_process_upstream_servers_show_in_metrics_status_and_page() {
    skip_unless_root!();
    let lab = Lab::builder().hosts(1).build().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let _names = common::NameServer::start(lab.host(0), "h0");
    let vip = lab.addr_v4(110);
    let nginx = dir.path().join("nginx.conf");
    let port = common::NAME_PORT;
    std::fs::write(
        &nginx,
        format!(
            "stream {{\n  upstream names {{\n    server 127.0.0.1:{port};\n    \
             health_check interval=100ms timeout=500ms fall=2 rise=2;\n  }}\n  \
             server {{\n    listen {vip}:80;\n    proxy_pass names;\n  }}\n}}\n"
        ),
    )
    .unwrap();
    let nginx = nginx.to_str().unwrap().to_string();
    let child = single_with(
        &lab,
        dir.path(),
        &[],
        &["--proxy", &nginx, "--proxy-workers", "1"],
    );
    let answers = lab.host(0).run_in(move || {
        (0..3)
            .filter(|_| {
                let addr = SocketAddr::new(vip.into(), 80);
                let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_secs(2)) else {
                    return false;
                };
                let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
                let mut out = String::new();
                s.read_to_string(&mut out).is_ok() && out == "h0"
            })
            .count()
    });
    assert_eq!(answers, 3, "{}", child.logs());
    let l = format!("upstream=\"names\",server=\"127.0.0.1:{port}\"");
    let seen =
        drift_testkit::wait_until(Duration::from_secs(10), Duration::from_millis(100), || {
            let m = get(&lab, "/metrics");
            m.contains(&format!("drift_upstream_requests_total{{{l}}} 3"))
                && m.contains(&format!("drift_upstream_healthy{{{l}}} 1"))
        });
    assert!(seen.is_some(), "{}", get(&lab, "/metrics"));
    let m = get(&lab, "/metrics");
    assert!(
        m.contains(&format!("drift_upstream_latency_seconds_count{{{l}}} 3")),
        "{m}"
    );
    let page = get(&lab, "/");
    assert!(page.contains("<td class=\"up\">healthy</td>"), "{page}");
    let out = Command::new(BIN)
        .args([
            "status",
            "--json",
            "--socket",
            dir.path().join("h0.sock").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["upstreams"][0]["upstream"], "names");
    assert_eq!(v["upstreams"][0]["requests"], 3);
    if let Ok(keep) = std::env::var("DRIFT_SCREENSHOT_PROXY") {
        if let Some((dom, png)) = chromium(&lab, dir.path()) {
            assert!(dom.contains("id=\"upstreams\""), "{dom}");
            std::fs::write(keep, png).unwrap();
        }
    }
}

/// Datagrams received on the fake NOTIFY_SOCKET until `want` shows up (or the timeout).
fn wait_for(sock: &UnixDatagram, seen: &mut Vec<String>, want: &str, timeout: Duration) -> bool {
    let end = Instant::now() + timeout;
    let mut buf = [0u8; 4096];
    while Instant::now() < end {
        if let Ok(n) = sock.recv(&mut buf) {
            let msg = String::from_utf8_lossy(buf.get(..n).unwrap_or(&[])).into_owned();
            seen.push(msg.clone());
            if msg.lines().any(|l| l == want) {
                return true;
            }
        }
    }
    false
}

#[test]
fn systemd_hears_ready_reloading_watchdog_and_stopping() {
    skip_unless_root!();
    let lab = Lab::builder().hosts(1).build().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&path).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let env = [
        "NOTIFY_SOCKET=".to_string() + path.to_str().unwrap(),
        "WATCHDOG_USEC=400000".to_string(),
    ];
    let mut child = single(&lab, dir.path(), &env);
    let mut seen = Vec::new();
    let t = Duration::from_secs(10);
    assert!(
        wait_for(&sock, &mut seen, "READY=1", t),
        "{seen:?}\n{}",
        child.logs()
    );
    // Half of WATCHDOG_USEC: several pings within a second.
    let pings_from = seen.len();
    std::thread::sleep(Duration::from_millis(1000));
    let _ = wait_for(&sock, &mut seen, "-", Duration::from_millis(200));
    let pings = seen
        .iter()
        .skip(pings_from)
        .filter(|m| m.lines().any(|l| l == "WATCHDOG=1"))
        .count();
    assert!(pings >= 2, "{pings} watchdog pings: {seen:?}");

    let out = Command::new(BIN)
        .args([
            "reload",
            "--socket",
            dir.path().join("h0.sock").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(wait_for(&sock, &mut seen, "RELOADING=1", t), "{seen:?}");
    assert!(wait_for(&sock, &mut seen, "READY=1", t), "{seen:?}");
    child.signal(Signal::SIGTERM).unwrap();
    assert!(
        wait_for(&sock, &mut seen, "STOPPING=1", t),
        "{seen:?}\n{}",
        child.logs()
    );
    let status = child.stop(Duration::from_secs(5)).unwrap();
    assert!(status.success(), "{}", child.logs());
}
