//! Diagnostics: where (file + byte range), how bad, what, and a hint; rendered like rustc.

use codespan_reporting::diagnostic::{Diagnostic as CsDiagnostic, Label};
use codespan_reporting::files::SimpleFiles;
use codespan_reporting::term::{self, termcolor::NoColor, Config, DisplayStyle};

/// Index of a file in [`Sources`].
pub type FileId = usize;

/// A byte range in one source file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    pub file: FileId,
    pub start: usize,
    pub end: usize,
}

/// Every file read while loading one configuration (the main file and its includes).
#[derive(Debug, Clone)]
pub struct Sources {
    files: SimpleFiles<String, String>,
    count: usize,
}

impl Default for Sources {
    fn default() -> Self {
        Sources {
            files: SimpleFiles::new(),
            count: 0,
        }
    }
}

impl Sources {
    pub fn add(&mut self, name: String, text: String) -> FileId {
        self.count += 1;
        self.files.add(name, text)
    }

    pub fn name(&self, file: FileId) -> &str {
        self.files
            .get(file)
            .map(|f| f.name().as_str())
            .unwrap_or("<unknown>")
    }

    pub fn text(&self, file: FileId) -> &str {
        self.files
            .get(file)
            .map(|f| f.source().as_str())
            .unwrap_or("")
    }

    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, file: FileId, offset: usize) -> (usize, usize) {
        let text = self.text(file);
        let offset = offset.min(text.len());
        let before = text.get(..offset).unwrap_or("");
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
        let col = text
            .get(line_start..offset)
            .map(|s| s.chars().count())
            .unwrap_or(0)
            + 1;
        (line, col)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Warning,
    Error,
}

/// One problem in the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    /// `None` only for problems that belong to no place (e.g. an unreadable main file).
    pub span: Option<Span>,
    pub message: String,
    /// Short label under the caret.
    pub label: String,
    /// `help:`/`note:` lines, e.g. "did you mean `priority`?".
    pub notes: Vec<String>,
}

impl Diagnostic {
    pub fn error(span: Span, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            span: Some(span),
            message: message.into(),
            label: String::new(),
            notes: Vec::new(),
        }
    }

    pub fn warning(span: Span, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(span, message)
        }
    }

    pub fn with_label(mut self, label: impl Into<String>) -> Self {
        self.label = label.into();
        self
    }

    pub fn with_note(mut self, note: impl Into<String>) -> Self {
        self.notes.push(note.into());
        self
    }

    /// `(file name, line, column)`, 1-based.
    pub fn location(&self, sources: &Sources) -> Option<(String, usize, usize)> {
        let span = self.span?;
        let (line, col) = sources.line_col(span.file, span.start);
        Some((sources.name(span.file).to_string(), line, col))
    }

    /// Renders like rustc; the first line is always `file:line:col: error|warning: message`
    /// so that users and tests can grep it.
    pub fn render(&self, sources: &Sources) -> String {
        let sev = match self.severity {
            Severity::Error => codespan_reporting::diagnostic::Severity::Error,
            Severity::Warning => codespan_reporting::diagnostic::Severity::Warning,
        };
        let word = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let Some(span) = self.span else {
            return format!("{word}: {}\n", self.message);
        };
        let mut out = String::new();
        if let Some((name, line, col)) = self.location(sources) {
            out.push_str(&format!("{name}:{line}:{col}: {word}: {}\n", self.message));
        }
        let diag = CsDiagnostic::new(sev)
            .with_message(&self.message)
            .with_labels(vec![
                Label::primary(span.file, span.start..span.end).with_message(&self.label)
            ])
            .with_notes(self.notes.clone());
        let config = Config {
            display_style: DisplayStyle::Rich,
            ..Config::default()
        };
        let mut buf = NoColor::new(Vec::new());
        if term::emit(&mut buf, &config, &sources.files, &diag).is_ok() {
            let text = String::from_utf8_lossy(&buf.into_inner()).into_owned();
            // The rich style repeats "error: message" on its first line; our header replaces it.
            let body = text.split_once('\n').map(|(_, rest)| rest).unwrap_or("");
            out.push_str(body);
        }
        out
    }
}

/// Renders all diagnostics, in order, errors and warnings mixed as they were found.
pub fn render_all(diags: &[Diagnostic], sources: &Sources) -> String {
    diags.iter().map(|d| d.render(sources)).collect()
}
