//! `drift run` end to end: two daemons in a namespace lab elect a master, the master hands the
//! VIP over on SIGTERM (priority-0 advert), removes it and exits 0. Needs root.

use std::io::Write;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use drift_testkit::{skip_unless_root, wait_until, ChildGuard, Lab};
use nix::sys::signal::Signal;

fn config(ifname: &str, state: &str, priority: u8, vip: std::net::Ipv4Addr) -> String {
    format!(
        "vrrp_instance VI_1 {{\n  state {state}\n  interface {ifname}\n  virtual_router_id 51\n  \
         priority {priority}\n  advert_int 1\n  authentication {{\n    auth_type PASS\n    \
         auth_pass 1111\n  }}\n  virtual_ipaddress {{\n    {vip}/24\n  }}\n}}\n"
    )
}

fn write_config(text: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(text.as_bytes()).unwrap();
    f
}

#[test]
fn master_hands_the_vip_to_the_backup_on_sigterm_and_exits_cleanly() {
    skip_unless_root!();
    let lab = Lab::builder().hosts(2).client(true).build().unwrap();
    let vip = lab.addr_v4(110);
    let rt = "global_defs {\n  vrrp_rt_priority 50\n}\n";
    let cfgs = [
        write_config(&format!(
            "{rt}{}",
            config(lab.host(0).ifname(), "MASTER", 100, vip)
        )),
        write_config(&config(lab.host(1).ifname(), "BACKUP", 99, vip)),
    ];
    let bin = env!("CARGO_BIN_EXE_drift");
    let mut daemons: Vec<_> = cfgs
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let path = c.path().to_str().unwrap().to_string();
            lab.spawn(i, bin, &["run", "-f", &path, "-l", "debug"])
                .unwrap()
        })
        .collect();
    let ip = IpAddr::V4(vip);

    let elected = wait_until(Duration::from_secs(10), Duration::from_millis(20), || {
        lab.has_addr(0, ip) && !lab.has_addr(1, ip)
    });
    assert!(
        elected.is_some(),
        "VIP not on host 0 only:\n--- host 0\n{}\n--- host 1\n{}",
        daemons[0].logs(),
        daemons[1].logs()
    );
    // Let a few adverts flow so the backup has learned the master.
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        !lab.has_addr(1, ip),
        "backup took the VIP while the master ran"
    );

    let t0 = Instant::now();
    daemons[0].signal(Signal::SIGTERM).unwrap();
    let moved = wait_until(Duration::from_secs(3), Duration::from_millis(5), || {
        lab.has_addr(1, ip)
    });
    let exit = daemons[0].stop(Duration::from_secs(3)).unwrap();
    let (log0, log1) = (daemons[0].logs(), daemons[1].logs());
    assert!(
        moved.is_some(),
        "VIP did not move to host 1 within 3 s:\n--- host 0\n{log0}\n--- host 1\n{log1}"
    );
    println!(
        "takeover after SIGTERM: {:?} (elected after {:?})",
        t0.elapsed().min(moved.unwrap_or_default()),
        elected.unwrap_or_default()
    );
    assert!(!lab.has_addr(0, ip), "host 0 kept the VIP:\n{log0}");
    assert!(log0.contains("SCHED_RR priority 50"), "{log0}");
    assert!(exit.success(), "host 0 exited with {exit}:\n{log0}");
    assert!(
        log0.contains("VRRP_Instance(VI_1) Entering MASTER STATE"),
        "{log0}"
    );
    assert!(
        log1.contains("VRRP_Instance(VI_1) Entering BACKUP STATE"),
        "{log1}"
    );
    assert!(
        log1.contains("VRRP_Instance(VI_1) Entering MASTER STATE"),
        "{log1}"
    );
    let exit1 = daemons[1].stop(Duration::from_secs(3)).unwrap();
    assert!(exit1.success(), "host 1 exited with {exit1}");
    assert!(!lab.has_addr(1, ip), "host 1 kept the VIP after SIGTERM");
}

