//! Naming the receive-policy counters that moved, so a dropped advert is visible in the log
//! (keepalived logs its own drops, e.g. "bad advert interval", at info level). Until the status
//! command exposes the counters, the interop tests read these lines.

use drift_vrrp::Drops;

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
