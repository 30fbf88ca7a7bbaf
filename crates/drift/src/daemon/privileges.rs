//! The capabilities `drift run` needs, checked before anything is started.
//!
//! VRRP needs CAP_NET_ADMIN (VIPs and virtual routes over netlink) and CAP_NET_RAW (the
//! protocol-112 socket, gratuitous ARP and NA on packet sockets), nothing else: the rest
//! (SCHED_RR, `script_user`) degrades with a log line. Without CAP_NET_RAW the first socket
//! fails anyway, with a bare EPERM. Without CAP_NET_ADMIN the daemon used to start, win the
//! election and send adverts while every VIP add failed with a warning: a master that the
//! backups obey and that answers for no address, an outage. So either missing capability stops
//! the start, saying which one and how to grant it.

use anyhow::{bail, Result};
use drift_net::caps::NetCaps;

/// Refuse to start VRRP instances without both network capabilities. A configuration without
/// `vrrp_instance` (a proxy-only `drift run --proxy`) needs neither. Unknown capabilities (no
/// readable /proc) are not held against the start.
pub fn require_net_caps(instances: usize) -> Result<()> {
    match drift_net::caps::current() {
        Some(caps) => check(instances, caps, nix::unistd::geteuid().as_raw()),
        None => Ok(()),
    }
}

fn check(instances: usize, caps: NetCaps, uid: u32) -> Result<()> {
    let missing = caps.missing();
    if instances == 0 || missing.is_empty() {
        return Ok(());
    }
    bail!(
        "VRRP needs CAP_NET_ADMIN (VIPs and routes) and CAP_NET_RAW (adverts, gratuitous \
         ARP/NA), and this process (uid {uid}) lacks {}: run it as root, or grant both \
         (systemd: AmbientCapabilities=CAP_NET_ADMIN CAP_NET_RAW; by hand: setpriv or capsh \
         with --ambient-caps)",
        missing.join(" and ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOTH: NetCaps = NetCaps {
        net_admin: true,
        net_raw: true,
    };
    const RAW_ONLY: NetCaps = NetCaps {
        net_admin: false,
        net_raw: true,
    };
    const NONE: NetCaps = NetCaps {
        net_admin: false,
        net_raw: false,
    };

    #[test]
    fn both_network_capabilities_are_enough() {
        assert!(check(1, BOTH, 65534).is_ok());
    }

    #[test]
    fn without_net_admin_the_start_is_refused_naming_it() {
        let e = check(1, RAW_ONLY, 65534).unwrap_err().to_string();
        assert!(e.contains("lacks CAP_NET_ADMIN:"), "{e}");
        assert!(e.contains("uid 65534"), "{e}");
    }

    #[test]
    fn without_any_capability_both_are_named() {
        let e = check(2, NONE, 1000).unwrap_err().to_string();
        assert!(e.contains("lacks CAP_NET_ADMIN and CAP_NET_RAW"), "{e}");
    }

    #[test]
    fn a_configuration_without_instances_needs_no_capability() {
        assert!(check(0, NONE, 1000).is_ok());
    }
}
