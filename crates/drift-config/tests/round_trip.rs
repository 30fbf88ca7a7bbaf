//! parse_str(print_conf(model)) == model for generated valid models.

use drift_config::{parse_str, print_conf};
use drift_model::*;
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

fn ident() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9_.:-]{0,10}"
}

/// Any printable text, including spaces, quotes, backslashes, `#`, `!`, braces and non-ASCII.
fn text() -> impl Strategy<Value = String> {
    "[ -~\u{e9}\u{4e2d}\t]{0,24}"
}

fn dur() -> impl Strategy<Value = Duration> {
    (0u64..100_000_000).prop_map(Duration::from_micros)
}

fn ip(v6: bool) -> BoxedStrategy<IpAddr> {
    if v6 {
        any::<u128>()
            .prop_map(|x| IpAddr::V6(Ipv6Addr::from(x)))
            .boxed()
    } else {
        any::<u32>()
            .prop_map(|x| IpAddr::V4(Ipv4Addr::from(x)))
            .boxed()
    }
}

fn vip(v6: bool) -> impl Strategy<Value = Vip> {
    let max = if v6 { 128u8 } else { 32 };
    (
        ip(v6),
        0..=max,
        option::of(ip(v6)),
        option::of(ident()),
        option::of(prop::sample::select(vec![
            "global", "site", "link", "host", "nowhere", "200",
        ])),
        option::of(ident()),
        option::of(ip(v6)),
        any::<bool>(),
        option::of(ident()),
        option::of(prop::sample::select(vec!["forever", "30"])),
        prop::sample::subsequence(
            vec!["home", "-nodad", "mngtmpaddr", "noprefixroute", "autojoin"],
            0..3,
        ),
    )
        .prop_map(
            |(
                addr,
                prefix_len,
                brd,
                dev,
                scope,
                label,
                peer,
                no_track,
                track_group,
                lft,
                flags,
            )| Vip {
                addr,
                prefix_len,
                brd,
                dev,
                scope: scope.map(String::from),
                label,
                peer,
                no_track,
                track_group,
                preferred_lft: lft.map(String::from),
                flags: flags.into_iter().map(String::from).collect(),
            },
        )
}

fn words() -> impl Strategy<Value = Vec<String>> {
    vec(ident(), 1..4)
}

fn raw() -> impl Strategy<Value = RawEntry> {
    let leaf = (ident(), vec(text(), 0..3)).prop_map(|(k, a)| RawEntry {
        key: format!("k{k}"),
        args: a,
        block: None,
    });
    leaf.prop_recursive(2, 6, 3, |inner| {
        (ident(), vec(text(), 0..2), option::of(vec(inner, 0..3))).prop_map(|(k, args, block)| {
            RawEntry {
                key: format!("k{k}"),
                args,
                block,
            }
        })
    })
}

fn notify() -> impl Strategy<Value = Notify> {
    (
        option::of(text()),
        option::of(text()),
        option::of(text()),
        option::of(text()),
        option::of(text()),
        any::<bool>(),
    )
        .prop_map(
            |(master, backup, fault, stop, notify, priority_changes)| Notify {
                master,
                backup,
                fault,
                stop,
                deleted: None,
                notify,
                master_rx_lower_pri: None,
                priority_changes,
                users: Vec::new(),
            },
        )
}

fn weight() -> impl Strategy<Value = i32> {
    -253i32..=253
}

fn track_ref(names: Vec<String>) -> BoxedStrategy<Vec<TrackRef>> {
    if names.is_empty() {
        return Just(Vec::new()).boxed();
    }
    vec(
        (
            prop::sample::select(names),
            option::of(weight()),
            any::<bool>(),
        ),
        0..3,
    )
    .prop_map(|v| {
        v.into_iter()
            .map(|(name, weight, reverse)| TrackRef {
                name,
                weight,
                reverse,
            })
            .collect()
    })
    .boxed()
}

