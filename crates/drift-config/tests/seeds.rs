//! The seed article's configs, includes, and default propagation.

use drift_config::{check_file, load, parse_str, Severity};
use drift_model::{Authentication, Family, InitialState, VrrpVersion};
use std::path::PathBuf;
use std::time::Duration;

fn seed(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/seed")
        .join(name)
}

/// keepalived 2.2.7 `-t` on these four (in a private netns with an `eth0`) warns that the
/// tracked script does not exist, and for master/backup that VG1 has a single member; it exits 5,
/// its "runs after adjusting the configuration" code, which is drift's 4.
#[test]
fn seed_configs_check_with_exit_4_for_the_same_reasons_as_keepalived() {
    for (file, expected) in [
        ("master.conf", 2),
        ("backup.conf", 2),
        ("annotated-master.conf", 1),
        ("annotated-backup.conf", 1),
    ] {
        let c = check_file(&seed(file));
        assert!(c.errors.is_empty(), "{file}: {}", c.render());
        // Hosts without an eth0 add an "interface ... doesn't exist" warning, as keepalived -t does.
        let warnings: Vec<_> = c
            .warnings
            .iter()
            .filter(|w| !w.message.contains("on this host"))
            .collect();
        assert_eq!(warnings.len(), expected, "{file}: {}", c.render());
        assert!(c
            .warnings
            .iter()
            .any(|w| w.message.contains("not found or not executable")));
        assert_eq!(c.exit_code(), 4);
    }
}

#[test]
fn master_seed_resolves_to_the_expected_model() {
    let loaded = load(&seed("master.conf")).expect("loads");
    let m = loaded.model;
    assert_eq!(m.global_defs.router_id.as_deref(), Some("LVS_DEVEL"));
    assert_eq!(m.global_defs.notification_email, ["644856452@qq.com"]);
    assert_eq!(m.global_defs.smtp_connect_timeout, Duration::from_secs(30));
    let s = m.script("check_run").expect("script");
    assert_eq!(s.script, "/root/bin/nginx_check.sh");
    assert_eq!(
        (s.interval, s.timeout, s.weight, s.rise, s.fall),
        (Duration::from_secs(5), Duration::from_secs(5), 0, 1, 1)
    );
    let i = m.instance("VI_1").expect("instance");
    assert_eq!(i.state, InitialState::Master);
    assert_eq!(i.interface.as_deref(), Some("eth0"));
    assert_eq!((i.virtual_router_id, i.priority), (51, 100));
    assert_eq!(i.advert_int, Duration::from_secs(1));
    assert_eq!((i.version, i.family), (VrrpVersion::V2, Family::Inet));
    assert_eq!(i.authentication, Some(Authentication::Pass("1111".into())));
    assert_eq!(i.mcast_src_ip, Some("192.168.1.157".parse().expect("ip")));
    assert_eq!(
        i.mcast_dst_ip,
        "224.0.0.18".parse::<std::net::IpAddr>().expect("ip")
    );
    assert_eq!(
        i.virtual_ipaddress[0].addr,
        "192.168.1.110".parse::<std::net::IpAddr>().expect("ip")
    );
    assert_eq!(i.virtual_ipaddress[0].prefix_len, 32);
    assert_eq!(i.track_script[0].name, "check_run");
    assert!(i.preempt);
    assert_eq!(
        (
            i.garp.master_delay,
            i.garp.master_repeat,
            i.garp.master_refresh
        ),
        (Duration::from_secs(5), 5, Duration::ZERO)
    );
    assert_eq!(i.down_timer_adverts, 3);
    assert_eq!(m.sync_groups[0].group, ["VI_1"]);
}

#[test]
fn annotated_seed_reads_glued_braces_and_comments_after_values() {
    let m = load(&seed("annotated-master.conf")).expect("loads").model;
    assert_eq!(m.script("check_run").map(|s| s.weight), Some(2));
    assert_eq!(m.instance("VI_1").map(|i| i.priority), Some(101));
}

#[test]
fn global_defaults_propagate_to_instances_unless_overridden() {
    let text = "global_defs {\n vrrp_garp_master_delay 10\n vrrp_garp_master_repeat 2\n vrrp_version 3\n vrrp_strict\n vrrp_mcast_group4 224.0.0.99\n}\n\
        vrrp_instance A {\n interface eth0\n virtual_router_id 1\n virtual_ipaddress {\n 10.0.0.1\n }\n}\n\
        vrrp_instance B {\n interface eth0\n virtual_router_id 2\n garp_master_delay 1\n version 2\n accept\n virtual_ipaddress {\n 10.0.0.2\n }\n}\n";
    let c = parse_str("p.conf", text);
    let m = c.model.expect("valid");
    let a = m.instance("A").expect("A");
    assert_eq!(
        (a.garp.master_delay, a.garp.master_repeat),
        (Duration::from_secs(10), 2)
    );
    assert_eq!(
        a.garp.lower_prio_delay,
        Duration::from_secs(10),
        "lower_prio_delay follows master_delay"
    );
    assert_eq!(a.version, VrrpVersion::V3);
    assert!(!a.accept, "vrrp_strict implies no_accept");
    assert_eq!(
        a.mcast_dst_ip,
        "224.0.0.99".parse::<std::net::IpAddr>().expect("ip")
    );
    let b = m.instance("B").expect("B");
    assert_eq!(
        (b.garp.master_delay, b.garp.master_repeat),
        (Duration::from_secs(1), 2)
    );
    assert_eq!(b.version, VrrpVersion::V2);
    assert!(b.accept);
}

