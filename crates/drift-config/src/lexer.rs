//! Splits keepalived.conf text into words, braces and line ends.
//!
//! keepalived's reader (lib/parser.c) strips comments starting at `#` or `!` anywhere outside
//! quotes, treats `{` and `}` as separate tokens even when glued to a word (`check_run{`), and
//! joins quoted and unquoted pieces into one word like a shell (`ab"c d"e` is `abc de`).

use crate::diag::{Diagnostic, FileId, Span};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenKind {
    Word { text: String, quoted: bool },
    Open,
    Close,
    Newline,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub kind: TokenKind,
    pub span: Span,
}

/// Tokenizes one file; problems (unterminated quotes) are pushed to `diags` and lexing goes on.
pub fn lex(file: FileId, text: &str, diags: &mut Vec<Diagnostic>) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut chars = text.char_indices().peekable();
    let span = |start: usize, end: usize| Span { file, start, end };
    while let Some(&(i, c)) = chars.peek() {
        match c {
            '\n' => {
                chars.next();
                tokens.push(Token {
                    kind: TokenKind::Newline,
                    span: span(i, i + 1),
                });
            }
            c if c.is_whitespace() => {
                chars.next();
            }
            '#' | '!' => {
                while let Some(&(_, c)) = chars.peek() {
                    if c == '\n' {
                        break;
                    }
                    chars.next();
                }
            }
            '{' | '}' => {
                chars.next();
                let kind = if c == '{' {
                    TokenKind::Open
                } else {
                    TokenKind::Close
                };
                tokens.push(Token {
                    kind,
                    span: span(i, i + 1),
                });
            }
            _ => {
                let mut word = String::new();
                let mut quoted = false;
                let mut end = i;
                while let Some(&(j, c)) = chars.peek() {
                    if c.is_whitespace() || matches!(c, '{' | '}' | '#' | '!') {
                        break;
                    }
                    chars.next();
                    end = j + c.len_utf8();
                    if c == '"' || c == '\'' {
                        quoted = true;
                        match read_quoted(c, &mut chars, &mut word) {
                            Ok(e) => end = e,
                            Err(e) => {
                                end = e;
                                diags.push(
                                    Diagnostic::error(span(j, j + 1), "unterminated quoted string")
                                        .with_label(format!("this {c} is never closed"))
                                        .with_note("help: close the quote on the same line"),
                                );
                                break;
                            }
                        }
                    } else {
                        word.push(c);
                    }
                }
                tokens.push(Token {
                    kind: TokenKind::Word { text: word, quoted },
                    span: span(i, end),
                });
            }
        }
    }
    tokens
}

type Chars<'a> = std::iter::Peekable<std::str::CharIndices<'a>>;

/// Reads up to the closing `quote`, handling keepalived's shell-like escapes.
/// Returns the byte offset after the closing quote, or Err(offset) at end of line.
fn read_quoted(quote: char, chars: &mut Chars<'_>, out: &mut String) -> Result<usize, usize> {
    let mut last = 0;
    while let Some(&(j, c)) = chars.peek() {
        if c == '\n' {
            return Err(j);
        }
        chars.next();
        last = j + c.len_utf8();
        if c == quote {
            return Ok(last);
        }
        if c != '\\' {
            out.push(c);
            continue;
        }
        let Some(&(k, e)) = chars.peek() else { break };
        if e == '\n' {
            return Err(k);
        }
        chars.next();
        last = k + e.len_utf8();
        match e {
            'n' => out.push('\n'),
            't' => out.push('\t'),
            'r' => out.push('\r'),
            'a' => out.push('\x07'),
            'b' => out.push('\x08'),
            'f' => out.push('\x0c'),
            'v' => out.push('\x0b'),
            'E' => out.push('\x1b'),
            'x' => {
                let mut v: u32 = 0;
                let mut n = 0;
                while let Some(&(h, d)) = chars.peek() {
                    match d.to_digit(16) {
                        Some(x) if n < 2 => {
                            v = v * 16 + x;
                            n += 1;
                            chars.next();
                            last = h + 1;
                        }
                        _ => break,
                    }
                }
                out.push(char::from_u32(v).unwrap_or('?'));
            }
            '0'..='7' => {
                let mut v: u32 = e.to_digit(8).unwrap_or(0);
                let mut n = 1;
                while let Some(&(h, d)) = chars.peek() {
                    match d.to_digit(8) {
                        Some(x) if n < 3 => {
                            v = v * 8 + x;
                            n += 1;
                            chars.next();
                            last = h + 1;
                        }
                        _ => break,
                    }
                }
                out.push(char::from_u32(v).unwrap_or('?'));
            }
            other => out.push(other),
        }
    }
    Err(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<String> {
        let mut d = Vec::new();
        lex(0, text, &mut d)
            .into_iter()
            .map(|t| match t.kind {
                TokenKind::Word { text, .. } => text,
                TokenKind::Open => "{".into(),
                TokenKind::Close => "}".into(),
                TokenKind::Newline => "\\n".into(),
            })
            .collect()
    }

    #[test]
    fn braces_glued_to_words_are_separate_tokens() {
        assert_eq!(words("check_run{"), ["check_run", "{"]);
        assert_eq!(words("a}b"), ["a", "}", "b"]);
    }

    #[test]
    fn comments_start_at_hash_or_bang_outside_quotes() {
        assert_eq!(
            words("auth_pass 1111###x\n! c\nk \"#v!\""),
            ["auth_pass", "1111", "\\n", "\\n", "k", "#v!"]
        );
    }

    #[test]
    fn quoted_pieces_join_like_a_shell() {
        assert_eq!(words("abcd\" efg h jkl \"mnop"), ["abcd efg h jkl mnop"]);
        assert_eq!(words("'a b' \"c\\\"d\\n\""), ["a b", "c\"d\n"]);
    }

    #[test]
    fn unterminated_quote_is_reported_at_the_quote() {
        let mut d = Vec::new();
        lex(0, "script \"/bin/true\nx", &mut d);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].span.map(|s| s.start), Some(7));
    }
}
