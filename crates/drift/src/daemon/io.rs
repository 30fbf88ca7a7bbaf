//! The I/O side of one instance: its VRRP socket, VIP address specs, GARP/NA senders, and how
//! each [`Action`] of the state machine is carried out.
//!
//! Failures while carrying out an action are logged with context and never stop the daemon:
//! a lost advert or a VIP that cannot be added is what VRRP is designed to survive.

use std::net::{IpAddr, Ipv6Addr};
use std::sync::Arc;

use anyhow::{anyhow, Context, Result};
use drift_model::{Vip, VrrpInstance};
use drift_net::garp::{FrameSender, NaSender};
use drift_net::netlink::{AddrScope, AddressSpec, DelOutcome, Netlink, RouteSpec};
use drift_net::raw::{
    if_index, AsyncVrrpSocket, Family, VrrpSocket, VrrpSocketConfig, VRRP_GROUP_V4, VRRP_GROUP_V6,
};
use drift_vrrp::wire::{Advert, ChecksumMode, PseudoHeader};
use drift_vrrp::{Action, Instance, State};
use tracing::{debug, info, warn};

use super::mapping;

/// A VIP resolved to the link it lives on.
#[derive(Debug, Clone)]
pub struct VipOnLink {
    pub ifindex: u32,
    pub ifname: String,
    pub spec: AddressSpec,
}

/// Everything the daemon holds for one `vrrp_instance`.
pub struct InstanceIo {
    pub name: String,
    pub ifname: String,
    pub ifindex: u32,
    pub primary: IpAddr,
    pub socket: Arc<AsyncVrrpSocket>,
    /// Multicast group, or empty when unicast peers are configured.
    pub destinations: Vec<IpAddr>,
    pub vips: Vec<VipOnLink>,
    /// `virtual_routes`, added after the VIPs and removed with them.
    pub routes: Vec<RouteSpec>,
    /// Multicast adverts reach this instance through the interface's shared receiver.
    pub shared_rx: bool,
    /// `unicast_fault_no_peer` without any `unicast_peer`: FAULT for good (keepalived ≥ 2.2.4),
    /// rather than falling back to multicast.
    pub no_peer_fault: bool,
    mac: Option<[u8; 6]>,
    arp: Option<FrameSender>,
    na: Option<NaSender>,
    vrid: u8,
}

