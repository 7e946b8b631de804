//! Sinks: where finished records go. The JSONL sink appends one whole line per record to
//! `DIR/YYYY-MM-DD/<run_id>.jsonl`, each with a single `write` and no userspace buffer, so a
//! crash or `kill -9` loses only measurements still in flight.
//!
//! The kernel may cut a single large write short if the process is killed inside that very
//! system call; `repair_torn_tails` truncates such a partial last line the next time a run
//! starts in the same results directory, so the files only ever hold whole lines.
//!
//! The stdout sink (`--out -`) writes each line whole and flushed, for `vantage run --out - |
//! jq`; a reader that goes away (`| head -1`) is `SinkError::closed`, which ends the run
//! cleanly rather than as a failure.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The probe cannot write its results: a fault of the probe, not of the network.
#[derive(Debug, thiserror::Error)]
#[error("cannot write results to {path}: {source}")]
pub struct SinkError {
    pub path: PathBuf,
    #[source]
    pub source: io::Error,
}

impl SinkError {
    /// The reader of stdout went away (a closed pipe): no fault of the probe.
    pub fn closed(&self) -> bool {
        self.source.kind() == io::ErrorKind::BrokenPipe
    }
}

/// Receives finished records, already serialized as one line each.
pub trait Sink: Send {
    fn write_line(&mut self, line: &[u8]) -> Result<(), SinkError>;
    /// Makes everything written durable.
    fn finish(&mut self) -> Result<(), SinkError>;
    /// Where the lines go (`-` for stdout).
    fn path(&self) -> &Path;
}

/// Writes lines to stdout, each whole and flushed at once (nothing else writes to stdout
/// while a run writes records there).
pub struct StdoutSink {
    path: PathBuf,
}

impl StdoutSink {
    pub fn new() -> StdoutSink {
        StdoutSink {
            path: PathBuf::from("-"),
        }
    }
}

impl Default for StdoutSink {
    fn default() -> StdoutSink {
        StdoutSink::new()
    }
}

impl Sink for StdoutSink {
    fn write_line(&mut self, line: &[u8]) -> Result<(), SinkError> {
        let mut out = io::stdout().lock();
        out.write_all(line)
            .and_then(|()| out.flush())
            .map_err(|source| SinkError {
                path: self.path.clone(),
                source,
            })
    }

    fn finish(&mut self) -> Result<(), SinkError> {
        Ok(())
    }

    fn path(&self) -> &Path {
        &self.path
    }
}

/// Appends lines to one JSONL file.
pub struct JsonlSink {
    path: PathBuf,
    file: File,
    last_sync: Instant,
}

/// How often written lines are forced to disk (a kill never needs it; a power cut does).
const SYNC_EVERY: Duration = Duration::from_secs(1);

impl JsonlSink {
    /// Creates `dir/<date>/<run_id>.jsonl` (and the directories).
    pub fn create(dir: &Path, date: &str, run_id: &str) -> Result<JsonlSink, SinkError> {
        let day = dir.join(date);
        let err = |path: &Path, source| SinkError {
            path: path.to_path_buf(),
            source,
        };
        fs::create_dir_all(&day).map_err(|e| err(&day, e))?;
        let path = day.join(format!("{run_id}.jsonl"));
        let file = OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(&path)
            .map_err(|e| err(&path, e))?;
        Ok(JsonlSink {
            path,
            file,
            last_sync: Instant::now(),
        })
    }

