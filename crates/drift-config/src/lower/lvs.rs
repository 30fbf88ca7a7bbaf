//! `virtual_server` / `virtual_server_group`: parsed and kept (settings generically), not served.

use super::{lines, raw, Cx};
use crate::tree::Node;
use drift_model::{Config, RealServer, VirtualServer, VirtualServerGroup};

pub fn lower_virtual_server_group(node: &Node, cx: &mut Cx, config: &mut Config) {
    let Some(name) = node.args.first() else {
        cx.error(node.key.span, "virtual_server_group needs a name");
        return;
    };
    let members = lines(cx.block(node));
    config.virtual_server_groups.push(VirtualServerGroup {
        name: name.text.clone(),
        members,
    });
}

pub fn lower_virtual_server(node: &Node, cx: &mut Cx, config: &mut Config) {
    if node.args.is_empty() {
        cx.error(
            node.key.span,
            "virtual_server needs an address and port, `fwmark N` or `group NAME`",
        );
        return;
    }
    cx.warn(
        node.key.span,
        "virtual_server is parsed but not yet served by drift",
    );
    let mut vs = VirtualServer {
        target: node.args.iter().map(|w| w.text.clone()).collect(),
        real_servers: Vec::new(),
        settings: Vec::new(),
    };
    for n in cx.block(node).iter() {
        if n.key.text != "real_server" {
            vs.settings.push(raw(n));
            continue;
        }
        let Some(addr) = n.args.first() else {
            cx.error(n.key.span, "real_server needs an address");
            continue;
        };
        let port = n
            .arg(1)
            .and_then(|p| cx.int_word("real_server port", p, 0, 65535))
            .map(|p| p as u16);
        let mut rs = RealServer {
            address: addr.text.clone(),
            port,
            weight: 1,
            settings: Vec::new(),
        };
        for s in n.children() {
            if s.key.text == "weight" {
                rs.weight = cx.int(s, 0, 65535).map(|v| v as i32).unwrap_or(1);
            } else {
                rs.settings.push(raw(s));
            }
        }
        vs.real_servers.push(rs);
    }
    config.virtual_servers.push(vs);
}
