//! nginx's upstream peer selection, as pure code with time and randomness passed in.
//!
//! Mirrors `ngx_http_upstream_round_robin.c` and friends: one [`Peers`] per upstream group holds
//! primaries then backups, per-peer smooth-WRR weights, connection counts and passive-health
//! state (`max_fails`/`fail_timeout`). A request carries an [`Attempt`] across retries so that
//! a server is never tried twice and hash methods continue their rehash sequence like nginx.

mod hash;
mod ketama;
mod least_conn;
mod random;
mod wrr;

pub use ketama::Ring;

use crate::config::model::{Balance, ServerSpec};
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// nginx gives up on a hash method after 20 unavailable picks and falls back to round robin.
const HASH_TRIES: u32 = 20;

#[derive(Debug, Clone)]
pub struct Peer {
    pub name: String,
    pub weight: i64,
    pub max_fails: u32,
    pub fail_timeout: Duration,
    pub max_conns: u32,
    pub down: bool,
    pub backup: bool,
    /// Set by active health checks; an unhealthy peer is skipped like a `down` one.
    pub healthy: bool,
    pub current_weight: i64,
    pub effective_weight: i64,
    pub conns: u32,
    pub fails: u32,
    accessed: Option<Instant>,
    checked: Option<Instant>,
}

impl Peer {
    pub fn new(s: &ServerSpec) -> Self {
        let weight = i64::from(s.weight.max(1));
        Peer {
            name: s.name.clone(),
            weight,
            max_fails: s.max_fails,
            fail_timeout: s.fail_timeout,
            max_conns: s.max_conns,
            down: s.down,
            backup: s.backup,
            healthy: true,
            current_weight: 0,
            effective_weight: weight,
            conns: 0,
            fails: 0,
            accessed: None,
            checked: None,
        }
    }

    /// Passive health: `max_fails` failures mark the peer unavailable until `fail_timeout`
    /// has passed since the last failure (or last re-admission probe).
    pub fn failed_recently(&self, now: Instant) -> bool {
        self.max_fails > 0
            && self.fails >= self.max_fails
            && self
                .checked
                .is_some_and(|c| now.saturating_duration_since(c) <= self.fail_timeout)
    }

    fn full(&self) -> bool {
        self.max_conns > 0 && self.conns >= self.max_conns
    }
}

/// Per-request selection state, kept across retries.
#[derive(Debug, Default, Clone)]
pub struct Attempt {
    /// Servers 0..64 in a bit set (no allocation per request: groups are small), the rest in
    /// `more`.
    tried: u64,
    more: Vec<bool>,
    /// Hash methods: running hash (ip_hash/hash) or ring position (consistent); None until first pick.
    hash: Option<u64>,
    rehash: u32,
    tries: u32,
}

impl Attempt {
    pub fn is_tried(&self, i: usize) -> bool {
        match i.checked_sub(64) {
            None => self.tried & (1 << i) != 0,
            Some(j) => self.more.get(j).copied().unwrap_or(false),
        }
    }
    fn mark(&mut self, i: usize) {
        match i.checked_sub(64) {
            None => self.tried |= 1 << i,
            Some(j) => {
                if self.more.len() <= j {
                    self.more.resize(j + 1, false);
                }
                self.more[j] = true;
            }
        }
    }
}

/// Request facts the hash methods use.
#[derive(Debug, Clone, Copy)]
pub struct Key<'a> {
    pub client_ip: Option<IpAddr>,
    /// Rendered `hash` key.
    pub hash: &'a [u8],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Method {
    RoundRobin,
    LeastConn,
    IpHash,
    Hash,
    Consistent,
    Random,
    RandomTwo,
}

pub struct Peers {
    pub peers: Vec<Peer>,
    primaries: usize,
    method: Method,
    ring: Option<Ring>,
    rng: u64,
}

