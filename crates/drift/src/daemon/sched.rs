//! Scheduling of the VRRP thread: real-time (SCHED_RR) by default, keepalived's `vrrp_priority`
//! (nice), and the RLIMIT_RTTIME safety net.
//!
//! Under CPU load a normal-priority thread wakes milliseconds late, which at 10 ms adverts is a
//! late advert on the master and a late (or wrongly judged) timer on the backup. So the thread
//! asks for SCHED_RR: `vrrp_rt_priority` when configured, else [`DEFAULT_RT_PRIORITY`] (drift's
//! default; keepalived stays at normal priority unless configured). `vrrp_rt_priority 0` keeps
//! it at normal priority. Without CAP_SYS_NICE (or RLIMIT_RTPRIO) the request fails and the
//! thread simply runs at normal priority.
//!
//! RLIMIT_RTTIME bounds the CPU time a real-time thread may use without blocking. keepalived
//! sets soft = hard = `vrrp_rlimit_rttime` (10 ms by default), so a VRRP process that stays busy
//! for that long (e.g. a stream of packets that keeps epoll from ever sleeping) is SIGKILLed by
//! the kernel, which is a full failover. drift sets only the *soft* limit (the kernel then sends
//! SIGXCPU, never SIGKILL, unless someone else set a hard limit) and answers SIGXCPU by putting
//! the thread back at normal priority; the loop logs it and asks for real time again after
//! [`DEMOTION`]. A runaway real-time thread is thus stopped from hogging a CPU, and a busy but
//! healthy one is not killed.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::time::{Duration, Instant};

use tracing::{info, warn};

/// SCHED_RR priority when `vrrp_rt_priority` is not configured: above every normal task, below
/// every other real-time task (threaded interrupt handlers run at 50).
pub const DEFAULT_RT_PRIORITY: i32 = 1;
/// Soft RLIMIT_RTTIME when `vrrp_rlimit_rttime` is not configured (RealtimeKit's ceiling):
/// the VRRP loop blocks in epoll every few milliseconds at most, even at 10 ms adverts.
pub const DEFAULT_RTTIME: Duration = Duration::from_millis(200);
/// How long the thread stays at normal priority after a SIGXCPU.
pub const DEMOTION: Duration = Duration::from_secs(10);

/// The VRRP thread's kernel thread id, for the SIGXCPU handler (0: none).
static RT_TID: AtomicI32 = AtomicI32::new(0);
/// Set by the SIGXCPU handler; read and cleared by the VRRP loop.
static DEMOTED: AtomicBool = AtomicBool::new(false);

thread_local! {
    /// (priority to restore, when it was lost), on the VRRP thread only.
    static RESTORE: Cell<Option<(i32, Option<Instant>)>> = const { Cell::new(None) };
}

/// What to apply, from `global_defs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// SCHED_RR priority; None keeps normal scheduling.
    pub rt_priority: Option<i32>,
    /// Soft RLIMIT_RTTIME.
    pub rttime: Duration,
    pub nice: Option<i32>,
}

impl Policy {
    /// `vrrp_rt_priority` (0: off), `vrrp_rlimit_rttime` in microseconds, `vrrp_priority`.
    pub fn from_config(rt: Option<i32>, rttime_us: Option<u64>, nice: Option<i32>) -> Policy {
        Policy {
            rt_priority: match rt {
                None => Some(DEFAULT_RT_PRIORITY),
                Some(p) if p <= 0 => None,
                Some(p) => Some(p.min(99)),
            },
            rttime: rttime_us
                .filter(|us| *us > 0)
                .map_or(DEFAULT_RTTIME, Duration::from_micros),
            nice,
        }
    }
}

/// The soft limit to set given the current hard one: below a finite hard limit (which would be
/// a SIGKILL) with a tick to spare, so that SIGXCPU always comes first.
pub fn soft_limit(wanted_us: u64, hard: libc::rlim_t) -> libc::rlim_t {
    if hard == libc::RLIM_INFINITY {
        return wanted_us;
    }
    wanted_us.min(hard - hard / 10)
}

