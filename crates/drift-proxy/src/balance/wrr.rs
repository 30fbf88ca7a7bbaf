//! Smooth weighted round robin (nginx `ngx_http_upstream_get_peer`): each pick adds every
//! usable peer's effective weight to its current weight, takes the largest, and subtracts the
//! total from the winner. Gives a,a,b,a,c,a,a-style interleaving rather than bursts, and
//! effective weights climb back by one per pick after failures lowered them.

use super::{Attempt, Peers};
use std::time::Instant;

impl Peers {
    pub(super) fn wrr(
        &mut self,
        now: Instant,
        at: &Attempt,
        lo: usize,
        hi: usize,
    ) -> Option<usize> {
        if hi <= lo {
            return None;
        }
        let mut best: Option<usize> = None;
        let mut total = 0i64;
        for i in lo..hi {
            if !self.usable(i, now, at) {
                continue;
            }
            let p = &mut self.peers[i];
            p.current_weight += p.effective_weight;
            total += p.effective_weight;
            if p.effective_weight < p.weight {
                p.effective_weight += 1;
            }
            let cw = p.current_weight;
            if best.is_none_or(|b| cw > self.peers[b].current_weight) {
                best = Some(i);
            }
        }
        let b = best?;
        self.peers[b].current_weight -= total;
        Some(b)
    }
}
