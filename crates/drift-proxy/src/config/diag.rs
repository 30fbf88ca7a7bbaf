//! Diagnostics rendered the way compilers do, so `drift check` output can be read by editors:
//! `file:line:col: error: msg`, then the offending source line and a caret under the column.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

/// A place in a config file. Lines and columns count from 1, columns in characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Span {
    pub file: Arc<SourceFile>,
    pub line: usize,
    pub col: usize,
}

/// A loaded file; kept so diagnostics can quote the source line without re-reading the disk.
#[derive(Debug, PartialEq, Eq)]
pub struct SourceFile {
    pub path: PathBuf,
    pub text: String,
}

impl Span {
    pub fn new(file: &Arc<SourceFile>, line: usize, col: usize) -> Self {
        Span {
            file: Arc::clone(file),
            line,
            col,
        }
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file.path.display(), self.line, self.col)
    }
}

/// One problem found in a config; `check` collects all of them rather than stopping at the first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub span: Option<Span>,
    pub message: String,
}

impl Diagnostic {
    pub fn at(span: &Span, message: impl Into<String>) -> Self {
        Diagnostic {
            span: Some(span.clone()),
            message: message.into(),
        }
    }
    pub fn global(message: impl Into<String>) -> Self {
        Diagnostic {
            span: None,
            message: message.into(),
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(span) = &self.span else {
            return write!(f, "error: {}", self.message);
        };
        writeln!(f, "{span}: error: {}", self.message)?;
        let line = span
            .file
            .text
            .lines()
            .nth(span.line.saturating_sub(1))
            .unwrap_or("");
        writeln!(f, "{line}")?;
        // Keep tabs so the caret lines up under tab-indented source.
        let pad: String = line
            .chars()
            .take(span.col.saturating_sub(1))
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        write!(f, "{pad}^")
    }
}

impl std::error::Error for Diagnostic {}

/// Renders every diagnostic, one block each, for printing by `drift check`.
pub fn render_all(diags: &[Diagnostic]) -> String {
    diags.iter().map(|d| format!("{d}\n")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diagnostic_renders_location_source_line_and_caret() {
        let file = Arc::new(SourceFile {
            path: "a.conf".into(),
            text: "http {\n  bogus on;\n}\n".into(),
        });
        let d = Diagnostic::at(&Span::new(&file, 2, 3), "unknown directive \"bogus\"");
        assert_eq!(
            d.to_string(),
            "a.conf:2:3: error: unknown directive \"bogus\"\n  bogus on;\n  ^"
        );
    }

    #[test]
    fn global_diagnostic_has_no_location() {
        assert_eq!(
            Diagnostic::global("no listeners").to_string(),
            "error: no listeners"
        );
    }
}