fn instance(
    idx: usize,
    scripts: Vec<String>,
    files: Vec<String>,
) -> impl Strategy<Value = VrrpInstance> {
    (any::<bool>(), any::<bool>()).prop_flat_map(move |(v6, master)| {
        let version = if v6 {
            Just(VrrpVersion::V3).boxed()
        } else {
            prop::sample::select(vec![VrrpVersion::V2, VrrpVersion::V3]).boxed()
        };
        let scripts = scripts.clone();
        let files = files.clone();
        (
            (
                ident(),
                1u8..=255,
                version,
                1u64..=4095,
                any::<bool>(),
                (0u64..=1_000_000).prop_map(Duration::from_millis),
            ),
            (
                option::of(prop_oneof![
                    "[!-~]{1,8}".prop_map(Authentication::Pass),
                    "[!-~]{1,8}".prop_map(Authentication::Ah)
                ]),
                option::of(ip(v6)),
                ip(v6),
                option::of(ip(v6)),
                vec(
                    (ip(v6), option::of(any::<u8>()), option::of(any::<u8>())),
                    0..3,
                ),
                any::<u8>(),
            ),
            (
                vec(vip(v6), 1..4),
                vec(vip(v6), 0..2),
                vec(words(), 0..2),
                vec(words(), 0..2),
            ),
            (
                vec(
                    (
                        prop::sample::select(if scripts.is_empty() {
                            vec!["none".to_string()]
                        } else {
                            scripts.clone()
                        }),
                        option::of(weight()),
                        any::<bool>(),
                    ),
                    0..3,
                ),
                vec((ident(), weight(), any::<bool>()), 0..3),
                track_ref(files),
            ),
            (
                notify(),
                any::<bool>(),
                (
                    dur(),
                    0u32..10,
                    dur(),
                    0u32..10,
                    dur(),
                    0u32..10,
                    dur(),
                    dur(),
                ),
            ),
            (
                1u32..=100,
                any::<bool>(),
                option::of(vec(ident(), 0..2)),
                any::<[bool; 8]>(),
                vec(raw(), 0..2),
            ),
        )
            .prop_map(move |(a, b, c, d, e, f)| {
                let (iface, priority, version, adv, preempt, preempt_delay) = a;
                let mut i = VrrpInstance::new(format!("VI_{idx}"), (idx % 255 + 1) as u8);
                i.state = if master {
                    InitialState::Master
                } else {
                    InitialState::Backup
                };
                i.interface = Some(iface);
                i.priority = priority;
                i.version = version;
                i.family = if v6 { Family::Inet6 } else { Family::Inet };
                i.advert_int = match version {
                    VrrpVersion::V2 => Duration::from_secs(adv % 255 + 1),
                    VrrpVersion::V3 => Duration::from_millis(adv * 10),
                };
                i.preempt = preempt || master || priority == 255;
                i.preempt_delay = preempt_delay;
                i.preempt_immediate = i.preempt && priority % 3 == 0;
                (
                    i.authentication,
                    i.mcast_src_ip,
                    i.mcast_dst_ip,
                    i.unicast_src_ip,
                ) = (b.0, b.1, b.2, b.3);
                if master {
                    // keepalived resets MASTER + AH to BACKUP, so valid models never hold it.
                    if let Some(Authentication::Ah(p)) = &i.authentication {
                        i.authentication = Some(Authentication::Pass(p.clone()));
                    }
                }
                i.unicast_peer =
                    b.4.into_iter()
                        .map(|(addr, min_ttl, max_ttl)| UnicastPeer {
                            addr,
                            min_ttl,
                            max_ttl,
                        })
                        .collect();
                i.unicast_ttl = if i.unicast_peer.is_empty() { 255 } else { b.5 };
                (
                    i.virtual_ipaddress,
                    i.virtual_ipaddress_excluded,
                    i.virtual_routes,
                    i.virtual_rules,
                ) = c;
                i.track_script = if scripts.is_empty() {
                    Vec::new()
                } else {
                    d.0.into_iter()
                        .map(|(name, weight, reverse)| TrackScriptRef {
                            name,
                            weight,
                            reverse,
                        })
                        .collect()
                };
                i.track_interface =
                    d.1.into_iter()
                        .map(|(name, weight, reverse)| TrackInterface {
                            name,
                            weight,
                            reverse,
                        })
                        .collect();
                i.track_file = d.2;
                i.notify = e.0;
                i.smtp_alert = e.1;
                let g = e.2;
                i.garp = Garp {
                    master_delay: g.0,
                    master_repeat: g.1,
                    master_refresh: g.2,
                    master_refresh_repeat: g.3,
                    lower_prio_delay: g.4,
                    lower_prio_repeat: g.5,
                    interval: g.6,
                    gna_interval: g.7,
                };
                i.down_timer_adverts = f.0;
                i.dont_track_primary = f.1;
                i.use_vmac = f.2;
                let b8 = f.3;
                (
                    i.vmac_xmit_base,
                    i.accept,
                    i.higher_prio_send_advert,
                    i.lower_prio_no_advert,
                ) = (b8[0], b8[1], b8[2], b8[3]);
                (
                    i.check_unicast_src,
                    i.skip_check_adv_addr,
                    i.strict_mode,
                    i.unicast_fault_no_peer,
                ) = (b8[4], b8[5], b8[6], b8[7]);
                i.extra =
                    f.4.into_iter()
                        .map(|mut r| {
                            r.key = "debug".into();
                            r
                        })
                        .collect();
                i
            })
    })
}

