use super::*;
use crate::config::template::Template;
use std::collections::HashMap;

fn spec(name: &str, weight: u32) -> ServerSpec {
    ServerSpec {
        name: name.into(),
        addr: "127.0.0.1:1".parse().unwrap_or_else(|_| unreachable!()),
        weight,
        max_fails: 1,
        fail_timeout: Duration::from_secs(10),
        backup: false,
        down: false,
        max_conns: 0,
    }
}

fn peers(specs: &[ServerSpec], b: Balance) -> Peers {
    Peers::new(specs, &b, 42)
}

const NOKEY: Key<'static> = Key {
    client_ip: None,
    hash: b"",
};

/// One complete request: select then release successfully.
fn pick(p: &mut Peers, now: Instant) -> Option<String> {
    let mut at = Attempt::default();
    let i = p.select(now, &NOKEY, &mut at)?;
    p.release(i, now, false);
    Some(p.peers[i].name.clone())
}

fn counts(p: &mut Peers, now: Instant, n: usize) -> HashMap<String, usize> {
    let mut m = HashMap::new();
    for _ in 0..n {
        if let Some(s) = pick(p, now) {
            *m.entry(s).or_default() += 1;
        }
    }
    m
}

#[test]
fn smooth_wrr_interleaves_like_nginx() {
    let mut p = peers(
        &[spec("a", 5), spec("b", 1), spec("c", 1)],
        Balance::RoundRobin,
    );
    let now = Instant::now();
    let seq: Vec<String> = (0..7).filter_map(|_| pick(&mut p, now)).collect();
    assert_eq!(seq, ["a", "a", "b", "a", "c", "a", "a"]);
}

#[test]
fn wrr_distribution_is_exactly_proportional_per_cycle() {
    let mut p = peers(
        &[spec("a", 3), spec("b", 2), spec("c", 1)],
        Balance::RoundRobin,
    );
    let c = counts(&mut p, Instant::now(), 6000);
    assert_eq!((c["a"], c["b"], c["c"]), (3000, 2000, 1000));
}

#[test]
fn down_servers_are_never_picked() {
    let mut s = vec![spec("a", 1), spec("b", 1)];
    s[1].down = true;
    let mut p = peers(&s, Balance::RoundRobin);
    let c = counts(&mut p, Instant::now(), 10);
    assert_eq!(c.get("b"), None);
}

#[test]
fn backup_is_used_only_when_every_primary_is_unavailable() {
    let mut s = vec![spec("a", 1), spec("b", 1), spec("bk", 1)];
    s[2].backup = true;
    let mut p = peers(&s, Balance::RoundRobin);
    let now = Instant::now();
    assert_eq!(counts(&mut p, now, 10).get("bk"), None);
    p.peers[0].healthy = false;
    assert_eq!(counts(&mut p, now, 10).get("bk"), None, "one primary left");
    p.peers[1].down = true;
    assert_eq!(counts(&mut p, now, 10).get("bk"), Some(&10));
}

#[test]
fn max_fails_failures_eject_until_fail_timeout_then_a_success_readmits() {
    let mut s = vec![spec("a", 1), spec("b", 1)];
    s[0].max_fails = 2;
    let mut p = peers(&s, Balance::RoundRobin);
    let t0 = Instant::now();
    p.conns_for_test(0);
    p.release(0, t0, true);
    assert!(
        !p.peers[0].failed_recently(t0),
        "one failure of two allowed"
    );
    p.conns_for_test(0);
    p.release(0, t0, true);
    assert!(p.peers[0].failed_recently(t0));
    assert_eq!(
        counts(&mut p, t0 + Duration::from_secs(5), 10).get("a"),
        None
    );
    // After fail_timeout one request probes it; success clears the failures.
    let later = t0 + Duration::from_secs(11);
    let c = counts(&mut p, later, 10);
    assert_eq!(c.get("a"), Some(&5));
    assert_eq!(p.peers[0].fails, 0);
}

