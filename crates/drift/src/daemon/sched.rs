//! keepalived's `vrrp_rt_priority` (SCHED_RR) and `vrrp_priority` (nice) for the VRRP thread:
//! under CPU load they keep adverts and master-down timers on time.

use tracing::{info, warn};

/// Apply to the calling thread (Linux applies both calls to a thread when given id 0).
/// Failures are logged, not fatal: the daemon still works, with less timing margin.
pub fn apply(rt_priority: Option<i32>, nice: Option<i32>) {
    if let Some(p) = rt_priority {
        let param = libc::sched_param {
            sched_priority: p.clamp(1, 99),
        };
        // SAFETY: `param` is a valid, initialised sched_param that outlives the call; pid 0
        // names the calling thread; the call has no other memory effects.
        let rc = unsafe { libc::sched_setscheduler(0, libc::SCHED_RR, &param) };
        if rc == 0 {
            info!("VRRP thread: SCHED_RR priority {}", param.sched_priority);
        } else {
            warn!(
                "vrrp_rt_priority {p}: sched_setscheduler failed: {}",
                std::io::Error::last_os_error()
            );
        }
    }
    if let Some(n) = nice {
        // SAFETY: plain integer arguments; who = 0 is the calling thread on Linux.
        let rc = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, n.clamp(-20, 19)) };
        if rc != 0 {
            warn!(
                "vrrp_priority {n}: setpriority failed: {}",
                std::io::Error::last_os_error()
            );
        }
    }
}
