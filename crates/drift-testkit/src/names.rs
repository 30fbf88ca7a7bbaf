//! Unique namespace names that carry their creator's pid, so leftovers can be found and removed.
//!
//! Layout: `dr` + creator pid in base 36 (5 chars) + seconds clock (2 chars) + per-process counter
//! (2 chars) = 11 chars, leaving 4 for a role suffix (`br`, `h12`, `c`). Linux caps interface names at
//! 15 bytes (IFNAMSIZ - 1); keeping namespace names within that lets them double as interface names.

use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Once;
use std::time::{SystemTime, UNIX_EPOCH};

/// Every namespace the testkit creates starts with this; nothing else is ever deleted.
pub const NAME_PREFIX: &str = "dr";
const PID_DIGITS: usize = 5;
/// Length of [`unique_base`]'s output.
pub const BASE_LEN: usize = 11;

static COUNTER: AtomicU32 = AtomicU32::new(0);
static CLEANUP: Once = Once::new();

fn base36(mut n: u64, width: usize) -> String {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = vec![b'0'; width];
    for slot in out.iter_mut().rev() {
        *slot = DIGITS[(n % 36) as usize];
        n /= 36;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// An 11-char name unique on this machine for the life of the calling process.
///
/// The first call also removes stale namespaces left by dead test processes.
pub fn unique_base() -> String {
    CLEANUP.call_once(|| {
        let removed = cleanup_stale_namespaces();
        if !removed.is_empty() {
            eprintln!("drift-testkit: removed stale namespaces {removed:?}");
        }
    });
    let pid = u64::from(std::process::id());
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let n = u64::from(COUNTER.fetch_add(1, Ordering::Relaxed));
    format!(
        "{NAME_PREFIX}{}{}{}",
        base36(pid, PID_DIGITS),
        base36(secs % (36 * 36), 2),
        base36(n % (36 * 36), 2)
    )
}

/// The creator pid encoded in a testkit namespace name, or None for names we did not make.
pub(crate) fn creator_pid(name: &str) -> Option<u32> {
    let digits = name.strip_prefix(NAME_PREFIX)?.get(..PID_DIGITS)?;
    if name.len() < BASE_LEN || name.len() > 15 {
        return None;
    }
    u32::from_str_radix(digits, 36).ok()
}

fn pid_alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// Delete testkit namespaces whose creator process is gone, killing (by pid) whatever still runs
/// inside them first. Returns the names removed. Namespaces of live processes are left alone, so
/// this is safe while other test binaries run in parallel.
pub fn cleanup_stale_namespaces() -> Vec<String> {
    let Ok(entries) = std::fs::read_dir("/run/netns") else {
        return Vec::new();
    };
    let mut removed = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = creator_pid(&name) else {
            continue;
        };
        if pid_alive(pid) {
            continue;
        }
        crate::netns::kill_all_in(&name);
        let ok = Command::new("ip")
            .args(["netns", "del", &name])
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if ok {
            removed.push(name);
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base36_pads_and_encodes() {
        assert_eq!(base36(0, 3), "000");
        assert_eq!(base36(35, 2), "0z");
        assert_eq!(base36(36, 2), "10");
    }

    #[test]
    fn unique_base_has_fixed_length_and_encodes_our_pid() {
        let a = unique_base();
        let b = unique_base();
        assert_ne!(a, b);
        assert_eq!(a.len(), BASE_LEN);
        assert_eq!(creator_pid(&a), Some(std::process::id()));
        assert_eq!(creator_pid(&format!("{a}h12")), Some(std::process::id()));
    }

    #[test]
    fn creator_pid_ignores_foreign_names() {
        assert_eq!(creator_pid("blue"), None);
        assert_eq!(creator_pid("dr"), None);
        assert_eq!(creator_pid("drxyz"), None);
        assert_eq!(creator_pid("dr00001aaaaaaaaaaaaaa"), None);
    }

    #[test]
    fn largest_linux_pid_fits_in_five_base36_digits() {
        let max_pid: u64 = 4_194_304;
        assert_eq!(base36(max_pid, PID_DIGITS).len(), PID_DIGITS);
        assert!(max_pid < 36u64.pow(PID_DIGITS as u32));
    }
}
