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
