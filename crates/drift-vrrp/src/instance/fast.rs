//! Fast failover (issue 8): the drift extension `preempt_immediate` and the master's immediate
//! advert when a tracker lowers its priority.
//!
//! # Why
//! With the article's setup (a check script, `weight -20`, priorities 100/99) a dead web server
//! lowers the master's priority below the backup's, and by RFC 5798 §6.4.2 the backup *ignores*
//! the lowered adverts ("If the Priority in the ADVERTISEMENT is ... less than the local
//! Priority ... discard") and waits out the whole master-down interval (3 × advert_int + skew).
//! That is most of the time the client goes unanswered.
//!
//! # What
//! * The master sends its lowered advert at once instead of at the next tick (always on: one
//!   extra advert on the wire, which any RFC peer handles; keepalived 2.2.7 waits for the tick).
//! * With `preempt_immediate`, a preempting backup treats such an advert like a priority-0 one:
//!   it takes over after Skew_Time. The old master (drift or keepalived) hears the higher
//!   priority and steps down as RFC 5798 §6.4.3 says, so the wire format is unchanged.
//!
//! # Flapping
//! `preempt_delay` becomes a hold-down, see [`InstanceConfig::preempt_immediate`]. Every VIP
//! move between live nodes is a preemption (a master never leaves on its own account unless
//! it faults or stops), and a node may only preempt once its hold-down has run out, which it
//! arms when it loses the VIP. So a node that lost the VIP gets it back no sooner than
//! `max(preempt_delay, master-down interval)` later: the VIP cannot bounce A -> B -> A faster,
//! however the priorities oscillate. `tests/fast_failover.rs` checks that over random priority
//! schedules (and fails when the hold-down is removed).
//!
//! [`InstanceConfig::preempt_immediate`]: crate::InstanceConfig::preempt_immediate

use std::net::IpAddr;
use std::time::Instant;

use super::{Action, Instance, State, PRIORITY_OWNER};
use crate::timers::TimerKind;
use crate::wire::Advert;

impl Instance {
    /// Startup: keepalived's `preempt_delay` counts from here ("after startup") in both modes.
    pub(super) fn hold_preemption_from_startup(&mut self, now: Instant) {
        self.preempt_hold_until =
            (!self.cfg.preempt_delay.is_zero()).then(|| now + self.cfg.preempt_delay);
    }

    /// Leaving MASTER (yielding, fault, stop): no immediate preemption back for
    /// `max(preempt_delay, master-down interval)`, so immediate preemption never bounces the VIP
    /// faster than plain VRRP or than `preempt_delay`.
    pub(super) fn hold_preemption_after_master(&mut self, now: Instant) {
        let hold = self.cfg.preempt_delay.max(self.master_down_interval());
        self.preempt_hold_until = Some(now + hold);
    }

    fn preemption_held(&self, now: Instant) -> bool {
        self.preempt_hold_until.is_some_and(|t| now < t)
    }

    /// Whether a backup still accepts a lower-priority master instead of preempting it.
    /// Plain (keepalived): until `preempt_time`, which starts at startup or at the first lower
    /// advert after a higher master. `preempt_immediate`: while the hold-down runs.
    pub(super) fn preempt_delaying(&self, now: Instant) -> bool {
        if self.cfg.preempt_immediate {
            return self.preemption_held(now);
        }
        !self.cfg.preempt_delay.is_zero() && !matches!(self.preempt_time, Some(t) if t <= now)
    }

    /// `preempt_immediate` in BACKUP: a lower advert from a live master arms the master-down
    /// timer for Skew_Time, as RFC 5798 §6.4.2 does for priority 0. Returns false when the
    /// advert is not for this path (the caller then applies the plain rules).
    pub(super) fn preempt_at_once(&mut self, now: Instant, src: IpAddr, a: &Advert) -> bool {
        if !self.cfg.preempt_immediate
            || self.cfg.nopreempt
            || a.priority >= self.effective_priority
            || self.preemption_held(now)
        {
            return false;
        }
        self.stats.lower_prio_preempt += 1;
        self.master_addr = Some(src);
        self.master_priority = a.priority;
        // Never later than an already running timer (a second lower advert must not postpone
        // the takeover, and a master that is already overdue stays overdue).
        let at = now + self.skew();
        let at = self
            .timers
            .deadline(TimerKind::MasterDown)
            .map_or(at, |t| t.min(at));
        self.timers.set(TimerKind::MasterDown, at);
        true
    }

    /// A tracker changed the effective priority. A master whose priority dropped says so at
    /// once: a `preempt_immediate` backup then takes over one skew time later instead of one
    /// advert interval later. The schedule restarts from this advert, so the rate never
    /// exceeds one advert per interval plus one per priority drop.
    pub(super) fn on_priority(&mut self, now: Instant, effective: u8, out: &mut Vec<Action>) {
        if self.cfg.priority == PRIORITY_OWNER {
            return; // the owner's priority is fixed (RFC 5798 §5.2.4)
        }
        // keepalived keeps a tracked priority within 1..=254: 0 means "stop", 255 "owner".
        let new = effective.clamp(1, PRIORITY_OWNER - 1);
        let old = std::mem::replace(&mut self.effective_priority, new);
        if self.state == State::Master && new < old {
            self.master_priority = new;
            self.send_advert(new, out);
            self.timers.set(TimerKind::Advert, now + self.adver_int());
        }
    }
}

#[cfg(test)]
mod tests;
