//! Running one script: as its user, in its own process group, with a deadline.
//!
//! keepalived runs each script in a new process group (setpgid in the child) so that when a
//! track script overruns its `timeout` the whole group, children the script forked included,
//! can be signalled: SIGTERM first, SIGKILL if the group is still there shortly after. The
//! script counts as failed. The direct child is always waited for (no zombie); grandchildren
//! are killed with the group and reaped by whoever inherits them (init or a subreaper).

use std::process::Stdio;
use std::time::Duration;

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tokio::process::{Child, Command};
use tracing::debug;

/// Who a script runs as (keepalived: the script's `user`, else `script_user`, else
/// `keepalived_script` if it exists, else the daemon's own uid/gid).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunAs {
    pub uid: u32,
    pub gid: u32,
}

/// How long a timed-out group gets between SIGTERM and SIGKILL.
const TERM_GRACE: Duration = Duration::from_millis(200);

/// Prepare `argv` to run in its own process group as `run_as`, stdin from /dev/null.
pub fn command(argv: &[String], run_as: Option<RunAs>) -> Option<Command> {
    let (prog, args) = argv.split_first()?;
    let mut c = Command::new(prog);
    c.args(args).stdin(Stdio::null()).process_group(0);
    if let Some(r) = run_as {
        // std drops supplementary groups (setgroups(0)) when root changes uid.
        c.uid(r.uid).gid(r.gid);
    }
    Some(c)
}

/// The result of one run of a track script.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Exited; `true` when with status 0.
    Exited(bool),
    /// Still running at the deadline: its process group was killed.
    TimedOut,
    /// Could not be started (missing, not executable, bad user).
    NotStarted,
}

impl Outcome {
    pub fn success(self) -> bool {
        self == Outcome::Exited(true)
    }
}

/// Run a track script to completion or its deadline. Output is discarded like keepalived's.
pub async fn run_checked(argv: &[String], run_as: Option<RunAs>, timeout: Duration) -> Outcome {
    let Some(mut cmd) = command(argv, run_as) else {
        return Outcome::NotStarted;
    };
    // A check still running when the trackers stop (reload, shutdown) is killed, not orphaned.
    cmd.stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            debug!("script {:?} cannot start: {e}", argv[0]);
            return Outcome::NotStarted;
        }
    };
    match tokio::time::timeout(timeout, child.wait()).await {
        Ok(Ok(status)) => Outcome::Exited(status.success()),
        Ok(Err(_)) => Outcome::Exited(false),
        Err(_) => {
            kill_group(&mut child).await;
            Outcome::TimedOut
        }
    }
}

/// SIGTERM the child's process group, SIGKILL it after a grace period, and reap the child.
pub async fn kill_group(child: &mut Child) {
    let Some(pid) = child.id().and_then(|p| i32::try_from(p).ok()) else {
        return; // already reaped
    };
    let pgid = Pid::from_raw(pid);
    let _ = killpg(pgid, Signal::SIGTERM);
    let exited = tokio::time::timeout(TERM_GRACE, child.wait()).await.is_ok();
    // Children the script forked may outlive it (or ignore SIGTERM): the group goes either way.
    // The group id stays reserved while any member lives, so this cannot hit another group.
    let _ = killpg(pgid, Signal::SIGKILL);
    if !exited {
        let _ = child.wait().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Vec<String> {
        vec!["/bin/sh".into(), "-c".into(), script.into()]
    }

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn exit_status_zero_is_success_and_anything_else_failure() {
        let rt = rt();
        let t = Duration::from_secs(5);
        assert_eq!(
            rt.block_on(run_checked(&sh("exit 0"), None, t)),
            Outcome::Exited(true)
        );
        assert_eq!(
            rt.block_on(run_checked(&sh("exit 3"), None, t)),
            Outcome::Exited(false)
        );
        let missing = vec!["/nonexistent/check".to_string()];
        assert_eq!(
            rt.block_on(run_checked(&missing, None, t)),
            Outcome::NotStarted
        );
    }

    #[test]
    fn a_timed_out_script_is_killed_with_the_children_it_forked() {
        let rt = rt();
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("sleeper.pid");
        // The script forks a sleeper, records its pid, and waits for it.
        let script = format!("sleep 30 & echo $! > {}; wait", pidfile.display());
        let started = std::time::Instant::now();
        let out = rt.block_on(run_checked(&sh(&script), None, Duration::from_millis(300)));
        assert_eq!(out, Outcome::TimedOut);
        assert!(started.elapsed() < Duration::from_secs(10));
        let pid: i32 = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        // The sleeper was in the script's group: it is gone (or at worst a zombie of init).
        let gone = (0..100).any(|_| {
            let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok();
            let dead = state.is_none_or(|s| s.contains(") Z "));
            if !dead {
                std::thread::sleep(Duration::from_millis(20));
            }
            dead
        });
        assert!(
            gone,
            "the forked sleeper {pid} survived its script's timeout"
        );
    }
}
