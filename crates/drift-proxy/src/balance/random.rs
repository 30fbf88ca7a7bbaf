//! random / random two (`ngx_http_upstream_random_module.c`): weighted random pick; with `two`,
//! two distinct weighted picks and the one with fewer connections relative to weight wins
//! ("power of two choices"). Falls back to round robin after 20 unusable picks.

use super::{Attempt, Peers, HASH_TRIES};
use std::time::Instant;

impl Peers {
    fn weighted_random(&mut self) -> usize {
        let h = self.next_rand();
        self.by_weight(h)
    }

    pub(super) fn random(&mut self, now: Instant, at: &mut Attempt) -> Option<usize> {
        if self.single() || self.primaries == 0 {
            return self.wrr(now, at, 0, self.primaries);
        }
        let two = self.method == super::Method::RandomTwo;
        let mut first: Option<usize> = None;
        let mut tries = 0;
        loop {
            let i = self.weighted_random();
            if self.usable(i, now, at) && first != Some(i) {
                match first {
                    None if two && self.primaries > 1 => first = Some(i),
                    None => return Some(i),
                    Some(f) => {
                        let (a, b) = (&self.peers[f], &self.peers[i]);
                        // nginx: prefer `prev` (first) when peer's conns/weight is larger.
                        let pick = if i64::from(b.conns) * a.weight > i64::from(a.conns) * b.weight
                        {
                            f
                        } else {
                            i
                        };
                        return Some(pick);
                    }
                }
            }
            tries += 1;
            if tries > HASH_TRIES {
                return first.or_else(|| self.wrr(now, at, 0, self.primaries));
            }
        }
    }
}