    /// Opens an existing `path` for appending (resuming an interrupted cycle), creating it if
    /// it is missing. Cut a torn tail first (`repair_file`) so appended lines stay whole.
    pub fn append(path: &Path) -> Result<JsonlSink, SinkError> {
        let err = |path: &Path, source| SinkError {
            path: path.to_path_buf(),
            source,
        };
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).map_err(|e| err(dir, e))?;
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| err(path, e))?;
        Ok(JsonlSink {
            path: path.to_path_buf(),
            file,
            last_sync: Instant::now(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Sink for JsonlSink {
    fn write_line(&mut self, line: &[u8]) -> Result<(), SinkError> {
        debug_assert!(line.ends_with(b"\n"));
        self.file.write_all(line).map_err(|source| SinkError {
            path: self.path.clone(),
            source,
        })?;
        if self.last_sync.elapsed() >= SYNC_EVERY {
            self.last_sync = Instant::now();
            let _ = self.file.sync_data();
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<(), SinkError> {
        self.file.sync_all().map_err(|source| SinkError {
            path: self.path.clone(),
            source,
        })
    }

    fn path(&self) -> &Path {
        &self.path
    }
}

/// Every results file: `DIR/*/*.jsonl` (regular files only; entries whose name starts with a
/// dot, at either level, are skipped), sorted. A missing or unreadable directory has none.
pub fn jsonl_files(dir: &Path) -> Vec<PathBuf> {
    let visible = |e: &fs::DirEntry| !e.file_name().as_encoded_bytes().starts_with(b".");
    let mut files = Vec::new();
    let Ok(days) = fs::read_dir(dir) else {
        return files;
    };
    for day in days.flatten().filter(visible) {
        if !day.path().is_dir() {
            continue;
        }
        let Ok(entries) = fs::read_dir(day.path()) else {
            continue;
        };
        files.extend(
            entries
                .flatten()
                .filter(visible)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "jsonl") && p.is_file()),
        );
    }
    files.sort();
    files
}

/// Replaces `dir/name` with `bytes` atomically and durably: a crash leaves the old file or the
/// new one, never a mix (temp file named by pid, fsync, rename, fsync of the directory).
pub fn replace_file(dir: &Path, name: &str, bytes: &[u8]) -> io::Result<()> {
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let mut f = File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    drop(f);
    fs::rename(&tmp, dir.join(name))?;
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Truncates a partial last line left in any `DIR/*/*.jsonl` by a process killed mid-write.
/// Returns the files repaired. Only the last byte of each file is read unless it needs repair.
pub fn repair_torn_tails(dir: &Path) -> Vec<PathBuf> {
    let mut repaired = Vec::new();
    for path in jsonl_files(dir) {
        if repair_one(&path).unwrap_or(false) {
            tracing::warn!(
                "{}: removed a partial last line left by an interrupted run",
                path.display()
            );
            repaired.push(path);
        }
    }
    repaired
}

/// Cuts a partial last line of one file; true when it had one. A missing file needs nothing.
pub fn repair_file(path: &Path) -> io::Result<bool> {
    match repair_one(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        r => r,
    }
}

fn repair_one(path: &Path) -> io::Result<bool> {
    let mut file = OpenOptions::new().read(true).write(true).open(path)?;
    let len = file.metadata()?.len();
    if len == 0 {
        return Ok(false);
    }
    let mut last = [0u8; 1];
    file.seek(SeekFrom::Start(len - 1))?;
    file.read_exact(&mut last)?;
    if last[0] == b'\n' {
        return Ok(false);
    }
    // Find the last newline, reading backwards in blocks.
    let mut end = len;
    let mut keep = 0;
    let mut buf = vec![0u8; 64 * 1024];
    while end > 0 {
        let start = end.saturating_sub(buf.len() as u64);
        let n = (end - start) as usize;
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(&mut buf[..n])?;
        if let Some(pos) = buf[..n].iter().rposition(|b| *b == b'\n') {
            keep = start + pos as u64 + 1;
            break;
        }
        end = start;
    }
    file.set_len(keep)?;
    file.sync_all()?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jsonl_files_lists_day_directories_jsonl_files_only() {
        let dir = tempfile::tempdir().unwrap();
        let day = dir.path().join("2026-11-23");
        fs::create_dir_all(day.join("sub.jsonl")).unwrap();
        fs::create_dir_all(dir.path().join(".hidden")).unwrap();
        fs::write(dir.path().join(".hidden/x.jsonl"), b"").unwrap();
        fs::write(dir.path().join("top.jsonl"), b"").unwrap();
        for f in ["b.jsonl", "a.jsonl", "a.txt", ".x.jsonl"] {
            fs::write(day.join(f), b"").unwrap();
        }
        assert_eq!(
            jsonl_files(dir.path()),
            [day.join("a.jsonl"), day.join("b.jsonl")]
        );
        assert!(jsonl_files(&dir.path().join("missing")).is_empty());
    }

    #[test]
    fn torn_last_line_is_cut_and_whole_lines_kept() {
        let dir = tempfile::tempdir().unwrap();
        let day = dir.path().join("2026-11-23");
        fs::create_dir_all(&day).unwrap();
        let torn = day.join("a.jsonl");
        fs::write(&torn, b"{\"a\":1}\n{\"b\":2}\n{\"c\":").unwrap();
        let whole = day.join("b.jsonl");
        fs::write(&whole, b"{\"a\":1}\n").unwrap();
        let only_torn = day.join("c.jsonl");
        fs::write(&only_torn, b"{\"a\":").unwrap();
        let mut fixed = repair_torn_tails(dir.path());
        fixed.sort();
        assert_eq!(fixed, vec![torn.clone(), only_torn.clone()]);
        assert_eq!(fs::read(&torn).unwrap(), b"{\"a\":1}\n{\"b\":2}\n");
        assert_eq!(fs::read(&whole).unwrap(), b"{\"a\":1}\n");
        assert_eq!(fs::read(&only_torn).unwrap(), b"");
    }

    #[test]
    fn sink_refuses_to_overwrite_and_names_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = JsonlSink::create(dir.path(), "2026-11-23", "run").unwrap();
        s.write_line(b"{}\n").unwrap();
        s.finish().unwrap();
        let err = JsonlSink::create(dir.path(), "2026-11-23", "run")
            .err()
            .unwrap();
        assert!(err.to_string().contains("run.jsonl"), "{err}");
    }

    #[test]
    fn append_continues_a_repaired_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d/cycle.jsonl");
        assert!(!repair_file(&path).unwrap(), "missing is fine");
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, b"{\"a\":1}\n{\"b\"").unwrap();
        assert!(repair_file(&path).unwrap());
        let mut s = JsonlSink::append(&path).unwrap();
        s.write_line(b"{\"c\":3}\n").unwrap();
        s.finish().unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"{\"a\":1}\n{\"c\":3}\n");
    }
}
