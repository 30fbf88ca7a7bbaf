//! Network-namespace labs for drift's integration tests.
//!
//! Every test that touches the kernel's networking runs in namespaces it created itself, so that
//! tests can run in parallel and never send a packet from the host's real interfaces. The guards here
//! ([`Netns`], [`Lab`], [`ChildGuard`]) tear everything down on `Drop`, also while a test panics, and
//! stop processes only by the pid they started (never by name).
//!
//! Entering a namespace from Rust: `setns(2)` switches only the calling *thread*, and a socket
//! belongs to the namespace of the thread that created it. [`Netns::run_in`] therefore runs a
//! closure on a fresh thread that entered the namespace; create sockets (or a current_thread
//! tokio runtime) inside it. Sockets it returns keep working from any thread afterwards.
//! External programs go through `ip netns exec` ([`Netns::exec`], [`Netns::spawn`]).
//!
//! Typical use:
//! ```no_run
//! use drift_testkit::{skip_unless_root, Lab};
//! #[test]
//! fn two_hosts_see_each_other() {
//!     skip_unless_root!();
//!     let lab = Lab::builder().hosts(2).build().unwrap();
//!     let out = lab.host(0).exec(&["ping", "-c1", "-W2", &lab.host(1).ipv4().to_string()]);
//!     assert!(out.status.success());
//! }
//! ```

mod child;
mod keepalived;
mod lab;
mod names;
mod netns;
mod query;

pub use child::ChildGuard;
pub use lab::{Host, Lab, LabBuilder};
pub use lab::{BRIDGE_IF, CLIENT_OCTET, HOST_IF};
pub use names::{cleanup_stale_namespaces, unique_base, NAME_PREFIX};
pub use netns::Netns;
pub use nix::sys::signal::Signal;
pub use query::{wait_until, AddrInfo, LinkInfo};

use std::path::Path;

/// True when the effective uid is 0; namespaces, veths and raw sockets all need it.
pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Returns false (after printing why) when not root, so a test can `return` early.
///
/// Prefer the [`skip_unless_root!`] macro, which also names the test.
pub fn require_root() -> bool {
    if is_root() {
        return true;
    }
    print_skip(&format!(
        "SKIP {}: needs root (network namespaces)",
        current_test_name()
    ));
    false
}

/// Whether an external tool (e.g. `keepalived`) is on `PATH`.
///
/// A missing tool is a skip with a printed reason on a developer machine, but under CI
/// (`CI=true`) it panics: CI must install it, and a silent skip there would hide a broken setup.
pub fn require_tool(tool: &str) -> bool {
    if find_in_path(tool).is_some() {
        return true;
    }
    if std::env::var("CI").map(|v| v == "true").unwrap_or(false) {
        panic!("{tool} not found on PATH but CI=true: CI must install it");
    }
    print_skip(&format!(
        "SKIP {}: needs `{tool}` on PATH",
        current_test_name()
    ));
    false
}

/// Write straight to file descriptor 2, bypassing libtest's output capture (which swallows
/// the `print!`/`eprint!` output of passing tests), so skips stay visible in CI logs.
pub fn print_skip(line: &str) {
    use std::os::fd::AsFd;
    let text = format!("{line}\n");
    let _ = nix::unistd::write(std::io::stderr().as_fd(), text.as_bytes());
}

/// Full path of an executable found on `PATH`.
pub fn find_in_path(tool: &str) -> Option<std::path::PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    if tool.contains('/') {
        return Path::new(tool).exists().then(|| tool.into());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(tool))
        .find(|p| {
            p.metadata()
                .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
                .unwrap_or(false)
        })
}

/// libtest names each test's thread after the test, which makes skip messages greppable.
pub fn current_test_name() -> String {
    std::thread::current()
        .name()
        .unwrap_or("<unnamed test>")
        .to_string()
}

/// Print `SKIP <test>: needs root (network namespaces)` and `return` from the test when not root.
#[macro_export]
macro_rules! skip_unless_root {
    () => {
        if !$crate::require_root() {
            return;
        }
    };
}

/// Print a skip reason and `return` when `tool` is missing (panics under `CI=true`).
#[macro_export]
macro_rules! skip_unless_tool {
    ($tool:expr) => {
        if !$crate::require_tool($tool) {
            return;
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn find_in_path_finds_sh_and_not_nonsense() {
        assert!(find_in_path("sh").is_some());
        assert!(find_in_path("definitely-not-a-drift-tool-xyz").is_none());
    }

    #[test]
    fn current_test_name_is_the_libtest_thread_name() {
        assert!(current_test_name().contains("current_test_name_is_the_libtest_thread_name"));
    }
}
