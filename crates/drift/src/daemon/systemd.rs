//! systemd `Type=notify`: READY=1 once the instances started, RELOADING=1 … READY=1 around a
//! reload, STOPPING=1 at shutdown, and WATCHDOG=1 every half `WatchdogSec` while the VRRP loop
//! keeps turning. Without `NOTIFY_SOCKET` every call is a no-op (sd-notify checks it).

use std::time::Duration;

use sd_notify::NotifyState;
use tracing::{debug, warn};

use super::status::{Lifecycle, Phase};

/// Remembers what was last told, so every phase is sent once.
#[derive(Debug, Default)]
pub struct Notifier {
    told: Option<Phase>,
    reloads: u64,
}

impl Notifier {
    /// Tell systemd about a lifecycle change (`instances` goes into STATUS=). The lifecycle is
    /// a watch channel, which keeps only the latest value: a reload that finished before we
    /// looked shows up as a higher reload count, and is still announced as RELOADING, READY.
    pub fn on_change(&mut self, l: Lifecycle, instances: usize) {
        let missed_reload = l.reloads > self.reloads
            && self.told != Some(Phase::Reloading)
            && l.phase != Phase::Reloading;
        self.reloads = l.reloads;
        if missed_reload {
            self.send(Phase::Reloading, &l, instances);
        }
        if self.told != Some(l.phase) {
            self.send(l.phase, &l, instances);
        }
    }

    fn send(&mut self, phase: Phase, l: &Lifecycle, instances: usize) {
        let status = format!("{instances} VRRP instance(s), {} reload(s)", l.reloads);
        let res = match phase {
            Phase::Starting => return,
            Phase::Running => {
                sd_notify::notify(&[NotifyState::Ready, NotifyState::Status(&status)])
            }
            Phase::Reloading => {
                // MONOTONIC_USEC is required with RELOADING=1 by Type=notify-reload.
                let mut states = vec![NotifyState::Reloading];
                if let Ok(t) = NotifyState::monotonic_usec_now() {
                    states.push(t);
                }
                sd_notify::notify(&states)
            }
            Phase::Stopping => sd_notify::notify(&[NotifyState::Stopping]),
        };
        match res {
            Ok(()) => debug!("sd_notify: {phase:?}"),
            Err(e) => warn!("sd_notify {phase:?}: {e}"),
        }
        self.told = Some(phase);
    }

    pub fn stopping_told(&self) -> bool {
        self.told == Some(Phase::Stopping)
    }
}

/// How often to ping, when systemd asked for a watchdog (half its period, as sd_watchdog_enabled(3)
/// recommends).
pub fn watchdog_interval() -> Option<Duration> {
    sd_notify::watchdog_enabled().map(|d| d / 2)
}

/// Ping only while the VRRP loop is alive: a wedged loop must let systemd restart us. "Alive"
/// means it turned within the whole watchdog timeout (`2 × ping period`); the loop wakes at least
/// once a second, so `WatchdogSec=` should be 2 s or more.
pub fn ping_if_alive(heartbeat_age: Duration, period: Duration) {
    if heartbeat_age <= period * 2 {
        if let Err(e) = sd_notify::notify(&[NotifyState::Watchdog]) {
            warn!("sd_notify WATCHDOG: {e}");
        }
    } else {
        warn!(
            "VRRP loop silent for {:.1} s: not pinging the systemd watchdog",
            heartbeat_age.as_secs_f64()
        );
    }
}
