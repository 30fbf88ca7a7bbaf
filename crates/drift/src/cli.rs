//! Command-line interface. Arguments are kept as the user wrote them here and
//! resolved by the command modules.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Parser, Debug)]
#[command(
    name = "drift",
    version,
    about = "High availability for Linux services"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Check a keepalived configuration, like `keepalived -t`.
    Check {
        /// Configuration file.
        #[arg(
            short = 'f',
            long = "use-file",
            default_value = "/etc/keepalived/keepalived.conf"
        )]
        file: PathBuf,
        /// Print the resolved model.
        #[arg(long, value_enum)]
        dump: Option<DumpArg>,
        /// Check the example configurations bundled in the binary instead of a file.
        #[arg(long, conflicts_with = "file")]
        examples: bool,
        /// Check an nginx configuration (the load balancer's subset) instead of keepalived.conf.
        #[arg(long, value_name = "NGINX_CONF", conflicts_with_all = ["file", "examples"])]
        nginx: Option<PathBuf>,
        /// Also check the nginx configuration `drift run --proxy` would use, and that every
        /// track_upstream names one of its upstream groups.
        #[arg(long, value_name = "NGINX_CONF", conflicts_with_all = ["examples", "nginx"])]
        proxy: Option<PathBuf>,
    },
    /// Run the load balancer alone on an nginx configuration.
    Proxy {
        /// nginx configuration file (upstream/server/location/proxy_pass subset).
        #[arg(short = 'c', long = "conf", default_value = "/etc/nginx/nginx.conf")]
        conf: PathBuf,
        /// Worker threads (like nginx worker_processes); 0 = one per CPU.
        #[arg(short = 'w', long = "workers", default_value_t = 0)]
        workers: usize,
    },
    /// Show a failover: the seed article's MASTER/BACKUP pair in a throwaway namespace lab
    /// (needs root; touches no interface outside its own namespaces).
    Demo {
        /// Plain timeline lines only: no live status line, no colours.
        #[arg(long)]
        non_interactive: bool,
        /// VRRP advert interval in seconds (the article's 1; a fraction switches to VRRPv3).
        #[arg(long, value_name = "SECS", default_value_t = 1.0)]
        advert_int: f64,
    },
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Write man pages generated from this CLI into DIR (packaging).
    #[command(hide = true)]
    GenMan { dir: PathBuf },
    /// Run the VRRP daemon in the foreground (logs on stderr).
    Run {
        /// Configuration file.
        #[arg(
            short = 'f',
            long = "use-file",
            default_value = "/etc/keepalived/keepalived.conf"
        )]
        file: PathBuf,
        /// Log level: error, warn, info, debug, trace.
        #[arg(short = 'l', long = "log-level", default_value = "info")]
        log_level: String,
        /// Also run the load balancer on this nginx configuration, in this process.
        #[arg(long, value_name = "NGINX_CONF")]
        proxy: Option<PathBuf>,
        /// Proxy worker threads with --proxy; 0 = one per CPU.
        #[arg(long, default_value_t = 0)]
        proxy_workers: usize,
        #[command(flatten)]
        ops: OpsArgs,
    },
    /// Show the running daemon's state (per instance: state, priorities, VIPs, master, last
    /// transition, trackers, counters), read from its control socket.
    Status {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        /// Control socket of the daemon.
        #[arg(long, value_name = "PATH", default_value = crate::daemon::control::DEFAULT_SOCKET)]
        socket: PathBuf,
    },
    /// Make the running daemon reload its configuration (like SIGHUP) and wait for the result.
    Reload {
        /// Control socket of the daemon.
        #[arg(long, value_name = "PATH", default_value = crate::daemon::control::DEFAULT_SOCKET)]
        socket: PathBuf,
    },
    /// Print a signal's number, like `keepalived --signum=NAME` (STOP, RELOAD, DATA, STATS, JSON,
    /// STATS_CLEAR).
    Signal {
        /// keepalived signal name.
        name: String,
    },
}

