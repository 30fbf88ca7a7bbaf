//! A drift daemon of the hostile-input test and the counters it publishes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use drift_testkit::{ChildGuard, Lab};
use serde_json::Value;

use super::BIN;

/// One daemon with its own control socket and config file (in `dir`).
pub struct Node {
    pub child: ChildGuard,
    pub socket: PathBuf,
    pub ns: String,
}

pub fn start(lab: &Lab, host: usize, config: &str, dir: &Path) -> Node {
    let conf = dir.join(format!("h{host}.conf"));
    std::fs::write(&conf, config).unwrap();
    let socket = dir.join(format!("h{host}.sock"));
    let dumps = dir.join(format!("dumps{host}"));
    std::fs::create_dir_all(&dumps).unwrap();
    let args = [
        "run",
        "-f",
        conf.to_str().unwrap(),
        "--control-socket",
        socket.to_str().unwrap(),
        "--dump-dir",
        dumps.to_str().unwrap(),
    ];
    let child = lab.spawn(host, BIN, &args).unwrap();
    Node {
        child,
        socket,
        ns: lab.host(host).name().to_string(),
    }
}

pub fn status(n: &Node) -> Value {
    let out = Command::new(BIN)
        .args(["status", "--json", "--socket", n.socket.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "drift status: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        n.child.logs()
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Every counter that can move: `"<instance>/<reason>"` for drops, `"unmatched/<reason>"`,
/// `"<instance>/transitions"` and `"<instance>/state"` (0 backup, 1 master, 2 other).
pub fn counters(v: &Value) -> BTreeMap<String, u64> {
    let mut m = BTreeMap::new();
    for i in v["instances"].as_array().into_iter().flatten() {
        let name = i["name"].as_str().unwrap_or("?");
        for (reason, n) in i["drops"].as_object().into_iter().flatten() {
            m.insert(format!("{name}/{reason}"), n.as_u64().unwrap_or(0));
        }
        m.insert(
            format!("{name}/transitions"),
            i["transitions"].as_u64().unwrap_or(0),
        );
        let state = match i["state"].as_str() {
            Some("BACKUP") => 0,
            Some("MASTER") => 1,
            _ => 2,
        };
        m.insert(format!("{name}/state"), state);
    }
    for (reason, n) in v["unmatched"].as_object().into_iter().flatten() {
        m.insert(format!("unmatched/{reason}"), n.as_u64().unwrap_or(0));
    }
    m
}

/// What moved between two snapshots (our own looped-back adverts left out).
pub fn delta(a: &BTreeMap<String, u64>, b: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    b.iter()
        .filter(|(k, _)| !k.ends_with("/own") && !k.ends_with("/state"))
        .filter_map(|(k, v)| {
            let d = v.saturating_sub(a.get(k).copied().unwrap_or(0));
            (d > 0).then(|| (k.clone(), d))
        })
        .collect()
}

/// Packets the kernel dropped on the daemon's raw sockets (full receive queue): the part of a
/// flood that never reached drift, so that counted + dropped accounts for everything sent.
pub fn kernel_raw_drops(ns: &str) -> u64 {
    let out = Command::new("ip")
        .args(["netns", "exec", ns, "cat", "/proc/net/raw"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    out.lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().last()?.parse::<u64>().ok())
        .sum()
}
