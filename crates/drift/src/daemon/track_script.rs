//! Track scripts (`vrrp_script`): which may run and as whom, and their run loop with
//! keepalived's rise/fall rules. The loops run on the trackers thread ([`super::scripts`]).

use std::time::Duration;

use drift_model::{GlobalDefs, VrrpScript};
use tokio::sync::mpsc::UnboundedSender;
use tracing::{info, warn};

use super::instance_trackers::TrackerUpdate;
use super::script_exec::{self, RunAs};
use super::script_security::{self as security, Verdict};
use super::scripts::argv;

/// A track script ready to run.
#[derive(Debug, Clone, PartialEq)]
pub struct Prepared {
    pub script: VrrpScript,
    pub argv: Vec<String>,
    pub run_as: RunAs,
}

/// The track scripts that can run, each with its user. Like keepalived, a script is removed
/// when its program is missing or not executable, when its user (or the default script user
/// under `enable_script_security`) cannot be resolved, or when it would run as root from a
/// path a non-root user can modify and `enable_script_security` is on.
#[cfg(test)]
pub fn prepare(g: &GlobalDefs, scripts: &[VrrpScript]) -> Vec<Prepared> {
    prepare_with(g, &security::default_user(g), scripts)
}

/// [`prepare`] with the default script user already resolved (one NSS lookup at startup).
pub fn prepare_with(
    g: &GlobalDefs,
    default: &Result<RunAs, String>,
    scripts: &[VrrpScript],
) -> Vec<Prepared> {
    let mut out = Vec::new();
    let mut insecure_run = false;
    for s in scripts {
        match prepare_one(g, default, s) {
            Ok((p, insecure)) => {
                insecure_run |= insecure;
                out.push(p);
            }
            Err(e) => warn!("vrrp_script {}: {e}; disabled", s.name),
        }
    }
    if insecure_run {
        warn!(
            "SECURITY VIOLATION - scripts are being executed but script_security not enabled. \
             There are insecure scripts."
        );
    }
    out
}

fn prepare_one(
    g: &GlobalDefs,
    default: &Result<RunAs, String>,
    s: &VrrpScript,
) -> Result<(Prepared, bool), String> {
    let argv = argv(&s.script).ok_or_else(|| format!("cannot split `{}`", s.script))?;
    let run_as = match &s.user {
        Some(u) => security::lookup(u, s.group.as_deref())?,
        None => default.clone()?,
    };
    let program = security::resolve_program(&argv[0])
        .ok_or_else(|| format!("`{}` not found or not executable", argv[0]))?;
    let insecure = match security::check(&program, run_as)? {
        Verdict::Safe => false,
        Verdict::Insecure { component } if g.enable_script_security => {
            return Err(format!(
                "unsafe permissions: '{}' can be modified by a non-root user and the script \
                 runs as root (enable_script_security)",
                component.display()
            ))
        }
        Verdict::Insecure { component } => {
            warn!(
                "vrrp_script {}: unsafe permissions found for '{}'",
                s.name,
                component.display()
            );
            true
        }
    };
    Ok((
        Prepared {
            script: s.clone(),
            argv,
            run_as,
        },
        insecure,
    ))
}

/// A track script's reported state under keepalived's rise/fall rules.
#[derive(Debug, Clone, Default)]
pub struct Hysteresis {
    /// None until the first result (instances treat the script as not failing meanwhile).
    known: Option<bool>,
    streak: u32,
}

impl Hysteresis {
    /// keepalived: `init_fail` starts failed (so `rise` successes are needed); otherwise the
    /// first result decides at once.
    pub fn new(init_fail: bool) -> Self {
        Hysteresis {
            known: init_fail.then_some(false),
            streak: 0,
        }
    }

    /// Record one result; the new state when it is reported (changed, or the first result).
    pub fn record(&mut self, result: bool, rise: u32, fall: u32) -> Option<bool> {
        let Some(ok) = self.known else {
            self.known = Some(result);
            return Some(result);
        };
        if result == ok {
            self.streak = 0;
            return None;
        }
        self.streak += 1;
        if self.streak >= if ok { fall } else { rise }.max(1) {
            self.streak = 0;
            self.known = Some(!ok);
            return Some(!ok);
        }
        None
    }
}

