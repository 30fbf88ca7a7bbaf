//! `vrrp_track_process`: is a quorum of matching processes running?
//!
//! keepalived follows process creation and exit with the kernel's proc connector. drift scans
//! /proc (reading only `comm` unless parameters or `full_command` need `cmdline`) at once on
//! every connector event ([`super::proc_events`]) and every [`SCAN_INTERVAL`] regardless: the
//! connector exists only in the initial network namespace (not in a container's or a test
//! lab's), where the periodic scan alone serves, with up to one interval of latency. Matching follows keepalived.conf(5):
//! an exact match of the name (`/proc/PID/comm`, at most 15 bytes) or, with parameters or
//! `full_command`, of the command line; zombies do not count.

use std::time::{Duration, Instant};

use drift_model::TrackProcess;
use tokio::sync::mpsc::UnboundedSender;
use tracing::info;

use super::instance_trackers::TrackerUpdate;
use super::proc_events::ProcEvents;

pub const SCAN_INTERVAL: Duration = Duration::from_millis(100);

/// The least time between two scans, so that a burst of process events (a busy build host)
/// costs at most a hundred scans a second.
const MIN_GAP: Duration = Duration::from_millis(10);

/// The kernel keeps 15 bytes of a process name (TASK_COMM_LEN - 1).
const COMM_LEN: usize = 15;

/// What a tracker matches, prepared once.
#[derive(Debug, Clone)]
pub struct Matcher {
    name: String,
    params: Vec<String>,
    /// None: no parameter check; Some(mode) with `params` (maybe empty).
    mode: Option<ParamMatch>,
    cmdline: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ParamMatch {
    Exact,
    Partial,
    Initial,
}

impl Matcher {
    pub fn new(p: &TrackProcess) -> Matcher {
        let name = p.process.first().cloned().unwrap_or_default();
        let params: Vec<String> = p.process.iter().skip(1).cloned().collect();
        let mode = match p.param_match.as_deref() {
            Some("partial") => Some(ParamMatch::Partial),
            Some("initial") => Some(ParamMatch::Initial),
            Some(_) => Some(ParamMatch::Exact),
            None if !params.is_empty() => Some(ParamMatch::Exact),
            None => None,
        };
        Matcher {
            cmdline: p.full_command || mode.is_some(),
            name,
            params,
            mode,
        }
    }

    /// Whether the scan needs `/proc/PID/cmdline`.
    pub fn needs_cmdline(&self) -> bool {
        self.cmdline
    }

