//! The interop matrix with the distribution's keepalived (2.2.7): drift and keepalived as a
//! pair on one namespace LAN, each in both roles, for VRRPv2 with PASS authentication, VRRPv3
//! over IPv4 and VRRPv3 over IPv6, each multicast and unicast.
//!
//! Every cell runs the same script ([`run_cell`]): both elect the higher-priority node; the
//! master is SIGKILLed (the other takes over), restarts (preempts back), is SIGTERMed (the other
//! takes over after Skew_Time thanks to the priority-0 advert) and restarts again. Throughout,
//! the time both hold the VIP is measured (bound: one advert interval plus scheduling slack),
//! and at the end neither side may have dropped a packet of the other: both SIGUSR2 stats dumps
//! (keepalived's, and drift's in the same layout) must show zero packet and authentication
//! errors, and drift's debug log no "dropped a packet" line.
//!
//! v3 cells use a 0.1 s advert interval so they take a few seconds; v2 carries whole seconds,
//! so its four cells take ~15 s each. Figures are printed as `FIGURE` lines (`-- --nocapture`).

mod common;

use std::net::IpAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use common::{drop_stale_vip, figure, holders, keepalived_stat_errors, Daemon};
use drift_testkit::{skip_unless_root, skip_unless_tool, wait_until, Lab, HOST_IF};

const DRIFT: &str = env!("CARGO_BIN_EXE_drift");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Proto {
    /// VRRPv2, `auth_type PASS`, advert_int 1 (v2 has whole seconds only).
    V2Pass,
    /// VRRPv3 over IPv4, advert_int 0.1.
    V3Ipv4,
    /// VRRPv3 over IPv6 (link-local source, ff02::12 or unicast), advert_int 0.1.
    V3Ipv6,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    Drift,
    Keepalived,
}

const HIGH: usize = 0;
const LOW: usize = 1;

struct Cell {
    proto: Proto,
    unicast: bool,
    /// Who runs on the higher-priority host (the other runs on the lower one).
    high: Who,
}

impl Cell {
    fn label(&self) -> String {
        format!(
            "{:?} {} high={:?}",
            self.proto,
            if self.unicast { "unicast" } else { "multicast" },
            self.high
        )
    }

    fn advert(&self) -> Duration {
        match self.proto {
            Proto::V2Pass => Duration::from_secs(1),
            _ => Duration::from_millis(100),
        }
    }

    /// Master_Down_Interval of the low node (priority 100): 3 intervals + skew.
    fn master_down(&self) -> Duration {
        let skew = match self.proto {
            Proto::V2Pass => Duration::from_secs_f64(156.0 / 256.0),
            _ => self.advert().mul_f64(156.0 / 256.0),
        };
        self.advert() * 3 + skew
    }

    fn who(&self, host: usize) -> Who {
        match (host == HIGH, self.high) {
            (true, w) => w,
            (false, Who::Drift) => Who::Keepalived,
            (false, Who::Keepalived) => Who::Drift,
        }
    }

    fn addr(&self, lab: &Lab, host: usize) -> IpAddr {
        match self.proto {
            Proto::V3Ipv6 => IpAddr::V6(lab.host(host).ipv6()),
            _ => IpAddr::V4(lab.host(host).ipv4()),
        }
    }

    fn vip(&self, lab: &Lab) -> IpAddr {
        match self.proto {
            Proto::V3Ipv6 => IpAddr::V6(lab.addr_v6(110)),
            _ => IpAddr::V4(lab.addr_v4(110)),
        }
    }

    /// The same keepalived.conf text for drift and keepalived (only the priority and the
    /// unicast addresses differ between the hosts).
    fn config(&self, lab: &Lab, host: usize) -> String {
        let (version, advert, auth) = match self.proto {
            Proto::V2Pass => (
                2,
                "1",
                "    authentication {\n        auth_type PASS\n        auth_pass drift123\n    }\n",
            ),
            _ => (3, "0.1", ""),
        };
        let prio = if host == HIGH { 150 } else { 100 };
        let unicast = if self.unicast {
            let peer = if host == HIGH { LOW } else { HIGH };
            format!(
                "    unicast_src_ip {}\n    unicast_peer {{\n        {}\n    }}\n",
                self.addr(lab, host),
                self.addr(lab, peer)
            )
        } else {
            String::new()
        };
        let vip = self.vip(lab);
        let len = if vip.is_ipv4() { 32 } else { 128 };
        format!(
            "global_defs {{\n    router_id h{host}\n    vrrp_version {version}\n}}\n\n\
             vrrp_instance VI_1 {{\n    state BACKUP\n    interface {HOST_IF}\n    \
             virtual_router_id 51\n    priority {prio}\n    advert_int {advert}\n{auth}{unicast}    \
             virtual_ipaddress {{\n        {vip}/{len}\n    }}\n}}\n"
        )
    }

