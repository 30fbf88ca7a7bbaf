//! keepalived settings drift reads but does not act on. Each one is logged once when the
//! instance starts, so a keepalived.conf moved to drift never loses a feature silently (the
//! README's parity table gives the reasons).

use drift_model::{Authentication, VrrpInstance};

/// Keywords kept raw in `extra` that change behaviour in keepalived.
const RAW_BEHAVIOUR: &[&str] = &["track_bfd", "garp_extra_if"];

/// One line per setting of `vi` that `drift run` ignores.
pub fn ignored(vi: &VrrpInstance) -> Vec<String> {
    let mut v = Vec::new();
    let mut say = |what: &str, why: &str| v.push(format!("{what} is not supported: {why}"));
    if vi.use_vmac.is_some() {
        say("use_vmac", "adverts and VIPs use the interface's own MAC");
    }
    if !vi.virtual_rules.is_empty() {
        say("virtual_rules", "no policy rules are added");
    }
    if matches!(vi.authentication, Some(Authentication::Ah(_))) {
        say(
            "auth_type AH",
            "adverts are sent and accepted without authentication",
        );
    }
    if vi.strict_mode {
        say(
            "strict_mode / vrrp_strict",
            "its extra checks and firewall rules are not applied",
        );
    }
    if !vi.accept {
        say("no_accept", "traffic to the VIPs is not filtered");
    }
    if !vi.garp.interval.is_zero() || !vi.garp.gna_interval.is_zero() {
        say(
            "garp_interval / gna_interval",
            "gratuitous ARP/NA batches are not paced",
        );
    }
    let n = &vi.notify;
    if n.deleted.is_some() || n.master_rx_lower_pri.is_some() || n.priority_changes {
        say(
            "notify_deleted / notify_master_rx_lower_pri / notify_priority_changes",
            "these notifications are not sent",
        );
    }
    for e in vi
        .extra
        .iter()
        .filter(|e| RAW_BEHAVIOUR.contains(&e.key.as_str()))
    {
        say(&e.key, "ignored by drift");
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use drift_model::RawEntry;

    #[test]
    fn a_plain_instance_has_nothing_to_report() {
        assert!(ignored(&VrrpInstance::new("VI_1", 1)).is_empty());
    }

    #[test]
    fn each_ignored_setting_is_named() {
        let mut vi = VrrpInstance::new("VI_1", 1);
        vi.use_vmac = Some(vec![]);
        vi.virtual_rules = vec![vec!["from".into(), "10.0.0.0/8".into()]];
        vi.authentication = Some(Authentication::Ah("k".into()));
        vi.strict_mode = true;
        vi.accept = false;
        vi.notify.priority_changes = true;
        vi.extra.push(RawEntry {
            key: "track_bfd".into(),
            args: vec![],
            block: None,
        });
        let got = ignored(&vi).join("\n");
        for word in [
            "use_vmac",
            "virtual_rules",
            "AH",
            "strict_mode",
            "no_accept",
            "notify_priority_changes",
            "track_bfd",
        ] {
            assert!(got.contains(word), "{word} missing from:\n{got}");
        }
    }
}
