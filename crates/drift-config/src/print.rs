//! `print_conf`: the model as canonical keepalived syntax. Every resolved value is written
//! explicitly, so reading the output back yields the same model whatever the defaults are.

use crate::lower::values::{format_secs, quote};
use drift_model::*;
use std::fmt::Write;
use std::time::Duration;

struct Out {
    s: String,
    depth: usize,
}

impl Out {
    fn line(&mut self, words: &[&str]) {
        for _ in 0..self.depth {
            self.s.push_str("    ");
        }
        let q: Vec<String> = words.iter().map(|w| quote(w)).collect();
        self.s.push_str(&q.join(" "));
        self.s.push('\n');
    }
    fn kv(&mut self, key: &str, value: impl ToString) {
        self.line(&[key, &value.to_string()]);
    }
    fn secs(&mut self, key: &str, d: Duration) {
        self.kv(key, format_secs(d));
    }
    fn flag(&mut self, key: &str, on: bool) {
        self.line(&[key, if on { "on" } else { "off" }]);
    }
    fn open(&mut self, words: &[&str]) {
        for _ in 0..self.depth {
            self.s.push_str("    ");
        }
        let q: Vec<String> = words.iter().map(|w| quote(w)).collect();
        let _ = writeln!(self.s, "{} {{", q.join(" "));
        self.depth += 1;
    }
    fn close(&mut self) {
        self.depth = self.depth.saturating_sub(1);
        for _ in 0..self.depth {
            self.s.push_str("    ");
        }
        self.s.push_str("}\n");
    }
    fn raw(&mut self, e: &RawEntry) {
        let mut words: Vec<&str> = vec![&e.key];
        words.extend(e.args.iter().map(String::as_str));
        match &e.block {
            None => self.line(&words),
            Some(children) => {
                self.open(&words);
                for c in children {
                    self.raw(c);
                }
                self.close();
            }
        }
    }
    fn lines(&mut self, key: &str, lines: &[Vec<String>]) {
        if lines.is_empty() {
            return;
        }
        self.open(&[key]);
        for l in lines {
            let w: Vec<&str> = l.iter().map(String::as_str).collect();
            self.line(&w);
        }
        self.close();
    }
}

pub fn print_conf(m: &Config) -> String {
    let mut o = Out {
        s: String::new(),
        depth: 0,
    };
    crate::print_global::global(&mut PrintOut(&mut o), &m.global_defs);
    for s in &m.vrrp_scripts {
        o.open(&["vrrp_script", &s.name]);
        o.line(&["script", &s.script]);
        o.secs("interval", s.interval);
        o.secs("timeout", s.timeout);
        weight(&mut o, s.weight, s.reverse);
        o.kv("rise", s.rise);
        o.kv("fall", s.fall);
        if let Some(u) = &s.user {
            let mut w = vec!["user", u.as_str()];
            w.extend(s.group.as_deref());
            o.line(&w);
        }
        if s.init_fail {
            o.line(&["init_fail"]);
        }
        o.close();
    }
    for t in &m.track_files {
        o.open(&["track_file", &t.name]);
        o.line(&["file", &t.file]);
        weight(&mut o, t.weight, t.reverse);
        if let Some(init) = &t.init_file {
            let mut w = vec!["init_file"];
            w.extend(init.iter().map(String::as_str));
            o.line(&w);
        }
        o.close();
    }
    for p in &m.track_processes {
        o.open(&["vrrp_track_process", &p.name]);
        let mut w = vec!["process"];
        w.extend(p.process.iter().map(String::as_str));
        o.line(&w);
        if let Some(pm) = &p.param_match {
            o.line(&["param_match", pm]);
        }
        weight(&mut o, p.weight, p.reverse);
        o.kv("quorum", p.quorum);
        if let Some(q) = p.quorum_max {
            o.kv("quorum_max", q);
        }
        for (k, v) in [
            ("delay", p.delay),
            ("fork_delay", p.fork_delay),
            ("terminate_delay", p.terminate_delay),
        ] {
            if let Some(d) = v {
                o.secs(k, d);
            }
        }
        if p.full_command {
            o.line(&["full_command"]);
        }
        o.close();
    }
    for g in &m.sync_groups {
        o.open(&["vrrp_sync_group", &g.name]);
        o.open(&["group"]);
        for member in &g.group {
            o.line(&[member]);
        }
        o.close();
        notify(&mut o, &g.notify);
        o.flag("smtp_alert", g.smtp_alert);
        if g.global_tracking {
            o.line(&["global_tracking"]);
        }
        if g.sync_group_tracking_weight {
            o.line(&["sync_group_tracking_weight"]);
        }
        tracks(
            &mut o,
            &g.track_script,
            &g.track_interface,
            &g.track_file,
            &g.track_process,
        );
        for e in &g.extra {
            o.raw(e);
        }
        o.close();
    }
    for i in &m.instances {
        crate::print_instance::instance(&mut PrintOut(&mut o), i);
    }
    if !m.static_ipaddress.is_empty() {
        o.open(&["static_ipaddress"]);
        for v in &m.static_ipaddress {
            vip(&mut o, v);
        }
        o.close();
    }
    o.lines("static_routes", &m.static_routes);
    o.lines("static_rules", &m.static_rules);
    for g in &m.virtual_server_groups {
        o.open(&["virtual_server_group", &g.name]);
        for l in &g.members {
            let w: Vec<&str> = l.iter().map(String::as_str).collect();
            o.line(&w);
        }
        o.close();
    }
    for vs in &m.virtual_servers {
        let mut w = vec!["virtual_server"];
        w.extend(vs.target.iter().map(String::as_str));
        o.open(&w);
        for e in &vs.settings {
            o.raw(e);
        }
        for rs in &vs.real_servers {
            let port = rs.port.map(|p| p.to_string());
            let mut w = vec!["real_server", rs.address.as_str()];
            w.extend(port.as_deref());
            o.open(&w);
            o.kv("weight", rs.weight);
            for e in &rs.settings {
                o.raw(e);
            }
            o.close();
        }
        o.close();
    }
    for e in &m.extra {
        o.raw(e);
    }
    o.s
}

