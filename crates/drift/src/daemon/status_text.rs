//! `drift status` for humans: one block per instance, in the words of keepalived's logs.

use std::fmt::Write as _;

use super::status::{unix_ms, Snapshot};

/// `YYYY-MM-DD HH:MM:SS.mmm UTC` (no time zone database needed, and logs are in UTC anyway).
pub fn utc(unix_ms: u64) -> String {
    let secs = unix_ms / 1000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Howard Hinnant's civil_from_days.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}.{:03} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        unix_ms % 1000
    )
}

/// "3.2 s ago", "5 min ago", from now.
pub fn ago(at_unix_ms: u64) -> String {
    let s = unix_ms().saturating_sub(at_unix_ms) as f64 / 1000.0;
    if s < 120.0 {
        format!("{s:.1} s ago")
    } else if s < 7200.0 {
        format!("{:.0} min ago", s / 60.0)
    } else {
        format!("{:.1} h ago", s / 3600.0)
    }
}

pub fn render(snap: &Snapshot) -> String {
    let mut o = String::new();
    let phase = snap.phase.map_or_else(
        || "unknown".to_string(),
        |p| format!("{p:?}").to_lowercase(),
    );
    let _ = writeln!(
        o,
        "drift {} (pid {}) {phase}, config {}, up since {} ({}), {} reload(s)",
        snap.version,
        snap.pid,
        snap.config,
        utc(snap.started_unix_ms),
        ago(snap.started_unix_ms),
        snap.reloads
    );
    if let Some(r) = &snap.last_reload {
        let _ = writeln!(o, "last reload: {r}");
    }
    if snap.instances.is_empty() {
        let _ = writeln!(o, "no VRRP instance running");
    }
    for i in &snap.instances {
        let _ = writeln!(
            o,
            "\nVRRP_Instance({}) {} on {} vrid {}",
            i.name, i.state, i.interface, i.vrid
        );
        let _ = writeln!(
            o,
            "  priority {} (base {}), master {}{}",
            i.effective_priority,
            i.base_priority,
            i.master.map_or_else(|| "unknown".into(), |a| a.to_string()),
            i.master_priority
                .map_or_else(String::new, |p| format!(" priority {p}"))
        );
        let _ = writeln!(o, "  VIPs: {}", i.vips.join(" "));
        if let Some(g) = &i.sync_group {
            let _ = writeln!(o, "  sync group: {g}");
        }
        match &i.last_transition {
            Some(t) => {
                let _ = writeln!(
                    o,
                    "  last transition: {} -> {} at {} ({}): {}",
                    t.from,
                    t.to,
                    utc(t.at_unix_ms),
                    ago(t.at_unix_ms),
                    t.reason
                );
            }
            None => {
                let _ = writeln!(o, "  last transition: none");
            }
        }
        for t in &i.trackers {
            let _ = writeln!(
                o,
                "  tracks {} {}: {} (weight {})",
                t.kind,
                t.name,
                if t.up { "up" } else { "DOWN" },
                t.weight
            );
        }
        let c = &i.counters;
        let _ = writeln!(
            o,
            "  adverts rx {} tx {}, became master {}, released {}, priority 0 rx {} tx {}, dropped {}",
            c.adverts_rx,
            c.adverts_tx,
            c.became_master,
            c.released_master,
            c.priority_zero_rx,
            c.priority_zero_tx,
            c.dropped
        );
        let nonzero: Vec<String> = i
            .drops
            .iter()
            .filter(|(_, n)| *n > 0)
            .map(|(r, n)| format!("{r} {n}"))
            .collect();
        if !nonzero.is_empty() {
            let _ = writeln!(o, "  drops: {}", nonzero.join(", "));
        }
    }
    if !snap.upstreams.is_empty() {
        let _ = writeln!(o, "\nupstreams:");
        for u in &snap.upstreams {
            let _ = writeln!(
                o,
                "  {} {}: {}, {} requests, {} errors",
                u.upstream,
                u.server,
                if u.healthy { "healthy" } else { "DOWN" },
                u.requests,
                u.errors
            );
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_formats_known_instants() {
        assert_eq!(utc(0), "1970-01-01 00:00:00.000 UTC");
        assert_eq!(utc(951_782_400_123), "2000-02-29 00:00:00.123 UTC");
        assert_eq!(utc(1_796_000_000_000), "2026-11-30 00:53:20.000 UTC");
    }

    #[test]
    fn the_human_status_shows_state_priority_master_vips_and_drops() {
        let s = render(&crate::daemon::dumps::tests::sample());
        assert!(
            s.contains("VRRP_Instance(VI_1) MASTER on eth0 vrid 51"),
            "{s}"
        );
        assert!(s.contains("priority 100 (base 100), master 10.0.0.1 priority 100"));
        assert!(s.contains("VIPs: 10.0.0.110/32"));
        assert!(s.contains("BACKUP -> MASTER"));
        assert!(s.contains("drops: ttl 2, checksum 5"));
    }
}
