//! What happened in the lab, in order: events from the watchers, the client and the demo's own
//! actions, turned into timeline lines and the figures of the summary. Pure (time is passed
//! in), so the rules for "an outage began / ended" are unit-tested.

use std::time::{Duration, Instant};

use super::lab::NODE_NAMES;

/// An event with the instant it was observed.
pub type Stamped = (Instant, Event);

#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// Something the demo itself did (kill the master, bring it back).
    Note(String),
    /// A line worth showing from a node's log (a VRRP state change, an error).
    NodeLog { node: usize, text: String },
    /// Node `node` gained (`held`) or lost the VIP, as its kernel sees it.
    Vip { node: usize, held: bool },
    /// A client request answered by this node.
    Answer(String),
    /// A client request failed, and why.
    Failed(String),
}

/// A stretch without answers: from the last answer before it to the first answer after it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Outage {
    pub from: Instant,
    pub to: Instant,
    pub failed: u64,
}

impl Outage {
    pub fn length(&self) -> Duration {
        self.to.saturating_duration_since(self.from)
    }
}

#[derive(Debug)]
pub struct Timeline {
    start: Instant,
    pub holders: [bool; 2],
    /// Every instant at which exactly one node came to hold the VIP, and which.
    pub sole_holder: Vec<(Instant, usize)>,
    pub ok: u64,
    pub failed: u64,
    pub last_answer: Option<String>,
    last_ok_at: Option<Instant>,
    /// The outage in progress: its start and failures so far.
    open: Option<(Instant, u64)>,
    pub outages: Vec<Outage>,
}

impl Timeline {
    pub fn new(start: Instant) -> Timeline {
        Timeline {
            start,
            holders: [false; 2],
            sole_holder: Vec::new(),
            ok: 0,
            failed: 0,
            last_answer: None,
            last_ok_at: None,
            open: None,
            outages: Vec::new(),
        }
    }

    /// `+12.345s`: time since the demo started.
    pub fn stamp(&self, at: Instant) -> String {
        format!(
            "+{:.3}s",
            at.saturating_duration_since(self.start).as_secs_f64()
        )
    }

    /// The node holding the VIP alone, if exactly one does.
    pub fn holder(&self) -> Option<usize> {
        match self.holders {
            [true, false] => Some(0),
            [false, true] => Some(1),
            _ => None,
        }
    }

    /// When `node` first became the only VIP holder after `t`.
    pub fn sole_holder_since(&self, node: usize, t: Instant) -> Option<Instant> {
        self.sole_holder
            .iter()
            .find(|(at, n)| *at >= t && *n == node)
            .map(|(at, _)| *at)
    }

    /// The first client outage that ended after `t` (the one a failover caused).
    pub fn outage_after(&self, t: Instant) -> Option<Outage> {
        self.outages.iter().find(|o| o.to >= t).copied()
    }

    /// Whether the client's latest answer came from `node` with no outage open.
    pub fn answered_by(&self, node: usize) -> bool {
        self.open.is_none() && self.last_answer.as_deref() == Some(NODE_NAMES[node])
    }

    /// Record `ev`; returns the timeline text it deserves (None for routine events).
    pub fn apply(&mut self, at: Instant, ev: Event) -> Option<String> {
        match ev {
            Event::Note(text) => Some(format!(">>> {text}")),
            Event::NodeLog { node, text } => Some(format!("{}: {text}", name(node))),
            Event::Vip { node, held } => {
                if let Some(h) = self.holders.get_mut(node) {
                    *h = held;
                }
                if let Some(n) = self.holder() {
                    self.sole_holder.push((at, n));
                }
                let verb = if held { "now holds" } else { "released" };
                Some(format!("{} {verb} the VIP", name(node)))
            }
            Event::Answer(node) => self.answer(at, node),
            Event::Failed(why) => self.fail(at, why),
        }
    }

