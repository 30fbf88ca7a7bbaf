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

use anyhow::{Context, Result};
use drift_model::Notify;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};
use tracing::{debug, warn};

use super::instance_trackers::{TrackerDefs, TrackerUpdate};
use super::notify_fifo::{self, Fifo, FifoConf};
use super::script_exec::{self, RunAs};
use super::script_security::{self as security, Verdict};
use super::smtp::{self, SmtpConf};
use super::track_script::{self, Prepared};
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
        let notify_user = security::default_user(g);
        let scripts = track_script::prepare_with(g, &notify_user, &config.vrrp_scripts);
        security::warn_unswitchable(&notify_user, scripts.iter().map(|p| p.run_as));
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
            notify_user,
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
        tokio::spawn(track_script::track_loop(s, tx.clone()));
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

/// The argument vector of a script line, or None when its quoting is broken.
pub fn argv(line: &str) -> Option<Vec<String>> {
    shlex::split(line).filter(|v| !v.is_empty())
}

/// keepalived: `notify_<state>` runs as written; `notify` gets `INSTANCE NAME STATE PRIORITY`
/// appended.
pub fn notify_commands(job: &NotifyJob) -> Vec<(&'static str, Vec<String>)> {
    let (keyword, per_state) = match job.state {
        "MASTER" => ("notify_master", &job.notify.master),
        "BACKUP" => ("notify_backup", &job.notify.backup),
        "FAULT" => ("notify_fault", &job.notify.fault),
        _ => ("notify_stop", &job.notify.stop),
    };
    let mut cmds = Vec::new();
    if let Some(v) = per_state.as_deref().and_then(argv) {
        cmds.push((keyword, v));
    }
    if let Some(mut v) = job.notify.notify.as_deref().and_then(argv) {
        v.extend([
            if job.group { "GROUP" } else { "INSTANCE" }.to_string(),
            job.instance.clone(),
            job.state.to_string(),
            job.priority.to_string(),
        ]);
        cmds.push(("notify", v));
    }
    cmds
}

/// Start the job's notify scripts as the notify user; keepalived's security rule applies as for
/// track scripts. They are fire-and-forget (reaped in the background, never timed out).
fn run_notify(setup: &Setup, job: &NotifyJob) {
    for (keyword, cmd) in notify_commands(job) {
        // Its own `username [groupname]` if the line has one, else the default script user.
        let own = job.notify.users.iter().find(|u| u.keyword == keyword);
        let run_as = match own.map(|u| security::lookup(&u.user, u.group.as_deref())) {
            Some(r) => r,
            None => setup.notify_user.clone(),
        };
        let run_as = match run_as {
            Ok(r) => r,
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

#[cfg(test)]
mod tests {
    use super::*;

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
                ("notify_master", argv("/bin/m arg").unwrap()),
                ("notify", argv("/bin/n INSTANCE VI_1 MASTER 100").unwrap())
            ]
        );
        let backup = NotifyJob {
            state: "BACKUP",
            ..job
        };
        assert_eq!(notify_commands(&backup).len(), 1);
    }
}
