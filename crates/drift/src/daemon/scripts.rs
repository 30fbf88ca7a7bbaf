//! Track scripts (`vrrp_script`) and notify scripts, on their own thread: forking and waiting
//! for children must never delay the VRRP thread's adverts.
//!
//! Scripts are run like keepalived 2.2 does: the command line is split like a shell would
//! (quotes honoured) and executed directly, without a shell. A track script succeeds when it
//! exits 0 before its `timeout`; its state flips to failed after `fall` consecutive failures and
//! back after `rise` consecutive successes. Only flips are reported to the VRRP thread.

use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, Result};
use drift_model::{Notify, VrrpScript};
use tokio::process::Command;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};
use tracing::{debug, info, warn};

/// A track script changed state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptStatus {
    pub name: String,
    pub ok: bool,
}

/// A notify to run: keepalived's per-state script and/or the generic `notify` one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifyJob {
    pub instance: String,
    pub notify: Notify,
    /// `MASTER`, `BACKUP`, `FAULT` or `STOP`.
    pub state: &'static str,
    pub priority: u8,
    /// A `vrrp_sync_group`'s notify (`GROUP` instead of `INSTANCE` for the generic script).
    pub group: bool,
}

enum Msg {
    Notify(Box<NotifyJob>),
    Finish,
}

/// The VRRP thread's end of the scripts thread.
pub struct Scripts {
    tx: UnboundedSender<Msg>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Scripts {
    /// Start the thread and every track script's loop; status flips arrive on the receiver.
    pub fn start(scripts: Vec<VrrpScript>) -> Result<(Scripts, UnboundedReceiver<ScriptStatus>)> {
        let (tx, mut rx) = unbounded_channel::<Msg>();
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
                        warn!("scripts thread: no runtime, scripts disabled: {e}");
                        return;
                    }
                };
                rt.block_on(async move {
                    for s in scripts {
                        tokio::spawn(track_loop(s, status_tx.clone()));
                    }
                    while let Some(m) = rx.recv().await {
                        match m {
                            Msg::Notify(job) => run_notify(&job),
                            Msg::Finish => break,
                        }
                    }
                });
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

    /// Start the queued notify scripts, stop the track scripts, and wait for the thread.
    pub fn finish(&mut self) {
        let _ = self.tx.send(Msg::Finish);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The track scripts that can run. keepalived disables (does not track) a `vrrp_script` whose
/// program is missing or not executable at load time; `drift check` warns about the same.
pub fn usable(scripts: &[VrrpScript]) -> Vec<VrrpScript> {
    scripts
        .iter()
        .filter(|s| {
            let ok = argv(&s.script).is_some_and(|v| executable(&v[0]));
            if !ok {
                warn!(
                    "vrrp_script {}: `{}` not found or not executable; disabled",
                    s.name, s.script
                );
            }
            ok
        })
        .cloned()
        .collect()
}

/// Whether `program` names an executable file (directly with a `/`, else through `$PATH`).
fn executable(program: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let is_exec = |p: &std::path::Path| {
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if program.contains('/') {
        return is_exec(std::path::Path::new(program));
    }
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| is_exec(&dir.join(program))))
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

fn run_notify(job: &NotifyJob) {
    for cmd in notify_commands(job) {
        debug!("VRRP_Instance({}) notify: {cmd:?}", job.instance);
        match Command::new(&cmd[0])
            .args(&cmd[1..])
            .stdin(Stdio::null())
            .spawn()
        {
            // Reap it in the background; notify scripts are fire-and-forget.
            Ok(mut child) => {
                tokio::spawn(async move {
                    let _ = child.wait().await;
                });
            }
            Err(e) => warn!(
                "VRRP_Instance({}) cannot run notify script {:?}: {e}",
                job.instance, cmd[0]
            ),
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

async fn track_loop(s: VrrpScript, tx: UnboundedSender<ScriptStatus>) {
    let Some(cmd) = argv(&s.script) else {
        warn!("vrrp_script {}: cannot split `{}`", s.name, s.script);
        return;
    };
    let mut ok = !s.init_fail;
    let mut streak = 0;
    let mut tick = tokio::time::interval(s.interval.max(Duration::from_millis(10)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let result = run_once(&cmd, s.timeout).await;
        let new = next_state(ok, result, &mut streak, s.rise, s.fall);
        if new != ok {
            ok = new;
            info!(
                "VRRP_Script({}) {}",
                s.name,
                if ok { "succeeded" } else { "failed" }
            );
            if tx
                .send(ScriptStatus {
                    name: s.name.clone(),
                    ok,
                })
                .is_err()
            {
                return;
            }
        }
    }
}

/// Exit 0 within `timeout`: success. A script still running is killed and counts as failed.
async fn run_once(cmd: &[String], timeout: Duration) -> bool {
    let child = Command::new(&cmd[0])
        .args(&cmd[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => {
            debug!("track script {:?} cannot start: {e}", cmd[0]);
            return false;
        }
    };
    match tokio::time::timeout(timeout.max(Duration::from_millis(10)), child.wait()).await {
        Ok(Ok(status)) => status.success(),
        Ok(Err(_)) => false,
        Err(_) => {
            let _ = child.kill().await;
            false
        }
    }
}

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
        let names: Vec<_> = usable(&scripts).into_iter().map(|s| s.name).collect();
        assert_eq!(names, vec!["ok", "path"]);
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
