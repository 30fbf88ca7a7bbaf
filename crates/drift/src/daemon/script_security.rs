//! Who runs a script, and whether it may run at all (`script_user`, `enable_script_security`).
//!
//! keepalived 2.2.7's rules, checked against its notify.c and its behaviour:
//! - a script runs as its own `user [group]`, else `script_user [group]`, else the
//!   `keepalived_script` user if it exists, else the daemon's own uid/gid. With
//!   `enable_script_security`, a missing `keepalived_script` (and no `script_user`) is an error
//!   and every script without its own user is removed ("Unable to set default user").
//! - a script run by root (uid or gid 0) must not be replaceable by anyone else: no component
//!   of its path (nor of its resolved real path) may be modifiable by a non-root user
//!   ([`drift_config::script_security`], shared with `drift check`). With `enable_script_security` such a script is disabled; without it, it
//!   runs and a SECURITY VIOLATION warning is logged.

use std::path::{Path, PathBuf};

use drift_model::GlobalDefs;
use nix::unistd::{Group, User};

use super::script_exec::RunAs;

/// The user scripts run as when they name none.
pub fn default_user(g: &GlobalDefs) -> Result<RunAs, String> {
    if let Some(su) = &g.script_user {
        return lookup(&su.user, su.group.as_deref());
    }
    match lookup("keepalived_script", None) {
        Ok(r) => Ok(r),
        Err(_) if g.enable_script_security => Err(
            "unable to set default user keepalived_script for scripts (it does not exist, no \
             script_user is set, and enable_script_security is on)"
                .into(),
        ),
        Err(_) => Ok(RunAs {
            uid: nix::unistd::geteuid().as_raw(),
            gid: nix::unistd::getegid().as_raw(),
        }),
    }
}

/// `USER [GROUP]` to ids; the group defaults to the user's own.
pub fn lookup(user: &str, group: Option<&str>) -> Result<RunAs, String> {
    let u = match User::from_name(user) {
        Ok(Some(u)) => u,
        Ok(None) => return Err(format!("script user '{user}' does not exist")),
        Err(e) => return Err(format!("cannot resolve script user '{user}': {e}")),
    };
    let gid = match group {
        None => u.gid.as_raw(),
        Some(g) => match Group::from_name(g) {
            Ok(Some(g)) => g.gid.as_raw(),
            Ok(None) => return Err(format!("script group '{g}' does not exist")),
            Err(e) => return Err(format!("cannot resolve script group '{g}': {e}")),
        },
    };
    Ok(RunAs {
        uid: u.uid.as_raw(),
        gid,
    })
}

pub use drift_config::script_security::first_unsafe_component;

/// CAP_SETGID and CAP_SETUID (linux/capability.h).
const CAP_SETGID: u32 = 6;
const CAP_SETUID: u32 = 7;

/// Why scripts cannot run as `run_as`, or None when they can: switching to another uid needs
/// CAP_SETUID and to another gid CAP_SETGID. Root has both unless its bounding set was narrowed
/// (dist/drift.service keeps only CAP_NET_ADMIN and CAP_NET_RAW); an unprivileged drift given
/// only those two has neither. The script would then fail to start at every run (a track script
/// counting as failed), so this is said once, at startup, in words.
pub fn cannot_switch_to(run_as: RunAs) -> Option<String> {
    let (uid, gid) = (
        nix::unistd::geteuid().as_raw(),
        nix::unistd::getegid().as_raw(),
    );
    let caps = drift_net::caps::effective();
    missing_caps(run_as, uid, gid, caps).map(|need| {
        format!(
            "scripts run as uid {} gid {} but drift runs as uid {uid} gid {gid} without {need}: \
             they will fail to start (give drift {need}, or drop script_user)",
            run_as.uid, run_as.gid
        )
    })
}

/// Log (once per distinct user) the scripts' users drift cannot switch to.
pub fn warn_unswitchable(default: &Result<RunAs, String>, scripts: impl Iterator<Item = RunAs>) {
    let mut seen = Vec::new();
    for run_as in default.iter().copied().chain(scripts) {
        if seen.contains(&run_as) {
            continue;
        }
        seen.push(run_as);
        if let Some(why) = cannot_switch_to(run_as) {
            tracing::error!("{why}");
        }
    }
}

/// The capabilities missing to switch from `uid`/`gid` with effective set `caps` (None when
/// unknown: assumed present, so that an unreadable /proc does not invent a problem).
fn missing_caps(run_as: RunAs, uid: u32, gid: u32, caps: Option<u64>) -> Option<String> {
    let caps = caps?;
    let has = |cap: u32| caps & (1u64 << cap) != 0;
    let mut need = Vec::new();
    if run_as.uid != uid && !has(CAP_SETUID) {
        need.push("CAP_SETUID");
    }
    if run_as.gid != gid && !has(CAP_SETGID) {
        need.push("CAP_SETGID");
    }
    (!need.is_empty()).then(|| need.join(" and "))
}

