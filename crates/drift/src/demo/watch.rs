//! Watchers that turn what happens in the lab into timeline events: who holds the VIP (the
//! kernel's view, read inside each node namespace) and the state changes each node logs.

use std::io::{Read, Seek, SeekFrom};
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::timeline::{Event, Stamped};

/// How often the watchers look.
const EVERY: Duration = Duration::from_millis(10);

/// On a thread inside node `node`'s namespace: report every change of "this node holds `vip`".
pub fn vip(node: usize, vip: Ipv4Addr, stop: Arc<AtomicBool>, tx: Sender<Stamped>) {
    let mut held = false;
    while !stop.load(Ordering::Relaxed) {
        // getifaddrs asks the kernel over netlink from this thread, i.e. in this namespace.
        let now = nix::ifaddrs::getifaddrs()
            .map(|mut addrs| {
                addrs.any(|a| {
                    a.address
                        .and_then(|s| s.as_sockaddr_in().map(|v4| v4.ip()))
                        .is_some_and(|ip| IpAddr::V4(ip) == IpAddr::V4(vip))
                })
            })
            .unwrap_or(held);
        if now != held {
            held = now;
            if tx
                .send((Instant::now(), Event::Vip { node, held }))
                .is_err()
            {
                return;
            }
        }
        std::thread::sleep(EVERY);
    }
}

/// Follow node `node`'s log file from byte `offset` and report its VRRP state changes
/// (keepalived's `VRRP_Instance(VI_1) Entering MASTER STATE` wording) and errors.
pub fn log(
    node: usize,
    path: PathBuf,
    mut offset: u64,
    stop: Arc<AtomicBool>,
    tx: Sender<Stamped>,
) {
    let mut partial = String::new();
    while !stop.load(Ordering::Relaxed) {
        if let Ok(mut f) = std::fs::File::open(&path) {
            let mut chunk = String::new();
            if f.seek(SeekFrom::Start(offset)).is_ok() && f.read_to_string(&mut chunk).is_ok() {
                offset += chunk.len() as u64;
                partial.push_str(&chunk);
                while let Some(end) = partial.find('\n') {
                    let line: String = partial.drain(..=end).collect();
                    if let Some(text) = interesting(&line) {
                        let ev = Event::NodeLog { node, text };
                        if tx.send((Instant::now(), ev)).is_err() {
                            return;
                        }
                    }
                }
            }
        }
        std::thread::sleep(EVERY);
    }
}

/// The part of a daemon log line worth a timeline entry, without the timestamp prefix.
pub fn interesting(line: &str) -> Option<String> {
    let line = line.trim_end();
    if let Some(i) = line.find("VRRP_Instance(") {
        let rest = &line[i..];
        if rest.contains("Entering") {
            return Some(rest.to_string());
        }
    }
    if line.contains("ERROR") || line.starts_with("drift:") {
        return Some(line.to_string());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_changes_and_errors_are_kept_and_chatter_dropped() {
        let l = "2026-11-26T01:00:00.123Z  INFO VRRP_Instance(VI_1) Entering MASTER STATE\n";
        assert_eq!(
            interesting(l).as_deref(),
            Some("VRRP_Instance(VI_1) Entering MASTER STATE")
        );
        assert!(interesting("  INFO VRRP_Instance(VI_1) sent advert prio 100").is_none());
        assert!(interesting("  INFO starting drift 0.1.0").is_none());
        assert!(interesting("drift: cannot open socket").is_some());
    }
}
