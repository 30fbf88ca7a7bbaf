//! `drift demo`: the seed article's MASTER/BACKUP pair running in a throwaway lab of network
//! namespaces, with a client polling the VIP; the master is killed and brought back while a
//! timeline shows the VIP drift and the measured failover.
//!
//! Safety of the machine it runs on: everything lives in namespaces named
//! `drift-demo-<pid>-…` ([`ns`]); no interface outside them is touched, the nodes are this
//! executable's `run` started inside them and stopped by pid, and on exit, Ctrl-C or SIGTERM
//! all is removed. A run that was SIGKILLed leaves its namespaces behind; the next run finds
//! them by the dead owner pid in their names and removes them first.

mod display;
mod lab;
mod node;
mod ns;
mod script;
mod timeline;
mod watch;
mod web;

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result};

/// Options of `drift demo`.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Plain lines only (no status line, no colours), for logs and tests.
    pub non_interactive: bool,
    /// VRRP advert interval in seconds (the article's 1 s unless given).
    pub advert_int: f64,
}

/// Set by SIGINT/SIGTERM/SIGHUP; every wait of the demo checks it and unwinds to the cleanup.
static STOP: AtomicBool = AtomicBool::new(false);

pub(crate) fn interrupted() -> bool {
    STOP.load(Ordering::Relaxed)
}

pub fn run(opts: DemoOptions) -> ExitCode {
    if !nix::unistd::geteuid().is_root() {
        eprintln!(
            "drift demo: needs root, to create network namespaces (run it with sudo; it touches no interface outside its own namespaces)"
        );
        return ExitCode::from(1);
    }
    if std::process::Command::new("ip").arg("-V").output().is_err() {
        eprintln!("drift demo: needs the `ip` command (iproute2) on PATH");
        return ExitCode::from(1);
    }
    if let Err(why) = check_advert_int(opts.advert_int) {
        eprintln!("drift demo: --advert-int {}: {why}", opts.advert_int);
        return ExitCode::from(2);
    }
    if let Err(e) = watch_signals() {
        eprintln!("drift demo: {e:#}");
        return ExitCode::from(1);
    }
    let live = !opts.non_interactive && std::io::IsTerminal::is_terminal(&std::io::stdout());
    match script::run(&opts, live) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if interrupted() => {
            eprintln!("drift demo: {e:#}");
            ExitCode::from(130)
        }
        Err(e) => {
            eprintln!("drift demo: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// Whole seconds are VRRPv2 (1 to 255 s, RFC 3768 §5.3.7); a fraction makes the demo use v3,
/// whose interval is 0.01 to 40.95 s in centiseconds (RFC 5798 §5.2.7).
fn check_advert_int(secs: f64) -> Result<(), &'static str> {
    if secs.fract() == 0.0 {
        if (1.0..=255.0).contains(&secs) {
            return Ok(());
        }
        return Err("whole seconds must be 1 to 255");
    }
    if (0.01..=40.95).contains(&secs) {
        return Ok(());
    }
    Err("a fractional interval (VRRPv3) must be 0.01 to 40.95 seconds")
}

/// Catch SIGINT, SIGTERM and SIGHUP on a small thread of their own and raise [`STOP`], so the
/// demo always reaches its cleanup instead of dying with the lab still up.
fn watch_signals() -> Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("build the signal thread's runtime")?;
    // Register inside the runtime now, so a Ctrl-C right after this returns is caught.
    let (mut int, mut term, mut hup) = rt
        .block_on(async {
            Ok::<_, std::io::Error>((
                signal(SignalKind::interrupt())?,
                signal(SignalKind::terminate())?,
                signal(SignalKind::hangup())?,
            ))
        })
        .context("install signal handlers")?;
    std::thread::Builder::new()
        .name("demo-signals".into())
        .spawn(move || {
            rt.block_on(async {
                tokio::select! {
                    _ = int.recv() => {}
                    _ = term.recv() => {}
                    _ = hup.recv() => {}
                }
            });
            STOP.store(true, Ordering::Relaxed);
        })
        .context("spawn the signal thread")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advert_intervals_follow_the_vrrp_version_they_imply() {
        assert!(check_advert_int(1.0).is_ok() && check_advert_int(255.0).is_ok());
        assert!(check_advert_int(0.05).is_ok() && check_advert_int(40.95).is_ok());
        assert!(check_advert_int(0.0).is_err() && check_advert_int(256.0).is_err());
        assert!(check_advert_int(50.5).is_err() && check_advert_int(f64::NAN).is_err());
    }
}