/// The verdict on one script's program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Safe,
    /// Runs as root and `component` can be changed by a non-root user.
    Insecure {
        component: PathBuf,
    },
}

/// Check `program` (an absolute or `$PATH`-resolved path) for a script run as `run_as`.
/// Scripts run by a non-root user need no protection (keepalived's `need_script_protection`).
/// Like keepalived, the resolved real path is checked (keepalived replaces the command by it),
/// so a root-owned symlink such as `/bin -> usr/bin` is no finding.
pub fn check(program: &Path, run_as: RunAs) -> Result<Verdict, String> {
    if run_as.uid != 0 && run_as.gid != 0 {
        return Ok(Verdict::Safe);
    }
    let real = std::fs::canonicalize(program)
        .map_err(|e| format!("script {} cannot be accessed: {e}", program.display()))?;
    match first_unsafe_component(&real)? {
        Some(component) => Ok(Verdict::Insecure { component }),
        None => Ok(Verdict::Safe),
    }
}

/// The file `program` names: itself when it has a `/`, else the first executable in `$PATH`.
pub fn resolve_program(program: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let is_exec = |p: &Path| {
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if program.contains('/') {
        let p = PathBuf::from(program);
        return is_exec(&p).then_some(p);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| is_exec(p))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    const ROOT: RunAs = RunAs { uid: 0, gid: 0 };

    #[test]
    fn a_world_writable_script_or_directory_run_by_root_is_insecure() {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("check.sh");
        std::fs::write(&script, "#!/bin/sh\nexit 0\n").unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        if nix::unistd::geteuid().is_root() {
            assert_eq!(check(&script, ROOT).unwrap(), Verdict::Safe);
        }
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o777)).unwrap();
        assert!(matches!(
            check(&script, ROOT).unwrap(),
            Verdict::Insecure { .. }
        ));
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        match check(&script, ROOT).unwrap() {
            Verdict::Insecure { component } => assert_eq!(component, dir.path()),
            v => panic!("expected the directory to be reported, got {v:?}"),
        }
    }

    #[test]
    fn system_programs_behind_root_symlinks_are_safe() {
        if nix::unistd::geteuid().is_root() {
            assert_eq!(check(Path::new("/bin/true"), ROOT).unwrap(), Verdict::Safe);
        }
    }

    #[test]
    fn a_script_run_by_a_non_root_user_needs_no_protection() {
        let nobody = RunAs {
            uid: 65534,
            gid: 65534,
        };
        assert_eq!(
            check(Path::new("/nonexistent"), nobody).unwrap(),
            Verdict::Safe
        );
    }

    #[test]
    fn an_unknown_script_user_is_an_error_and_root_resolves() {
        assert!(lookup("no-such-user-drift", None).is_err());
        assert_eq!(lookup("root", None).unwrap(), ROOT);
        assert!(lookup("root", Some("no-such-group-drift")).is_err());
    }

    #[test]
    fn switching_user_needs_setuid_and_switching_group_needs_setgid() {
        let nobody = RunAs {
            uid: 65534,
            gid: 65534,
        };
        let net_only = 0x3000; // CAP_NET_ADMIN, CAP_NET_RAW
        let all = u64::MAX >> 23;
        assert_eq!(missing_caps(nobody, 0, 0, Some(all)), None);
        assert_eq!(
            missing_caps(nobody, 0, 0, Some(net_only)).as_deref(),
            Some("CAP_SETUID and CAP_SETGID")
        );
        assert_eq!(
            missing_caps(nobody, 65534, 0, Some(net_only)).as_deref(),
            Some("CAP_SETGID")
        );
        assert_eq!(
            missing_caps(nobody, 65534, 65534, Some(0)),
            None,
            "already them"
        );
        assert_eq!(missing_caps(nobody, 0, 0, None), None, "unknown caps");
    }

    #[test]
    fn security_without_a_default_user_is_an_error_and_script_user_wins() {
        let mut g = GlobalDefs {
            enable_script_security: true,
            ..GlobalDefs::default()
        };
        if lookup("keepalived_script", None).is_err() {
            assert!(default_user(&g).is_err());
        }
        g.script_user = Some(drift_model::ScriptUser {
            user: "root".into(),
            group: None,
        });
        assert_eq!(default_user(&g).unwrap(), ROOT);
    }
}
