//! least_conn (nginx `ngx_http_upstream_get_least_conn_peer`): fewest active connections
//! relative to weight (`conns_a * weight_b < conns_b * weight_a`), ties broken by smooth WRR
//! among the tied peers only.

use super::{Attempt, Peers};
use std::time::Instant;

impl Peers {
    pub(super) fn least_conn(
        &mut self,
        now: Instant,
        at: &Attempt,
        lo: usize,
        hi: usize,
    ) -> Option<usize> {
        let mut best: Option<usize> = None;
        let mut many = false;
        for i in lo..hi {
            if !self.usable(i, now, at) {
                continue;
            }
            let p = &self.peers[i];
            match best {
                None => best = Some(i),
                Some(b) => {
                    let q = &self.peers[b];
                    let (lhs, rhs) = (i64::from(p.conns) * q.weight, i64::from(q.conns) * p.weight);
                    if lhs < rhs {
                        best = Some(i);
                        many = false;
                    } else if lhs == rhs {
                        many = true;
                    }
                }
            }
        }
        let first = best?;
        if !many {
            return Some(first);
        }
        let (fc, fw) = (i64::from(self.peers[first].conns), self.peers[first].weight);
        let mut best = first;
        let mut total = 0i64;
        for i in first..hi {
            if !self.usable(i, now, at) {
                continue;
            }
            if i64::from(self.peers[i].conns) * fw != fc * self.peers[i].weight {
                continue;
            }
            let p = &mut self.peers[i];
            p.current_weight += p.effective_weight;
            total += p.effective_weight;
            if p.effective_weight < p.weight {
                p.effective_weight += 1;
            }
            let cw = p.current_weight;
            if cw > self.peers[best].current_weight {
                best = i;
            }
        }
        self.peers[best].current_weight -= total;
        Some(best)
    }
}
