//! drift's own keywords (extensions keepalived does not have). Each is opt-in: a plain
//! keepalived config reads exactly as before and its dump does not mention them.

use drift_config::{parse_str, print_conf};

fn instance(extra: &str) -> String {
    format!(
        "vrrp_instance VI_1 {{\n state BACKUP\n interface eth0\n virtual_router_id 51\n priority 99\n{extra} virtual_ipaddress {{\n 10.0.0.100\n }}\n}}\n"
    )
}

#[test]
fn preempt_immediate_is_read_into_the_model_without_a_diagnostic() {
    let c = parse_str("fast.conf", &instance(" preempt_immediate\n"));
    assert!(
        c.errors.is_empty() && c.warnings.is_empty(),
        "{}",
        c.render()
    );
    let m = c.model.unwrap();
    assert!(m.instances[0].preempt_immediate);
    assert!(print_conf(&m).contains("preempt_immediate"));
}

#[test]
fn a_plain_config_has_it_off_and_dumps_exactly_as_before() {
    let c = parse_str("plain.conf", &instance(""));
    let m = c.model.unwrap();
    assert!(!m.instances[0].preempt_immediate);
    let json = serde_json::to_string(&m).unwrap();
    assert!(!json.contains("preempt_immediate"), "{json}");
    assert!(!print_conf(&m).contains("preempt_immediate"));
}

#[test]
fn preempt_immediate_off_is_accepted_like_other_flags() {
    let c = parse_str("off.conf", &instance(" preempt_immediate off\n"));
    assert!(c.errors.is_empty(), "{}", c.render());
    assert!(!c.model.unwrap().instances[0].preempt_immediate);
}

#[test]
fn preempt_immediate_with_nopreempt_warns_and_is_ignored() {
    let c = parse_str("np.conf", &instance(" nopreempt\n preempt_immediate\n"));
    assert_eq!(c.warnings.len(), 1, "{}", c.render());
    assert!(c.warnings[0].message.contains("no effect with nopreempt"));
    assert!(!c.model.unwrap().instances[0].preempt_immediate);
}
