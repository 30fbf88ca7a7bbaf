//! Timer arithmetic and the per-kind deadline set (quinn-proto `connection/timer.rs` style:
//! one `Option<Instant>` per kind; the next deadline is the smallest).

use std::time::{Duration, Instant};

use crate::wire::Version;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TimerKind {
    /// Master: send the next advert.
    Advert = 0,
    /// Backup: the master is presumed dead.
    MasterDown = 1,
    /// Master: the delayed second batch of gratuitous ARP/NA.
    GarpDelay = 2,
    /// Master: periodic gratuitous ARP/NA (`garp_master_refresh`).
    GarpRefresh = 3,
}

impl TimerKind {
    /// Firing order when several are due at once: adverts first (they keep peers quiet).
    pub(crate) const ALL: [TimerKind; 4] = [
        TimerKind::Advert,
        TimerKind::MasterDown,
        TimerKind::GarpDelay,
        TimerKind::GarpRefresh,
    ];
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Timers([Option<Instant>; 4]);

impl Timers {
    pub(crate) fn set(&mut self, k: TimerKind, at: Instant) {
        self.0[k as usize] = Some(at);
    }
    pub(crate) fn stop_all(&mut self) {
        self.0 = [None; 4];
    }
    /// When `k` fires next, if armed.
    pub(crate) fn deadline(&self, k: TimerKind) -> Option<Instant> {
        self.0[k as usize]
    }
    /// Returns true (and disarms it) if `k` was due at `now`.
    pub(crate) fn take_due(&mut self, k: TimerKind, now: Instant) -> bool {
        match self.0[k as usize] {
            Some(at) if at <= now => {
                self.0[k as usize] = None;
                true
            }
            _ => false,
        }
    }
    pub(crate) fn next(&self) -> Option<Instant> {
        self.0.iter().flatten().min().copied()
    }
}

/// A Master_Down timer handled later than this after its deadline means the caller did not run
/// for a while (a stall of the daemon, or of the whole machine). Timer wake-ups are normally
/// late by well under a millisecond (tokio's timer rounds up to the next millisecond).
pub const LATE_TOLERANCE: Duration = Duration::from_millis(2);

/// Extra wait granted once when the Master_Down timer is handled late (not in the RFC; see
/// issue 9). Kernel receive timestamps cover a stall of the daemon alone, but when the whole
/// machine stalls the link itself was not watched, and on a VM both peers stall together: the
/// silence on the wire is then ours, not the master's. One advert interval plus skew after
/// resuming is enough for a live master's next advert to arrive, and keeps the backups'
/// priority order. `None` when the timer was on time (a real master death is unaffected).
pub fn stall_grace(
    due_at: Instant,
    now: Instant,
    master_adver_int: Duration,
    skew: Duration,
) -> Option<Duration> {
    (now.saturating_duration_since(due_at) > LATE_TOLERANCE).then_some(master_adver_int + skew)
}

/// Skew makes the highest-priority backup take over first, so backups do not all claim the VIP
/// together. RFC 3768 §6.1: `(256 - Priority) / 256` seconds, whatever the interval. RFC 5798
/// §6.1: `((256 - Priority) * Master_Adver_Interval) / 256`, scaled by the *master's* advertised
/// interval. Computed in microseconds like keepalived; the captures agree (prio 99: 613.28 ms
/// for v2, 61.33 ms at 10 cs for v3).
pub fn skew(version: Version, priority: u8, master_adver_int: Duration) -> Duration {
    let weight = 256 - u64::from(priority);
    let base_us = match version {
        Version::V2 => 1_000_000,
        Version::V3 => master_adver_int.as_micros() as u64,
    };
    Duration::from_micros(weight * base_us / 256)
}

/// RFC 5798 §6.1 Master_Down_Interval = 3 × Master_Adver_Interval + Skew_Time, with keepalived's
/// `down_timer_adverts` replacing the 3.
pub fn master_down_interval(
    version: Version,
    priority: u8,
    master_adver_int: Duration,
    down_timer_adverts: u32,
) -> Duration {
    master_adver_int * down_timer_adverts + skew(version, priority, master_adver_int)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v2_skew_for_priority_99_is_the_613_ms_seen_in_the_capture() {
        assert_eq!(
            skew(Version::V2, 99, Duration::from_secs(1)),
            Duration::from_micros(613_281)
        );
    }

    #[test]
    fn v2_skew_ignores_the_advert_interval() {
        assert_eq!(
            skew(Version::V2, 128, Duration::from_secs(3)),
            Duration::from_millis(500)
        );
    }

    #[test]
    fn v3_skew_scales_with_the_masters_interval() {
        assert_eq!(
            skew(Version::V3, 99, Duration::from_millis(100)),
            Duration::from_micros(61_328)
        );
        assert_eq!(
            skew(Version::V3, 128, Duration::from_secs(2)),
            Duration::from_secs(1)
        );
    }

    #[test]
    fn master_down_is_three_intervals_plus_skew_by_default() {
        let d = master_down_interval(Version::V2, 128, Duration::from_secs(1), 3);
        assert_eq!(d, Duration::from_millis(3500));
    }

    #[test]
    fn the_owner_has_the_smallest_skew() {
        assert_eq!(
            skew(Version::V3, 255, Duration::from_millis(256)),
            Duration::from_millis(1)
        );
    }

    #[test]
    fn an_on_time_master_down_gets_no_grace_and_a_late_one_gets_an_interval_plus_skew() {
        let t0 = Instant::now();
        let (iv, sk) = (Duration::from_millis(10), Duration::from_micros(6_133));
        assert_eq!(stall_grace(t0, t0, iv, sk), None);
        assert_eq!(stall_grace(t0, t0 + LATE_TOLERANCE, iv, sk), None);
        assert_eq!(
            stall_grace(t0, t0 + Duration::from_millis(40), iv, sk),
            Some(iv + sk)
        );
        // A `now` before the deadline (early wake-up) is not late.
        assert_eq!(stall_grace(t0 + iv, t0, iv, sk), None);
    }

    #[test]
    fn next_deadline_is_the_earliest_armed_timer_and_take_due_disarms() {
        let t0 = Instant::now();
        let mut t = Timers::default();
        assert_eq!(t.next(), None);
        t.set(TimerKind::GarpRefresh, t0 + Duration::from_secs(5));
        t.set(TimerKind::Advert, t0 + Duration::from_secs(1));
        assert_eq!(t.next(), Some(t0 + Duration::from_secs(1)));
        assert!(!t.take_due(TimerKind::Advert, t0));
        assert!(t.take_due(TimerKind::Advert, t0 + Duration::from_secs(1)));
        assert_eq!(t.next(), Some(t0 + Duration::from_secs(5)));
    }
}