#[test]
fn a_failed_probe_after_fail_timeout_ejects_again() {
    let mut p = peers(&[spec("a", 1), spec("b", 1)], Balance::RoundRobin);
    let t0 = Instant::now();
    p.conns_for_test(0);
    p.release(0, t0, true);
    let t1 = t0 + Duration::from_secs(11);
    let mut at = Attempt::default();
    let mut i = p.select(t1, &NOKEY, &mut at);
    if i == Some(1) {
        p.release(1, t1, false);
        at = Attempt::default();
        i = p.select(t1, &NOKEY, &mut at);
    }
    assert_eq!(i, Some(0));
    p.release(0, t1, true);
    assert!(p.peers[0].failed_recently(t1 + Duration::from_secs(1)));
}

#[test]
fn max_fails_zero_never_ejects() {
    let mut s = vec![spec("a", 1), spec("b", 1)];
    s[0].max_fails = 0;
    let mut p = peers(&s, Balance::RoundRobin);
    let now = Instant::now();
    for _ in 0..5 {
        p.conns_for_test(0);
        p.release(0, now, true);
    }
    assert!(!p.peers[0].failed_recently(now));
    assert!(counts(&mut p, now, 10).contains_key("a"));
}

#[test]
fn a_lone_server_ignores_passive_failures_like_nginx_single() {
    let mut p = peers(&[spec("a", 1)], Balance::RoundRobin);
    let now = Instant::now();
    p.conns_for_test(0);
    p.release(0, now, true);
    assert_eq!(pick(&mut p, now).as_deref(), Some("a"));
}

#[test]
fn max_conns_caps_concurrent_requests() {
    let mut s = vec![spec("a", 1), spec("b", 1)];
    s[0].max_conns = 1;
    s[1].max_conns = 1;
    let mut p = peers(&s, Balance::RoundRobin);
    let now = Instant::now();
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut at = Attempt::default();
        held.push(p.select(now, &NOKEY, &mut at));
    }
    assert!(held.iter().all(Option::is_some));
    assert_eq!(
        p.select(now, &NOKEY, &mut Attempt::default()),
        None,
        "both full: 502"
    );
    p.release(0, now, false);
    assert_eq!(p.select(now, &NOKEY, &mut Attempt::default()), Some(0));
}

#[test]
fn an_attempt_never_tries_a_server_twice() {
    let mut p = peers(
        &[spec("a", 1), spec("b", 1), spec("c", 1)],
        Balance::RoundRobin,
    );
    let now = Instant::now();
    let mut at = Attempt::default();
    let mut got = Vec::new();
    while let Some(i) = p.select(now, &NOKEY, &mut at) {
        p.release(i, now, true);
        got.push(i);
    }
    got.sort();
    assert_eq!(got, vec![0, 1, 2]);
}

#[test]
fn failures_lower_effective_weight_which_recovers_per_pick() {
    let mut s = vec![spec("a", 10), spec("b", 10)];
    s[0].max_fails = 5;
    let mut p = peers(&s, Balance::RoundRobin);
    let now = Instant::now();
    p.conns_for_test(0);
    p.release(0, now, true);
    assert_eq!(p.peers[0].effective_weight, 8);
    pick(&mut p, now);
    assert_eq!(p.peers[0].effective_weight, 9);
}

#[test]
fn least_conn_prefers_fewest_connections_relative_to_weight() {
    let mut p = peers(&[spec("a", 1), spec("b", 2)], Balance::LeastConn);
    let now = Instant::now();
    p.peers[0].conns = 1;
    p.peers[1].conns = 1;
    // a: 1/1, b: 1/2 -> b.
    let mut at = Attempt::default();
    assert_eq!(p.select(now, &NOKEY, &mut at), Some(1));
}

