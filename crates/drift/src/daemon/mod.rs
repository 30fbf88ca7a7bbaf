//! `drift run`: the VRRP daemon, in the foreground, logging to stderr.
//!
//! The configuration is loaded and validated up front (a bad file is an error, exit non-zero);
//! the VRRP protocol then runs on a dedicated thread ([`vrrp_thread`]) until SIGTERM/SIGINT,
//! when instances in MASTER send a priority-0 advert and every VIP is removed (keepalived's
//! shutdown behaviour).

mod admin;
mod admin_page;
pub mod control;
mod drops;
mod dumps;
mod instance_trackers;
mod io;
mod log_writer;
mod mapping;
pub mod metrics;
mod notify_fifo;
pub mod ops;
mod precise_timer;
mod privileges;
mod proc_events;
pub mod proxy;
mod publish;
mod reload;
mod routes;
mod sched;
mod script_exec;
mod script_security;
mod scripts;
mod send_batch;
mod shared_rx;
pub mod signum;
mod slot;
mod smtp;
mod stats_clear;
pub mod status;
mod status_text;
mod sync;
mod systemd;
mod timer_queue;
mod track_file;
mod track_process;
mod track_script;
mod tracking;
mod transition;
mod unsupported;
mod vrrp_thread;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{anyhow, Context, Result};
use tracing::{info, warn};
use tracing_subscriber::EnvFilter;

/// Options of `drift run`, as the user wrote them.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub config: PathBuf,
    pub log_level: String,
    /// `--proxy nginx.conf`: run the load balancer in this process too.
    pub proxy: Option<PathBuf>,
    /// Proxy worker threads (0: one per CPU).
    pub proxy_workers: usize,
    /// `--log-format json`: one JSON object per line (tracing-subscriber's json layer).
    pub log_json: bool,
    /// Control socket, dump directory, admin port.
    pub ops: ops::OpsOptions,
}

pub fn run(opts: RunOptions) -> Result<()> {
    init_logging(&opts.log_level, opts.log_json)?;
    let r = run_logged(&opts);
    // Lines still queued for the log writer thread are written before the process exits.
    log_writer::flush();
    r
}

fn run_logged(opts: &RunOptions) -> Result<()> {
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
    privileges::require_net_caps(loaded.model.instances.len())?;
    // The proxy first: its listeners exist (IP_FREEBIND) before any VIP can arrive.
    let mut running = None;
    match &opts.proxy {
        Some(p) => running = Some(proxy::start(p, opts.proxy_workers, &loaded.model)?),
        None => proxy::require_no_tracking(&loaded.model)?,
    }
    let feed = running
        .as_mut()
        .map(|r| std::mem::take(&mut r.feed))
        .unwrap_or_default();
    let hub = Arc::new(status::Hub::new(&opts.config));
    let upstreams = running.as_ref().map(|r| r.upstream_source());
    let ops = ops::start(hub.clone(), opts.ops.clone(), upstreams)?;
    let handle = vrrp_thread::spawn(opts.config.clone(), loaded.model, feed, hub)?;
    let res = match handle.join() {
        Ok(r) => r,
        Err(_) => Err(anyhow!("the VRRP thread panicked")),
    };
    ops.stop();
    // After the VRRP thread has given the VIPs up.
    if let Some(r) = running {
        r.workers.stop();
    }
    res
}

/// `-l`: a level (error, warn, info, debug, trace, off; any case) or a full EnvFilter
/// directive list (`info,drift=trace`). A bare unknown word is refused: EnvFilter would read it
/// as a target name and silently log nothing.
fn filter_for(level: &str) -> Result<EnvFilter> {
    const LEVELS: [&str; 6] = ["error", "warn", "info", "debug", "trace", "off"];
    let lower = level.to_ascii_lowercase();
    let directive = if LEVELS.contains(&lower.as_str()) {
        lower
    } else if level.contains('=') || level.contains(',') {
        level.to_string()
    } else {
        anyhow::bail!(
            "unknown log level `{level}` (expected one of {})",
            LEVELS.join(", ")
        );
    };
    EnvFilter::try_new(&directive).with_context(|| format!("log level `{level}`"))
}

/// tracing to stderr (the journal takes stderr under systemd), without colours unless stderr
/// is a terminal; or JSON lines for log shippers. Lines go through a writer thread so that
/// logging never blocks the VRRP thread (see [`log_writer`]).
fn init_logging(level: &str, json: bool) -> Result<()> {
    let filter = filter_for(level)?;
    let writer = log_writer::stderr().context("start the log writer thread")?;
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_target(false);
    let r = if json {
        b.json().with_current_span(false).try_init()
    } else {
        b.with_ansi(std::io::stderr().is_terminal()).try_init()
    };
    r.map_err(|e| anyhow!("initialise logging: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_levels_and_directives_are_accepted_and_unknown_words_refused() {
        assert!(filter_for("debug").is_ok());
        assert!(filter_for("WARN").is_ok());
        assert!(filter_for("info,drift=trace").is_ok());
        assert!(filter_for("verbose").is_err());
    }
}
