//! `vantage report`: what is blocked and since when, on the terminal or as an HTML page.
//! (Being built: issue 5.)

use clap::Args;
use std::path::PathBuf;

use crate::exit::{fatal, Exit};

/// Flags of `vantage report`.
#[derive(Args, Debug, Clone)]
pub struct ReportArgs {
    /// Results directory to read (as written by `run` and `daemon`).
    #[arg(long, value_name = "DIR", default_value = "results")]
    pub results: PathBuf,
    /// Also write a self-contained HTML page here.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
}

/// Prints the report (and writes the page).
pub fn report_main(_args: ReportArgs) -> Result<(), Exit> {
    Err(fatal("vantage report is not built yet"))
}
