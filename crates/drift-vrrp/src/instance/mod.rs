//! The VRRP state machine of RFC 3768 §6.3-6.4 / RFC 5798 §6.4, with keepalived's options.
//!
//! # Driving an [`Instance`] (sans-IO, quinn-proto style)
//!
//! 1. `Instance::new(cfg, now)`, then `handle(now, Input::Startup, &mut out)`.
//! 2. Loop: wait until a packet, a tracker event, or `next_deadline()`; call `handle` with the
//!    matching [`Input`] (`Input::Timer` when the deadline is reached: `handle` compares `now`
//!    with each armed timer itself, so an early or spurious wake-up is harmless); then carry
//!    out every [`Action`] in `out`, **in order**, and clear it; re-read `next_deadline()`.
//! 3. On exit, `handle(now, Input::Shutdown, ..)` and carry out the actions (priority-0 advert,
//!    VIP removal) before closing sockets.
//!
//! `now` must never go backwards; an earlier `now` is treated as the latest one seen.
//! Actions are plain data: the daemon encodes `SendAdvert` with the pseudo-header for each
//! destination (multicast group or every unicast peer), adds/removes VIPs via netlink, sends
//! gratuitous ARP/NA, and runs notify scripts.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use crate::config::{InitialState, InstanceConfig};
use crate::policy;
use crate::stats::Stats;
use crate::timers::{master_down_interval, skew, TimerKind, Timers};
use crate::wire::{Advert, WireError};

/// RFC 5798 §6.1 priority values.
pub const PRIORITY_OWNER: u8 = 255;
pub const PRIORITY_STOP: u8 = 0;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// Not started, or shut down.
    Init,
    Backup,
    Master,
    /// A tracker reported a fault: no adverts, no VIPs, adverts ignored.
    Fault,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    Startup,
    /// A decoded advert that passed the codec's format checks, with the IP-level facts the
    /// policy needs (`ttl` is the TTL or hop limit as received).
    Advert {
        src: IpAddr,
        ttl: u8,
        advert: Advert,
    },
    /// The codec rejected a packet addressed to this instance; only counted.
    Malformed(WireError),
    /// `next_deadline()` was reached (or may have been).
    Timer,
    /// Trackers changed the effective priority (base + weights, computed by the caller).
    PriorityChange {
        effective: u8,
    },
    /// A tracker (or sync group) reports a fault (`true`) or its recovery (`false`).
    Fault(bool),
    /// `vrrp_sync_group`: another member went master (or every member wants to): go master
    /// now if backup. See [`sync`].
    SyncMaster,
    /// `vrrp_sync_group`: another member fell back to backup: leave master if master.
    SyncBackup,
    Shutdown,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Encode and send this advert (one per destination in unicast mode).
    SendAdvert(Advert),
    /// Add every VIP (`virtual_ipaddress`) to the interface.
    AddVips,
    RemoveVips,
    /// Send `count` gratuitous ARPs (IPv4 VIPs) / unsolicited NAs (IPv6 VIPs) for every VIP.
    SendGratuitous {
        count: u32,
    },
    /// The state changed (notify scripts, FIFO, metrics). `Init` after `Shutdown` means stopped.
    Notify {
        state: State,
        priority: u8,
    },
    /// `sync_group` only: Master_Down_Timer expired but the instance waits for its group
    /// (answer with [`Input::SyncMaster`] once every member wants master).
    WantMaster,
}

#[derive(Debug, Clone)]
pub struct Instance {
    cfg: InstanceConfig,
    state: State,
    started: bool,
    fault: bool,
    effective_priority: u8,
    /// RFC 5798 Master_Adver_Interval: learned from the master's adverts (v3); ours for v2.
    master_adver_int: Duration,
    master_addr: Option<IpAddr>,
    master_priority: u8,
    /// keepalived `preempt_time`: until then, lower-priority masters are still accepted.
    preempt_time: Option<Instant>,
    /// `preempt_immediate` hold-down (see fast.rs): no immediate preemption before this.
    preempt_hold_until: Option<Instant>,
    garp_delay_count: u32,
    /// keepalived `wantstate == MASTER` of a sync group member held back in backup.
    wants_master: bool,
    /// A late Master_Down expiry was already given its grace (once per silence of the master).
    stall_graced: bool,
    timers: Timers,
    stats: Stats,
    last_now: Instant,
}

