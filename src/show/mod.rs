//! `vantage show RESULTS|FILE [URL|UID]`: what a researcher reads before trusting a verdict.
//! With a measurement's uid or URL, that measurement's steps as a table (`format`); without,
//! one line per measurement (uid, status, input). RESULTS is a results directory (every
//! `.jsonl` under it is searched, in name order) or one JSONL file. A line that is not a
//! record is named as `FILE:LINE` on stderr and skipped. Output goes through `stdout`
//! (`vantage show ... | head` ends quietly).

mod clean;
pub mod format;
#[cfg(test)]
mod tests;

use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::{Path, PathBuf};

use clap::Args;
use serde_json::Value;

use crate::exit::{fatal, usage, Exit};

/// Flags of `vantage show`.
#[derive(Args, Debug, Clone)]
pub struct ShowArgs {
    /// A results directory (every .jsonl under it is searched) or one JSONL file.
    #[arg(value_name = "RESULTS|FILE")]
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
        ShowError::NotFound { .. } => fatal(e),
        _ => usage(e),
    })?;
    crate::stdout::print_lines(lines).map_err(|e| fatal(format!("cannot write to stdout: {e}")))
}

/// One line per measurement: uid, status, input.
pub fn list(results: &Path) -> Result<Vec<String>, ShowError> {
    let mut rows = Vec::new();
    for_each_record(results, |record| {
        rows.push(format::row(&record).to_vec());
    })?;
    Ok(format::table(
        &["measurement_uid", "status", "input"],
        &rows,
    ))
}

/// The steps of the measurement `which` names (a uid, or a URL: its latest measurement).
pub fn one(results: &Path, which: &str) -> Result<Vec<String>, ShowError> {
    let normalized = crate::targets::parse_entry(which).ok();
    let mut found: Option<Value> = None;
    let mut earlier: Vec<String> = Vec::new();
    for_each_record(results, |record| {
        let by_uid = record["measurement_uid"] == which;
        let by_url = record["input"] == which
            || normalized
                .as_ref()
                .is_some_and(|u| record["x_input_normalized"] == u.as_str());
        if by_uid || by_url {
            if let Some(before) = found.replace(record) {
                earlier.push(format::row(&before)[0].clone());
            }
        }
    })?;
    let Some(record) = found else {
        return Err(ShowError::NotFound {
            which: which.to_string(),
            path: results.to_path_buf(),
        });
    };
    let mut out = format::measurement(&record);
    if !earlier.is_empty() {
        out.push(String::new());
        out.push(format!(
            "{} earlier measurement(s) of it (show one by its uid): {}",
            earlier.len(),
            earlier.join(" ")
        ));
    }
    Ok(out)
}

/// Calls `f` with every record of every file, in order; names bad lines on stderr.
fn for_each_record(results: &Path, mut f: impl FnMut(Value)) -> Result<(), ShowError> {
    let read = |source| ShowError::Read {
        path: results.to_path_buf(),
        source,
    };
    let files = if std::fs::metadata(results).map_err(read)?.is_dir() {
        let files = jsonl_under(results);
        if files.is_empty() {
            return Err(ShowError::NoFiles(results.to_path_buf()));
        }
        files
    } else {
        vec![results.to_path_buf()]
    };
    for path in files {
        let file = File::open(&path).map_err(|source| ShowError::Read {
            path: path.clone(),
            source,
        })?;
        for (i, line) in BufReader::new(file).split(b'\n').enumerate() {
            let at = format!("{}:{}", path.display(), i + 1);
            match line.map_err(|e| e.to_string()).and_then(|l| parse(&l)) {
                Ok(Some(record)) => f(record),
                Ok(None) => {}
                Err(why) => eprintln!("{at}: skipped: {why}"),
            }
        }
    }
    Ok(())
}

/// A line as a record; `None` for a blank line.
fn parse(line: &[u8]) -> Result<Option<Value>, String> {
    if line.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let value: Value = serde_json::from_slice(line).map_err(|e| format!("not JSON ({e})"))?;
    if !value["measurement_uid"].is_string() {
        return Err("not a measurement record (no measurement_uid)".into());
    }
    Ok(Some(value))
}

/// Every `.jsonl` file under `dir` (any depth; names starting with a dot skipped), sorted.
fn jsonl_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(d) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            if e.file_name().as_encoded_bytes().starts_with(b".") {
                continue;
            }
            let path = e.path();
            match e.file_type() {
                Ok(t) if t.is_dir() => dirs.push(path),
                Ok(t) if t.is_file() && path.extension().is_some_and(|x| x == "jsonl") => {
                    files.push(path)
                }
                _ => {}
            }
        }
    }
    files.sort();
    files
}
