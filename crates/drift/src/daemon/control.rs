//! The control socket: a unix stream socket, mode 0600 in a 0700 directory (root and the
//! daemon's own user only, like keepalived's signals: whoever may reload the daemon may also
//! read its state). One request
//! per connection, one line: `status` answers the [`Snapshot`] as JSON, `reload` does what
//! SIGHUP does and answers once that reload finished (`{"ok":..,"message":..}`).
//!
//! The file mode is the first gate (connect(2) needs write permission on the socket file); the
//! peer's credentials are the second: a socket whose mode or directory was widened after bind
//! (a `chmod`, a directory made by someone else) must still answer only root and the daemon's
//! own user, so every connection's SO_PEERCRED uid (taken by the kernel at connect time, not
//! claimed by the client) is checked before the request is read. Anyone else gets one line
//! `refused: ...` and the connection is closed.
//!
//! Served on the ops thread; the VRRP thread is only signalled (SIGHUP), never called.

use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tracing::{debug, warn};

use super::ops::Sources;
use super::status::Snapshot;

/// Default path; `--control-socket` overrides it (tests use one per daemon).
pub const DEFAULT_SOCKET: &str = "/run/drift/drift.sock";

/// How long `reload` waits for the VRRP thread to finish the reload.
const RELOAD_WAIT: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReloadReply {
    pub ok: bool,
    pub message: String,
}

