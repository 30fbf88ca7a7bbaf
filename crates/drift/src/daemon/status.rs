//! The daemon's published state, for `drift status`, the dump signals, metrics and the admin page.
//!
//! The VRRP thread must never wait on a reader (a slow `drift status` client or a Prometheus
//! scrape must not delay an advert), so it only *writes* here: after each step it copies a few
//! numbers into a [`Hub`] behind a mutex that readers hold just long enough to clone the
//! [`Snapshot`]. All I/O (socket, files, HTTP) happens on the ops thread ([`super::ops`]).

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use drift_vrrp::Drops;

pub use super::publish::{after_step, publish_all};
pub use super::transition::Cause;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

/// Transitions kept for the page's timeline (all instances together, oldest first).
pub const TIMELINE_LEN: usize = 64;

/// Where the daemon is in its life (systemd's READY/RELOADING/STOPPING follow it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    Starting,
    Running,
    Reloading,
    Stopping,
}

/// Phase plus the number of finished reloads (so `drift reload` can wait for *its* reload).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lifecycle {
    pub phase: Phase,
    pub reloads: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub pid: u32,
    pub version: String,
    pub config: String,
    pub started_unix_ms: u64,
    pub phase: Option<Phase>,
    pub reloads: u64,
    /// Outcome of the last reload: "ok: N instance(s)" or the refusal reason.
    pub last_reload: Option<String>,
    pub instances: Vec<InstanceStatus>,
    /// The last transitions of every instance, oldest first.
    pub timeline: Vec<TimelineEntry>,
    /// Filled when read, from the load balancer when one runs in this process.
    #[serde(default)]
    pub upstreams: Vec<UpstreamStatus>,
    /// Filled when read: received packets no instance could be charged with.
    #[serde(default)]
    pub unmatched: super::drops::UnmatchedCounts,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstanceStatus {
    /// The slot it describes (per-packet updates match on this, not on the name).
    #[serde(skip)]
    pub slot: u64,
    /// Source and priority of the last advert handed to the state machine, to explain a
    /// takeover that the timer triggers after a priority-0 advert.
    #[serde(skip)]
    pub last_advert: Option<(IpAddr, u8)>,
    pub name: String,
    pub interface: String,
    pub vrid: u8,
    /// keepalived's words: MASTER, BACKUP, FAULT, INIT.
    pub state: String,
    pub base_priority: u8,
    pub effective_priority: u8,
    pub vips: Vec<String>,
    /// Current master as far as this node knows (itself when master).
    pub master: Option<IpAddr>,
    pub master_priority: Option<u8>,
    pub sync_group: Option<String>,
    pub transitions: u64,
    pub last_transition: Option<Transition>,
    pub trackers: Vec<TrackerStatus>,
    pub counters: Counters,
    /// Dropped packets by reason (every reason listed, zeros included).
    pub drops: DropCounts,
}

/// drift-vrrp's drop counters, as a JSON object `{"ttl": 0, ...}` (copied per packet, so kept
/// as the plain struct rather than a map).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DropCounts(pub Drops);

impl DropCounts {
    /// `(reason, count)` in a fixed order.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, u64)> {
        drop_reasons(&self.0).into_iter()
    }

    pub fn get(&self, reason: &str) -> u64 {
        self.iter()
            .find(|(r, _)| *r == reason)
            .map_or(0, |(_, n)| n)
    }
}

impl Serialize for DropCounts {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.iter())
    }
}