impl Peers {
    /// `seed` feeds `random`; pass a fixed value in tests.
    pub fn new(servers: &[ServerSpec], balance: &Balance, seed: u64) -> Self {
        // nginx keeps backups in a separate list after the primaries; keep config order within each.
        let mut peers: Vec<Peer> = servers
            .iter()
            .filter(|s| !s.backup)
            .map(Peer::new)
            .collect();
        let primaries = peers.len();
        peers.extend(servers.iter().filter(|s| s.backup).map(Peer::new));
        let method = match balance {
            Balance::RoundRobin => Method::RoundRobin,
            Balance::LeastConn => Method::LeastConn,
            Balance::IpHash => Method::IpHash,
            Balance::Hash {
                consistent: false, ..
            } => Method::Hash,
            Balance::Hash {
                consistent: true, ..
            } => Method::Consistent,
            Balance::Random { two: false } => Method::Random,
            Balance::Random { two: true } => Method::RandomTwo,
        };
        let ring = (method == Method::Consistent).then(|| {
            Ring::new(
                peers[..primaries]
                    .iter()
                    .map(|p| (p.name.as_str(), p.weight as u32)),
            )
        });
        Peers {
            peers,
            primaries,
            method,
            ring,
            rng: seed | 1,
        }
    }

    /// A lone server with no backups ignores passive failures, as nginx's `peers->single` does:
    /// trying it beats answering 502 for `fail_timeout`.
    fn single(&self) -> bool {
        self.primaries == 1 && self.peers.len() == 1
    }

    pub fn usable(&self, i: usize, now: Instant, at: &Attempt) -> bool {
        let p = &self.peers[i];
        !(at.is_tried(i)
            || p.down
            || !p.healthy
            || p.full()
            || (!self.single() && p.failed_recently(now)))
    }

    /// True if some server could take a request now (for the VRRP `track_upstream` signal).
    pub fn any_available(&self, now: Instant) -> bool {
        let none = Attempt::default();
        (0..self.peers.len()).any(|i| self.usable(i, now, &none))
    }

    /// Picks a peer for this attempt and counts a connection on it; `None` means nginx's
    /// "no live upstreams" (502).
    pub fn select(&mut self, now: Instant, key: &Key<'_>, at: &mut Attempt) -> Option<usize> {
        let picked = match self.method {
            Method::RoundRobin => self.rr_with_backups(now, at, false),
            Method::LeastConn => self.rr_with_backups(now, at, true),
            Method::IpHash => self.ip_hash(now, key, at),
            Method::Hash => self.hash(now, key, at),
            Method::Consistent => self.consistent(now, key, at),
            Method::Random | Method::RandomTwo => self.random(now, at),
        }?;
        let p = &mut self.peers[picked];
        // Re-admission: once fail_timeout has passed, this pick is the probe; its success
        // (accessed < checked) clears the failure count in `release`.
        if p.checked
            .is_none_or(|c| now.saturating_duration_since(c) > p.fail_timeout)
        {
            p.checked = Some(now);
        }
        p.conns += 1;
        at.mark(picked);
        Some(picked)
    }

    fn rr_with_backups(&mut self, now: Instant, at: &Attempt, least: bool) -> Option<usize> {
        let (np, n) = (self.primaries, self.peers.len());
        let pick = |s: &mut Self, lo, hi| {
            if least {
                s.least_conn(now, at, lo, hi)
            } else {
                s.wrr(now, at, lo, hi)
            }
        };
        pick(self, 0, np).or_else(|| pick(self, np, n))
    }

    /// Outcome of a request on `i`: releases its connection and updates passive health.
    pub fn release(&mut self, i: usize, now: Instant, failed: bool) {
        let Some(p) = self.peers.get_mut(i) else {
            return;
        };
        p.conns = p.conns.saturating_sub(1);
        if failed {
            p.fails = p.fails.saturating_add(1);
            p.accessed = Some(now);
            p.checked = Some(now);
            if p.max_fails > 0 {
                p.effective_weight -= p.weight / i64::from(p.max_fails);
            }
            p.effective_weight = p.effective_weight.max(0);
        } else if p.accessed.is_some_and(|a| p.checked.is_some_and(|c| a < c)) {
            p.fails = 0;
        }
    }

    fn next_rand(&mut self) -> u64 {
        // xorshift64*: plenty for load spreading, and deterministic under a fixed seed.
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

#[cfg(test)]
mod tests;
