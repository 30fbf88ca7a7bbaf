//! Pieces of a vrrp_instance: VIP lines, authentication, unicast peers, tracker references.

use super::keywords::AUTH;
use super::{values, Cx, RefKind};
use crate::tree::{Node, Word};
use drift_model::{Authentication, TrackInterface, TrackRef, TrackScriptRef, UnicastPeer, Vip};

const SCOPES: &[&str] = &["global", "site", "link", "host", "nowhere"];
const VIP_FLAGS: &[&str] = &[
    "home",
    "-nodad",
    "nodad",
    "mngtmpaddr",
    "noprefixroute",
    "autojoin",
];

/// One VIP line: `IP[/MASK] [brd IP] [dev IF] [scope S] [label L] [peer IP] [no_track] ...`.
pub fn vip(line: &Node, cx: &mut Cx) -> Option<Vip> {
    let (addr, prefix_len) = match values::parse_ip_prefix(&line.key.text) {
        Ok(v) => v,
        Err(e) => {
            cx.error(line.key.span, format!("invalid virtual IP address: {e}"));
            return None;
        }
    };
    let mut v = Vip {
        prefix_len,
        ..Vip::new(addr)
    };
    let mut ok = true;
    let mut words = line.args.iter();
    while let Some(w) = words.next() {
        let opt = w.text.as_str();
        let mut value = |cx: &mut Cx| -> Option<&Word> {
            let next = words.next();
            if next.is_none() {
                cx.error(w.span, format!("`{opt}` needs a value"));
            }
            next
        };
        match opt {
            "brd" | "broadcast" => {
                // keepalived also accepts `-`/`+` (clear/set host bits); kept as not-an-address error
                // only if neither.
                let Some(x) = value(cx) else {
                    ok = false;
                    continue;
                };
                if x.text == "-" || x.text == "+" {
                    v.flags.push(format!("brd{}", x.text));
                } else {
                    v.brd = cx.ip_word(x).or_else(|| {
                        ok = false;
                        None
                    });
                }
            }
            "dev" => {
                let x = value(cx);
                if let Some(x) = x {
                    let what = format!("ip address {}", line.key.text);
                    cx.spans.interfaces.push((x.text.clone(), x.span, what));
                }
                v.dev = x.map(|x| x.text.clone());
            }
            "label" => v.label = value(cx).map(|x| x.text.clone()),
            "track_group" => v.track_group = value(cx).map(|x| x.text.clone()),
            "preferred_lft" => v.preferred_lft = value(cx).map(|x| x.text.clone()),
            "scope" => {
                let Some(x) = value(cx) else {
                    ok = false;
                    continue;
                };
                if SCOPES.contains(&x.text.as_str()) || x.text.parse::<u8>().is_ok() {
                    v.scope = Some(x.text.clone());
                } else {
                    cx.error(
                        x.span,
                        format!(
                            "invalid scope `{}` (global, site, link, host, nowhere or 0-255)",
                            x.text
                        ),
                    );
                    ok = false;
                }
            }
            "peer" => {
                let Some(x) = value(cx) else {
                    ok = false;
                    continue;
                };
                match values::parse_ip_prefix(&x.text) {
                    Ok((p, _)) => v.peer = Some(p),
                    Err(e) => {
                        cx.error(x.span, e);
                        ok = false;
                    }
                }
            }
            "no_track" => v.no_track = true,
            f if VIP_FLAGS.contains(&f) => v.flags.push(f.to_string()),
            _ => {
                cx.error(w.span, format!("unknown virtual IP option `{opt}`"));
                ok = false;
            }
        }
    }
    if let Some(b) = v.brd {
        if b.is_ipv4() != addr.is_ipv4() {
            cx.error(
                line.span(),
                format!("broadcast {b} is not the same family as {addr}"),
            );
            ok = false;
        }
    }
    ok.then_some(v)
}

/// `authentication { auth_type PASS|AH; auth_pass SECRET }`.
/// RFC 3768 §5.3.6: the password field is 8 bytes; keepalived truncates longer ones with a warning.
pub fn authentication(node: &Node, cx: &mut Cx) -> Option<Authentication> {
    let mut kind: Option<(String, crate::diag::Span)> = None;
    let mut pass: Option<String> = None;
    for n in cx.block(node) {
        match n.key.text.as_str() {
            "auth_type" => {
                if let Some(w) = cx.arg(n) {
                    match w.text.to_ascii_uppercase().as_str() {
                        "PASS" | "AH" => kind = Some((w.text.to_ascii_uppercase(), w.span)),
                        _ => cx.error(
                            w.span,
                            format!("unknown auth_type `{}` (expected PASS or AH)", w.text),
                        ),
                    }
                }
            }
            "auth_pass" => {
                if let Some(w) = cx.arg(n) {
                    let mut p = w.text.clone();
                    if p.len() > 8 {
                        let mut cut = 8;
                        while !p.is_char_boundary(cut) {
                            cut -= 1;
                        }
                        p.truncate(cut);
                        cx.warn(
                            w.span,
                            format!("auth_pass is longer than 8 characters; truncated to `{p}`"),
                        );
                    }
                    pass = Some(p);
                }
            }
            _ => cx.unknown(n, "authentication", AUTH),
        }
    }
    let (kind, at) = kind?;
    let Some(pass) = pass else {
        cx.error(at, "authentication without auth_pass");
        return None;
    };
    Some(if kind == "AH" {
        Authentication::Ah(pass)
    } else {
        Authentication::Pass(pass)
    })
}

