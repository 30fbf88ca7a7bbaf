//! Reading files and expanding `include` statements.
//!
//! keepalived (lib/parser.c `read_conf_file`) expands `include PATTERN` with glob(3), relative
//! to the directory of the file containing the include, at any nesting level. It only logs
//! "Config files missing" when nothing matches and carries on (exit 0 under -t); drift makes a
//! missing include an error, since a silently absent instance is worse than a refusal to start.
//! keepalived has no cycle detection (it recurses until EMFILE); drift reports the chain.

use crate::diag::{Diagnostic, Sources, Span};
use crate::lexer::lex;
use crate::tree::{parse, Node};
use std::path::{Path, PathBuf};

/// Where file contents come from: the real file system, or nothing (for `parse_str`/fuzzing).
pub trait FileSource {
    /// Paths matching `pattern`, sorted; Err with a reason if the pattern is unusable.
    fn glob(&self, pattern: &str) -> Result<Vec<PathBuf>, String>;
    fn read(&self, path: &Path) -> std::io::Result<String>;
}

/// The real file system.
pub struct Disk;

impl FileSource for Disk {
    fn glob(&self, pattern: &str) -> Result<Vec<PathBuf>, String> {
        let paths = glob::glob(pattern).map_err(|e| e.to_string())?;
        let mut v: Vec<PathBuf> = paths.filter_map(Result::ok).collect();
        v.sort();
        Ok(v)
    }
    fn read(&self, path: &Path) -> std::io::Result<String> {
        std::fs::read_to_string(path)
    }
}

/// No file system: includes are rejected (keeps `parse_str` pure and fuzzing safe).
pub struct NoFiles;

impl FileSource for NoFiles {
    fn glob(&self, _: &str) -> Result<Vec<PathBuf>, String> {
        Err("include is not available when parsing a string".into())
    }
    fn read(&self, path: &Path) -> std::io::Result<String> {
        Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("{}", path.display()),
        ))
    }
}

/// Reads, lexes and parses a file's text, expanding includes recursively.
pub struct Loader<'a> {
    pub fs: &'a dyn FileSource,
    pub sources: Sources,
    pub diags: Vec<Diagnostic>,
    /// Canonical paths of the files currently being expanded (the include chain).
    stack: Vec<PathBuf>,
    /// keepalived's config id for `@ID` / `@^ID` lines (keepalived -i; default: the node name).
    pub config_id: Option<String>,
}

impl<'a> Loader<'a> {
    pub fn new(fs: &'a dyn FileSource) -> Self {
        Loader {
            fs,
            sources: Sources::default(),
            diags: Vec::new(),
            stack: Vec::new(),
            config_id: None,
        }
    }

    /// Parses `text` as file `name` (at `path`, if it has one on disk).
    pub fn load_text(&mut self, name: String, path: Option<&Path>, text: String) -> Vec<Node> {
        let file = self.sources.add(name, text);
        let tokens = lex(file, self.sources.text(file), &mut self.diags);
        let nodes = parse(&tokens, &mut self.diags);
        if let Some(p) = path {
            self.stack.push(canonical(p));
        }
        let dir = path
            .and_then(Path::parent)
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let out = self.expand(nodes, &dir);
        if path.is_some() {
            self.stack.pop();
        }
        out
    }

    fn expand(&mut self, nodes: Vec<Node>, dir: &Path) -> Vec<Node> {
        let mut out = Vec::with_capacity(nodes.len());
        for node in nodes {
            let Some(mut node) = self.conditional(node) else {
                continue;
            };
            if node.key.text != "include" {
                if let Some(block) = node.block.as_mut() {
                    let inner = std::mem::take(&mut block.nodes);
                    block.nodes = self.expand(inner, dir);
                }
                out.push(node);
                continue;
            }
            let Some(pattern) = node.args.first() else {
                self.diags.push(Diagnostic::error(
                    node.key.span,
                    "`include` needs a file name or glob",
                ));
                continue;
            };
            out.extend(self.include(&pattern.text, node.span(), dir));
        }
        out
    }

    /// keepalived.conf(5) "Conditional configuration": `@ID rest` is read only when the config
    /// id is ID, `@^ID rest` only when it is not. Without a config id, `@ID` lines are skipped.
    fn conditional(&self, mut node: Node) -> Option<Node> {
        if node.key.quoted {
            return Some(node);
        }
        let Some(cond) = node.key.text.strip_prefix('@') else {
            return Some(node);
        };
        let (negate, id) = match cond.strip_prefix('^') {
            Some(id) => (true, id),
            None => (false, cond),
        };
        let matches = self.config_id.as_deref() == Some(id);
        if matches == negate || node.args.is_empty() {
            return None;
        }
        node.key = node.args.remove(0);
        Some(node)
    }

    fn include(&mut self, pattern: &str, at: Span, dir: &Path) -> Vec<Node> {
        let full = if Path::new(pattern).is_absolute() {
            PathBuf::from(pattern)
        } else {
            dir.join(pattern)
        };
        let full_str = full.to_string_lossy().into_owned();
        let paths = match self.fs.glob(&full_str) {
            Ok(p) => p,
            Err(why) => {
                self.diags.push(Diagnostic::error(
                    at,
                    format!("cannot include `{pattern}`: {why}"),
                ));
                return Vec::new();
            }
        };
        if paths.is_empty() {
            self.diags.push(
                Diagnostic::error(at, format!("include `{pattern}` matches no file"))
                    .with_label(format!("looked for {full_str}"))
                    .with_note(
                        "note: keepalived only logs \"Config files missing\" here; drift refuses",
                    ),
            );
            return Vec::new();
        }
        let mut out = Vec::new();
        for path in paths {
            let canon = canonical(&path);
            if let Some(first) = self.stack.iter().position(|p| *p == canon) {
                let chain: Vec<String> = self.stack[first..]
                    .iter()
                    .chain(std::iter::once(&canon))
                    .map(|p| p.display().to_string())
                    .collect();
                self.diags.push(
                    Diagnostic::error(at, format!("include cycle: {}", chain.join(" -> ")))
                        .with_label("this include leads back to a file being read"),
                );
                continue;
            }
            match self.fs.read(&path) {
                Ok(text) => {
                    let name = path.display().to_string();
                    out.extend(self.load_text(name, Some(&path), text));
                }
                Err(e) => self.diags.push(Diagnostic::error(
                    at,
                    format!("cannot read include {}: {e}", path.display()),
                )),
            }
        }
        out
    }
}

fn canonical(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
}
