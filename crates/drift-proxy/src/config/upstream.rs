//! `upstream NAME { ... }` for both `http` and `stream`, including drift's `health_check`.

use super::ctx::{Ctx, IGNORED};
use super::model::{Balance, HealthCheck, HealthKind, ServerSpec, UpstreamConfig};
use super::template::Template;
use super::tree::Directive;
use std::time::Duration;

/// Which module the upstream belongs to: decides default ports, probe kind and allowed variables.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Module {
    Http,
    Stream,
}

pub fn build_upstream(cx: &mut Ctx, d: &Directive, module: Module) -> Option<UpstreamConfig> {
    if !cx.shape(d, 1, 1, true) {
        return None;
    }
    let mut up = UpstreamConfig {
        name: d.args[0].text.clone(),
        servers: Vec::new(),
        balance: Balance::RoundRobin,
        keepalive: 0,
        pipeline: 0,
        health_check: None,
    };
    for c in d.block.as_deref().unwrap_or_default() {
        match c.name.as_str() {
            "server" => {
                if cx.shape(c, 1, 8, false) {
                    if let Some(s) = server(cx, c, module) {
                        up.servers.push(s);
                    }
                }
            }
            "least_conn" if cx.shape(c, 0, 0, false) => up.balance = Balance::LeastConn,
            "ip_hash" if module == Module::Http && cx.shape(c, 0, 0, false) => {
                up.balance = Balance::IpHash
            }
            "hash" if cx.shape(c, 1, 2, false) => {
                let consistent = match c.args.get(1).map(|a| a.text.as_str()) {
                    None => false,
                    Some("consistent") => true,
                    Some(o) => {
                        cx.err(&c.args[1].span, format!("invalid parameter \"{o}\""));
                        false
                    }
                };
                match Template::parse(&c.args[0].text) {
                    Ok(key) if module == Module::Stream && !key.is_connection_only() => {
                        cx.err(&c.args[0].span, "only connection variables ($remote_addr, $remote_port, $server_port) in stream hash keys")
                    }
                    Ok(key) => up.balance = Balance::Hash { key, consistent },
                    Err(v) => cx.err(&c.args[0].span, format!("unknown \"{v}\" variable")),
                }
            }
            "random" if cx.shape(c, 0, 2, false) => {
                let two = c.args.first().is_some_and(|a| a.text == "two");
                for a in &c.args {
                    if a.text != "two" && a.text != "least_conn" {
                        cx.err(&a.span, format!("invalid parameter \"{}\"", a.text));
                    }
                }
                up.balance = Balance::Random { two };
            }
            "keepalive" if module == Module::Http && cx.shape(c, 1, 1, false) => {
                if let Some(n) = cx.num(&c.args[0], &c.args[0].text) {
                    up.keepalive = n as usize;
                }
            }
            // drift extension: see http/fast/pipeline.rs.
            "pipeline" if module == Module::Http && cx.shape(c, 1, 1, false) => {
                match cx.num(&c.args[0], &c.args[0].text) {
                    Some(n) if (1..=64).contains(&n) => up.pipeline = n as usize,
                    Some(_) => cx.err(&c.args[0].span, "pipeline depth must be 1 to 64"),
                    None => {}
                }
            }
            "keepalive_timeout" | "keepalive_requests" | "keepalive_time"
                if module == Module::Http => {}
            "health_check" | "check" if cx.shape(c, 0, 10, false) => {
                up.health_check = health_check(cx, c, module)
            }
            n if IGNORED.contains(&n) => {}
            // nginx's stream upstreams have neither.
            "keepalive" | "pipeline" if module == Module::Stream => {
                cx.unknown(c, &format!("upstream \"{}\"", up.name))
            }
            "least_conn" | "hash" | "random" | "keepalive" | "pipeline" | "health_check"
            | "check" => {}
            _ => cx.unknown(c, &format!("upstream \"{}\"", up.name)),
        }
    }
    if up.pipeline > 1 && up.keepalive == 0 {
        cx.err(
            &d.span,
            format!(
                "\"pipeline\" in upstream \"{}\" needs \"keepalive\" (requests are pipelined on kept-alive connections)",
                up.name
            ),
        );
    }
    if up.servers.is_empty() {
        cx.err(
            &d.span,
            format!("no servers are inside upstream \"{}\"", up.name),
        );
    }
    if up.balance != Balance::RoundRobin
        && up.balance != Balance::LeastConn
        && up.servers.iter().any(|s| s.backup)
    {
        cx.err(&d.span, "\"backup\" servers are only allowed with round robin and least_conn balancing (as in nginx)");
    }
    Some(up)
}

