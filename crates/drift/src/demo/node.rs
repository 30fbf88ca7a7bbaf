//! The two drift nodes: the seed article's MASTER and BACKUP configs (embedded in the binary),
//! each run as `drift run` (this very executable) inside its namespace and stopped by pid.

use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

const SEED: [&str; 2] = [
    include_str!("../../../../fixtures/seed/master.conf"),
    include_str!("../../../../fixtures/seed/backup.conf"),
];

/// The seed's track script checks an nginx that the lab does not have; the demo's web backend
/// lives inside the demo process, so the check is replaced by one that always passes.
const SEED_SCRIPT: &str = "/root/bin/nginx_check.sh";
const LAB_SCRIPT: &str = "/bin/true";

/// The seed config of node `i` (0 = MASTER, 1 = BACKUP) adapted to the lab.
///
/// Interface (`eth0`) and addresses are the article's own: they exist only inside the demo's
/// namespaces. `advert_int` other than the article's 1 s is written in, and a fractional one
/// switches to VRRPv3 (`vrrp_version 3`), since v2 counts adverts in whole seconds.
pub fn config(i: usize, advert_int: f64) -> String {
    let mut text = SEED[i.min(1)].replace(SEED_SCRIPT, LAB_SCRIPT);
    if advert_int != 1.0 {
        text = text.replace("advert_int 1\n", &format!("advert_int {advert_int}\n"));
        if advert_int.fract() != 0.0 {
            text = text.replacen("global_defs {", "global_defs {\n  vrrp_version 3", 1);
        }
    }
    text
}

/// VRRP's Master_Down_Interval for the backup (RFC 3768 §6.1 / RFC 5798 §6.1: three adverts
/// plus a skew of (256 − priority)/256 of an interval), what failover should take.
pub fn master_down(advert_int: f64, backup_priority: u8) -> Duration {
    let skew = f64::from(256 - u16::from(backup_priority)) / 256.0;
    let skew = if advert_int.fract() != 0.0 {
        skew * advert_int
    } else {
        skew
    };
    Duration::from_secs_f64(3.0 * advert_int + skew)
}

/// One `drift run` process inside a node namespace.
#[derive(Debug)]
pub struct Node {
    child: Child,
    status: Option<ExitStatus>,
}

impl Node {
    /// Start `<this exe> run -f conf` in namespace `ns`; stderr (the log) goes to `log`, the
    /// control socket is `sock` (not the default /run/drift path, which a real drift on this
    /// machine may serve), dumps go beside it.
    ///
    /// The node gets its own process group, so a Ctrl-C in the terminal reaches only the demo,
    /// which then stops the nodes itself.
    pub fn start(ns: &str, conf: &Path, log: PathBuf, sock: &Path) -> Result<Node> {
        let exe = std::env::current_exe().context("find drift's own executable")?;
        let err = File::options()
            .create(true)
            .append(true)
            .open(&log)
            .with_context(|| format!("open {}", log.display()))?;
        let child = Command::new("ip")
            .args(["netns", "exec", ns])
            .arg(exe)
            .arg("run")
            .arg("-f")
            .arg(conf)
            .args(["-l", "info"])
            .arg("--control-socket")
            .arg(sock)
            .arg("--dump-dir")
            .arg(sock.parent().unwrap_or(Path::new("/tmp")))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(err)
            .process_group(0)
            .spawn()
            .with_context(|| format!("start drift in {ns}"))?;
        Ok(Node {
            child,
            status: None,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The exit status once the process has exited (reaped), else None.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self.child.try_wait().ok().flatten();
        }
        self.status
    }

    fn signal(&self, sig: Signal) {
        if let Ok(pid) = i32::try_from(self.child.id()) {
            let _ = kill(Pid::from_raw(pid), sig);
        }
    }

    /// A crash: SIGKILL (no priority-0 advert, no cleanup), then reap.
    pub fn crash(&mut self) {
        if self.exited().is_none() {
            self.signal(Signal::SIGKILL);
            self.status = self.child.wait().ok();
        }
    }

    /// A clean stop: SIGTERM, SIGKILL after `grace`.
    pub fn stop(&mut self, grace: Duration) {
        if self.exited().is_some() {
            return;
        }
        self.signal(Signal::SIGTERM);
        let end = Instant::now() + grace;
        while Instant::now() < end {
            if self.exited().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        self.crash();
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.stop(Duration::from_secs(2));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn instance(text: &str) -> drift_model::VrrpInstance {
        let checked = drift_config::parse_str("demo.conf", text);
        assert!(checked.errors.is_empty(), "{}", checked.render());
        let model = checked.model.expect("a model when there are no errors");
        model.instances[0].clone()
    }

    #[test]
    fn the_adapted_seed_pair_keeps_the_articles_roles_and_addresses() {
        let m = config(0, 1.0);
        let b = config(1, 1.0);
        assert!(m.contains("mcast_src_ip 192.168.1.157") && m.contains("192.168.1.110"));
        assert!(!m.contains(SEED_SCRIPT) && m.contains(LAB_SCRIPT));
        let (mi, bi) = (instance(&m), instance(&b));
        assert_eq!((mi.priority, bi.priority), (100, 99));
        assert_eq!(mi.virtual_router_id, bi.virtual_router_id);
    }

    #[test]
    fn a_fractional_advert_interval_switches_the_pair_to_vrrp_v3() {
        let text = config(1, 0.2);
        assert!(text.contains("advert_int 0.2\n") && text.contains("vrrp_version 3"));
        let checked = drift_config::parse_str("demo.conf", &text);
        assert!(checked.errors.is_empty(), "{}", checked.render());
        assert!(!config(1, 2.0).contains("vrrp_version"));
    }

    #[test]
    fn master_down_is_three_adverts_plus_the_skew() {
        let v2 = master_down(1.0, 99).as_secs_f64();
        assert!((v2 - (3.0 + 157.0 / 256.0)).abs() < 1e-9);
        let v3 = master_down(0.2, 99).as_secs_f64();
        assert!((v3 - (0.6 + 0.2 * 157.0 / 256.0)).abs() < 1e-9);
    }
}
