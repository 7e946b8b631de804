//! `vantage show RESULTS|FILE|- [URL|UID]`: what a researcher reads before trusting a verdict.
//! With a measurement's uid or URL, that measurement's steps as a table (`format`); without,
//! one line per measurement in the order they started (start time, uid, status, input).
//! RESULTS is a results directory, one JSONL file or `-` for stdin (`read`). Output goes
//! through `stdout` (`vantage show ... | head` ends quietly).

mod control;
pub mod format;
mod read;
#[cfg(test)]
mod tests;

use std::io;
use std::path::{Path, PathBuf};

use clap::Args;
use serde_json::Value;

use crate::exit::{fatal, usage, Exit};

/// Flags of `vantage show`.
#[derive(Args, Debug, Clone)]
pub struct ShowArgs {
    /// A results directory (every .jsonl under it is searched), one JSONL file, or - for
    /// stdin.
    #[arg(value_name = "RESULTS|FILE|-")]
    pub results: PathBuf,
    /// The measurement to show: its measurement_uid, or the URL measured (its latest
    /// measurement). Without it, the measurements are listed.
    #[arg(value_name = "URL|UID")]
    pub which: Option<String>,
}

/// Why nothing could be shown.
#[derive(Debug, thiserror::Error)]
pub enum ShowError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("no .jsonl file under {0}")]
    NoFiles(PathBuf),
    #[error("{0}: no measurement records")]
    NoRecords(PathBuf),
    #[error("no measurement of {which} in {path}")]
    NotFound { which: String, path: PathBuf },
}

/// Runs `vantage show`.
pub fn show_main(args: ShowArgs) -> Result<(), Exit> {
    let lines = match &args.which {
        None => list(&args.results),
        Some(which) => one(&args.results, which),
    }
    .map_err(|e| match e {
        ShowError::NotFound { .. } | ShowError::NoRecords(_) => fatal(e),
        _ => usage(e),
    })?;
    crate::stdout::print_lines(lines).map_err(|e| fatal(format!("cannot write to stdout: {e}")))
}

/// How many earlier measurements of the one shown are named, the latest first.
pub const EARLIER_NAMED: usize = 10;

/// One line per measurement, in the order they started (then file order): start time, uid,
/// status, input.
pub fn list(results: &Path) -> Result<Vec<String>, ShowError> {
    let mut rows = Vec::new();
    read::for_each_record(results, |record| rows.push(format::row(&record).to_vec()))?;
    rows.sort_by(|a, b| a[0].cmp(&b[0]));
    Ok(format::table(
        &["started", "measurement_uid", "status", "input"],
        &rows,
    ))
}

/// The steps of the measurement `which` names (a uid, or a URL: the latest measurement of it,
/// by start time then file order), then the earlier ones, one line each.
pub fn one(results: &Path, which: &str) -> Result<Vec<String>, ShowError> {
    let normalized = crate::targets::parse_entry(which).ok();
    let mut found: Option<(String, usize, Value)> = None;
    let mut earlier: Vec<(String, usize, [String; 4])> = Vec::new();
    let mut index = 0;
    read::for_each_record(results, |record| {
        index += 1;
        let by_uid = record["measurement_uid"] == which;
        let by_url = record["input"] == which
            || normalized
                .as_ref()
                .is_some_and(|u| record["x_input_normalized"] == u.as_str());
        if !(by_uid || by_url) {
            return;
        }
        let row = format::row(&record);
        let started = row[0].clone();
        match &found {
            Some((latest, _, _)) if *latest > started => earlier.push((started, index, row)),
            _ => {
                if let Some((t, i, before)) = found.replace((started, index, record)) {
                    earlier.push((t, i, format::row(&before)));
                }
            }
        }
    })?;
    let Some((_, _, record)) = found else {
        return Err(ShowError::NotFound {
            which: which.to_string(),
            path: results.to_path_buf(),
        });
    };
    let mut out = format::measurement(&record);
    out.extend(earlier_lines(earlier));
    Ok(out)
}

/// "N earlier measurement(s)", then one line per uid, the latest first, at most
/// `EARLIER_NAMED`.
fn earlier_lines(mut earlier: Vec<(String, usize, [String; 4])>) -> Vec<String> {
    if earlier.is_empty() {
        return vec![];
    }
    // Of two that started at once, the later in the files first.
    earlier.sort_by(|a, b| (&b.0, b.1).cmp(&(&a.0, a.1)));
    let mut out = vec![
        String::new(),
        format!(
            "{} earlier measurement(s) of it (show one by its uid):",
            earlier.len()
        ),
    ];
    let named: Vec<Vec<String>> = earlier
        .iter()
        .take(EARLIER_NAMED)
        .map(|(_, _, r)| r[..3].to_vec())
        .collect();
    out.extend(
        format::table(&[], &named)
            .into_iter()
            .map(|l| format!("  {l}")),
    );
    if earlier.len() > EARLIER_NAMED {
        out.push(format!("  … and {} more", earlier.len() - EARLIER_NAMED));
    }
    out
}
