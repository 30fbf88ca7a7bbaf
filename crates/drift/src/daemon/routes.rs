//! `virtual_routes` lines (iproute2 words, as keepalived's vrrp_iproute.c reads them) to route
//! specs. Pure: `dev` stays a name; [`super::io`] resolves it when the instance opens.
//!
//! Understood: `[src IP] [to] [blackhole|unreachable|prohibit] PREFIX|default [via|gw IP]
//! [dev IF] [scope S] [table N|main|local|default] [metric|priority|preference N] [onlink]
//! [no_track]`. keepalived's multipath `or` and the rarer attributes (`mtu`, `realms`, ...) are
//! refused with an error naming the word, never dropped silently: a route half-applied would
//! route traffic somewhere unexpected.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use anyhow::{anyhow, bail, Context, Result};
use drift_net::netlink::{RouteKind, RouteScopeSpec, RouteSpec};

/// A parsed line: the spec (without `oif`) and the `dev` name, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteLine {
    pub spec: RouteSpec,
    pub dev: Option<String>,
}

/// Parse one `virtual_routes` line.
pub fn parse(words: &[String]) -> Result<RouteLine> {
    let line = words.join(" ");
    parse_words(words).with_context(|| format!("virtual_routes line `{line}`"))
}

fn parse_words(words: &[String]) -> Result<RouteLine> {
    let mut it = words.iter().map(String::as_str);
    let (mut dst, mut kind, mut dev) = (None, RouteKind::Unicast, None);
    let (mut gateway, mut pref_src, mut metric, mut table, mut scope) =
        (None, None, None, None, None);
    let mut onlink = false;
    let mut default_route = false;
    while let Some(w) = it.next() {
        let mut value = |what: &str| it.next().ok_or_else(|| anyhow!("`{what}` needs a value"));
        match w {
            "src" => pref_src = Some(ip(value("src")?)?),
            "to" => {}
            "blackhole" => kind = RouteKind::Blackhole,
            "unreachable" => kind = RouteKind::Unreachable,
            "prohibit" => kind = RouteKind::Prohibit,
            "via" | "gw" => gateway = Some(ip(value(w)?)?),
            "dev" | "oif" => dev = Some(value(w)?.to_string()),
            "scope" => scope = Some(scope_word(value("scope")?)?),
            "table" => table = Some(table_word(value("table")?)?),
            "metric" | "priority" | "preference" => {
                metric = Some(value(w)?.parse().map_err(|_| anyhow!("bad `{w}` value"))?)
            }
            "onlink" => onlink = true,
            // Only changes whether the route's interface going down faults the instance.
            "no_track" => {}
            "or" => bail!("multipath routes (`or`) are not supported by drift"),
            "default" if dst.is_none() => default_route = true,
            w if dst.is_none() && !default_route && looks_like_prefix(w) => dst = Some(prefix(w)?),
            other => bail!("`{other}` is not supported by drift"),
        }
    }
    let (addr, len) = match (dst, default_route) {
        (Some(d), _) => d,
        (None, true) => {
            let v6 = gateway.or(pref_src).is_some_and(|a| a.is_ipv6());
            let any = if v6 {
                IpAddr::V6(Ipv6Addr::UNSPECIFIED)
            } else {
                IpAddr::V4(Ipv4Addr::UNSPECIFIED)
            };
            (any, 0)
        }
        (None, false) => bail!("no destination prefix"),
    };
    let mut spec = RouteSpec::new(addr, len);
    spec.kind = kind;
    spec.gateway = gateway;
    spec.pref_src = pref_src;
    spec.metric = metric;
    spec.table = table;
    spec.scope = scope;
    spec.onlink = onlink;
    Ok(RouteLine { spec, dev })
}

fn looks_like_prefix(w: &str) -> bool {
    w.split('/')
        .next()
        .is_some_and(|a| a.parse::<IpAddr>().is_ok())
}

fn ip(w: &str) -> Result<IpAddr> {
    w.parse().map_err(|_| anyhow!("`{w}` is not an IP address"))
}

