//! Per-server counters, lock-free so the request path never waits on metrics.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// Upper bounds (seconds) of the latency histogram's buckets (Prometheus' defaults from 1 ms).
pub const LATENCY_BOUNDS_S: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

#[derive(Debug, Default)]
pub struct ServerMetrics {
    requests: AtomicU64,
    errors: AtomicU64,
    active: AtomicU64,
    latency_us_sum: AtomicU64,
    latency_us_max: AtomicU64,
    /// Requests that went out in a pipelined batch (`pipeline N`) and were answered in it.
    pipelined: AtomicU64,
    /// Requests per latency bucket (not cumulative); slower ones are `requests` minus the sum.
    latency_buckets: [AtomicU64; 12],
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
    pub pipelined: u64,
    /// Requests whose latency fell in each [`LATENCY_BOUNDS_S`] bucket (not cumulative).
    pub latency_buckets: [u64; 12],
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
        let secs = latency.as_secs_f64();
        if let Some(i) = LATENCY_BOUNDS_S.iter().position(|b| secs <= *b) {
            if let Some(b) = self.latency_buckets.get(i) {
                b.fetch_add(1, Relaxed);
            }
        }
    }

    pub fn pipelined(&self, n: u64) {
        self.pipelined.fetch_add(n, Relaxed);
    }

    pub fn snapshot(&self) -> MetricsSnapshot {
        MetricsSnapshot {
            requests: self.requests.load(Relaxed),
            errors: self.errors.load(Relaxed),
            active: self.active.load(Relaxed),
            latency_us_sum: self.latency_us_sum.load(Relaxed),
            latency_us_max: self.latency_us_max.load(Relaxed),
            pipelined: self.pipelined.load(Relaxed),
            latency_buckets: std::array::from_fn(|i| self.latency_buckets[i].load(Relaxed)),
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

    #[test]
    fn latencies_land_in_the_first_bucket_whose_bound_they_do_not_exceed() {
        let m = ServerMetrics::default();
        m.end(false, Duration::from_micros(500));
        m.end(false, Duration::from_millis(1));
        m.end(false, Duration::from_millis(30));
        m.end(false, Duration::from_secs(9));
        let b = m.snapshot().latency_buckets;
        assert_eq!((b[0], b[5]), (2, 1));
        assert_eq!(
            b.iter().sum::<u64>(),
            3,
            "the 9 s request is above every bound"
        );
    }
}
