//! Who holds a VIP, sampled every 2 ms inside each host's namespace.
//!
//! `ip addr` costs a fork and exec per host and sample (tens of ms on a loaded machine), too
//! coarse for 100 ms adverts; `getifaddrs(3)` from a thread that entered the namespace is one
//! netlink dump. Every change is kept with its time, so a test can ask afterwards how long two
//! hosts held the VIP at once, or when the holder set settled.

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use drift_testkit::Lab;

const PERIOD: Duration = Duration::from_millis(2);

/// One observed change: `host` started (`holds`) or stopped holding the VIP at `at`.
#[derive(Debug, Clone, Copy)]
pub struct Change {
    pub at: Instant,
    pub host: usize,
    pub holds: bool,
}

/// A stretch of time with one holder set.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    pub from: Instant,
    pub to: Instant,
    pub holders: Vec<usize>,
}

pub struct VipWatch {
    stop: Arc<AtomicBool>,
    changes: Arc<Mutex<Vec<Change>>>,
    handles: Vec<JoinHandle<()>>,
    hosts: usize,
}

fn holds(vip: IpAddr) -> Option<bool> {
    let addrs = nix::ifaddrs::getifaddrs().ok()?;
    Some(addrs.into_iter().any(|a| {
        a.address.as_ref().is_some_and(|s| {
            s.as_sockaddr_in()
                .map(|v4| IpAddr::V4(v4.ip()) == vip)
                .or_else(|| s.as_sockaddr_in6().map(|v6| IpAddr::V6(v6.ip()) == vip))
                .unwrap_or(false)
        })
    }))
}

impl VipWatch {
    /// Starts one sampling thread per lab host; returns once each has taken its first sample.
    pub fn start(lab: &Lab, vip: IpAddr) -> VipWatch {
        let stop = Arc::new(AtomicBool::new(false));
        let changes = Arc::new(Mutex::new(Vec::new()));
        let mut handles = Vec::new();
        for (host, h) in lab.hosts().iter().enumerate() {
            let (stop, changes) = (stop.clone(), changes.clone());
            handles.push(h.spawn_thread(move || {
                let mut last = None;
                while !stop.load(Ordering::Relaxed) {
                    if let Some(now) = holds(vip) {
                        if last != Some(now) {
                            let at = Instant::now();
                            if let Ok(mut c) = changes.lock() {
                                c.push(Change {
                                    at,
                                    host,
                                    holds: now,
                                });
                            }
                            last = Some(now);
                        }
                    }
                    std::thread::sleep(PERIOD);
                }
            }));
        }
        let w = VipWatch {
            stop,
            changes,
            handles,
            hosts: lab.hosts().len(),
        };
        let all = drift_testkit::wait_until(Duration::from_secs(5), PERIOD, || {
            let c = w.changes();
            (0..w.hosts).all(|h| c.iter().any(|x| x.host == h))
        });
        assert!(all.is_some(), "the VIP watch never sampled every host");
        w
    }

    /// Every change so far, in time order.
    pub fn changes(&self) -> Vec<Change> {
        let mut c = self.changes.lock().map(|c| c.clone()).unwrap_or_default();
        c.sort_by_key(|x| x.at);
        c
    }

    /// The hosts holding the VIP at the latest samples.
    pub fn holders(&self) -> Vec<usize> {
        let mut now = vec![false; self.hosts];
        for c in self.changes() {
            now[c.host] = c.holds;
        }
        (0..self.hosts).filter(|&h| now[h]).collect()
    }

    /// Waits until the holder set is `want`; returns when that state began (the last change).
    pub fn wait_for(&self, want: &[usize], timeout: Duration) -> Option<Instant> {
        drift_testkit::wait_until(timeout, PERIOD, || self.holders() == want)?;
        Some(
            self.changes()
                .last()
                .map(|c| c.at)
                .unwrap_or_else(Instant::now),
        )
    }

    /// The holder sets between `from` and `to`, one segment per stretch without a change.
    pub fn segments(&self, from: Instant, to: Instant) -> Vec<Segment> {
        let mut now = vec![false; self.hosts];
        let mut out: Vec<Segment> = Vec::new();
        let mut start = from;
        let set = |now: &[bool]| (0..now.len()).filter(|&h| now[h]).collect::<Vec<_>>();
        for c in self.changes() {
            if c.at > to {
                break;
            }
            if c.at > start {
                out.push(Segment {
                    from: start,
                    to: c.at,
                    holders: set(&now),
                });
                start = c.at;
            }
            now[c.host] = c.holds;
        }
        if to > start {
            out.push(Segment {
                from: start,
                to,
                holders: set(&now),
            });
        }
        // Merge neighbours with the same set (a change on one host may not change the set).
        let mut merged: Vec<Segment> = Vec::new();
        for s in out {
            match merged.last_mut() {
                Some(m) if m.holders == s.holders => m.to = s.to,
                _ => merged.push(s),
            }
        }
        merged
    }

    /// How long after `from` the set became `want` for good (until `to`); None if it was not
    /// `want` at `to`. Zero when it already was at `from`.
    pub fn settled(&self, from: Instant, to: Instant, want: &[usize]) -> Option<Duration> {
        let segs = self.segments(from, to);
        let last = segs.last()?;
        (last.holders == want).then(|| last.from.saturating_duration_since(from))
    }

    /// The longest stretch in `from..to` with two or more holders (clipped to the window).
    pub fn longest_multi(&self, from: Instant, to: Instant) -> Duration {
        let mut best = Duration::ZERO;
        let mut run: Option<Instant> = None;
        for s in self.segments(from, to) {
            if s.holders.len() >= 2 {
                let begin = *run.get_or_insert(s.from);
                best = best.max(s.to - begin);
            } else {
                run = None;
            }
        }
        best
    }

    /// Whether the set was exactly `want` throughout `from..to`.
    pub fn always(&self, from: Instant, to: Instant, want: &[usize]) -> bool {
        self.segments(from, to).iter().all(|s| s.holders == want)
    }
}

impl Drop for VipWatch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for h in self.handles.drain(..) {
            let _ = h.join();
        }
    }
}
