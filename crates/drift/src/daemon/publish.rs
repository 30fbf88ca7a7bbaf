//! The VRRP thread's side of the status [`Hub`]: after each step, copy the slot's numbers in
//! (cheap, and skipped rather than waited for while a reader holds the lock); after trackers
//! change or a reload, rebuild every entry.

use drift_vrrp::{State, Stats};

use super::slot::Slot;
use super::status::{
    unix_ms, Counters, DropCounts, Hub, InstanceStatus, TimelineEntry, TrackerStatus, Transition,
    TIMELINE_LEN,
};
use super::transition::{reason, state_name, Cause};

fn counters(st: &Stats) -> Counters {
    Counters {
        adverts_rx: st.adverts_rx,
        adverts_tx: st.adverts_tx,
        became_master: st.became_master,
        released_master: st.released_master,
        priority_zero_rx: st.priority_zero_rx,
        priority_zero_tx: st.priority_zero_tx,
        lower_prio_ignored: st.lower_prio_ignored,
        dropped: st.dropped_total(),
    }
}

/// Copy the fast-changing fields (state, priority, master, counters) of a slot.
fn refresh(e: &mut InstanceStatus, s: &Slot) {
    let st = s.inst.stats();
    // Only on a change: this runs for every periodic advert, which must not allocate.
    let state = state_name(s.inst.state());
    if e.state != state {
        e.state = state.into();
    }
    e.effective_priority = s.inst.effective_priority();
    e.master = s.inst.master_addr();
    e.master_priority = s.inst.master_priority();
    e.counters = counters(st);
    e.drops = DropCounts(st.drops);
}

/// Everything about a slot, rebuilt (on startup, tracker changes and reloads, not per packet).
fn full(s: &Slot, old: Option<&InstanceStatus>) -> InstanceStatus {
    let mut e = InstanceStatus {
        slot: s.id,
        last_advert: old.and_then(|o| o.last_advert),
        name: s.model.name.clone(),
        interface: s.io.ifname.clone(),
        vrid: s.io.vrid(),
        state: String::new(),
        base_priority: s.model.priority,
        effective_priority: 0,
        vips: s
            .model
            .virtual_ipaddress
            .iter()
            .map(|v| format!("{}/{}", v.addr, v.prefix_len))
            .collect(),
        master: None,
        master_priority: None,
        sync_group: s.group.clone(),
        transitions: old.map_or(0, |o| o.transitions),
        last_transition: old.and_then(|o| o.last_transition.clone()),
        trackers: s
            .trackers()
            .map(|(kind, t)| {
                let kind = match t.name.strip_prefix("upstream ") {
                    Some(_) if kind == "script" => "upstream",
                    _ => kind,
                };
                TrackerStatus {
                    name: t.name.clone(),
                    kind: kind.into(),
                    up: t.up,
                    weight: t.weight,
                    value: None,
                }
            })
            .chain(s.file_trackers().iter().map(|f| TrackerStatus {
                name: f.name.clone(),
                kind: "file".into(),
                up: f.weight != 0 || f.value == 0,
                weight: f.weight,
                value: Some(f.value),
            }))
            .collect(),
        counters: Counters::default(),
        drops: DropCounts::default(),
    };
    refresh(&mut e, s);
    e
}

/// After a step: update the slot's numbers and record a transition if the state changed.
///
/// The VRRP thread never waits for a reader here unless there is something it must not lose
/// (a transition, a priority-0 advert that explains the next one): plain counter refreshes are
/// skipped while a reader holds the lock, and the next step catches up.
pub fn after_step(hub: &Hub, s: &Slot, cause: Cause, before: State) {
    let after = s.inst.state();
    let must = after != before || matches!(cause, Cause::Advert { priority: 0, .. });
    let mut snap = if must {
        hub.lock()
    } else {
        match hub.try_lock() {
            Some(g) => g,
            None => return,
        }
    };
    let idx = match snap.instances.iter().position(|e| e.slot == s.id) {
        Some(i) => i,
        None => {
            snap.instances.push(full(s, None));
            snap.instances.len() - 1
        }
    };
    let Some(e) = snap.instances.get_mut(idx) else {
        return;
    };
    refresh(e, s);
    if let Cause::Advert { src, priority } = cause {
        e.last_advert = Some((src, priority));
    }
    if after != before {
        let t = Transition {
            from: state_name(before).into(),
            to: state_name(after).into(),
            at_unix_ms: unix_ms(),
            reason: reason(cause, before, after, e.last_advert),
        };
        e.transitions += 1;
        e.last_transition = Some(t.clone());
        let instance = e.name.clone();
        if snap.timeline.len() >= TIMELINE_LEN {
            snap.timeline.remove(0);
        }
        snap.timeline.push(TimelineEntry {
            instance,
            transition: t,
        });
    }
}

/// Rebuild every running slot's entry and forget removed instances (after reconcile/reload).
pub fn publish_all(hub: &Hub, slots: &[Slot]) {
    let mut snap = hub.lock();
    let fresh: Vec<InstanceStatus> = slots
        .iter()
        .map(|s| {
            let old = snap.instances.iter().find(|e| e.name == s.model.name);
            full(s, old)
        })
        .collect();
    snap.instances = fresh;
}
