//! The demo's LAN: a bridge in its own namespace, two node namespaces and a client namespace,
//! each joined by a veth whose host end (`eth0`, as in the article) is created inside the member
//! namespace and whose peer goes straight into the bridge namespace. The article's own
//! addresses (192.168.1.0/24) are used: they exist only inside these namespaces.

use std::net::Ipv4Addr;

use anyhow::{Context, Result};

use super::ns::Ns;

/// The interface name in the seed configs; every member's LAN interface is called this.
pub const IFACE: &str = "eth0";
/// The seed's VIP.
pub const VIP: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 110);
/// node1 is the seed's MASTER (its `mcast_src_ip`), node2 the BACKUP.
pub const NODE_IPS: [Ipv4Addr; 2] = [
    Ipv4Addr::new(192, 168, 1, 157),
    Ipv4Addr::new(192, 168, 1, 158),
];
pub const CLIENT_IP: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 100);
pub const NODE_NAMES: [&str; 2] = ["node1", "node2"];

#[derive(Debug)]
pub struct Lab {
    // Field order is drop order: members before the bridge they hang off.
    pub nodes: [Ns; 2],
    pub client: Ns,
    pub lan: Ns,
}

impl Lab {
    pub fn build() -> Result<Lab> {
        let lan = Ns::create("lan")?;
        lan.ip(&[
            "link",
            "add",
            "br0",
            "type",
            "bridge",
            "stp_state",
            "0",
            // VRRP adverts go to 224.0.0.18; with snooping on, a bridge without a querier can
            // stop flooding them.
            "mcast_snooping",
            "0",
        ])?;
        lan.ip(&["link", "set", "br0", "up"])?;
        let node1 = attach(&lan, NODE_NAMES[0], NODE_IPS[0])?;
        let node2 = attach(&lan, NODE_NAMES[1], NODE_IPS[1])?;
        let client = attach(&lan, "client", CLIENT_IP)?;
        Ok(Lab {
            nodes: [node1, node2],
            client,
            lan,
        })
    }

    /// Pull (false) or plug (true) node `i`'s cable: its bridge port goes down or up.
    pub fn cable(&self, i: usize, plugged: bool) -> Result<()> {
        let state = if plugged { "up" } else { "down" };
        self.lan
            .ip(&["link", "set", NODE_NAMES[i], state])
            .map(|_| ())
    }
}

/// A namespace named `role` with `eth0` at `ip`/24 on the bridge (bridge port named `role`).
fn attach(lan: &Ns, role: &str, ip: Ipv4Addr) -> Result<Ns> {
    let ns = Ns::create(role)?;
    ns.ip(&[
        "link",
        "add",
        IFACE,
        "type",
        "veth",
        "peer",
        "name",
        role,
        "netns",
        lan.name(),
    ])
    .with_context(|| format!("create {role}'s veth"))?;
    lan.ip(&["link", "set", role, "master", "br0", "up"])?;
    ns.ip(&["addr", "add", &format!("{ip}/24"), "dev", IFACE])?;
    ns.ip(&["link", "set", IFACE, "up"])?;
    Ok(ns)
}
