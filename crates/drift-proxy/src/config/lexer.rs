//! Tokenizer for nginx's config syntax: bare words, single/double-quoted strings with backslash
//! escapes, `{`, `}`, `;`, and `#` comments to end of line (nginx `ngx_conf_read_token`).

use super::diag::{Diagnostic, SourceFile, Span};
use std::sync::Arc;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tok {
    Word(String),
    Open,
    Close,
    Semi,
}

#[derive(Debug, Clone)]
pub struct Token {
    pub tok: Tok,
    pub span: Span,
}

pub fn tokenize(file: &Arc<SourceFile>) -> Result<Vec<Token>, Diagnostic> {
    let mut out = Vec::new();
    let mut chars = file.text.chars().peekable();
    let (mut line, mut col) = (1usize, 1usize);
    // Advances position bookkeeping for one consumed char.
    let step = |c: char, line: &mut usize, col: &mut usize| {
        if c == '\n' {
            *line += 1;
            *col = 1;
        } else {
            *col += 1;
        }
    };
    while let Some(&c) = chars.peek() {
        let span = Span::new(file, line, col);
        match c {
            c if c.is_whitespace() => {
                chars.next();
                step(c, &mut line, &mut col);
            }
            '#' => {
                while let Some(&c) = chars.peek() {
                    if c == '\n' {
                        break;
                    }
                    chars.next();
                    step(c, &mut line, &mut col);
                }
            }
            '{' | '}' | ';' => {
                chars.next();
                step(c, &mut line, &mut col);
                let tok = match c {
                    '{' => Tok::Open,
                    '}' => Tok::Close,
                    _ => Tok::Semi,
                };
                out.push(Token { tok, span });
            }
            '"' | '\'' => {
                let quote = c;
                chars.next();
                step(c, &mut line, &mut col);
                let mut s = String::new();
                let mut closed = false;
                while let Some(c) = chars.next() {
                    step(c, &mut line, &mut col);
                    if c == quote {
                        closed = true;
                        break;
                    }
                    if c == '\\' {
                        if let Some(n) = chars.next() {
                            step(n, &mut line, &mut col);
                            match n {
                                '"' | '\'' | '\\' => s.push(n),
                                't' => s.push('\t'),
                                'r' => s.push('\r'),
                                'n' => s.push('\n'),
                                other => {
                                    s.push('\\');
                                    s.push(other);
                                }
                            }
                        }
                        continue;
                    }
                    s.push(c);
                }
                if !closed {
                    return Err(Diagnostic::at(&span, "unterminated quoted string"));
                }
                out.push(Token {
                    tok: Tok::Word(s),
                    span,
                });
            }
            _ => {
                let mut s = String::new();
                while let Some(&c) = chars.peek() {
                    if c.is_whitespace() || matches!(c, '{' | '}' | ';' | '"' | '\'') {
                        break;
                    }
                    // nginx treats `#` inside a word as part of it only if not at word start.
                    chars.next();
                    step(c, &mut line, &mut col);
                    s.push(c);
                }
                out.push(Token {
                    tok: Tok::Word(s),
                    span,
                });
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(text: &str) -> Vec<Tok> {
        let f = Arc::new(SourceFile {
            path: "t".into(),
            text: text.into(),
        });
        tokenize(&f)
            .map(|v| v.into_iter().map(|t| t.tok).collect())
            .unwrap_or_default()
    }
    fn w(s: &str) -> Tok {
        Tok::Word(s.into())
    }

    #[test]
    fn words_braces_and_semicolons_are_separate_tokens() {
        assert_eq!(
            toks("a b{c;}"),
            vec![w("a"), w("b"), Tok::Open, w("c"), Tok::Semi, Tok::Close]
        );
    }

    #[test]
    fn comments_run_to_end_of_line() {
        assert_eq!(
            toks("a; # x y\nb;"),
            vec![w("a"), Tok::Semi, w("b"), Tok::Semi]
        );
    }

    #[test]
    fn comment_directly_after_semicolon_is_a_comment() {
        assert_eq!(
            toks("server_name  localhost;#注意"),
            vec![w("server_name"), w("localhost"), Tok::Semi]
        );
    }

    #[test]
    fn quoted_strings_keep_spaces_and_unescape() {
        assert_eq!(
            toks(r#"return "a b\"c" 'd;e';"#),
            vec![w("return"), w("a b\"c"), w("d;e"), Tok::Semi]
        );
    }

    #[test]
    fn unterminated_string_is_an_error_at_its_start() {
        let f = Arc::new(SourceFile {
            path: "t".into(),
            text: "a \"oops".into(),
        });
        let e = tokenize(&f).err().map(|d| d.span.map(|s| (s.line, s.col)));
        assert_eq!(e, Some(Some((1, 3))));
    }

    #[test]
    fn spans_count_lines_and_columns_from_one() {
        let f = Arc::new(SourceFile {
            path: "t".into(),
            text: "a\n  bb;".into(),
        });
        let v = tokenize(&f).unwrap_or_default();
        assert_eq!((v[1].span.line, v[1].span.col), (2, 3));
        assert_eq!((v[2].span.line, v[2].span.col), (2, 5));
    }
}
