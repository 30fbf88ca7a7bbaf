//! `drift run --proxy`: the load balancer in the VRRP daemon's process, in a namespace lab.
//! A backup's proxy already listens on the VIP (IP_FREEBIND) and serves as soon as the VIP moves
//! to it; `track_upstream` moves the VIP away from a node whose backends died, with no script.
//! SIGHUP reloads the nginx file: the upstream set switches with no failed connection and the
//! VRRP side does not notice.

mod common;

use std::io::Read;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::proxy_node::ProxyNode as Node;
use common::{drop_stale_vip, holders, wait_holders, Instance, NameServer, NAME_PORT};
use drift_testkit::{skip_unless_root, wait_until, Lab, Signal};

const DRIFT: &str = env!("CARGO_BIN_EXE_drift");
const PROXY_PORT: u16 = 80;

fn path_str(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// A stream proxy on VIP:80 to the host's own name server, TCP-checked every 100 ms.
fn nginx_conf(vip: Ipv4Addr) -> String {
    nginx_conf_to(vip, Ipv4Addr::LOCALHOST)
}

/// The same, to the name server at `backend`.
fn nginx_conf_to(vip: Ipv4Addr, backend: Ipv4Addr) -> String {
    format!(
        "stream {{\n  upstream names {{\n    server {backend}:{NAME_PORT};\n    \
         health_check interval=100ms timeout=500ms fall=2 rise=2;\n  }}\n  \
         server {{\n    listen {vip}:{PROXY_PORT};\n    proxy_pass names;\n  }}\n}}\n"
    )
}

fn with_track_upstream(inst: &Instance) -> String {
    inst.config().replace(
        "    virtual_ipaddress {",
        "    track_upstream names\n    virtual_ipaddress {",
    )
}

fn lab() -> Lab {
    Lab::builder()
        .hosts(2)
        .client(true)
        .build()
        .unwrap_or_else(|e| panic!("build lab: {e}"))
}

/// The name the proxy on the VIP answers with, from the client namespace.
fn ask_proxy(lab: &Lab, vip: Ipv4Addr) -> Option<String> {
    lab.client().run_in(move || {
        let addr = SocketAddr::new(IpAddr::V4(vip), PROXY_PORT);
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(500)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
        let mut out = String::new();
        s.read_to_string(&mut out).ok()?;
        Some(out).filter(|o| !o.is_empty())
    })
}

fn wait_answer(lab: &Lab, vip: Ipv4Addr, want: &str, timeout: Duration) -> bool {
    wait_until(timeout, Duration::from_millis(50), || {
        ask_proxy(lab, vip).as_deref() == Some(want)
    })
    .is_some()
}

/// Whether host `host` has a TCP listener on `vip:PROXY_PORT` (from `ss`, inside its namespace).
fn listens_on(lab: &Lab, host: usize, vip: Ipv4Addr) -> bool {
    let out = lab.exec(host, &["ss", "-Htln"]);
    String::from_utf8_lossy(&out.stdout).contains(&format!("{vip}:{PROXY_PORT}"))
}

fn pair_instances(lab: &Lab) -> (Instance, Instance, Ipv4Addr) {
    let vip = lab.addr_v4(110);
    let m = Instance::new("MASTER", 150, vip).v3("0.1");
    let b = Instance::new("BACKUP", 100, vip).v3("0.1");
    (m, b, vip)
}

#[test]
fn the_backup_listens_on_the_vip_before_holding_it_and_serves_once_it_moves() {
    skip_unless_root!();
    let lab = lab();
    let (m, b, vip) = pair_instances(&lab);
    let _names = [
        NameServer::start(lab.host(0), "h0"),
        NameServer::start(lab.host(1), "h1"),
    ];
    let mut n0 = Node::start(&lab, 0, &m.config(), &nginx_conf(vip));
    let mut n1 = Node::start(&lab, 1, &b.config(), &nginx_conf(vip));
    let up = wait_holders(&lab, vip, &[0], Duration::from_secs(10));
    assert!(up.is_some(), "no master\n{}\n{}", n0.logs(), n1.logs());
    assert!(
        wait_until(Duration::from_secs(5), Duration::from_millis(20), || {
            listens_on(&lab, 1, vip)
        })
        .is_some(),
        "the backup does not listen on the VIP it lacks\n{}",
        n1.logs()
    );
    assert!(!lab.has_addr(1, IpAddr::V4(vip)), "backup holds the VIP");
    assert!(wait_answer(&lab, vip, "h0", Duration::from_secs(5)));

    n0.child
        .signal(Signal::SIGKILL)
        .unwrap_or_else(|e| panic!("kill: {e}"));
    let _ = n0.child.stop(Duration::from_secs(2));
    drop_stale_vip(&lab, 0, vip);
    let moved = wait_holders(&lab, vip, &[1], Duration::from_secs(10));
    assert!(moved.is_some(), "VIP did not move\n{}", n1.logs());
    assert!(
        wait_answer(&lab, vip, "h1", Duration::from_secs(10)),
        "the backup's proxy does not answer on the VIP it now holds\n{}",
        n1.logs()
    );
    // SIGTERM stops both the VRRP thread (VIP removed) and the proxy's threads: exit 0.
    let st = n1.child.stop(Duration::from_secs(5));
    assert!(
        st.as_ref().is_ok_and(|s| s.success()),
        "{st:?}\n{}",
        n1.logs()
    );
    assert!(holders(&lab, vip).is_empty(), "VIP left behind");
}

#[test]
fn track_upstream_moves_the_vip_off_a_node_whose_backends_died_and_back() {
    skip_unless_root!();
    let lab = lab();
    let (m, b, vip) = pair_instances(&lab);
    let mut h0_backend = Some(NameServer::start(lab.host(0), "h0"));
    let _h1_backend = NameServer::start(lab.host(1), "h1");
    let n0 = Node::start(&lab, 0, &with_track_upstream(&m), &nginx_conf(vip));
    let n1 = Node::start(&lab, 1, &with_track_upstream(&b), &nginx_conf(vip));
    let up = wait_holders(&lab, vip, &[0], Duration::from_secs(10));
    assert!(up.is_some(), "no master\n{}\n{}", n0.logs(), n1.logs());
    assert!(wait_answer(&lab, vip, "h0", Duration::from_secs(5)));

    drop(h0_backend.take());
    let moved = wait_holders(&lab, vip, &[1], Duration::from_secs(10));
    assert!(
        moved.is_some(),
        "VIP stayed on the node without backends (holders {:?})\n{}",
        holders(&lab, vip),
        n0.logs()
    );
    println!("FIGURE backends killed -> VIP on the other node: {moved:?}");
    assert!(wait_answer(&lab, vip, "h1", Duration::from_secs(10)));
    let logs = n0.logs();
    assert!(logs.contains("upstream names: no usable server"), "{logs}");
    assert!(logs.contains("FAULT"), "{logs}");

    h0_backend = Some(NameServer::start(lab.host(0), "h0"));
    let back = wait_holders(&lab, vip, &[0], Duration::from_secs(10));
    assert!(
        back.is_some(),
        "no preemption after recovery\n{}",
        n0.logs()
    );
    assert!(wait_answer(&lab, vip, "h0", Duration::from_secs(10)));
    drop(h0_backend);
}

#[test]
fn drift_run_refuses_a_track_upstream_it_cannot_follow() {
    skip_unless_root!();
    let lab = lab();
    let (m, _, vip) = pair_instances(&lab);
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let k: PathBuf = dir.path().join("keepalived.conf");
    std::fs::write(&k, with_track_upstream(&m).replace("names", "nmaes")).unwrap_or_default();
    let n: PathBuf = dir.path().join("nginx.conf");
    std::fs::write(&n, nginx_conf(vip)).unwrap_or_default();
    let (k, n) = (path_str(&k), path_str(&n));
    for args in [vec!["run", "-f", &k], vec!["run", "-f", &k, "--proxy", &n]] {
        let out = lab.exec(0, &[&[DRIFT][..], &args].concat());
        assert!(!out.status.success(), "{args:?} started");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("nmaes"), "{args:?}: {err}");
    }
    let check = std::process::Command::new(DRIFT)
        .args(["check", "-f", &k, "--proxy", &n])
        .output()
        .unwrap_or_else(|e| panic!("drift check: {e}"));
    assert_eq!(check.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&check.stderr).contains("track_upstream `nmaes`"));
    assert_eq!(holders(&lab, vip), Vec::<usize>::new());
}

