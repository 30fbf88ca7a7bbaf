//! `notify_fifo` / `vrrp_notify_fifo` (+ `_script`): state changes written as lines to a FIFO,
//! in order, which a notify-script cannot guarantee.
//!
//! keepalived's line format (keepalived.conf(5)): `INSTANCE "VI_1" MASTER 100` and a newline;
//! the FIFO is created if missing (and removed at exit if drift created it); the FIFO script is
//! started with the FIFO's path as its last argument and sent SIGTERM when drift stops. The FIFO
//! is opened read-write and non-blocking so that neither opening nor writing can stall the
//! daemon when no reader is there; a line that does not fit is dropped with a warning.

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::PathBuf;

use drift_model::RawEntry;
use tracing::{info, warn};

use super::script_exec::{self, RunAs};
use super::scripts::argv;

/// A FIFO as configured: path, optional script line, and the script's optional user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FifoConf {
    pub path: PathBuf,
    pub script: Option<String>,
    pub user: Option<(String, Option<String>)>,
}

/// The FIFOs that receive VRRP events: `notify_fifo` (all events) and `vrrp_notify_fifo`, each
/// with its `_script`, read from the raw global_defs keywords.
pub fn from_globals(extra: &[RawEntry]) -> Vec<FifoConf> {
    let mut out = Vec::new();
    for base in ["notify_fifo", "vrrp_notify_fifo"] {
        let Some(fifo) = extra.iter().rev().find(|e| e.key == base) else {
            continue;
        };
        let Some(path) = fifo.args.first() else {
            continue;
        };
        let script = extra
            .iter()
            .rev()
            .find(|e| e.key == format!("{base}_script"));
        out.push(FifoConf {
            path: PathBuf::from(path),
            script: script.and_then(|s| s.args.first().cloned()),
            user: script.and_then(|s| s.args.get(1).map(|u| (u.clone(), s.args.get(2).cloned()))),
        });
    }
    out
}

/// keepalived's line for an instance's (`INSTANCE`) or sync group's (`GROUP`) new state.
pub fn line(kind: &str, name: &str, state: &str, priority: u8) -> String {
    format!("{kind} \"{name}\" {state} {priority}\n")
}

/// An open FIFO and the script reading it.
pub struct Fifo {
    path: PathBuf,
    file: File,
    created: bool,
    reader: Option<tokio::process::Child>,
}

impl Fifo {
    /// Create (if needed) and open the FIFO, then start its script. Must run inside a tokio
    /// runtime (the script is a tokio child).
    pub fn open(conf: &FifoConf, run_as: Option<RunAs>) -> Result<Fifo, String> {
        let path = conf.path.clone();
        let mut created = false;
        match std::fs::metadata(&path) {
            Ok(m) if m.file_type().is_fifo() => {}
            Ok(_) => return Err(format!("{} exists and is not a FIFO", path.display())),
            Err(_) => {
                nix::unistd::mkfifo(&path, nix::sys::stat::Mode::from_bits_truncate(0o600))
                    .map_err(|e| format!("cannot create FIFO {}: {e}", path.display()))?;
                created = true;
            }
        }
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&path)
            .map_err(|e| format!("cannot open FIFO {}: {e}", path.display()))?;
        let mut reader = None;
        if let Some(mut v) = conf.script.as_deref().and_then(argv) {
            v.push(path.display().to_string());
            match script_exec::command(&v, run_as).map(|mut c| c.spawn()) {
                Some(Ok(child)) => reader = Some(child),
                Some(Err(e)) => warn!("notify FIFO script {:?} cannot start: {e}", v[0]),
                None => {}
            }
        }
        info!("notify FIFO {} open", path.display());
        Ok(Fifo {
            path,
            file,
            created,
            reader,
        })
    }

    pub fn write(&mut self, line: &str) {
        if let Err(e) = self.file.write_all(line.as_bytes()) {
            warn!(
                "notify FIFO {}: line dropped ({e}): {}",
                self.path.display(),
                line.trim_end()
            );
        }
    }

    /// SIGTERM the script, and remove the FIFO if drift created it.
    pub async fn close(mut self) {
        if let Some(mut child) = self.reader.take() {
            if let Some(pid) = child.id().and_then(|p| i32::try_from(p).ok()) {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGTERM,
                );
            }
            if tokio::time::timeout(std::time::Duration::from_secs(2), child.wait())
                .await
                .is_err()
            {
                script_exec::kill_group(&mut child).await;
            }
        }
        if self.created {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(key: &str, args: &[&str]) -> RawEntry {
        RawEntry::new(key, args.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn lines_are_in_keepalived_format() {
        assert_eq!(
            line("INSTANCE", "VI_1", "MASTER", 100),
            "INSTANCE \"VI_1\" MASTER 100\n"
        );
    }

    #[test]
    fn both_fifo_keywords_are_read_with_their_scripts_and_users() {
        let extra = [
            raw("notify_fifo", &["/run/a"]),
            raw("vrrp_notify_fifo", &["/run/b"]),
            raw(
                "vrrp_notify_fifo_script",
                &["/bin/reader -v", "nobody", "nogroup"],
            ),
            raw("lvs_notify_fifo", &["/run/c"]),
        ];
        let f = from_globals(&extra);
        assert_eq!(f.len(), 2);
        assert_eq!(
            (f[0].path.to_str(), f[0].script.as_deref()),
            (Some("/run/a"), None)
        );
        assert_eq!(f[1].script.as_deref(), Some("/bin/reader -v"));
        assert_eq!(f[1].user, Some(("nobody".into(), Some("nogroup".into()))));
    }

    #[test]
    fn a_missing_fifo_is_created_written_and_removed_on_close() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fifo");
        let conf = FifoConf {
            path: path.clone(),
            script: None,
            user: None,
        };
        rt.block_on(async {
            let mut f = Fifo::open(&conf, None).unwrap();
            let mut rd = std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NONBLOCK)
                .open(&path)
                .unwrap();
            f.write(&line("INSTANCE", "VI_1", "BACKUP", 90));
            let mut buf = [0u8; 256];
            let n = std::io::Read::read(&mut rd, &mut buf).unwrap();
            assert_eq!(&buf[..n], b"INSTANCE \"VI_1\" BACKUP 90\n");
            f.close().await;
        });
        assert!(!path.exists());
    }
}
