//! Routes for keepalived's `virtual_routes`: added when an instance becomes master, removed when
//! it stops being master (keepalived vrrp_iproute.c). Like addresses, add and remove are
//! idempotent ("already there" / "not there" are outcomes), so a restart converges.

use std::net::IpAddr;

use netlink_packet_route::route::{RouteMessage, RouteScope, RouteType};
use rtnetlink::RouteMessageBuilder;

use super::{nl_errno, AddOutcome, DelOutcome, Netlink};
use crate::{Error, Result};

/// The route types a `virtual_routes` line can name (`blackhole 10.0.0.0/8`); the default is
/// an ordinary unicast route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RouteKind {
    #[default]
    Unicast,
    Blackhole,
    Unreachable,
    Prohibit,
}

/// `ip route` scopes a route line can carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteScopeSpec {
    Global,
    Site,
    Link,
    Host,
    Nowhere,
}

/// One route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteSpec {
    pub dst: IpAddr,
    pub prefix_len: u8,
    pub kind: RouteKind,
    /// `via` / `gw`.
    pub gateway: Option<IpAddr>,
    /// `dev`, resolved to its index by the caller.
    pub oif: Option<u32>,
    /// `src`: the preferred source address.
    pub pref_src: Option<IpAddr>,
    /// `metric` / `priority` / `preference`.
    pub metric: Option<u32>,
    /// `table` (default main).
    pub table: Option<u32>,
    /// `scope`; by default as iproute2: link for a unicast route without a gateway, else global.
    pub scope: Option<RouteScopeSpec>,
    pub onlink: bool,
}

impl RouteSpec {
    pub fn new(dst: IpAddr, prefix_len: u8) -> RouteSpec {
        RouteSpec {
            dst,
            prefix_len,
            kind: RouteKind::Unicast,
            gateway: None,
            oif: None,
            pref_src: None,
            metric: None,
            table: None,
            scope: None,
            onlink: false,
        }
    }

    fn check(&self) -> Result<()> {
        let max = if self.dst.is_ipv4() { 32 } else { 128 };
        let same_family = |a: &Option<IpAddr>| a.is_none_or(|a| a.is_ipv4() == self.dst.is_ipv4());
        if self.prefix_len > max || !same_family(&self.gateway) || !same_family(&self.pref_src) {
            return Err(Error::Invalid(format!(
                "route {}/{}: prefix too long or mixed address families",
                self.dst, self.prefix_len
            )));
        }
        Ok(())
    }

    fn message(&self) -> Result<RouteMessage> {
        let invalid = |e| self.invalid(e);
        let mut b = RouteMessageBuilder::<IpAddr>::new()
            .destination_prefix(self.dst, self.prefix_len)
            .map_err(invalid)?;
        if let Some(gw) = self.gateway {
            b = b.gateway(gw).map_err(invalid)?;
        }
        if let Some(src) = self.pref_src {
            b = b.pref_source(src).map_err(invalid)?;
        }
        if let Some(i) = self.oif {
            b = b.output_interface(i);
        }
        if let Some(m) = self.metric {
            b = b.priority(m);
        }
        if let Some(t) = self.table {
            b = b.table_id(t);
        }
        if self.onlink {
            b = b.onlink();
        }
        b = b.kind(match self.kind {
            RouteKind::Unicast => RouteType::Unicast,
            RouteKind::Blackhole => RouteType::BlackHole,
            RouteKind::Unreachable => RouteType::Unreachable,
            RouteKind::Prohibit => RouteType::Prohibit,
        });
        let scope = match self.scope {
            Some(RouteScopeSpec::Global) => RouteScope::Universe,
            Some(RouteScopeSpec::Site) => RouteScope::Site,
            Some(RouteScopeSpec::Link) => RouteScope::Link,
            Some(RouteScopeSpec::Host) => RouteScope::Host,
            Some(RouteScopeSpec::Nowhere) => RouteScope::NoWhere,
            None if self.kind == RouteKind::Unicast && self.gateway.is_none() => RouteScope::Link,
            None => RouteScope::Universe,
        };
        Ok(b.scope(scope).build())
    }

    fn invalid(&self, e: impl std::fmt::Display) -> Error {
        Error::Invalid(format!("route {}: {e}", self.target()))
    }

    fn target(&self) -> String {
        format!("{}/{}", self.dst, self.prefix_len)
    }
}

impl Netlink {
    /// Add `spec`. EEXIST is `Ok(AlreadyPresent)`.
    pub async fn add_route(&self, spec: &RouteSpec) -> Result<AddOutcome> {
        spec.check()?;
        match self.handle().route().add(spec.message()?).execute().await {
            Ok(()) => Ok(AddOutcome::Added),
            Err(e) => match nl_errno(&e) {
                Some(libc::EEXIST) => Ok(AddOutcome::AlreadyPresent),
                _ => Err(Error::Netlink {
                    op: "add route",
                    target: spec.target(),
                    source: e,
                }),
            },
        }
    }

    /// Remove `spec`. Absent is `Ok(NotPresent)`.
    pub async fn del_route(&self, spec: &RouteSpec) -> Result<DelOutcome> {
        spec.check()?;
        match self.handle().route().del(spec.message()?).execute().await {
            Ok(()) => Ok(DelOutcome::Removed),
            Err(e) => match nl_errno(&e) {
                Some(libc::ESRCH) | Some(libc::ENOENT) => Ok(DelOutcome::NotPresent),
                _ => Err(Error::Netlink {
                    op: "delete route",
                    target: spec.target(),
                    source: e,
                }),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use netlink_packet_route::route::RouteAttribute;

    fn spec(s: &str, len: u8) -> RouteSpec {
        RouteSpec::new(s.parse().unwrap(), len)
    }

    #[test]
    fn a_direct_route_gets_link_scope_and_a_gatewayed_one_global() {
        let direct = spec("10.1.0.0", 24).message().unwrap();
        assert_eq!(direct.header.scope, RouteScope::Link);
        let mut via = spec("10.1.0.0", 24);
        via.gateway = Some("10.0.0.1".parse().unwrap());
        let m = via.message().unwrap();
        assert_eq!(m.header.scope, RouteScope::Universe);
        assert!(m
            .attributes
            .iter()
            .any(|a| matches!(a, RouteAttribute::Gateway(_))));
    }

    #[test]
    fn blackhole_table_and_metric_are_carried() {
        let mut s = spec("10.2.0.0", 16);
        s.kind = RouteKind::Blackhole;
        s.table = Some(100);
        s.metric = Some(7);
        let m = s.message().unwrap();
        assert_eq!(m.header.kind, RouteType::BlackHole);
        assert_eq!(m.header.scope, RouteScope::Universe);
        assert!(m.attributes.contains(&RouteAttribute::Priority(7)));
        // Tables below 256 travel in the header, larger ones as RTA_TABLE.
        assert!(m.header.table == 100 || m.attributes.contains(&RouteAttribute::Table(100)));
    }

    #[test]
    fn mixed_families_and_long_prefixes_are_refused() {
        let mut s = spec("10.1.0.0", 24);
        s.gateway = Some("fe80::1".parse().unwrap());
        assert!(s.check().is_err());
        assert!(spec("10.1.0.0", 33).check().is_err());
        assert!(spec("fd00::", 64).check().is_ok());
    }
}
