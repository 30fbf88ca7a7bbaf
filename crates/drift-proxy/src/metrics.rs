//! Per-server counters, lock-free so the request path never waits on metrics.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

#[derive(Debug, Default)]
pub struct ServerMetrics {
    requests: AtomicU64,
    errors: AtomicU64,
    active: AtomicU64,
    latency_us_sum: AtomicU64,
    latency_us_max: AtomicU64,
}

/// A point-in-time copy of [`ServerMetrics`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MetricsSnapshot {
    pub requests: u64,
    pub errors: u64,
    pub active: u64,
    /// Sum of time from pick to end of the upstream exchange; divide by `requests` for a mean.
    pub latency_us_sum: u64,
    pub latency_us_max: u64,
}

impl ServerMetrics {
    pub fn begin(&self) {
        self.active.fetch_add(1, Relaxed);
    }

    pub fn end(&self, failed: bool, latency: Duration) {
        self.requests.fetch_add(1, Relaxed);
        self.active.fetch_sub(1, Relaxed);
        if failed {
            self.errors.fetch_add(1, Relaxed);
        }
        let us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.latency_us_sum.fetch_add(us, Relaxed);
        self.latency_us_max.fetch_max(us, Relaxed);
    }

    pub fn snapshot(&self) -> MetricsSnapshot {
        MetricsSnapshot {
            requests: self.requests.load(Relaxed),
            errors: self.errors.load(Relaxed),
            active: self.active.load(Relaxed),
            latency_us_sum: self.latency_us_sum.load(Relaxed),
            latency_us_max: self.latency_us_max.load(Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_track_requests_errors_and_latency() {
        let m = ServerMetrics::default();
        m.begin();
        m.begin();
        m.end(false, Duration::from_micros(10));
        m.end(true, Duration::from_micros(30));
        let s = m.snapshot();
        assert_eq!(
            (
                s.requests,
                s.errors,
                s.active,
                s.latency_us_sum,
                s.latency_us_max
            ),
            (2, 1, 0, 40, 30)
        );
    }
}
