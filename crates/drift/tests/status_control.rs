//! Operator interfaces of `drift run` against a live master/backup pair in a namespace lab:
//! `drift status --json` agrees with what the kernel and the peer show, the dump signals write
//! keepalived-style files, `drift reload` goes through the control socket, and a transition is
//! recorded with its reason. Needs root.

mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{wait_holders, Instance};
use drift_testkit::{skip_unless_root, wait_until, ChildGuard, Lab, Signal};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_drift");

/// One daemon with its own control socket, dump directory and config file (all in `dir`).
struct Node {
    child: ChildGuard,
    socket: PathBuf,
    dumps: PathBuf,
}

fn start(lab: &Lab, host: usize, config: &str, dir: &Path, extra: &[&str]) -> Node {
    let conf = dir.join(format!("h{host}.conf"));
    std::fs::write(&conf, config).unwrap();
    let socket = dir.join(format!("h{host}.sock"));
    let dumps = dir.join(format!("dumps{host}"));
    std::fs::create_dir_all(&dumps).unwrap();
    let (c, s, d) = (
        conf.to_str().unwrap(),
        socket.to_str().unwrap(),
        dumps.to_str().unwrap(),
    );
    let mut args = vec![
        "run",
        "-f",
        c,
        "-l",
        "debug",
        "--control-socket",
        s,
        "--dump-dir",
        d,
    ];
    args.extend_from_slice(extra);
    let child = lab.spawn(host, BIN, &args).unwrap();
    Node {
        child,
        socket,
        dumps,
    }
}

fn drift(args: &[&str]) -> std::process::Output {
    Command::new(BIN).args(args).output().unwrap()
}