/// Apply `p` to the calling thread (the VRRP thread). Failures are logged, not fatal: the daemon
/// still works, with less timing margin.
pub fn apply(p: Policy) {
    if let Some(prio) = p.rt_priority {
        set_rttime(p.rttime);
        install_sigxcpu_handler();
        // SAFETY: gettid has no arguments and no memory effects.
        let tid = unsafe { libc::gettid() };
        RT_TID.store(tid, Ordering::SeqCst);
        if set_rr(prio) {
            info!(
                "VRRP thread: SCHED_RR priority {prio}, RLIMIT_RTTIME soft {} ms",
                p.rttime.as_millis()
            );
            RESTORE.with(|r| r.set(Some((prio, None))));
        } else {
            info!(
                "VRRP thread: real-time priority {prio} refused ({}; SCHED_RR needs \
                 CAP_SYS_NICE or RLIMIT_RTPRIO >= {prio}): normal priority",
                std::io::Error::last_os_error()
            );
        }
    }
    if let Some(n) = p.nice {
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

/// Called by the VRRP loop every turn (an atomic load): logs a SIGXCPU demotion and restores
/// real-time priority once [`DEMOTION`] has passed.
pub fn check(now: Instant) {
    let demoted = DEMOTED.swap(false, Ordering::Relaxed);
    RESTORE.with(|r| {
        let Some((prio, since)) = r.get() else {
            return;
        };
        if demoted {
            warn!(
                "VRRP thread used its real-time CPU limit without blocking (SIGXCPU): normal \
                 priority for {} s",
                DEMOTION.as_secs()
            );
            r.set(Some((prio, Some(now))));
        } else if since.is_some_and(|t| now.duration_since(t) >= DEMOTION) {
            if set_rr(prio) {
                info!("VRRP thread: SCHED_RR priority {prio} again");
            }
            r.set(Some((prio, None)));
        }
    });
}

fn set_rr(prio: i32) -> bool {
    let param = libc::sched_param {
        sched_priority: prio.clamp(1, 99),
    };
    // SAFETY: `param` is a valid, initialised sched_param that outlives the call; pid 0 names
    // the calling thread; the call has no other memory effects.
    unsafe { libc::sched_setscheduler(0, libc::SCHED_RR, &param) == 0 }
}

fn set_rttime(soft: Duration) {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid rlimit the kernel writes into.
    if unsafe { libc::getrlimit(libc::RLIMIT_RTTIME, &mut lim) } != 0 {
        return;
    }
    let wanted = u64::try_from(soft.as_micros()).unwrap_or(u64::MAX);
    lim.rlim_cur = soft_limit(wanted, lim.rlim_max);
    // SAFETY: `lim` is a valid rlimit that outlives the call.
    if unsafe { libc::setrlimit(libc::RLIMIT_RTTIME, &lim) } != 0 {
        warn!(
            "RLIMIT_RTTIME: setrlimit failed: {}",
            std::io::Error::last_os_error()
        );
    }
}

/// SIGXCPU's default action kills the process; ours drops the VRRP thread to SCHED_OTHER.
extern "C" fn on_sigxcpu(_: libc::c_int) {
    let tid = RT_TID.load(Ordering::SeqCst);
    if tid > 0 {
        let param = libc::sched_param { sched_priority: 0 };
        // SAFETY: sched_setscheduler is a plain system call (async-signal-safe in practice: no
        // locks, no allocation); errno is saved and restored around it.
        unsafe {
            let errno = *libc::__errno_location();
            libc::sched_setscheduler(tid, libc::SCHED_OTHER, &param);
            *libc::__errno_location() = errno;
        }
    }
    DEMOTED.store(true, Ordering::Relaxed);
}

fn install_sigxcpu_handler() {
    // SAFETY: sigaction is plain old data; all-zero is valid and the used fields are set. The
    // handler only touches atomics and makes one system call.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_sigxcpu as extern "C" fn(libc::c_int) as *const () as usize;
        sa.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut sa.sa_mask);
        if libc::sigaction(libc::SIGXCPU, &sa, std::ptr::null_mut()) != 0 {
            warn!("cannot handle SIGXCPU: {}", std::io::Error::last_os_error());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_time_is_the_default_and_zero_turns_it_off() {
        assert_eq!(
            Policy::from_config(None, None, None).rt_priority,
            Some(DEFAULT_RT_PRIORITY)
        );
        assert_eq!(Policy::from_config(Some(0), None, None).rt_priority, None);
        assert_eq!(
            Policy::from_config(Some(40), None, None).rt_priority,
            Some(40)
        );
    }

    #[test]
    fn the_rttime_limit_comes_from_microseconds_or_the_default() {
        assert_eq!(
            Policy::from_config(None, Some(10_000), None).rttime,
            Duration::from_millis(10)
        );
        assert_eq!(Policy::from_config(None, None, None).rttime, DEFAULT_RTTIME);
        assert_eq!(
            Policy::from_config(None, Some(0), None).rttime,
            DEFAULT_RTTIME
        );
    }

    #[test]
    fn the_soft_limit_stays_below_a_finite_hard_limit_so_sigxcpu_comes_before_sigkill() {
        assert_eq!(soft_limit(200_000, libc::RLIM_INFINITY), 200_000);
        assert_eq!(soft_limit(200_000, 1_000_000), 200_000);
        assert_eq!(soft_limit(200_000, 100_000), 90_000);
        assert_eq!(soft_limit(200_000, 0), 0);
    }
}
