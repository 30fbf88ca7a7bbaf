//! The config reader must never panic, whatever bytes it is given, and every failure must come
//! with at least one diagnostic.

use proptest::prelude::*;

/// Random words land where host names go; never let them reach the system resolver.
fn no_dns() {
    drift_proxy::config::ctx::RESOLVE_NAMES.store(false, std::sync::atomic::Ordering::Relaxed);
}

const WORDS: &[&str] = &[
    "http",
    "stream",
    "events",
    "upstream",
    "server",
    "location",
    "listen",
    "proxy_pass",
    "{",
    "}",
    ";",
    "\"",
    "'",
    "#",
    "\n",
    " ",
    "weight=0",
    "weight=x",
    "max_fails=",
    "fail_timeout=1q",
    "backup",
    "down",
    "hash",
    "$remote_addr",
    "${",
    "$",
    "consistent",
    "health_check",
    "interval=",
    "match_status=1-",
    "127.0.0.1:1",
    "http://u/",
    "u",
    "include",
    "=",
    "^~",
    "~",
    "1m30s",
    "large_client_header_buffers",
    "0",
    "99999999999999999999",
    "[::1]:80",
    ":",
];

fn tokens() -> impl Strategy<Value = String> {
    proptest::collection::vec(proptest::sample::select(WORDS), 0..60).prop_map(|v| v.join(" "))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn random_directive_soup_never_panics(text in tokens()) {
        no_dns();
        match drift_proxy::check_str("fuzz.conf", &text) {
            Ok(_) => {}
            Err(d) => {
                prop_assert!(!d.is_empty());
                let _ = drift_proxy::render_all(&d);
            }
        }
    }

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
        no_dns();
        if let Err(d) = drift_proxy::check_str("fuzz.conf", &text) {
            prop_assert!(!d.is_empty());
            let _ = drift_proxy::render_all(&d);
        }
    }
}
