//! The task that reads a shared multicast receiver (one per interface and family).
//!
//! Two ways to read it, chosen by the packet rate seen over the last second:
//! - **events** (the usual case, a few instances at keepalived-like intervals): the socket is in
//!   epoll and the VRRP thread wakes once per advert, i.e. once a second for the article's pair;
//! - **a 2 ms tick** once adverts arrive faster than 500/s (100 instances at 10 ms is 10,000/s): the
//!   socket is taken out of epoll, because a registered socket wakes the thread for every advert
//!   and on a veth the *sender's* softirq pays for that wake-up.
//!
//! Reading late is safe in both modes: adverts keep their kernel receive time, and a master-down
//! decision drains the socket first. Only reactions the RFC does not time (yielding to a higher
//! priority, the skew after a priority-0 advert) can start up to one tick later.

use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

use drift_net::raw::{Received, VrrpSocket};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use tokio::sync::mpsc::UnboundedSender;
use tracing::{debug, warn};

/// Packets read per system-call batch.
const RX_BATCH: usize = 64;
/// The tick of polling mode.
const POLL_TICK: Duration = Duration::from_millis(2);
/// Above this rate a tick wakes the thread less often than the packets would (1 s / 2 ms).
const POLL_ABOVE_PER_SEC: f64 = 500.0;
/// Back to events below this (hysteresis, so a rate near the threshold does not flip-flop).
const EVENTS_BELOW_PER_SEC: f64 = 250.0;
/// How often the rate is judged.
const RATE_WINDOW: Duration = Duration::from_secs(1);

/// AsyncFd wants to own what it registers; the socket is shared with the drain path.
struct Registered(Arc<VrrpSocket>);

impl AsRawFd for Registered {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }
}

/// The reading mode for a measured rate, given the current one.
fn next_mode(polling: bool, per_sec: f64) -> bool {
    if polling {
        per_sec >= EVENTS_BELOW_PER_SEC
    } else {
        per_sec > POLL_ABOVE_PER_SEC
    }
}

pub fn spawn(
    id: u64,
    sock: Arc<VrrpSocket>,
    name: String,
    tx: UnboundedSender<(u64, Received)>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut buf = Vec::new();
        let mut polling = false;
        let mut registered: Option<AsyncFd<Registered>> = None;
        let mut tick = tokio::time::interval(POLL_TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let (mut window, mut seen) = (Instant::now(), 0u64);
        loop {
            if polling {
                tick.tick().await;
            } else {
                if registered.is_none() {
                    // SAFETY: `Registered` holds an Arc of the socket, so the receive fd it returns
                    // stays open and the same for as long as the AsyncFd lives.
                    let fd = unsafe {
                        AsyncFd::register_with_interest(
                            Registered(sock.clone()),
                            Interest::READABLE,
                        )
                    };
                    match fd {
                        Ok(fd) => registered = Some(fd),
                        Err(e) => {
                            warn!("VRRP ({name}) cannot wait for packets ({e}); polling instead");
                            polling = true;
                            continue;
                        }
                    }
                }
                let Some(fd) = registered.as_ref() else {
                    continue;
                };
                match fd.readable().await {
                    // Cleared before reading: tokio keeps any edge that arrives meanwhile, and
                    // the drain below reads until the socket is empty.
                    Ok(mut ready) => ready.clear_ready(),
                    Err(e) => {
                        warn!("VRRP ({name}) wait for packets failed ({e}); polling instead");
                        registered = None;
                        polling = true;
                        continue;
                    }
                }
            }
            loop {
                buf.clear();
                match sock.recv_batch(RX_BATCH, &mut buf) {
                    Ok((0, 0)) => break,
                    Ok((read, bad)) => {
                        seen += (read + bad) as u64;
                        for p in buf.drain(..) {
                            if tx.send((id, p)).is_err() {
                                return;
                            }
                        }
                    }
                    Err(e) => {
                        warn!("VRRP ({name}) receive error: {e}");
                        break;
                    }
                }
            }
            let elapsed = window.elapsed();
            if elapsed >= RATE_WINDOW {
                let per_sec = seen as f64 / elapsed.as_secs_f64();
                let want = next_mode(polling, per_sec);
                if want != polling {
                    debug!(
                        "VRRP ({name}) {per_sec:.0} packets/s: reading {}",
                        if want { "on a 2 ms tick" } else { "on events" }
                    );
                    polling = want;
                    // Out of epoll while polling (dropping the AsyncFd deregisters it).
                    registered = None;
                    tick.reset();
                }
                (window, seen) = (Instant::now(), 0);
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_keepalived_like_rate_is_read_on_events_and_a_flood_on_a_tick() {
        assert!(!next_mode(false, 1.0));
        assert!(!next_mode(false, 500.0));
        assert!(next_mode(false, 10_000.0));
    }

    #[test]
    fn the_mode_does_not_flip_flop_around_the_threshold() {
        // Polling stays until the rate falls well below the switch-over point.
        assert!(next_mode(true, 400.0));
        assert!(next_mode(true, 250.0));
        assert!(!next_mode(true, 249.0));
        // Events stay until it is clearly above.
        assert!(!next_mode(false, 400.0));
    }
}
