//! `stream { upstream ...; server { listen PORT; proxy_pass NAME; ... } }` (nginx stream module).

use super::ctx::{Ctx, IGNORED};
use super::implicit_upstream;
use super::model::{StreamConfig, StreamServer};
use super::tree::Directive;
use super::upstream::{build_upstream, Module};
use std::time::Duration;

pub fn build_stream(cx: &mut Ctx, d: &Directive) -> StreamConfig {
    let mut cfg = StreamConfig {
        upstreams: Vec::new(),
        servers: Vec::new(),
    };
    let body = d.block.as_deref().unwrap_or_default();
    for c in body.iter().filter(|c| c.name == "upstream") {
        if let Some(u) = build_upstream(cx, c, Module::Stream) {
            cfg.upstreams.push(u);
        }
    }
    for c in body {
        match c.name.as_str() {
            "upstream" => {}
            "server" if cx.shape(c, 0, 0, true) => {
                if let Some(s) = server(cx, c, &mut cfg) {
                    cfg.servers.push(s);
                }
            }
            n if IGNORED.contains(&n) => {}
            "server" => {}
            _ => cx.unknown(c, "stream"),
        }
    }
    cfg
}

fn server(cx: &mut Ctx, d: &Directive, cfg: &mut StreamConfig) -> Option<StreamServer> {
    let mut s = StreamServer {
        listen: Vec::new(),
        upstream: usize::MAX,
        connect_timeout: Duration::from_secs(60),
        timeout: Duration::from_secs(600),
        next_upstream: true,
        next_upstream_tries: 0,
    };
    let mut pass = None;
    for c in d.block.as_deref().unwrap_or_default() {
        match c.name.as_str() {
            "listen" if cx.shape(c, 1, 4, false) => {
                if c.args[1..].iter().any(|a| a.text == "udp") {
                    cx.err(&c.span, "UDP stream proxying is not supported");
                }
                if let Some(a) = cx.listen(&c.args[0]) {
                    s.listen.push(a);
                }
            }
            "proxy_pass" if cx.shape(c, 1, 1, false) => pass = Some(c.args[0].clone()),
            "proxy_connect_timeout" if cx.shape(c, 1, 1, false) => {
                s.connect_timeout = cx.time(&c.args[0]).unwrap_or(s.connect_timeout)
            }
            "proxy_timeout" if cx.shape(c, 1, 1, false) => {
                s.timeout = cx.time(&c.args[0]).unwrap_or(s.timeout)
            }
            "proxy_next_upstream" if cx.shape(c, 1, 1, false) => {
                s.next_upstream = cx.on_off(&c.args[0]).unwrap_or(true)
            }
            "proxy_next_upstream_tries" if cx.shape(c, 1, 1, false) => {
                s.next_upstream_tries = cx.num(&c.args[0], &c.args[0].text).unwrap_or(0)
            }
            n if IGNORED.contains(&n) => {}
            "listen"
            | "proxy_pass"
            | "proxy_connect_timeout"
            | "proxy_timeout"
            | "proxy_next_upstream"
            | "proxy_next_upstream_tries" => {}
            _ => cx.unknown(c, "stream server"),
        }
    }
    if s.listen.is_empty() {
        cx.err(&d.span, "stream server has no \"listen\"");
    }
    let Some(pass) = pass else {
        cx.err(&d.span, "stream server has no \"proxy_pass\"");
        return None;
    };
    s.upstream = match cfg.upstreams.iter().position(|u| u.name == pass.text) {
        Some(i) => i,
        None => {
            let u = implicit_upstream(cx, &pass, &pass.text, None)?;
            cfg.upstreams.push(u);
            cfg.upstreams.len() - 1
        }
    };
    Some(s)
}
