//! What the benchmark examples share: finding the drift binary, and reading a namespace's
//! processes' CPU time and memory from /proc. Included with `#[path]`; not an example itself.
#![allow(dead_code)] // each example uses its own subset

use std::path::PathBuf;

use drift_testkit::Netns;

/// `DRIFT_BIN`, else the `drift` built beside the example (`target/<profile>/drift`).
pub fn drift_bin() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("DRIFT_BIN") {
        return Some(p.into());
    }
    let exe = std::env::current_exe().ok()?;
    let p = exe.parent()?.parent()?.join("drift");
    p.exists().then_some(p)
}

/// utime + stime (clock ticks) of every process in the namespace.
pub fn ns_cpu_ticks(ns: &Netns) -> u64 {
    ns.pids()
        .iter()
        .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/stat")).ok())
        .filter_map(|stat| {
            // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
            let rest = stat.rsplit_once(')')?.1;
            let f: Vec<&str> = rest.split_whitespace().collect();
            Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
        })
        .sum()
}

/// Resident memory (KiB) of every process in the namespace.
pub fn ns_rss_kib(ns: &Netns) -> u64 {
    ns.pids()
        .iter()
        .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/status")).ok())
        .filter_map(|s| {
            let line = s.lines().find(|l| l.starts_with("VmRSS:"))?;
            line.split_whitespace().nth(1)?.parse::<u64>().ok()
        })
        .sum()
}
