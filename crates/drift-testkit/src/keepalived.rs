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
    /// `TMPDIR` is the private dir too: keepalived 2.2.7 writes its SIGUSR1/SIGUSR2 dumps to
    /// `$TMPDIR/keepalived.{data,stats}` (default /tmp, whatever `instance` says), so parallel
    /// tests would overwrite each other's; read them with [`ChildGuard::dir`].
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
        let tmpdir = format!("TMPDIR={}", dir.path().display());
        // `env` execs keepalived, so the guard's pid is keepalived's own.
        let mut args: Vec<&str> = vec![
            &tmpdir,
            "keepalived",
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
        ChildGuard::spawn_in(self.name(), "env", &args, dir)
    }
}
