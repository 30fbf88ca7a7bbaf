//! `drift run --proxy` in one lab host, with both config files in its own temp dir: the node the
//! proxy-in-the-daemon tests (proxy_run.rs) and the load-through-failovers test (faults_load.rs)
//! start, kill and restart.

use std::path::PathBuf;
use std::time::Duration;

use drift_testkit::{ChildGuard, Lab, Signal};

/// The process and its config files, removed on drop (after the process: declared first).
pub struct ProxyNode {
    pub child: ChildGuard,
    dir: tempfile::TempDir,
}

impl ProxyNode {
    /// `drift run -f keepalived.conf -l debug --proxy nginx.conf --proxy-workers 1` in `host`.
    pub fn start(lab: &Lab, host: usize, keepalived_conf: &str, nginx_conf: &str) -> ProxyNode {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let k = dir.path().join("keepalived.conf");
        let n = dir.path().join("nginx.conf");
        std::fs::write(&k, keepalived_conf).unwrap_or_else(|e| panic!("write: {e}"));
        std::fs::write(&n, nginx_conf).unwrap_or_else(|e| panic!("write: {e}"));
        let (k, n) = (k.to_string_lossy(), n.to_string_lossy());
        let args = [
            "run",
            "-f",
            &k,
            "-l",
            "debug",
            "--proxy",
            &n,
            "--proxy-workers",
            "1",
        ];
        let child = lab
            .spawn(host, &super::drift_bin().to_string_lossy(), &args)
            .unwrap_or_else(|e| panic!("spawn drift in host {host}: {e}"));
        ProxyNode { child, dir }
    }

    pub fn logs(&self) -> String {
        self.child.logs()
    }

    pub fn nginx_path(&self) -> PathBuf {
        self.dir.path().join("nginx.conf")
    }

    /// A power cut: SIGKILL, so the VIP stays on the interface and nothing says goodbye.
    pub fn kill(&mut self) {
        let _ = self.child.signal(Signal::SIGKILL);
        let _ = self.child.stop(Duration::from_secs(2));
    }
}
