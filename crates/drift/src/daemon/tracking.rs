//! Tracking: interfaces (`track_interface`, and the instance's own interface unless
//! `dont_track_primary`) and `track_script`s -> FAULT or an effective priority, as keepalived
//! computes them. Pure; the VRRP thread feeds it link states and script results.

use drift_model::{SyncGroup, TrackInterface, TrackScriptRef, VrrpInstance, VrrpScript};

/// One tracked interface or script of an instance (`up`: link usable / script succeeding).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tracked {
    pub name: String,
    /// 0: down means FAULT. keepalived: a positive weight is added while the link is up, a
    /// negative one while it is down; `reverse` flips the sign (and, with weight 0, makes *up*
    /// the fault condition).
    pub weight: i32,
    pub reverse: bool,
    pub up: bool,
}

/// The links an instance tracks, its own interface first (weight 0) unless `dont_track_primary`.
/// Initial state `up` is true; the caller sets the real one once it has read the links.
pub fn tracked_links(vi: &VrrpInstance) -> Vec<Tracked> {
    let mut v = Vec::new();
    if let (Some(i), false) = (&vi.interface, vi.dont_track_primary) {
        v.push(Tracked {
            name: i.clone(),
            weight: 0,
            reverse: false,
            up: true,
        });
    }
    v.extend(interface_refs(&vi.track_interface));
    v
}

fn interface_refs(refs: &[TrackInterface]) -> Vec<Tracked> {
    refs.iter()
        .map(|t| Tracked {
            name: t.name.clone(),
            weight: t.weight,
            reverse: t.reverse,
            up: true,
        })
        .collect()
}

/// The scripts an instance tracks. The reference's `weight` overrides the script's (with its own
/// `reverse`); unknown names are skipped (the config checker reports them). drift's
/// `track_upstream` references come last: they follow the script path (see daemon/proxy.rs).
pub fn tracked_scripts(vi: &VrrpInstance, scripts: &[VrrpScript]) -> Vec<Tracked> {
    let mut v = script_refs(&vi.track_script, scripts);
    v.extend(upstream_refs(vi));
    v
}

/// `track_upstream NAME [weight N [reverse]]`: no weight is weight 0 (no usable server =>
/// FAULT); otherwise track_script's rules. Usable until the proxy says otherwise.
fn upstream_refs(vi: &VrrpInstance) -> Vec<Tracked> {
    vi.track_upstream
        .iter()
        .map(|r| Tracked {
            name: super::proxy::tracker_name(&r.name),
            weight: r.weight.unwrap_or(0),
            reverse: r.reverse,
            up: true,
        })
        .collect()
}

fn script_refs(refs: &[TrackScriptRef], scripts: &[VrrpScript]) -> Vec<Tracked> {
    refs.iter()
        .filter_map(|r| {
            let s = scripts.iter().find(|s| s.name == r.name)?;
            let (weight, reverse) = match r.weight {
                Some(w) => (w, r.reverse),
                None => (s.weight, s.reverse),
            };
            Some(Tracked {
                name: s.name.clone(),
                weight,
                reverse,
                up: !s.init_fail,
            })
        })
        .collect()
}

/// A sync group's own trackers (links, scripts), which apply to every member. keepalived ignores
/// their weights (a failure is a FAULT of the group) unless `sync_group_tracking_weight`.
pub fn group_trackers(g: &SyncGroup, scripts: &[VrrpScript]) -> (Vec<Tracked>, Vec<Tracked>) {
    let unweight = |mut v: Vec<Tracked>| {
        if !g.sync_group_tracking_weight {
            for t in &mut v {
                t.weight = 0;
            }
        }
        v
    };
    (
        unweight(interface_refs(&g.track_interface)),
        unweight(script_refs(&g.track_script, scripts)),
    )
}

/// The names of the sync groups with a member in FAULT: every member of those is FAULT too
/// (keepalived: "Syncing instances to FAULT state").
pub fn faulted_groups<'a>(
    members: impl IntoIterator<Item = (Option<&'a str>, bool)>,
) -> Vec<&'a str> {
    let mut v: Vec<&str> = members
        .into_iter()
        .filter_map(|(g, fault)| if fault { g } else { None })
        .collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// What one tracker adds to the priority now: a positive weight while up, a negative one while
/// down, the sign flipped by `reverse`; weight 0 adds nothing (it faults instead).
pub fn delta(l: &Tracked) -> i64 {
    let w = i64::from(l.weight);
    let sign = if l.reverse { -1 } else { 1 };
    match l.weight {
        x if x > 0 && l.up => sign * w,
        x if x < 0 && !l.up => sign * w,
        _ => 0,
    }
}