impl InstanceIo {
    /// Resolve the interface, source address and VIPs, and open the sockets, then build the
    /// state machine. Needs CAP_NET_RAW/CAP_NET_ADMIN; runs in the daemon's namespace.
    /// `in_sync_group`: the instance is a member of a `vrrp_sync_group` (see daemon::sync).
    pub async fn open(
        nl: &Netlink,
        vi: &VrrpInstance,
        in_sync_group: bool,
    ) -> Result<(InstanceIo, Instance)> {
        let ifname = vi.interface.clone().ok_or_else(|| {
            anyhow!(
                "VRRP_Instance({}): no `interface` (needed to send adverts)",
                vi.name
            )
        })?;
        let link = nl
            .link_by_name(&ifname)
            .await
            .with_context(|| format!("VRRP_Instance({}): interface {ifname}", vi.name))?;
        let v6 = vi.family == drift_model::Family::Inet6;
        let primary = match mapping::configured_source(vi) {
            Some(a) => a,
            None => nl
                .primary_address(link.index, v6)
                .await
                .with_context(|| format!("addresses of {ifname}"))?
                .ok_or_else(|| {
                    anyhow!(
                        "VRRP_Instance({}): {ifname} has no {} address to send adverts from",
                        vi.name,
                        if v6 { "link-local IPv6" } else { "IPv4" }
                    )
                })?,
        };
        for w in super::unsupported::ignored(vi) {
            warn!("VRRP_Instance({}) {w}", vi.name);
        }
        let mut cfg = mapping::instance_config(vi, primary)?;
        cfg.sync_group = in_sync_group;
        let family = if v6 { Family::V6 } else { Family::V4 };
        let mut sc = VrrpSocketConfig::new(family, ifname.clone(), link.index)
            .with_src(primary)
            .with_vrid_filter(vi.virtual_router_id);
        // Multicast instances on the standard group are heard through one shared receiver per
        // interface and family (see slot::ensure_shared_reader), so their own socket does not
        // join: the kernel copies each advert only into sockets that joined the group.
        let shared_rx = vi.unicast_peer.is_empty()
            && (vi.mcast_dst_ip == IpAddr::V4(VRRP_GROUP_V4)
                || vi.mcast_dst_ip == IpAddr::V6(VRRP_GROUP_V6));
        if !vi.unicast_peer.is_empty() || shared_rx {
            sc = sc.without_multicast();
        }
        if shared_rx {
            sc = sc.send_only();
        }
        let sock = VrrpSocket::open(sc)
            .with_context(|| format!("VRRP_Instance({}): VRRP socket on {ifname}", vi.name))?;
        if !vi.unicast_peer.is_empty() {
            sock.set_unicast_ttl(vi.unicast_ttl).with_context(|| {
                format!("VRRP_Instance({}): unicast_ttl {}", vi.name, vi.unicast_ttl)
            })?;
        }
        let no_peer_fault = unicast_without_peers(vi);
        let destinations = if vi.unicast_peer.is_empty() {
            vec![vi.mcast_dst_ip]
        } else {
            vi.unicast_peer.iter().map(|p| p.addr).collect()
        };
        let socket = Arc::new(AsyncVrrpSocket::new(sock).context("register VRRP socket")?);
        let mut vips = Vec::new();
        // `virtual_ipaddress_excluded` are added and removed with the others but never
        // advertised (mapping::advertised_vips leaves them out).
        for v in vi
            .virtual_ipaddress
            .iter()
            .chain(&vi.virtual_ipaddress_excluded)
        {
            vips.push(resolve_vip(v, &ifname, link.index)?);
        }
        let routes = vi
            .virtual_routes
            .iter()
            .map(|w| resolve_route(w))
            .collect::<Result<Vec<_>>>()
            .with_context(|| format!("VRRP_Instance({})", vi.name))?;
        let mac = link
            .mac
            .as_deref()
            .and_then(|m| <[u8; 6]>::try_from(m).ok());
        let arp = if v6 {
            None
        } else {
            FrameSender::open(link.index)
                .map_err(|e| warn!("VRRP_Instance({}): no GARP sender: {e}", vi.name))
                .ok()
        };
        let na = if v6 {
            let src = match primary {
                IpAddr::V6(a) => Some(a),
                IpAddr::V4(_) => None,
            };
            NaSender::open(&ifname, link.index, src)
                .map_err(|e| warn!("VRRP_Instance({}): no NA sender: {e}", vi.name))
                .ok()
        } else {
            None
        };
        let io = InstanceIo {
            name: vi.name.clone(),
            ifname,
            ifindex: link.index,
            primary,
            socket,
            destinations,
            vips,
            routes,
            shared_rx,
            no_peer_fault,
            mac,
            arp,
            na,
            vrid: vi.virtual_router_id,
        };
        let inst = Instance::new(cfg, std::time::Instant::now());
        Ok((io, inst))
    }

    pub fn vrid(&self) -> u8 {
        self.vrid
    }

    /// Remove VIPs a previous (crashed) run left behind, as keepalived does at startup. The
    /// primary address is never removed even if listed as a VIP (address owner).
    pub async fn remove_stale_vips(&self, nl: &Netlink) {
        for v in &self.vips {
            if v.spec.addr == self.primary {
                continue;
            }
            match nl.del_address(v.ifindex, &v.spec).await {
                Ok(DelOutcome::Removed) => info!(
                    "VRRP_Instance({}) removed stale VIP {}/{} from {}",
                    self.name, v.spec.addr, v.spec.prefix_len, v.ifname
                ),
                Ok(DelOutcome::NotPresent) => {}
                Err(e) => warn!(
                    "VRRP_Instance({}) cannot remove stale VIP {} from {}: {e}",
                    self.name, v.spec.addr, v.ifname
                ),
            }
        }
        self.remove_routes(nl).await;
    }

    /// Carry out the actions in order (the state machine relies on it). The transition is
    /// logged first, as keepalived does, so the log line precedes the VIP change it explains.
    pub async fn apply(&self, nl: &Netlink, actions: &[Action]) {
        for a in actions {
            if let Action::Notify { state, priority } = a {
                self.notify(*state, *priority);
            }
        }
        for a in actions {
            match a {
                Action::SendAdvert(adv) => self.send_advert(adv),
                Action::AddVips => {
                    self.add_vips(nl).await;
                    self.add_routes(nl).await;
                }
                Action::RemoveVips => self.remove_vips(nl).await,
                Action::SendGratuitous { count } => self.send_gratuitous(*count),
                Action::Notify { .. } | Action::WantMaster => {}
            }
        }
    }