/// `unicast_peer { IP [min_ttl N] [max_ttl N] ... }`.
pub fn unicast_peers(node: &Node, cx: &mut Cx) -> Vec<UnicastPeer> {
    let mut out = Vec::new();
    for line in cx.block(node) {
        let Some(addr) = cx.ip_word(&line.key) else {
            continue;
        };
        let mut peer = UnicastPeer {
            addr,
            min_ttl: None,
            max_ttl: None,
        };
        let mut it = line.args.iter();
        while let Some(w) = it.next() {
            let slot = match w.text.as_str() {
                "min_ttl" => &mut peer.min_ttl,
                "max_ttl" => &mut peer.max_ttl,
                other => {
                    cx.error(
                        w.span,
                        format!("unknown unicast_peer option `{other}` (min_ttl, max_ttl)"),
                    );
                    continue;
                }
            };
            match it.next() {
                Some(v) => *slot = cx.int_word(&w.text, v, 0, 255).map(|v| v as u8),
                None => cx.error(w.span, format!("`{}` needs a value", w.text)),
            }
        }
        out.push(peer);
    }
    out
}

/// `NAME [weight N [reverse]]` (keepalived: weight -253..=253, RFC priority headroom).
fn name_weight(line: &Node, cx: &mut Cx) -> (Option<i32>, bool) {
    let mut weight = None;
    let mut reverse = false;
    let mut it = line.args.iter();
    while let Some(w) = it.next() {
        match w.text.as_str() {
            "weight" => match it.next() {
                Some(v) => weight = cx.int_word("weight", v, -253, 253).map(|v| v as i32),
                None => cx.error(w.span, "`weight` needs a value"),
            },
            "reverse" => reverse = true,
            "noreverse" => reverse = false,
            other => cx.error(
                w.span,
                format!("unexpected `{other}` (expected `weight N [reverse]`)"),
            ),
        }
    }
    (weight, reverse)
}

pub fn track_scripts(node: &Node, cx: &mut Cx) -> Vec<TrackScriptRef> {
    let mut out = Vec::new();
    for line in cx.block(node) {
        let (weight, reverse) = name_weight(line, cx);
        cx.spans
            .refs
            .push((RefKind::Script, line.key.text.clone(), line.key.span));
        out.push(TrackScriptRef {
            name: line.key.text.clone(),
            weight,
            reverse,
        });
    }
    out
}

pub fn track_refs(node: &Node, cx: &mut Cx, kind: RefKind) -> Vec<TrackRef> {
    let mut out = Vec::new();
    for line in cx.block(node) {
        let (weight, reverse) = name_weight(line, cx);
        cx.spans
            .refs
            .push((kind, line.key.text.clone(), line.key.span));
        out.push(TrackRef {
            name: line.key.text.clone(),
            weight,
            reverse,
        });
    }
    out
}

/// drift's `track_upstream`: a block like the other track_* (`{ NAME [weight N [reverse]] }`) or
/// one inline reference (`track_upstream NAME [weight N]`). The names are upstream groups of the
/// proxy's nginx config, which only `drift run --proxy` / `drift check --proxy` can resolve.
pub fn track_upstreams(node: &Node, cx: &mut Cx) -> Vec<TrackRef> {
    let inline;
    let lines: &[Node] = match (&node.block, node.args.split_first()) {
        (None, Some((name, rest))) => {
            inline = [Node {
                key: name.clone(),
                args: rest.to_vec(),
                block: None,
            }];
            &inline
        }
        _ => cx.block(node),
    };
    lines
        .iter()
        .map(|line| {
            let (weight, reverse) = name_weight(line, cx);
            TrackRef {
                name: line.key.text.clone(),
                weight,
                reverse,
            }
        })
        .collect()
}

pub fn track_interfaces(node: &Node, cx: &mut Cx) -> Vec<TrackInterface> {
    let mut out = Vec::new();
    for line in cx.block(node) {
        let (weight, reverse) = name_weight(line, cx);
        let what = "track_interface".to_string();
        cx.spans
            .interfaces
            .push((line.key.text.clone(), line.key.span, what));
        out.push(TrackInterface {
            name: line.key.text.clone(),
            weight: weight.unwrap_or(0),
            reverse,
        });
    }
    out
}
