//! Scenario files (ARCHITECTURE.md pattern 4): `tests/scenarios/<name>/input.jsonl` drives a
//! simulated LAN, and the transcript of state changes must equal `expected.txt`. The first
//! input line describes the LAN, the others are timed events. `DRIFT_BLESS=1` rewrites the
//! expected files after a deliberate behaviour change (review the diff!).
//!
//! ```text
//! {"version":2,"interval_ms":1000,"latency_us":300,"seed":1,
//!  "nodes":[{"name":"a","addr":"10.0.0.1","prio":100,"auth":"1111","nopreempt":false,"preempt_delay_ms":0,
//!  "preempt_immediate":false}]}
//! {"at_ms":0,"do":"start","node":"a"}      do: start | crash | shutdown | fault | recover |
//!                                              priority (+"value") | partition (+"groups") | heal | end
//! ```

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::time::Duration;

use drift_vrrp::sim::{Lan, LinkModel};
use drift_vrrp::wire::{Addrs, Version};
use drift_vrrp::{Auth, InstanceConfig};
use serde_json::Value;

fn field<'a>(v: &'a Value, k: &str, ctx: &str) -> &'a Value {
    v.get(k)
        .unwrap_or_else(|| panic!("{ctx}: missing `{k}` in {v}"))
}

fn run(dir: &Path) -> String {
    let name = dir.file_name().unwrap().to_string_lossy().into_owned();
    let text = std::fs::read_to_string(dir.join("input.jsonl")).unwrap();
    let mut lines = text.lines().filter(|l| !l.trim().is_empty()).enumerate();
    let (_, head) = lines
        .next()
        .unwrap_or_else(|| panic!("{name}: empty input.jsonl"));
    let head: Value = serde_json::from_str(head).unwrap_or_else(|e| panic!("{name}:1: {e}"));
    let version = if field(&head, "version", &name).as_u64() == Some(3) {
        Version::V3
    } else {
        Version::V2
    };
    let interval =
        Duration::from_millis(field(&head, "interval_ms", &name).as_u64().unwrap_or(1000));
    let link = LinkModel {
        latency: Duration::from_micros(
            head.get("latency_us")
                .and_then(Value::as_u64)
                .unwrap_or(300),
        ),
        ..LinkModel::default()
    };
    let mut lan = Lan::new(head.get("seed").and_then(Value::as_u64).unwrap_or(0), link);
    let mut names = vec![];
    for n in field(&head, "nodes", &name).as_array().unwrap() {
        let addr: IpAddr = field(n, "addr", &name).as_str().unwrap().parse().unwrap();
        let vips = Addrs::V4(vec![Ipv4Addr::new(10, 0, 0, 100)]);
        let mut c = InstanceConfig::new(&name, 51, addr, vips);
        c.version = version;
        c.advert_interval = interval;
        c.priority = field(n, "prio", &name).as_u64().unwrap() as u8;
        if let Some(p) = n.get("auth").and_then(Value::as_str) {
            c.auth = Auth::pass(p);
        }
        c.nopreempt = n.get("nopreempt").and_then(Value::as_bool).unwrap_or(false);
        c.preempt_immediate = n
            .get("preempt_immediate")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        c.preempt_delay = Duration::from_millis(
            n.get("preempt_delay_ms")
                .and_then(Value::as_u64)
                .unwrap_or(0),
        );
        names.push(field(n, "name", &name).as_str().unwrap().to_string());
        lan.add(c);
    }
    let id = |v: &Value, ctx: &str| -> usize {
        let n = field(v, "node", ctx).as_str().unwrap();
        names
            .iter()
            .position(|x| x == n)
            .unwrap_or_else(|| panic!("{ctx}: unknown node {n}"))
    };
    let mut events = vec![];
    for (i, line) in lines {
        let ctx = format!("{name}:{}", i + 1);
        let ev: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{ctx}: {e}"));
        let at = Duration::from_millis(field(&ev, "at_ms", &ctx).as_u64().unwrap());
        lan.run_for(at.saturating_sub(lan.elapsed()));
        let what = field(&ev, "do", &ctx).as_str().unwrap().to_string();
        match what.as_str() {
            "start" => lan.start(id(&ev, &ctx)),
            "crash" => lan.crash(id(&ev, &ctx)),
            "shutdown" => lan.shutdown(id(&ev, &ctx)),
            "fault" => lan.fault(id(&ev, &ctx), true),
            "recover" => lan.fault(id(&ev, &ctx), false),
            "priority" => lan.set_priority(
                id(&ev, &ctx),
                field(&ev, "value", &ctx).as_u64().unwrap() as u8,
            ),
            "partition" => {
                let groups: Vec<Vec<usize>> = field(&ev, "groups", &ctx)
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|g| {
                        g.as_array()
                            .unwrap()
                            .iter()
                            .map(|n| id(&serde_json::json!({"node": n}), &ctx))
                            .collect()
                    })
                    .collect();
                let refs: Vec<&[usize]> = groups.iter().map(Vec::as_slice).collect();
                lan.partition(&refs);
            }
            "heal" => lan.heal(),
            "end" => {}
            other => panic!("{ctx}: unknown event {other}"),
        }
        events.push((
            at,
            what,
            ev.get("node").and_then(Value::as_str).map(str::to_string),
        ));
    }
    // Transcript: every state change, then a summary per node.
    let mut changes = vec![];
    for (i, n) in names.iter().enumerate() {
        for (t, s) in lan.history(i) {
            changes.push((*t, n.clone(), format!("{s:?}")));
        }
    }
    changes.sort();
    let mut out = String::new();
    for (t, n, s) in changes {
        let _ = writeln!(out, "{:>10.3} ms  {n:<4} {s}", t.as_secs_f64() * 1000.0);
    }
    let _ = writeln!(out, "-- end at {} ms", lan.elapsed().as_millis());
    for (i, n) in names.iter().enumerate() {
        let inst = lan.instance(i);
        let s = inst.stats();
        let _ = writeln!(
            out,
            "{n:<4} up={} state={:?} prio={} vips={} became_master={} adverts_tx={} adverts_rx={} dropped={}",
            lan.is_up(i),
            inst.state(),
            inst.effective_priority(),
            lan.vip_holders().contains(&i),
            s.became_master,
            s.adverts_tx,
            s.adverts_rx,
            s.dropped_total(),
        );
    }
    out
}

#[test]
fn scenario_transcripts_match_their_expected_files() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios");
    let bless = std::env::var_os("DRIFT_BLESS").is_some();
    let mut dirs: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .collect();
    dirs.retain(|d| d.join("input.jsonl").exists());
    dirs.sort();
    assert!(!dirs.is_empty(), "no scenarios under {}", root.display());
    let mut failures = vec![];
    for dir in &dirs {
        let got = run(dir);
        let path = dir.join("expected.txt");
        if bless {
            std::fs::write(&path, &got).unwrap();
            continue;
        }
        let want = std::fs::read_to_string(&path).unwrap_or_default();
        if got != want {
            failures.push(format!(
                "{}:\n--- expected\n{want}--- got\n{got}",
                dir.display()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "scenario mismatch (DRIFT_BLESS=1 to accept):\n{}",
        failures.join("\n")
    );
    println!("{} scenarios checked", dirs.len());
}