fn status(n: &Node) -> Value {
    let out = drift(&["status", "--json", "--socket", n.socket.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "drift status failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        n.child.logs()
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn instance(n: &Node) -> Value {
    status(n)["instances"][0].clone()
}

/// Wait until the daemon's published state satisfies `f`.
fn wait_status(n: &Node, what: &str, f: impl Fn(&Value) -> bool) -> Value {
    let ok = wait_until(Duration::from_secs(15), Duration::from_millis(50), || {
        n.socket.exists() && f(&instance(n))
    });
    let now = if n.socket.exists() {
        instance(n)
    } else {
        Value::Null
    };
    assert!(
        ok.is_some(),
        "{what}: status is {now:#}\n{}",
        n.child.logs()
    );
    now
}

fn pair(lab: &Lab) -> (String, String, Ipv4Addr) {
    let vip = lab.addr_v4(110);
    let master = Instance::new("MASTER", 150, vip).v3("0.1").config();
    let backup = Instance::new("BACKUP", 100, vip).v3("0.1").config();
    (master, backup, vip)
}

#[test]
fn status_json_matches_the_daemons_state_and_dumps_and_reload_work() {
    skip_unless_root!();
    let lab = Lab::builder().hosts(2).build().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (mc, bc, vip) = pair(&lab);
    let m = start(&lab, 0, &mc, dir.path(), &[]);
    let mut b = start(&lab, 1, &bc, dir.path(), &[]);
    assert!(
        wait_holders(&lab, vip, &[0], Duration::from_secs(10)).is_some(),
        "VIP not on h0\n{}",
        m.child.logs()
    );
    let h0: IpAddr = lab.host(0).ipv4().into();

    let mi = wait_status(&m, "master", |i| i["state"] == "MASTER");
    assert_eq!(mi["name"], "VI_1");
    assert_eq!(mi["effective_priority"], 150);
    assert_eq!(mi["base_priority"], 150);
    assert_eq!(mi["vips"][0], format!("{vip}/32"));
    assert_eq!(mi["master"], h0.to_string());
    let bi = wait_status(&b, "backup learned the master", |i| {
        i["state"] == "BACKUP"
            && i["master"] == h0.to_string()
            && i["counters"]["adverts_rx"].as_u64() > Some(3)
    });
    assert_eq!(bi["master_priority"], 150);
    // The interface tracker, and a drop table with every reason.
    assert_eq!(bi["trackers"][0]["kind"], "interface");
    assert_eq!(bi["trackers"][0]["up"], true);
    assert_eq!(bi["drops"].as_object().map(|m| m.len()), Some(14));
    let sent = instance(&m)["counters"]["adverts_tx"].as_u64().unwrap_or(0);
    assert!(sent >= 3, "master sent {sent} adverts");

    // Human output.
    let out = drift(&["status", "--socket", m.socket.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("VRRP_Instance(VI_1) MASTER"), "{text}");
    println!("drift status (master):\n{text}");

    // keepalived's dump signals.
    let json_sig: i32 = String::from_utf8_lossy(&drift(&["signal", "JSON"]).stdout)
        .trim()
        .parse()
        .unwrap();
    b.child.signal(Signal::SIGUSR1).unwrap();
    b.child.signal(Signal::SIGUSR2).unwrap();
    let pid = i32::try_from(b.child.pid()).unwrap();
    // SAFETY: kill(2) on a child we started, with a valid signal number (nix's Signal has no
    // real-time signals).
    assert_eq!(unsafe { libc::kill(pid, json_sig) }, 0);
    let files = ["drift.data", "drift.stats", "drift.json"].map(|f| b.dumps.join(f));
    let written = wait_until(Duration::from_secs(10), Duration::from_millis(20), || {
        files.iter().all(|f| f.exists())
    });
    assert!(written.is_some(), "dumps missing\n{}", b.child.logs());
    let data = std::fs::read_to_string(&files[0]).unwrap();
    assert!(
        data.contains(" VRRP Instance = VI_1\n   State = BACKUP"),
        "{data}"
    );
    let stats = std::fs::read_to_string(&files[1]).unwrap();
    assert!(
        stats.starts_with("VRRP Instance: VI_1\n  Advertisements:\n    Received: "),
        "{stats}"
    );
    let j: Value = serde_json::from_str(&std::fs::read_to_string(&files[2]).unwrap()).unwrap();
    assert_eq!(j[0]["data"]["state"], 1);
    assert!(j[0]["stats"]["advert_rcvd"].as_u64() > Some(0));
    assert!(
        b.child.try_wait().unwrap().is_none(),
        "a dump signal killed the daemon"
    );

    // STATS_CLEAR on the master: its one transition to MASTER is forgotten, the state is not.
    let clear: i32 = String::from_utf8_lossy(&drift(&["signal", "STATS_CLEAR"]).stdout)
        .trim()
        .parse()
        .unwrap();
    let mpid = i32::try_from(m.child.pid()).unwrap();
    // SAFETY: as above.
    assert_eq!(unsafe { libc::kill(mpid, clear) }, 0);
    wait_status(&m, "counters cleared", |i| {
        i["state"] == "MASTER" && i["counters"]["became_master"] == 0
    });

    // drift reload through the socket: applied, nothing changes state.
    let out = drift(&["reload", "--socket", b.socket.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "reload: {}{}",
        String::from_utf8_lossy(&out.stderr),
        b.child.logs()
    );
    let s = status(&b);
    assert_eq!(s["reloads"], 1);
    assert_eq!(s["instances"][0]["state"], "BACKUP");
    assert_eq!(s["instances"][0]["transitions"], bi["transitions"]);

    // The master resigns: the backup records the takeover and why.
    drop(m);
    let bi = wait_status(&b, "backup took over", |i| i["state"] == "MASTER");
    let t = &bi["last_transition"];
    assert_eq!(
        (t["from"].as_str(), t["to"].as_str()),
        (Some("BACKUP"), Some("MASTER"))
    );
    let reason = t["reason"].as_str().unwrap_or("");
    // SIGTERM: the master's priority-0 advert, then the backup's skew time.
    assert!(reason.contains("resigned (priority 0)"), "reason: {reason}");
    let out = drift(&["status", "--socket", b.socket.to_str().unwrap()]);
    println!(
        "drift status (backup after takeover):\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let tl = status(&b)["timeline"].clone();
    assert_eq!(
        tl.as_array()
            .and_then(|a| a.last())
            .map(|e| e["to"].clone()),
        Some("MASTER".into())
    );
    let _ = b.child.stop(Duration::from_secs(5));
    assert!(!b.socket.exists(), "control socket left behind");
}
