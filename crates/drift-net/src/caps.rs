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

impl NetCaps {
    /// The two capabilities drift lacks, by name (empty when it has both).
    pub fn missing(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        if !self.net_admin {
            out.push("CAP_NET_ADMIN");
        }
        if !self.net_raw {
            out.push("CAP_NET_RAW");
        }
        out
    }
}

/// Effective capabilities of this process; `None` when `/proc/self/status` is unreadable.
pub fn current() -> Option<NetCaps> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    parse_status(&status)
}

/// The whole effective capability set of this process (bit N is capability N), for checks
/// beyond the network ones (CAP_SETUID for `script_user`); `None` when unreadable.
pub fn effective() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    parse_effective(&status)
}

/// The `CapEff:` bits of a `/proc/<pid>/status` text.
pub fn parse_effective(status: &str) -> Option<u64> {
    let hex = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))?
        .trim();
    u64::from_str_radix(hex, 16).ok()
}

/// Parse the `CapEff:` line of a `/proc/<pid>/status` text.
pub fn parse_status(status: &str) -> Option<NetCaps> {
    let bits = parse_effective(status)?;
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
    fn the_missing_capabilities_are_named() {
        let raw_only = parse_status("CapEff:\t0000000000002000\n").unwrap();
        assert_eq!(raw_only.missing(), vec!["CAP_NET_ADMIN"]);
        let none = parse_status("CapEff:\t0000000000000000\n").unwrap();
        assert_eq!(none.missing(), vec!["CAP_NET_ADMIN", "CAP_NET_RAW"]);
        assert_eq!(parse_effective("CapEff:\t0000000000003000\n"), Some(0x3000));
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