fn global() -> impl Strategy<Value = GlobalDefs> {
    (
        (
            option::of(ident()),
            vec("[a-z0-9@.]{1,12}", 0..3),
            option::of(text()),
            option::of((ident(), 1u16..)),
            1u64..=3600,
            option::of(any::<bool>()),
        ),
        (
            any::<bool>(),
            option::of((ident(), option::of(ident()))),
            option::of(ident()),
            any::<bool>(),
            any::<bool>(),
        ),
        (
            any::<[u8; 3]>(),
            any::<u64>(),
            dur(),
            0u32..9,
            dur(),
            0u32..9,
            option::of(dur()),
            option::of(0u32..9),
        ),
        (
            dur(),
            dur(),
            1u32..=100,
            any::<[bool; 4]>(),
            option::of(1i32..=99),
            option::of(-20i32..=19),
            option::of(dur()),
        ),
    )
        .prop_map(|(a, b, c, d)| GlobalDefs {
            router_id: a.0,
            notification_email: a.1,
            notification_email_from: a.2,
            smtp_server: a.3.map(|(host, port)| SmtpServer { host, port }),
            smtp_helo_name: None,
            smtp_connect_timeout: Duration::from_secs(a.4),
            smtp_alert: a.5,
            enable_script_security: b.0,
            script_user: b.1.map(|(user, group)| ScriptUser { user, group }),
            default_interface: b.2,
            dynamic_interfaces: b.3,
            vrrp_version: if b.4 {
                VrrpVersion::V3
            } else {
                VrrpVersion::V2
            },
            vrrp_mcast_group4: Ipv4Addr::new(224 + c.0[0] % 16, c.0[1], c.0[2], 1),
            vrrp_mcast_group6: Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, c.1 as u16),
            vrrp_garp_master_delay: c.2,
            vrrp_garp_master_repeat: c.3,
            vrrp_garp_master_refresh: c.4,
            vrrp_garp_master_refresh_repeat: c.5,
            vrrp_garp_lower_prio_delay: c.6,
            vrrp_garp_lower_prio_repeat: c.7,
            vrrp_garp_interval: d.0,
            vrrp_gna_interval: d.1,
            vrrp_down_timer_adverts: d.2,
            vrrp_lower_prio_no_advert: d.3[0],
            vrrp_higher_prio_send_advert: d.3[1],
            vrrp_check_unicast_src: false,
            vrrp_skip_check_adv_addr: d.3[2],
            vrrp_strict: d.3[3],
            vrrp_rt_priority: d.4,
            vrrp_priority: d.5,
            vrrp_startup_delay: d.6,
            extra: Vec::new(),
        })
}

