//! Replays every committed fuzz seed and regression (`fuzz/seeds/<target>/*`) through the fuzz
//! targets' own bodies (`fuzz/entry.rs`): the nginx grammar, drift's request-head handling,
//! raw bytes through a client connection served as the proxy serves it, and upstream response
//! heads and chunked bodies as the fast path reads them. A fixed finding stays fixed
//! in plain `cargo test`; CI does not run the fuzzers themselves (see `.ci/fuzz`).

#[path = "../fuzz/entry.rs"]
mod entry;

use std::path::Path;

fn replay(target: &str, run: fn(&[u8])) -> usize {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/seeds")
        .join(target);
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    paths.sort();
    for p in &paths {
        println!("{}", p.display());
        run(&std::fs::read(p).unwrap());
    }
    paths.len()
}

#[test]
fn every_nginx_config_seed_passes_the_fuzz_target() {
    assert!(replay("nginx_config", entry::nginx_config) >= 5);
}

#[test]
fn every_http_head_seed_passes_the_fuzz_target() {
    assert!(replay("http_head", entry::http_head) >= 6);
}

#[test]
fn every_http_conn_seed_passes_the_fuzz_target() {
    assert!(replay("http_conn", entry::http_conn) >= 6);
}

#[test]
fn the_fuzz_front_config_is_accepted_so_the_http_targets_reach_drifts_code() {
    entry::nginx_config(entry::CONF.as_bytes());
    let cfg = drift_proxy::config::check_str("front", entry::CONF);
    assert!(cfg.is_ok(), "{cfg:?}");
}

#[test]
fn every_http_response_seed_passes_the_fuzz_target() {
    assert!(replay("http_response", entry::http_response) >= 4);
}
