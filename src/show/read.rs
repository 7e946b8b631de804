//! Reading records for `vantage show`: a results directory (every `.jsonl` under it, in name
//! order), one JSONL file, or `-` for stdin. A line that is not a record is named as
//! `FILE:LINE` on stderr and skipped, the first `SKIPS_NAMED` of them, then one line counting
//! the rest; a source that holds no record at all is an error (`FILE: no measurement records`).

use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::ShowError;

/// How many skipped lines are named one by one; the rest are counted.
pub const SKIPS_NAMED: usize = 5;

/// What the command line names: `-` is stdin.
fn is_stdin(results: &Path) -> bool {
    results == Path::new("-")
}

/// Calls `f` with every record of every file, in order; names bad lines on stderr (the first
/// `SKIPS_NAMED`, then a count). Returns how many records there were: never 0.
pub fn for_each_record(results: &Path, mut f: impl FnMut(Value)) -> Result<usize, ShowError> {
    let mut skips = Skips::default();
    let mut records = 0;
    let mut each = |value| {
        records += 1;
        f(value)
    };
    if is_stdin(results) {
        scan(io::stdin().lock(), "stdin", &mut skips, &mut each).map_err(|source| {
            ShowError::Read {
                path: results.to_path_buf(),
                source,
            }
        })?;
    } else {
        for path in files(results)? {
            let read = |source| ShowError::Read {
                path: path.clone(),
                source,
            };
            let file = File::open(&path).map_err(read)?;
            let name = path.display().to_string();
            scan(BufReader::new(file), &name, &mut skips, &mut each).map_err(read)?;
        }
    }
    skips.finish();
    match records {
        0 => Err(ShowError::NoRecords(results.to_path_buf())),
        n => Ok(n),
    }
}

/// The files `results` names: itself, or every `.jsonl` under the directory it is.
fn files(results: &Path) -> Result<Vec<PathBuf>, ShowError> {
    let meta = std::fs::metadata(results).map_err(|source| ShowError::Read {
        path: results.to_path_buf(),
        source,
    })?;
    if !meta.is_dir() {
        return Ok(vec![results.to_path_buf()]);
    }
    let files = jsonl_under(results);
    if files.is_empty() {
        return Err(ShowError::NoFiles(results.to_path_buf()));
    }
    Ok(files)
}

/// Every record of one source, in order; a read error ends it.
fn scan(
    reader: impl BufRead,
    name: &str,
    skips: &mut Skips,
    f: &mut impl FnMut(Value),
) -> io::Result<()> {
    for (i, line) in reader.split(b'\n').enumerate() {
        match parse(&line?) {
            Ok(Some(record)) => f(record),
            Ok(None) => {}
            Err(why) => skips.skip(name, i + 1, &why),
        }
    }
    Ok(())
}

/// Skipped lines: the first few named, the rest counted.
#[derive(Default)]
struct Skips {
    count: usize,
}

impl Skips {
    fn skip(&mut self, name: &str, line: usize, why: &str) {
        self.count += 1;
        if self.count <= SKIPS_NAMED {
            eprintln!("{}:{line}: skipped: {why}", crate::screen::escape(name));
        }
    }

    fn finish(self) {
        if self.count > SKIPS_NAMED {
            eprintln!("… {} more lines skipped", self.count - SKIPS_NAMED);
        }
    }
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
