//! `drift check --examples`: the configs bundled in the binary, so a fresh
//! machine can see drift's diagnostics without writing a config first.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use drift_config::DumpFormat;

/// The seed article's keepalived configs, as the article printed them.
const EXAMPLES: &[(&str, &str)] = &[
    (
        "master.conf",
        include_str!("../../../fixtures/seed/master.conf"),
    ),
    (
        "backup.conf",
        include_str!("../../../fixtures/seed/backup.conf"),
    ),
    (
        "annotated-master.conf",
        include_str!("../../../fixtures/seed/annotated-master.conf"),
    ),
    (
        "annotated-backup.conf",
        include_str!("../../../fixtures/seed/annotated-backup.conf"),
    ),
];

/// Writes each example to a private temp dir (so diagnostics name a real
/// file) and checks it; returns the worst exit code, as `keepalived -t` would.
pub fn check_examples(dump: Option<DumpFormat>) -> i32 {
    let dir = match tempdir() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("drift: cannot create a temporary directory for the examples: {e}");
            return 3;
        }
    };
    let mut worst = 0;
    for (name, text) in EXAMPLES {
        let path = dir.join(name);
        if let Err(e) = std::fs::write(&path, text) {
            eprintln!("drift: cannot write {}: {e}", path.display());
            worst = 3;
            continue;
        }
        eprintln!("== {name}");
        let code = drift_config::check_command(&path, dump);
        eprintln!("== {name}: exit {code}");
        worst = worst_code(worst, code);
    }
    let _ = std::fs::remove_dir_all(&dir);
    worst
}

/// `drift check --nginx FILE`: the load balancer's config, with the same
/// exit codes as a keepalived check (0 valid, 3 cannot run).
pub fn check_nginx(path: &Path) -> ExitCode {
    match drift_proxy::check_file(path) {
        Ok(_) => {
            eprintln!("{}: configuration is valid", path.display());
            ExitCode::SUCCESS
        }
        Err(diags) => {
            eprint!("{}", drift_proxy::render_all(&diags));
            ExitCode::from(3)
        }
    }
}

/// `drift check -f keepalived.conf --proxy nginx.conf`: both files, then the links between them
/// (every `track_upstream` must name an upstream group of the nginx file).
pub fn check_with_proxy(file: &Path, proxy: &Path, dump: Option<DumpFormat>) -> i32 {
    let code = drift_config::check_command(file, dump);
    let cfg = match drift_proxy::check_file(proxy) {
        Ok(cfg) => cfg,
        Err(diags) => {
            eprint!("{}", drift_proxy::render_all(&diags));
            return 3;
        }
    };
    eprintln!("{}: configuration is valid", proxy.display());
    let Some(model) = drift_config::check_file(file).model else {
        return worst_code(code, 3);
    };
    let unknown = crate::daemon::proxy::unknown_names(&model, &cfg.upstream_names());
    if unknown.is_empty() {
        return code;
    }
    for n in unknown {
        eprintln!(
            "{}: track_upstream `{n}` is not an upstream group of {}",
            file.display(),
            proxy.display()
        );
    }
    3
}

/// `drift proxy -c FILE`: refuses to start on a config that does not check.
pub fn run_proxy(path: &Path, workers: usize) -> ExitCode {
    let cfg = match drift_proxy::check_file(path) {
        Ok(cfg) => cfg,
        Err(diags) => {
            eprint!("{}", drift_proxy::render_all(&diags));
            return ExitCode::from(3);
        }
    };
    let workers = if workers == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        workers
    };
    // SIGHUP re-reads the file, as `nginx -s reload` does; a bad file is refused and said so.
    let on_hup = |r: &drift_proxy::Reloader| match r.reload_file(path, |_| Ok(())) {
        Ok(rep) => eprintln!(
            "drift: proxy reloaded {} (listeners added {:?}, removed {:?})",
            path.display(),
            rep.added,
            rep.removed
        ),
        Err(e) => eprintln!("drift: proxy {e}"),
    };
    match drift_proxy::run_blocking(cfg, workers, on_hup) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("drift: proxy {}: {e:#}", path.display());
            ExitCode::from(1)
        }
    }
}

/// 3 (cannot run) beats 4 (warnings) beats 0.
fn worst_code(a: i32, b: i32) -> i32 {
    let rank = |c: i32| match c {
        0 => 0,
        4 => 1,
        _ => 2,
    };
    if rank(b) > rank(a) {
        b
    } else {
        a
    }
}

fn tempdir() -> std::io::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("drift-examples-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::worst_code;

    #[test]
    fn errors_outrank_warnings_and_warnings_outrank_success() {
        assert_eq!(worst_code(0, 4), 4);
        assert_eq!(worst_code(4, 0), 4);
        assert_eq!(worst_code(4, 3), 3);
        assert_eq!(worst_code(3, 4), 3);
        assert_eq!(worst_code(0, 0), 0);
    }
}
