//! Runs drift-proxy on an nginx config until SIGINT/SIGTERM (SIGHUP reloads it):
//! `serve CONFIG [THREADS]`.
//! Used by bench/run.sh; the `drift proxy -c FILE` subcommand will do the same.

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(path) = args.next().map(PathBuf::from) else {
        eprintln!("usage: serve CONFIG [THREADS]");
        return ExitCode::from(2);
    };
    let threads = args.next().and_then(|t| t.parse().ok()).unwrap_or(1);
    let cfg = match drift_proxy::check_file(&path) {
        Ok(c) => c,
        Err(d) => {
            eprint!("{}", drift_proxy::render_all(&d));
            return ExitCode::from(1);
        }
    };
    let on_hup = |r: &drift_proxy::Reloader| match r.reload_file(&path, |_| Ok(())) {
        Ok(rep) => eprintln!("drift-proxy: reloaded {} ({rep:?})", path.display()),
        Err(e) => eprintln!("drift-proxy: {e}"),
    };
    match drift_proxy::run_blocking(cfg, threads, on_hup) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("drift-proxy: {e}");
            ExitCode::from(1)
        }
    }
}

/// glibc malloc showed up at ~6% of proxy CPU under load; mimalloc's thread-local free lists
/// suit the many short-lived per-request allocations.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
