//! Running real keepalived as a peer inside a test namespace.

use std::io;

use crate::child::{new_dir, ChildGuard};
use crate::Netns;

impl Netns {
    /// Start `keepalived` in the foreground with `config`, logging to stderr (captured by the
    /// guard). Its config and pid files live in the guard's private dir: keepalived's default
    /// pid files are global paths under /run, which parallel tests in other namespaces would
    /// fight over. `extra_args` are appended (e.g. `["--vrrp"]`).
    ///
    /// Call [`crate::require_tool`]`("keepalived")` first.
    pub fn spawn_keepalived(&self, config: &str, extra_args: &[&str]) -> io::Result<ChildGuard> {
        let dir = new_dir()?;
        let path = |name: &str| dir.path().join(name).to_string_lossy().into_owned();
        let (conf, pid, vrrp_pid, check_pid, bfd_pid) = (
            path("keepalived.conf"),
            path("keepalived.pid"),
            path("vrrp.pid"),
            path("checkers.pid"),
            path("bfd.pid"),
        );
        std::fs::write(&conf, config)?;
        let mut args: Vec<&str> = vec![
            "--dont-fork",
            "--log-console",
            "--log-detail",
            "--no-syslog",
            "--use-file",
            &conf,
            "--pid",
            &pid,
            "--vrrp_pid",
            &vrrp_pid,
            "--checkers_pid",
            &check_pid,
            "--bfd_pid",
            &bfd_pid,
        ];
        args.extend_from_slice(extra_args);
        ChildGuard::spawn_in(self.name(), "keepalived", &args, dir)
    }
}
