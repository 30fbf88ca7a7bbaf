//! Read-back helpers built on `ip -j` (iproute2's JSON output) so tests check what the kernel
//! really holds, independent of the netlink code under test.

use std::io;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::Netns;

/// One interface as `ip -j link` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkInfo {
    pub index: u32,
    pub name: String,
    /// Lower-case `aa:bb:cc:dd:ee:ff`.
    pub mac: String,
    /// `UP`, `DOWN`, `LOWERLAYERDOWN`, `UNKNOWN`...
    pub operstate: String,
    /// Interface flags such as `UP`, `LOWER_UP`, `NO-CARRIER`.
    pub flags: Vec<String>,
}

/// One address as `ip -j addr` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddrInfo {
    pub ifname: String,
    pub addr: IpAddr,
    pub prefix_len: u8,
    pub label: Option<String>,
    pub scope: String,
    pub nodad: bool,
    pub tentative: bool,
}

fn parse_json(text: &str) -> io::Result<Value> {
    serde_json::from_str(text).map_err(|e| io::Error::other(format!("ip -j output: {e}: {text}")))
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

impl Netns {
    /// Index, MAC, operstate and flags of `ifname` in this namespace.
    pub fn link(&self, ifname: &str) -> io::Result<LinkInfo> {
        let json = parse_json(&self.ip(&["-j", "link", "show", "dev", ifname])?)?;
        let l = json
            .get(0)
            .ok_or_else(|| io::Error::other(format!("no link {ifname}")))?;
        Ok(LinkInfo {
            index: l["ifindex"].as_u64().unwrap_or(0) as u32,
            name: l["ifname"].as_str().unwrap_or_default().to_string(),
            mac: l["address"].as_str().unwrap_or_default().to_string(),
            operstate: l["operstate"].as_str().unwrap_or_default().to_string(),
            flags: strings(&l["flags"]),
        })
    }

    /// MAC address of `ifname` (lower-case, colon separated).
    pub fn mac(&self, ifname: &str) -> io::Result<String> {
        Ok(self.link(ifname)?.mac)
    }

    /// Every address on every interface of this namespace.
    pub fn addrs(&self) -> io::Result<Vec<AddrInfo>> {
        let json = parse_json(&self.ip(&["-j", "addr", "show"])?)?;
        let mut out = Vec::new();
        for link in json.as_array().into_iter().flatten() {
            let ifname = link["ifname"].as_str().unwrap_or_default();
            for a in link["addr_info"].as_array().into_iter().flatten() {
                let Some(addr) = a["local"].as_str().and_then(|s| s.parse().ok()) else {
                    continue;
                };
                out.push(AddrInfo {
                    ifname: ifname.to_string(),
                    addr,
                    prefix_len: a["prefixlen"].as_u64().unwrap_or(0) as u8,
                    label: a["label"].as_str().map(String::from),
                    scope: a["scope"].as_str().unwrap_or_default().to_string(),
                    nodad: a["nodad"].as_bool().unwrap_or(false),
                    tentative: a["tentative"].as_bool().unwrap_or(false),
                });
            }
        }
        Ok(out)
    }

    /// The address entry for `ip`, if any interface in this namespace holds it.
    pub fn addr(&self, ip: IpAddr) -> Option<AddrInfo> {
        self.addrs().ok()?.into_iter().find(|a| a.addr == ip)
    }

    /// Whether any interface in this namespace holds `ip`.
    pub fn has_addr(&self, ip: IpAddr) -> bool {
        self.addr(ip).is_some()
    }

    /// The link-layer address the neighbour table maps `ip` to (lower case), if any entry has one.
    pub fn neigh_mac(&self, ip: IpAddr) -> Option<String> {
        let json = parse_json(&self.ip(&["-j", "neigh", "show", &ip.to_string()]).ok()?).ok()?;
        json.as_array()?
            .iter()
            .find_map(|n| n["lladdr"].as_str().map(str::to_ascii_lowercase))
    }

    /// Set an interface administratively down (`ip link set IF down`).
    pub fn link_down(&self, ifname: &str) -> io::Result<()> {
        self.ip(&["link", "set", ifname, "down"]).map(|_| ())
    }

    /// Set an interface administratively up.
    pub fn link_up(&self, ifname: &str) -> io::Result<()> {
        self.ip(&["link", "set", ifname, "up"]).map(|_| ())
    }
}

/// Poll `f` every `poll` until it returns true or `timeout` passes; returns how long it took.
///
/// Tests assert on the `Option` (with a generous timeout) and may print the `Duration` as a figure.
pub fn wait_until(
    timeout: Duration,
    poll: Duration,
    mut f: impl FnMut() -> bool,
) -> Option<Duration> {
    let start = Instant::now();
    loop {
        if f() {
            return Some(start.elapsed());
        }
        if start.elapsed() >= timeout {
            return None;
        }
        std::thread::sleep(poll);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_until_reports_elapsed_time_when_condition_turns_true() {
        let mut calls = 0;
        let took = wait_until(Duration::from_secs(5), Duration::from_millis(1), || {
            calls += 1;
            calls == 3
        });
        assert!(took.is_some());
        assert_eq!(calls, 3);
    }

    #[test]
    fn wait_until_gives_up_after_timeout() {
        let took = wait_until(Duration::from_millis(20), Duration::from_millis(5), || {
            false
        });
        assert_eq!(took, None);
    }
}
