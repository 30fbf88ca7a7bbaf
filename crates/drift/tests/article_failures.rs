//! The seed article's own failure tests, end to end in a namespace lab (issue 4): its MASTER and
//! BACKUP configs (fixtures/seed/, adapted by `common::service::article_config`: lab addresses,
//! the check script asks the host's local web server, interval 1 s instead of 5 s), a small web
//! server on each host, and a client polling the VIP every 10 ms.
//!
//! 1. Stop the web server on the master: the VIP moves and the client is answered again.
//! 2. Cut the master's link: the VIP moves.
//! 3. Stop the backup's web server while the master is healthy: the VIP stays.
//!
//! The seed's `vrrp_script` has no `weight`, so a failing check puts the instance in FAULT (the
//! master leaves with a priority-0 advert). Each test prints the client's failed requests
//! (`ARTICLE` lines, `-- --nocapture`); bounds are generous (debug build, shared CI).
//! `DRIFT_E2E_PEER=keepalived` runs the same tests against keepalived for reference.

mod common;

use std::net::Ipv4Addr;
use std::path::Path;
use std::time::{Duration, Instant};

use common::service::{article_config, failures_between, requests_between, CheckScript, Poller};
use common::{assert_stable, holders, name_servers, wait_holders, Daemon, NameServer};
use drift_testkit::{skip_unless_root, Lab};

const DRIFT: &str = env!("CARGO_BIN_EXE_drift");
const POLL: Duration = Duration::from_millis(10);
const REQUEST_TIMEOUT: Duration = Duration::from_millis(500);

struct Article {
    // Drop order: the client and daemons stop before the servers and the lab go away.
    poller: Poller,
    d0: Daemon,
    d1: Daemon,
    servers: Vec<Option<NameServer>>,
    _script: CheckScript,
    vip: Ipv4Addr,
    lab: Lab,
}

impl Article {
    fn start() -> Article {
        let lab = Lab::builder()
            .hosts(2)
            .client(true)
            .build()
            .unwrap_or_else(|e| panic!("build lab: {e}"));
        let vip = lab.addr_v4(110);
        let servers = name_servers(&lab).into_iter().map(Some).collect();
        let script = CheckScript::new();
        let master_ip = lab.host(0).ipv4();
        let conf0 = article_config("master.conf", master_ip, vip, &script.path, "1");
        let conf1 = article_config("backup.conf", master_ip, vip, &script.path, "1");
        let bin = Path::new(DRIFT);
        let d0 = Daemon::start(bin, &lab, 0, &conf0);
        let d1 = Daemon::start(bin, &lab, 1, &conf1);
        let up = wait_holders(&lab, vip, &[0], Duration::from_secs(15));
        assert!(
            up.is_some(),
            "the article's MASTER never took the VIP (holders {:?})\n{}\n{}",
            holders(&lab, vip),
            d0.logs(),
            d1.logs()
        );
        let poller = Poller::start(lab.client(), vip, POLL, REQUEST_TIMEOUT);
        let answered = poller.wait_answer_from("h0", Instant::now(), Duration::from_secs(10));
        assert!(
            answered.is_some(),
            "the client never reached h0 via the VIP"
        );
        Article {
            poller,
            d0,
            d1,
            servers,
            _script: script,
            vip,
            lab,
        }
    }

    fn report(&self, case: &str, t0: Instant, moved: Option<Duration>, answered: Option<Instant>) {
        // Requests still waiting for their timeout are not recorded yet.
        std::thread::sleep(REQUEST_TIMEOUT + Duration::from_millis(50));
        let samples = self.poller.samples();
        let end = answered.unwrap_or_else(Instant::now);
        println!(
            "ARTICLE {case}: VIP on the backup after {}, client answered again after {}, \
             {} failed of {} requests",
            moved.map_or("never".into(), |d| format!("{:.3} s", d.as_secs_f64())),
            answered.map_or("never".into(), |a| format!(
                "{:.3} s",
                (a - t0).as_secs_f64()
            )),
            failures_between(&samples, t0, end),
            requests_between(&samples, t0, end),
        );
    }

    fn logs(&self) -> String {
        format!(
            "--- master\n{}\n--- backup\n{}",
            self.d0.logs(),
            self.d1.logs()
        )
    }
}

#[test]
fn stopping_the_masters_web_server_moves_the_vip_and_the_client_keeps_being_answered() {
    skip_unless_root!();
    let mut a = Article::start();
    let t0 = Instant::now();
    a.servers[0] = None; // stop the master's web server
    let moved = wait_holders(&a.lab, a.vip, &[1], Duration::from_secs(20));
    let answered = a.poller.wait_answer_from("h1", t0, Duration::from_secs(20));
    a.report("(1) master's web server stopped", t0, moved, answered);
    assert!(moved.is_some(), "VIP did not move\n{}", a.logs());
    let answered = answered.unwrap_or_else(|| panic!("client never answered by h1\n{}", a.logs()));
    // Keeps being answered: the next second has (nearly) no failure.
    std::thread::sleep(Duration::from_secs(1));
    let samples = a.poller.samples();
    let after = failures_between(&samples, answered, answered + Duration::from_secs(1));
    assert!(
        after <= 2,
        "{after} failures after the switch\n{}",
        a.logs()
    );
    // Generous: check interval 1 s + skew 0.6 s at one request per 10 ms is ~170.
    let failed = failures_between(&samples, t0, answered);
    assert!(failed < 1500, "{failed} failed requests");
    assert!(
        a.d0.child.logs().contains("Entering FAULT STATE"),
        "{}",
        a.logs()
    );
}

#[test]
fn cutting_the_masters_link_moves_the_vip() {
    skip_unless_root!();
    let a = Article::start();
    let t0 = Instant::now();
    a.lab
        .host(0)
        .cut()
        .unwrap_or_else(|e| panic!("cut the master's link: {e}"));
    let moved =
        drift_testkit::wait_until(Duration::from_secs(20), Duration::from_millis(5), || {
            holders(&a.lab, a.vip).contains(&1)
        });
    let answered = a.poller.wait_answer_from("h1", t0, Duration::from_secs(20));
    a.report("(2) master's link cut", t0, moved, answered);
    assert!(moved.is_some(), "VIP did not move\n{}", a.logs());
    assert!(
        answered.is_some(),
        "client never answered by h1\n{}",
        a.logs()
    );
    // The master saw its carrier go and released the VIP too (FAULT), as keepalived does.
    let released = wait_holders(&a.lab, a.vip, &[1], Duration::from_secs(5));
    assert!(released.is_some(), "master kept the VIP\n{}", a.logs());
}

#[test]
fn stopping_the_backups_web_server_leaves_the_vip_where_it_is() {
    skip_unless_root!();
    let mut a = Article::start();
    let t0 = Instant::now();
    a.servers[1] = None;
    // The backup notices (FAULT) within one check interval; the VIP must not move meanwhile.
    let faulted =
        drift_testkit::wait_until(Duration::from_secs(10), Duration::from_millis(20), || {
            a.d1.child.logs().contains("Entering FAULT STATE")
        });
    assert_stable(
        &a.lab,
        a.vip,
        &[0],
        Duration::from_secs(3),
        "backup's server stopped",
    );
    a.report("(3) backup's web server stopped", t0, None, None);
    assert!(faulted.is_some(), "backup never noticed\n{}", a.logs());
    let samples = a.poller.samples();
    let failed = failures_between(&samples, t0, Instant::now());
    assert!(failed <= 2, "{failed} failed requests\n{}", a.logs());
}
