//! Shared by the namespace tests: run async code on a thread inside a test namespace.

use std::future::Future;

use drift_testkit::Netns;

/// Enter `ns` on a fresh thread (setns is per-thread), build a current_thread runtime there, and
/// run `f` to completion. Every socket `f` creates (netlink, raw, packet) lives in `ns`.
pub fn block_on_in<F, Fut, R>(ns: &Netns, f: F) -> R
where
    F: FnOnce() -> Fut + Send,
    Fut: Future<Output = R>,
    R: Send,
{
    ns.run_in(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime")
            .block_on(f())
    })
}