#[test]
fn master_without_priority_becomes_address_owner_like_keepalived() {
    let c = parse_str("o.conf", "vrrp_instance A {\n state MASTER\n interface eth0\n virtual_router_id 1\n virtual_ipaddress {\n 10.0.0.1\n }\n}\n");
    assert_eq!(
        c.model
            .and_then(|m| m.instances.first().map(|i| i.priority)),
        Some(255)
    );
}

#[test]
fn ipv6_instances_get_v3_and_the_ipv6_group() {
    let c = parse_str("6.conf", "vrrp_instance A {\n interface eth0\n virtual_router_id 1\n advert_int 0.5\n virtual_ipaddress {\n fd00::1/64 dev eth0\n }\n}\n");
    assert!(c.warnings.is_empty(), "{}", c.render());
    let m = c.model.expect("valid");
    let i = &m.instances[0];
    assert_eq!((i.version, i.family), (VrrpVersion::V3, Family::Inet6));
    assert_eq!(i.advert_int, Duration::from_millis(500));
    assert_eq!(
        i.mcast_dst_ip,
        "ff02::12".parse::<std::net::IpAddr>().expect("ip")
    );
}

#[test]
fn vip_lines_parse_the_full_syntax() {
    let text = "vrrp_instance A {\n interface eth0\n virtual_router_id 1\n virtual_ipaddress {\n 10.0.0.1/24 brd 10.0.0.255 dev eth1 scope link label eth1:vip peer 10.0.0.9 no_track home\n }\n}\n";
    let m = parse_str("v.conf", text).model.expect("valid");
    let v = &m.instances[0].virtual_ipaddress[0];
    assert_eq!(v.prefix_len, 24);
    assert_eq!(v.brd, Some("10.0.0.255".parse().expect("ip")));
    assert_eq!(
        (v.dev.as_deref(), v.scope.as_deref(), v.label.as_deref()),
        (Some("eth1"), Some("link"), Some("eth1:vip"))
    );
    assert_eq!(v.peer, Some("10.0.0.9".parse().expect("ip")));
    assert!(v.no_track);
    assert_eq!(v.flags, ["home"]);
}

#[test]
fn unicast_peers_and_tracker_overrides_are_typed() {
    let text = "vrrp_script s {\n script /bin/true\n weight 5\n}\nvrrp_instance A {\n interface eth0\n virtual_router_id 1\n unicast_src_ip 10.0.0.1\n unicast_peer {\n 10.0.0.2 min_ttl 250 max_ttl 255\n 10.0.0.3\n }\n track_script {\n s weight -20 reverse\n }\n track_interface {\n eth1 weight 10\n eth2\n }\n virtual_ipaddress {\n 10.0.0.10\n }\n}\n";
    let m = parse_str("u.conf", text).model.expect("valid");
    let i = &m.instances[0];
    assert_eq!(i.unicast_peer.len(), 2);
    assert_eq!(
        (i.unicast_peer[0].min_ttl, i.unicast_peer[0].max_ttl),
        (Some(250), Some(255))
    );
    assert_eq!(
        (i.track_script[0].weight, i.track_script[0].reverse),
        (Some(-20), true)
    );
    assert_eq!(
        (i.track_interface[0].weight, i.track_interface[1].weight),
        (10, 0)
    );
}

#[test]
fn includes_expand_globs_relative_to_the_including_file_and_point_at_the_included_file() {
    let dir = std::env::temp_dir().join(format!("drift-config-inc-{}", std::process::id()));
    let sub = dir.join("conf.d");
    std::fs::create_dir_all(&sub).expect("mkdir");
    std::fs::write(dir.join("main.conf"), "include conf.d/*.conf\n").expect("write");
    std::fs::write(sub.join("a.conf"), "vrrp_instance A {\n interface eth0\n virtual_router_id 1\n virtual_ipaddress {\n 10.0.0.1\n }\n}\n").expect("write");
    std::fs::write(sub.join("b.conf"), "vrrp_instance B {\n interface eth0\n virtual_router_id 2\n priorty 5\n virtual_ipaddress {\n 10.0.0.2\n }\n}\n").expect("write");
    let c = check_file(&dir.join("main.conf"));
    assert_eq!(c.errors.len(), 1, "{}", c.render());
    let (file, line, col) = c.errors[0].location(&c.sources).expect("located");
    assert!(file.ends_with("conf.d/b.conf"), "{file}");
    assert_eq!((line, col), (4, 2));
    assert!(c
        .render()
        .contains("conf.d/b.conf:4:2: error: unknown keyword `priorty`"));
    std::fs::remove_dir_all(&dir).expect("cleanup");
}

