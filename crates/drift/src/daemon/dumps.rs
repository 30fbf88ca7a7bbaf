//! keepalived's dump signals: SIGUSR1 writes the data file, SIGUSR2 the stats file, and
//! SIGRTMIN+2 (keepalived's JSON signal, `keepalived --signum=JSON` prints 36 with glibc) the
//! JSON file, named like keepalived's (`/tmp/keepalived.data` → `/tmp/drift.data`, `.stats`,
//! `.json`; the directory is `--dump-dir`, default `/tmp`). The layouts follow keepalived 2.2's
//! so that scripts reading them keep working; drift's extra drop reasons come after keepalived's.
//! Rendering is pure; [`write`] runs on the ops thread, never on the VRRP thread.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde_json::{json, Value};

use super::status::{InstanceStatus, Snapshot};
use super::status_text::utc;

/// Which dump a signal asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dump {
    Data,
    Stats,
    Json,
}

impl Dump {
    pub fn file_name(self) -> &'static str {
        match self {
            Dump::Data => "drift.data",
            Dump::Stats => "drift.stats",
            Dump::Json => "drift.json",
        }
    }

    pub fn render(self, snap: &Snapshot) -> String {
        match self {
            Dump::Data => data(snap),
            Dump::Stats => stats(snap),
            Dump::Json => json_dump(snap),
        }
    }
}

/// Write the dump into `dir` (replacing the previous one atomically: a reader never sees half).
/// `/tmp` is world-writable and we are root: the temporary file is created with O_EXCL after
/// removing whatever had its name (a planted symlink is removed, not followed), and rename(2)
/// replaces a symlink at the final name instead of writing through it.
pub fn write(dir: &Path, dump: Dump, snap: &Snapshot) -> Result<PathBuf> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt;
    let path = dir.join(dump.file_name());
    let tmp = dir.join(format!(".{}.tmp", dump.file_name()));
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .open(&tmp)
        .with_context(|| format!("create {}", tmp.display()))?;
    f.write_all(dump.render(snap).as_bytes())
        .with_context(|| format!("write {}", tmp.display()))?;
    drop(f);
    std::fs::rename(&tmp, &path).with_context(|| format!("rename to {}", path.display()))?;
    Ok(path)
}

fn drop_count(i: &InstanceStatus, reason: &str) -> u64 {
    i.drops.get(reason)
}

/// keepalived's `vrrp_print_stats` layout, then drift's own reasons.
fn stats(snap: &Snapshot) -> String {
    let mut o = String::new();
    for i in &snap.instances {
        let c = &i.counters;
        let d = |r| drop_count(i, r);
        let _ = writeln!(o, "VRRP Instance: {}", i.name);
        let _ = writeln!(o, "  Advertisements:");
        let _ = writeln!(o, "    Received: {}", c.adverts_rx);
        let _ = writeln!(o, "    Sent: {}", c.adverts_tx);
        let _ = writeln!(o, "  Became master: {}", c.became_master);
        let _ = writeln!(o, "  Released master: {}", c.released_master);
        let _ = writeln!(o, "  Packet Errors:");
        let _ = writeln!(o, "    Length: {}", d("length"));
        let _ = writeln!(o, "    TTL: {}", d("ttl"));
        let _ = writeln!(o, "    Invalid Type: {}", d("packet_type"));
        let _ = writeln!(o, "    Advertisement Interval: {}", d("interval"));
        let _ = writeln!(o, "    Address List: {}", d("addr_list"));
        let _ = writeln!(o, "  Authentication Errors:");
        let _ = writeln!(o, "    Invalid Type: {}", d("auth_type"));
        let _ = writeln!(o, "    Type Mismatch: 0");
        let _ = writeln!(o, "    Failure: {}", d("auth_fail"));
        let _ = writeln!(o, "  Priority Zero:");
        let _ = writeln!(o, "    Received: {}", c.priority_zero_rx);
        let _ = writeln!(o, "    Sent: {}", c.priority_zero_tx);
        let _ = writeln!(o, "  Other drops (drift):");
        for r in [
            "version",
            "checksum",
            "vrid",
            "own",
            "unicast_src",
            "not_running",
            "other",
        ] {
            let _ = writeln!(o, "    {r}: {}", d(r));
        }
    }
    o
}

