//! VIP addresses: add/remove with everything a keepalived `virtual_ipaddress` line can say
//! (`<ip>/<len> brd <ip> dev <if> scope <scope> label <label> peer <ip>`), plus listing.
//!
//! Add and remove are idempotent: "already there" and "not there" are reported as outcomes, not
//! errors, because after a crash or a reload drift must converge on the wanted state, whatever
//! the kernel holds.

use std::net::{IpAddr, Ipv4Addr};

use futures::TryStreamExt;
use netlink_packet_route::address::{
    AddressAttribute, AddressFlags, AddressHeaderFlags, AddressMessage, AddressScope,
};
use netlink_packet_route::AddressFamily;

use super::{nl_errno, Netlink};
use crate::{Error, Result};

/// Address scope words as keepalived/iproute2 spell them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddrScope {
    Global,
    Site,
    Link,
    Host,
    Nowhere,
    Other(u8),
}

impl AddrScope {
    fn to_nl(self) -> AddressScope {
        match self {
            AddrScope::Global => AddressScope::Universe,
            AddrScope::Site => AddressScope::Site,
            AddrScope::Link => AddressScope::Link,
            AddrScope::Host => AddressScope::Host,
            AddrScope::Nowhere => AddressScope::Nowhere,
            AddrScope::Other(n) => AddressScope::Other(n),
        }
    }

    fn from_nl(s: AddressScope) -> AddrScope {
        match s {
            AddressScope::Universe => AddrScope::Global,
            AddressScope::Site => AddrScope::Site,
            AddressScope::Link => AddrScope::Link,
            AddressScope::Host => AddrScope::Host,
            AddressScope::Nowhere => AddrScope::Nowhere,
            AddressScope::Other(n) => AddrScope::Other(n),
            _ => AddrScope::Other(u8::from(s)),
        }
    }
}

/// One address to add or remove.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressSpec {
    pub addr: IpAddr,
    pub prefix_len: u8,
    /// IPv4 only (`brd`).
    pub broadcast: Option<Ipv4Addr>,
    /// IPv4 only; by convention `<ifname>:<suffix>`.
    pub label: Option<String>,
    pub scope: AddrScope,
    /// Point-to-point peer: becomes IFA_ADDRESS while `addr` is IFA_LOCAL.
    pub peer: Option<IpAddr>,
    /// IFA_F_NODAD (IPv6 only): usable at once instead of "tentative" for ~1 s. keepalived always
    /// adds IPv6 VIPs this way, since a new master must answer immediately.
    pub nodad: bool,
}

impl AddressSpec {
    /// An address with global scope; IPv6 gets `nodad` like keepalived's VIPs.
    pub fn new(addr: IpAddr, prefix_len: u8) -> AddressSpec {
        AddressSpec {
            addr,
            prefix_len,
            broadcast: None,
            label: None,
            scope: AddrScope::Global,
            peer: None,
            nodad: addr.is_ipv6(),
        }
    }

    pub fn with_label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }

    pub fn with_broadcast(mut self, brd: Ipv4Addr) -> Self {
        self.broadcast = Some(brd);
        self
    }

    pub fn with_scope(mut self, scope: AddrScope) -> Self {
        self.scope = scope;
        self
    }

    pub fn with_peer(mut self, peer: IpAddr) -> Self {
        self.peer = Some(peer);
        self
    }

    fn check(&self) -> Result<()> {
        let max = if self.addr.is_ipv4() { 32 } else { 128 };
        if self.prefix_len > max {
            return Err(Error::Invalid(format!(
                "prefix /{} on {}",
                self.prefix_len, self.addr
            )));
        }
        if self.addr.is_ipv6() && (self.broadcast.is_some() || self.label.is_some()) {
            return Err(Error::Invalid(format!(
                "broadcast/label on IPv6 address {}",
                self.addr
            )));
        }
        if self
            .peer
            .is_some_and(|p| p.is_ipv4() != self.addr.is_ipv4())
        {
            return Err(Error::Invalid(format!(
                "peer family differs from {}",
                self.addr
            )));
        }
        if self.label.as_ref().is_some_and(|l| l.len() > 15) {
            return Err(Error::Invalid(format!(
                "label {:?} longer than 15 bytes",
                self.label
            )));
        }
        Ok(())
    }

    fn message(&self, index: u32) -> AddressMessage {
        let mut msg = AddressMessage::default();
        msg.header.family = if self.addr.is_ipv4() {
            AddressFamily::Inet
        } else {
            AddressFamily::Inet6
        };
        msg.header.prefix_len = self.prefix_len;
        msg.header.index = index;
        msg.header.scope = self.scope.to_nl();
        msg.attributes.push(AddressAttribute::Local(self.addr));
        msg.attributes
            .push(AddressAttribute::Address(self.peer.unwrap_or(self.addr)));
        if let Some(brd) = self.broadcast {
            msg.attributes.push(AddressAttribute::Broadcast(brd));
        }
        if let Some(label) = &self.label {
            msg.attributes.push(AddressAttribute::Label(label.clone()));
        }
        if self.nodad && self.addr.is_ipv6() {
            msg.header.flags = AddressHeaderFlags::Nodad;
            msg.attributes
                .push(AddressAttribute::Flags(AddressFlags::Nodad));
        }
        msg
    }
}

