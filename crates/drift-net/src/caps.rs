//! Which network capabilities this process holds, read from `/proc/self/status` (`CapEff`).
//!
//! drift needs CAP_NET_RAW for proto-112 and AF_PACKET sockets and CAP_NET_ADMIN for VIPs; checking
//! up front turns a confusing EPERM deep in startup into one clear message.

const CAP_NET_ADMIN: u32 = 12;
const CAP_NET_RAW: u32 = 13;

/// The effective network capabilities of the current process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NetCaps {
    pub net_admin: bool,
    pub net_raw: bool,
}

impl NetCaps {
    /// Both capabilities drift's VRRP side needs.
    pub fn sufficient_for_vrrp(&self) -> bool {
        self.net_admin && self.net_raw
    }
}

/// Effective capabilities of this process; `None` when `/proc/self/status` is unreadable.
pub fn current() -> Option<NetCaps> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    parse_status(&status)
}

/// Parse the `CapEff:` line of a `/proc/<pid>/status` text.
pub fn parse_status(status: &str) -> Option<NetCaps> {
    let hex = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))?
        .trim();
    let bits = u64::from_str_radix(hex, 16).ok()?;
    Some(NetCaps {
        net_admin: bits & (1 << CAP_NET_ADMIN) != 0,
        net_raw: bits & (1 << CAP_NET_RAW) != 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_root_capability_set_has_both() {
        let caps = parse_status("Name:\tx\nCapEff:\t000001ffffffffff\n").unwrap();
        assert!(caps.sufficient_for_vrrp());
    }

    #[test]
    fn net_raw_alone_is_not_enough_for_vrrp() {
        let caps = parse_status("CapEff:\t0000000000002000\n").unwrap();
        assert_eq!(
            caps,
            NetCaps {
                net_admin: false,
                net_raw: true
            }
        );
        assert!(!caps.sufficient_for_vrrp());
    }

    #[test]
    fn missing_or_garbled_capeff_is_none() {
        assert_eq!(parse_status("Name: x\n"), None);
        assert_eq!(parse_status("CapEff:\tzz\n"), None);
    }

    #[test]
    fn current_process_capabilities_are_readable() {
        assert!(current().is_some());
    }
}
