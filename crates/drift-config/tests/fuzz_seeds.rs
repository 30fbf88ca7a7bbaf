//! Replays every committed fuzz seed and regression (`fuzz/seeds/parse_str/*`: the article's
//! configs, the bad fixtures, keepalived's samples, and anything the fuzzer once found) through
//! the fuzz target's own body (`fuzz/entry.rs`), so a fixed finding stays fixed in `cargo test`.

#[path = "../fuzz/entry.rs"]
mod entry;

#[test]
fn every_parse_str_seed_and_regression_passes_the_fuzz_target() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/parse_str");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = e.unwrap().path();
        println!("{}", path.display());
        entry::parse_str(&std::fs::read(&path).unwrap());
        n += 1;
    }
    assert!(n >= 40, "only {n} seeds in {}", dir.display());
}
