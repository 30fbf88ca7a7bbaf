//! `vrrp_sync_group` support in the state machine: members of a group move together.
//!
//! keepalived 2.x (vrrp_sync.c) semantics, with the group logic itself left to the caller (it
//! sees every member; one instance sees only itself):
//! * A member whose Master_Down_Timer expires does not go master alone: it "wants master"
//!   (keepalived `wantstate = MASTER`), emits [`Action::WantMaster`] and re-arms the timer
//!   ("vrrp_sync_can_goto_master": "only sync to master if everyone wants to, i.e. prefer
//!   backup state to avoid thrashing"). An accepted advert from a master clears the wish.
//! * [`Input::SyncMaster`]: the group goes master (every member wants it, or one member is
//!   already master): a backup member becomes master at once (`vrrp_sync_master`).
//! * [`Input::SyncBackup`]: a member fell back to backup: a master member leaves master
//!   without a priority-0 advert, as keepalived's `vrrp_sync_backup` (the peer group takes
//!   over by its own sync), and waits Master_Down_Interval as backup.
//! * FAULT is forced with [`Input::Fault`], as for any tracker.

use std::time::Instant;

use super::{Action, Instance, State};
use crate::timers::TimerKind;

impl Instance {
    /// keepalived `wantstate == VRRP_STATE_MAST` while still backup (sync group members only).
    pub fn wants_master(&self) -> bool {
        self.wants_master && self.state == State::Backup
    }

    pub(super) fn master_down_expired(&mut self, now: Instant, out: &mut Vec<Action>) {
        if !self.cfg.sync_group {
            return self.become_master(now, out);
        }
        self.wants_master = true;
        // keepalived re-arms ms_down_timer while waiting; the group answers long before.
        self.timers
            .set(TimerKind::MasterDown, now + self.master_down_interval());
        out.push(Action::WantMaster);
    }

    pub(super) fn on_sync_master(&mut self, now: Instant, out: &mut Vec<Action>) {
        if self.started && self.state == State::Backup {
            self.become_master(now, out);
        }
    }

    pub(super) fn on_sync_backup(&mut self, now: Instant, out: &mut Vec<Action>) {
        if !self.started || self.state != State::Master {
            return;
        }
        self.leave_master(out);
        self.state = State::Backup;
        self.wants_master = false;
        self.timers
            .set(TimerKind::MasterDown, now + self.master_down_interval());
        self.notify(out);
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Input, InstanceConfig, PRIORITY_STOP};
    use super::*;
    use crate::wire::Addrs;
    use std::net::{IpAddr, Ipv4Addr};
    use std::time::Duration;

    fn member() -> (Instance, Instant) {
        let mut c = InstanceConfig::new(
            "vi",
            51,
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
            Addrs::V4(vec![Ipv4Addr::new(10, 0, 0, 100)]),
        );
        c.sync_group = true;
        let t0 = Instant::now();
        let mut i = Instance::new(c, t0);
        i.handle(t0, Input::Startup, &mut Vec::new());
        (i, t0)
    }

    fn expire(i: &mut Instance) -> Vec<Action> {
        let mut out = Vec::new();
        let at = i.next_deadline().unwrap_or_else(Instant::now);
        i.handle(at, Input::Timer, &mut out);
        out
    }

    #[test]
    fn a_member_whose_timer_expires_only_wants_master_and_keeps_waiting() {
        let (mut i, _) = member();
        assert!(!i.wants_master());
        assert_eq!(expire(&mut i), vec![Action::WantMaster]);
        assert_eq!(i.state(), State::Backup);
        assert!(i.wants_master());
        assert!(i.next_deadline().is_some(), "the timer is re-armed");
    }

    #[test]
    fn an_advert_from_a_master_clears_the_wish() {
        let (mut i, t0) = member();
        expire(&mut i);
        let advert = i.advert(200);
        let src = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
        let at = t0 + Duration::from_secs(5);
        i.handle(
            at,
            Input::Advert {
                src,
                ttl: 255,
                advert,
            },
            &mut Vec::new(),
        );
        assert!(!i.wants_master());
    }

    #[test]
    fn sync_master_makes_a_backup_member_master_at_once() {
        let (mut i, t0) = member();
        let mut out = Vec::new();
        i.handle(t0, Input::SyncMaster, &mut out);
        assert_eq!(i.state(), State::Master);
        assert!(matches!(out[0], Action::SendAdvert(_)));
        assert!(out.contains(&Action::AddVips));
        assert!(!i.wants_master());
    }

    #[test]
    fn sync_backup_releases_mastership_without_a_priority_zero_advert() {
        let (mut i, t0) = member();
        i.handle(t0, Input::SyncMaster, &mut Vec::new());
        let mut out = Vec::new();
        i.handle(t0, Input::SyncBackup, &mut out);
        assert_eq!(i.state(), State::Backup);
        assert!(out.contains(&Action::RemoveVips));
        assert!(!out
            .iter()
            .any(|a| matches!(a, Action::SendAdvert(ad) if ad.priority == PRIORITY_STOP)));
        assert!(out.contains(&Action::Notify {
            state: State::Backup,
            priority: 100
        }));
        assert!(i.next_deadline().is_some());
    }

    #[test]
    fn sync_inputs_do_nothing_in_fault_or_before_startup() {
        let (mut i, t0) = member();
        i.handle(t0, Input::Fault(true), &mut Vec::new());
        let mut out = Vec::new();
        i.handle(t0, Input::SyncMaster, &mut out);
        i.handle(t0, Input::SyncBackup, &mut out);
        assert!(out.is_empty());
        assert_eq!(i.state(), State::Fault);
        let mut fresh = Instance::new(i.config().clone(), t0);
        fresh.handle(t0, Input::SyncMaster, &mut out);
        assert!(out.is_empty());
        assert_eq!(fresh.state(), State::Init);
    }

    #[test]
    fn outside_a_sync_group_the_timer_still_makes_it_master() {
        let (i, _) = member();
        let mut c = i.config().clone();
        c.sync_group = false;
        let t0 = Instant::now();
        let mut solo = Instance::new(c, t0);
        solo.handle(t0, Input::Startup, &mut Vec::new());
        expire(&mut solo);
        assert_eq!(solo.state(), State::Master);
    }
}