impl<'de> Deserialize<'de> for DropCounts {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let m = std::collections::BTreeMap::<String, u64>::deserialize(d)?;
        let g = |k: &str| m.get(k).copied().unwrap_or(0);
        Ok(DropCounts(Drops {
            ttl: g("ttl"),
            version: g("version"),
            checksum: g("checksum"),
            vrid: g("vrid"),
            auth_type: g("auth_type"),
            auth_fail: g("auth_fail"),
            interval: g("interval"),
            addr_list: g("addr_list"),
            length: g("length"),
            packet_type: g("packet_type"),
            own: g("own"),
            unicast_src: g("unicast_src"),
            not_running: g("not_running"),
            other: g("other"),
        }))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transition {
    pub from: String,
    pub to: String,
    pub at_unix_ms: u64,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimelineEntry {
    pub instance: String,
    #[serde(flatten)]
    pub transition: Transition,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackerStatus {
    pub name: String,
    /// `interface`, `script`, `process`, `upstream` (drift's `track_upstream`) or `file`.
    pub kind: String,
    /// A file tracker is "down" when keepalived would fault on it (weight 0, value not 0).
    pub up: bool,
    pub weight: i32,
    /// `track_file`: the number read from the file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<i64>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    pub adverts_rx: u64,
    pub adverts_tx: u64,
    pub became_master: u64,
    pub released_master: u64,
    pub priority_zero_rx: u64,
    pub priority_zero_tx: u64,
    pub lower_prio_ignored: u64,
    pub dropped: u64,
}

/// One load-balancer server as the admin page and metrics show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpstreamStatus {
    pub upstream: String,
    pub server: String,
    pub healthy: bool,
    pub requests: u64,
    pub errors: u64,
}

/// Shared between the VRRP thread (writer) and the ops thread (readers).
#[derive(Debug)]
pub struct Hub {
    snap: Mutex<Snapshot>,
    epoch: Instant,
    /// Milliseconds since `epoch` at the VRRP loop's last turn: the watchdog pings only while
    /// the loop itself is alive, not merely the ops thread.
    heartbeat_ms: AtomicU64,
    life: watch::Sender<Lifecycle>,
    /// STATS_CLEAR baselines (readers subtract them; the VRRP thread never looks).
    baselines: Mutex<Vec<super::stats_clear::Baseline>>,
    /// Packets no instance could be charged with (see `drops::Unmatched`).
    pub unmatched: super::drops::Unmatched,
}

impl Hub {
    pub fn new(config: &std::path::Path) -> Hub {
        let snap = Snapshot {
            pid: std::process::id(),
            version: env!("CARGO_PKG_VERSION").into(),
            config: config.display().to_string(),
            started_unix_ms: unix_ms(),
            phase: Some(Phase::Starting),
            ..Snapshot::default()
        };
        let (life, _) = watch::channel(Lifecycle {
            phase: Phase::Starting,
            reloads: 0,
        });
        Hub {
            snap: Mutex::new(snap),
            epoch: Instant::now(),
            heartbeat_ms: AtomicU64::new(0),
            life,
            baselines: Mutex::new(Vec::new()),
            unmatched: Default::default(),
        }
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, Snapshot> {
        // A panic while holding the lock left plain data behind: still worth showing.
        self.snap.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The lock, or None while a reader holds it.
    pub(super) fn try_lock(&self) -> Option<MutexGuard<'_, Snapshot>> {
        match self.snap.try_lock() {
            Ok(g) => Some(g),
            Err(std::sync::TryLockError::Poisoned(e)) => Some(e.into_inner()),
            Err(std::sync::TryLockError::WouldBlock) => None,
        }
    }

    /// A copy for a reader.
    pub fn snapshot(&self) -> Snapshot {
        let mut s = self.lock().clone();
        let b = self.baselines.lock().unwrap_or_else(|e| e.into_inner());
        super::stats_clear::apply(&mut s.instances, &b);
        s.unmatched = self.unmatched.get();
        s
    }

    /// STATS_CLEAR: counters restart from zero for every reader.
    pub fn clear_stats(&self) {
        let now: Vec<_> = self
            .lock()
            .instances
            .iter()
            .map(super::stats_clear::Baseline::of)
            .collect();
        *self.baselines.lock().unwrap_or_else(|e| e.into_inner()) = now;
    }

    pub fn lifecycle(&self) -> watch::Receiver<Lifecycle> {
        self.life.subscribe()
    }

    pub fn set_phase(&self, phase: Phase) {
        self.lock().phase = Some(phase);
        self.life.send_modify(|l| l.phase = phase);
    }

    /// A reload finished (applied or refused): back to Running.
    pub fn reload_finished(&self, outcome: String) {
        {
            let mut s = self.lock();
            s.reloads += 1;
            s.last_reload = Some(outcome);
            s.phase = Some(Phase::Running);
        }
        self.life.send_modify(|l| {
            l.reloads += 1;
            l.phase = Phase::Running;
        });
    }

    #[cfg(test)]
    pub fn replace_instances_for_test(&self, instances: Vec<InstanceStatus>) {
        self.lock().instances = instances;
    }

    /// Called at every turn of the VRRP loop.
    pub fn beat(&self) {
        let ms = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.heartbeat_ms.store(ms, Ordering::Relaxed);
    }

    /// How long ago the VRRP loop last turned.
    pub fn heartbeat_age(&self) -> std::time::Duration {
        let now = self.epoch.elapsed();
        let beat = std::time::Duration::from_millis(self.heartbeat_ms.load(Ordering::Relaxed));
        now.saturating_sub(beat)
    }
}

pub fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Every drop reason with its count, in a fixed order (metrics label values, JSON keys).
pub fn drop_reasons(d: &Drops) -> [(&'static str, u64); 14] {
    [
        ("ttl", d.ttl),
        ("version", d.version),
        ("checksum", d.checksum),
        ("vrid", d.vrid),
        ("auth_type", d.auth_type),
        ("auth_fail", d.auth_fail),
        ("interval", d.interval),
        ("addr_list", d.addr_list),
        ("length", d.length),
        ("packet_type", d.packet_type),
        ("own", d.own),
        ("unicast_src", d.unicast_src),
        ("not_running", d.not_running),
        ("other", d.other),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drop_counts_round_trip_through_json_as_an_object() {
        let d = DropCounts(Drops {
            checksum: 3,
            other: 1,
            ..Drops::default()
        });
        let text = serde_json::to_string(&d).unwrap();
        assert!(text.starts_with("{\"ttl\":0,"), "{text}");
        assert_eq!(serde_json::from_str::<DropCounts>(&text).unwrap(), d);
    }

    #[test]
    fn drop_reasons_list_every_counter_once() {
        let d = Drops {
            ttl: 1,
            other: 14,
            ..Drops::default()
        };
        let all = drop_reasons(&d);
        let mut names: Vec<_> = all.iter().map(|(n, _)| *n).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), 14);
        assert_eq!(all.iter().map(|(_, v)| v).sum::<u64>(), 15);
    }

    #[test]
    fn a_finished_reload_is_counted_and_returns_to_running() {
        let hub = Hub::new(std::path::Path::new("/x.conf"));
        let rx = hub.lifecycle();
        hub.set_phase(Phase::Reloading);
        assert_eq!(rx.borrow().phase, Phase::Reloading);
        hub.reload_finished("ok".into());
        assert_eq!(
            *rx.borrow(),
            Lifecycle {
                phase: Phase::Running,
                reloads: 1
            }
        );
        let s = hub.snapshot();
        assert_eq!(
            (s.reloads, s.last_reload.as_deref(), s.phase),
            (1, Some("ok"), Some(Phase::Running))
        );
    }

    #[test]
    fn the_heartbeat_age_grows_until_the_next_beat() {
        let hub = Hub::new(std::path::Path::new("/x.conf"));
        hub.beat();
        std::thread::sleep(std::time::Duration::from_millis(300));
        assert!(hub.heartbeat_age() >= std::time::Duration::from_millis(250));
        hub.beat();
        assert!(hub.heartbeat_age() < std::time::Duration::from_millis(250));
    }
}
