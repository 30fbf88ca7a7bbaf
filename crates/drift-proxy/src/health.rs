//! Active health checks (nginx Plus `health_check`, free here): every `interval`, probe each
//! server (TCP connect, or an HTTP GET whose status must match); `fall` consecutive failures mark
//! it unhealthy, `rise` consecutive successes healthy again.

use crate::config::model::{HealthCheck, HealthKind};
use crate::upstream::Upstream;
use bytes::Bytes;
use http_body_util::Empty;
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

/// Consecutive-result counter; pure so its edge cases are tested without sockets.
#[derive(Debug, Clone)]
pub struct RiseFall {
    rise: u32,
    fall: u32,
    streak: u32,
    healthy: bool,
}

impl RiseFall {
    pub fn new(rise: u32, fall: u32) -> Self {
        Self::starting(rise, fall, true)
    }

    /// Starting from a known verdict (a check restarted by a reload keeps the server's state).
    pub fn starting(rise: u32, fall: u32, healthy: bool) -> Self {
        RiseFall {
            rise: rise.max(1),
            fall: fall.max(1),
            streak: 0,
            healthy,
        }
    }

    /// Feeds one probe result; returns the new verdict only when it changes.
    pub fn record(&mut self, ok: bool) -> Option<bool> {
        if ok == self.healthy {
            self.streak = 0;
            return None;
        }
        self.streak += 1;
        let needed = if ok { self.rise } else { self.fall };
        if self.streak >= needed {
            self.healthy = ok;
            self.streak = 0;
            return Some(ok);
        }
        None
    }
}

pub fn spawn_checks(up: &Arc<Upstream>) -> Vec<JoinHandle<()>> {
    let Some(hc) = up.health_check.clone() else {
        return Vec::new();
    };
    (0..up.servers.len())
        .map(|idx| {
            let up = Arc::clone(up);
            let hc = hc.clone();
            tokio::spawn(async move {
                let mut addr = up.addr(idx);
                if hc.port != 0 {
                    addr.set_port(hc.port);
                }
                let host = up.servers[idx].name.clone();
                let mut rf = RiseFall::starting(hc.rise, hc.fall, up.marked_healthy(idx));
                let mut tick = tokio::time::interval(hc.interval);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tick.tick().await;
                    let ok = matches!(
                        tokio::time::timeout(hc.timeout, probe(addr, &host, &hc)).await,
                        Ok(true)
                    );
                    if let Some(v) = rf.record(ok) {
                        up.set_healthy(idx, v);
                    }
                }
            })
        })
        .collect()
}

async fn probe(addr: SocketAddr, host: &str, hc: &HealthCheck) -> bool {
    let Ok(tcp) = TcpStream::connect(addr).await else {
        return false;
    };
    let HealthKind::Http { uri, statuses } = &hc.kind else {
        return true;
    };
    let Ok((mut tx, conn)) = hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await else {
        return false;
    };
    let driver = tokio::spawn(conn);
    let req = http::Request::get(uri.as_str())
        .header(http::header::HOST, host)
        .header(http::header::CONNECTION, "close")
        .header(http::header::USER_AGENT, "drift-health-check")
        .body(Empty::<Bytes>::new());
    let ok = match req {
        Ok(req) => match tx.send_request(req).await {
            Ok(resp) => {
                let s = resp.status().as_u16();
                statuses.iter().any(|(lo, hi)| (*lo..=*hi).contains(&s))
            }
            Err(_) => false,
        },
        Err(_) => false,
    };
    driver.abort();
    ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_healthy_and_needs_fall_failures_in_a_row() {
        let mut rf = RiseFall::new(2, 3);
        assert_eq!(rf.record(false), None);
        assert_eq!(rf.record(false), None);
        assert_eq!(rf.record(false), Some(false));
    }

    #[test]
    fn a_success_resets_the_failure_streak() {
        let mut rf = RiseFall::new(2, 2);
        rf.record(false);
        rf.record(true);
        assert_eq!(rf.record(false), None);
        assert_eq!(rf.record(false), Some(false));
    }

    #[test]
    fn needs_rise_successes_to_come_back() {
        let mut rf = RiseFall::new(2, 1);
        assert_eq!(rf.record(false), Some(false));
        assert_eq!(rf.record(true), None);
        assert_eq!(rf.record(true), Some(true));
        assert_eq!(rf.record(true), None);
    }

    #[test]
    fn a_check_restarted_on_an_unhealthy_server_needs_rise_successes() {
        let mut rf = RiseFall::starting(2, 1, false);
        assert_eq!(rf.record(false), None);
        assert_eq!(rf.record(true), None);
        assert_eq!(rf.record(true), Some(true));
    }

    #[test]
    fn zero_thresholds_behave_as_one() {
        let mut rf = RiseFall::new(0, 0);
        assert_eq!(rf.record(false), Some(false));
        assert_eq!(rf.record(true), Some(true));
    }
}
