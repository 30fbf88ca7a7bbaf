//! `drift run`: the VRRP daemon, in the foreground, logging to stderr.
//!
//! The configuration is loaded and validated up front (a bad file is an error, exit non-zero);
//! the VRRP protocol then runs on a dedicated thread ([`vrrp_thread`]) until SIGTERM/SIGINT,
//! when instances in MASTER send a priority-0 advert and every VIP is removed (keepalived's
//! shutdown behaviour).

mod io;
mod mapping;
mod reload;
mod scripts;
mod slot;
mod tracking;
mod vrrp_thread;

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::{anyhow, Context, Result};
use tracing::{info, warn};
use tracing_subscriber::EnvFilter;

/// Options of `drift run`, as the user wrote them.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub config: PathBuf,
    pub log_level: String,
}

pub fn run(opts: RunOptions) -> Result<()> {
    init_logging(&opts.log_level)?;
    let loaded = drift_config::load(&opts.config).map_err(|e| anyhow!("{e}"))?;
    if !loaded.warnings.is_empty() {
        warn!("{}", loaded.rendered_warnings.trim_end());
    }
    info!(
        "starting drift {} with {} ({} vrrp_instance)",
        env!("CARGO_PKG_VERSION"),
        opts.config.display(),
        loaded.model.instances.len()
    );
    let handle = vrrp_thread::spawn(opts.config.clone(), loaded.model)?;
    match handle.join() {
        Ok(r) => r,
        Err(_) => Err(anyhow!("the VRRP thread panicked")),
    }
}

/// tracing to stderr; `-l` is an EnvFilter directive (`info`, `debug`, `drift=trace,...`).
fn init_logging(level: &str) -> Result<()> {
    let filter = EnvFilter::try_new(level).with_context(|| format!("log level `{level}`"))?;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .try_init()
        .map_err(|e| anyhow!("initialise logging: {e}"))
}
