//! drift: keepalived-compatible VRRP and an nginx-style load balancer in one binary.
//!
//! `main` only parses the command line and maps results to exit codes; every
//! command lives in its own module so a reader finds behaviour by name.

use std::process::ExitCode;

mod check;
mod cli;
mod daemon;
mod demo;
mod generate;

fn main() -> ExitCode {
    cli::run()
}

/// Under proxy load glibc malloc (`_int_malloc`, `_int_free`, `malloc_consolidate`) took ~6% of
/// a worker (perf, `drift proxy -w 1` at 100 keep-alive connections); mimalloc's thread-local
/// free lists suit the many short-lived per-request allocations of the worker threads.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