fn opt<T: std::fmt::Display>(v: &Option<T>) -> String {
    v.as_ref()
        .map_or_else(|| "none".into(), ToString::to_string)
}

/// keepalived's data dump, reduced to what drift knows at run time.
fn data(snap: &Snapshot) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "------< Global definitions >------");
    let _ = writeln!(o, " drift version = {}", snap.version);
    let _ = writeln!(o, " Pid = {}", snap.pid);
    let _ = writeln!(o, " Config file = {}", snap.config);
    let _ = writeln!(o, " Started = {}", utc(snap.started_unix_ms));
    let _ = writeln!(o, " Reloads = {}", snap.reloads);
    let _ = writeln!(o, "------< VRRP Topology >------");
    for i in &snap.instances {
        let _ = writeln!(o, " VRRP Instance = {}", i.name);
        let _ = writeln!(o, "   State = {}", i.state);
        let _ = writeln!(o, "   Interface = {}", i.interface);
        let _ = writeln!(o, "   Virtual Router ID = {}", i.vrid);
        let _ = writeln!(o, "   Base priority = {}", i.base_priority);
        let _ = writeln!(o, "   Effective priority = {}", i.effective_priority);
        let _ = writeln!(o, "   Master router = {}", opt(&i.master));
        let _ = writeln!(o, "   Master priority = {}", opt(&i.master_priority));
        let _ = writeln!(o, "   Sync group = {}", opt(&i.sync_group));
        if let Some(t) = &i.last_transition {
            let _ = writeln!(
                o,
                "   Last transition = {} ({} -> {}: {})",
                utc(t.at_unix_ms),
                t.from,
                t.to,
                t.reason
            );
        }
        let _ = writeln!(o, "   Virtual IP = {}", i.vips.len());
        for v in &i.vips {
            let _ = writeln!(o, "     {v}");
        }
        let _ = writeln!(o, "   Tracked = {}", i.trackers.len());
        for t in &i.trackers {
            let state = if t.up { "UP" } else { "DOWN" };
            let _ = writeln!(o, "     {} {} weight {} {state}", t.kind, t.name, t.weight);
        }
    }
    o
}

/// keepalived's state numbers in its JSON dump.
fn state_number(s: &str) -> u8 {
    match s {
        "BACKUP" => 1,
        "MASTER" => 2,
        "FAULT" => 3,
        _ => 0,
    }
}

