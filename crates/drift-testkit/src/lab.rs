//! A LAN in namespaces: one bridge namespace, N host namespaces and an optional client namespace,
//! each host joined to the bridge by a veth pair. Nothing is created in the caller's namespace:
//! each veth is created inside its host namespace with its peer placed straight into the bridge
//! namespace, so a test can never touch the machine's real interfaces.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::ops::Deref;
use std::time::Duration;

use crate::names::unique_base;
use crate::query::wait_until;
use crate::{ChildGuard, Netns};

/// Name of the LAN interface inside every host and client namespace.
pub const HOST_IF: &str = "eth0";
/// Name of the bridge inside the bridge namespace.
pub const BRIDGE_IF: &str = "br0";
/// Last octet of the client's address; hosts get 11, 12, ... (as in the keepalived captures).
pub const CLIENT_OCTET: u8 = 100;
const FIRST_HOST_OCTET: u8 = 11;

/// Configures a [`Lab`]; `Lab::builder().hosts(2).client(true).build()`.
#[derive(Debug, Clone)]
pub struct LabBuilder {
    hosts: usize,
    client: bool,
    third_octet: Option<u8>,
}

impl LabBuilder {
    /// Number of host namespaces (at least 1, at most 80).
    pub fn hosts(mut self, n: usize) -> Self {
        self.hosts = n.clamp(1, 80);
        self
    }

    /// Also create a client namespace on the same LAN (address .100).
    pub fn client(mut self, yes: bool) -> Self {
        self.client = yes;
        self
    }

    /// Use 10.203.`x`.0/24 instead of an `x` derived from the unique lab id.
    pub fn third_octet(mut self, x: u8) -> Self {
        self.third_octet = Some(x);
        self
    }

    pub fn build(self) -> io::Result<Lab> {
        let base = unique_base();
        // Namespaces isolate the addresses anyway; varying X only keeps captures readable.
        let x = self.third_octet.unwrap_or_else(|| {
            (base
                .bytes()
                .fold(7u32, |h, b| h.wrapping_mul(31) ^ u32::from(b))
                % 250) as u8
                + 1
        });
        let bridge = Netns::named(format!("{base}br"))?;
        bridge.ip(&[
            "link",
            "add",
            BRIDGE_IF,
            "type",
            "bridge",
            "stp_state",
            "0",
            "mcast_snooping",
            "0",
        ])?;
        bridge.ip(&["link", "set", BRIDGE_IF, "up"])?;
        let mut lab = Lab {
            hosts: Vec::new(),
            client: None,
            bridge,
            base,
            x,
        };
        for i in 0..self.hosts {
            let octet = FIRST_HOST_OCTET + i as u8;
            let host = lab.attach(&format!("h{}", i + 1), &format!("p{}", i + 1), octet)?;
            lab.hosts.push(host);
        }
        if self.client {
            lab.client = Some(lab.attach("c", "pc", CLIENT_OCTET)?);
        }
        lab.wait_ready()?;
        Ok(lab)
    }
}

/// A bridged LAN of namespaces; everything is deleted on Drop (hosts first, bridge last), also
/// when the test panics.
#[derive(Debug)]
pub struct Lab {
    // Field order is drop order: hosts and client before the bridge they hang off.
    hosts: Vec<Host>,
    client: Option<Host>,
    bridge: Netns,
    base: String,
    x: u8,
}

/// One namespace on the lab LAN with interface [`HOST_IF`] (`eth0`). Derefs to its [`Netns`].
#[derive(Debug)]
pub struct Host {
    ns: Netns,
    port: String,
    bridge_ns: String,
    ipv4: Ipv4Addr,
    ipv6: Ipv6Addr,
}

impl Lab {
    pub fn builder() -> LabBuilder {
        LabBuilder {
            hosts: 2,
            client: false,
            third_octet: None,
        }
    }

    fn attach(&self, role: &str, port: &str, octet: u8) -> io::Result<Host> {
        let ns = Netns::named(format!("{}{role}", self.base))?;
        let ipv4 = self.addr_v4(octet);
        let ipv6 = self.addr_v6(octet);
        // Deterministic MAC derived from the IPv4 address (02:00 + address), as in the captures.
        let [a, b, c, d] = ipv4.octets();
        let mac = format!("02:00:{a:02x}:{b:02x}:{c:02x}:{d:02x}");
        ns.ip(&[
            "link",
            "add",
            HOST_IF,
            "address",
            &mac,
            "type",
            "veth",
            "peer",
            "name",
            port,
            "netns",
            self.bridge.name(),
        ])?;
        let host = Host {
            ns,
            port: port.to_string(),
            bridge_ns: self.bridge.name().to_string(),
            ipv4,
            ipv6,
        };
        self.bridge
            .ip(&["link", "set", port, "master", BRIDGE_IF, "up"])?;
        host.ip(&["addr", "add", &format!("{ipv4}/24"), "dev", HOST_IF])?;
        host.ip(&[
            "addr",
            "add",
            &format!("{ipv6}/64"),
            "dev",
            HOST_IF,
            "nodad",
        ])?;
        host.ip(&["link", "set", HOST_IF, "up"])?;
        Ok(host)
    }

