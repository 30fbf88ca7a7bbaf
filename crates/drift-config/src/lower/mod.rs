//! Lowering: syntax tree -> typed model, one module per block kind. Each function reports
//! every problem it finds to the shared [`Cx`] and keeps going, so `check` lists them all.

mod global;
mod instance;
mod instance_parts;
mod keywords;
mod lvs;
mod track;
pub mod values;

use crate::diag::{Diagnostic, Span};
use crate::tree::{Node, Word};
use drift_model::{Config, RawEntry};
use std::time::Duration;

pub use keywords::TOP;

/// Spans the cross-block checks need after lowering (models carry no spans).
#[derive(Debug, Default)]
pub struct SpanIndex {
    /// Per instance (same order as `Config::instances`): the instance name word.
    pub instance_name: Vec<Span>,
    /// Per instance: the `virtual_router_id` statement, if any.
    pub instance_vrid: Vec<Option<Span>>,
    /// References to check: (kind, name, where).
    pub refs: Vec<(RefKind, String, Span)>,
    /// Per vrrp_script: the `script` statement (for the file-exists check).
    pub script_path: Vec<Option<Span>>,
    /// Per sync group: the name word.
    pub sync_group_name: Vec<Span>,
    /// Interface names the host must have (name, where, what uses it), checked by `check_file`.
    pub interfaces: Vec<(String, Span, String)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefKind {
    Script,
    TrackFile,
    TrackProcess,
    SyncMember,
}

/// Lowering context: diagnostics plus the span index.
#[derive(Default)]
pub struct Cx {
    pub diags: Vec<Diagnostic>,
    pub spans: SpanIndex,
}

impl Cx {
    pub fn error(&mut self, span: Span, msg: impl Into<String>) {
        self.diags.push(Diagnostic::error(span, msg));
    }

    pub fn warn(&mut self, span: Span, msg: impl Into<String>) {
        self.diags.push(Diagnostic::warning(span, msg));
    }

