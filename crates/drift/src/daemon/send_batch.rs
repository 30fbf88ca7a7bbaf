//! Periodic adverts due in the same turn of the VRRP loop, sent together (issue 9).
//!
//! Each instance's advert is encoded once per (instance, priority) and kept; a turn only
//! records which ones are due, and [`AdvertBatch::flush`] hands every multicast advert leaving
//! the same interface from the same source address to one `sendmmsg(2)` — any of those
//! instances' send sockets is equivalent (same device, source, TTL 255, multicast interface).
//! Unicast adverts go out one by one on their own instance's socket (its `unicast_ttl` may
//! differ). Nothing is allocated per advert once the cache is warm.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use drift_net::raw::AsyncVrrpSocket;
use drift_vrrp::wire::{ChecksumMode, PseudoHeader};
use tracing::warn;

use super::slot::Slot;

/// One instance's encoded advert, per destination.
struct Encoded {
    priority: u8,
    per_dst: Vec<(IpAddr, Vec<u8>)>,
}

/// A due advert: whose, and which socket may carry it.
struct Due {
    id: u64,
    name: Arc<str>,
    sock: Arc<AsyncVrrpSocket>,
    /// (ifindex, source address): adverts with equal keys may share a `sendmmsg`.
    key: (u32, IpAddr),
}

#[derive(Default)]
pub struct AdvertBatch {
    cache: HashMap<u64, Encoded>,
    due: Vec<Due>,
    names: HashMap<u64, Arc<str>>,
}

impl AdvertBatch {
    /// Queue slot `s`'s advert at `priority` (as returned by `Instance::take_periodic_advert`).
    pub fn push(&mut self, s: &Slot, priority: u8) {
        let fresh = self.cache.get(&s.id).is_none_or(|e| e.priority != priority);
        if fresh {
            let adv = s.inst.advert(priority);
            let per_dst =
                s.io.destinations
                    .iter()
                    .map(|&dst| {
                        let ph = PseudoHeader {
                            src: s.io.primary,
                            dst,
                        };
                        (dst, adv.to_bytes(&ph, ChecksumMode::PseudoHeader))
                    })
                    .collect();
            self.cache.insert(s.id, Encoded { priority, per_dst });
        }
        let name = self
            .names
            .entry(s.id)
            .or_insert_with(|| Arc::from(s.io.name.as_str()))
            .clone();
        self.due.push(Due {
            id: s.id,
            name,
            sock: s.io.socket.clone(),
            key: (s.io.ifindex, s.io.primary),
        });
    }

    /// Send everything queued this turn.
    pub fn flush(&mut self) {
        if self.due.is_empty() {
            return;
        }
        // Stable grouping by socket key; with one interface this is a single group.
        self.due.sort_by_key(|d| d.key);
        let mut start = 0;
        while start < self.due.len() {
            let key = self.due[start].key;
            let end = self.due[start..]
                .iter()
                .position(|d| d.key != key)
                .map_or(self.due.len(), |n| start + n);
            self.send_group(start, end);
            start = end;
        }
        self.due.clear();
    }

    fn send_group(&self, start: usize, end: usize) {
        let group = &self.due[start..end];
        let mut multicast: Vec<(&[u8], IpAddr)> = Vec::with_capacity(group.len());
        for d in group {
            let Some(enc) = self.cache.get(&d.id) else {
                continue;
            };
            for (dst, bytes) in &enc.per_dst {
                if dst.is_multicast() {
                    multicast.push((bytes, *dst));
                } else if let Err(e) = d.sock.send_to(bytes, *dst) {
                    warn!("VRRP_Instance({}) advert to {dst} failed: {e}", d.name);
                }
            }
        }
        if multicast.is_empty() {
            return;
        }
        match group[0].sock.get_ref().send_batch(&multicast) {
            Ok(n) if n == multicast.len() => {}
            Ok(n) => warn!(
                "sendmmsg: {n} of {} adverts sent (from {})",
                multicast.len(),
                group[0].name
            ),
            Err(e) => warn!(
                "sendmmsg of {} adverts failed (from {}): {e}",
                multicast.len(),
                group[0].name
            ),
        }
    }

    /// Forget slots that no longer exist (after a reload).
    pub fn retain(&mut self, live: impl Fn(u64) -> bool) {
        self.cache.retain(|id, _| live(*id));
        self.names.retain(|id, _| live(*id));
    }
}
