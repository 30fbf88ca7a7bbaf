//! One timer per connection side, reused for every wait. Moving a registered tokio timer's
//! deadline later is a field update (the wheel re-files it only when the old deadline comes
//! due), where `tokio::time::timeout` inserts and removes a wheel entry per call: on the fast
//! path that was ~1,000 of ~12,400 instructions per request (callgrind).

use std::future::{poll_fn, Future};
use std::pin::{pin, Pin};
use std::task::Poll;
use tokio::time::{Instant, Sleep};

pub struct Deadline(Pin<Box<Sleep>>);

impl Deadline {
    pub fn new() -> Deadline {
        // Far off; the first real deadline moves it earlier once, later ones only later.
        Deadline(Box::pin(tokio::time::sleep_until(
            Instant::now() + std::time::Duration::from_secs(86_400),
        )))
    }

    /// Runs `f` until it completes (`Some`) or `at` passes (`None`).
    pub async fn run_until<F: Future>(&mut self, at: Instant, f: F) -> Option<F::Output> {
        if self.0.deadline() != at {
            self.0.as_mut().reset(at);
        }
        let mut f = pin!(f);
        let timer = &mut self.0;
        poll_fn(|cx| {
            if let Poll::Ready(v) = f.as_mut().poll(cx) {
                return Poll::Ready(Some(v));
            }
            if timer.as_mut().poll(cx).is_ready() {
                return Poll::Ready(None);
            }
            Poll::Pending
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const MS: Duration = Duration::from_millis(1);

    #[tokio::test]
    async fn a_wait_ends_at_its_deadline_and_the_timer_is_reusable() {
        let mut d = Deadline::new();
        let t0 = Instant::now();
        let r = d
            .run_until(t0 + 50 * MS, std::future::pending::<()>())
            .await;
        assert_eq!(r, None);
        assert!(
            t0.elapsed() >= 50 * MS && t0.elapsed() < 2000 * MS,
            "{:?}",
            t0.elapsed()
        );
        // After firing, with later and then earlier deadlines, it still completes and times out.
        assert_eq!(
            d.run_until(Instant::now() + 50 * MS, async { 7 }).await,
            Some(7)
        );
        let t1 = Instant::now();
        let slept = d
            .run_until(t1 + 60_000 * MS, tokio::time::sleep(20 * MS))
            .await;
        assert_eq!(slept, Some(()));
        let t2 = Instant::now();
        let r = d
            .run_until(t2 + 50 * MS, std::future::pending::<()>())
            .await;
        assert_eq!(r, None);
        assert!(
            t2.elapsed() >= 50 * MS && t2.elapsed() < 2000 * MS,
            "{:?}",
            t2.elapsed()
        );
    }
}
