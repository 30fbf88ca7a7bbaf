//! The demo's scenario: build the lab, elect, kill the master, watch the VIP drift, bring the
//! master back (preemption), print the figures, and tear everything down (also on error or
//! Ctrl-C: [`Session`]'s Drop).

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};

use super::display::Display;
use super::lab::{Lab, CLIENT_IP, IFACE, NODE_IPS, NODE_NAMES, VIP};
use super::node::{self, Node};
use super::ns::{self, PREFIX};
use super::timeline::{name, requests, Event, Outage, Stamped, Timeline};
use super::{interrupted, watch, web, DemoOptions};

pub fn run(opts: &DemoOptions, live: bool) -> Result<()> {
    let pid = std::process::id();
    let mut display = Display::new(live);
    let adv = opts.advert_int;
    let down = node::master_down(adv, 99);
    display.say(
        "drift demo: the seed article's keepalived MASTER/BACKUP pair, run by drift in network namespaces",
    );
    display.say(&format!(
        "  lab {PREFIX}{pid}-{{lan,node1,node2,client}}: bridge br0, 192.168.1.0/24 (exists only inside the lab)"
    ));
    display.say(&format!(
        "  node1 {} MASTER priority 100 | node2 {} BACKUP priority 99 | VIP {VIP}",
        NODE_IPS[0], NODE_IPS[1]
    ));
    display.say(&format!(
        "  VRRP v{}, advert_int {adv} s: the backup takes over {:.3} s after the last advert (3 adverts + skew)",
        if adv.fract() != 0.0 { 3 } else { 2 },
        down.as_secs_f64()
    ));
    display.say(&format!(
        "  client {CLIENT_IP} asks http://{VIP}/ every {} ms (timeout {} ms){}",
        web::POLL.as_millis(),
        web::REQUEST_TIMEOUT.as_millis(),
        if live {
            "; Ctrl-C stops and cleans up"
        } else {
            ""
        }
    ));
    display.say(&format!(
        "  meanwhile, in another terminal: drift status --socket {}",
        std::env::temp_dir()
            .join(format!("{PREFIX}{pid}-files/node1.sock"))
            .display()
    ));
    let removed = ns::cleanup_stale();
    remove_stale_dirs();
    if !removed.is_empty() {
        display.say(&format!(
            "  removed leftovers of an earlier demo that did not clean up: {}",
            removed.join(", ")
        ));
    }
    display.say("");
    let result = Session::start(opts, &mut display).and_then(|mut s| s.scenario(&mut display));
    display.finish();
    let left = ns::of_owner(pid);
    if left.is_empty() {
        display.say(&format!(
            "cleaned up: namespaces {PREFIX}{pid}-* and their processes removed"
        ));
    } else {
        display.say(&format!(
            "cleanup incomplete, still present: {}",
            left.join(", ")
        ));
    }
    result
}

/// The lab and everything running in it; Drop stops the nodes, then the threads, then deletes
/// the namespaces.
struct Session {
    nodes: [Option<Node>; 2],
    /// Nodes the scenario took down on purpose (their exit is not an error).
    down: [bool; 2],
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    lab: Option<Lab>,
    dir: PathBuf,
    rx: Receiver<Stamped>,
    tx: Sender<Stamped>,
    tl: Timeline,
    adv: f64,
}

impl Session {
    fn start(opts: &DemoOptions, display: &mut Display) -> Result<Session> {
        let t0 = Instant::now();
        let dir = std::env::temp_dir().join(format!("{PREFIX}{}-files", std::process::id()));
        std::fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
        let (tx, rx) = channel();
        let mut s = Session {
            nodes: [None, None],
            down: [false; 2],
            stop: Arc::new(AtomicBool::new(false)),
            threads: Vec::new(),
            lab: None,
            dir,
            rx,
            tx,
            tl: Timeline::new(t0),
            adv: opts.advert_int,
        };
        s.lab = Some(Lab::build().context("build the lab")?);
        s.note(display, "lab up: node1, node2 and client on bridge br0");
        s.start_threads()?;
        for (i, node_name) in NODE_NAMES.iter().enumerate() {
            let conf = s.dir.join(format!("{node_name}.conf"));
            std::fs::write(&conf, node::config(i, s.adv))
                .with_context(|| format!("write {}", conf.display()))?;
        }
        for i in 0..2 {
            s.start_node(i, display)?;
        }
        Ok(s)
    }

