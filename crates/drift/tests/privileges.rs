//! Privileges end to end (issue 7): drift works with only CAP_NET_ADMIN and CAP_NET_RAW as an
//! unprivileged user, its control socket answers only root and its own user, and notify and
//! track scripts run as `script_user`. Needs root (to hand out exactly those capabilities with
//! `setpriv`, and to build the namespaces).

mod common;

use std::net::IpAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use common::{drift_bin, fast_instance, lab, wait_holders, wait_log, Daemon, Instance};
use drift_testkit::{skip_unless_root, skip_unless_tool, wait_until, ChildGuard, Lab, Signal};

/// `nobody` on Debian; setpriv takes the number, so no passwd entry is needed for it or
/// [`STRANGER`].
const NOBODY: u32 = 65534;
/// A uid that is neither root nor the daemon's.
const STRANGER: u32 = 4242;
/// CAP_NET_ADMIN (12) and CAP_NET_RAW (13), as /proc/PID/status prints a capability set.
const NET_CAPS: u64 = (1 << 12) | (1 << 13);
const POLL: Duration = Duration::from_millis(10);

/// The capabilities drift is given: exactly what dist/drift.service grants.
const NET_ADMIN_AND_RAW: &str = "+net_admin,+net_raw";

/// `setpriv` arguments that run the rest of the command as `uid` with no supplementary groups
/// and with exactly the capabilities `caps` (`+net_raw,...`: ambient, so they survive the
/// execve into drift; the bounding set holds nothing else, so nothing can be regained).
fn as_user_with_caps(uid: u32, caps: &str) -> Vec<String> {
    vec![
        format!("--reuid={uid}"),
        format!("--regid={uid}"),
        "--clear-groups".into(),
        format!("--inh-caps=-all,{caps}"),
        format!("--ambient-caps={caps}"),
        format!("--bounding-set=-all,{caps}"),
        "--".into(),
    ]
}

/// `setpriv` arguments for a plain unprivileged `uid` (no capabilities at all).
fn as_user(uid: u32) -> Vec<String> {
    vec![
        format!("--reuid={uid}"),
        format!("--regid={uid}"),
        "--clear-groups".into(),
        "--inh-caps=-all".into(),
        "--bounding-set=-all".into(),
        "--".into(),
    ]
}

/// A directory tree for one unprivileged daemon (mode 0755, root's) holding its config, and two
/// directories of the daemon's user: `run/` for the control socket (what systemd's
/// `RuntimeDirectory=drift` makes for a `User=`) and `dumps/`. Removed on Drop.
struct StateDir {
    dir: tempfile::TempDir,
}

