//! Every malformed config in fixtures/bad/ gives its expected diagnostic at its expected place,
//! and the expected exit code. The keepalived 2.2.7 `-t` result is recorded next to each case
//! (see fixtures/bad/KEEPALIVED-T.md for its full output).

use drift_config::{check_file, Severity};
use std::path::PathBuf;

struct Case {
    file: &'static str,
    severity: Severity,
    message: &'static str,
    line: usize,
    col: usize,
    exit: i32,
    /// Substring of a `help:`/`note:` line, if one is expected.
    help: Option<&'static str>,
}

const E: Severity = Severity::Error;
const W: Severity = Severity::Warning;

#[rustfmt::skip]
const CASES: &[Case] = &[
    Case { file: "missing-close-brace.conf", severity: E, message: "unclosed block: missing `}`", line: 1, col: 20, exit: 3, help: None },
    Case { file: "extra-close-brace.conf", severity: E, message: "unexpected `}`", line: 8, col: 1, exit: 3, help: None },
    Case { file: "bad-vip-address.conf", severity: E, message: "`192.168.1.300` is not an IP address", line: 5, col: 9, exit: 3, help: None },
    Case { file: "bad-vip-mask.conf", severity: E, message: "prefix length /33 is too long", line: 5, col: 9, exit: 3, help: None },
    Case { file: "bad-mcast-src-ip.conf", severity: E, message: "`10.0.0.x` is not an IP address", line: 4, col: 18, exit: 3, help: None },
    Case { file: "bad-vip-option.conf", severity: E, message: "invalid scope `galaxy`", line: 5, col: 41, exit: 3, help: None },
    Case { file: "vrid-zero.conf", severity: E, message: "invalid virtual_router_id: 0 is outside the range 1..=255", line: 3, col: 23, exit: 3, help: None },
    Case { file: "vrid-256.conf", severity: E, message: "invalid virtual_router_id: 256 is outside", line: 3, col: 23, exit: 3, help: None },
    Case { file: "bad-number.conf", severity: E, message: "`fifty` is not a whole number", line: 3, col: 23, exit: 3, help: None },
    Case { file: "priority-zero.conf", severity: E, message: "invalid priority: 0 is outside the range 1..=255", line: 4, col: 14, exit: 3, help: None },
    Case { file: "priority-300.conf", severity: E, message: "invalid priority: 300", line: 4, col: 14, exit: 3, help: None },
    Case { file: "unknown-keyword.conf", severity: E, message: "unknown keyword `frobnicate` in vrrp_instance", line: 4, col: 5, exit: 3, help: None },
    Case { file: "misspelled-keyword.conf", severity: E, message: "unknown keyword `priorty`", line: 4, col: 5, exit: 3, help: Some("did you mean `priority`?") },
    Case { file: "misspelled-block.conf", severity: E, message: "unknown keyword `vrrp_instanse`", line: 1, col: 1, exit: 3, help: Some("did you mean `vrrp_instance`?") },
    Case { file: "missing-include.conf", severity: E, message: "include `/nonexistent/drift-missing.conf` matches no file", line: 1, col: 1, exit: 3, help: None },
    Case { file: "include-cycle.conf", severity: E, message: "include-cycle.conf -> ", line: 1, col: 1, exit: 3, help: None },
    Case { file: "duplicate-vrid.conf", severity: E, message: "virtual_router_id 51 already used by VI_1 with IPv4 on interface eth0", line: 10, col: 5, exit: 3, help: None },
    Case { file: "duplicate-instance-name.conf", severity: E, message: "vrrp_instance VI_1 is already defined", line: 8, col: 15, exit: 3, help: None },
    Case { file: "undefined-track-script.conf", severity: E, message: "`chk_nothing` is not defined by any vrrp_script", line: 5, col: 9, exit: 3, help: None },
    Case { file: "undefined-sync-group-member.conf", severity: E, message: "`VI_9` is not defined by any vrrp_instance", line: 4, col: 9, exit: 3, help: Some("did you mean `VI_1`?") },
    Case { file: "v2-advert-int-fraction.conf", severity: W, message: "VRRPv2 advert_int must be whole seconds; 0.5 rounded to 1", line: 4, col: 5, exit: 4, help: None },
    Case { file: "v3-advert-int-50.conf", severity: W, message: "VRRPv3 advert_int must be below 40.96 s; using 40.95", line: 5, col: 5, exit: 4, help: None },
    Case { file: "track-script-weight-300.conf", severity: E, message: "invalid weight: 300 is outside the range -253..=253", line: 3, col: 12, exit: 3, help: None },
    Case { file: "track-interface-weight-300.conf", severity: E, message: "invalid weight: 300", line: 5, col: 21, exit: 3, help: None },
    Case { file: "unterminated-quote.conf", severity: E, message: "unterminated quoted string", line: 2, col: 12, exit: 3, help: None },
    Case { file: "auth-pass-too-long.conf", severity: W, message: "auth_pass is longer than 8 characters; truncated to `01234567`", line: 6, col: 19, exit: 4, help: None },
    Case { file: "master-nopreempt.conf", severity: W, message: "nopreempt does not work with initial state MASTER", line: 3, col: 5, exit: 4, help: None },
    Case { file: "ipv6-vip-in-v2.conf", severity: W, message: "IPv6 needs VRRP version 3; using version 3", line: 4, col: 5, exit: 4, help: None },
    Case { file: "missing-vrid.conf", severity: E, message: "vrrp_instance VI_1 has no virtual_router_id", line: 1, col: 15, exit: 3, help: None },
    Case { file: "missing-interface.conf", severity: E, message: "VI_1: no interface", line: 1, col: 15, exit: 3, help: None },
    Case { file: "no-vips.conf", severity: W, message: "no virtual_ipaddress", line: 1, col: 15, exit: 4, help: None },
    Case { file: "bad-state.conf", severity: E, message: "invalid state `PRIMARY`", line: 2, col: 11, exit: 3, help: None },
    Case { file: "bad-auth-type.conf", severity: E, message: "unknown auth_type `MD5`", line: 5, col: 19, exit: 3, help: None },
    Case { file: "mixed-family-vips.conf", severity: E, message: "VIP fd00::10 is not the instance's address family", line: 7, col: 9, exit: 3, help: None },
    Case { file: "bad-version.conf", severity: E, message: "invalid version: 4 is outside the range 2..=3", line: 4, col: 13, exit: 3, help: None },
    Case { file: "empty-sync-group.conf", severity: W, message: "sync group VG1 has no virtual routers", line: 1, col: 17, exit: 4, help: None },
];