#[test]
fn master_link_down_enters_fault_and_the_backup_takes_over_until_it_returns() {
    skip_unless_root!();
    let lab = Lab::builder().hosts(2).build().unwrap();
    let vip = lab.addr_v4(110);
    let ip = IpAddr::V4(vip);
    let (_cfgs, daemons) = start(
        &lab,
        &[
            config(lab.host(0).ifname(), "MASTER", 100, vip),
            config(lab.host(1).ifname(), "BACKUP", 99, vip),
        ],
    );
    let logs = || both_logs(&daemons);
    let on = |h: usize| lab.has_addr(h, ip);
    let poll = Duration::from_millis(20);
    assert!(
        wait_until(Duration::from_secs(10), poll, || on(0) && !on(1)).is_some(),
        "no election:\n{}",
        logs()
    );

    lab.link_down(0).unwrap();
    let took = wait_until(Duration::from_secs(8), poll, || on(1) && !on(0));
    assert!(took.is_some(), "backup did not take over:\n{}", logs());
    println!("link down -> VIP on backup: {:?}", took.unwrap_or_default());
    assert!(
        daemons[0]
            .logs()
            .contains("VRRP_Instance(VI_1) Entering FAULT STATE"),
        "{}",
        logs()
    );

    lab.link_up(0).unwrap();
    let back = wait_until(Duration::from_secs(10), poll, || on(0) && !on(1));
    assert!(back.is_some(), "master did not return:\n{}", logs());
    println!(
        "link up -> VIP back on master: {:?}",
        back.unwrap_or_default()
    );
}

#[test]
fn a_failing_track_script_lowers_the_master_and_the_backup_runs_notify_master() {
    skip_unless_root!();
    let lab = Lab::builder().hosts(2).build().unwrap();
    let vip = lab.addr_v4(110);
    let ip = IpAddr::V4(vip);
    let dir = tempfile::tempdir().unwrap();
    let flag = dir.path().join("fail");
    let marker = dir.path().join("notified");
    let script = format!(
        "vrrp_script chk {{\n  script \"/bin/test ! -e {}\"\n  interval 1\n  weight -10\n}}\n",
        flag.display()
    );
    let master = config(lab.host(0).ifname(), "MASTER", 100, vip).replace(
        "  virtual_ipaddress",
        "  track_script {\n    chk\n  }\n  virtual_ipaddress",
    );
    let backup = config(lab.host(1).ifname(), "BACKUP", 99, vip).replace(
        "  virtual_ipaddress",
        &format!(
            "  notify \"/bin/sh -c 'echo $* > {}' notify\"\n  virtual_ipaddress",
            marker.display()
        ),
    );
    let (_cfgs, daemons) = start(&lab, &[format!("{script}{master}"), backup]);
    let logs = || both_logs(&daemons);
    let on = |h: usize| lab.has_addr(h, ip);
    let poll = Duration::from_millis(20);
    assert!(
        wait_until(Duration::from_secs(10), poll, || on(0) && !on(1)).is_some(),
        "no election:\n{}",
        logs()
    );
    std::fs::write(&flag, b"").unwrap();
    let took = wait_until(Duration::from_secs(10), poll, || on(1) && !on(0));
    assert!(took.is_some(), "backup did not preempt:\n{}", logs());
    println!(
        "track script failure -> VIP on backup: {:?}",
        took.unwrap_or_default()
    );
    assert!(
        daemons[0].logs().contains("effective priority 100 -> 90"),
        "{}",
        logs()
    );
    let notified = wait_until(Duration::from_secs(3), poll, || {
        std::fs::read_to_string(&marker).is_ok_and(|s| s.contains("INSTANCE VI_1 MASTER 99"))
    });
    assert!(
        notified.is_some(),
        "notify script output: {:?}\n{}",
        std::fs::read_to_string(&marker),
        logs()
    );
}

#[test]
fn ipv6_master_hands_the_vip_over_on_sigterm() {
    skip_unless_root!();
    let lab = Lab::builder().hosts(2).build().unwrap();
    let vip = lab.addr_v6(110);
    let ip = IpAddr::V6(vip);
    let cfg = |i: usize, state: &str, prio: u8| {
        format!(
            "vrrp_instance VI_6 {{\n  state {state}\n  interface {}\n  virtual_router_id 52\n  \
             priority {prio}\n  advert_int 0.5\n  virtual_ipaddress {{\n    {vip}/64\n  }}\n}}\n",
            lab.host(i).ifname()
        )
    };
    let cfgs = [
        write_config(&cfg(0, "MASTER", 100)),
        write_config(&cfg(1, "BACKUP", 99)),
    ];
    let bin = env!("CARGO_BIN_EXE_drift");
    let mut daemons: Vec<_> = cfgs
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let path = c.path().to_str().unwrap().to_string();
            lab.spawn(i, bin, &["run", "-f", &path, "-l", "debug"])
                .unwrap()
        })
        .collect();
    let logs = |d: &[drift_testkit::ChildGuard]| {
        format!("--- host 0\n{}\n--- host 1\n{}", d[0].logs(), d[1].logs())
    };
    let on = |h: usize| lab.has_addr(h, ip);
    let poll = Duration::from_millis(20);
    assert!(
        wait_until(Duration::from_secs(10), poll, || on(0) && !on(1)).is_some(),
        "no election:\n{}",
        logs(&daemons)
    );
    std::thread::sleep(Duration::from_secs(1));
    assert!(!on(1), "backup took the VIP:\n{}", logs(&daemons));
    daemons[0].signal(Signal::SIGTERM).unwrap();
    let took = wait_until(Duration::from_secs(3), Duration::from_millis(5), || on(1));
    let exit = daemons[0].stop(Duration::from_secs(3)).unwrap();
    assert!(took.is_some(), "no IPv6 takeover:\n{}", logs(&daemons));
    println!("IPv6 SIGTERM takeover: {:?}", took.unwrap_or_default());
    assert!(exit.success() && !on(0), "{}", logs(&daemons));
}

