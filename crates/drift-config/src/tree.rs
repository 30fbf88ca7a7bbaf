//! Syntax tree: statements (`key args...`) with optional `{ }` blocks, spans kept for diagnostics.
//!
//! keepalived accepts the opening brace on the same line (`vrrp_instance VI_1 {`) or alone on
//! the next line; both produce the same tree. Text after `{` on a line starts a new statement,
//! and `}` may end a block mid-line (`group { VI_1 }`).

use crate::diag::{Diagnostic, Span};
use crate::lexer::{Token, TokenKind};

/// Deeper nesting than this is certainly a mistake (keepalived's deepest block is 4 levels);
/// the limit also keeps the recursive parser far from stack exhaustion on hostile input.
const MAX_DEPTH: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word {
    pub text: String,
    pub span: Span,
    /// Written with quotes (a quoted `@x` is a value, not a conditional line).
    pub quoted: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub key: Word,
    pub args: Vec<Word>,
    pub block: Option<Block>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    pub open: Span,
    pub nodes: Vec<Node>,
}

impl Node {
    /// Span covering the key and all arguments (for "bad value" diagnostics on the whole line).
    pub fn span(&self) -> Span {
        let end = self
            .args
            .last()
            .map(|a| a.span.end)
            .unwrap_or(self.key.span.end);
        Span {
            end,
            ..self.key.span
        }
    }

    pub fn arg(&self, i: usize) -> Option<&Word> {
        self.args.get(i)
    }

    pub fn children(&self) -> &[Node] {
        self.block
            .as_ref()
            .map(|b| b.nodes.as_slice())
            .unwrap_or(&[])
    }
}

/// Builds the statement list of one file.
pub fn parse(tokens: &[Token], diags: &mut Vec<Diagnostic>) -> Vec<Node> {
    let mut pos = 0;
    let mut nodes = parse_nodes(tokens, &mut pos, 0, diags);
    // Top level ends only at EOF, so a `}` there was reported and skipped; keep going.
    while pos < tokens.len() {
        nodes.extend(parse_nodes(tokens, &mut pos, 0, diags));
    }
    nodes
}

fn parse_nodes(
    tokens: &[Token],
    pos: &mut usize,
    depth: usize,
    diags: &mut Vec<Diagnostic>,
) -> Vec<Node> {
    let mut nodes: Vec<Node> = Vec::new();
    while let Some(tok) = tokens.get(*pos) {
        match &tok.kind {
            TokenKind::Newline => *pos += 1,
            TokenKind::Close => {
                *pos += 1;
                if depth > 0 {
                    return nodes;
                }
                diags.push(
                    Diagnostic::error(tok.span, "unexpected `}` with no block to close")
                        .with_label("extra `}`"),
                );
            }
            TokenKind::Open => {
                *pos += 1;
                let block = parse_block(tok.span, tokens, pos, depth, diags);
                // `name` then `{` alone on the next line: the block belongs to the previous statement.
                match nodes.last_mut() {
                    Some(prev) if prev.block.is_none() => prev.block = Some(block),
                    _ => diags.push(
                        Diagnostic::error(tok.span, "unexpected `{` with no keyword before it")
                            .with_label("block without a keyword"),
                    ),
                }
            }
            TokenKind::Word { text, quoted } => {
                *pos += 1;
                let key = Word {
                    text: text.clone(),
                    span: tok.span,
                    quoted: *quoted,
                };
                let mut args = Vec::new();
                let mut block = None;
                while let Some(t) = tokens.get(*pos) {
                    match &t.kind {
                        TokenKind::Word { text, quoted } => {
                            args.push(Word {
                                text: text.clone(),
                                span: t.span,
                                quoted: *quoted,
                            });
                            *pos += 1;
                        }
                        TokenKind::Open => {
                            *pos += 1;
                            block = Some(parse_block(t.span, tokens, pos, depth, diags));
                            break;
                        }
                        TokenKind::Newline | TokenKind::Close => break,
                    }
                }
                nodes.push(Node { key, args, block });
            }
        }
    }
    nodes
}

fn parse_block(
    open: Span,
    tokens: &[Token],
    pos: &mut usize,
    depth: usize,
    diags: &mut Vec<Diagnostic>,
) -> Block {
    if depth + 1 > MAX_DEPTH {
        diags.push(Diagnostic::error(
            open,
            format!("blocks nested more than {MAX_DEPTH} deep"),
        ));
        // Skip to the matching close without recursing.
        let mut level = 1usize;
        while let Some(t) = tokens.get(*pos) {
            *pos += 1;
            match t.kind {
                TokenKind::Open => level += 1,
                TokenKind::Close => {
                    level -= 1;
                    if level == 0 {
                        break;
                    }
                }
                _ => {}
            }
        }
        return Block {
            open,
            nodes: Vec::new(),
        };
    }
    let before = *pos;
    let nodes = parse_nodes(tokens, pos, depth + 1, diags);
    let closed = *pos > before
        && matches!(
            tokens.get(*pos - 1).map(|t| &t.kind),
            Some(TokenKind::Close)
        );
    if !closed {
        diags.push(
            Diagnostic::error(open, "unclosed block: missing `}`")
                .with_label("this `{` is never closed"),
        );
    }
    Block { open, nodes }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lexer::lex;

    fn tree(text: &str) -> (Vec<Node>, Vec<Diagnostic>) {
        let mut d = Vec::new();
        let t = lex(0, text, &mut d);
        let n = parse(&t, &mut d);
        (n, d)
    }

    #[test]
    fn brace_on_the_next_line_opens_the_previous_statements_block() {
        let (a, da) = tree("vrrp_instance X\n{\n priority 5\n}\n");
        let (b, db) = tree("vrrp_instance X {\n priority 5\n}\n");
        assert!(da.is_empty() && db.is_empty());
        assert_eq!(a[0].children()[0].key.text, "priority");
        assert_eq!(b[0].children()[0].args[0].text, "5");
    }

    #[test]
    fn one_line_blocks_close_mid_line() {
        let (n, d) = tree("group { A B }\nnext 1\n");
        assert!(d.is_empty());
        assert_eq!(n.len(), 2);
        assert_eq!(n[0].children()[0].args[0].text, "B");
    }

    #[test]
    fn missing_close_is_reported_at_the_open_brace() {
        let (_, d) = tree("a {\n b {\n }\n");
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].span.map(|s| s.start), Some(2));
    }

    #[test]
    fn extra_close_is_reported_and_parsing_continues() {
        let (n, d) = tree("}\na 1\n");
        assert_eq!(d.len(), 1);
        assert_eq!(n.len(), 1);
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let text = "a {".repeat(10_000);
        let (_, d) = tree(&text);
        assert!(d.iter().any(|d| d.message.contains("nested")));
    }
}