    fn start(&self, lab: &Lab, host: usize) -> Daemon {
        let conf = self.config(lab, host);
        match self.who(host) {
            Who::Drift => Daemon::start_as_drift(Path::new(DRIFT), lab, host, &conf),
            Who::Keepalived => Daemon::start_keepalived(lab, host, &conf),
        }
    }
}

/// Watches the VIP holders while a transition happens: the longest stretch during which both
/// hosts held the VIP, sampled every 2 ms.
struct Watch {
    longest_dual: Duration,
}

impl Watch {
    /// Poll until exactly `want` hold the VIP (or `timeout`); returns the time taken.
    fn until(
        &mut self,
        lab: &Lab,
        vip: IpAddr,
        want: &[usize],
        timeout: Duration,
    ) -> Option<Duration> {
        let t0 = Instant::now();
        let mut dual_since: Option<Instant> = None;
        loop {
            let h = holders(lab, vip);
            let now = Instant::now();
            if h.len() > 1 {
                let since = *dual_since.get_or_insert(now);
                self.longest_dual = self.longest_dual.max(now - since);
            } else {
                dual_since = None;
            }
            if h == want {
                return Some(t0.elapsed());
            }
            if t0.elapsed() > timeout {
                return None;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

/// Everything a cell checks about packets one side dropped from the other. `expect_rx`: it
/// must have heard the other as master (a master that never was backup hears nothing).
fn assert_no_rejects(
    cell: &Cell,
    name: &str,
    d: &Daemon,
    expect_rx: bool,
    drift_logs: &mut Vec<String>,
) {
    // keepalived's SIGUSR2 dump, or drift's (same layout, plus drift's other drop reasons).
    let who = if d.is_keepalived() {
        "keepalived"
    } else {
        "drift"
    };
    let stats = d
        .stats_dump()
        .unwrap_or_else(|| panic!("{}: no {who} stats dump\n{}", cell.label(), d.logs()));
    let (errors, received) = keepalived_stat_errors(&stats);
    assert!(
        errors.is_empty(),
        "{}: {who} ({name}) counted errors {errors:?}\n{stats}",
        cell.label()
    );
    assert!(
        received > 0 || !expect_rx,
        "{}: {who} ({name}) received no adverts\n{stats}",
        cell.label()
    );
    if !d.is_keepalived() {
        drift_logs.push(d.logs());
    }
}

fn assert_drift_logs_clean(cell: &Cell, logs: &[String]) {
    for l in logs {
        let bad: Vec<&str> = l
            .lines()
            .filter(|line| line.contains("dropped a packet"))
            .collect();
        assert!(
            bad.is_empty(),
            "{}: drift dropped packets: {bad:#?}",
            cell.label()
        );
    }
}

fn restart_and_preempt(cell: &Cell, lab: &Lab, vip: IpAddr, w: &mut Watch, what: &str) -> Daemon {
    let d = cell.start(lab, HIGH);
    // A restarted backup waits Master_Down_Interval (3.4 intervals at priority 150) first.
    let bound = cell.master_down() + Duration::from_secs(5);
    let took = w.until(lab, vip, &[HIGH], bound);
    assert!(
        took.is_some(),
        "{}: {what}: the high node never preempted (holders {:?})\n{}",
        cell.label(),
        holders(lab, vip),
        d.logs()
    );
    figure(
        &format!("{} {what}: preempt", cell.label()),
        took.unwrap_or_default(),
        bound,
    );
    d
}

fn run_cell(cell: Cell) {
    let lab = Lab::builder()
        .hosts(2)
        .build()
        .unwrap_or_else(|e| panic!("build lab: {e}"));
    let vip = cell.vip(&lab);
    let mut w = Watch {
        longest_dual: Duration::ZERO,
    };
    let mut drift_logs = Vec::new();

    // 1. Election: high first, alone, so that the low node starts as the backup of a live
    //    master (on a loaded machine a slow start would otherwise be a fair preemption race).
    let mut high = cell.start(&lab, HIGH);
    let bound = cell.master_down() + Duration::from_secs(6);
    let took = w.until(&lab, vip, &[HIGH], bound);
    assert!(
        took.is_some(),
        "{}: no initial master (holders {:?})\n{}",
        cell.label(),
        holders(&lab, vip),
        high.logs(),
    );
    let low = cell.start(&lab, LOW);
    let backup = wait_until(bound, Duration::from_millis(10), || {
        low.logs().contains("Entering BACKUP STATE")
    });
    assert!(
        backup.is_some(),
        "{}: low never BACKUP\n{}",
        cell.label(),
        low.logs()
    );
    std::thread::sleep(cell.advert() * 3);
    assert_eq!(holders(&lab, vip), vec![HIGH], "{}: election", cell.label());
    assert_eq!(
        low.master_entries(),
        0,
        "{}: the low node went master\n{}",
        cell.label(),
        low.logs()
    );
    assert_no_rejects(
        &cell,
        "high, before the crash",
        &high,
        false,
        &mut drift_logs,
    );
    if cell.proto == Proto::V3Ipv6 && !cell.unicast {
        // RFC 5798 §5.1.2.1: IPv6 adverts come from the link-local address.
        let d = if high.is_keepalived() { &low } else { &high };
        assert!(d.logs().contains("source fe80:"), "{}", d.logs());
    }

    // 2. SIGKILL the master: the low node takes over after Master_Down_Interval.
    let t0 = Instant::now();
    high.kill();
    drop_stale_vip(&lab, HIGH, vip);
    let bound = cell.master_down() + Duration::from_secs(2);
    let took = w.until(&lab, vip, &[LOW], bound).map(|_| t0.elapsed());
    assert!(
        took.is_some(),
        "{}: no takeover after SIGKILL\n{}",
        cell.label(),
        low.logs()
    );
    figure(
        &format!("{} SIGKILL takeover", cell.label()),
        took.unwrap_or_default(),
        bound,
    );
    if !high.is_keepalived() {
        drift_logs.push(high.logs());
    }

    // 3. It comes back and preempts.
    let mut high = restart_and_preempt(&cell, &lab, vip, &mut w, "after SIGKILL");

    // 4. SIGTERM: priority-0 advert, the low node takes over after Skew_Time.
    //    Timed from the signal, not from the exit (keepalived takes ~1 s to exit).
    let t0 = Instant::now();
    let _ = high.child.signal(drift_testkit::Signal::SIGTERM);
    let bound = cell.master_down() + Duration::from_secs(2);
    let took = w.until(&lab, vip, &[LOW], bound).map(|_| t0.elapsed());
    assert!(
        took.is_some(),
        "{}: no takeover after SIGTERM\n{}",
        cell.label(),
        low.logs()
    );
    assert!(
        high.terminate(),
        "{}: unclean exit on SIGTERM\n{}",
        cell.label(),
        high.logs()
    );
    figure(
        &format!("{} SIGTERM takeover", cell.label()),
        took.unwrap_or_default(),
        bound,
    );
    if !high.is_keepalived() {
        drift_logs.push(high.logs());
    }

    // 5. Back again; then nobody may have rejected anybody.
    let high = restart_and_preempt(&cell, &lab, vip, &mut w, "after SIGTERM");
    std::thread::sleep(cell.advert() * 3);
    assert_eq!(
        holders(&lab, vip),
        vec![HIGH],
        "{}: final state",
        cell.label()
    );
    assert_no_rejects(&cell, "high", &high, true, &mut drift_logs);
    assert_no_rejects(&cell, "low", &low, true, &mut drift_logs);
    assert_drift_logs_clean(&cell, &drift_logs);

    // Dual master: at most one advert interval, plus slack for a loaded debug-build machine.
    let bound = cell.advert() + Duration::from_millis(300);
    figure(
        &format!("{} longest dual master", cell.label()),
        w.longest_dual,
        bound,
    );
    assert!(
        w.longest_dual <= bound,
        "{}: both held the VIP for {:?}",
        cell.label(),
        w.longest_dual
    );
}

macro_rules! cells {
    ($($name:ident: $proto:expr, $unicast:expr, $high:expr;)*) => {$(
        #[test]
        fn $name() {
            skip_unless_root!();
            skip_unless_tool!("keepalived");
            run_cell(Cell { proto: $proto, unicast: $unicast, high: $high });
        }
    )*};
}

cells! {
    v2_pass_multicast_drift_master: Proto::V2Pass, false, Who::Drift;
    v2_pass_multicast_keepalived_master: Proto::V2Pass, false, Who::Keepalived;
    v2_pass_unicast_drift_master: Proto::V2Pass, true, Who::Drift;
    v2_pass_unicast_keepalived_master: Proto::V2Pass, true, Who::Keepalived;
    v3_ipv4_multicast_drift_master: Proto::V3Ipv4, false, Who::Drift;
    v3_ipv4_multicast_keepalived_master: Proto::V3Ipv4, false, Who::Keepalived;
    v3_ipv4_unicast_drift_master: Proto::V3Ipv4, true, Who::Drift;
    v3_ipv4_unicast_keepalived_master: Proto::V3Ipv4, true, Who::Keepalived;
    v3_ipv6_multicast_drift_master: Proto::V3Ipv6, false, Who::Drift;
    v3_ipv6_multicast_keepalived_master: Proto::V3Ipv6, false, Who::Keepalived;
    v3_ipv6_unicast_drift_master: Proto::V3Ipv6, true, Who::Drift;
    v3_ipv6_unicast_keepalived_master: Proto::V3Ipv6, true, Who::Keepalived;
}
