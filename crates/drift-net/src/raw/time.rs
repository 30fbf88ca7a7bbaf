//! Receive times: the kernel's stamp (SO_TIMESTAMPNS, CLOCK_REALTIME) and a monotonic mapping.
//!
//! The kernel stamps a packet when the NIC/stack receives it, which can be well before the VRRP
//! thread gets to `recvmsg` (e.g. under load). Master-down timing (RFC 5798 §6.4.2) should start
//! from when the advert arrived, so we carry that time. Because `Instant` is CLOCK_MONOTONIC and
//! the stamp is CLOCK_REALTIME, both clocks are sampled right after `recvmsg` returns and the
//! stamp is mapped as `read_instant - (read_wall - kernel)`. A wall-clock step between arrival and
//! read would distort that, so the age is clamped to [0, MAX_PLAUSIBLE_AGE]; outside it the read
//! time is used instead.

use std::time::{Duration, Instant, SystemTime};

/// Ages beyond this are taken as a wall-clock step, not a real queueing delay.
pub const MAX_PLAUSIBLE_AGE: Duration = Duration::from_secs(10);

/// When a packet arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RxTime {
    /// Kernel receive stamp (CLOCK_REALTIME), if the kernel supplied one.
    pub kernel: Option<SystemTime>,
    /// Wall clock sampled just after `recvmsg` returned.
    pub read_wall: SystemTime,
    /// Monotonic clock sampled at the same moment as `read_wall`.
    pub read_instant: Instant,
}

impl RxTime {
    pub(crate) fn now(kernel: Option<SystemTime>) -> RxTime {
        RxTime {
            kernel,
            read_wall: SystemTime::now(),
            read_instant: Instant::now(),
        }
    }

    /// How long the packet waited between kernel arrival and our read (zero if unknown/implausible).
    pub fn queue_delay(&self) -> Duration {
        let Some(kernel) = self.kernel else {
            return Duration::ZERO;
        };
        match self.read_wall.duration_since(kernel) {
            Ok(age) if age <= MAX_PLAUSIBLE_AGE => age,
            _ => Duration::ZERO,
        }
    }

    /// The arrival time on the monotonic clock (what the VRRP core's `now` should be).
    pub fn kernel_instant(&self) -> Instant {
        self.read_instant
            .checked_sub(self.queue_delay())
            .unwrap_or(self.read_instant)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_stamp_is_mapped_back_by_its_age() {
        let t = RxTime::now(None);
        let stamped = RxTime {
            kernel: Some(t.read_wall - Duration::from_millis(30)),
            ..t
        };
        assert_eq!(stamped.queue_delay(), Duration::from_millis(30));
        assert_eq!(
            stamped.kernel_instant(),
            t.read_instant - Duration::from_millis(30)
        );
    }

    #[test]
    fn missing_or_future_or_ancient_stamps_fall_back_to_read_time() {
        let t = RxTime::now(None);
        assert_eq!(t.kernel_instant(), t.read_instant);
        let future = RxTime {
            kernel: Some(t.read_wall + Duration::from_secs(1)),
            ..t
        };
        assert_eq!(future.kernel_instant(), t.read_instant);
        let ancient = RxTime {
            kernel: Some(t.read_wall - Duration::from_secs(3600)),
            ..t
        };
        assert_eq!(ancient.kernel_instant(), t.read_instant);
    }
}
