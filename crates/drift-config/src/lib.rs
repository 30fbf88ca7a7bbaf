//! drift-config: keepalived.conf -> syntax tree with spans -> validated [`drift_model::Config`],
//! with rustc-style diagnostics and a `keepalived -t`-like check.
//!
//! Pipeline: [`lexer`] (words, braces, comments, quotes) -> [`tree`] (blocks; brace on the same
//! or next line) -> [`include`] (globs relative to the including file, cycles) -> `lower`
//! (typed blocks, keepalived defaults) -> [`validate`] (VRIDs, names, references).
//!
//! # Errors versus warnings (deliberate differences from `keepalived -t`)
//! keepalived 2.2.7 logs nearly every problem and runs anyway after dropping or replacing the
//! offending value (its `-t` exits 5 for all of them). drift splits them:
//! * **warning (exit 4)** when keepalived's adjustment keeps the meaning: auth_pass truncated to
//!   8 bytes, v2 advert_int rounded to whole seconds, v3 advert_int clamped to 40.95 s,
//!   `nopreempt` ignored with `state MASTER` or priority 255, MASTER+AH reset to BACKUP, IPv6
//!   VIPs forcing version 3 (keepalived is silent), no VIPs, a sync group with 0 or 1 members,
//!   unicast_ttl without peers, a missing track script program, a missing host interface,
//!   `virtual_server` (parsed, not served).
//! * **error (exit 3, `load` refuses)** when keepalived would drop or replace what was written, so
//!   the running config would not be the one on disk: unknown keywords, out-of-range numbers
//!   (VRID, priority, weight, version), bad addresses/masks/scopes, bad state or auth_type,
//!   missing VRID or interface, duplicate VRID or instance name, undefined track_script /
//!   track_file / track_process / sync-group member, mixed-family VIPs, brace and quote errors,
//!   a missing include (keepalived: logs "Config files missing" and exits 0) and include cycles
//!   (keepalived: recurses until EMFILE).

pub mod diag;
pub mod include;
pub mod lexer;
mod lower;
mod print;
mod print_global;
mod print_instance;
pub mod script_security;
pub mod tree;
pub mod validate;

pub use diag::{Diagnostic, Severity, Sources, Span};
pub use drift_model::Config;
pub use print::print_conf;

use include::{Disk, FileSource, Loader, NoFiles};
use std::path::Path;

/// Exit codes of [`check_command`], after keepalived(8)'s documented `--config-test` codes.
pub mod exit {
    /// Valid.
    pub const OK: i32 = 0;
    /// Cannot run as written (drift refuses to load it).
    pub const ERRORS: i32 = 3;
    /// Only problems keepalived works around (drift loads it with the same adjustments).
    pub const WARNINGS: i32 = 4;
}

/// The result of reading a configuration: the model (None when there are errors) and every
/// diagnostic, plus the sources needed to render them.
#[derive(Debug, Clone)]
pub struct Checked<T> {
    pub model: Option<T>,
    pub errors: Vec<Diagnostic>,
    pub warnings: Vec<Diagnostic>,
    pub sources: Sources,
}

impl<T> Checked<T> {
    /// All diagnostics rendered (errors and warnings, in source order).
    pub fn render(&self) -> String {
        let mut all: Vec<&Diagnostic> = self.errors.iter().chain(&self.warnings).collect();
        all.sort_by_key(|d| d.span.map(|s| (s.file, s.start)));
        all.iter().map(|d| d.render(&self.sources)).collect()
    }

    /// 0, 4 or 3, as [`check_command`] returns.
    pub fn exit_code(&self) -> i32 {
        if !self.errors.is_empty() {
            exit::ERRORS
        } else if !self.warnings.is_empty() {
            exit::WARNINGS
        } else {
            exit::OK
        }
    }
}

/// A configuration the daemon can run, with the warnings to log.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub model: Config,
    pub warnings: Vec<Diagnostic>,
    /// The warnings rendered, ready to log.
    pub rendered_warnings: String,
}

