//! keepalived's STATS_CLEAR signal (`keepalived --signum=STATS_CLEAR`: SIGRTMAX-1, 63 with
//! glibc): counters restart from zero. drift-vrrp's counters only ever grow (the VRRP thread is
//! not interrupted for this), so clearing records a baseline per running instance and every
//! reader (status, dumps, metrics) sees the counts since then. Prometheus treats the drop as a
//! counter reset.

use drift_vrrp::Drops;

use super::status::{Counters, DropCounts, InstanceStatus};

/// The counters of one slot at the moment of the clear.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Baseline {
    pub slot: u64,
    pub counters: Counters,
    pub drops: Drops,
}

impl Baseline {
    pub fn of(i: &InstanceStatus) -> Baseline {
        Baseline {
            slot: i.slot,
            counters: i.counters,
            drops: i.drops.0,
        }
    }
}

fn sub_counters(a: &Counters, b: &Counters) -> Counters {
    Counters {
        adverts_rx: a.adverts_rx.saturating_sub(b.adverts_rx),
        adverts_tx: a.adverts_tx.saturating_sub(b.adverts_tx),
        became_master: a.became_master.saturating_sub(b.became_master),
        released_master: a.released_master.saturating_sub(b.released_master),
        priority_zero_rx: a.priority_zero_rx.saturating_sub(b.priority_zero_rx),
        priority_zero_tx: a.priority_zero_tx.saturating_sub(b.priority_zero_tx),
        lower_prio_ignored: a.lower_prio_ignored.saturating_sub(b.lower_prio_ignored),
        dropped: a.dropped.saturating_sub(b.dropped),
    }
}

fn sub_drops(a: &Drops, b: &Drops) -> Drops {
    Drops {
        ttl: a.ttl.saturating_sub(b.ttl),
        version: a.version.saturating_sub(b.version),
        checksum: a.checksum.saturating_sub(b.checksum),
        vrid: a.vrid.saturating_sub(b.vrid),
        auth_type: a.auth_type.saturating_sub(b.auth_type),
        auth_fail: a.auth_fail.saturating_sub(b.auth_fail),
        interval: a.interval.saturating_sub(b.interval),
        addr_list: a.addr_list.saturating_sub(b.addr_list),
        length: a.length.saturating_sub(b.length),
        packet_type: a.packet_type.saturating_sub(b.packet_type),
        own: a.own.saturating_sub(b.own),
        unicast_src: a.unicast_src.saturating_sub(b.unicast_src),
        not_running: a.not_running.saturating_sub(b.not_running),
        other: a.other.saturating_sub(b.other),
    }
}

/// Counts since the clear, for every instance that has a baseline.
pub fn apply(instances: &mut [InstanceStatus], baselines: &[Baseline]) {
    for i in instances {
        if let Some(b) = baselines.iter().find(|b| b.slot == i.slot) {
            i.counters = sub_counters(&i.counters, &b.counters);
            i.drops = DropCounts(sub_drops(&i.drops.0, &b.drops));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn after_a_clear_only_what_happened_since_is_counted() {
        let mut i = crate::daemon::dumps::tests::sample().instances.remove(0);
        let base = Baseline::of(&i);
        i.counters.adverts_tx += 5;
        i.drops.0.ttl += 1;
        let mut v = vec![i];
        apply(&mut v, &[base]);
        assert_eq!((v[0].counters.adverts_tx, v[0].counters.adverts_rx), (5, 0));
        assert_eq!((v[0].drops.get("ttl"), v[0].drops.get("checksum")), (1, 0));
    }

    #[test]
    fn an_instance_started_after_the_clear_keeps_its_counts() {
        let mut i = crate::daemon::dumps::tests::sample().instances.remove(0);
        let mut base = Baseline::of(&i);
        base.slot = 99;
        i.counters.adverts_tx = 7;
        let mut v = vec![i];
        apply(&mut v, &[base]);
        assert_eq!(v[0].counters.adverts_tx, 7);
    }
}