/// keepalived's `/tmp/keepalived.json`: an array of `{"data": .., "stats": ..}` per instance.
fn json_dump(snap: &Snapshot) -> String {
    let v: Vec<Value> = snap
        .instances
        .iter()
        .map(|i| {
            let d = |r| drop_count(i, r);
            let c = &i.counters;
            json!({
                "data": {
                    "iname": i.name,
                    "ifp_ifname": i.interface,
                    "vrid": i.vrid,
                    "state": state_number(&i.state),
                    "state_name": i.state,
                    "base_priority": i.base_priority,
                    "effective_priority": i.effective_priority,
                    "vips": i.vips,
                    "master_addr": i.master,
                    "sync_group": i.sync_group,
                    "last_transition": i.last_transition.as_ref().map(|t| t.at_unix_ms as f64 / 1000.0),
                    "trackers": i.trackers,
                },
                "stats": {
                    "advert_rcvd": c.adverts_rx,
                    "advert_sent": c.adverts_tx,
                    "become_master": c.became_master,
                    "release_master": c.released_master,
                    "packet_len_err": d("length"),
                    "advert_interval_err": d("interval"),
                    "ip_ttl_err": d("ttl"),
                    "invalid_type_rcvd": d("packet_type"),
                    "addr_list_err": d("addr_list"),
                    "invalid_authtype": d("auth_type"),
                    "authtype_mismatch": 0,
                    "auth_failure": d("auth_fail"),
                    "pri_zero_rcvd": c.priority_zero_rx,
                    "pri_zero_sent": c.priority_zero_tx,
                    "drops": i.drops,
                }
            })
        })
        .collect();
    serde_json::to_string_pretty(&v).unwrap_or_else(|_| "[]".into())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::daemon::status::{Counters, DropCounts, Transition};

    pub fn sample() -> Snapshot {
        Snapshot {
            pid: 42,
            version: "0.1.0".into(),
            config: "/etc/keepalived/keepalived.conf".into(),
            started_unix_ms: 1_700_000_000_000,
            instances: vec![InstanceStatus {
                slot: 0,
                last_advert: None,
                name: "VI_1".into(),
                interface: "eth0".into(),
                vrid: 51,
                state: "MASTER".into(),
                base_priority: 100,
                effective_priority: 100,
                vips: vec!["10.0.0.110/32".into()],
                master: "10.0.0.1".parse().ok(),
                master_priority: Some(100),
                sync_group: None,
                transitions: 2,
                last_transition: Some(Transition {
                    from: "BACKUP".into(),
                    to: "MASTER".into(),
                    at_unix_ms: 1_700_000_001_000,
                    reason: "no advert within the master down interval".into(),
                }),
                trackers: vec![],
                counters: Counters {
                    adverts_rx: 3,
                    adverts_tx: 17,
                    became_master: 1,
                    ..Counters::default()
                },
                drops: DropCounts(drift_vrrp::Drops {
                    ttl: 2,
                    checksum: 5,
                    ..Default::default()
                }),
            }],
            ..Snapshot::default()
        }
    }

    #[test]
    fn the_stats_dump_uses_keepalived_headings_and_counts() {
        let s = Dump::Stats.render(&sample());
        assert!(s.starts_with(
            "VRRP Instance: VI_1\n  Advertisements:\n    Received: 3\n    Sent: 17\n"
        ));
        assert!(s.contains("    TTL: 2\n"));
        assert!(s.contains("    checksum: 5\n"));
    }

    #[test]
    fn the_data_dump_shows_state_master_and_last_transition() {
        let s = Dump::Data.render(&sample());
        assert!(s.contains(" VRRP Instance = VI_1\n   State = MASTER\n"));
        assert!(s.contains("Master router = 10.0.0.1"));
        assert!(
            s.contains("2023-11-14 22:13:21.000 UTC (BACKUP -> MASTER"),
            "{s}"
        );
    }

    #[test]
    fn the_json_dump_is_keepalived_shaped() {
        let v: Value = serde_json::from_str(&Dump::Json.render(&sample())).unwrap();
        assert_eq!(v[0]["data"]["iname"], "VI_1");
        assert_eq!(v[0]["data"]["state"], 2);
        assert_eq!(v[0]["stats"]["advert_sent"], 17);
        assert_eq!(v[0]["stats"]["ip_ttl_err"], 2);
    }

    #[test]
    fn writing_a_dump_replaces_the_file_in_the_given_directory() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), Dump::Stats, &sample()).unwrap();
        assert_eq!(p, dir.path().join("drift.stats"));
        let p2 = write(dir.path(), Dump::Stats, &Snapshot::default()).unwrap();
        assert_eq!(std::fs::read_to_string(p2).unwrap(), "");
    }

    #[test]
    fn a_planted_symlink_is_replaced_not_written_through() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "precious").unwrap();
        std::os::unix::fs::symlink(&victim, dir.path().join(".drift.json.tmp")).unwrap();
        std::os::unix::fs::symlink(&victim, dir.path().join("drift.json")).unwrap();
        write(dir.path(), Dump::Json, &sample()).unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
        let meta = std::fs::symlink_metadata(dir.path().join("drift.json")).unwrap();
        assert!(meta.is_file());
    }
}
