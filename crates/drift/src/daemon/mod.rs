//! `drift run`: the VRRP daemon. (Being written.)

use std::path::PathBuf;

/// Options of `drift run`, as the user wrote them.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub config: PathBuf,
    pub log_level: String,
}

pub fn run(opts: RunOptions) -> anyhow::Result<()> {
    anyhow::bail!(
        "drift run is not implemented yet ({}, log level {})",
        opts.config.display(),
        opts.log_level
    )
}
