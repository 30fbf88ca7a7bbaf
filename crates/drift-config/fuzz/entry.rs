//! The fuzz target's body, shared with the normal test suite: `fuzz_targets/parse_str.rs`
//! calls it under libFuzzer and `tests/fuzz_seeds.rs` replays every committed seed and
//! regression (`fuzz/seeds/parse_str/*`) through it, so a fixed finding stays fixed.

/// Any text must parse without panicking, and rendering its diagnostics must not panic; if it
/// yields a model, printing and re-reading that model must give the same model (the canonical
/// form is a fixed point).
pub fn parse_str(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let checked = drift_config::parse_str("fuzz.conf", text);
    let _ = checked.render();
    if let Some(model) = checked.model {
        let printed = drift_config::print_conf(&model);
        let again = drift_config::parse_str("printed.conf", &printed);
        assert_eq!(
            again.model.as_ref(),
            Some(&model),
            "round trip changed the model:\n{printed}\n{}",
            again.render()
        );
    }
}