/// Result of an idempotent add.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddOutcome {
    Added,
    /// EEXIST: the address was already on the link (left untouched).
    AlreadyPresent,
}

/// Result of an idempotent remove.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DelOutcome {
    Removed,
    /// EADDRNOTAVAIL: the address was not on the link.
    NotPresent,
}

/// An address as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddrEntry {
    pub index: u32,
    /// IFA_LOCAL when present (the interface's own address), else IFA_ADDRESS.
    pub addr: IpAddr,
    pub prefix_len: u8,
    /// IFA_ADDRESS when it differs from IFA_LOCAL (point-to-point peer).
    pub peer: Option<IpAddr>,
    pub broadcast: Option<Ipv4Addr>,
    pub label: Option<String>,
    pub scope: AddrScope,
    /// IFA_F_* bits (from IFA_FLAGS when present, else the 8-bit header field).
    pub flags: u32,
}

impl AddrEntry {
    pub fn is_tentative(&self) -> bool {
        self.flags & libc::IFA_F_TENTATIVE != 0
    }

    /// IFA_F_SECONDARY: an extra IPv4 address in a subnet the link already has a primary for.
    pub fn is_secondary(&self) -> bool {
        self.flags & libc::IFA_F_SECONDARY != 0
    }

    pub fn is_nodad(&self) -> bool {
        self.flags & libc::IFA_F_NODAD != 0
    }

    pub(crate) fn from_message(msg: &AddressMessage) -> Option<AddrEntry> {
        let (mut local, mut address, mut broadcast, mut label, mut flags) =
            (None, None, None, None, None);
        for attr in &msg.attributes {
            match attr {
                AddressAttribute::Local(a) => local = Some(*a),
                AddressAttribute::Address(a) => address = Some(*a),
                AddressAttribute::Broadcast(b) => broadcast = Some(*b),
                AddressAttribute::Label(l) => label = Some(l.clone()),
                AddressAttribute::Flags(f) => flags = Some(f.bits()),
                _ => {}
            }
        }
        let addr = local.or(address)?;
        Some(AddrEntry {
            index: msg.header.index,
            addr,
            prefix_len: msg.header.prefix_len,
            peer: address.filter(|a| *a != addr),
            broadcast,
            label,
            scope: AddrScope::from_nl(msg.header.scope),
            flags: flags.unwrap_or(u32::from(msg.header.flags.bits())),
        })
    }
}

impl Netlink {
    /// Add `spec` to link `index`. EEXIST is `Ok(AlreadyPresent)`; a missing link is `LinkNotFound`.
    pub async fn add_address(&self, index: u32, spec: &AddressSpec) -> Result<AddOutcome> {
        spec.check()?;
        let mut req = self
            .handle()
            .address()
            .add(index, spec.addr, spec.prefix_len);
        *req.message_mut() = spec.message(index);
        match req.execute().await {
            Ok(()) => Ok(AddOutcome::Added),
            Err(e) => match nl_errno(&e) {
                Some(libc::EEXIST) => Ok(AddOutcome::AlreadyPresent),
                Some(libc::ENODEV) => Err(Error::LinkNotFound(format!("index {index}"))),
                _ => Err(Error::Netlink {
                    op: "add address",
                    target: target(index, spec),
                    source: e,
                }),
            },
        }
    }

