//! A network namespace owned by one test, removed on Drop (also during a panic).

use std::fs::File;
use std::io;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use nix::sched::{setns, CloneFlags};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::child::ChildGuard;
use crate::names::{unique_base, NAME_PREFIX};

/// Sysctls set in every namespace before any interface exists, so that new interfaces inherit them.
///
/// `accept_dad=0` on both `all` and `default`: the kernel runs DAD unless *both* are < 1
/// (`addrconf_dad_begin`), and an address in DAD is "tentative" and cannot be bound or used as a
/// source for ~1 s, which would make IPv6 tests slow and flaky.
const NS_SYSCTLS: &[&str] = &[
    "net.ipv6.conf.all.accept_dad=0",
    "net.ipv6.conf.default.accept_dad=0",
    "net.ipv6.conf.all.dad_transmits=0",
    "net.ipv6.conf.default.dad_transmits=0",
];

/// A uniquely named network namespace with `lo` up; deleted on Drop after every process still
/// inside it has been killed by pid.
#[derive(Debug)]
pub struct Netns {
    name: String,
}

impl Netns {
    /// A fresh namespace named `<unique base>n`.
    pub fn new() -> io::Result<Netns> {
        Netns::named(format!("{}n", unique_base()))
    }

    /// A namespace with an exact name (must start with `dr` and be at most 15 bytes, so cleanup
    /// can recognise it and it can double as an interface name).
    pub fn named(name: String) -> io::Result<Netns> {
        if !name.starts_with(NAME_PREFIX) || name.len() > 15 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "namespace name {name:?} must start with {NAME_PREFIX:?} and be <= 15 bytes"
                ),
            ));
        }
        run_checked(Command::new("ip").args(["netns", "add", &name]))?;
        // From here on Drop removes the namespace even if the setup below fails.
        let ns = Netns { name };
        ns.ip(&["link", "set", "lo", "up"])?;
        let mut sysctl = vec!["sysctl", "-qw"];
        sysctl.extend_from_slice(NS_SYSCTLS);
        ns.exec_checked(&sysctl)?;
        Ok(ns)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// `/run/netns/<name>`, the bind mount that `setns` opens.
    pub fn path(&self) -> String {
        format!("/run/netns/{}", self.name)
    }

    /// Run `cmd` inside the namespace (`ip netns exec NAME cmd...`) and wait for it.
    ///
    /// Panics only if `ip` itself cannot be started; a failing command is reported in `Output`.
    pub fn exec(&self, cmd: &[&str]) -> Output {
        Command::new("ip")
            .args(["netns", "exec", &self.name])
            .args(cmd)
            .output()
            .unwrap_or_else(|e| panic!("cannot run `ip netns exec {} {cmd:?}`: {e}", self.name))
    }

    /// Like [`exec`](Self::exec) but an error (with stderr) when the command fails; returns stdout.
    pub fn exec_checked(&self, cmd: &[&str]) -> io::Result<String> {
        run_checked(
            Command::new("ip")
                .args(["netns", "exec", &self.name])
                .args(cmd),
        )
    }

    /// `ip -n NAME <args>`; returns stdout or an error carrying the command and its stderr.
    pub fn ip(&self, args: &[&str]) -> io::Result<String> {
        run_checked(Command::new("ip").args(["-n", &self.name]).args(args))
    }

    /// Set one sysctl inside the namespace (`key` like `net.ipv4.conf.all.arp_accept`).
    pub fn sysctl(&self, key: &str, value: &str) -> io::Result<()> {
        self.exec_checked(&["sysctl", "-qw", &format!("{key}={value}")])
            .map(|_| ())
    }

    /// Start a long-running process inside the namespace; stdout/stderr go to files that
    /// [`ChildGuard`] can print. The process is killed by pid when the guard (or this namespace) drops.
    pub fn spawn(&self, program: &str, args: &[&str]) -> io::Result<ChildGuard> {
        ChildGuard::spawn(&self.name, program, args)
    }

    /// Run `f` on a new thread that has entered this namespace, and return its result (panics are
    /// propagated). Sockets (raw, netlink) created in `f` belong to this namespace, because
    /// `setns(CLONE_NEWNET)` switches only the calling thread and sockets bind to the namespace of
    /// the thread that creates them.
    pub fn run_in<F, R>(&self, f: F) -> R
    where
        F: FnOnce() -> R + Send,
        R: Send,
    {
        let file = self.open_ns_file();
        std::thread::scope(|scope| {
            let handle = scope.spawn(move || {
                enter(&file);
                f()
            });
            match handle.join() {
                Ok(r) => r,
                Err(panic) => std::panic::resume_unwind(panic),
            }
        })
    }

    /// Start a detached thread inside this namespace (for servers that outlive one call).
    pub fn spawn_thread<F, R>(&self, f: F) -> std::thread::JoinHandle<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        let file = self.open_ns_file();
        std::thread::spawn(move || {
            enter(&file);
            f()
        })
    }

    fn open_ns_file(&self) -> File {
        File::open(self.path()).unwrap_or_else(|e| panic!("open {}: {e}", self.path()))
    }

    /// Pids of every process whose network namespace is this one.
    pub fn pids(&self) -> Vec<u32> {
        pids_in(&self.name)
    }
}

fn enter(file: &File) {
    if let Err(e) = setns(file, CloneFlags::CLONE_NEWNET) {
        panic!("setns(CLONE_NEWNET): {e}");
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        kill_all_in(&self.name);
        let deleted = Command::new("ip")
            .args(["netns", "del", &self.name])
            .stderr(Stdio::piped())
            .output();
        match deleted {
            Ok(out) if out.status.success() => {}
            Ok(out) => eprintln!(
                "drift-testkit: `ip netns del {}` failed: {}",
                self.name,
                String::from_utf8_lossy(&out.stderr).trim()
            ),
            Err(e) => eprintln!("drift-testkit: cannot run ip netns del {}: {e}", self.name),
        }
    }
}

pub(crate) fn pids_in(name: &str) -> Vec<u32> {
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

/// SIGKILL, by pid, every process inside namespace `name` (daemons like keepalived fork away from
/// the pid we started, so the namespace membership is the reliable list), and wait until none is left.
pub(crate) fn kill_all_in(name: &str) {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let pids = pids_in(name);
        if pids.is_empty() || Instant::now() > deadline {
            if !pids.is_empty() {
                eprintln!("drift-testkit: processes {pids:?} still in {name} after SIGKILL");
            }
            return;
        }
        for pid in pids {
            if let Ok(raw) = i32::try_from(pid) {
                let _ = kill(Pid::from_raw(raw), Signal::SIGKILL);
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub(crate) fn run_checked(cmd: &mut Command) -> io::Result<String> {
    let out = cmd.output()?;
    if out.status.success() {
        return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
    }
    Err(io::Error::other(format!(
        "{cmd:?} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr).trim()
    )))
}