fn server(cx: &mut Ctx, c: &Directive, module: Module) -> Option<ServerSpec> {
    let a0 = &c.args[0];
    let default_port = if module == Module::Http {
        Some(80)
    } else {
        None
    };
    let addr = cx.addr(a0, &a0.text, default_port)?;
    let name = if a0.text.contains(':') && a0.text.parse::<std::net::Ipv6Addr>().is_err() {
        a0.text.clone()
    } else {
        format!("{}:{}", a0.text, addr.port())
    };
    let mut s = ServerSpec {
        name,
        addr,
        weight: 1,
        max_fails: 1,
        fail_timeout: Duration::from_secs(10),
        backup: false,
        down: false,
        max_conns: 0,
    };
    for a in &c.args[1..] {
        let (k, v) = a.text.split_once('=').unwrap_or((a.text.as_str(), ""));
        match k {
            "weight" => match cx.num(a, v) {
                Some(0) => cx.err(&a.span, "weight must be at least 1"),
                Some(n) => s.weight = n,
                None => {}
            },
            "max_fails" => s.max_fails = cx.num(a, v).unwrap_or(1),
            "max_conns" => s.max_conns = cx.num(a, v).unwrap_or(0),
            "fail_timeout" => match super::units::parse_time(v) {
                Some(t) => s.fail_timeout = t,
                None => cx.err(&a.span, format!("invalid time value \"{v}\"")),
            },
            "backup" if v.is_empty() => s.backup = true,
            "down" if v.is_empty() => s.down = true,
            _ => cx.err(&a.span, format!("invalid parameter \"{}\"", a.text)),
        }
    }
    Some(s)
}

/// `health_check [interval=T] [timeout=T] [rise=N] [fall=N] [uri=PATH] [match_status=200,300-399]
/// [type=http|tcp] [port=N]`; http upstreams probe `GET /` expecting 2xx/3xx by default, stream
/// upstreams a TCP connect.
fn health_check(cx: &mut Ctx, c: &Directive, module: Module) -> Option<HealthCheck> {
    let mut hc = HealthCheck {
        interval: Duration::from_secs(5),
        timeout: Duration::from_secs(1),
        rise: 2,
        fall: 3,
        kind: HealthKind::Tcp,
        port: 0,
    };
    let mut http = module == Module::Http;
    let mut uri = "/".to_string();
    let mut statuses = vec![(200, 399)];
    for a in &c.args {
        let Some((k, v)) = a.text.split_once('=') else {
            cx.err(
                &a.span,
                format!("invalid parameter \"{}\" (expected key=value)", a.text),
            );
            continue;
        };
        match k {
            "interval" => hc.interval = cx.time(&a_val(a, v)).unwrap_or(hc.interval),
            "timeout" => hc.timeout = cx.time(&a_val(a, v)).unwrap_or(hc.timeout),
            "rise" | "passes" => hc.rise = cx.num(a, v).unwrap_or(2).max(1),
            "fall" | "fails" => hc.fall = cx.num(a, v).unwrap_or(3).max(1),
            "port" => {
                hc.port = cx
                    .num(a, v)
                    .and_then(|p| u16::try_from(p).ok())
                    .unwrap_or(0)
            }
            "uri" => uri = v.to_string(),
            "type" => match v {
                "http" if module == Module::Http => http = true,
                "tcp" => http = false,
                _ => cx.err(&a.span, format!("invalid health check type \"{v}\"")),
            },
            "match_status" => match parse_statuses(v) {
                Some(s) => statuses = s,
                None => cx.err(&a.span, format!("invalid status list \"{v}\"")),
            },
            _ => cx.err(&a.span, format!("invalid parameter \"{}\"", a.text)),
        }
    }
    if http {
        hc.kind = HealthKind::Http { uri, statuses };
    }
    Some(hc)
}

/// The value part of a `key=value` argument, keeping the argument's span for diagnostics.
fn a_val(a: &super::tree::Arg, v: &str) -> super::tree::Arg {
    super::tree::Arg {
        text: v.to_string(),
        span: a.span.clone(),
    }
}

fn parse_statuses(v: &str) -> Option<Vec<(u16, u16)>> {
    v.split(',')
        .map(|p| match p.split_once('-') {
            Some((a, b)) => Some((a.parse().ok()?, b.parse().ok()?)),
            None => p.parse().ok().map(|s| (s, s)),
        })
        .collect()
}