    fn send_advert(&self, adv: &Advert) {
        for &dst in &self.destinations {
            let ph = PseudoHeader {
                src: self.primary,
                dst,
            };
            let bytes = adv.to_bytes(&ph, ChecksumMode::PseudoHeader);
            if let Err(e) = self.socket.send_to(&bytes, dst) {
                warn!(
                    "VRRP_Instance({}) advert to {dst} on {} failed: {e}",
                    self.name, self.ifname
                );
            } else {
                debug!(
                    "VRRP_Instance({}) sent advert prio {} to {dst}",
                    self.name, adv.priority
                );
            }
        }
    }

    async fn add_vips(&self, nl: &Netlink) {
        for v in &self.vips {
            match nl.add_address(v.ifindex, &v.spec).await {
                Ok(o) => debug!(
                    "VRRP_Instance({}) VIP {}/{} on {}: {o:?}",
                    self.name, v.spec.addr, v.spec.prefix_len, v.ifname
                ),
                Err(e) => warn!(
                    "VRRP_Instance({}) cannot add VIP {}/{} to {}: {e}",
                    self.name, v.spec.addr, v.spec.prefix_len, v.ifname
                ),
            }
        }
    }

    async fn add_routes(&self, nl: &Netlink) {
        for r in &self.routes {
            match nl.add_route(r).await {
                Ok(o) => debug!(
                    "VRRP_Instance({}) route {}/{}: {o:?}",
                    self.name, r.dst, r.prefix_len
                ),
                Err(e) => warn!("VRRP_Instance({}) cannot add route: {e}", self.name),
            }
        }
    }

    /// Routes go first: a route whose `src` is a VIP would vanish with it anyway.
    async fn remove_routes(&self, nl: &Netlink) {
        for r in &self.routes {
            if let Err(e) = nl.del_route(r).await {
                warn!("VRRP_Instance({}) cannot remove route: {e}", self.name);
            }
        }
    }

    async fn remove_vips(&self, nl: &Netlink) {
        self.remove_routes(nl).await;
        for v in &self.vips {
            if let Err(e) = nl.del_address(v.ifindex, &v.spec).await {
                warn!(
                    "VRRP_Instance({}) cannot remove VIP {}/{} from {}: {e}",
                    self.name, v.spec.addr, v.spec.prefix_len, v.ifname
                );
            }
        }
    }

    fn send_gratuitous(&self, count: u32) {
        let Some(mac) = self.mac else {
            warn!(
                "VRRP_Instance({}) {} has no MAC address: no gratuitous ARP/NA",
                self.name, self.ifname
            );
            return;
        };
        for _ in 0..count {
            for v in &self.vips {
                let r = match v.spec.addr {
                    IpAddr::V4(a) => self.arp.as_ref().map(|s| s.send_garp(mac, a)),
                    IpAddr::V6(a) => self.na.as_ref().map(|s| {
                        let f = drift_vrrp::wire::unsolicited_na(
                            mac,
                            a,
                            na_source(self.primary),
                            drift_vrrp::wire::ALL_NODES,
                            false,
                        );
                        s.send(&f, drift_vrrp::wire::ALL_NODES)
                    }),
                };
                if let Some(Err(e)) = r {
                    warn!(
                        "VRRP_Instance({}) gratuitous ARP/NA for {} failed: {e}",
                        self.name, v.spec.addr
                    );
                }
            }
        }
    }

    fn notify(&self, state: State, priority: u8) {
        match state {
            State::Master => info!("VRRP_Instance({}) Entering MASTER STATE", self.name),
            State::Backup => info!("VRRP_Instance({}) Entering BACKUP STATE", self.name),
            State::Fault => info!("VRRP_Instance({}) Entering FAULT STATE", self.name),
            State::Init => info!("VRRP_Instance({}) Stopped (priority {priority})", self.name),
        }
    }
}

