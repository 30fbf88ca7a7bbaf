//! Tracker and notify keywords as keepalived 2.2.7 reads them, plus drift's sub-second
//! vrrp_script interval/timeout (keepalived accepts whole seconds only).

use drift_config::{parse_str, print_conf};
use std::time::Duration;

fn instance(extra: &str) -> String {
    format!(
        "vrrp_instance VI_1 {{\n state BACKUP\n interface eth0\n virtual_router_id 51\n \
         priority 99\n{extra} virtual_ipaddress {{\n 10.0.0.100\n }}\n}}\n"
    )
}

fn script(body: &str) -> String {
    format!(
        "vrrp_script chk {{\n script \"/bin/true\"\n{body}}}\n{}",
        instance("")
    )
}

#[test]
fn notify_words_after_the_script_are_its_user_and_group_not_arguments() {
    let c = parse_str(
        "n.conf",
        &instance(" notify_backup \"/bin/true x y\" nobody nogroup\n notify_master /bin/m.sh\n"),
    );
    assert!(c.errors.is_empty(), "{}", c.render());
    let m = c.model.unwrap();
    let n = &m.instances[0].notify;
    assert_eq!(n.backup.as_deref(), Some("/bin/true x y"));
    assert_eq!(n.master.as_deref(), Some("/bin/m.sh"));
    assert_eq!(n.users.len(), 1);
    assert_eq!(
        (
            n.users[0].keyword.as_str(),
            n.users[0].user.as_str(),
            n.users[0].group.as_deref()
        ),
        ("notify_backup", "nobody", Some("nogroup"))
    );
    let dump = print_conf(&m);
    assert!(
        dump.contains("notify_backup \"/bin/true x y\" nobody nogroup"),
        "{dump}"
    );
    let again = parse_str("again.conf", &dump).model.unwrap();
    assert_eq!(again.instances[0].notify, *n);
}

#[test]
fn script_intervals_and_timeouts_accept_fractions_down_to_50_ms() {
    let c = parse_str("f.conf", &script(" interval 0.05\n timeout 0.05\n"));
    assert!(
        c.errors.is_empty() && c.warnings.is_empty(),
        "{}",
        c.render()
    );
    let s = &c.model.unwrap().vrrp_scripts[0];
    assert_eq!(s.interval, Duration::from_millis(50));
    assert_eq!(s.timeout, Duration::from_millis(50));
    let c = parse_str("d.conf", &script(" interval 0.2\n"));
    assert_eq!(
        c.model.unwrap().vrrp_scripts[0].timeout,
        Duration::from_millis(200),
        "the timeout defaults to the interval"
    );
}

#[test]
fn script_intervals_or_timeouts_below_50_ms_are_errors() {
    for body in [" interval 0.01\n", " timeout 0.001\n", " interval 0\n"] {
        let c = parse_str("s.conf", &script(body));
        assert_eq!(c.errors.len(), 1, "{body}: {}", c.render());
        assert!(c.errors[0].message.contains("0.05"), "{}", c.render());
    }
}

#[test]
fn track_file_weights_take_keepalived_s_full_range_and_quorum_max_may_be_zero() {
    let text = "track_file f {\n file /tmp/f\n weight 1000\n}\n\
                vrrp_track_process p {\n process nginx\n quorum_max 0\n}\n";
    let c = parse_str("t.conf", text);
    assert!(c.errors.is_empty(), "{}", c.render());
    let m = c.model.unwrap();
    assert_eq!(m.track_files[0].weight, 1000);
    assert_eq!(m.track_processes[0].quorum_max, Some(0));
}

#[test]
fn drift_check_reports_a_root_script_in_a_world_writable_directory_under_script_security() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let prog = dir.path().join("check.sh");
    std::fs::write(&prog, "#!/bin/sh\nexit 0\n").unwrap();
    std::fs::set_permissions(&prog, std::fs::Permissions::from_mode(0o755)).unwrap();
    let body = format!(
        "vrrp_script chk {{\n script \"{}\"\n}}\n{}",
        prog.display(),
        instance("")
    );
    let conf = dir.path().join("k.conf");
    let write = |global: &str| std::fs::write(&conf, format!("{global}{body}")).unwrap();
    write("global_defs {\n enable_script_security\n}\n");
    let c = drift_config::check_file(&conf);
    let text = c.render();
    assert!(
        c.warnings
            .iter()
            .any(|w| w.message.contains("can be modified by a non-root user")),
        "{text}"
    );
    write("");
    let c = drift_config::check_file(&conf);
    assert!(
        !c.warnings
            .iter()
            .any(|w| w.message.contains("non-root user")),
        "without script security it runs: {}",
        c.render()
    );
}
