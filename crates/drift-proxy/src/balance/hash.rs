//! ip_hash and plain `hash KEY`, both nginx-identical so a drift node and an nginx node send the
//! same client to the same backend during a migration.
//!
//! ip_hash (`ngx_http_upstream_ip_hash_module.c`): h starts at 89, then for each of the first
//! 3 IPv4 octets (all 16 IPv6 bytes) `h = (h * 113 + byte) % 6271`; `h % total_weight` walks the
//! weights. hash (`ngx_http_upstream_hash_module.c`, Cache::Memcached compatible):
//! `h += (crc32([rehash] key) >> 16) & 0x7fff`. Both rehash on an unusable pick and fall back to
//! round robin after 20 tries.

use super::{Attempt, Key, Peers, HASH_TRIES};
use std::net::IpAddr;
use std::time::Instant;

impl Peers {
    /// Walks the primaries' weights (down ones included, as nginx's total_weight does).
    pub(super) fn by_weight(&self, h: u64) -> usize {
        let total: i64 = self.peers[..self.primaries].iter().map(|p| p.weight).sum();
        let mut w = (h % total.max(1) as u64) as i64;
        for (i, p) in self.peers[..self.primaries].iter().enumerate() {
            if w < p.weight {
                return i;
            }
            w -= p.weight;
        }
        0
    }

    pub(super) fn ip_hash(
        &mut self,
        now: Instant,
        key: &Key<'_>,
        at: &mut Attempt,
    ) -> Option<usize> {
        let bytes: Vec<u8> = match key.client_ip {
            Some(IpAddr::V4(v4)) => v4.octets()[..3].to_vec(),
            Some(IpAddr::V6(v6)) => v6.octets().to_vec(),
            None => Vec::new(),
        };
        if at.tries > HASH_TRIES || self.single() || bytes.is_empty() {
            return self.wrr(now, at, 0, self.primaries);
        }
        let mut h = at.hash.unwrap_or(89);
        loop {
            for b in &bytes {
                h = (h * 113 + u64::from(*b)) % 6271;
            }
            let i = self.by_weight(h);
            if self.usable(i, now, at) {
                at.hash = Some(h);
                return Some(i);
            }
            at.tries += 1;
            if at.tries > HASH_TRIES {
                at.hash = Some(h);
                return self.wrr(now, at, 0, self.primaries);
            }
        }
    }

    pub(super) fn hash(&mut self, now: Instant, key: &Key<'_>, at: &mut Attempt) -> Option<usize> {
        if at.tries > HASH_TRIES || self.single() || key.hash.is_empty() {
            return self.wrr(now, at, 0, self.primaries);
        }
        let mut h = at.hash.unwrap_or(0);
        loop {
            let mut c = crc32fast::Hasher::new();
            if at.rehash > 0 {
                c.update(at.rehash.to_string().as_bytes());
            }
            c.update(key.hash);
            h += u64::from((c.finalize() >> 16) & 0x7fff);
            at.rehash += 1;
            let i = self.by_weight(h);
            if self.usable(i, now, at) {
                at.hash = Some(h);
                return Some(i);
            }
            at.tries += 1;
            if at.tries > HASH_TRIES {
                at.hash = Some(h);
                return self.wrr(now, at, 0, self.primaries);
            }
        }
    }

    /// Ketama ring walk (`ngx_http_upstream_get_chash_peer`): from the key's point, take the
    /// first usable server clockwise; among peers sharing that name, smooth WRR.
    pub(super) fn consistent(
        &mut self,
        now: Instant,
        key: &Key<'_>,
        at: &mut Attempt,
    ) -> Option<usize> {
        let Some(ring) = self.ring.as_ref().filter(|r| !r.is_empty()) else {
            return self.wrr(now, at, 0, self.primaries);
        };
        if at.tries > HASH_TRIES || self.single() || key.hash.is_empty() {
            return self.wrr(now, at, 0, self.primaries);
        }
        let mut pos = at
            .hash
            .unwrap_or_else(|| ring.find(crc32fast::hash(key.hash)) as u64);
        loop {
            let ring = self.ring.as_ref()?;
            let server = ring.server_at(pos as usize).to_string();
            let mut best: Option<usize> = None;
            let mut total = 0;
            for i in 0..self.primaries {
                if self.peers[i].name != server || !self.usable(i, now, at) {
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
            if let Some(b) = best {
                self.peers[b].current_weight -= total;
                at.hash = Some(pos);
                return Some(b);
            }
            pos += 1;
            at.tries += 1;
            if at.tries > HASH_TRIES {
                at.hash = Some(pos);
                return self.wrr(now, at, 0, self.primaries);
            }
        }
    }
}