#[test]
fn least_conn_breaks_ties_by_weighted_round_robin() {
    let mut p = peers(&[spec("a", 2), spec("b", 1)], Balance::LeastConn);
    let c = counts(&mut p, Instant::now(), 300);
    assert_eq!((c["a"], c["b"]), (200, 100));
}

#[test]
fn least_conn_spreads_held_connections_evenly() {
    let mut p = peers(
        &[spec("a", 1), spec("b", 1), spec("c", 1)],
        Balance::LeastConn,
    );
    let now = Instant::now();
    for _ in 0..9 {
        p.select(now, &NOKEY, &mut Attempt::default());
    }
    assert!(p.peers.iter().all(|x| x.conns == 3));
}

#[test]
fn ip_hash_matches_nginx_arithmetic() {
    // 192.168.1.x: h = 89 -> 3978 -> 4441 -> 154; 154 % 3 = 1.
    let mut p = peers(&[spec("a", 1), spec("b", 1), spec("c", 1)], Balance::IpHash);
    let key = Key {
        client_ip: Some("192.168.1.10".parse().unwrap_or_else(|_| unreachable!())),
        hash: b"",
    };
    assert_eq!(
        p.select(Instant::now(), &key, &mut Attempt::default()),
        Some(1)
    );
}

#[test]
fn ip_hash_keeps_a_slash_24_together() {
    let mut p = peers(
        &[spec("a", 1), spec("b", 1), spec("c", 1), spec("d", 1)],
        Balance::IpHash,
    );
    let now = Instant::now();
    let mut seen = std::collections::HashSet::new();
    for last in 0..=255u8 {
        let ip = std::net::IpAddr::from([10, 1, 2, last]);
        let i = p.select(
            now,
            &Key {
                client_ip: Some(ip),
                hash: b"",
            },
            &mut Attempt::default(),
        );
        seen.insert(i);
    }
    assert_eq!(seen.len(), 1);
}

#[test]
fn ip_hash_rehashes_away_from_an_unavailable_server() {
    let mut p = peers(&[spec("a", 1), spec("b", 1), spec("c", 1)], Balance::IpHash);
    p.peers[1].down = true;
    let key = Key {
        client_ip: Some("192.168.1.10".parse().unwrap_or_else(|_| unreachable!())),
        hash: b"",
    };
    let i = p.select(Instant::now(), &key, &mut Attempt::default());
    assert!(matches!(i, Some(0) | Some(2)));
}

#[test]
fn plain_hash_is_stable_per_key_and_spreads_keys() {
    let mut p = peers(
        &[spec("a", 1), spec("b", 1), spec("c", 1)],
        Balance::Hash {
            key: Template::default(),
            consistent: false,
        },
    );
    let now = Instant::now();
    let mut hits = [0usize; 3];
    for k in 0..3000 {
        let key = format!("/k{k}");
        let k1 = Key {
            client_ip: None,
            hash: key.as_bytes(),
        };
        let a = p.select(now, &k1, &mut Attempt::default());
        let b = p.select(now, &k1, &mut Attempt::default());
        assert_eq!(a, b);
        if let Some(i) = a {
            hits[i] += 1;
            p.peers[i].conns = 0;
        }
    }
    assert!(hits.iter().all(|&h| h > 800), "{hits:?}");
}

#[test]
fn plain_hash_first_pick_matches_memcached_formula() {
    let mut p = peers(
        &[spec("a", 1), spec("b", 1), spec("c", 1)],
        Balance::Hash {
            key: Template::default(),
            consistent: false,
        },
    );
    let h = u64::from((crc32fast::hash(b"hello") >> 16) & 0x7fff);
    let key = Key {
        client_ip: None,
        hash: b"hello",
    };
    assert_eq!(
        p.select(Instant::now(), &key, &mut Attempt::default()),
        Some((h % 3) as usize)
    );
}

