//! `drift signal NAME`: the signal numbers, like `keepalived --signum=NAME`, so that
//! `kill -s $(drift signal DATA) $(pidof drift)` works as it does with keepalived. The numbers
//! are the running system's (SIGRTMIN varies with the C library), and drift handles each one
//! with keepalived's meaning.

/// keepalived's names, with what drift does on each.
pub const NAMES: [(&str, &str); 6] = [
    ("STOP", "SIGTERM: stop (priority-0 adverts, VIPs removed)"),
    (
        "RELOAD",
        "SIGHUP: re-read the configuration, apply the difference",
    ),
    ("DATA", "SIGUSR1: write <dump-dir>/drift.data"),
    ("STATS", "SIGUSR2: write <dump-dir>/drift.stats"),
    ("JSON", "SIGRTMIN+2: write <dump-dir>/drift.json"),
    ("STATS_CLEAR", "SIGRTMAX-1: counters restart from zero"),
];

/// The number for a keepalived signal name (any case), None for names drift does not handle.
pub fn signum(name: &str) -> Option<i32> {
    Some(match name.to_ascii_uppercase().as_str() {
        "STOP" => libc::SIGTERM,
        "RELOAD" => libc::SIGHUP,
        "DATA" => libc::SIGUSR1,
        "STATS" => libc::SIGUSR2,
        "JSON" => super::ops::json_signal(),
        "STATS_CLEAR" => super::ops::stats_clear_signal(),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_numbers_match_keepalived_signum_on_linux_glibc() {
        // `keepalived --signum=X` on Debian 12 (keepalived 2.2.7) prints these.
        assert_eq!(signum("STOP"), Some(15));
        assert_eq!(signum("RELOAD"), Some(1));
        assert_eq!(signum("DATA"), Some(10));
        assert_eq!(signum("stats"), Some(12));
        assert_eq!(signum("JSON"), Some(36));
        assert_eq!(signum("STATS_CLEAR"), Some(63));
    }

    #[test]
    fn names_drift_does_not_handle_have_no_number() {
        assert_eq!(signum("TDATA"), None);
        assert_eq!(signum("bogus"), None);
    }

    #[test]
    fn every_documented_name_has_a_number() {
        assert!(NAMES.iter().all(|(n, _)| signum(n).is_some()));
    }
}
