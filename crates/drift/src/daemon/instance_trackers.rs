//! The scripts, processes and files one instance tracks, their latest states, and what they
//! make of its priority. Pure: the trackers thread sends [`TrackerUpdate`]s, the VRRP thread
//! applies them here and re-evaluates.

use drift_model::{SyncGroup, TrackFile, TrackProcess, TrackRef, VrrpInstance, VrrpScript};

use super::track_file;
use super::tracking::{self, Tracked};

/// A tracker changed (sent only on changes, plus each file's first reading).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrackerUpdate {
    Script { name: String, ok: bool },
    Process { name: String, ok: bool },
    File { name: String, value: i64 },
}

/// Every tracker definition of the configuration.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TrackerDefs {
    /// Only the scripts that may run (present, executable, secure, with a user).
    pub scripts: Vec<VrrpScript>,
    pub files: Vec<TrackFile>,
    pub processes: Vec<TrackProcess>,
}

/// A tracked file's reference: its weight applies to the file's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileTracked {
    pub name: String,
    pub weight: i32,
    pub reverse: bool,
    pub value: i64,
}

/// The trackers of one instance (its own and its sync group's).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Trackers {
    pub scripts: Vec<Tracked>,
    pub processes: Vec<Tracked>,
    pub files: Vec<FileTracked>,
}

fn resolve(r: &TrackRef, weight: i32, reverse: bool) -> (i32, bool) {
    match r.weight {
        Some(w) => (w, r.reverse),
        None => (weight, reverse),
    }
}

fn add_refs(t: &mut Trackers, procs: &[TrackRef], files: &[TrackRef], defs: &TrackerDefs) {
    for r in procs {
        if let Some(p) = defs.processes.iter().find(|p| p.name == r.name) {
            let (weight, reverse) = resolve(r, p.weight, p.reverse);
            t.processes.push(Tracked {
                name: p.name.clone(),
                weight,
                reverse,
                up: super::track_process::initial_ok(p),
            });
        }
    }
    for r in files {
        if let Some(f) = defs.files.iter().find(|f| f.name == r.name) {
            let (weight, reverse) = resolve(r, f.weight, f.reverse);
            t.files.push(FileTracked {
                name: f.name.clone(),
                weight,
                reverse,
                value: track_file::read_value(std::path::Path::new(&f.file)),
            });
        }
    }
}

impl Trackers {
    /// keepalived: the instance's references override the trackers' weights; a sync group's
    /// trackers apply to each member. Members of a sync group (unless
    /// `sync_group_tracking_weight`) track with weight 0 (keepalived sets such weights to zero,
    /// so a failure is a FAULT). An address owner (priority 255) drops every weighted tracker
    /// ("ignoring tracked script ... with weights due to address_owner").
    pub fn for_instance(vi: &VrrpInstance, group: Option<&SyncGroup>, defs: &TrackerDefs) -> Self {
        let mut t = Trackers {
            scripts: tracking::tracked_scripts(vi, &defs.scripts),
            ..Trackers::default()
        };
        add_refs(&mut t, &vi.track_process, &vi.track_file, defs);
        let unweighted = group.is_some_and(|g| !g.sync_group_tracking_weight);
        if unweighted {
            t.zero_weights();
        }
        if let Some(g) = group {
            let mut gt = Trackers {
                scripts: tracking::group_trackers(g, &defs.scripts).1,
                ..Trackers::default()
            };
            add_refs(&mut gt, &g.track_process, &g.track_file, defs);
            if unweighted {
                gt.zero_weights();
            }
            t.scripts.extend(gt.scripts);
            t.processes.extend(gt.processes);
            t.files.extend(gt.files);
        }
        if vi.priority == 255 {
            t.drop_weighted(&vi.name);
        }
        t
    }

    fn drop_weighted(&mut self, instance: &str) {
        let log = |kind: &str, name: &str| {
            tracing::warn!(
                "({instance}) ignoring tracked {kind} {name} with weights due to address_owner"
            )
        };
        self.scripts.retain(|x| {
            x.weight == 0 || {
                log("script", &x.name);
                false
            }
        });
        self.processes.retain(|x| {
            x.weight == 0 || {
                log("process", &x.name);
                false
            }
        });
        self.files.retain(|x| {
            x.weight == 0 || {
                log("file", &x.name);
                false
            }
        });
    }

    fn zero_weights(&mut self) {
        for x in self.scripts.iter_mut().chain(&mut self.processes) {
            x.weight = 0;
        }
        for f in &mut self.files {
            f.weight = 0;
        }
    }