/// Start one daemon per config text, host i running config i.
fn start(lab: &Lab, texts: &[String]) -> (Vec<tempfile::NamedTempFile>, Vec<ChildGuard>) {
    let files: Vec<_> = texts.iter().map(|t| write_config(t)).collect();
    let daemons = files
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let path = f.path().to_str().unwrap().to_string();
            lab.spawn(
                i,
                env!("CARGO_BIN_EXE_drift"),
                &["run", "-f", &path, "-l", "debug"],
            )
            .unwrap()
        })
        .collect();
    (files, daemons)
}

fn both_logs(d: &[ChildGuard]) -> String {
    format!("--- host 0\n{}\n--- host 1\n{}", d[0].logs(), d[1].logs())
}

#[test]
fn unicast_peers_elect_and_hand_over_without_multicast() {
    skip_unless_root!();
    let lab = Lab::builder().hosts(2).build().unwrap();
    let vip = lab.addr_v4(110);
    let ip = IpAddr::V4(vip);
    let (a, b) = (lab.host(0).ipv4(), lab.host(1).ipv4());
    let unicast = |me: std::net::Ipv4Addr, peer: std::net::Ipv4Addr| {
        format!("  unicast_src_ip {me}\n  unicast_peer {{\n    {peer}\n  }}\n  virtual_ipaddress")
    };
    let texts = [
        config(lab.host(0).ifname(), "MASTER", 100, vip)
            .replace("  virtual_ipaddress", &unicast(a, b)),
        config(lab.host(1).ifname(), "BACKUP", 99, vip)
            .replace("  virtual_ipaddress", &unicast(b, a)),
    ];
    let (_files, mut daemons) = start(&lab, &texts);
    let on = |h: usize| lab.has_addr(h, ip);
    let poll = Duration::from_millis(20);
    assert!(
        wait_until(Duration::from_secs(10), poll, || on(0) && !on(1)).is_some(),
        "no election:\n{}",
        both_logs(&daemons)
    );
    std::thread::sleep(Duration::from_millis(1500));
    assert!(!on(1), "backup took the VIP:\n{}", both_logs(&daemons));
    assert!(
        daemons[0]
            .logs()
            .contains(&format!("sent advert prio 100 to {b}")),
        "adverts not sent to the peer:\n{}",
        both_logs(&daemons)
    );
    daemons[0].signal(Signal::SIGTERM).unwrap();
    let took = wait_until(Duration::from_secs(3), Duration::from_millis(5), || on(1));
    let exit = daemons[0].stop(Duration::from_secs(3)).unwrap();
    assert!(
        took.is_some(),
        "no unicast takeover:\n{}",
        both_logs(&daemons)
    );
    println!("unicast SIGTERM takeover: {:?}", took.unwrap_or_default());
    assert!(exit.success() && !on(0), "{}", both_logs(&daemons));
}