fn script(idx: usize) -> impl Strategy<Value = VrrpScript> {
    (
        text(),
        // vrrp_script interval and timeout: 0.05 s at least (drift's sub-second floor).
        (50_000u64..100_000_000).prop_map(Duration::from_micros),
        (50_000u64..100_000_000).prop_map(Duration::from_micros),
        weight(),
        any::<bool>(),
        1u32..1000,
        1u32..1000,
        option::of((ident(), option::of(ident()))),
        any::<bool>(),
    )
        .prop_map(
            move |(cmd, interval, timeout, weight, reverse, rise, fall, user, init_fail)| {
                VrrpScript {
                    name: format!("chk_{idx}"),
                    script: cmd,
                    interval,
                    timeout,
                    weight,
                    reverse,
                    rise,
                    fall,
                    user: user.as_ref().map(|u| u.0.clone()),
                    group: user.and_then(|u| u.1),
                    init_fail,
                }
            },
        )
}

fn config() -> impl Strategy<Value = Config> {
    (0usize..3, 0usize..3, 0usize..5).prop_flat_map(|(ns, nf, ni)| {
        let scripts: Vec<String> = (0..ns).map(|i| format!("chk_{i}")).collect();
        let files: Vec<String> = (0..nf).map(|i| format!("tf_{i}")).collect();
        let insts: Vec<_> = (0..ni)
            .map(|i| instance(i, scripts.clone(), files.clone()))
            .collect();
        let tfs: Vec<_> = (0..nf)
            .map(|i| {
                (
                    text().prop_filter("non-empty", |s| !s.is_empty()),
                    weight(),
                    any::<bool>(),
                    option::of(vec(ident(), 0..2)),
                )
                    .prop_map(move |(file, weight, reverse, init_file)| {
                        TrackFile {
                            name: format!("tf_{i}"),
                            file,
                            weight,
                            reverse,
                            init_file,
                        }
                    })
            })
            .collect();
        (
            global(),
            (0..ns).map(script).collect::<Vec<_>>(),
            tfs,
            insts,
            (
                vec(vip(false), 0..2),
                vec(words(), 0..2),
                vec(words(), 0..2),
            ),
            (any::<bool>(), notify(), vec(raw(), 0..2)),
            vec(
                (
                    words(),
                    vec(raw(), 0..2),
                    vec(
                        (
                            ident(),
                            option::of(any::<u16>()),
                            0i32..100,
                            vec(raw(), 0..2),
                        ),
                        0..2,
                    ),
                ),
                0..2,
            ),
        )
            .prop_map(
                |(global_defs, vrrp_scripts, track_files, instances, statics, sync, lvs)| {
                    let names: Vec<String> = instances.iter().map(|i| i.name.clone()).collect();
                    let sync_groups = if sync.0 && !names.is_empty() {
                        vec![SyncGroup {
                            name: "VG".into(),
                            group: names,
                            notify: sync.1,
                            ..SyncGroup::default()
                        }]
                    } else {
                        Vec::new()
                    };
                    let virtual_servers = lvs
                        .into_iter()
                        .map(|(target, settings, rs)| VirtualServer {
                            target,
                            settings,
                            real_servers: rs
                                .into_iter()
                                .map(|(address, port, weight, settings)| RealServer {
                                    address,
                                    port,
                                    weight,
                                    settings,
                                })
                                .collect(),
                        })
                        .collect();
                    let mut instances = instances;
                    for i in &mut instances {
                        // No per-instance keyword in keepalived 2.2.7: these come from global_defs.
                        i.garp.interval = global_defs.vrrp_garp_interval;
                        i.garp.gna_interval = global_defs.vrrp_gna_interval;
                    }
                    Config {
                        global_defs,
                        vrrp_scripts,
                        track_files,
                        sync_groups,
                        instances,
                        static_ipaddress: statics.0,
                        static_routes: statics.1,
                        static_rules: statics.2,
                        virtual_servers,
                        extra: sync
                            .2
                            .into_iter()
                            .map(|mut r| {
                                r.key = "linkbeat_interfaces".into();
                                r
                            })
                            .collect(),
                        ..Config::default()
                    }
                },
            )
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]
    #[test]
    fn printing_then_parsing_gives_back_the_same_model(model in config()) {
        let printed = print_conf(&model);
        let checked = parse_str("printed.conf", &printed);
        prop_assert!(checked.errors.is_empty(), "errors:\n{}\n{printed}", checked.render());
        prop_assert_eq!(checked.model.as_ref(), Some(&model), "printed:\n{}", printed);
    }
}
