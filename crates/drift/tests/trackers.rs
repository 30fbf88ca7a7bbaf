//! Trackers end to end, one `drift run` in a namespace: sub-second track scripts (rise/fall,
//! weight 0 -> FAULT), timed-out scripts killed with their children, script security,
//! track_file and vrrp_track_process. Needs root.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use common::scenario::{expect_holders, expect_log, solo_master, tracks};
use common::{drift_bin, lab, Daemon};
use drift_testkit::{skip_unless_root, Lab};

fn start(lab: &Lab, config: &str) -> Daemon {
    Daemon::start(drift_bin(), lab, 0, config)
}

/// Wait until host 0 holds `vip` (`true`) or does not (`false`); how long that took.
fn expect_vip(
    lab: &Lab,
    vip: std::net::Ipv4Addr,
    held: bool,
    secs: u64,
    what: &str,
    d: &Daemon,
) -> Duration {
    let want: &[usize] = if held { &[0] } else { &[] };
    expect_holders(lab, vip, want, Duration::from_secs(secs), what, &[d])
}

fn write_script(path: &Path, body: &str, mode: u32) {
    std::fs::write(path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn a_sub_second_script_faults_after_fall_failures_and_recovers_after_rise_successes() {
    skip_unless_root!();
    let lab = lab(1);
    let vip = lab.addr_v4(110);
    let dir = tempfile::tempdir().unwrap();
    let flag = dir.path().join("down");
    let cfg = format!(
        "vrrp_script chk {{\n  script \"/bin/test ! -e {}\"\n  interval 0.05\n  timeout 0.5\n  \
         fall 2\n  rise 2\n}}\n{}",
        flag.display(),
        solo_master(&lab, vip, &tracks("track_script", &["chk"]))
    );
    let d = start(&lab, &cfg);
    expect_vip(&lab, vip, true, 10, "never master", &d);
    std::fs::write(&flag, b"").unwrap();
    let t0 = Instant::now();
    expect_vip(&lab, vip, false, 5, "VIP kept after the check failed", &d);
    let fault = t0.elapsed();
    expect_log(&d, "Entering FAULT STATE", Duration::from_secs(2));
    std::fs::remove_file(&flag).unwrap();
    let t1 = Instant::now();
    expect_vip(&lab, vip, true, 5, "VIP not back after rise successes", &d);
    println!(
        "interval 0.05 fall 2: check fails -> VIP removed in {fault:?}; \
         check passes -> VIP back in {:?}",
        t1.elapsed()
    );
    assert!(
        fault < Duration::from_secs(3),
        "fall 2 at 0.05 s took {fault:?}"
    );
}

#[test]
fn a_timed_out_script_fails_and_its_forked_children_are_killed_without_zombies() {
    skip_unless_root!();
    let lab = lab(1);
    let vip = lab.addr_v4(111);
    let dir = tempfile::tempdir().unwrap();
    let pids = dir.path().join("pids");
    let script = dir.path().join("slow.sh");
    write_script(
        &script,
        &format!("sleep 30 &\necho $! >> {}\nwait", pids.display()),
        0o755,
    );
    let cfg = format!(
        "vrrp_script slow {{\n  script \"{}\"\n  interval 0.3\n  timeout 0.1\n}}\n{}",
        script.display(),
        solo_master(&lab, vip, &tracks("track_script", &["slow"]))
    );
    let d = start(&lab, &cfg);
    expect_log(&d, "VRRP_Script(slow) timed out", Duration::from_secs(10));
    expect_log(&d, "Entering FAULT STATE", Duration::from_secs(5));
    // Let a few more runs time out, then check every sleeper is gone.
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        !lab.has_addr(0, vip.into()),
        "a timing-out check must keep the instance in FAULT"
    );
    let started: Vec<i32> = std::fs::read_to_string(&pids)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect();
    assert!(
        started.len() >= 3,
        "only {} runs: {}",
        started.len(),
        d.logs()
    );
    // The newest sleeper may still be inside its 0.1 s window; all older ones must be gone.
    let survivors: Vec<i32> = started[..started.len() - 1]
        .iter()
        .copied()
        .filter(|pid| alive(*pid))
        .collect();
    assert!(
        survivors.is_empty(),
        "sleepers outlived their script: {survivors:?}"
    );
    let zombies = zombie_children(d.child.pid());
    assert!(zombies.is_empty(), "zombie children of drift: {zombies:?}");
}

/// A live (not zombie) process.
fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        s.rsplit(')')
            .next()
            .is_some_and(|st| !st.trim_start().starts_with('Z'))
    })
}

fn zombie_children(parent: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let Some(rest) = stat.rsplit(')').next() else {
            continue;
        };
        let f: Vec<&str> = rest.split_whitespace().collect();
        if f.first() == Some(&"Z") && f.get(1).and_then(|p| p.parse::<u32>().ok()) == Some(parent) {
            out.push(pid);
        }
    }
    out
}

#[test]
fn script_security_refuses_a_root_script_in_a_world_writable_directory() {
    skip_unless_root!();
    let lab = lab(1);
    let vip = lab.addr_v4(112);
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let script = dir.path().join("check.sh");
    // It would fail (exit 1) and fault the instance, if it were run.
    write_script(&script, "exit 1", 0o755);
    let cfg = format!(
        "global_defs {{\n  enable_script_security\n  script_user root\n}}\n\
         vrrp_script chk {{\n  script \"{}\"\n  interval 0.1\n}}\n{}",
        script.display(),
        solo_master(&lab, vip, &tracks("track_script", &["chk"]))
    );
    let d = start(&lab, &cfg);
    expect_log(
        &d,
        "vrrp_script chk: unsafe permissions",
        Duration::from_secs(10),
    );
    // keepalived drops the script from tracking: the instance runs as if it had none.
    expect_vip(&lab, vip, true, 10, "never master", &d);
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        lab.has_addr(0, vip.into()) && !d.logs().contains("FAULT"),
        "{}",
        d.logs()
    );
}