fn bad_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/bad")
}

#[test]
fn every_bad_fixture_reports_its_expected_diagnostic_at_its_line_and_column() {
    let mut failures = Vec::new();
    for case in CASES {
        let checked = check_file(&bad_dir().join(case.file));
        let all = checked.errors.iter().chain(&checked.warnings);
        let hit = all
            .clone()
            .find(|d| d.severity == case.severity && d.message.contains(case.message));
        let Some(d) = hit else {
            failures.push(format!(
                "{}: no {:?} containing {:?}; got:\n{}",
                case.file,
                case.severity,
                case.message,
                checked.render()
            ));
            continue;
        };
        let (name, line, col) = d.location(&checked.sources).unwrap_or_default();
        if (line, col) != (case.line, case.col) {
            failures.push(format!(
                "{}: expected {}:{}, got {name}:{line}:{col}",
                case.file, case.line, case.col
            ));
        }
        if let Some(help) = case.help {
            if !d.notes.iter().any(|n| n.contains(help)) {
                failures.push(format!("{}: no help {help:?} in {:?}", case.file, d.notes));
            }
        }
        let rendered = d.render(&checked.sources);
        let word = if case.severity == Severity::Error {
            "error"
        } else {
            "warning"
        };
        let header = format!(":{line}:{col}: {word}: ");
        if !rendered.lines().next().is_some_and(|l| l.contains(&header)) {
            failures.push(format!(
                "{}: first rendered line lacks {header:?}:\n{rendered}",
                case.file
            ));
        }
        if checked.exit_code() != case.exit {
            failures.push(format!(
                "{}: exit {} expected {}:\n{}",
                case.file,
                checked.exit_code(),
                case.exit,
                checked.render()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn every_conf_file_in_fixtures_bad_has_a_case() {
    let mut missing = Vec::new();
    for entry in std::fs::read_dir(bad_dir()).expect("fixtures/bad exists") {
        let name = entry
            .expect("readable dir entry")
            .file_name()
            .to_string_lossy()
            .into_owned();
        if name.ends_with(".conf") && !CASES.iter().any(|c| c.file == name) {
            missing.push(name);
        }
    }
    assert!(CASES.len() >= 25);
    assert!(missing.is_empty(), "fixtures without a case: {missing:?}");
}

#[test]
fn the_include_cycle_diagnostic_points_into_the_included_file() {
    let checked = check_file(&bad_dir().join("include-cycle.conf"));
    let d = checked
        .errors
        .iter()
        .find(|d| d.message.contains("include cycle"))
        .expect("cycle reported");
    let (file, line, _) = d.location(&checked.sources).expect("located");
    assert!(file.ends_with("include-cycle-b.inc"), "{file}");
    assert_eq!(line, 1);
}

#[test]
fn errors_are_all_reported_not_just_the_first() {
    let text = "vrrp_instance A {\n interface eth0\n virtual_router_id 0\n priority 300\n priorty 1\n virtual_ipaddress {\n 1.2.3.400\n }\n}\n";
    let checked = drift_config::parse_str("many.conf", text);
    assert_eq!(checked.errors.len(), 4, "{}", checked.render());
    assert_eq!(checked.exit_code(), 3);
}