impl Instance {
    pub fn new(mut cfg: InstanceConfig, now: Instant) -> Self {
        if cfg.initial_state == InitialState::Master {
            // keepalived clears both with a warning: they only make sense starting as backup.
            cfg.nopreempt = false;
            cfg.preempt_delay = Duration::ZERO;
        }
        cfg.priority = cfg.priority.max(1);
        cfg.down_timer_adverts = cfg.down_timer_adverts.clamp(1, 100);
        Instance {
            effective_priority: cfg.priority,
            master_adver_int: Duration::from_millis(u64::from(cfg.adver_int_cs()) * 10),
            cfg,
            state: State::Init,
            started: false,
            fault: false,
            master_addr: None,
            master_priority: 0,
            preempt_time: None,
            preempt_hold_until: None,
            garp_delay_count: 0,
            wants_master: false,
            stall_graced: false,
            timers: Timers::default(),
            stats: Stats::default(),
            last_now: now,
        }
    }

    pub fn config(&self) -> &InstanceConfig {
        &self.cfg
    }
    pub fn state(&self) -> State {
        self.state
    }
    pub fn effective_priority(&self) -> u8 {
        self.effective_priority
    }
    pub fn stats(&self) -> &Stats {
        &self.stats
    }
    /// The current master as far as we know: ourselves when master, the source of the last
    /// accepted advert when backup, None otherwise.
    pub fn master_addr(&self) -> Option<IpAddr> {
        self.master_addr
    }
    pub fn master_priority(&self) -> Option<u8> {
        self.master_addr.map(|_| self.master_priority)
    }
    pub fn next_deadline(&self) -> Option<Instant> {
        self.timers.next()
    }
    /// Master_Down_Interval for the current effective priority and learned master interval.
    pub fn master_down_interval(&self) -> Duration {
        master_down_interval(
            self.cfg.version,
            self.effective_priority,
            self.master_adver_int,
            self.cfg.down_timer_adverts,
        )
    }
    fn skew(&self) -> Duration {
        skew(
            self.cfg.version,
            self.effective_priority,
            self.master_adver_int,
        )
    }
    fn adver_int(&self) -> Duration {
        Duration::from_millis(u64::from(self.cfg.adver_int_cs()) * 10)
    }

    pub fn handle(&mut self, now: Instant, input: Input, out: &mut Vec<Action>) {
        let now = now.max(self.last_now);
        self.last_now = now;
        match input {
            Input::Startup => self.on_startup(now, out),
            Input::Advert { src, ttl, advert } => self.on_advert(now, src, ttl, advert, out),
            Input::Malformed(e) => self.stats.count_wire_error(&e),
            Input::Timer => self.on_timer(now, out),
            Input::PriorityChange { effective } => self.on_priority(now, effective, out),
            Input::Fault(f) => self.on_fault(now, f, out),
            Input::SyncMaster => self.on_sync_master(now, out),
            Input::SyncBackup => self.on_sync_backup(now, out),
            Input::Shutdown => self.on_shutdown(out),
        }
    }

    fn on_startup(&mut self, now: Instant, out: &mut Vec<Action>) {
        if self.started {
            return;
        }
        self.started = true;
        self.preempt_time = None; // a restart after Shutdown starts the delay afresh
        if self.fault {
            return self.enter_fault(out);
        }
        if self.preempting() && !self.cfg.preempt_delay.is_zero() {
            self.preempt_time = Some(now + self.cfg.preempt_delay);
        }
        self.hold_preemption_from_startup(now);
        let extra = self
            .preempt_time
            .map_or(Duration::ZERO, |_| self.cfg.preempt_delay);
        self.enter_backup_or_owner(now, extra, out);
    }

    /// RFC 5798 §6.4.1: the address owner becomes master at once; everyone else waits for
    /// Master_Down_Interval (plus any startup `preempt_delay`) as backup.
    fn enter_backup_or_owner(&mut self, now: Instant, extra: Duration, out: &mut Vec<Action>) {
        if self.effective_priority == PRIORITY_OWNER {
            return self.become_master(now, out);
        }
        self.state = State::Backup;
        self.wants_master = false;
        self.master_addr = None;
        self.master_adver_int = self.adver_int();
        self.stall_graced = false;
        self.timers.stop_all();
        self.timers.set(
            TimerKind::MasterDown,
            now + self.master_down_interval() + extra,
        );
        self.notify(out);
    }

    fn preempting(&self) -> bool {
        !self.cfg.nopreempt
    }

    fn on_advert(&mut self, now: Instant, src: IpAddr, ttl: u8, a: Advert, out: &mut Vec<Action>) {
        if let Err(reason) = policy::check(&self.cfg, src, ttl, &a, self.master_addr) {
            reason.count(&mut self.stats.drops);
            return;
        }
        self.stats.adverts_rx += 1;
        if a.priority == PRIORITY_STOP {
            self.stats.priority_zero_rx += 1;
        }
        match self.state {
            State::Backup => self.backup_rx(now, src, a),
            State::Master => self.master_rx(now, src, a, out),
            State::Init | State::Fault => self.stats.drops.not_running += 1,
        }
    }