#[test]
fn sighup_reloads_the_upstream_set_with_no_failed_connection_and_the_vrrp_side_unchanged() {
    skip_unless_root!();
    let lab = lab();
    let (m, _, vip) = pair_instances(&lab);
    let _names = [
        NameServer::start(lab.host(0), "h0"),
        NameServer::start(lab.host(1), "h1"),
    ];
    // One node: the master, tracking the group that every reload keeps (its server changes).
    let n0 = Node::start(&lab, 0, &with_track_upstream(&m), &nginx_conf(vip));
    let up = wait_holders(&lab, vip, &[0], Duration::from_secs(10));
    assert!(up.is_some(), "no master\n{}", n0.logs());
    assert!(wait_answer(&lab, vip, "h0", Duration::from_secs(5)));

    // A client loop in the client namespace: one connection per request, every failure counted.
    let running = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let flag = running.clone();
    let client = lab.client().spawn_thread(move || {
        let (mut answers, mut failed) = (Vec::new(), Vec::new());
        let addr = SocketAddr::new(IpAddr::V4(vip), PROXY_PORT);
        while flag.load(std::sync::atomic::Ordering::Relaxed) {
            let got =
                TcpStream::connect_timeout(&addr, Duration::from_secs(2)).and_then(|mut s| {
                    s.set_read_timeout(Some(Duration::from_secs(2)))?;
                    let mut out = String::new();
                    s.read_to_string(&mut out)?;
                    Ok(out)
                });
            match got {
                Ok(a) if a == "h0" || a == "h1" => answers.push(a),
                other => failed.push(format!("{other:?}")),
            }
        }
        (answers, failed)
    });
    let h1 = lab.host(1).ipv4();
    for round in 0..20 {
        let (to, want) = if round % 2 == 0 {
            (h1, "h1")
        } else {
            (Ipv4Addr::LOCALHOST, "h0")
        };
        std::fs::write(n0.nginx_path(), nginx_conf_to(vip, to))
            .unwrap_or_else(|e| panic!("write: {e}"));
        n0.child
            .signal(Signal::SIGHUP)
            .unwrap_or_else(|e| panic!("SIGHUP: {e}"));
        let logs_reloads = || n0.logs().matches("proxy reloaded").count();
        assert!(
            wait_until(Duration::from_secs(5), Duration::from_millis(10), || {
                logs_reloads() > round
            })
            .is_some(),
            "reload {round} not logged\n{}",
            n0.logs()
        );
        assert!(
            wait_answer(&lab, vip, want, Duration::from_secs(2)),
            "round {round}: not switched to {want}\n{}",
            n0.logs()
        );
    }
    running.store(false, std::sync::atomic::Ordering::Relaxed);
    let (answers, failed) = client.join().unwrap_or_else(|_| panic!("client panicked"));
    let h0 = answers.iter().filter(|a| *a == "h0").count();
    println!(
        "FIGURE {} connections during 20 SIGHUP reloads: {h0} h0, {} h1, {} failed",
        answers.len() + failed.len(),
        answers.len() - h0,
        failed.len()
    );
    assert!(
        failed.is_empty(),
        "failed: {:?}",
        &failed[..failed.len().min(5)]
    );
    assert!(
        h0 > 0 && answers.len() > h0,
        "the distribution never switched"
    );
    // The VRRP side: still the only holder, entered MASTER once, the tracker never went down.
    assert_eq!(holders(&lab, vip), vec![0]);
    let logs = n0.logs();
    assert_eq!(logs.matches("Entering MASTER STATE").count(), 1, "{logs}");
    assert!(!logs.contains("no usable server"), "{logs}");

    // A bad file is refused and the running proxy keeps serving.
    std::fs::write(n0.nginx_path(), "stream { upstreem names { } }")
        .unwrap_or_else(|e| panic!("write: {e}"));
    n0.child
        .signal(Signal::SIGHUP)
        .unwrap_or_else(|e| panic!("SIGHUP: {e}"));
    assert!(
        wait_until(Duration::from_secs(5), Duration::from_millis(10), || {
            n0.logs()
                .contains("refused, the running configuration stays")
        })
        .is_some(),
        "{}",
        n0.logs()
    );
    assert!(wait_answer(&lab, vip, "h0", Duration::from_secs(2)));
}