pub async fn track_loop(p: Prepared, tx: UnboundedSender<TrackerUpdate>) {
    let s = &p.script;
    let mut state = Hysteresis::new(s.init_fail);
    let mut tick = tokio::time::interval(s.interval.max(MIN_INTERVAL));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let outcome =
            script_exec::run_checked(&p.argv, Some(p.run_as), s.timeout.max(MIN_INTERVAL)).await;
        if outcome == script_exec::Outcome::TimedOut {
            info!("VRRP_Script({}) timed out", s.name);
        }
        if let Some(ok) = state.record(outcome.success(), s.rise, s.fall) {
            info!(
                "VRRP_Script({}) {}",
                s.name,
                if ok { "succeeded" } else { "failed" }
            );
            let upd = TrackerUpdate::Script {
                name: s.name.clone(),
                ok,
            };
            if tx.send(upd).is_err() {
                return;
            }
        }
    }
}

/// The shortest interval and timeout a track script gets (issue 8's sub-second checks).
const MIN_INTERVAL: Duration = Duration::from_millis(10);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_or_non_executable_scripts_are_disabled() {
        let plain = tempfile::NamedTempFile::new().unwrap();
        let plain = plain.path().display().to_string();
        let scripts = [
            VrrpScript::new("ok", "/bin/true"),
            VrrpScript::new("path", "true --flag"),
            VrrpScript::new("missing", "/nonexistent/check.sh"),
            VrrpScript::new("not_exec", plain.as_str()),
        ];
        let g = GlobalDefs {
            script_user: Some(drift_model::ScriptUser {
                user: "root".into(),
                group: None,
            }),
            ..GlobalDefs::default()
        };
        let names: Vec<_> = prepare(&g, &scripts)
            .into_iter()
            .map(|p| p.script.name)
            .collect();
        assert_eq!(names, vec!["ok", "path"]);
    }

    #[test]
    fn an_insecure_script_is_disabled_only_under_script_security() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("check.sh");
        std::fs::write(&path, "#!/bin/sh\nexit 0\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o777)).unwrap();
        let scripts = [VrrpScript::new("chk", path.display().to_string())];
        let mut g = GlobalDefs {
            script_user: Some(drift_model::ScriptUser {
                user: "root".into(),
                group: None,
            }),
            ..GlobalDefs::default()
        };
        assert_eq!(prepare(&g, &scripts).len(), 1, "runs, with a warning");
        g.enable_script_security = true;
        assert!(prepare(&g, &scripts).is_empty());
    }

    #[test]
    fn a_script_with_an_unknown_user_is_disabled() {
        let mut s = VrrpScript::new("chk", "/bin/true");
        s.user = Some("no-such-user-drift".into());
        assert!(prepare(&GlobalDefs::default(), &[s]).is_empty());
    }

    #[test]
    fn a_script_fails_after_fall_failures_and_recovers_after_rise_successes() {
        let mut h = Hysteresis::new(false);
        assert_eq!(
            h.record(true, 2, 3),
            Some(true),
            "the first result is reported"
        );
        assert_eq!(h.record(false, 2, 3), None);
        assert_eq!(h.record(false, 2, 3), None, "two failures of three needed");
        assert_eq!(h.record(false, 2, 3), Some(false));
        assert_eq!(h.record(true, 2, 3), None);
        assert_eq!(h.record(false, 2, 3), None);
        assert_eq!(
            h.record(true, 2, 3),
            None,
            "an interrupted streak starts again"
        );
        assert_eq!(h.record(true, 2, 3), Some(true));
    }

    #[test]
    fn the_first_result_decides_at_once_like_keepalived() {
        let mut h = Hysteresis::new(false);
        assert_eq!(
            h.record(false, 2, 3),
            Some(false),
            "no fall streak from the start"
        );
        assert_eq!(h.record(true, 2, 3), None);
        assert_eq!(h.record(true, 2, 3), Some(true));
    }

    #[test]
    fn init_fail_needs_rise_successes() {
        let mut h = Hysteresis::new(true);
        assert_eq!(h.record(true, 2, 3), None);
        assert_eq!(h.record(true, 2, 3), Some(true));
        let mut h = Hysteresis::new(true);
        assert_eq!(
            h.record(false, 2, 3),
            None,
            "still failed, nothing to report"
        );
    }
}
