//! `vantage report`: what is blocked and since when, on the terminal or as an HTML page.
//!
//! `load` streams a results directory (or `clickhouse` the fleet store) into the pure
//! aggregation of `summary` (one cell per run and target); `terminal` and `html` render it.
//! Exit status: 0 reported; 1 nothing to report or cannot read or write; 2 bad usage.

pub mod chart;
pub mod clickhouse;
pub mod html;
pub mod load;
pub mod summary;
pub mod terminal;

use clap::Args;
use std::path::PathBuf;

use crate::exit::{fatal, usage, Exit};
use load::Warnings;
use summary::Collector;

/// Flags of `vantage report`.
#[derive(Args, Debug, Clone)]
pub struct ReportArgs {
    /// Results directory to read (as written by `run` and `daemon`).
    #[arg(long, value_name = "DIR", default_value = "results")]
    pub results: PathBuf,
    /// Also write a self-contained HTML page here; `-` writes the page alone to stdout (the
    /// terminal report then goes to stderr).
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Read the fleet store instead of a results directory: ClickHouse's HTTP interface, e.g.
    /// http://127.0.0.1:8123/ (password from VANTAGE_CLICKHOUSE_PASSWORD).
    #[arg(long, value_name = "URL")]
    pub clickhouse: Option<String>,
    /// ClickHouse database.
    #[arg(
        long,
        value_name = "NAME",
        default_value = "vantage",
        requires = "clickhouse"
    )]
    pub database: String,
    /// ClickHouse table.
    #[arg(
        long,
        value_name = "NAME",
        default_value = "measurements",
        requires = "clickhouse"
    )]
    pub table: String,
    /// ClickHouse user.
    #[arg(long = "clickhouse-user", value_name = "USER", requires = "clickhouse")]
    pub clickhouse_user: Option<String>,
    /// Report only this vantage point's records (the daemon's `vantage_point`;
    /// [A-Za-z0-9._-]+). Without it the records must all come from one vantage point and
    /// network: records from several are refused (exit 2), since streaks and changes compare
    /// runs of one target and must not mix what different networks saw.
    #[arg(long = "vantage-point", value_name = "NAME")]
    pub vantage_point: Option<String>,
}

/// Prints the report (and writes the page).
pub fn report_main(args: ReportArgs) -> Result<(), Exit> {
    let mut collector = Collector::only(args.vantage_point.clone());
    let mut warnings = Warnings::stderr();
    let source = match &args.clickhouse {
        Some(url) => {
            let src = clickhouse::Source {
                url: url.clone(),
                database: args.database.clone(),
                table: args.table.clone(),
                user: args.clickhouse_user.clone(),
                password: std::env::var("VANTAGE_CLICKHOUSE_PASSWORD").ok(),
                vantage_point: args.vantage_point.clone(),
            };
            clickhouse::load(&src, &mut collector, &mut warnings)?;
            let mut source = format!(
                "ClickHouse {} {}.{}",
                clickhouse::display_url(url),
                args.database,
                args.table
            );
            if let Some(vp) = &args.vantage_point {
                source.push_str(&format!(" vantage point {vp}"));
            }
            source
        }
        None => {
            let files = load::load_dir(&args.results, &mut collector, &mut warnings)?;
            format!(
                "{} ({})",
                args.results.display(),
                terminal::count(files, "file")
            )
        }
    };
    warnings.finish();
    if collector.is_empty() {
        return Err(fatal(format!("nothing to report: no records in {source}")));
    }
    one_place(&collector, args.vantage_point.is_some())?;
    let summary = collector.finish();
    let text = terminal::render(&summary, &source);
    let Some(path) = &args.html else {
        return print_out(&text);
    };
    let results = match &args.clickhouse {
        Some(_) => "RESULTS".to_string(),
        None => args.results.display().to_string(),
    };
    let page = html::render(&summary, &source, &results);
    if path.as_os_str() == "-" {
        // stdout is the page alone (`> page.html`, a pipe); the person still reads the report.
        eprint!("{text}");
        return print_out(&page);
    }
    print_out(&text)?;
    std::fs::write(path, page)
        .map_err(|e| fatal(format!("cannot write {}: {e}", path.display())))?;
    print_out(&format!("\nHTML report written to {}\n", path.display()))
}

/// Writes to stdout; a reader that went away (`| head`) is not an error, a failed write (a
/// full disk under `--html - > page.html`) is.
fn print_out(text: &str) -> Result<(), Exit> {
    crate::stdout::print_bytes(text.as_bytes())
        .map_err(|e| fatal(format!("cannot write to stdout: {e}")))
}

/// Refuses measurements of several vantage points or networks (unless one was picked): a
/// blocked run from one network and an accessible run from another must never read as
/// "unblocked".
fn one_place(collector: &Collector, picked: bool) -> Result<(), Exit> {
    let places = collector.places();
    if picked || places.len() <= 1 {
        return Ok(());
    }
    let names: Vec<String> = places
        .iter()
        .take(10)
        .map(|p| {
            let vp = if p.vantage_point.is_empty() {
                "(no vantage point)"
            } else {
                &p.vantage_point
            };
            terminal::clean(&format!("{vp} {} {}", p.probe_cc, p.probe_asn))
        })
        .collect();
    Err(usage(format!(
        "records from {} vantage points or networks ({}): a report follows one vantage point's \
         runs; pass --vantage-point NAME, or keep each network's runs in a results directory of \
         its own",
        places.len(),
        names.join(", ")
    )))
}
