//! keepalived's rule for scripts run by root under `enable_script_security` (its notify.c
//! `check_security`): every component of the script's path, from `/` down, must be owned by
//! root and not writable by a non-root group or by others (a directory with the sticky bit,
//! like /tmp, may be world-writable). Shared by `drift check` and the daemon.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Whether one path component (owner, group, mode) lets a non-root user change the script.
/// Write bits count on regular files and non-sticky directories only (a symlink's own mode is
/// always 0777 and means nothing; only its owner does).
pub fn unsafe_entry(uid: u32, gid: u32, mode: u32) -> bool {
    const S_IFMT: u32 = 0o170000;
    const S_IFDIR: u32 = 0o040000;
    const S_IFREG: u32 = 0o100000;
    const S_IWGRP: u32 = 0o020;
    const S_IWOTH: u32 = 0o002;
    const S_ISVTX: u32 = 0o1000;
    let kind = mode & S_IFMT;
    let checked = kind == S_IFREG || (kind == S_IFDIR && mode & S_ISVTX == 0);
    uid != 0 || (checked && ((gid != 0 && mode & S_IWGRP != 0) || mode & S_IWOTH != 0))
}

/// The first component of `path` a non-root user could modify or replace, if any. Symlinks
/// are not followed (each link itself is checked), as keepalived does.
pub fn first_unsafe_component(path: &Path) -> Result<Option<PathBuf>, String> {
    let mut cur = PathBuf::new();
    for comp in path.components() {
        cur.push(comp);
        let md = std::fs::symlink_metadata(&cur)
            .map_err(|e| format!("cannot check '{}': {e}", cur.display()))?;
        if unsafe_entry(md.uid(), md.gid(), md.mode()) {
            return Ok(Some(cur));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_owned_entries_without_foreign_write_bits_are_safe() {
        assert!(!unsafe_entry(0, 0, 0o100755));
        assert!(!unsafe_entry(0, 0, 0o040775), "group root may write");
    }

    #[test]
    fn foreign_owners_and_foreign_write_bits_are_unsafe() {
        assert!(unsafe_entry(1000, 0, 0o100755), "owner not root");
        assert!(unsafe_entry(0, 100, 0o100775), "non-root group writes");
        assert!(unsafe_entry(0, 0, 0o100757), "world writes");
        assert!(unsafe_entry(0, 0, 0o040777), "world-writable directory");
    }

    #[test]
    fn a_sticky_world_writable_directory_like_tmp_is_safe_when_root_owned() {
        assert!(!unsafe_entry(0, 0, 0o041777));
        assert!(unsafe_entry(1000, 0, 0o041777));
    }

    #[test]
    fn a_root_owned_symlink_like_bin_is_safe_whatever_its_mode() {
        assert!(!unsafe_entry(0, 0, 0o120777));
        assert!(unsafe_entry(1000, 0, 0o120777));
    }
}