    /// Record an update; true when it concerns this instance.
    pub fn apply(&mut self, u: &TrackerUpdate) -> bool {
        let mut hit = false;
        match u {
            TrackerUpdate::Script { name, ok } | TrackerUpdate::Process { name, ok } => {
                let list = if matches!(u, TrackerUpdate::Script { .. }) {
                    &mut self.scripts
                } else {
                    &mut self.processes
                };
                for t in list.iter_mut().filter(|t| t.name == *name) {
                    t.up = *ok;
                    hit = true;
                }
            }
            TrackerUpdate::File { name, value } => {
                for f in self.files.iter_mut().filter(|f| f.name == *name) {
                    f.value = *value;
                    hit = true;
                }
            }
        }
        hit
    }

    /// The names of trackers currently failing (for the FAULT log line).
    pub fn failing(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self
            .scripts
            .iter()
            .chain(&self.processes)
            .filter(|t| !t.up)
            .map(|t| t.name.as_str())
            .collect();
        v.extend(
            self.files
                .iter()
                .filter(|f| track_file::effect(f.value, f.weight, f.reverse).is_none_or(|d| d != 0))
                .map(|f| f.name.as_str()),
        );
        v
    }
}

/// (fault, effective priority) from links and every other tracker, clamped like
/// [`tracking::evaluate`].
pub fn evaluate(base: u8, links: &[Tracked], t: &Trackers) -> (bool, u8) {
    let all: Vec<Tracked> = links
        .iter()
        .chain(&t.scripts)
        .chain(&t.processes)
        .cloned()
        .collect();
    let (mut fault, _) = tracking::evaluate(base, &all);
    let mut delta: i64 = 0;
    for l in &all {
        delta += tracking::delta(l);
    }
    for f in &t.files {
        match track_file::effect(f.value, f.weight, f.reverse) {
            None => fault = true,
            Some(d) => delta += d,
        }
    }
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

    fn tracked(name: &str, weight: i32, up: bool) -> Tracked {
        Tracked {
            name: name.into(),
            weight,
            reverse: false,
            up,
        }
    }

    fn file(weight: i32, value: i64) -> FileTracked {
        FileTracked {
            name: "f".into(),
            weight,
            reverse: false,
            value,
        }
    }

    #[test]
    fn scripts_processes_and_files_all_add_to_the_priority() {
        let t = Trackers {
            scripts: vec![tracked("s", -20, false)],
            processes: vec![tracked("p", 5, true)],
            files: vec![file(2, 3)],
        };
        assert_eq!(evaluate(100, &[], &t), (false, 91));
    }

    #[test]
    fn a_file_below_minus_253_or_non_zero_with_weight_zero_is_a_fault() {
        let t = Trackers {
            files: vec![file(1, -300)],
            ..Trackers::default()
        };
        assert!(evaluate(100, &[], &t).0);
        let t = Trackers {
            files: vec![file(0, 1)],
            ..Trackers::default()
        };
        assert_eq!(evaluate(100, &[], &t), (true, 100));
        assert_eq!(t.failing(), vec!["f"]);
    }

    #[test]
    fn updates_reach_only_the_trackers_they_name() {
        let mut t = Trackers {
            scripts: vec![tracked("chk", 0, true)],
            processes: vec![tracked("chk", 0, true)],
            files: vec![file(1, 0)],
        };
        assert!(t.apply(&TrackerUpdate::Process {
            name: "chk".into(),
            ok: false
        }));
        assert!(t.scripts[0].up && !t.processes[0].up);
        assert!(t.apply(&TrackerUpdate::File {
            name: "f".into(),
            value: 9
        }));
        assert_eq!(t.files[0].value, 9);
        assert!(!t.apply(&TrackerUpdate::Script {
            name: "other".into(),
            ok: false
        }));
    }

    #[test]
    fn sync_group_members_track_with_weight_zero_and_owners_drop_weighted_trackers() {
        let mut vi = VrrpInstance::new("VI_1", 1);
        vi.track_script = vec![drift_model::TrackScriptRef {
            name: "chk".into(),
            weight: Some(-30),
            reverse: false,
        }];
        let defs = TrackerDefs {
            scripts: vec![VrrpScript::new("chk", "/bin/true")],
            ..TrackerDefs::default()
        };
        assert_eq!(
            Trackers::for_instance(&vi, None, &defs).scripts[0].weight,
            -30
        );
        let g = SyncGroup {
            name: "G".into(),
            group: vec!["VI_1".into()],
            ..SyncGroup::default()
        };
        assert_eq!(
            Trackers::for_instance(&vi, Some(&g), &defs).scripts[0].weight,
            0
        );
        let weighted = SyncGroup {
            sync_group_tracking_weight: true,
            ..g
        };
        assert_eq!(
            Trackers::for_instance(&vi, Some(&weighted), &defs).scripts[0].weight,
            -30
        );
        vi.priority = 255;
        assert!(
            Trackers::for_instance(&vi, None, &defs).scripts.is_empty(),
            "an owner ignores weighted trackers"
        );
        vi.track_script[0].weight = Some(0);
        assert_eq!(Trackers::for_instance(&vi, None, &defs).scripts.len(), 1);
    }
}