impl StateDir {
    fn new(owner: u32) -> StateDir {
        let dir = tempfile::Builder::new()
            .prefix("drift-priv-")
            .tempdir()
            .unwrap_or_else(|e| panic!("temp dir: {e}"));
        chmod(dir.path(), 0o755);
        for (sub, mode) in [("run", 0o750), ("dumps", 0o755)] {
            let p = dir.path().join(sub);
            std::fs::create_dir(&p).unwrap_or_else(|e| panic!("mkdir {sub}: {e}"));
            chmod(&p, mode);
            std::os::unix::fs::chown(&p, Some(owner), Some(owner))
                .unwrap_or_else(|e| panic!("chown {sub}: {e}"));
        }
        StateDir { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Where drift is told to put its control socket.
    fn socket(&self) -> PathBuf {
        self.path("run/drift.sock")
    }

    fn write_config(&self, text: &str) -> PathBuf {
        let conf = self.path("keepalived.conf");
        std::fs::write(&conf, text).unwrap_or_else(|e| panic!("write config: {e}"));
        chmod(&conf, 0o644);
        conf
    }
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", path.display()));
}

/// How an unprivileged drift is started: its uid, its capabilities (`+net_raw,...`), an
/// RLIMIT_RTPRIO (what `LimitRTPRIO=` in dist/drift.service sets) and `--proxy` file.
struct Unprivileged<'a> {
    uid: u32,
    caps: &'a str,
    rtprio: Option<u32>,
    proxy: Option<PathBuf>,
}

impl Unprivileged<'_> {
    /// `nobody` with exactly CAP_NET_ADMIN and CAP_NET_RAW, nothing else.
    fn nobody() -> Unprivileged<'static> {
        Unprivileged {
            uid: NOBODY,
            caps: NET_ADMIN_AND_RAW,
            rtprio: None,
            proxy: None,
        }
    }

    /// Start `drift run` with `conf` in host `host`, its files in `state`.
    fn start(&self, lab: &Lab, host: usize, state: &StateDir, conf: &str) -> ChildGuard {
        let conf = state.write_config(conf);
        let mut args = match self.rtprio {
            Some(p) => vec![format!("--rtprio={p}:{p}"), "setpriv".into()],
            None => Vec::new(),
        };
        args.extend(as_user_with_caps(self.uid, self.caps));
        let path = |p: &Path| p.to_string_lossy().into_owned();
        args.extend([
            path(drift_bin()),
            "run".into(),
            "-l".into(),
            "debug".into(),
            "-f".into(),
            path(&conf),
            "--control-socket".into(),
            path(&state.socket()),
            "--dump-dir".into(),
            path(&state.path("dumps")),
        ]);
        if let Some(p) = &self.proxy {
            args.extend(["--proxy".into(), path(p)]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let program = if self.rtprio.is_some() {
            "prlimit"
        } else {
            "setpriv"
        };
        lab.spawn(host, program, &args)
            .unwrap_or_else(|e| panic!("spawn setpriv drift in host {host}: {e}"))
    }
}

/// Wait for a daemon that should refuse to start; panics if it keeps running.
fn expect_exit_failure(d: &mut ChildGuard) {
    let exited = wait_until(Duration::from_secs(10), POLL, || {
        matches!(d.try_wait(), Ok(Some(_)))
    });
    assert!(exited.is_some(), "still running:\n{}", d.logs());
    let status = d.stop(Duration::from_secs(1));
    assert!(status.is_ok_and(|s| !s.success()), "{}", d.logs());
}

/// One line of /proc/PID/status, e.g. `CapEff`.
fn proc_status(pid: u32, key: &str) -> String {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .map(|v| v.trim().to_string())
        .unwrap_or_default()
}

fn cap_set(pid: u32, key: &str) -> u64 {
    u64::from_str_radix(&proc_status(pid, key), 16).unwrap_or(u64::MAX)
}

/// `drift status --json --socket SOCKET`, run as `uid` (None: as root, the test's own user).
fn status_as(uid: Option<u32>, socket: &Path) -> Output {
    let drift = drift_bin().to_string_lossy().into_owned();
    let socket = socket.to_string_lossy().into_owned();
    let tail = [
        drift,
        "status".into(),
        "--json".into(),
        "--socket".into(),
        socket,
    ];
    let mut cmd = match uid {
        None => Command::new(&tail[0]),
        Some(uid) => {
            let mut c = Command::new("setpriv");
            c.args(as_user(uid)).arg(&tail[0]);
            c
        }
    };
    cmd.args(&tail[1..])
        .output()
        .unwrap_or_else(|e| panic!("run drift status: {e}"))
}

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout: {}\nstderr: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn drift_as_an_unprivileged_user_with_only_net_admin_and_net_raw_runs_a_master_and_hands_over() {
    skip_unless_root!();
    skip_unless_tool!("setpriv");
    let lab = lab(2);
    let vip = lab.addr_v4(110);
    let state = StateDir::new(NOBODY);
    // 0.5 s adverts: the unprivileged master runs at normal priority, and the peer must not
    // take over during a scheduling stall of a loaded machine (its master-down is 1.8 s).
    let master = Instance::new("MASTER", 150, vip).v3("0.5");
    // `script_user root` with no capability to become root: said once at startup, not fatal.
    let conf = master
        .config()
        .replace("global_defs {\n", "global_defs {\n    script_user root\n");
    let mut d0 = Unprivileged::nobody().start(&lab, 0, &state, &conf);
    let peer = Daemon::start_as_drift(
        drift_bin(),
        &lab,
        1,
        &Instance::new("BACKUP", 100, vip).v3("0.5").config(),
    );
    let both = || format!("{}\n--- peer ---\n{}", d0.logs(), peer.logs());

    // MASTER with the VIP, and the peer stays BACKUP: it hears the unprivileged adverts.
    assert!(
        wait_holders(&lab, vip, &[0], Duration::from_secs(10)).is_some(),
        "the unprivileged drift never held the VIP alone:\n{}",
        both()
    );
    common::assert_stable(
        &lab,
        vip,
        &[0],
        Duration::from_secs(2),
        "peer hears adverts",
    );
    assert!(d0.logs().contains("Entering MASTER STATE"), "{}", both());

    // Exactly the two capabilities, as uid nobody.
    let pid = d0.pid();
    assert_eq!(
        proc_status(pid, "Uid").split_whitespace().next(),
        Some("65534")
    );
    assert_eq!(cap_set(pid, "CapEff"), NET_CAPS, "CapEff of drift");
    assert_eq!(cap_set(pid, "CapPrm"), NET_CAPS, "CapPrm of drift");
    assert_eq!(cap_set(pid, "CapBnd"), NET_CAPS, "CapBnd of drift");

    // What it cannot have degrades with a clear line instead of failing.
    let logs = d0.logs();
    assert!(
        logs.contains("real-time priority 1 refused")
            && logs.contains("SCHED_RR needs CAP_SYS_NICE or RLIMIT_RTPRIO"),
        "no word on SCHED_RR without CAP_SYS_NICE:\n{logs}"
    );
    assert!(
        logs.contains("without CAP_SETUID and CAP_SETGID"),
        "no word on script_user without CAP_SETUID:\n{logs}"
    );
    assert!(
        logs.contains(&format!("control socket {}", state.socket().display())),
        "no control socket:\n{logs}"
    );
    let mode = std::fs::metadata(state.socket())
        .map(|m| m.permissions().mode() & 0o777)
        .unwrap_or(0);
    assert_eq!(mode, 0o600, "control socket mode");

    // Its dumps, into a directory of its own user.
    d0.signal(Signal::SIGUSR2)
        .unwrap_or_else(|e| panic!("SIGUSR2: {e}"));
    let stats = state.path("dumps/drift.stats");
    assert!(
        wait_until(Duration::from_secs(5), POLL, || stats.exists()).is_some(),
        "no stats dump as nobody:\n{}",
        d0.logs()
    );

    // The control socket: root and the daemon's own user are answered, a third user is not.
    let by_root = status_as(None, &state.socket());
    assert!(by_root.status.success(), "root: {}", text(&by_root));
    assert!(
        String::from_utf8_lossy(&by_root.stdout).contains("\"MASTER\""),
        "{}",
        text(&by_root)
    );
    let by_self = status_as(Some(NOBODY), &state.socket());
    assert!(
        by_self.status.success(),
        "the daemon's user: {}",
        text(&by_self)
    );
    let by_stranger = status_as(Some(STRANGER), &state.socket());
    assert!(
        !by_stranger.status.success(),
        "uid {STRANGER}: {}",
        text(&by_stranger)
    );

    // SIGTERM: priority-0 advert, VIP removed, the peer takes over after its skew time (0.3 s;
    // the bound leaves room for a lost advert, a master-down of 1.8 s, on a loaded machine).
    d0.signal(Signal::SIGTERM)
        .unwrap_or_else(|e| panic!("SIGTERM: {e}"));
    let bound = Duration::from_secs(5);
    let took = wait_holders(&lab, vip, &[1], bound);
    assert!(
        took.is_some(),
        "the peer did not take over after SIGTERM (holders {:?}):\n{}",
        common::holders(&lab, vip),
        both()
    );
    let exit = d0.stop(Duration::from_secs(5));
    assert!(
        exit.as_ref().is_ok_and(|s| s.success()),
        "unprivileged drift did not exit 0 on SIGTERM: {exit:?}\n{}",
        d0.logs()
    );
    assert!(!lab.has_addr(0, IpAddr::V4(vip)), "VIP left on host 0");
    assert!(d0.logs().contains("sent advert prio 0"), "{}", d0.logs());
    common::figure(
        "unprivileged master SIGTERM -> peer holds VIP",
        took.unwrap_or_default(),
        bound,
    );
}

#[test]
fn without_net_admin_drift_refuses_to_start_rather_than_be_a_master_without_its_vip() {
    skip_unless_root!();
    skip_unless_tool!("setpriv");
    let lab = lab(1);
    let vip = lab.addr_v4(114);
    let state = StateDir::new(NOBODY);
    let conf = fast_instance(lab.host(0).ifname(), "MASTER", 100, vip, "");
    let raw_only = Unprivileged {
        caps: "+net_raw",
        ..Unprivileged::nobody()
    };
    let mut d = raw_only.start(&lab, 0, &state, &conf);
    expect_exit_failure(&mut d);
    assert!(
        d.logs().contains("lacks CAP_NET_ADMIN:"),
        "no word on the missing capability:\n{}",
        d.logs()
    );
    assert!(!d.logs().contains("Entering MASTER STATE"), "{}", d.logs());
}

#[test]
fn a_proxy_on_port_80_needs_net_bind_service_as_well_and_says_so() {
    skip_unless_root!();
    skip_unless_tool!("setpriv");
    let lab = lab(1);
    let vip = lab.addr_v4(115);
    let state = StateDir::new(NOBODY);
    let proxy = state.path("nginx.conf");
    std::fs::write(
        &proxy,
        format!(
            "stream {{\n  upstream web {{\n    server 127.0.0.1:8080;\n  }}\n  \
             server {{\n    listen {vip}:80;\n    proxy_pass web;\n  }}\n}}\n"
        ),
    )
    .unwrap_or_else(|e| panic!("write nginx.conf: {e}"));
    chmod(&proxy, 0o644);
    let conf = fast_instance(lab.host(0).ifname(), "MASTER", 100, vip, "");
    let two = Unprivileged {
        proxy: Some(proxy.clone()),
        ..Unprivileged::nobody()
    };
    let mut d = two.start(&lab, 0, &state, &conf);
    expect_exit_failure(&mut d);
    assert!(
        d.logs().contains(&format!("cannot listen on {vip}:80"))
            && d.logs().contains("needs CAP_NET_BIND_SERVICE"),
        "{}",
        d.logs()
    );
    let three = Unprivileged {
        caps: "+net_admin,+net_raw,+net_bind_service",
        ..two
    };
    let d = three.start(&lab, 0, &state, &conf);
    assert!(
        wait_holders(&lab, vip, &[0], Duration::from_secs(10)).is_some(),
        "never master:\n{}",
        d.logs()
    );
    assert!(
        d.logs().contains(&format!("listening on [{vip}:80]")),
        "{}",
        d.logs()
    );
}

#[test]
fn the_control_socket_refuses_other_users_even_when_its_file_mode_lets_them_connect() {
    skip_unless_root!();
    skip_unless_tool!("setpriv");
    let lab = lab(1);
    let vip = lab.addr_v4(111);
    let state = StateDir::new(0);
    let conf = state.write_config(&fast_instance(lab.host(0).ifname(), "MASTER", 100, vip, ""));
    // Root, as dist/drift.service runs it; drift makes the socket's directory itself (0700).
    std::fs::remove_dir(state.path("run")).unwrap_or_else(|e| panic!("rmdir run: {e}"));
    let d = lab
        .spawn(
            0,
            &drift_bin().to_string_lossy(),
            &[
                "run",
                "-l",
                "debug",
                "-f",
                &conf.to_string_lossy(),
                "--control-socket",
                &state.socket().to_string_lossy(),
            ],
        )
        .unwrap_or_else(|e| panic!("spawn drift: {e}"));
    assert!(
        wait_until(Duration::from_secs(10), POLL, || state.socket().exists()).is_some(),
        "no control socket:\n{}",
        d.logs()
    );
    let by_root = status_as(None, &state.socket());
    assert!(by_root.status.success(), "root: {}", text(&by_root));

    // First gate: the file mode (0600 in a 0700 directory) stops connect(2) itself.
    let denied = status_as(Some(STRANGER), &state.socket());
    assert!(!denied.status.success(), "{}", text(&denied));
    assert!(
        String::from_utf8_lossy(&denied.stderr).contains("Permission denied"),
        "{}",
        text(&denied)
    );

    // Second gate: with the mode widened, the peer's credentials still refuse the request.
    chmod(&state.path("run"), 0o755);
    chmod(&state.socket(), 0o666);
    let refused = status_as(Some(STRANGER), &state.socket());
    assert!(!refused.status.success(), "{}", text(&refused));
    assert!(
        String::from_utf8_lossy(&refused.stderr)
            .contains(&format!("refused the request: uid {STRANGER}")),
        "{}",
        text(&refused)
    );
    assert!(
        wait_log_of(&d, &format!("control socket: uid {STRANGER}")),
        "the daemon did not log the refusal:\n{}",
        d.logs()
    );
    // Root is still answered.
    let again = status_as(None, &state.socket());
    assert!(
        again.status.success(),
        "root after a refusal: {}",
        text(&again)
    );
}

fn wait_log_of(d: &ChildGuard, needle: &str) -> bool {
    wait_until(Duration::from_secs(3), POLL, || d.logs().contains(needle)).is_some()
}

#[test]
fn notify_and_track_scripts_run_as_script_user_with_its_own_group_only() {
    skip_unless_root!();
    let lab = lab(1);
    let vip = lab.addr_v4(112);
    let state = StateDir::new(NOBODY);
    // Scripts in the root-owned 0755 directory (so nobody may run them and nobody else may
    // change them); their output in nobody's `dumps/`.
    let out = state.path("dumps");
    let script = |name: &str| {
        let p = state.path(&format!("{name}.sh"));
        let body = format!(
            "#!/bin/sh\n{{ id -u; id -g; id -G; }} > {}/{name}.tmp && mv {0}/{name}.tmp {0}/{name}\n",
            out.display()
        );
        std::fs::write(&p, body).unwrap_or_else(|e| panic!("write {name}: {e}"));
        chmod(&p, 0o755);
        p
    };
    let (check, notify) = (script("check"), script("notify"));
    let conf = format!(
        "global_defs {{\n  script_user nobody\n  enable_script_security\n}}\n\
         vrrp_script chk {{\n  script \"{}\"\n  interval 0.2\n}}\n{}",
        check.display(),
        fast_instance(
            lab.host(0).ifname(),
            "MASTER",
            100,
            vip,
            &format!(
                "  track_script {{\n    chk\n  }}\n  notify_master \"{}\"\n",
                notify.display()
            ),
        )
    );
    let d = Daemon::start_as_drift(drift_bin(), &lab, 0, &conf);
    assert!(
        wait_holders(&lab, vip, &[0], Duration::from_secs(10)).is_some(),
        "never master:\n{}",
        d.logs()
    );
    let ids = |name: &str| {
        let p = out.join(name);
        wait_until(Duration::from_secs(5), POLL, || p.exists());
        std::fs::read_to_string(&p).unwrap_or_default()
    };
    // uid, gid, and the group list: nobody's group alone (root's supplementary groups dropped).
    let nogroup = nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(NOBODY))
        .ok()
        .flatten()
        .map_or(NOBODY, |u| u.gid.as_raw());
    let want = format!("{NOBODY}\n{nogroup}\n{nogroup}\n");
    assert_eq!(ids("check"), want, "track script ids\n{}", d.logs());
    assert_eq!(ids("notify"), want, "notify script ids\n{}", d.logs());
    assert!(!wait_log(
        &d,
        "SECURITY VIOLATION",
        Duration::from_millis(10)
    ));
}