    /// First argument, or an error "`key` needs a value".
    pub fn arg<'n>(&mut self, node: &'n Node) -> Option<&'n Word> {
        let a = node.args.first();
        if a.is_none() {
            self.error(node.key.span, format!("`{}` needs a value", node.key.text));
        }
        a
    }

    /// All arguments joined by spaces (script command lines), or an error if there are none.
    pub fn command(&mut self, node: &Node) -> Option<String> {
        self.arg(node)?;
        Some(
            node.args
                .iter()
                .map(|w| w.text.as_str())
                .collect::<Vec<_>>()
                .join(" "),
        )
    }

    /// `notify_* SCRIPT [username [groupname]]`: keepalived takes the first word (quoted when
    /// it has arguments) as the script and the next ones as its user and group.
    pub fn notify_command(
        &mut self,
        node: &Node,
        users: &mut Vec<drift_model::NotifyUser>,
    ) -> Option<String> {
        let cmd = self.arg(node)?.text.clone();
        users.retain(|u| u.keyword != node.key.text);
        if let Some(user) = node.args.get(1) {
            users.push(drift_model::NotifyUser {
                keyword: node.key.text.clone(),
                user: user.text.clone(),
                group: node.args.get(2).map(|w| w.text.clone()),
            });
        }
        Some(cmd)
    }

    pub fn string(&mut self, node: &Node) -> Option<String> {
        self.arg(node).map(|w| w.text.clone())
    }

    pub fn int(&mut self, node: &Node, min: i64, max: i64) -> Option<i64> {
        let w = self.arg(node)?;
        self.int_word(&node.key.text, w, min, max)
    }

    pub fn int_word(&mut self, key: &str, w: &Word, min: i64, max: i64) -> Option<i64> {
        match values::parse_int(&w.text, min, max) {
            Ok(v) => Some(v),
            Err(e) => {
                self.error(w.span, format!("invalid {key}: {e}"));
                None
            }
        }
    }

    pub fn secs(&mut self, node: &Node) -> Option<Duration> {
        let w = self.arg(node)?;
        match values::parse_secs(&w.text) {
            Ok(v) => Some(v),
            Err(e) => {
                self.error(w.span, format!("invalid {}: {e}", node.key.text));
                None
            }
        }
    }

    /// A flag keyword: bare means on; an optional BOOL argument is honoured.
    pub fn flag(&mut self, node: &Node) -> bool {
        match node.args.first() {
            None => true,
            Some(w) => match values::parse_bool(&w.text) {
                Ok(b) => b,
                Err(e) => {
                    self.error(w.span, format!("invalid {}: {e}", node.key.text));
                    true
                }
            },
        }
    }

    pub fn ip(&mut self, node: &Node) -> Option<std::net::IpAddr> {
        let w = self.arg(node)?;
        self.ip_word(w)
    }

    pub fn ip_word(&mut self, w: &Word) -> Option<std::net::IpAddr> {
        match values::parse_ip(&w.text) {
            Ok(v) => Some(v),
            Err(e) => {
                self.error(w.span, e);
                None
            }
        }
    }

    /// A keyword that must open a block: returns its children, or reports the missing block.
    pub fn block<'n>(&mut self, node: &'n Node) -> &'n [Node] {
        if node.block.is_none() {
            self.error(
                node.key.span,
                format!("`{}` needs a `{{ ... }}` block", node.key.text),
            );
        }
        node.children()
    }

    /// Unknown keyword in a block: error, with a "did you mean" from that block's keywords.
    pub fn unknown(&mut self, node: &Node, block: &str, known: &[&'static str]) {
        let word = &node.key.text;
        let mut d = Diagnostic::error(
            node.key.span,
            format!("unknown keyword `{word}` in {block}"),
        )
        .with_label("not a keepalived keyword here");
        if let Some(best) = keywords::did_you_mean(word, known) {
            d = d.with_note(format!("help: did you mean `{best}`?"));
        }
        self.diags.push(d);
    }

    /// Recognised-but-not-interpreted keyword: kept verbatim; a known one of this block is
    /// accepted, anything else is an unknown-keyword error.
    pub fn raw_or_unknown(
        &mut self,
        node: &Node,
        block: &str,
        known: &[&'static str],
        extra: &mut Vec<RawEntry>,
    ) {
        if known.contains(&node.key.text.as_str()) {
            extra.push(raw(node));
        } else {
            self.unknown(node, block, known);
        }
    }
}

/// A node as a generic key/args/block entry.
pub fn raw(node: &Node) -> RawEntry {
    RawEntry {
        key: node.key.text.clone(),
        args: node.args.iter().map(|w| w.text.clone()).collect(),
        block: node
            .block
            .as_ref()
            .map(|b| b.nodes.iter().map(raw).collect()),
    }
}

/// Every line of a block as words (`virtual_routes`, `static_rules`, group member lists).
pub fn lines(nodes: &[Node]) -> Vec<Vec<String>> {
    nodes
        .iter()
        .map(|n| {
            std::iter::once(&n.key)
                .chain(&n.args)
                .map(|w| w.text.clone())
                .collect()
        })
        .collect()
}

/// Lowers a whole file tree. `global_defs` is read first so that its defaults reach instances
/// wherever they are written (keepalived applies them when completing instances, after parsing).
pub fn lower(nodes: &[Node], cx: &mut Cx) -> Config {
    let mut config = Config::default();
    for node in nodes.iter().filter(|n| n.key.text == "global_defs") {
        global::lower_global(node, cx, &mut config.global_defs);
    }
    for node in nodes {
        match node.key.text.as_str() {
            "global_defs" => {}
            "vrrp_script" => track::lower_script(node, cx, &mut config),
            "track_file" | "vrrp_track_file" => track::lower_track_file(node, cx, &mut config),
            "vrrp_track_process" => track::lower_track_process(node, cx, &mut config),
            "vrrp_sync_group" => track::lower_sync_group(node, cx, &mut config),
            "vrrp_instance" => instance::lower_instance(node, cx, &mut config),
            "static_ipaddress" => {
                for line in cx.block(node) {
                    if let Some(v) = instance_parts::vip(line, cx) {
                        config.static_ipaddress.push(v);
                    }
                }
            }
            "static_routes" => config.static_routes.extend(lines(cx.block(node))),
            "static_rules" => config.static_rules.extend(lines(cx.block(node))),
            "virtual_server" => lvs::lower_virtual_server(node, cx, &mut config),
            "virtual_server_group" => lvs::lower_virtual_server_group(node, cx, &mut config),
            _ => cx.raw_or_unknown(node, "the top level", TOP, &mut config.extra),
        }
    }
    config
}