#[test]
fn parse_str_rejects_includes_instead_of_reading_files() {
    let c = parse_str("s.conf", "include /etc/passwd\n");
    assert!(c
        .errors
        .iter()
        .any(|e| e.severity == Severity::Error && e.message.contains("include")));
}

#[test]
fn virtual_server_is_parsed_with_a_not_served_warning() {
    let text = "virtual_server 10.0.0.1 80 {\n lb_algo rr\n real_server 10.0.0.5 80 {\n weight 3\n TCP_CHECK {\n connect_timeout 3\n }\n }\n}\n";
    let c = parse_str("lvs.conf", text);
    assert!(c
        .warnings
        .iter()
        .any(|w| w.message == "virtual_server is parsed but not yet served by drift"));
    let m = c.model.expect("valid");
    let rs = &m.virtual_servers[0].real_servers[0];
    assert_eq!(
        (rs.address.as_str(), rs.port, rs.weight),
        ("10.0.0.5", Some(80), 3)
    );
    assert_eq!(rs.settings[0].key, "TCP_CHECK");
}

#[test]
fn real_keywords_drift_does_not_model_are_kept_not_rejected() {
    let text = "global_defs {\n enable_snmp_vrrp\n process_names\n}\nvrrp_instance A {\n interface eth0\n virtual_router_id 1\n debug 2\n promote_secondaries\n virtual_ipaddress {\n 10.0.0.1\n }\n}\n";
    let c = parse_str("raw.conf", text);
    assert!(c.errors.is_empty(), "{}", c.render());
    let m = c.model.expect("valid");
    assert_eq!(m.global_defs.extra.len(), 2);
    assert_eq!(m.instances[0].extra[0].key, "debug");
}

#[test]
fn conditional_lines_follow_the_config_id_and_are_skipped_without_one() {
    let text = "@high vrrp_script a {\n script /bin/true\n}\n@^high vrrp_script b {\n script /bin/true\n}\n";
    let m = parse_str("c.conf", text).model.expect("valid");
    let names: Vec<&str> = m.vrrp_scripts.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["b"]);
}

#[test]
fn master_with_ah_authentication_is_reset_to_backup_with_a_warning() {
    let text = "vrrp_instance A {\n state MASTER\n interface eth0\n virtual_router_id 1\n authentication {\n auth_type AH\n auth_pass x\n }\n virtual_ipaddress {\n 10.0.0.1\n }\n}\n";
    let c = parse_str("ah.conf", text);
    assert!(c
        .warnings
        .iter()
        .any(|w| w.message.contains("incompatible with AH")));
    assert_eq!(
        c.model.map(|m| m.instances[0].state),
        Some(InitialState::Backup)
    );
}

/// Regression (found by the round-trip proptest): a value starting with `@` was printed bare and
/// then read back as a conditional line and dropped.
#[test]
fn values_starting_with_at_survive_print_and_parse() {
    let mut m = drift_model::Config::default();
    m.global_defs.notification_email = vec!["@ops".into()];
    let printed = drift_config::print_conf(&m);
    let back = parse_str("at.conf", &printed).model.expect("valid");
    assert_eq!(back.global_defs.notification_email, ["@ops"]);
}

/// keepalived.conf(5): `virtual_ipaddress_excluded` "can also be used if you want to be able to
/// add a mixture of IPv4 and IPv6 addresses"; only the advertised VIPs share the family.
#[test]
fn excluded_vips_may_mix_families_but_advertised_ones_may_not() {
    let conf = |excluded: &str| {
        format!(
            "vrrp_instance V {{\n interface eth0\n virtual_router_id 1\n \
             virtual_ipaddress {{\n  fd00::1/128\n }}\n \
             virtual_ipaddress_excluded {{\n  {excluded}\n }}\n}}\n"
        )
    };
    let c = parse_str("mixed.conf", &conf("10.0.0.1/32"));
    assert!(c.errors.is_empty(), "{}", c.render());
    let m = c.model.expect("valid");
    assert_eq!(m.instances[0].family, Family::Inet6);
    assert_eq!(m.instances[0].virtual_ipaddress_excluded.len(), 1);
    let bad = "vrrp_instance V {\n interface eth0\n virtual_router_id 1\n \
               virtual_ipaddress {\n  fd00::1/128\n  10.0.0.1/32\n }\n}\n";
    assert!(!parse_str("bad.conf", bad).errors.is_empty());
}
