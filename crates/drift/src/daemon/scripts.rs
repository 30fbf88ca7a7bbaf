//! The trackers thread: track scripts (`vrrp_script`), `track_file`, `vrrp_track_process`, and
//! every notification (notify scripts, notify FIFOs, SMTP alerts). Forking, waiting for
//! children, reading /proc and talking to a mail server must never delay the VRRP thread's
//! adverts, so all of it happens here; only tracker state changes go back.
//!
//! Scripts are run like keepalived 2.2 does: the command line is split like a shell would
//! (quotes honoured) and executed directly, without a shell, in its own process group, as its
//! user ([`script_security`]). A track script succeeds when it exits 0 before its `timeout`;
//! its state flips to failed after `fall` consecutive failures and back after `rise`
//! consecutive successes. drift accepts `interval`/`timeout` fractions (down to 0.05 s);
//! keepalived 2.2.7 refuses anything but whole seconds.

use std::time::Duration;

use anyhow::{Context, Result};
use drift_model::{GlobalDefs, Notify, VrrpScript};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};
use tracing::{debug, info, warn};

use super::instance_trackers::{TrackerDefs, TrackerUpdate};
use super::notify_fifo::{self, Fifo, FifoConf};
use super::script_exec::{self, RunAs};
use super::script_security::{self as security, Verdict};
use super::smtp::{self, SmtpConf};
use super::{track_file, track_process};

/// A boolean tracker changed (used by the proxy's `track_upstream` feed, which shares the
/// script path).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptStatus {
    pub name: String,
    pub ok: bool,
}

/// A notification to send: keepalived's per-state script, the generic `notify` one, the FIFO
/// line and the mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifyJob {
    pub instance: String,
    pub notify: Notify,
    /// `MASTER`, `BACKUP`, `FAULT` or `STOP`.
    pub state: &'static str,
    pub priority: u8,
    /// A `vrrp_sync_group`'s notify (`GROUP` instead of `INSTANCE` for the generic script).
    pub group: bool,
    /// The instance's `smtp_alert`.
    pub smtp_alert: bool,
}

enum Msg {
    Notify(Box<NotifyJob>),
    Finish,
}

/// A track script ready to run.
#[derive(Debug, Clone, PartialEq)]
pub struct Prepared {
    pub script: VrrpScript,
    pub argv: Vec<String>,
    pub run_as: RunAs,
}

/// What the trackers thread runs, resolved from the configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Setup {
    pub scripts: Vec<Prepared>,
    pub defs: TrackerDefs,
    /// Notify scripts' user, or why they cannot run.
    pub notify_user: Result<RunAs, String>,
    pub script_security: bool,
    pub fifos: Vec<FifoConf>,
    pub smtp: Option<SmtpConf>,
}

impl Setup {
    pub fn new(config: &drift_model::Config) -> Setup {
        let g = &config.global_defs;
        let scripts = prepare(g, &config.vrrp_scripts);
        for f in &config.track_files {
            track_file::init_file(f);
        }
        Setup {
            defs: TrackerDefs {
                scripts: scripts.iter().map(|p| p.script.clone()).collect(),
                files: config.track_files.clone(),
                processes: config.track_processes.clone(),
            },
            scripts,
            notify_user: security::default_user(g),
            script_security: g.enable_script_security,
            fifos: notify_fifo::from_globals(&g.extra),
            smtp: SmtpConf::from_globals(g),
        }
    }
}

