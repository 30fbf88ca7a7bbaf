//! Notification end to end, one `drift run` in a namespace: notify scripts (per state and the
//! generic one, run as `script_user` or the user their line names), `vrrp_notify_fifo` with its reader script, and
//! `smtp_alert` mails to an SMTP listener on the namespace's loopback. Needs root.

mod common;

use std::net::IpAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use common::{fast_instance, Daemon, SmtpSink};
use drift_testkit::{skip_unless_root, wait_until, Lab};

const POLL: Duration = Duration::from_millis(20);

fn start(lab: &Lab, config: &str) -> Daemon {
    Daemon::start(Path::new(env!("CARGO_BIN_EXE_drift")), lab, 0, config)
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn notify_scripts_run_as_script_user_or_their_own_user_with_keepalived_arguments() {
    skip_unless_root!();
    let lab = Lab::builder().hosts(1).build().unwrap();
    let vip = lab.addr_v4(120);
    let dir = tempfile::tempdir().unwrap();
    // nobody must be able to enter the directory and write the output.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let out = dir.path().join("out");
    let script = dir.path().join("note.sh");
    std::fs::write(
        &script,
        format!("#!/bin/sh\necho \"$(id -un) $*\" >> {}\n", out.display()),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let s = script.display();
    let cfg = format!(
        "global_defs {{\n  script_user nobody\n}}\n{}",
        fast_instance(
            lab.host(0).ifname(),
            "BACKUP",
            100,
            vip,
            &format!(
                "  notify_backup \"{s} backup-arg\"\n  notify_master {s} root\n  notify {s}\n"
            ),
        )
    );
    let mut d = start(&lab, &cfg);
    let want = [
        "nobody backup-arg",
        "nobody INSTANCE VI_1 BACKUP 100",
        "root ",
        "nobody INSTANCE VI_1 MASTER 100",
    ];
    // Per state: notify_<state> first, then the generic notify (keepalived's order); the two
    // are separate processes, so only the order within one state is not asserted.
    let got = wait_until(Duration::from_secs(10), POLL, || {
        let mut l = lines(&out);
        l.sort();
        let mut w: Vec<String> = want.iter().map(|s| s.to_string()).collect();
        w.sort();
        l == w
    });
    assert!(
        got.is_some(),
        "notify output {:?}\n{}",
        lines(&out),
        d.logs()
    );
    assert!(d.terminate(), "drift did not stop");
    let stop = wait_until(Duration::from_secs(5), POLL, || {
        lines(&out)
            .iter()
            .any(|l| l == "nobody INSTANCE VI_1 STOP 100")
    });
    assert!(stop.is_some(), "no STOP notify: {:?}", lines(&out));
}

#[test]
fn the_vrrp_notify_fifo_gets_keepalived_lines_in_order_and_its_script_reads_them() {
    skip_unless_root!();
    let lab = Lab::builder().hosts(1).build().unwrap();
    let vip = lab.addr_v4(121);
    let ip = IpAddr::V4(vip);
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("vrrp.fifo");
    let out = dir.path().join("fifo.out");
    // The FIFO's path is passed as the script's last argument ($0 of `sh -c`).
    let cfg = format!(
        "global_defs {{\n  vrrp_notify_fifo {}\n  vrrp_notify_fifo_script \"/bin/sh -c 'cat $0 >> {}'\"\n}}\n{}",
        fifo.display(),
        out.display(),
        fast_instance(lab.host(0).ifname(), "BACKUP", 100, vip, "")
    );
    let mut d = start(&lab, &cfg);
    assert!(
        wait_until(Duration::from_secs(10), POLL, || lab.has_addr(0, ip)).is_some(),
        "{}",
        d.logs()
    );
    let want = [
        "INSTANCE \"VI_1\" BACKUP 100",
        "INSTANCE \"VI_1\" MASTER 100",
    ];
    let got = wait_until(Duration::from_secs(5), POLL, || lines(&out) == want);
    assert!(got.is_some(), "FIFO lines {:?}\n{}", lines(&out), d.logs());
    assert!(d.terminate(), "drift did not stop");
    let gone = wait_until(Duration::from_secs(5), POLL, || !fifo.exists());
    assert!(gone.is_some(), "the FIFO drift created is removed at exit");
}

#[test]
fn smtp_alert_mails_keepalived_subjects_to_every_recipient() {
    skip_unless_root!();
    let lab = Lab::builder().hosts(1).build().unwrap();
    let vip = lab.addr_v4(122);
    let sink = SmtpSink::start(lab.host(0));
    let cfg = format!(
        "global_defs {{\n  router_id lb-test\n  notification_email {{\n    ops@example.com\n    \
         oncall@example.com\n  }}\n  notification_email_from drift@example.com\n  \
         smtp_server 127.0.0.1 {}\n  smtp_connect_timeout 5\n  smtp_helo_name lb-test.example\n}}\n{}",
        sink.port,
        fast_instance(lab.host(0).ifname(), "BACKUP", 100, vip, "  smtp_alert\n")
    );
    let d = start(&lab, &cfg);
    let mut mails = Vec::new();
    while mails.len() < 2 {
        match sink.next(Duration::from_secs(15)) {
            Some(m) => mails.push(m),
            None => panic!("only {} mail(s): {mails:?}\n{}", mails.len(), d.logs()),
        }
    }
    let master = mails
        .iter()
        .find(|m| m.contains("Entering MASTER state"))
        .unwrap_or_else(|| panic!("no MASTER mail: {mails:?}"));
    let header = |name: &str| {
        master
            .lines()
            .find(|l| l.starts_with(&format!("{name}: ")))
            .map(|l| l[name.len() + 2..].trim().to_string())
    };
    assert_eq!(
        header("Subject").as_deref(),
        Some("[lb-test] VRRP Instance VI_1 - Entering MASTER state")
    );
    assert_eq!(header("From").as_deref(), Some("drift@example.com"));
    assert_eq!(
        header("To").as_deref(),
        Some("ops@example.com, oncall@example.com")
    );
    assert!(master.contains("=> VRRP Instance is now owning VRRP VIPs <="));
    assert!(mails.iter().any(|m| m.contains("Entering BACKUP state")));
}