/// A unicast setting without any peer. keepalived before 2.2.4 silently used multicast; drift,
/// like 2.2.7, says so, and with `unicast_fault_no_peer` holds the instance in FAULT instead.
/// Returns whether the instance must stay in FAULT.
fn unicast_without_peers(vi: &VrrpInstance) -> bool {
    if !vi.unicast_peer.is_empty() {
        return false;
    }
    if vi.unicast_fault_no_peer {
        warn!(
            "VRRP_Instance({}) unicast_fault_no_peer and no unicast_peer: staying in FAULT",
            vi.name
        );
        return true;
    }
    if let Some(src) = vi.unicast_src_ip {
        warn!(
            "VRRP_Instance({}) unicast_src_ip {src} but no unicast_peer: sending multicast to {} \
             (set unicast_fault_no_peer to go to FAULT instead)",
            vi.name, vi.mcast_dst_ip
        );
    }
    false
}

fn na_source(primary: IpAddr) -> Ipv6Addr {
    match primary {
        IpAddr::V6(a) => a,
        IpAddr::V4(_) => Ipv6Addr::UNSPECIFIED,
    }
}

/// A VIP line to a netlink address spec on its link (`dev` overrides the instance interface).
fn resolve_vip(v: &Vip, ifname: &str, ifindex: u32) -> Result<VipOnLink> {
    let (ifname, ifindex) = match &v.dev {
        Some(dev) if dev != ifname => (
            dev.clone(),
            if_index(dev).with_context(|| format!("VIP {} dev {dev}", v.addr))?,
        ),
        _ => (ifname.to_string(), ifindex),
    };
    let mut spec = AddressSpec::new(v.addr, v.prefix_len);
    if let Some(IpAddr::V4(b)) = v.brd {
        spec = spec.with_broadcast(b);
    }
    if let Some(l) = &v.label {
        spec = spec.with_label(l.clone());
    }
    if let Some(s) = &v.scope {
        spec = spec.with_scope(parse_scope(s).with_context(|| format!("VIP {}", v.addr))?);
    }
    if let Some(p) = v.peer {
        spec = spec.with_peer(p);
    }
    // IPv6 VIPs skip DAD: a VIP is by design present on another node until that one yields,
    // and a tentative address would be unusable for about a second after takeover.
    spec.nodad = v.addr.is_ipv6();
    Ok(VipOnLink {
        ifindex,
        ifname,
        spec,
    })
}

/// A `virtual_routes` line to a route spec, its `dev` resolved to an index.
fn resolve_route(words: &[String]) -> Result<RouteSpec> {
    let line = super::routes::parse(words)?;
    let mut spec = line.spec;
    if let Some(dev) = &line.dev {
        spec.oif = Some(if_index(dev).with_context(|| format!("virtual_routes dev {dev}"))?);
    }
    Ok(spec)
}

/// iproute2 scope words, or a number.
pub fn parse_scope(s: &str) -> Result<AddrScope> {
    Ok(match s {
        "global" | "universe" => AddrScope::Global,
        "site" => AddrScope::Site,
        "link" => AddrScope::Link,
        "host" => AddrScope::Host,
        "nowhere" => AddrScope::Nowhere,
        n => AddrScope::Other(n.parse().map_err(|_| anyhow!("unknown scope `{n}`"))?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_words_and_numbers_parse_and_garbage_is_rejected() {
        assert_eq!(parse_scope("link").unwrap(), AddrScope::Link);
        assert_eq!(parse_scope("global").unwrap(), AddrScope::Global);
        assert_eq!(parse_scope("200").unwrap(), AddrScope::Other(200));
        assert!(parse_scope("galactic").is_err());
    }

    #[test]
    fn a_vip_with_label_brd_and_scope_maps_to_its_address_spec() {
        let mut v = Vip::new("10.0.0.110".parse().unwrap());
        v.prefix_len = 24;
        v.brd = Some("10.0.0.255".parse().unwrap());
        v.label = Some("eth0:1".into());
        v.scope = Some("link".into());
        let r = resolve_vip(&v, "eth0", 7).unwrap();
        assert_eq!(r.ifindex, 7);
        assert_eq!(r.spec.prefix_len, 24);
        assert_eq!(r.spec.broadcast, Some("10.0.0.255".parse().unwrap()));
        assert_eq!(r.spec.label.as_deref(), Some("eth0:1"));
        assert_eq!(r.spec.scope, AddrScope::Link);
        assert!(!r.spec.nodad);
    }

    #[test]
    fn ipv6_vips_are_added_without_duplicate_address_detection() {
        let v = Vip::new("fd00::110".parse().unwrap());
        assert!(resolve_vip(&v, "eth0", 7).unwrap().spec.nodad);
    }
}
