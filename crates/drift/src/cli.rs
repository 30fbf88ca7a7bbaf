//! Command-line interface. Arguments are kept as the user wrote them here and
//! resolved by the command modules.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Parser, Debug)]
#[command(name = "drift", version, about = "High availability for Linux services")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Check a keepalived configuration, like `keepalived -t`.
    Check {
        /// Configuration file.
        #[arg(short = 'f', long = "use-file", default_value = "/etc/keepalived/keepalived.conf")]
        file: PathBuf,
        /// Print the resolved model.
        #[arg(long, value_enum)]
        dump: Option<DumpArg>,
    },
}

#[derive(Copy, Clone, Debug, ValueEnum)]
enum DumpArg {
    Json,
    Conf,
}

pub fn run() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Check { file, dump } => {
            let _ = (file, dump);
            ExitCode::SUCCESS
        }
    }
}