    fn lab(&self) -> Result<&Lab> {
        self.lab.as_ref().ok_or_else(|| anyhow!("the lab is gone"))
    }

    fn start_threads(&mut self) -> Result<()> {
        let lab = self.lab.as_ref().ok_or_else(|| anyhow!("no lab"))?;
        let mut threads = Vec::new();
        for (i, ns) in lab.nodes.iter().enumerate() {
            let (ready_tx, ready_rx) = channel();
            let stop = self.stop.clone();
            threads.push(ns.thread("demo-web", move || {
                web::serve(NODE_NAMES[i], stop, ready_tx)
            })?);
            match ready_rx.recv_timeout(Duration::from_secs(5)) {
                Ok(Ok(())) => {}
                Ok(Err(e)) => bail!("web backend: {e}"),
                Err(_) => bail!("web backend of {} did not start", NODE_NAMES[i]),
            }
            let (stop, tx) = (self.stop.clone(), self.tx.clone());
            threads.push(ns.thread("demo-vip", move || watch::vip(i, VIP, stop, tx))?);
            // One follower per log for the whole demo: a restarted node appends to the same file.
            let log = self.dir.join(format!("{}.log", NODE_NAMES[i]));
            let (stop, tx) = (self.stop.clone(), self.tx.clone());
            threads.push(ns.thread("demo-log", move || watch::log(i, log, 0, stop, tx))?);
        }
        let (stop, tx) = (self.stop.clone(), self.tx.clone());
        threads.push(
            lab.client
                .thread("demo-client", move || web::poll(IpAddr::V4(VIP), stop, tx))?,
        );
        self.threads = threads;
        Ok(())
    }

    fn start_node(&mut self, i: usize, display: &mut Display) -> Result<()> {
        let lab = self.lab()?;
        let conf = self.dir.join(format!("{}.conf", NODE_NAMES[i]));
        let log = self.dir.join(format!("{}.log", NODE_NAMES[i]));
        let sock = self.dir.join(format!("{}.sock", NODE_NAMES[i]));
        let n = Node::start(lab.nodes[i].name(), &conf, log, &sock)?;
        let pid = n.pid();
        self.nodes[i] = Some(n);
        self.down[i] = false;
        let role = if i == 0 { "MASTER" } else { "BACKUP" };
        self.note(
            display,
            &format!(
                "{} started: drift run -f {}.conf (the article's {role}), pid {pid}",
                NODE_NAMES[i], NODE_NAMES[i]
            ),
        );
        Ok(())
    }

    fn note(&mut self, display: &mut Display, text: &str) {
        let now = Instant::now();
        if let Some(line) = self.tl.apply(now, Event::Note(text.into())) {
            display.line(&self.tl.stamp(now), &line);
        }
    }

    /// Show events until `done` holds (Ok(true)) or `deadline` passes (Ok(false)).
    fn pump(
        &mut self,
        display: &mut Display,
        deadline: Instant,
        done: impl Fn(&Timeline) -> bool,
    ) -> Result<bool> {
        loop {
            if interrupted() {
                bail!("interrupted: lab removed");
            }
            for i in 0..2 {
                let died = match &mut self.nodes[i] {
                    Some(n) if !self.down[i] => n.exited(),
                    _ => None,
                };
                if let Some(status) = died {
                    let log = self.dir.join(format!("{}.log", name(i)));
                    let text = std::fs::read_to_string(&log).unwrap_or_default();
                    bail!(
                        "{}'s drift exited unexpectedly ({status}); its log:\n{text}",
                        name(i)
                    );
                }
            }
            if done(&self.tl) {
                return Ok(true);
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(false);
            }
            let wait = (deadline - now).min(Duration::from_millis(20));
            if let Ok((at, ev)) = self.rx.recv_timeout(wait) {
                if let Some(line) = self.tl.apply(at, ev) {
                    display.line(&self.tl.stamp(at), &line);
                }
            }
            display.status(&self.tl, Instant::now());
        }
    }

