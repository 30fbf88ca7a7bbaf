//! drift: keepalived-compatible VRRP and an nginx-style load balancer in one binary.
//!
//! `main` only parses the command line and maps results to exit codes; every
//! command lives in its own module so a reader finds behaviour by name.

use std::process::ExitCode;

mod check;
mod cli;
mod daemon;
mod demo;

fn main() -> ExitCode {
    cli::run()
}