#[test]
fn sighup_refuses_a_broken_file_and_applies_a_changed_priority() {
    skip_unless_root!();
    let lab = Lab::builder().hosts(2).build().unwrap();
    let vip = lab.addr_v4(110);
    let ip = IpAddr::V4(vip);
    let texts = [
        config(lab.host(0).ifname(), "MASTER", 100, vip),
        config(lab.host(1).ifname(), "BACKUP", 99, vip),
    ];
    let (files, mut daemons) = start(&lab, &texts);
    let on = |h: usize| lab.has_addr(h, ip);
    let poll = Duration::from_millis(20);
    assert!(
        wait_until(Duration::from_secs(10), poll, || on(0) && !on(1)).is_some(),
        "no election:\n{}",
        both_logs(&daemons)
    );

    std::fs::write(
        files[0].path(),
        "vrrp_instance VI_1 {\n  virtual_router_id 300\n}\n",
    )
    .unwrap();
    daemons[0].signal(Signal::SIGHUP).unwrap();
    let refused = wait_until(Duration::from_secs(3), poll, || {
        daemons[0].logs().contains("reload refused")
    });
    assert!(refused.is_some(), "{}", both_logs(&daemons));
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        on(0) && !on(1),
        "broken reload disturbed the master:\n{}",
        both_logs(&daemons)
    );
    assert!(
        daemons[0].try_wait().unwrap().is_none(),
        "daemon exited on a broken reload"
    );

    let lower = config(lab.host(0).ifname(), "BACKUP", 50, vip);
    std::fs::write(files[0].path(), lower).unwrap();
    daemons[0].signal(Signal::SIGHUP).unwrap();
    let moved = wait_until(Duration::from_secs(3), poll, || on(1) && !on(0));
    assert!(
        moved.is_some(),
        "lower priority not applied:\n{}",
        both_logs(&daemons)
    );
    println!(
        "reload to priority 50 -> VIP on peer: {:?}",
        moved.unwrap_or_default()
    );
    std::thread::sleep(Duration::from_secs(4));
    assert!(on(1) && !on(0), "VIP went back:\n{}", both_logs(&daemons));
    assert!(
        daemons[0].logs().contains("reload done"),
        "{}",
        both_logs(&daemons)
    );
}

#[test]
fn a_fault_in_one_sync_group_member_moves_the_whole_group() {
    skip_unless_root!();
    let lab = Lab::builder().hosts(2).build().unwrap();
    let (vip1, vip2) = (lab.addr_v4(110), lab.addr_v4(120));
    let dir = tempfile::tempdir().unwrap();
    let flag = dir.path().join("fail");
    let host_cfg = |i: usize, state: &str, prio: u8, tracked: bool| {
        let second = config(lab.host(i).ifname(), state, prio, vip2)
            .replace("VI_1", "VI_2")
            .replace("virtual_router_id 51", "virtual_router_id 52");
        let second = if tracked {
            second.replace(
                "  virtual_ipaddress",
                "  track_script {\n    chk\n  }\n  virtual_ipaddress",
            )
        } else {
            second
        };
        format!(
            "vrrp_script chk {{\n  script \"/bin/test ! -e {}\"\n  interval 1\n}}\n\
             vrrp_sync_group VG1 {{\n  group {{\n    VI_1\n    VI_2\n  }}\n}}\n{}{}",
            flag.display(),
            config(lab.host(i).ifname(), state, prio, vip1),
            second
        )
    };
    let texts = [
        host_cfg(0, "MASTER", 100, true),
        host_cfg(1, "BACKUP", 99, false),
    ];
    let (_files, daemons) = start(&lab, &texts);
    let holds = |h: usize| lab.has_addr(h, IpAddr::V4(vip1)) && lab.has_addr(h, IpAddr::V4(vip2));
    let poll = Duration::from_millis(20);
    assert!(
        wait_until(Duration::from_secs(10), poll, || holds(0)).is_some(),
        "no election:\n{}",
        both_logs(&daemons)
    );
    std::fs::write(&flag, b"").unwrap();
    let moved = wait_until(Duration::from_secs(8), poll, || {
        holds(1) && !lab.has_addr(0, IpAddr::V4(vip1)) && !lab.has_addr(0, IpAddr::V4(vip2))
    });
    assert!(
        moved.is_some(),
        "group did not move:\n{}",
        both_logs(&daemons)
    );
    println!(
        "sync group member fault -> both VIPs on peer: {:?}",
        moved.unwrap_or_default()
    );
    let log0 = daemons[0].logs();
    assert!(
        log0.contains("VRRP_Instance(VI_1) Entering FAULT STATE"),
        "{log0}"
    );
    assert!(
        log0.contains("VRRP_Instance(VI_2) Entering FAULT STATE"),
        "{log0}"
    );
}

#[test]
fn a_config_with_errors_is_refused_with_a_non_zero_exit() {
    let f = write_config("vrrp_instance VI_1 {\n  virtual_router_id 300\n}\n");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_drift"))
        .args(["run", "-f", f.path().to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(!out.stderr.is_empty(), "no error message");
}