/// `10.0.0.0/8`; a bare address is a host route.
fn prefix(w: &str) -> Result<(IpAddr, u8)> {
    let (a, len) = match w.split_once('/') {
        Some((a, l)) => (ip(a)?, Some(l)),
        None => (ip(w)?, None),
    };
    let max = if a.is_ipv4() { 32 } else { 128 };
    let len = match len {
        Some(l) => l.parse::<u8>().ok().filter(|l| *l <= max),
        None => Some(max),
    };
    Ok((a, len.ok_or_else(|| anyhow!("bad prefix length in `{w}`"))?))
}

fn scope_word(w: &str) -> Result<RouteScopeSpec> {
    Ok(match w {
        "global" | "universe" => RouteScopeSpec::Global,
        "site" => RouteScopeSpec::Site,
        "link" => RouteScopeSpec::Link,
        "host" => RouteScopeSpec::Host,
        "nowhere" => RouteScopeSpec::Nowhere,
        _ => bail!("unknown scope `{w}`"),
    })
}

/// iproute2's reserved table names (rt_tables), or a number.
fn table_word(w: &str) -> Result<u32> {
    Ok(match w {
        "main" => 254,
        "local" => 255,
        "default" => 253,
        n => n.parse().map_err(|_| anyhow!("unknown table `{n}`"))?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<RouteLine> {
        parse(&s.split_whitespace().map(String::from).collect::<Vec<_>>())
    }

    #[test]
    fn keepalived_manual_examples_parse() {
        let r = p("src 192.168.100.1 to 192.168.109.0/24 via 192.168.200.254 dev eth1").unwrap();
        assert_eq!(r.spec.dst, "192.168.109.0".parse::<IpAddr>().unwrap());
        assert_eq!(r.spec.prefix_len, 24);
        assert_eq!(r.spec.pref_src, Some("192.168.100.1".parse().unwrap()));
        assert_eq!(r.spec.gateway, Some("192.168.200.254".parse().unwrap()));
        assert_eq!(r.dev.as_deref(), Some("eth1"));
        let r = p("192.168.111.0/24 dev eth2 no_track").unwrap();
        assert_eq!((r.spec.gateway, r.dev.as_deref()), (None, Some("eth2")));
        let r = p("blackhole 192.168.114.0/24").unwrap();
        assert_eq!(r.spec.kind, RouteKind::Blackhole);
        let r = p("0.0.0.0/0 gw 192.168.0.1 table 100").unwrap();
        assert_eq!((r.spec.prefix_len, r.spec.table), (0, Some(100)));
    }

    #[test]
    fn default_takes_the_family_of_its_gateway() {
        assert_eq!(
            p("default via fe80::1 dev eth0").unwrap().spec.dst,
            "::".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            p("default via 10.0.0.1").unwrap().spec.dst,
            "0.0.0.0".parse::<IpAddr>().unwrap()
        );
    }

    #[test]
    fn a_bare_address_is_a_host_route_and_named_tables_and_metrics_are_read() {
        let r = p("fd00::5 metric 10 table main scope link onlink").unwrap();
        assert_eq!(r.spec.prefix_len, 128);
        assert_eq!(r.spec.metric, Some(10));
        assert_eq!(r.spec.table, Some(254));
        assert_eq!(r.spec.scope, Some(RouteScopeSpec::Link));
        assert!(r.spec.onlink);
    }

    #[test]
    fn multipath_unknown_words_and_missing_parts_are_errors_that_quote_the_line() {
        let e = p("192.168.113.0/24 via 192.168.200.254 or 192.168.100.254").unwrap_err();
        assert!(format!("{e:#}").contains("multipath"), "{e:#}");
        assert!(format!("{e:#}").contains("192.168.113.0/24"), "{e:#}");
        assert!(p("10.0.0.0/8 mtu 1400").is_err());
        assert!(p("via 10.0.0.1").is_err());
        assert!(p("10.0.0.0/33").is_err());
        assert!(p("10.0.0.0/8 via").is_err());
        assert!(p("10.0.0.0/8 10.1.0.0/16").is_err());
    }
}
