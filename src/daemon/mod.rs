//! `vantage daemon` and `vantage status`: scheduled measurement for unattended vantage points.
//! (Being built: issue 5.)

use clap::Args;
use std::path::PathBuf;

use crate::exit::{fatal, Exit};

/// Flags of `vantage daemon`.
#[derive(Args, Debug, Clone)]
pub struct DaemonArgs {
    /// TOML config of schedules, results, shipping.
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// Log format: human or json.
    #[arg(long = "log-format", value_name = "FORMAT", default_value = "human")]
    pub log_format: String,
}

/// Flags of `vantage status`.
#[derive(Args, Debug, Clone)]
pub struct StatusArgs {
    /// The daemon's TOML config.
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
}

/// Runs the daemon until SIGTERM or SIGINT.
pub fn daemon_main(_args: DaemonArgs) -> Result<(), Exit> {
    Err(fatal("vantage daemon is not built yet"))
}

/// Prints what ran, when, and what is due.
pub fn status_main(_args: StatusArgs) -> Result<(), Exit> {
    Err(fatal("vantage status is not built yet"))
}