    /// RFC 5798 §6.4.2 "If an ADVERTISEMENT is received" in Backup, with keepalived's
    /// preempt_delay (lower-priority masters are accepted until `preempt_time`).
    fn backup_rx(&mut self, now: Instant, src: IpAddr, a: Advert) {
        if a.priority == PRIORITY_STOP {
            // The master is leaving: take over after Skew_Time only.
            self.master_addr = None;
            self.timers.set(TimerKind::MasterDown, now + self.skew());
            return;
        }
        if self.preempt_at_once(now, src, &a) {
            return;
        }
        let delaying = self.preempt_delaying(now);
        if self.cfg.nopreempt || a.priority >= self.effective_priority || delaying {
            if self.cfg.version == crate::wire::Version::V3 {
                self.master_adver_int =
                    Duration::from_millis(u64::from(a.adver_int_cs.max(1)) * 10);
            }
            self.master_addr = Some(src);
            self.master_priority = a.priority;
            self.wants_master = false;
            self.stall_graced = false;
            if !self.cfg.preempt_delay.is_zero() {
                if a.priority > self.effective_priority {
                    self.preempt_time = None;
                } else if self.preempt_time.is_none() {
                    self.preempt_time = Some(now + self.cfg.preempt_delay);
                }
            }
            self.timers
                .set(TimerKind::MasterDown, now + self.master_down_interval());
        } else {
            // Lower priority and we preempt: let Master_Down_Timer run out.
            self.stats.lower_prio_ignored += 1;
        }
    }

    /// RFC 5798 §6.4.3 "If an ADVERTISEMENT is received" in Master.
    fn master_rx(&mut self, now: Instant, src: IpAddr, a: Advert, out: &mut Vec<Action>) {
        if a.priority == PRIORITY_STOP {
            // Another master is leaving: assert ourselves at once.
            self.send_advert(self.effective_priority, out);
            self.timers.set(TimerKind::Advert, now + self.adver_int());
            return;
        }
        let higher = a.priority > self.effective_priority
            || (a.priority == self.effective_priority && src > self.cfg.primary_addr);
        if higher {
            if self.cfg.higher_prio_send_advert {
                self.send_advert(self.effective_priority, out);
            }
            if self.cfg.version == crate::wire::Version::V3 {
                self.master_adver_int =
                    Duration::from_millis(u64::from(a.adver_int_cs.max(1)) * 10);
            }
            self.leave_master(out);
            self.state = State::Backup;
            self.master_addr = Some(src);
            self.master_priority = a.priority;
            self.timers
                .set(TimerKind::MasterDown, now + self.master_down_interval());
            self.notify(out);
            return;
        }
        // A lower-priority master (split brain healing). RFC: ignore. keepalived default:
        // answer at once so it yields within one packet instead of after its own timer.
        if !self.cfg.lower_prio_no_advert {
            self.send_advert(self.effective_priority, out);
        }
        if self.cfg.garp_lower_prio_repeat > 0 {
            out.push(Action::SendGratuitous {
                count: self.cfg.garp_lower_prio_repeat,
            });
            if !self.cfg.garp_lower_prio_delay.is_zero() {
                self.garp_delay_count = self.cfg.garp_lower_prio_repeat;
                self.timers
                    .set(TimerKind::GarpDelay, now + self.cfg.garp_lower_prio_delay);
            }
        }
    }

    fn on_timer(&mut self, now: Instant, out: &mut Vec<Action>) {
        for kind in TimerKind::ALL {
            let was_due_at = self.timers.deadline(kind);
            if !self.timers.take_due(kind, now) {
                continue;
            }
            match (kind, self.state) {
                (TimerKind::MasterDown, State::Backup) => match self.grace(was_due_at, now) {
                    Some(g) => self.timers.set(TimerKind::MasterDown, now + g),
                    None => self.master_down_expired(now, out),
                },
                (TimerKind::Advert, State::Master) => {
                    self.send_advert(self.effective_priority, out);
                    let next = next_on_schedule(was_due_at, now, self.adver_int());
                    self.timers.set(TimerKind::Advert, next);
                }
                (TimerKind::GarpDelay, State::Master) => {
                    out.push(Action::SendGratuitous {
                        count: self.garp_delay_count,
                    });
                }
                (TimerKind::GarpRefresh, State::Master) => {
                    out.push(Action::SendGratuitous {
                        count: self.cfg.garp_master_refresh_repeat,
                    });
                    self.timers
                        .set(TimerKind::GarpRefresh, now + self.cfg.garp_master_refresh);
                }
                _ => {} // stale timer from a previous state: already disarmed
            }
        }
    }

