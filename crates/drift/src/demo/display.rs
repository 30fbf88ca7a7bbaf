//! Printing the timeline: plain lines, plus (on a terminal, unless `--non-interactive`) a live
//! status line at the bottom that is redrawn in place and some colour.

use std::io::Write;
use std::time::{Duration, Instant};

use super::timeline::{name, Timeline};

pub struct Display {
    live: bool,
    status_shown: bool,
    last_status: Option<Instant>,
}

const CLEAR_LINE: &str = "\r\x1b[2K";
const STATUS_EVERY: Duration = Duration::from_millis(100);

impl Display {
    pub fn new(live: bool) -> Display {
        Display {
            live,
            status_shown: false,
            last_status: None,
        }
    }

    /// A line without a timestamp (headers, the summary).
    pub fn say(&mut self, text: &str) {
        self.clear_status();
        println!("{text}");
    }

    /// One timeline entry.
    pub fn line(&mut self, stamp: &str, text: &str) {
        self.clear_status();
        let (on, off) = match self.colour(text) {
            Some(c) if self.live => (c, "\x1b[0m"),
            _ => ("", ""),
        };
        println!("  {stamp:>9}  {on}{text}{off}");
    }

    fn colour(&self, text: &str) -> Option<&'static str> {
        if text.starts_with(">>>") {
            Some("\x1b[1m")
        } else if text.contains("outage begins") || text.contains("ERROR") {
            Some("\x1b[31m")
        } else if text.contains("again") || text.contains("now holds") {
            Some("\x1b[32m")
        } else {
            None
        }
    }

    /// Redraw the status line (at most every 100 ms; nothing when not live).
    pub fn status(&mut self, t: &Timeline, now: Instant) {
        if !self.live || self.last_status.is_some_and(|l| now - l < STATUS_EVERY) {
            return;
        }
        self.last_status = Some(now);
        let vip = match t.holders {
            [false, false] => "nobody".to_string(),
            [true, true] => "node1 + node2".to_string(),
            _ => t.holder().map(name).unwrap_or("?").to_string(),
        };
        let last = t.last_answer.as_deref().unwrap_or("-");
        // Short enough for an 80-column terminal: a wrapped line could not be redrawn in place.
        print!(
            "{CLEAR_LINE}\x1b[7m {}  VIP: {vip}  client: {} ok, {} failed, last from {last} \x1b[0m",
            t.stamp(now),
            t.ok,
            t.failed
        );
        let _ = std::io::stdout().flush();
        self.status_shown = true;
    }

    fn clear_status(&mut self) {
        if self.status_shown {
            print!("{CLEAR_LINE}");
            self.status_shown = false;
            self.last_status = None;
        }
    }

    pub fn finish(&mut self) {
        self.clear_status();
        let _ = std::io::stdout().flush();
    }
}
