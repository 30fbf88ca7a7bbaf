//! Token stream -> directive tree, with `include` spliced in place (paths relative to the main
//! config's directory, as nginx resolves them against its conf prefix).

use super::diag::{Diagnostic, SourceFile, Span};
use super::lexer::{tokenize, Tok, Token};
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Debug, Clone)]
pub struct Arg {
    pub text: String,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub struct Directive {
    pub name: String,
    pub span: Span,
    pub args: Vec<Arg>,
    /// `Some` for block directives (`http { ... }`), even when empty.
    pub block: Option<Vec<Directive>>,
}

/// Include nesting limit; stops `include` cycles without tracking the file set.
const MAX_INCLUDE_DEPTH: usize = 16;

pub fn load(path: &Path) -> Result<Vec<Directive>, Vec<Diagnostic>> {
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut diags = Vec::new();
    let tree = load_file(path, &base, 0, None, &mut diags);
    if diags.is_empty() {
        Ok(tree)
    } else {
        Err(diags)
    }
}

pub fn parse_str(name: &str, text: &str) -> Result<Vec<Directive>, Vec<Diagnostic>> {
    let file = Arc::new(SourceFile {
        path: name.into(),
        text: text.into(),
    });
    let mut diags = Vec::new();
    let tree = parse_file(&file, Path::new("."), 0, &mut diags);
    if diags.is_empty() {
        Ok(tree)
    } else {
        Err(diags)
    }
}

fn load_file(
    path: &Path,
    base: &Path,
    depth: usize,
    from: Option<&Span>,
    diags: &mut Vec<Diagnostic>,
) -> Vec<Directive> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            let msg = format!("cannot read {}: {e}", path.display());
            diags.push(match from {
                Some(s) => Diagnostic::at(s, msg),
                None => Diagnostic::global(msg),
            });
            return Vec::new();
        }
    };
    let file = Arc::new(SourceFile {
        path: path.to_path_buf(),
        text,
    });
    parse_file(&file, base, depth, diags)
}

fn parse_file(
    file: &Arc<SourceFile>,
    base: &Path,
    depth: usize,
    diags: &mut Vec<Diagnostic>,
) -> Vec<Directive> {
    let tokens = match tokenize(file) {
        Ok(t) => t,
        Err(d) => {
            diags.push(d);
            return Vec::new();
        }
    };
    let mut p = Parser {
        toks: &tokens,
        pos: 0,
        base,
        depth,
        diags,
    };
    p.block(None)
}

struct Parser<'a> {
    toks: &'a [Token],
    pos: usize,
    base: &'a Path,
    depth: usize,
    diags: &'a mut Vec<Diagnostic>,
}