    /// Wait until every interface has carrier and a link-local address (DAD is off, so this is quick).
    fn wait_ready(&self) -> io::Result<()> {
        for h in self.hosts.iter().chain(self.client.iter()) {
            let ready = wait_until(Duration::from_secs(5), Duration::from_millis(10), || {
                h.link(HOST_IF)
                    .map(|l| l.flags.iter().any(|f| f == "LOWER_UP"))
                    .unwrap_or(false)
                    && h.ipv6_link_local().is_some()
            });
            if ready.is_none() {
                return Err(io::Error::other(format!(
                    "{} never got carrier + link-local",
                    h.name()
                )));
            }
        }
        Ok(())
    }

    /// Host `i` (0-based). Panics when out of range: a test bug, not an input.
    pub fn host(&self, i: usize) -> &Host {
        &self.hosts[i]
    }

    pub fn hosts(&self) -> &[Host] {
        &self.hosts
    }

    /// The client namespace; panics if the builder did not ask for one.
    pub fn client(&self) -> &Host {
        self.client
            .as_ref()
            .expect("Lab built without .client(true)")
    }

    pub fn bridge(&self) -> &Netns {
        &self.bridge
    }

    /// The lab's unique 11-char id (prefix of every namespace name).
    pub fn id(&self) -> &str {
        &self.base
    }

    /// 10.203.X.`octet` on this lab's /24 (e.g. for VIPs: pick octets >= 110).
    pub fn addr_v4(&self, octet: u8) -> Ipv4Addr {
        Ipv4Addr::new(10, 203, self.x, octet)
    }

    /// fd00:203:X::`octet` on this lab's ULA /64.
    pub fn addr_v6(&self, octet: u8) -> Ipv6Addr {
        Ipv6Addr::new(
            0xfd00,
            0x203,
            u16::from(self.x),
            0,
            0,
            0,
            0,
            u16::from(octet),
        )
    }

    pub fn exec(&self, host: usize, cmd: &[&str]) -> std::process::Output {
        self.host(host).exec(cmd)
    }

    pub fn spawn(&self, host: usize, program: &str, args: &[&str]) -> io::Result<ChildGuard> {
        self.host(host).spawn(program, args)
    }

    /// Host's own `eth0` administratively down (the daemon sees its interface go down).
    pub fn link_down(&self, host: usize) -> io::Result<()> {
        self.host(host).link_down(HOST_IF)
    }

    pub fn link_up(&self, host: usize) -> io::Result<()> {
        self.host(host).link_up(HOST_IF)
    }

    pub fn has_addr(&self, host: usize, ip: IpAddr) -> bool {
        self.host(host).has_addr(ip)
    }

    pub fn neigh_mac(&self, host: usize, ip: IpAddr) -> Option<String> {
        self.host(host).neigh_mac(ip)
    }

    pub fn mac(&self, host: usize) -> io::Result<String> {
        self.host(host).mac(HOST_IF)
    }
}

impl Host {
    pub fn ifname(&self) -> &str {
        HOST_IF
    }

    pub fn ipv4(&self) -> Ipv4Addr {
        self.ipv4
    }

    /// The host's ULA (fd00:203:X::octet/64, added nodad).
    pub fn ipv6(&self) -> Ipv6Addr {
        self.ipv6
    }

    /// The kernel-generated fe80:: address of `eth0`, once present.
    pub fn ipv6_link_local(&self) -> Option<Ipv6Addr> {
        self.addrs().ok()?.into_iter().find_map(|a| match a.addr {
            IpAddr::V6(v6) if a.ifname == HOST_IF && v6.segments()[0] == 0xfe80 => Some(v6),
            _ => None,
        })
    }

    pub fn ifindex(&self) -> io::Result<u32> {
        Ok(self.link(HOST_IF)?.index)
    }

    pub fn host_mac(&self) -> io::Result<String> {
        self.mac(HOST_IF)
    }

    /// Name of this host's veth peer in the bridge namespace (its switch port), for tests that
    /// detach it from the bridge (a silent partition: the host keeps carrier).
    pub fn port(&self) -> &str {
        &self.port
    }

    /// Pull the cable: set this host's bridge port down, so `eth0` loses carrier (NO-CARRIER)
    /// while staying administratively up — what a tracker sees when a switch port dies.
    pub fn cut(&self) -> io::Result<()> {
        self.bridge_port("down")
    }

    /// Plug the cable back in.
    pub fn reconnect(&self) -> io::Result<()> {
        self.bridge_port("up")
    }

    fn bridge_port(&self, state: &str) -> io::Result<()> {
        crate::netns::run_checked(std::process::Command::new("ip").args([
            "-n",
            &self.bridge_ns,
            "link",
            "set",
            &self.port,
            state,
        ]))
        .map(|_| ())
    }
}

impl Deref for Host {
    type Target = Netns;
    fn deref(&self) -> &Netns {
        &self.ns
    }
}
