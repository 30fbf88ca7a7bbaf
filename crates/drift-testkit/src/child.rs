//! A process started inside a test namespace, stopped by its pid on Drop.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// Owns a child process; on Drop sends SIGTERM, then SIGKILL after a grace period, and reaps it.
///
/// stdout/stderr are captured to files in a private temp dir: a test can print them with
/// [`logs`](Self::logs), and they are printed automatically when the guard drops during a panic.
#[derive(Debug)]
pub struct ChildGuard {
    child: Child,
    label: String,
    stdout_path: PathBuf,
    stderr_path: PathBuf,
    status: Option<ExitStatus>,
    _dir: tempfile::TempDir,
}

impl ChildGuard {
    pub(crate) fn spawn(ns: &str, program: &str, args: &[&str]) -> io::Result<ChildGuard> {
        ChildGuard::spawn_in(ns, program, args, new_dir()?)
    }

    /// Spawn with a caller-prepared private dir (config files, pid files) that lives as long as
    /// the guard.
    pub(crate) fn spawn_in(
        ns: &str,
        program: &str,
        args: &[&str],
        dir: tempfile::TempDir,
    ) -> io::Result<ChildGuard> {
        let stdout_path = dir.path().join("stdout");
        let stderr_path = dir.path().join("stderr");
        // `ip netns exec` execs the program after setns, so the pid we get is the program's own.
        let child = Command::new("ip")
            .args(["netns", "exec", ns, program])
            .args(args)
            .stdin(Stdio::null())
            .stdout(File::create(&stdout_path)?)
            .stderr(File::create(&stderr_path)?)
            .spawn()
            .map_err(|e| io::Error::new(e.kind(), format!("spawn {program} in {ns}: {e}")))?;
        Ok(ChildGuard {
            child,
            label: format!("{program} {} (netns {ns})", args.join(" ")),
            stdout_path,
            stderr_path,
            status: None,
            _dir: dir,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The guard's private directory (holds `stdout`, `stderr` and any files written for the process).
    pub fn dir(&self) -> &Path {
        self._dir.path()
    }

    pub fn stdout_path(&self) -> &Path {
        &self.stdout_path
    }

    pub fn stderr_path(&self) -> &Path {
        &self.stderr_path
    }

    /// Everything written to stdout so far.
    pub fn stdout(&self) -> String {
        std::fs::read_to_string(&self.stdout_path).unwrap_or_default()
    }

    /// Everything written to stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// A labelled dump of both streams, for failure messages.
    pub fn logs(&self) -> String {
        format!(
            "---- {} (pid {}) stdout ----\n{}\n---- stderr ----\n{}",
            self.label,
            self.pid(),
            self.stdout(),
            self.stderr()
        )
    }

    /// Send a signal (e.g. SIGHUP to make a daemon reload) to this process only.
    pub fn signal(&self, signal: Signal) -> io::Result<()> {
        if self.status.is_some() {
            return Err(io::Error::other(format!("{} already exited", self.label)));
        }
        let pid = i32::try_from(self.pid()).map_err(io::Error::other)?;
        kill(Pid::from_raw(pid), signal).map_err(io::Error::from)
    }

    /// The exit status if the process has exited (reaping it), else None.
    pub fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        if self.status.is_none() {
            self.status = self.child.try_wait()?;
        }
        Ok(self.status)
    }

    /// SIGTERM, wait up to `grace`, then SIGKILL; returns the exit status once reaped.
    pub fn stop(&mut self, grace: Duration) -> io::Result<ExitStatus> {
        if let Some(status) = self.try_wait()? {
            return Ok(status);
        }
        let _ = self.signal(Signal::SIGTERM);
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if let Some(status) = self.try_wait()? {
                return Ok(status);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.signal(Signal::SIGKILL);
        let status = self.child.wait()?;
        self.status = Some(status);
        Ok(status)
    }
}

pub(crate) fn new_dir() -> io::Result<tempfile::TempDir> {
    tempfile::Builder::new().prefix("drift-testkit-").tempdir()
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Err(e) = self.stop(Duration::from_secs(2)) {
            eprintln!("drift-testkit: stopping {}: {e}", self.label);
        }
        if std::thread::panicking() {
            eprintln!("{}", self.logs());
        }
    }
}