impl Parser<'_> {
    /// Parses directives until `}` (when `open` is the span of the opening brace) or end of input.
    fn block(&mut self, open: Option<&Span>) -> Vec<Directive> {
        let mut out = Vec::new();
        loop {
            let Some(t) = self.toks.get(self.pos) else {
                if let Some(o) = open {
                    self.diags
                        .push(Diagnostic::at(o, "unexpected end of file, expecting \"}\""));
                }
                return out;
            };
            self.pos += 1;
            match &t.tok {
                Tok::Close if open.is_some() => return out,
                Tok::Close => self.diags.push(Diagnostic::at(&t.span, "unexpected \"}\"")),
                Tok::Open | Tok::Semi => self.diags.push(Diagnostic::at(
                    &t.span,
                    "unexpected token, expecting a directive name",
                )),
                Tok::Word(name) => {
                    if let Some(d) = self.directive(name.clone(), t.span.clone()) {
                        if d.name == "include" && d.block.is_none() {
                            self.include(d, &mut out);
                        } else {
                            out.push(d);
                        }
                    }
                }
            }
        }
    }

    fn directive(&mut self, name: String, span: Span) -> Option<Directive> {
        let mut args = Vec::new();
        loop {
            let Some(t) = self.toks.get(self.pos) else {
                self.diags.push(Diagnostic::at(
                    &span,
                    format!("unexpected end of file, expecting \";\" or \"{{\" after \"{name}\""),
                ));
                return None;
            };
            self.pos += 1;
            match &t.tok {
                Tok::Word(w) => args.push(Arg {
                    text: w.clone(),
                    span: t.span.clone(),
                }),
                Tok::Semi => {
                    return Some(Directive {
                        name,
                        span,
                        args,
                        block: None,
                    })
                }
                Tok::Open => {
                    let block = self.block(Some(&t.span));
                    return Some(Directive {
                        name,
                        span,
                        args,
                        block: Some(block),
                    });
                }
                Tok::Close => {
                    self.diags.push(Diagnostic::at(
                        &t.span,
                        format!("unexpected \"}}\", expecting \";\" after \"{name}\""),
                    ));
                    self.pos -= 1;
                    return None;
                }
            }
        }
    }

    fn include(&mut self, d: Directive, out: &mut Vec<Directive>) {
        let [arg] = d.args.as_slice() else {
            self.diags.push(Diagnostic::at(
                &d.span,
                "\"include\" takes exactly one file name",
            ));
            return;
        };
        // Accepted and ignored: the proxy has no static file serving, so MIME maps mean nothing.
        if Path::new(&arg.text)
            .file_name()
            .is_some_and(|n| n == "mime.types")
        {
            return;
        }
        if self.depth >= MAX_INCLUDE_DEPTH {
            self.diags.push(Diagnostic::at(
                &arg.span,
                "include nested too deeply (cycle?)",
            ));
            return;
        }
        let path = resolve(self.base, &arg.text);
        out.extend(load_file(
            &path,
            self.base,
            self.depth + 1,
            Some(&arg.span),
            self.diags,
        ));
    }
}

fn resolve(base: &Path, p: &str) -> PathBuf {
    let p = Path::new(p);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_blocks_become_children() {
        let t = parse_str("t", "http { upstream u { server a:1; } }").unwrap_or_default();
        assert_eq!(t.len(), 1);
        let http = t[0].block.as_deref().unwrap_or_default();
        assert_eq!(http[0].name, "upstream");
        assert_eq!(http[0].args[0].text, "u");
        assert_eq!(
            http[0].block.as_deref().map(|b| b[0].args[0].text.clone()),
            Some("a:1".into())
        );
    }

    #[test]
    fn missing_close_brace_is_reported_at_the_open_brace() {
        let e = parse_str("t", "http {\n server {")
            .err()
            .unwrap_or_default();
        assert!(
            e.iter().any(|d| d.message.contains("expecting \"}\"")),
            "{e:?}"
        );
    }

    #[test]
    fn stray_close_brace_is_reported() {
        let e = parse_str("t", "a;\n}").err().unwrap_or_default();
        assert_eq!(e[0].span.as_ref().map(|s| (s.line, s.col)), Some((2, 1)));
    }

    #[test]
    fn missing_semicolon_before_close_is_reported() {
        let e = parse_str("t", "http { a b }").err().unwrap_or_default();
        assert!(e[0].message.contains("expecting \";\""));
    }

    #[test]
    fn include_of_mime_types_is_ignored() {
        let t = parse_str("t", "include mime.types; a;").unwrap_or_default();
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn include_splices_a_relative_file() {
        let dir = std::env::temp_dir().join(format!("drift-proxy-inc-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let _ = std::fs::write(dir.join("up.conf"), "upstream u { server 127.0.0.1:1; }\n");
        let _ = std::fs::write(dir.join("main.conf"), "http { include up.conf; }\n");
        let t = load(&dir.join("main.conf")).unwrap_or_default();
        let _ = std::fs::remove_dir_all(&dir);
        let http = t.first().and_then(|d| d.block.clone()).unwrap_or_default();
        assert_eq!(http.first().map(|d| d.name.as_str()), Some("upstream"));
    }

    #[test]
    fn missing_include_is_an_error_at_the_file_name() {
        let e = parse_str("t", "include nope-xyz.conf;")
            .err()
            .unwrap_or_default();
        assert!(e[0].message.contains("cannot read"));
        assert_eq!(e[0].span.as_ref().map(|s| s.col), Some(9));
    }
}