/// `drift run` options for operators: control socket, dumps, admin port, log format.
#[derive(clap::Args, Debug)]
struct OpsArgs {
    /// Control socket for `drift status` / `drift reload` (0600; answers root and drift's user).
    #[arg(long, value_name = "PATH", default_value = crate::daemon::control::DEFAULT_SOCKET)]
    control_socket: PathBuf,
    /// Do not open a control socket.
    #[arg(long, conflicts_with = "control_socket")]
    no_control_socket: bool,
    /// Directory of the SIGUSR1/SIGUSR2/JSON dumps (drift.data, drift.stats, drift.json).
    #[arg(long, value_name = "DIR", default_value = "/tmp")]
    dump_dir: PathBuf,
    /// Serve Prometheus metrics (/metrics), a status page (/) and /status.json on ADDR:PORT.
    #[arg(long, value_name = "ADDR:PORT")]
    admin: Option<std::net::SocketAddr>,
    /// Log format on stderr.
    #[arg(long, value_enum, default_value = "text")]
    log_format: LogFormat,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Copy, Clone, Debug, ValueEnum)]
enum DumpArg {
    Json,
    Conf,
}

/// The CLI definition, for the generated man pages and completions.
pub fn command() -> clap::Command {
    <Cli as clap::CommandFactory>::command()
}

pub fn run() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Check {
            file,
            dump,
            examples,
            nginx,
            proxy,
        } => {
            if let Some(conf) = nginx {
                return crate::check::check_nginx(&conf);
            }
            let dump = dump.map(|d| match d {
                DumpArg::Json => drift_config::DumpFormat::Json,
                DumpArg::Conf => drift_config::DumpFormat::Conf,
            });
            let code = if examples {
                crate::check::check_examples(dump)
            } else if let Some(proxy) = proxy {
                crate::check::check_with_proxy(&file, &proxy, dump)
            } else {
                drift_config::check_command(&file, dump)
            };
            ExitCode::from(u8::try_from(code).unwrap_or(3))
        }
        Command::Proxy { conf, workers } => crate::check::run_proxy(&conf, workers),
        Command::Completions { shell } => crate::generate::completions(command(), shell),
        Command::GenMan { dir } => crate::generate::man_pages(command(), &dir),
        Command::Demo {
            non_interactive,
            advert_int,
        } => crate::demo::run(crate::demo::DemoOptions {
            non_interactive,
            advert_int,
        }),
        Command::Run {
            file,
            log_level,
            proxy,
            proxy_workers,
            ops,
        } => {
            match crate::daemon::run(crate::daemon::RunOptions {
                config: file,
                log_level,
                proxy,
                proxy_workers,
                log_json: ops.log_format == LogFormat::Json,
                ops: crate::daemon::ops::OpsOptions {
                    control_socket: (!ops.no_control_socket).then_some(ops.control_socket),
                    dump_dir: ops.dump_dir,
                    admin: ops.admin,
                },
            }) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("drift: {e:#}");
                    ExitCode::from(1)
                }
            }
        }
        Command::Status { json, socket } => {
            match crate::daemon::control::status_command(&socket, json) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("drift: {e:#}");
                    ExitCode::from(1)
                }
            }
        }
        Command::Reload { socket } => match crate::daemon::control::reload_command(&socket) {
            Ok(true) => ExitCode::SUCCESS,
            Ok(false) => ExitCode::from(1),
            Err(e) => {
                eprintln!("drift: {e:#}");
                ExitCode::from(1)
            }
        },
        Command::Signal { name } => match crate::daemon::signum::signum(&name) {
            Some(n) => {
                println!("{n}");
                ExitCode::SUCCESS
            }
            None => {
                let names: Vec<&str> = crate::daemon::signum::NAMES
                    .iter()
                    .map(|(n, _)| *n)
                    .collect();
                eprintln!(
                    "drift: unknown signal name `{name}` (drift handles {})",
                    names.join(", ")
                );
                ExitCode::from(1)
            }
        },
    }
}