#[test]
fn unprivileged_drift_gets_sched_rr_from_rlimit_rtprio_and_its_scripts_run_as_it_with_its_caps() {
    skip_unless_root!();
    skip_unless_tool!("setpriv");
    skip_unless_tool!("prlimit");
    let lab = lab(1);
    let vip = lab.addr_v4(113);
    let state = StateDir::new(NOBODY);
    let out = state.path("dumps/notify");
    let notify = state.path("notify.sh");
    std::fs::write(
        &notify,
        format!(
            "#!/bin/sh\n{{ id -u; grep ^CapEff /proc/self/status; }} > {o}.tmp && mv {o}.tmp {o}\n",
            o = out.display()
        ),
    )
    .unwrap_or_else(|e| panic!("write notify.sh: {e}"));
    chmod(&notify, 0o755);
    let conf = fast_instance(
        lab.host(0).ifname(),
        "MASTER",
        100,
        vip,
        &format!("  notify_master \"{}\"\n", notify.display()),
    );
    // Raising a hard limit needs CAP_SYS_RESOURCE, which some sandboxes withhold even from
    // root (systemd, which sets LimitRTPRIO=, has it).
    let rtprio = Command::new("prlimit")
        .args(["--rtprio=1:1", "true"])
        .output()
        .is_ok_and(|o| o.status.success())
        .then_some(1);
    if rtprio.is_none() {
        println!(
            "SKIP the SCHED_RR part: this root cannot raise RLIMIT_RTPRIO (no CAP_SYS_RESOURCE)"
        );
    }
    let how = Unprivileged {
        rtprio,
        ..Unprivileged::nobody()
    };
    let d = how.start(&lab, 0, &state, &conf);
    assert!(
        wait_holders(&lab, vip, &[0], Duration::from_secs(10)).is_some(),
        "never master:\n{}",
        d.logs()
    );
    if rtprio.is_some() {
        assert!(
            d.logs().contains("VRRP thread: SCHED_RR priority 1"),
            "RLIMIT_RTPRIO 1 should allow SCHED_RR 1 without CAP_SYS_NICE:\n{}",
            d.logs()
        );
    }
    assert_eq!(cap_set(d.pid(), "CapEff"), NET_CAPS);
    // No script_user and no keepalived_script user: scripts run as drift's own user, and
    // inherit its two (ambient) capabilities.
    wait_until(Duration::from_secs(5), POLL, || out.exists());
    let got = std::fs::read_to_string(&out).unwrap_or_default();
    assert_eq!(
        got,
        format!("{NOBODY}\nCapEff:\t{NET_CAPS:016x}\n"),
        "notify script as drift's user\n{}",
        d.logs()
    );
}

#[test]
fn the_systemd_unit_grants_exactly_the_capabilities_these_tests_run_drift_with() {
    let unit = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../dist/drift.service");
    let text =
        std::fs::read_to_string(&unit).unwrap_or_else(|e| panic!("read {}: {e}", unit.display()));
    for key in ["AmbientCapabilities=", "CapabilityBoundingSet="] {
        let value = text.lines().find_map(|l| l.strip_prefix(key));
        assert_eq!(
            value,
            Some("CAP_NET_ADMIN CAP_NET_RAW"),
            "{key} in {} differs from the set tests/privileges.rs proves enough",
            unit.display()
        );
    }
    assert!(
        text.contains("\nLimitRTPRIO="),
        "SCHED_RR without CAP_SYS_NICE needs LimitRTPRIO"
    );
}
