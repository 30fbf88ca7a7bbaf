//! `vrrp_sync_group`: the members of a group move together, as keepalived's vrrp_sync.c does.
//!
//! * One member goes MASTER (its peer's instance stopped advertising) → the others follow at
//!   once ("VRRP_Group(G) Syncing instances to MASTER state"). A member whose own timer expires
//!   first only *wants* master ([`drift_vrrp::Action::WantMaster`]); the group goes master when
//!   every member wants it ("prefer backup state to avoid thrashing").
//! * One member falls back to BACKUP (it heard a higher priority) while the group is MASTER →
//!   the others leave master too ("Syncing instances to BACKUP state").
//! * One member in FAULT → every member is FAULT (done by `Daemon::reconcile`, which feeds
//!   `Input::Fault` to all members; this module only names the group state).
//!
//! Each change of the group state runs the group's notify scripts (`notify_master` etc., and
//! `notify` with `GROUP <name> <STATE> 0`). The decision is pure ([`decide`]); [`sync_groups`]
//! applies it after every turn of the VRRP loop.

use std::collections::HashMap;

use drift_model::{Notify, SyncGroup};
use drift_vrrp::{Action, Input, State};
use tracing::info;

use super::scripts::NotifyJob;
use super::slot::{self, Ctx, Slot};
use super::tracking::Tracked;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupState {
    Backup,
    Master,
    Fault,
}

impl GroupState {
    fn word(self) -> &'static str {
        match self {
            GroupState::Backup => "BACKUP",
            GroupState::Master => "MASTER",
            GroupState::Fault => "FAULT",
        }
    }
}

/// What the members must be told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// `Input::SyncMaster` to every backup member.
    Master,
    /// `Input::SyncBackup` to every master member.
    Backup,
}

/// The group's new state and what to force on its members, from the previous group state and
/// each member's (state, wants master). Members not running (Init) do not count.
pub fn decide(
    prev: Option<GroupState>,
    members: &[(State, bool)],
) -> (GroupState, Option<Command>) {
    let running: Vec<&(State, bool)> = members.iter().filter(|m| m.0 != State::Init).collect();
    if running.is_empty() {
        return (prev.unwrap_or(GroupState::Backup), None);
    }
    let any = |s: State| running.iter().any(|m| m.0 == s);
    if any(State::Fault) {
        return (GroupState::Fault, None);
    }
    let (master, backup) = (any(State::Master), any(State::Backup));
    if prev == Some(GroupState::Master) && backup {
        // A member yielded to a higher priority: the group follows it down.
        let cmd = master.then_some(Command::Backup);
        return (GroupState::Backup, cmd);
    }
    if master {
        return (GroupState::Master, backup.then_some(Command::Master));
    }
    if running.iter().all(|m| m.0 == State::Backup && m.1) {
        return (GroupState::Master, Some(Command::Master));
    }
    (GroupState::Backup, None)
}

/// At shutdown: each running group's `notify_stop` script (keepalived's group `notify_stop`,
/// "executed when stopping vrrp"; the generic `notify` gets STOP for instances only).
pub fn notify_stop(cx: &Ctx, groups: &[SyncGroup], states: &GroupStates) {
    for g in groups.iter().filter(|g| states.contains_key(&g.name)) {
        if let Some(stop) = &g.notify.stop {
            cx.scripts.notify(NotifyJob {
                instance: g.name.clone(),
                notify: Notify {
                    stop: Some(stop.clone()),
                    ..Notify::default()
                },
                state: "STOP",
                priority: 0,
                group: true,
                // keepalived mails a group's MASTER and BACKUP transitions only.
                smtp_alert: false,
            });
        }
    }
}

/// keepalived (vrrp_complete_instance): a sync group member's own `track_interface` weights
/// are set to 0, so a tracked link going down is a FAULT of the group rather than a priority
/// change of one member, unless the group has `sync_group_tracking_weight`.
pub fn unweight_member_links(links: &mut [Tracked], g: &SyncGroup) {
    if !g.sync_group_tracking_weight {
        for l in links.iter_mut().filter(|l| l.weight != 0) {
            info!(
                "VRRP_Group({}) ignoring weight {} of tracked interface {} (sync group member)",
                g.name, l.weight, l.name
            );
            l.weight = 0;
        }
    }
}

/// The group states as last decided, by group name.
pub type GroupStates = HashMap<String, GroupState>;