    fn wait_for(
        &mut self,
        display: &mut Display,
        what: &str,
        timeout: Duration,
        done: impl Fn(&Timeline) -> bool,
    ) -> Result<Instant> {
        if self.pump(display, Instant::now() + timeout, done)? {
            Ok(Instant::now())
        } else {
            bail!("gave up after {timeout:?} waiting for {what}")
        }
    }

    /// Keep showing events for a while, so a steady state is visible.
    fn hold(&mut self, display: &mut Display) -> Result<()> {
        let d = Duration::from_secs_f64((3.0 * self.adv).max(2.0));
        self.pump(display, Instant::now() + d, |_| false)
            .map(|_| ())
    }

    fn scenario(&mut self, display: &mut Display) -> Result<()> {
        let patience = Duration::from_secs_f64(10.0 + 10.0 * self.adv);
        let serving = |n: usize| move |t: &Timeline| t.holder() == Some(n) && t.answered_by(n);
        self.wait_for(
            display,
            "node1 to hold the VIP and answer",
            patience,
            serving(0),
        )?;
        self.hold(display)?;

        self.note(
            display,
            "power cut on node1: its drift SIGKILLed, its cable pulled, its addresses gone",
        );
        let killed = Instant::now();
        self.down[0] = true;
        if let Some(n) = &mut self.nodes[0] {
            n.crash();
        }
        let lab = self.lab()?;
        lab.cable(0, false)?;
        let _ = lab.nodes[0].ip(&["addr", "del", &format!("{VIP}/32"), "dev", IFACE]);
        self.wait_for(display, "the VIP to move to node2", patience, serving(1))?;
        self.hold(display)?;

        self.note(
            display,
            "node1 back: cable plugged in, drift restarted (priority 100 > 99: it preempts)",
        );
        let restarted = Instant::now();
        self.lab()?.cable(0, true)?;
        self.start_node(0, display)?;
        self.wait_for(display, "node1 to take the VIP back", patience, serving(0))?;
        self.hold(display)?;
        display.finish();
        self.summary(display, killed, restarted);
        Ok(())
    }

    fn summary(&self, display: &mut Display, killed: Instant, restarted: Instant) {
        let secs = |d: Duration| d.as_secs_f64();
        let down = node::master_down(self.adv, 99);
        display.say("");
        display.say("summary");
        if let Some(at) = self.tl.sole_holder_since(1, killed) {
            display.say(&format!(
                "  failover: VIP moved to node2 {:.3} s after node1 was killed (VRRP master-down interval {:.3} s)",
                secs(at - killed),
                secs(down)
            ));
        }
        let outage = |o: Option<Outage>| match o {
            Some(o) => format!(
                "{:.3} s without answers, {}",
                secs(o.length()),
                requests(o.failed)
            ),
            None => "no failed request".to_string(),
        };
        display.say(&format!(
            "  client during failover: {}",
            outage(self.tl.outage_after(killed).filter(|o| o.from < restarted))
        ));
        if let Some(at) = self.tl.sole_holder_since(0, restarted) {
            display.say(&format!(
                "  failback: node1 took the VIP back {:.3} s after its drift was restarted; client: {}",
                secs(at - restarted),
                outage(self.tl.outage_after(restarted))
            ));
        }
        display.say(&format!(
            "  client: {} requests answered, {} failed",
            self.tl.ok, self.tl.failed
        ));
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        for n in self.nodes.iter_mut().flatten() {
            n.stop(Duration::from_secs(2));
        }
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        drop(self.lab.take());
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Temp dirs of earlier runs whose owner is dead (configs and logs of a crashed demo).
fn remove_stale_dirs() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = ns::owner_pid(&name) else {
            continue;
        };
        if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}