/// Lets print_instance.rs write through the same indenting writer.
pub(crate) struct PrintOut<'a>(&'a mut Out);

impl PrintOut<'_> {
    pub fn line(&mut self, w: &[&str]) {
        self.0.line(w)
    }
    pub fn kv(&mut self, k: &str, v: impl ToString) {
        self.0.kv(k, v)
    }
    pub fn secs(&mut self, k: &str, d: Duration) {
        self.0.secs(k, d)
    }
    pub fn flag(&mut self, k: &str, on: bool) {
        self.0.flag(k, on)
    }
    pub fn open(&mut self, w: &[&str]) {
        self.0.open(w)
    }
    pub fn close(&mut self) {
        self.0.close()
    }
    pub fn raw(&mut self, e: &RawEntry) {
        self.0.raw(e)
    }
    pub fn lines(&mut self, k: &str, l: &[Vec<String>]) {
        self.0.lines(k, l)
    }
    pub fn vip(&mut self, v: &Vip) {
        vip(self.0, v)
    }
    pub fn notify(&mut self, n: &Notify) {
        notify(self.0, n)
    }
    pub fn tracks(
        &mut self,
        s: &[TrackScriptRef],
        i: &[TrackInterface],
        f: &[TrackRef],
        p: &[TrackRef],
    ) {
        tracks(self.0, s, i, f, p)
    }
}

fn weight(o: &mut Out, w: i32, reverse: bool) {
    let w = w.to_string();
    if reverse {
        o.line(&["weight", &w, "reverse"]);
    } else {
        o.line(&["weight", &w]);
    }
}

fn vip(o: &mut Out, v: &Vip) {
    let first = format!("{}/{}", v.addr, v.prefix_len);
    let mut w: Vec<String> = vec![first];
    let mut push = |k: &str, val: &Option<String>| {
        if let Some(x) = val {
            w.push(k.into());
            w.push(x.clone());
        }
    };
    push("brd", &v.brd.map(|b| b.to_string()));
    push("dev", &v.dev);
    push("scope", &v.scope);
    push("label", &v.label);
    push("peer", &v.peer.map(|b| b.to_string()));
    push("track_group", &v.track_group);
    push("preferred_lft", &v.preferred_lft);
    if v.no_track {
        w.push("no_track".into());
    }
    for f in &v.flags {
        match f.strip_prefix("brd") {
            Some(sign) if sign == "-" || sign == "+" => {
                w.push("brd".into());
                w.push(sign.into());
            }
            _ => w.push(f.clone()),
        }
    }
    let refs: Vec<&str> = w.iter().map(String::as_str).collect();
    o.line(&refs);
}

fn notify(o: &mut Out, n: &Notify) {
    let all = [
        ("notify_master", &n.master),
        ("notify_backup", &n.backup),
        ("notify_fault", &n.fault),
        ("notify_stop", &n.stop),
        ("notify_deleted", &n.deleted),
        ("notify", &n.notify),
        ("notify_master_rx_lower_pri", &n.master_rx_lower_pri),
    ];
    for (k, v) in all {
        if let Some(cmd) = v {
            let mut w = vec![k, cmd.as_str()];
            if let Some(u) = n.users.iter().find(|u| u.keyword == k) {
                w.push(&u.user);
                w.extend(u.group.as_deref());
            }
            o.line(&w);
        }
    }
    if n.priority_changes {
        o.flag("notify_priority_changes", true);
    }
}

fn tracks(o: &mut Out, s: &[TrackScriptRef], i: &[TrackInterface], f: &[TrackRef], p: &[TrackRef]) {
    let line = |o: &mut Out, name: &str, weight: Option<i32>, reverse: bool| {
        let w = weight.map(|w| w.to_string());
        let mut words = vec![name];
        if let Some(w) = &w {
            words.push("weight");
            words.push(w);
        }
        if reverse {
            words.push("reverse");
        }
        o.line(&words);
    };
    if !s.is_empty() {
        o.open(&["track_script"]);
        for t in s {
            line(o, &t.name, t.weight, t.reverse);
        }
        o.close();
    }
    if !i.is_empty() {
        o.open(&["track_interface"]);
        for t in i {
            line(o, &t.name, Some(t.weight), t.reverse);
        }
        o.close();
    }
    for (key, list) in [("track_file", f), ("track_process", p)] {
        if !list.is_empty() {
            o.open(&[key]);
            for t in list {
                line(o, &t.name, t.weight, t.reverse);
            }
            o.close();
        }
    }
}