/// Loading failed: the configuration has errors (or the main file cannot be read).
#[derive(Debug, thiserror::Error)]
#[error("{path}: configuration has {count} error(s):\n{rendered}")]
pub struct LoadError {
    pub path: String,
    pub count: usize,
    /// All diagnostics (errors and warnings), rendered.
    pub rendered: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DumpFormat {
    Json,
    Conf,
}

/// Parses and validates text without touching the file system (`include` is an error).
pub fn parse_str(name: &str, text: &str) -> Checked<Config> {
    run(&NoFiles, name, None, text.to_string(), false)
}

/// Reads, parses and validates a file and its includes; also checks that tracked scripts exist.
pub fn check_file(path: &Path) -> Checked<Config> {
    let name = path.display().to_string();
    match std::fs::read_to_string(path) {
        Ok(text) => run(&Disk, &name, Some(path), text, true),
        Err(e) => Checked {
            model: None,
            errors: vec![Diagnostic {
                severity: Severity::Error,
                span: None,
                message: format!("cannot read {name}: {e}"),
                label: String::new(),
                notes: Vec::new(),
            }],
            warnings: Vec::new(),
            sources: Sources::default(),
        },
    }
}

/// For the daemon: parse + validate; Err carries the rendered diagnostics.
pub fn load(path: &Path) -> Result<Loaded, LoadError> {
    let c = check_file(path);
    let rendered = c.render();
    match c.model {
        Some(model) if c.errors.is_empty() => Ok(Loaded {
            rendered_warnings: rendered,
            model,
            warnings: c.warnings,
        }),
        _ => Err(LoadError {
            path: path.display().to_string(),
            count: c.errors.len(),
            rendered,
        }),
    }
}

/// Runs a full check like `keepalived -t`: prints diagnostics to stderr, an optional dump to
/// stdout, returns the exit code: 0 valid, 4 only warnings keepalived would work around,
/// 3 cannot run (errors).
pub fn check_command(path: &Path, dump: Option<DumpFormat>) -> i32 {
    let c = check_file(path);
    eprint!("{}", c.render());
    let code = c.exit_code();
    let summary = format!(
        "{}: {} error(s), {} warning(s)",
        path.display(),
        c.errors.len(),
        c.warnings.len()
    );
    eprintln!("{summary}");
    if let (Some(fmt), Some(model)) = (dump, &c.model) {
        match fmt {
            DumpFormat::Json => match serde_json::to_string_pretty(model) {
                Ok(s) => println!("{s}"),
                Err(e) => eprintln!("error: cannot serialise the model: {e}"),
            },
            DumpFormat::Conf => print!("{}", print_conf(model)),
        }
    }
    code
}

fn run(
    fs: &dyn FileSource,
    name: &str,
    path: Option<&Path>,
    text: String,
    check_files: bool,
) -> Checked<Config> {
    let mut loader = Loader::new(fs);
    if check_files {
        loader.config_id = node_name();
    }
    let nodes = loader.load_text(name.to_string(), path, text);
    let mut cx = lower::Cx {
        diags: std::mem::take(&mut loader.diags),
        ..Default::default()
    };
    let config = lower::lower(&nodes, &mut cx);
    validate::validate(&config, &cx.spans, &mut cx.diags);
    if check_files {
        validate::check_script_files(&config, &cx.spans, &mut cx.diags);
        validate::check_interfaces(&cx.spans, &mut cx.diags);
    }
    let (errors, warnings): (Vec<_>, Vec<_>) = cx
        .diags
        .into_iter()
        .partition(|d| d.severity == Severity::Error);
    Checked {
        model: errors.is_empty().then_some(config),
        errors,
        warnings,
        sources: loader.sources,
    }
}

/// keepalived's default config id: the node name (up to the first dot).
fn node_name() -> Option<String> {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").ok()?;
    let short = name.trim().split('.').next()?.to_string();
    (!short.is_empty()).then_some(short)
}
