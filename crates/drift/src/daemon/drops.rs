//! Naming the receive-policy counters that moved, so a dropped advert is visible in the log
//! (keepalived logs its own drops, e.g. "bad advert interval", at info level). Until the status
//! command exposes the counters, the interop tests read these lines.

use std::sync::atomic::{AtomicU64, Ordering};

use drift_vrrp::Drops;
use serde::{Deserialize, Serialize};

/// Received VRRP packets that no instance could be charged with, so no per-instance counter
/// moves for them: a shared receiver hears every VRRP packet on its link, including other
/// routers' VRIDs and a sender probing for ours (keepalived ignores these without a counter).
/// Without this, a flood of foreign-VRID or one-byte packets would be dropped without a trace.
/// Written by the VRRP thread with relaxed atomics (it never waits on a reader).
#[derive(Debug, Default)]
pub struct Unmatched {
    unknown_vrid: AtomicU64,
    runt: AtomicU64,
}

/// A shared receiver also hears what a unicast (or non-standard group) instance on the same
/// link receives on its own socket, which judges and counts it: such a packet is not unmatched.
pub fn heard_on_own_socket(
    slots: &[super::slot::Slot],
    cx: &super::slot::Ctx,
    id: u64,
    pkt: &drift_net::raw::Received,
) -> bool {
    let Some(n) = id.checked_sub(super::slot::SHARED_BASE) else {
        return false;
    };
    let key = usize::try_from(n)
        .ok()
        .and_then(|n| cx.shared.borrow().get(n).copied());
    match (key, pkt.payload.get(1)) {
        (Some((ifindex, v6)), Some(&vrid)) => slots.iter().any(|s| {
            !s.io.shared_rx
                && s.io.ifindex == ifindex
                && s.io.primary.is_ipv6() == v6
                && s.io.vrid() == vrid
        }),
        _ => false,
    }
}

/// [`Unmatched`] as `drift status --json` (`"unmatched"`) and metrics show it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnmatchedCounts {
    /// A VRID that no instance on that interface and family runs.
    pub unknown_vrid: u64,
    /// Too short (under 2 bytes) to carry a VRID at all.
    pub runt: u64,
}

impl Unmatched {
    /// Count one packet that found no instance, by why.
    pub fn count(&self, payload: &[u8]) {
        let c = if payload.len() < 2 {
            &self.runt
        } else {
            &self.unknown_vrid
        };
        c.fetch_add(1, Ordering::Relaxed);
    }

    pub fn get(&self) -> UnmatchedCounts {
        UnmatchedCounts {
            unknown_vrid: self.unknown_vrid.load(Ordering::Relaxed),
            runt: self.runt.load(Ordering::Relaxed),
        }
    }
}

/// The counters that grew between two snapshots, by keepalived-like name. Our own looped-back
/// adverts (`own`) and packets received in FAULT (`not_running`) are routine, not errors, and
/// are left out (keepalived does not count them either).
pub fn grown(before: &Drops, after: &Drops) -> Vec<&'static str> {
    let pairs = [
        ("ttl", before.ttl, after.ttl),
        ("version", before.version, after.version),
        ("checksum", before.checksum, after.checksum),
        ("vrid", before.vrid, after.vrid),
        ("auth_type", before.auth_type, after.auth_type),
        ("auth_failure", before.auth_fail, after.auth_fail),
        ("advert_interval", before.interval, after.interval),
        ("address_list", before.addr_list, after.addr_list),
        ("length", before.length, after.length),
        ("packet_type", before.packet_type, after.packet_type),
        ("unicast_src", before.unicast_src, after.unicast_src),
        ("other", before.other, after.other),
    ];
    pairs
        .into_iter()
        .filter(|(_, b, a)| a > b)
        .map(|(name, _, _)| name)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packets_for_no_instance_are_counted_as_runts_or_unknown_vrids() {
        let u = Unmatched::default();
        u.count(&[]);
        u.count(&[0x31]);
        u.count(&[0x31, 99, 100]);
        assert_eq!(
            u.get(),
            UnmatchedCounts {
                unknown_vrid: 1,
                runt: 2
            }
        );
    }

    #[test]
    fn only_the_counters_that_grew_are_named() {
        let before = Drops::default();
        let mut after = before;
        after.auth_fail = 2;
        after.addr_list = 1;
        assert_eq!(grown(&before, &after), vec!["auth_failure", "address_list"]);
        assert!(grown(&after, &after).is_empty());
    }

    #[test]
    fn own_adverts_and_packets_while_faulted_are_not_reported() {
        let before = Drops::default();
        let mut after = before;
        after.own = 5;
        after.not_running = 3;
        assert!(grown(&before, &after).is_empty());
    }
}