fn chash_map(names: &[&str], keys: usize) -> Vec<String> {
    let specs: Vec<ServerSpec> = names.iter().map(|n| spec(n, 1)).collect();
    let mut p = peers(
        &specs,
        Balance::Hash {
            key: Template::default(),
            consistent: true,
        },
    );
    let now = Instant::now();
    (0..keys)
        .map(|k| {
            let key = format!("user-{k}");
            let i = p.select(
                now,
                &Key {
                    client_ip: None,
                    hash: key.as_bytes(),
                },
                &mut Attempt::default(),
            );
            i.map(|i| {
                p.release(i, now, false);
                p.peers[i].name.clone()
            })
            .unwrap_or_default()
        })
        .collect()
}

#[test]
fn consistent_hash_moves_about_one_in_n_plus_one_keys_when_a_server_is_added() {
    let before = chash_map(
        &["10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80", "10.0.0.4:80"],
        10_000,
    );
    let after = chash_map(
        &[
            "10.0.0.1:80",
            "10.0.0.2:80",
            "10.0.0.3:80",
            "10.0.0.4:80",
            "10.0.0.5:80",
        ],
        10_000,
    );
    let moved = before.iter().zip(&after).filter(|(a, b)| a != b).count();
    // Ideal 1/5 = 2000; every moved key must have gone to the new server.
    assert!((1400..2600).contains(&moved), "moved {moved}");
    assert!(before
        .iter()
        .zip(&after)
        .all(|(a, b)| a == b || b == "10.0.0.5:80"));
}

#[test]
fn consistent_hash_skips_an_unavailable_server_to_the_next_point() {
    let specs = [spec("10.0.0.1:80", 1), spec("10.0.0.2:80", 1)];
    let mut p = peers(
        &specs,
        Balance::Hash {
            key: Template::default(),
            consistent: true,
        },
    );
    p.peers[0].down = true;
    let now = Instant::now();
    for k in 0..100 {
        let key = format!("k{k}");
        assert_eq!(
            p.select(
                now,
                &Key {
                    client_ip: None,
                    hash: key.as_bytes()
                },
                &mut Attempt::default()
            ),
            Some(1)
        );
        p.peers[1].conns = 0;
    }
}

#[test]
fn random_two_spreads_and_prefers_the_less_loaded() {
    let mut p = peers(&[spec("a", 1), spec("b", 1)], Balance::Random { two: true });
    let now = Instant::now();
    p.peers[0].conns = 5;
    for _ in 0..50 {
        let i = p.select(now, &NOKEY, &mut Attempt::default());
        assert_eq!(i, Some(1));
        p.peers[1].conns = 0;
    }
}

#[test]
fn random_follows_weights_roughly() {
    let mut p = peers(
        &[spec("a", 3), spec("b", 1)],
        Balance::Random { two: false },
    );
    let c = counts(&mut p, Instant::now(), 10_000);
    let a = c["a"] as f64 / 10_000.0;
    assert!((0.70..0.80).contains(&a), "{a}");
}

#[test]
fn every_method_returns_none_when_all_are_down() {
    let methods = [
        Balance::RoundRobin,
        Balance::LeastConn,
        Balance::IpHash,
        Balance::Hash {
            key: Template::default(),
            consistent: false,
        },
        Balance::Hash {
            key: Template::default(),
            consistent: true,
        },
        Balance::Random { two: false },
        Balance::Random { two: true },
    ];
    for m in methods {
        let mut s = vec![spec("a:1", 1), spec("b:1", 1)];
        s[0].down = true;
        s[1].down = true;
        let mut p = peers(&s, m.clone());
        let key = Key {
            client_ip: Some("1.2.3.4".parse().unwrap_or_else(|_| unreachable!())),
            hash: b"x",
        };
        assert_eq!(
            p.select(Instant::now(), &key, &mut Attempt::default()),
            None,
            "{m:?}"
        );
        assert!(!p.any_available(Instant::now()));
    }
}

impl Peers {
    /// Simulates a selected request on `i` without going through a method.
    fn conns_for_test(&mut self, i: usize) {
        self.peers[i].conns += 1;
    }
}
