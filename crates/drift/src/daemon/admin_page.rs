//! The admin port's status page: every instance's state, a timeline of transitions, upstream
//! health. Rendered on the server as plain HTML (no script: it shows in any browser, in
//! `curl`, and in headless Chromium's `--dump-dom` without waiting for JavaScript); it
//! reloads itself every 2 s.

use std::fmt::Write as _;

use super::status::Snapshot;
use super::status_text::{ago, utc};

/// Minimal HTML escaping for text and attribute values.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:1.5em;color:#222;background:#fafafa}\
h1{font-size:1.4em}h1 .muted{font-size:.7em;font-weight:normal}h2{font-size:1.1em;margin-top:1.5em}\
table{border-collapse:collapse;background:#fff}th,td{border:1px solid #ccc;padding:.35em .7em;text-align:left}\
th{background:#eee}.state{font-weight:bold;padding:.15em .5em;border-radius:.3em;color:#fff}\
.MASTER{background:#2e7d32}.BACKUP{background:#1565c0}.FAULT{background:#c62828}.INIT{background:#757575}\
.up{color:#2e7d32}.down{color:#c62828;font-weight:bold}.muted{color:#777}";

pub fn render(snap: &Snapshot) -> String {
    let mut o = String::new();
    let _ = write!(
        o,
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><meta http-equiv=\"refresh\" content=\"2\">\
         <title>drift status</title><style>{STYLE}</style></head><body>"
    );
    let _ = write!(
        o,
        "<h1>drift {} <span class=\"muted\">pid {} · {} · up since {} · {} reload(s)</span></h1>",
        esc(&snap.version),
        snap.pid,
        esc(&snap.config),
        utc(snap.started_unix_ms),
        snap.reloads
    );
    instances(&mut o, snap);
    timeline(&mut o, snap);
    upstreams(&mut o, snap);
    o.push_str("<p class=\"muted\">JSON: <a href=\"/status.json\">/status.json</a> · metrics: <a href=\"/metrics\">/metrics</a></p></body></html>\n");
    o
}

fn instances(o: &mut String, snap: &Snapshot) {
    o.push_str("<h2>VRRP instances</h2>");
    if snap.instances.is_empty() {
        o.push_str("<p>No VRRP instance running.</p>");
        return;
    }
    o.push_str(
        "<table id=\"instances\"><tr><th>Instance</th><th>State</th><th>Priority</th><th>Master</th>\
         <th>VIPs</th><th>Last transition</th><th>Trackers</th><th>Adverts rx/tx</th><th>Dropped</th></tr>",
    );
    for i in &snap.instances {
        let master = i.master.map_or_else(|| "unknown".into(), |a| a.to_string());
        let last = i.last_transition.as_ref().map_or_else(
            || "none".to_string(),
            |t| {
                format!(
                    "{} → {} {} ({})",
                    esc(&t.from),
                    esc(&t.to),
                    ago(t.at_unix_ms),
                    esc(&t.reason)
                )
            },
        );
        let trackers: Vec<String> = i
            .trackers
            .iter()
            .map(|t| {
                let (cls, word) = if t.up { ("up", "up") } else { ("down", "DOWN") };
                format!("{} <span class=\"{cls}\">{word}</span>", esc(&t.name))
            })
            .collect();
        let _ = write!(
            o,
            "<tr data-instance=\"{n}\"><td>{n} <span class=\"muted\">{ifn} vrid {vrid}</span></td>\
             <td><span class=\"state {st}\">{st}</span></td><td>{ep} <span class=\"muted\">(base {bp})</span></td>\
             <td>{master}</td><td>{vips}</td><td>{last}</td><td>{trk}</td><td>{rx} / {tx}</td><td>{dr}</td></tr>",
            n = esc(&i.name),
            ifn = esc(&i.interface),
            vrid = i.vrid,
            st = esc(&i.state),
            ep = i.effective_priority,
            bp = i.base_priority,
            vips = esc(&i.vips.join(" ")),
            trk = trackers.join("<br>"),
            rx = i.counters.adverts_rx,
            tx = i.counters.adverts_tx,
            dr = i.counters.dropped,
        );
    }
    o.push_str("</table>");
}

fn timeline(o: &mut String, snap: &Snapshot) {
    o.push_str("<h2>Transitions</h2>");
    if snap.timeline.is_empty() {
        o.push_str("<p>None yet.</p>");
        return;
    }
    o.push_str("<table id=\"timeline\"><tr><th>Time</th><th>Instance</th><th>Change</th><th>Reason</th></tr>");
    for e in snap.timeline.iter().rev() {
        let t = &e.transition;
        let _ = write!(
            o,
            "<tr><td>{}</td><td>{}</td><td>{} → <span class=\"state {to}\">{to}</span></td><td>{}</td></tr>",
            utc(t.at_unix_ms),
            esc(&e.instance),
            esc(&t.from),
            esc(&t.reason),
            to = esc(&t.to),
        );
    }
    o.push_str("</table>");
}

fn upstreams(o: &mut String, snap: &Snapshot) {
    if snap.upstreams.is_empty() {
        return;
    }
    o.push_str("<h2>Upstreams</h2><table id=\"upstreams\"><tr><th>Upstream</th><th>Server</th><th>Health</th><th>Requests</th><th>Errors</th></tr>");
    for u in &snap.upstreams {
        let (cls, word) = if u.healthy {
            ("up", "healthy")
        } else {
            ("down", "DOWN")
        };
        let _ = write!(
            o,
            "<tr><td>{}</td><td>{}</td><td class=\"{cls}\">{word}</td><td>{}</td><td>{}</td></tr>",
            esc(&u.upstream),
            esc(&u.server),
            u.requests,
            u.errors
        );
    }
    o.push_str("</table>");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemon::status::{TimelineEntry, UpstreamStatus};

    #[test]
    fn the_page_shows_each_instance_state_and_the_timeline_newest_first() {
        let mut snap = crate::daemon::dumps::tests::sample();
        let t = snap.instances[0].last_transition.clone().unwrap();
        let mut older = t.clone();
        older.to = "BACKUP".into();
        older.at_unix_ms -= 5000;
        snap.timeline = vec![
            TimelineEntry {
                instance: "VI_1".into(),
                transition: older,
            },
            TimelineEntry {
                instance: "VI_1".into(),
                transition: t,
            },
        ];
        let html = render(&snap);
        assert!(html.contains("<span class=\"state MASTER\">MASTER</span>"));
        let newest = html.find("22:13:21.000").unwrap();
        let oldest = html.find("22:13:16.000").unwrap();
        assert!(newest < oldest, "newest transition first");
    }

    #[test]
    fn names_are_escaped_and_upstreams_listed_when_present() {
        let mut snap = crate::daemon::dumps::tests::sample();
        snap.instances[0].name = "<b>".into();
        snap.upstreams = vec![UpstreamStatus {
            upstream: "web".into(),
            server: "10.0.0.5:80".into(),
            healthy: false,
            requests: 3,
            errors: 3,
        }];
        let html = render(&snap);
        assert!(html.contains("&lt;b&gt;") && !html.contains("<b>"));
        assert!(html.contains("<td class=\"down\">DOWN</td>"));
    }
}