    /// Remove `spec` from link `index`. Absent is `Ok(NotPresent)`.
    ///
    /// IPv4 deletion matches on the local address only (not prefix/label), so a VIP added by an
    /// older config with another prefix is still removed; IPv6 deletion needs the same prefix
    /// length (the kernel matches address *and* prefix in `inet6_addr_del`).
    pub async fn del_address(&self, index: u32, spec: &AddressSpec) -> Result<DelOutcome> {
        spec.check()?;
        let mut msg = spec.message(index);
        if spec.addr.is_ipv4() {
            msg.attributes
                .retain(|a| matches!(a, AddressAttribute::Local(_)));
        }
        match self.handle().address().del(msg).execute().await {
            Ok(()) => Ok(DelOutcome::Removed),
            Err(e) => match nl_errno(&e) {
                Some(libc::EADDRNOTAVAIL) | Some(libc::ENOENT) => Ok(DelOutcome::NotPresent),
                Some(libc::ENODEV) => Err(Error::LinkNotFound(format!("index {index}"))),
                _ => Err(Error::Netlink {
                    op: "delete address",
                    target: target(index, spec),
                    source: e,
                }),
            },
        }
    }

    /// The source address keepalived would use on link `index` when no `mcast_src_ip` /
    /// `unicast_src_ip` is configured: the first primary IPv4 address, or for IPv6 the link-local
    /// address (RFC 5798 §5.1.2.1: IPv6 adverts come from the link-local address).
    pub async fn primary_address(&self, index: u32, ipv6: bool) -> Result<Option<IpAddr>> {
        let addrs = self.addresses(index).await?;
        Ok(addrs
            .into_iter()
            .find(|a| match a.addr {
                IpAddr::V4(_) => !ipv6 && !a.is_secondary(),
                IpAddr::V6(v6) => ipv6 && v6.segments()[0] & 0xffc0 == 0xfe80 && !a.is_tentative(),
            })
            .map(|a| a.addr))
    }

    /// Addresses on link `index` (both families).
    pub async fn addresses(&self, index: u32) -> Result<Vec<AddrEntry>> {
        let msgs: Vec<AddressMessage> = self
            .handle()
            .address()
            .get()
            .set_link_index_filter(index)
            .execute()
            .try_collect()
            .await
            .map_err(|source| Error::Netlink {
                op: "dump addresses",
                target: format!("index {index}"),
                source,
            })?;
        Ok(msgs
            .iter()
            .filter(|m| m.header.index == index)
            .filter_map(AddrEntry::from_message)
            .collect())
    }
}

fn target(index: u32, spec: &AddressSpec) -> String {
    format!("{}/{} on ifindex {index}", spec.addr, spec.prefix_len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_specs_default_to_nodad_and_ipv4_do_not() {
        assert!(AddressSpec::new("fd00::1".parse().unwrap(), 64).nodad);
        assert!(!AddressSpec::new("10.0.0.1".parse().unwrap(), 32).nodad);
    }

    #[test]
    fn ipv6_with_label_or_broadcast_is_rejected() {
        let s = AddressSpec::new("fd00::1".parse().unwrap(), 64).with_label("eth0:1");
        assert!(matches!(s.check(), Err(Error::Invalid(_))));
    }

    #[test]
    fn oversized_prefix_and_mixed_family_peer_are_rejected() {
        assert!(AddressSpec::new("10.0.0.1".parse().unwrap(), 33)
            .check()
            .is_err());
        let s =
            AddressSpec::new("10.0.0.1".parse().unwrap(), 32).with_peer("fd00::2".parse().unwrap());
        assert!(s.check().is_err());
    }

    #[test]
    fn message_carries_local_peer_label_broadcast_and_flags() {
        let s = AddressSpec::new("10.0.0.1".parse().unwrap(), 24)
            .with_peer("10.0.0.2".parse().unwrap())
            .with_label("eth0:vip")
            .with_broadcast("10.0.0.255".parse().unwrap())
            .with_scope(AddrScope::Link);
        let m = s.message(7);
        assert_eq!(m.header.index, 7);
        assert_eq!(m.header.scope, AddressScope::Link);
        let e = AddrEntry::from_message(&m).unwrap();
        assert_eq!(e.addr, s.addr);
        assert_eq!(e.peer, s.peer);
        assert_eq!(e.label.as_deref(), Some("eth0:vip"));
        assert_eq!(e.broadcast, s.broadcast);
        assert!(!e.is_nodad());
        let v6 = AddressSpec::new("fd00::5".parse().unwrap(), 128).message(3);
        assert!(AddrEntry::from_message(&v6).unwrap().is_nodad());
    }
}