    /// Does a process with this `comm` and (if read) `argv` match?
    pub fn matches(&self, comm: &str, argv: Option<&[String]>) -> bool {
        if !self.cmdline {
            let want = truncate(&self.name, COMM_LEN);
            return comm == want;
        }
        let Some((argv0, args)) = argv.and_then(|a| a.split_first()) else {
            return false;
        };
        if *argv0 != self.name {
            return false;
        }
        let Some(mode) = self.mode else {
            return true;
        };
        let n = self.params.len();
        match mode {
            ParamMatch::Exact => args == self.params.as_slice(),
            ParamMatch::Partial => args.len() >= n && args[..n] == self.params[..],
            ParamMatch::Initial => {
                if n == 0 {
                    return true;
                }
                args.len() >= n
                    && args[..n - 1] == self.params[..n - 1]
                    && args[n - 1].starts_with(&self.params[n - 1])
            }
        }
    }
}

fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Quorum: at least `quorum` and, when set, at most `quorum_max` matching processes.
pub fn quorum_ok(count: u32, quorum: u32, quorum_max: Option<u32>) -> bool {
    count >= quorum && quorum_max.is_none_or(|m| count <= m)
}

/// `fork_delay` / `terminate_delay`: a change of the quorum is reported only once it has lasted
/// the delay for its direction; the first observation is reported at once.
#[derive(Debug, Default)]
pub struct Debounce {
    reported: Option<bool>,
    pending: Option<(bool, Instant)>,
}

impl Debounce {
    /// The new reported state, when it changes.
    pub fn observe(
        &mut self,
        now: Instant,
        ok: bool,
        up: Duration,
        down: Duration,
    ) -> Option<bool> {
        let Some(rep) = self.reported else {
            self.reported = Some(ok);
            return Some(ok);
        };
        if ok == rep {
            self.pending = None;
            return None;
        }
        let since = match self.pending {
            Some((s, t)) if s == ok => t,
            _ => {
                self.pending = Some((ok, now));
                now
            }
        };
        let delay = if ok { up } else { down };
        if now.duration_since(since) >= delay {
            self.pending = None;
            self.reported = Some(ok);
            Some(ok)
        } else {
            None
        }
    }
}

/// One scan of /proc: (comm, argv if wanted) of every live process.
fn scan(want_cmdline: bool) -> Vec<(String, Option<Vec<String>>)> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in dir.flatten() {
        let name = e.file_name();
        let Some(pid) = name
            .to_str()
            .filter(|s| s.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        let base = std::path::Path::new("/proc").join(pid);
        // `stat` is "pid (comm) S ...": the state after the last ')' tells zombies apart.
        let Ok(stat) = std::fs::read_to_string(base.join("stat")) else {
            continue;
        };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        if stat[close + 1..].trim_start().starts_with('Z') || open >= close {
            continue;
        }
        let comm = stat[open + 1..close].to_string();
        let argv = want_cmdline.then(|| {
            std::fs::read(base.join("cmdline"))
                .map(|b| {
                    b.split(|&c| c == 0)
                        .filter(|s| !s.is_empty())
                        .map(|s| String::from_utf8_lossy(s).into_owned())
                        .collect()
                })
                .unwrap_or_default()
        });
        out.push((comm, argv));
    }
    out
}

/// The quorum state right now, from one synchronous scan (at instance start, so that the
/// first election already sees it, as keepalived's startup scan does).
pub fn initial_ok(p: &TrackProcess) -> bool {
    let m = Matcher::new(p);
    let count = scan(m.needs_cmdline())
        .iter()
        .filter(|(comm, argv)| m.matches(comm, argv.as_deref()))
        .count();
    quorum_ok(
        u32::try_from(count).unwrap_or(u32::MAX),
        p.quorum,
        p.quorum_max,
    )
}

/// Scan forever, reporting each tracker's (debounced) quorum state when it changes.
pub async fn watch(procs: Vec<TrackProcess>, tx: UnboundedSender<TrackerUpdate>) {
    if procs.is_empty() {
        return;
    }
    let matchers: Vec<Matcher> = procs.iter().map(Matcher::new).collect();
    let want_cmdline = matchers.iter().any(Matcher::needs_cmdline);
    let mut state: Vec<Debounce> = procs.iter().map(|_| Debounce::default()).collect();
    let mut tick = tokio::time::interval(SCAN_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let events = match ProcEvents::open() {
        Ok(ev) => {
            info!("vrrp_track_process: following the kernel's process events");
            Some(ev)
        }
        Err(e) => {
            info!(
                "vrrp_track_process: no process events ({e}); scanning /proc every {SCAN_INTERVAL:?}"
            );
            None
        }
    };
    loop {
        match &events {
            Some(ev) => tokio::select! {
                _ = tick.tick() => {}
                r = ev.next() => {
                    if r.is_err() {
                        tick.tick().await;
                    }
                }
            },
            None => {
                tick.tick().await;
            }
        }
        let seen = tokio::task::spawn_blocking(move || scan(want_cmdline))
            .await
            .unwrap_or_default();
        let next_allowed = tokio::time::Instant::now() + MIN_GAP;
        let now = Instant::now();
        for ((p, m), d) in procs.iter().zip(&matchers).zip(&mut state) {
            let count = seen
                .iter()
                .filter(|(comm, argv)| m.matches(comm, argv.as_deref()))
                .count();
            let ok = quorum_ok(
                u32::try_from(count).unwrap_or(u32::MAX),
                p.quorum,
                p.quorum_max,
            );
            let up = p.fork_delay.or(p.delay).unwrap_or_default();
            let down = p.terminate_delay.or(p.delay).unwrap_or_default();
            if let Some(new) = d.observe(now, ok, up, down) {
                info!(
                    "Track process {} {} ({count} running)",
                    p.name,
                    if new { "quorum gained" } else { "quorum lost" }
                );
                let upd = TrackerUpdate::Process {
                    name: p.name.clone(),
                    ok: new,
                };
                if tx.send(upd).is_err() {
                    return;
                }
            }
        }
        tokio::time::sleep_until(next_allowed).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tp(process: &[&str], param_match: Option<&str>) -> TrackProcess {
        TrackProcess {
            name: "t".into(),
            process: process.iter().map(|s| s.to_string()).collect(),
            param_match: param_match.map(String::from),
            weight: 1,
            reverse: false,
            quorum: 1,
            quorum_max: None,
            delay: None,
            fork_delay: None,
            terminate_delay: None,
            full_command: false,
        }
    }

    fn argv(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_bare_name_matches_the_process_name_exactly_not_as_a_pattern() {
        let m = Matcher::new(&tp(&["ssh"], None));
        assert!(!m.needs_cmdline());
        assert!(m.matches("ssh", None));
        assert!(!m.matches("sshd", None));
    }

    #[test]
    fn long_names_compare_on_the_kernels_fifteen_bytes() {
        let m = Matcher::new(&tp(&["a-very-long-daemon-name"], None));
        assert!(m.matches("a-very-long-dae", None));
    }

    #[test]
    fn parameters_match_exactly_partially_or_initially() {
        let exact = Matcher::new(&tp(&["/usr/sbin/nginx", "-g", "daemon off;"], None));
        assert!(exact.matches(
            "nginx",
            Some(&argv(&["/usr/sbin/nginx", "-g", "daemon off;"]))
        ));
        assert!(!exact.matches("nginx", Some(&argv(&["/usr/sbin/nginx", "-g"]))));
        let partial = Matcher::new(&tp(&["/bin/x", "-a"], Some("partial")));
        assert!(partial.matches("x", Some(&argv(&["/bin/x", "-a", "-b"]))));
        assert!(!partial.matches("x", Some(&argv(&["/bin/x", "-b", "-a"]))));
        let initial = Matcher::new(&tp(&["/bin/x", "-a", "conf"], Some("initial")));
        assert!(initial.matches("x", Some(&argv(&["/bin/x", "-a", "config.yml"]))));
        assert!(!initial.matches("x", Some(&argv(&["/bin/x", "-b", "config.yml"]))));
        let none = Matcher::new(&tp(&["/bin/x"], Some("exact")));
        assert!(none.matches("x", Some(&argv(&["/bin/x"]))));
        assert!(
            !none.matches("x", Some(&argv(&["/bin/x", "-v"]))),
            "param_match without parameters: none allowed"
        );
    }

    #[test]
    fn the_quorum_is_a_range() {
        assert!(!quorum_ok(0, 1, None));
        assert!(quorum_ok(3, 2, None));
        assert!(!quorum_ok(3, 2, Some(2)));
        assert!(quorum_ok(0, 0, Some(0)));
    }

    #[test]
    fn changes_are_reported_after_their_delay_and_bounces_are_swallowed() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut d = Debounce::default();
        assert_eq!(
            d.observe(t0, true, ms(100), ms(300)),
            Some(true),
            "first sight: at once"
        );
        assert_eq!(d.observe(t0 + ms(10), false, ms(100), ms(300)), None);
        assert_eq!(
            d.observe(t0 + ms(200), true, ms(100), ms(300)),
            None,
            "back before terminate_delay"
        );
        assert_eq!(d.observe(t0 + ms(250), false, ms(100), ms(300)), None);
        assert_eq!(d.observe(t0 + ms(549), false, ms(100), ms(300)), None);
        assert_eq!(
            d.observe(t0 + ms(550), false, ms(100), ms(300)),
            Some(false)
        );
        assert_eq!(d.observe(t0 + ms(600), true, ms(100), ms(300)), None);
        assert_eq!(
            d.observe(t0 + ms(700), true, ms(100), ms(300)),
            Some(true),
            "fork_delay"
        );
    }
}