/// The trackers thread, seen from the VRRP thread.
pub struct Scripts {
    tx: UnboundedSender<Msg>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Scripts {
    /// Start the thread, every tracker and the notify FIFOs; changes arrive on the receiver.
    pub fn start(setup: Setup) -> Result<(Scripts, UnboundedReceiver<TrackerUpdate>)> {
        let (tx, rx) = unbounded_channel::<Msg>();
        let (status_tx, status_rx) = unbounded_channel();
        let thread = std::thread::Builder::new()
            .name("scripts".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        warn!("scripts thread: no runtime, trackers and notify disabled: {e}");
                        return;
                    }
                };
                rt.block_on(serve(setup, rx, status_tx));
            })
            .context("spawn the scripts thread")?;
        Ok((
            Scripts {
                tx,
                thread: Some(thread),
            },
            status_rx,
        ))
    }

    pub fn notify(&self, job: NotifyJob) {
        let _ = self.tx.send(Msg::Notify(Box::new(job)));
    }

    /// Run the queued notifications, stop the trackers, close the FIFOs, and wait.
    pub fn finish(&mut self) {
        let _ = self.tx.send(Msg::Finish);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn serve(setup: Setup, mut rx: UnboundedReceiver<Msg>, tx: UnboundedSender<TrackerUpdate>) {
    for s in setup.scripts.clone() {
        tokio::spawn(track_loop(s, tx.clone()));
    }
    tokio::spawn(track_file::watch(setup.defs.files.clone(), tx.clone()));
    tokio::spawn(track_process::watch(
        setup.defs.processes.clone(),
        tx.clone(),
    ));
    let mut fifos = Vec::new();
    for conf in &setup.fifos {
        let run_as = match &conf.user {
            Some((u, g)) => security::lookup(u, g.as_deref()).ok(),
            None => setup.notify_user.clone().ok(),
        };
        match Fifo::open(conf, run_as) {
            Ok(f) => fifos.push(f),
            Err(e) => warn!("notify FIFO not used: {e}"),
        }
    }
    let mut mailed: std::collections::HashMap<String, &'static str> = Default::default();
    while let Some(m) = rx.recv().await {
        let job = match m {
            Msg::Notify(job) => job,
            Msg::Finish => break,
        };
        run_notify(&setup, &job);
        let kind = if job.group { "GROUP" } else { "INSTANCE" };
        for f in &mut fifos {
            f.write(&notify_fifo::line(
                kind,
                &job.instance,
                job.state,
                job.priority,
            ));
        }
        if let (Some(conf), true) = (&setup.smtp, job.smtp_alert) {
            let key = format!("{kind} {}", job.instance);
            let repeat = mailed.insert(key, job.state) == Some(job.state);
            let skip = repeat || (conf.no_email_faults && job.state == "FAULT");
            let mail = if job.group {
                smtp::group_mail(&conf.router_id, &job.instance, job.state)
            } else {
                smtp::instance_mail(&conf.router_id, &job.instance, job.state)
            };
            if let (false, Some((subject, body))) = (skip, mail) {
                smtp::send(conf, subject, body);
            }
        }
    }
    for f in fifos {
        f.close().await;
    }
}

/// The track scripts that can run, each with its user. Like keepalived, a script is removed
/// when its program is missing or not executable, when its user (or the default script user
/// under `enable_script_security`) cannot be resolved, or when it would run as root from a
/// path a non-root user can modify and `enable_script_security` is on.
pub fn prepare(g: &GlobalDefs, scripts: &[VrrpScript]) -> Vec<Prepared> {
    let default = security::default_user(g);
    let mut out = Vec::new();
    let mut insecure_run = false;
    for s in scripts {
        match prepare_one(g, &default, s) {
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

/// The argument vector of a script line, or None when its quoting is broken.
pub fn argv(line: &str) -> Option<Vec<String>> {
    shlex::split(line).filter(|v| !v.is_empty())
}

/// keepalived: `notify_<state>` runs as written; `notify` gets `INSTANCE NAME STATE PRIORITY`
/// appended.
pub fn notify_commands(job: &NotifyJob) -> Vec<Vec<String>> {
    let per_state = match job.state {
        "MASTER" => &job.notify.master,
        "BACKUP" => &job.notify.backup,
        "FAULT" => &job.notify.fault,
        _ => &job.notify.stop,
    };
    let mut cmds = Vec::new();
    if let Some(v) = per_state.as_deref().and_then(argv) {
        cmds.push(v);
    }
    if let Some(mut v) = job.notify.notify.as_deref().and_then(argv) {
        v.extend([
            if job.group { "GROUP" } else { "INSTANCE" }.to_string(),
            job.instance.clone(),
            job.state.to_string(),
            job.priority.to_string(),
        ]);
        cmds.push(v);
    }
    cmds
}

/// Start the job's notify scripts as the notify user; keepalived's security rule applies as for
/// track scripts. They are fire-and-forget (reaped in the background, never timed out).
fn run_notify(setup: &Setup, job: &NotifyJob) {
    for cmd in notify_commands(job) {
        let run_as = match &setup.notify_user {
            Ok(r) => *r,
            Err(e) => {
                warn!(
                    "VRRP_Instance({}) notify script {:?} not run: {e}",
                    job.instance, cmd[0]
                );
                continue;
            }
        };
        let Some(program) = security::resolve_program(&cmd[0]) else {
            warn!(
                "VRRP_Instance({}) notify script {:?} not found or not executable",
                job.instance, cmd[0]
            );
            continue;
        };
        match security::check(&program, run_as) {
            Ok(Verdict::Safe) => {}
            Ok(Verdict::Insecure { component }) if setup.script_security => {
                warn!(
                    "VRRP_Instance({}) notify script {:?} not run: unsafe permissions on '{}'",
                    job.instance,
                    cmd[0],
                    component.display()
                );
                continue;
            }
            Ok(Verdict::Insecure { component }) => warn!(
                "SECURITY VIOLATION - notify script {:?} runs as root from '{}', writable by non-root",
                cmd[0],
                component.display()
            ),
            Err(e) => {
                warn!("VRRP_Instance({}) notify script {:?}: {e}", job.instance, cmd[0]);
                continue;
            }
        }
        debug!("VRRP_Instance({}) notify: {cmd:?}", job.instance);
        match script_exec::command(&cmd, Some(run_as)).map(|mut c| c.spawn()) {
            Some(Ok(mut child)) => {
                tokio::spawn(async move {
                    let _ = child.wait().await;
                });
            }
            Some(Err(e)) => warn!(
                "VRRP_Instance({}) cannot run notify script {:?}: {e}",
                job.instance, cmd[0]
            ),
            None => {}
        }
    }
}

/// rise/fall hysteresis: the state after one more result.
pub fn next_state(ok: bool, result: bool, streak: &mut u32, rise: u32, fall: u32) -> bool {
    if result == ok {
        *streak = 0;
        return ok;
    }
    *streak += 1;
    let needed = if ok { fall } else { rise }.max(1);
    if *streak >= needed {
        *streak = 0;
        !ok
    } else {
        ok
    }
}

async fn track_loop(p: Prepared, tx: UnboundedSender<TrackerUpdate>) {
    let s = &p.script;
    let mut ok = !s.init_fail;
    let mut streak = 0;
    let mut tick = tokio::time::interval(s.interval.max(MIN_INTERVAL));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let outcome =
            script_exec::run_checked(&p.argv, Some(p.run_as), s.timeout.max(MIN_INTERVAL)).await;
        if outcome == script_exec::Outcome::TimedOut {
            info!("VRRP_Script({}) timed out", s.name);
        }
        let new = next_state(ok, outcome.success(), &mut streak, s.rise, s.fall);
        if new != ok {
            ok = new;
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
    fn script_lines_are_split_like_a_shell_without_running_one() {
        assert_eq!(
            argv(r#"/bin/check "a b" c"#).unwrap(),
            vec!["/bin/check", "a b", "c"]
        );
        assert_eq!(argv("  "), None);
        assert_eq!(argv(r#"/bin/x "unclosed"#), None);
    }

    #[test]
    fn generic_notify_gets_instance_name_state_and_priority_appended() {
        let job = NotifyJob {
            instance: "VI_1".into(),
            notify: Notify {
                master: Some("/bin/m arg".into()),
                notify: Some("/bin/n".into()),
                ..Notify::default()
            },
            state: "MASTER",
            priority: 100,
            group: false,
            smtp_alert: false,
        };
        assert_eq!(
            notify_commands(&job),
            vec![
                vec!["/bin/m", "arg"],
                vec!["/bin/n", "INSTANCE", "VI_1", "MASTER", "100"]
            ]
        );
        let backup = NotifyJob {
            state: "BACKUP",
            ..job
        };
        assert_eq!(notify_commands(&backup).len(), 1);
    }

    #[test]
    fn a_script_fails_after_fall_failures_and_recovers_after_rise_successes() {
        let mut streak = 0;
        let mut ok = true;
        ok = next_state(ok, false, &mut streak, 2, 3);
        ok = next_state(ok, false, &mut streak, 2, 3);
        assert!(ok, "two failures of three needed");
        ok = next_state(ok, false, &mut streak, 2, 3);
        assert!(!ok);
        ok = next_state(ok, true, &mut streak, 2, 3);
        assert!(!ok);
        ok = next_state(ok, false, &mut streak, 2, 3);
        ok = next_state(ok, true, &mut streak, 2, 3);
        assert!(!ok, "an interrupted streak starts again");
        ok = next_state(ok, true, &mut streak, 2, 3);
        assert!(ok);
    }
}
