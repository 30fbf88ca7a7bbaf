//! The demo's own network namespaces.
//!
//! Names are `drift-demo-<pid>-<role>`: the pid of the demo that created them lets a later run
//! tell a crashed run's leftovers (owner dead) from a demo that is still running, so two demos
//! can run side by side and a SIGKILLed one is cleaned up by the next. Nothing is ever created
//! in, or moved out to, the caller's namespace.
//!
//! This is a deliberately small copy of what drift-testkit does for the tests, not a use of it:
//! the testkit panics on setup errors (right for a test, wrong for a shipped command) and its
//! 15-byte `dr…` names are made for interface names, which the demo does not need.

use std::fs::File;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use nix::sched::{setns, CloneFlags};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// Every namespace the demo creates starts with this; nothing else is ever deleted.
pub const PREFIX: &str = "drift-demo-";

/// A namespace owned by this demo; on Drop every process inside is killed by pid and the
/// namespace deleted.
#[derive(Debug)]
pub struct Ns {
    name: String,
}

impl Ns {
    /// `drift-demo-<our pid>-<role>`, with `lo` up.
    pub fn create(role: &str) -> Result<Ns> {
        let name = format!("{PREFIX}{}-{role}", std::process::id());
        run(Command::new("ip").args(["netns", "add", &name]))?;
        // From here on Drop removes it, also if the rest of the setup fails.
        let ns = Ns { name };
        ns.ip(&["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// `ip -n NAME args…`; stdout, or an error with the command and its stderr.
    pub fn ip(&self, args: &[&str]) -> Result<String> {
        run(Command::new("ip").args(["-n", &self.name]).args(args))
    }

    /// A thread that has entered this namespace (`setns` switches only the calling thread, and
    /// a socket belongs to the namespace of the thread that created it).
    pub fn thread<F>(&self, label: &str, f: F) -> Result<std::thread::JoinHandle<()>>
    where
        F: FnOnce() + Send + 'static,
    {
        let path = format!("/run/netns/{}", self.name);
        let file = File::open(&path).with_context(|| format!("open {path}"))?;
        let name = self.name.clone();
        std::thread::Builder::new()
            .name(label.into())
            .spawn(move || match setns(&file, CloneFlags::CLONE_NEWNET) {
                Ok(()) => f(),
                Err(e) => eprintln!("drift demo: cannot enter {name}: {e}"),
            })
            .with_context(|| format!("spawn thread {label}"))
    }
}

impl Drop for Ns {
    fn drop(&mut self) {
        remove(&self.name);
    }
}

/// The pid in a demo namespace name, or None for names the demo did not make.
pub fn owner_pid(name: &str) -> Option<u32> {
    let rest = name.strip_prefix(PREFIX)?;
    let (pid, role) = rest.split_once('-')?;
    if role.is_empty() {
        return None;
    }
    pid.parse().ok()
}

/// Delete demo namespaces whose owner is dead (killing, by pid, what still runs inside);
/// returns their names. A live owner's namespaces are left alone.
pub fn cleanup_stale() -> Vec<String> {
    let Ok(entries) = std::fs::read_dir("/run/netns") else {
        return Vec::new();
    };
    let mut removed = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = owner_pid(&name) else {
            continue;
        };
        if pid_alive(pid) {
            continue;
        }
        if remove(&name) {
            removed.push(name);
        }
    }
    removed.sort();
    removed
}

/// Names of the namespaces a demo with owner `pid` left (for tests and the final check).
pub fn of_owner(pid: u32) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir("/run/netns") else {
        return Vec::new();
    };
    entries
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| owner_pid(n) == Some(pid))
        .collect()
}

fn pid_alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// Kill every process in `name` by pid (the list comes from the namespace itself, so nothing
/// outside it is touched), then delete the namespace. Returns whether it is gone.
fn remove(name: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let pids = pids_in(name);
        if pids.is_empty() || Instant::now() > deadline {
            break;
        }
        for pid in pids {
            if let Ok(raw) = i32::try_from(pid) {
                let _ = kill(Pid::from_raw(raw), Signal::SIGKILL);
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    match run(Command::new("ip").args(["netns", "del", name])) {
        Ok(_) => true,
        Err(e) => {
            eprintln!("drift demo: {e:#}");
            false
        }
    }
}

fn pids_in(name: &str) -> Vec<u32> {
    Command::new("ip")
        .args(["netns", "pids", name])
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

pub fn run(cmd: &mut Command) -> Result<String> {
    let out = cmd
        .output()
        .with_context(|| format!("cannot run {cmd:?}"))?;
    if !out.status.success() {
        bail!(
            "{cmd:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_pid_reads_the_pid_of_demo_names_only() {
        assert_eq!(owner_pid("drift-demo-4242-node1"), Some(4242));
        assert_eq!(owner_pid("drift-demo-4242-"), None);
        assert_eq!(owner_pid("drift-demo-x-node1"), None);
        assert_eq!(owner_pid("drift-demo-4242"), None);
        assert_eq!(owner_pid("dr0001a0000h1"), None);
        assert_eq!(owner_pid("blue"), None);
    }
}