#[test]
fn track_file_values_times_weight_move_the_priority_and_weight_zero_faults() {
    skip_unless_root!();
    let lab = lab(1);
    let vip = lab.addr_v4(113);
    let dir = tempfile::tempdir().unwrap();
    let prio = dir.path().join("prio");
    let stop = dir.path().join("stop");
    let cfg = format!(
        "track_file prio {{\n  file \"{}\"\n  weight 10\n  init_file 0\n}}\n\
         track_file stop {{\n  file \"{}\"\n  weight 0\n  init_file 0 overwrite\n}}\n{}",
        prio.display(),
        stop.display(),
        solo_master(&lab, vip, &tracks("track_file", &["prio", "stop"]))
    );
    let d = start(&lab, &cfg);
    expect_vip(&lab, vip, true, 10, "never master", &d);
    assert_eq!(
        std::fs::read_to_string(&stop).unwrap().trim(),
        "0",
        "init_file"
    );
    std::fs::write(&prio, "3\n").unwrap();
    expect_log(&d, "effective priority 100 -> 130", Duration::from_secs(5));
    // Replaced by rename, as editors and config tools do: still followed.
    let tmp = dir.path().join("prio.new");
    std::fs::write(&tmp, "-2\n").unwrap();
    std::fs::rename(&tmp, &prio).unwrap();
    expect_log(&d, "effective priority 130 -> 80", Duration::from_secs(5));
    std::fs::write(&stop, "1\n").unwrap();
    expect_vip(
        &lab,
        vip,
        false,
        5,
        "non-zero value with weight 0 must fault",
        &d,
    );
    std::fs::write(&stop, "0\n").unwrap();
    expect_vip(&lab, vip, true, 5, "VIP not back at value 0", &d);
}

#[test]
fn track_process_faults_without_its_quorum_and_recovers_when_the_process_runs() {
    skip_unless_root!();
    let lab = lab(1);
    let vip = lab.addr_v4(114);
    let dir = tempfile::tempdir().unwrap();
    // A process name no other test uses: a copy of sleep under a unique name.
    let name = format!("dtp{}", std::process::id() % 1_000_000);
    let prog = dir.path().join(&name);
    std::fs::copy("/bin/sleep", &prog).unwrap();
    let cfg = format!(
        "vrrp_track_process svc {{\n  process {name}\n  weight 0\n  quorum 1\n}}\n{}",
        solo_master(&lab, vip, &tracks("track_process", &["svc"]))
    );
    let d = start(&lab, &cfg);
    expect_log(&d, "Entering FAULT STATE", Duration::from_secs(10));
    let mut svc = std::process::Command::new(&prog).arg("60").spawn().unwrap();
    let t0 = Instant::now();
    expect_vip(&lab, vip, true, 5, "process started, no master", &d);
    let started = t0.elapsed();
    let _ = svc.kill();
    let _ = svc.wait();
    let t1 = Instant::now();
    expect_vip(&lab, vip, false, 5, "process gone, VIP kept", &d);
    println!(
        "track_process: start -> master {started:?}, exit -> VIP removed {:?}",
        t1.elapsed()
    );
}

#[test]
fn dont_track_primary_keeps_master_when_the_own_link_loses_carrier() {
    skip_unless_root!();
    let lab = lab(1);
    let (vip1, vip2) = (lab.addr_v4(115), lab.addr_v4(116));
    let untracked = solo_master(&lab, vip1, "  dont_track_primary\n");
    let tracked = solo_master(&lab, vip2, "")
        .replace("VI_1", "VI_2")
        .replace("virtual_router_id 51", "virtual_router_id 52");
    let d = start(&lab, &format!("{untracked}{tracked}"));
    for vip in [vip1, vip2] {
        expect_vip(&lab, vip, true, 10, "never master", &d);
    }
    lab.host(0).cut().unwrap();
    expect_vip(
        &lab,
        vip2,
        false,
        5,
        "the tracked instance kept its VIP",
        &d,
    );
    expect_log(
        &d,
        "VRRP_Instance(VI_2) Entering FAULT STATE",
        Duration::from_secs(2),
    );
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        lab.has_addr(0, vip1.into()) && !d.logs().contains("VRRP_Instance(VI_1) Entering FAULT"),
        "dont_track_primary must not fault on its own link:\n{}",
        d.logs()
    );
    lab.host(0).reconnect().unwrap();
    expect_vip(&lab, vip2, true, 5, "VIP not back after reconnect", &d);
}

#[test]
fn a_reload_that_changes_a_track_script_restarts_the_trackers_with_the_new_one() {
    skip_unless_root!();
    let lab = lab(1);
    let vip = lab.addr_v4(117);
    let config = |cmd: &str| {
        format!(
            "vrrp_script chk {{\n  script \"{cmd}\"\n  interval 0.1\n}}\n{}",
            solo_master(&lab, vip, &tracks("track_script", &["chk"]))
        )
    };
    let d = start(&lab, &config("/bin/true"));
    expect_vip(&lab, vip, true, 10, "never master", &d);
    d.reload(&config("/bin/false"));
    expect_vip(
        &lab,
        vip,
        false,
        5,
        "the reloaded script was not applied",
        &d,
    );
    d.reload(&config("/bin/true"));
    expect_vip(
        &lab,
        vip,
        true,
        5,
        "VIP not back after the second reload",
        &d,
    );
}