/// Bind the socket, or None when a live drift already serves this path (parallel daemons in
/// tests share the default path; only the first one gets the socket, the others say so).
pub fn bind(path: &Path) -> Result<Option<UnixListener>> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !dir.exists() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .with_context(|| format!("create {}", dir.display()))?;
        }
    }
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        use std::os::unix::fs::FileTypeExt;
        if !meta.file_type().is_socket() {
            bail!(
                "{} exists and is not a socket: not touching it",
                path.display()
            );
        }
        if UnixStream::connect(path).is_ok() {
            warn!(
                "control socket {} is served by another drift: running without one",
                path.display()
            );
            return Ok(None);
        }
        // Left behind by a daemon that was killed.
        std::fs::remove_file(path)
            .with_context(|| format!("remove stale control socket {}", path.display()))?;
    }
    let l = UnixListener::bind(path).with_context(|| format!("bind {}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .with_context(|| format!("chmod 0600 {}", path.display()))?;
    l.set_nonblocking(true)
        .context("control socket non-blocking")?;
    Ok(Some(l))
}

/// The reply line to a peer that may not use the socket.
const REFUSED: &str = "refused: ";

/// Whether a peer with `peer_uid` may use the socket of a daemon running as `own_uid`: root
/// and the daemon's own user (when it runs unprivileged with only its capabilities).
pub fn peer_allowed(peer_uid: u32, own_uid: u32) -> bool {
    peer_uid == 0 || peer_uid == own_uid
}

/// Check the connecting process's credentials; Err is the refusal to send back.
fn authorize(stream: &tokio::net::UnixStream) -> std::result::Result<(), String> {
    let own = nix::unistd::geteuid().as_raw();
    match stream.peer_cred() {
        Ok(c) if peer_allowed(c.uid(), own) => Ok(()),
        Ok(c) => Err(format!(
            "uid {} (pid {}) may not use this socket: only root and uid {own}",
            c.uid(),
            c.pid().map_or_else(|| "?".into(), |p| p.to_string())
        )),
        Err(e) => Err(format!("cannot read the peer's credentials: {e}")),
    }
}

/// Answer one connection.
pub async fn serve_one(stream: tokio::net::UnixStream, src: &Sources) {
    let auth = authorize(&stream);
    let (rd, mut wr) = stream.into_split();
    let mut line = String::new();
    let mut rd = BufReader::new(rd.take(256));
    // The request line is read even from a refused peer (at most 256 bytes, never acted on):
    // closing with it unread would reset the connection and lose the refusal's reason.
    let read = tokio::time::timeout(Duration::from_secs(5), rd.read_line(&mut line)).await;
    if !matches!(read, Ok(Ok(_))) {
        debug!("control socket: no request line");
        return;
    }
    if let Err(why) = auth {
        warn!("control socket: {why}");
        let _ = wr.write_all(format!("{REFUSED}{why}\n").as_bytes()).await;
        let _ = wr.shutdown().await;
        return;
    }
    let reply = match line.trim() {
        "status" => serde_json::to_string(&src.snapshot()).unwrap_or_default(),
        "reload" => serde_json::to_string(&reload(src).await).unwrap_or_default(),
        other => serde_json::to_string(&ReloadReply {
            ok: false,
            message: format!("unknown request `{other}` (expected status or reload)"),
        })
        .unwrap_or_default(),
    };
    let _ = wr.write_all(reply.as_bytes()).await;
    let _ = wr.write_all(b"\n").await;
    let _ = wr.shutdown().await;
}

/// SIGHUP ourselves, then wait for the reload counter to move.
async fn reload(src: &Sources) -> ReloadReply {
    let mut life = src.hub.lifecycle();
    let before = life.borrow().reloads;
    // SAFETY: kill(2) on our own pid with a valid signal number has no memory preconditions.
    let rc = unsafe { libc::kill(libc::getpid(), libc::SIGHUP) };
    if rc != 0 {
        return ReloadReply {
            ok: false,
            message: format!("kill(SIGHUP): {}", std::io::Error::last_os_error()),
        };
    }
    let done = tokio::time::timeout(RELOAD_WAIT, life.wait_for(|l| l.reloads > before)).await;
    if !matches!(done, Ok(Ok(_))) {
        return ReloadReply {
            ok: false,
            message: format!("reload did not finish within {RELOAD_WAIT:?}"),
        };
    }
    let message = src.hub.snapshot().last_reload.unwrap_or_default();
    ReloadReply {
        ok: message.starts_with("ok"),
        message,
    }
}

/// Client side: send `request`, return the reply line.
pub fn request(path: &Path, request: &str) -> Result<String> {
    let mut s = UnixStream::connect(path).map_err(|e| {
        anyhow!(
            "cannot connect to the control socket {}: {e} (is `drift run` running? \
             it answers root and drift's own user only; --socket picks another path)",
            path.display()
        )
    })?;
    s.set_read_timeout(Some(RELOAD_WAIT + Duration::from_secs(5)))
        .context("set read timeout")?;
    s.write_all(format!("{request}\n").as_bytes())
        .with_context(|| format!("send `{request}` to {}", path.display()))?;
    let mut out = String::new();
    s.read_to_string(&mut out)
        .with_context(|| format!("read the reply from {}", path.display()))?;
    if out.trim().is_empty() {
        bail!("empty reply from {}", path.display());
    }
    if let Some(why) = out.trim().strip_prefix(REFUSED) {
        bail!("{} refused the request: {why}", path.display());
    }
    Ok(out)
}

/// `drift status [--json]`.
pub fn status_command(path: &Path, json: bool) -> Result<()> {
    let reply = request(path, "status")?;
    let snap: Snapshot = serde_json::from_str(&reply)
        .with_context(|| format!("parse the status reply from {}", path.display()))?;
    if json {
        println!("{}", serde_json::to_string_pretty(&snap)?);
    } else {
        print!("{}", super::status_text::render(&snap));
    }
    Ok(())
}

/// `drift reload`: true when the reload was applied.
pub fn reload_command(path: &Path) -> Result<bool> {
    let reply = request(path, "reload")?;
    let r: ReloadReply = serde_json::from_str(&reply)
        .with_context(|| format!("parse the reload reply from {}", path.display()))?;
    if r.ok {
        println!("reloaded: {}", r.message);
    } else {
        eprintln!("drift: reload failed: {}", r.message);
    }
    Ok(r.ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_socket_is_created_root_only_and_a_stale_one_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/drift.sock");
        let l = bind(&path).unwrap().expect("bound");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let dmode = std::fs::metadata(path.parent().unwrap())
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(dmode, 0o700);
        // A live listener: a second daemon runs without the socket.
        assert!(bind(&path).unwrap().is_none());
        drop(l);
        // The file is still there but nobody listens: replaced.
        assert!(bind(&path).unwrap().is_some());
    }

    #[test]
    fn a_path_that_is_not_a_socket_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("file");
        std::fs::write(&path, "data").unwrap();
        assert!(bind(&path).is_err());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "data");
    }

    #[test]
    fn only_root_and_the_daemons_own_user_may_use_the_socket() {
        assert!(peer_allowed(0, 0));
        assert!(peer_allowed(0, 65534), "root may always ask");
        assert!(peer_allowed(65534, 65534), "the daemon's own user");
        assert!(!peer_allowed(1000, 0));
        assert!(!peer_allowed(1000, 65534));
    }

    #[tokio::test]
    async fn a_peer_of_this_process_passes_the_credential_check() {
        let (a, _b) = tokio::net::UnixStream::pair().unwrap();
        assert_eq!(authorize(&a), Ok(()));
    }

    #[test]
    fn a_refusal_line_becomes_an_error_that_says_why() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sock");
        let l = UnixListener::bind(&path).unwrap();
        let server = std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let mut req = [0u8; 7];
            s.read_exact(&mut req).unwrap();
            s.write_all(b"refused: uid 1000 (pid 7) may not use this socket\n")
                .unwrap();
        });
        let e = request(&path, "status").unwrap_err();
        server.join().unwrap();
        assert!(
            format!("{e}").contains("refused the request: uid 1000"),
            "{e}"
        );
    }

    #[test]
    fn a_missing_socket_gives_an_error_that_says_what_to_check() {
        let e = request(Path::new("/nonexistent/drift.sock"), "status").unwrap_err();
        assert!(format!("{e}").contains("is `drift run` running?"), "{e}");
    }
}