    fn answer(&mut self, at: Instant, node: String) -> Option<String> {
        self.ok += 1;
        let previous = self.last_answer.replace(node.clone());
        let since = self.last_ok_at.replace(at);
        if let Some((from, failed)) = self.open.take() {
            let from = since.unwrap_or(from);
            let o = Outage {
                from,
                to: at,
                failed,
            };
            if previous.is_none() {
                return Some(format!(
                    "client: first answer, from {node} (after {})",
                    requests(failed)
                ));
            }
            self.outages.push(o);
            return Some(format!(
                "client: answered by {node} again, after {:.3} s without answers ({})",
                o.length().as_secs_f64(),
                requests(failed)
            ));
        }
        match previous {
            None => Some(format!("client: first answer, from {node}")),
            Some(p) if p != node => Some(format!("client: now answered by {node} (was {p})")),
            Some(_) => None,
        }
    }

    fn fail(&mut self, at: Instant, why: String) -> Option<String> {
        self.failed += 1;
        match &mut self.open {
            Some((_, failed)) => {
                *failed += 1;
                None
            }
            None => {
                self.open = Some((at, 1));
                Some(if self.last_answer.is_none() {
                    format!("client: no answer yet ({why})")
                } else {
                    format!("client: request failed ({why}), outage begins")
                })
            }
        }
    }
}

/// `1 failed request`, `18 failed requests`.
pub fn requests(failed: u64) -> String {
    let s = if failed == 1 { "" } else { "s" };
    format!("{failed} failed request{s}")
}

/// A node's display name.
pub fn name(node: usize) -> &'static str {
    NODE_NAMES.get(node).copied().unwrap_or("node?")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(t0: Instant, n: u64) -> Instant {
        t0 + Duration::from_millis(n)
    }

    #[test]
    fn an_outage_runs_from_the_last_answer_to_the_next_and_counts_failures() {
        let t0 = Instant::now();
        let mut t = Timeline::new(t0);
        assert!(t.apply(ms(t0, 0), Event::Answer("node1".into())).is_some());
        assert!(t.apply(ms(t0, 50), Event::Answer("node1".into())).is_none());
        let began = t.apply(ms(t0, 300), Event::Failed("timeout".into()));
        assert!(began.is_some_and(|l| l.contains("outage begins")));
        assert!(t
            .apply(ms(t0, 500), Event::Failed("timeout".into()))
            .is_none());
        let back = t.apply(ms(t0, 650), Event::Answer("node2".into()));
        assert!(back.is_some_and(|l| l.contains("node2") && l.contains("0.600 s")));
        assert_eq!(
            t.outage_after(ms(t0, 100)),
            Some(Outage {
                from: ms(t0, 50),
                to: ms(t0, 650),
                failed: 2
            })
        );
        assert_eq!((t.ok, t.failed), (3, 2));
        assert!(t.answered_by(1) && !t.answered_by(0));
    }

    #[test]
    fn the_sole_holder_is_recorded_only_when_exactly_one_node_holds_the_vip() {
        let t0 = Instant::now();
        let mut t = Timeline::new(t0);
        t.apply(
            ms(t0, 10),
            Event::Vip {
                node: 0,
                held: true,
            },
        );
        t.apply(
            ms(t0, 20),
            Event::Vip {
                node: 1,
                held: true,
            },
        );
        assert_eq!(t.holder(), None);
        t.apply(
            ms(t0, 30),
            Event::Vip {
                node: 0,
                held: false,
            },
        );
        assert_eq!(t.holder(), Some(1));
        assert_eq!(t.sole_holder_since(1, ms(t0, 15)), Some(ms(t0, 30)));
        assert_eq!(t.sole_holder_since(0, ms(t0, 15)), None);
    }

    #[test]
    fn failures_before_any_answer_say_no_answer_yet_and_a_new_node_is_announced() {
        let t0 = Instant::now();
        let mut t = Timeline::new(t0);
        let first = t.apply(t0, Event::Failed("timeout".into()));
        assert!(first.is_some_and(|l| l.contains("no answer yet")));
        let first = t.apply(ms(t0, 100), Event::Answer("node1".into()));
        assert!(
            first.is_some_and(|l| l.contains("first answer") && l.contains("1 failed request)"))
        );
        assert!(
            t.outages.is_empty(),
            "waiting for the first answer is no outage"
        );
        let moved = t.apply(ms(t0, 150), Event::Answer("node2".into()));
        assert!(moved.is_some_and(|l| l.contains("now answered by node2")));
        assert_eq!(t.stamp(ms(t0, 1500)), "+1.500s");
    }
}