/// (fault, effective priority). An address owner (255) keeps 255 (keepalived ignores tracking
/// weights for it); otherwise the result is clamped to 1..=254.
pub fn evaluate(base: u8, links: &[Tracked]) -> (bool, u8) {
    let fault = links.iter().any(|l| l.weight == 0 && l.up == l.reverse);
    let delta: i64 = links.iter().map(delta).sum();
    let prio = if base == 255 {
        255
    } else {
        (i64::from(base) + delta).clamp(1, 254) as u8
    };
    (fault, prio)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(weight: i32, reverse: bool, up: bool) -> Tracked {
        Tracked {
            name: "eth1".into(),
            weight,
            reverse,
            up,
        }
    }

    #[test]
    fn a_down_link_with_weight_zero_is_a_fault() {
        assert_eq!(evaluate(100, &[link(0, false, false)]), (true, 100));
        assert_eq!(evaluate(100, &[link(0, false, true)]), (false, 100));
    }

    #[test]
    fn reverse_with_weight_zero_faults_while_the_link_is_up() {
        assert_eq!(evaluate(100, &[link(0, true, true)]), (true, 100));
        assert_eq!(evaluate(100, &[link(0, true, false)]), (false, 100));
    }

    #[test]
    fn positive_weights_count_while_up_and_negative_ones_while_down() {
        assert_eq!(evaluate(100, &[link(10, false, true)]), (false, 110));
        assert_eq!(evaluate(100, &[link(10, false, false)]), (false, 100));
        assert_eq!(evaluate(100, &[link(-20, false, false)]), (false, 80));
        assert_eq!(evaluate(100, &[link(-20, false, true)]), (false, 100));
        assert_eq!(evaluate(100, &[link(10, true, true)]), (false, 90));
    }

    #[test]
    fn the_priority_is_clamped_and_an_owner_keeps_255() {
        assert_eq!(evaluate(250, &[link(20, false, true)]), (false, 254));
        assert_eq!(evaluate(10, &[link(-50, false, false)]), (false, 1));
        assert_eq!(evaluate(255, &[link(-50, false, false)]), (false, 255));
    }

    #[test]
    fn script_references_override_the_scripts_weight() {
        let mut vi = VrrpInstance::new("VI_1", 1);
        vi.track_script = vec![
            drift_model::TrackScriptRef {
                name: "chk".into(),
                weight: Some(-30),
                reverse: false,
            },
            drift_model::TrackScriptRef {
                name: "missing".into(),
                weight: None,
                reverse: false,
            },
        ];
        let mut s = VrrpScript::new("chk", "/bin/true");
        s.weight = 2;
        s.init_fail = true;
        let t = tracked_scripts(&vi, &[s]);
        assert_eq!(t.len(), 1);
        assert_eq!((t[0].weight, t[0].up), (-30, false));
        assert_eq!(evaluate(100, &t), (false, 70));
    }

    #[test]
    fn an_upstream_without_a_weight_faults_and_one_with_a_weight_lowers_the_priority() {
        let mut vi = VrrpInstance::new("VI_1", 1);
        vi.track_upstream = vec![
            drift_model::TrackRef {
                name: "web".into(),
                weight: None,
                reverse: false,
            },
            drift_model::TrackRef {
                name: "api".into(),
                weight: Some(-20),
                reverse: false,
            },
        ];
        let mut t = tracked_scripts(&vi, &[]);
        assert_eq!(evaluate(100, &t), (false, 100));
        t[1].up = false;
        assert_eq!(evaluate(100, &t), (false, 80));
        t[0].up = false;
        assert!(evaluate(100, &t).0);
    }

    #[test]
    fn a_fault_of_one_member_faults_its_group_only() {
        let members = [
            (Some("VG1"), false),
            (Some("VG1"), true),
            (Some("VG2"), false),
            (None, true),
        ];
        assert_eq!(faulted_groups(members), vec!["VG1"]);
    }

    #[test]
    fn group_tracker_weights_are_ignored_unless_sync_group_tracking_weight() {
        let mut g = SyncGroup {
            name: "VG1".into(),
            track_interface: vec![TrackInterface {
                name: "eth1".into(),
                weight: -10,
                reverse: false,
            }],
            ..SyncGroup::default()
        };
        assert_eq!(group_trackers(&g, &[]).0[0].weight, 0);
        g.sync_group_tracking_weight = true;
        assert_eq!(group_trackers(&g, &[]).0[0].weight, -10);
    }

    #[test]
    fn the_own_interface_is_tracked_unless_dont_track_primary() {
        let mut vi = VrrpInstance::new("VI_1", 1);
        vi.interface = Some("eth0".into());
        assert_eq!(tracked_links(&vi).len(), 1);
        vi.dont_track_primary = true;
        assert!(tracked_links(&vi).is_empty());
    }
}