    /// RFC 5798 §6.4.2 transition to Master. The order matches keepalived on the wire (see the
    /// takeover captures): advert first, so other backups stand down, then the VIPs, then
    /// gratuitous ARP/NA (which need the VIPs in place), then notify.
    fn become_master(&mut self, now: Instant, out: &mut Vec<Action>) {
        self.state = State::Master;
        self.wants_master = false;
        self.timers.stop_all();
        self.master_addr = Some(self.cfg.primary_addr);
        self.master_priority = self.effective_priority;
        self.preempt_time = None;
        self.stats.became_master += 1;
        self.send_advert(self.effective_priority, out);
        out.push(Action::AddVips);
        let repeat = self.cfg.garp_master_repeat;
        if repeat > 0 {
            out.push(Action::SendGratuitous { count: repeat });
            if !self.cfg.garp_master_delay.is_zero() {
                self.garp_delay_count = repeat;
                self.timers
                    .set(TimerKind::GarpDelay, now + self.cfg.garp_master_delay);
            }
        }
        if !self.cfg.garp_master_refresh.is_zero() {
            self.timers
                .set(TimerKind::GarpRefresh, now + self.cfg.garp_master_refresh);
        }
        self.timers.set(TimerKind::Advert, now + self.adver_int());
        self.notify(out);
    }

    /// Stop being master: timers off, VIPs removed (the caller sets the next state).
    fn leave_master(&mut self, out: &mut Vec<Action>) {
        self.hold_preemption_after_master(self.last_now);
        self.timers.stop_all();
        self.stats.released_master += 1;
        self.master_addr = None;
        out.push(Action::RemoveVips);
    }

    fn on_fault(&mut self, now: Instant, fault: bool, out: &mut Vec<Action>) {
        if self.fault == fault {
            return;
        }
        self.fault = fault;
        if !self.started {
            return;
        }
        if fault {
            self.enter_fault(out);
        } else if self.state == State::Fault {
            self.enter_backup_or_owner(now, Duration::ZERO, out);
        }
    }

    /// Like keepalived, a master going to fault sends a priority-0 advert at once so a backup
    /// takes over after Skew_Time instead of Master_Down_Interval. keepalived 2.2.7 sends two
    /// back to back (`vrrp_state_leave_master` for FAULT, then `vrrp_restore_interface`; seen on
    /// the wire 9 µs apart), and so does drift: one lost packet then costs nothing.
    fn enter_fault(&mut self, out: &mut Vec<Action>) {
        if self.state == State::Master {
            self.send_advert(PRIORITY_STOP, out);
            self.send_advert(PRIORITY_STOP, out);
            self.leave_master(out);
        }
        self.timers.stop_all();
        self.master_addr = None;
        self.state = State::Fault;
        self.notify(out);
    }

    fn on_shutdown(&mut self, out: &mut Vec<Action>) {
        if !self.started {
            return;
        }
        if self.state == State::Master {
            self.send_advert(PRIORITY_STOP, out);
            self.leave_master(out);
        }
        self.timers.stop_all();
        self.started = false;
        self.master_addr = None;
        self.state = State::Init;
        self.notify(out);
    }

    fn send_advert(&mut self, priority: u8, out: &mut Vec<Action>) {
        self.stats.adverts_tx += 1;
        if priority == PRIORITY_STOP {
            self.stats.priority_zero_tx += 1;
        }
        out.push(Action::SendAdvert(self.advert(priority)));
    }

    /// The advert this instance sends at `priority` (also handy for tests and the daemon).
    pub fn advert(&self, priority: u8) -> Advert {
        let (auth_type, auth_data) = match self.cfg.version {
            crate::wire::Version::V2 => self.cfg.auth.wire(),
            crate::wire::Version::V3 => (crate::wire::AuthType::None, [0; 8]),
        };
        Advert {
            version: self.cfg.version,
            vrid: self.cfg.vrid,
            priority,
            adver_int_cs: self.cfg.adver_int_cs(),
            auth_type,
            auth_data,
            addrs: self.cfg.vips.clone(),
        }
    }

    fn notify(&self, out: &mut Vec<Action>) {
        out.push(Action::Notify {
            state: self.state,
            priority: self.effective_priority,
        });
    }
}

mod periodic;
mod stall;
pub mod sync;
#[cfg(test)]
mod tests;

mod fast;

/// Adverts keep a fixed schedule (deadline += interval), so a late wake-up does not stretch
/// every later interval and the rate stays exactly 1/interval. After a stall longer than an
/// interval the schedule restarts from `now` rather than sending a burst of catch-up adverts.
fn next_on_schedule(due_at: Option<Instant>, now: Instant, interval: Duration) -> Instant {
    match due_at {
        Some(at) if at + interval > now => at + interval,
        _ => now + interval,
    }
}