/// Apply [`decide`] to every group until nothing moves (a forced transition can change the
/// picture once; three rounds are plenty).
pub async fn sync_groups(
    cx: &Ctx,
    slots: &mut [Slot],
    groups: &[SyncGroup],
    states: &mut GroupStates,
    out: &mut Vec<Action>,
) {
    for _ in 0..3 {
        let mut moved = false;
        for g in groups {
            let members: Vec<(State, bool)> = slots
                .iter()
                .filter(|s| s.group.as_deref() == Some(g.name.as_str()))
                .map(|s| (s.inst.state(), s.inst.wants_master()))
                .collect();
            if members.is_empty() {
                continue;
            }
            let prev = states.get(&g.name).copied();
            let (next, cmd) = decide(prev, &members);
            if let Some(cmd) = cmd {
                info!(
                    "VRRP_Group({}) Syncing instances to {} state",
                    g.name,
                    next.word()
                );
                let (input, from) = match cmd {
                    Command::Master => (Input::SyncMaster, State::Backup),
                    Command::Backup => (Input::SyncBackup, State::Master),
                };
                for s in slots.iter_mut() {
                    if s.group.as_deref() == Some(g.name.as_str()) && s.inst.state() == from {
                        slot::step(cx, s, input.clone(), out).await;
                        moved = true;
                    }
                }
            }
            if prev != Some(next) {
                states.insert(g.name.clone(), next);
                info!("VRRP_Group({}) Entering {} STATE", g.name, next.word());
                cx.scripts.notify(NotifyJob {
                    instance: g.name.clone(),
                    notify: g.notify.clone(),
                    state: next.word(),
                    // keepalived passes 0 as a group's priority.
                    priority: 0,
                    group: true,
                    smtp_alert: g.smtp_alert,
                });
            }
        }
        if !moved {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use State::{Backup, Fault, Init, Master};

    #[test]
    fn one_member_going_master_pulls_the_backups_along() {
        let m = [(Master, false), (Backup, false)];
        assert_eq!(
            decide(Some(GroupState::Backup), &m),
            (GroupState::Master, Some(Command::Master))
        );
    }

    #[test]
    fn one_member_yielding_while_the_group_is_master_pushes_the_others_to_backup() {
        let m = [(Master, false), (Backup, false)];
        assert_eq!(
            decide(Some(GroupState::Master), &m),
            (GroupState::Backup, Some(Command::Backup))
        );
    }

    #[test]
    fn the_group_goes_master_only_when_every_member_wants_it() {
        let some = [(Backup, true), (Backup, false)];
        assert_eq!(
            decide(Some(GroupState::Backup), &some),
            (GroupState::Backup, None)
        );
        let all = [(Backup, true), (Backup, true)];
        assert_eq!(
            decide(Some(GroupState::Backup), &all),
            (GroupState::Master, Some(Command::Master))
        );
    }

    #[test]
    fn a_fault_in_any_member_makes_the_group_fault_without_commands() {
        let m = [(Master, false), (Fault, false)];
        assert_eq!(
            decide(Some(GroupState::Master), &m),
            (GroupState::Fault, None)
        );
    }

    #[test]
    fn settled_groups_need_no_command() {
        let masters = [(Master, false), (Master, false)];
        assert_eq!(
            decide(Some(GroupState::Master), &masters),
            (GroupState::Master, None)
        );
        let backups = [(Backup, false), (Backup, false)];
        assert_eq!(decide(None, &backups), (GroupState::Backup, None));
        assert_eq!(
            decide(Some(GroupState::Fault), &backups),
            (GroupState::Backup, None)
        );
    }

    #[test]
    fn stopped_members_are_left_out_and_an_all_stopped_group_keeps_its_state() {
        let m = [(Init, false), (Backup, true)];
        assert_eq!(
            decide(Some(GroupState::Backup), &m),
            (GroupState::Master, Some(Command::Master))
        );
        assert_eq!(
            decide(Some(GroupState::Master), &[(Init, false)]),
            (GroupState::Master, None)
        );
    }

    #[test]
    fn member_link_weights_are_zeroed_unless_sync_group_tracking_weight() {
        let link = |w| Tracked {
            name: "eth1".into(),
            weight: w,
            reverse: false,
            up: true,
        };
        let mut g = SyncGroup {
            name: "G".into(),
            ..SyncGroup::default()
        };
        let mut links = vec![link(-20), link(0)];
        unweight_member_links(&mut links, &g);
        assert_eq!((links[0].weight, links[1].weight), (0, 0));
        g.sync_group_tracking_weight = true;
        let mut links = vec![link(-20)];
        unweight_member_links(&mut links, &g);
        assert_eq!(links[0].weight, -20);
    }

    #[test]
    fn recovering_from_fault_with_an_owner_already_master_pulls_the_rest() {
        let m = [(Master, false), (Backup, false)];
        assert_eq!(
            decide(Some(GroupState::Fault), &m),
            (GroupState::Master, Some(Command::Master))
        );
    }
}
