//! What the daemon remembers per schedule, across restarts: the last cycles, how many overran,
//! when the next is due, and the cycle in progress (its run id, file and the fingerprint of its
//! target lists) so a restart after a crash resumes it instead of measuring again. One JSON file
//! per schedule in the state directory, replaced atomically (write a temp file, fsync, rename).
//!
//! The cycle in progress also counts the measurements the process died in
//! (`Current::crashed`, from the in-flight marks of `poison.rs`).

use std::collections::HashSet;
use std::fs;
use std::io::{self, BufRead, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Cycles kept in the history.
pub const HISTORY: usize = 50;

/// A finished (or stopped) cycle.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct CycleRecord {
    pub run_id: String,
    pub file: PathBuf,
    /// Unix seconds.
    pub started: f64,
    pub ended: f64,
    /// Records written by this cycle (all of its runs, resumed ones included).
    pub measured: u64,
    /// Whether it ended after the next cycle was due.
    pub overran: bool,
    /// How its control fared, by target (of its last run; `None`: no control, or not known).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control: Option<crate::control::health::ControlHealth>,
}

/// A measurement the process died in, and how many times.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Crash {
    pub input: String,
    pub repeat: u32,
    #[serde(default)]
    pub category_code: Option<String>,
    pub count: u32,
    /// Its latest crash had no other measurement in flight: the blame is certain.
    pub alone: bool,
}

/// The cycle in progress (written when it starts, cleared when it ends).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Current {
    pub run_id: String,
    pub file: PathBuf,
    pub started: f64,
    /// SHA-256 of the target lists and the repeat count: a resumed cycle must measure the
    /// same thing.
    pub fingerprint: String,
    /// Times it was resumed after an interruption.
    #[serde(default)]
    pub resumed: u32,
    /// Seconds spent measuring in its earlier, cleanly stopped runs (not the downtime between
    /// them): what counts toward an overrun. A run ended by a crash is not counted.
    #[serde(default)]
    pub active: f64,
    /// Measurements the process died in, not written yet.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub crashed: Vec<Crash>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct ScheduleState {
    pub name: String,
    /// When the next cycle is due (unix seconds).
    pub next_due: Option<f64>,
    pub current: Option<Current>,
    /// Most recent last.
    #[serde(default)]
    pub history: Vec<CycleRecord>,
    #[serde(default)]
    pub cycles: u64,
    #[serde(default)]
    pub overruns: u64,
}

/// Path of a schedule's state file.
pub fn path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.json"))
}

/// Reads a schedule's state; a missing file is a fresh state.
pub fn load(dir: &Path, name: &str) -> io::Result<ScheduleState> {
    let p = path(dir, name);
    match fs::read(&p) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
            io::Error::new(io::ErrorKind::InvalidData, format!("{}: {e}", p.display()))
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(ScheduleState {
            name: name.to_string(),
            ..Default::default()
        }),
        Err(e) => Err(e),
    }
}

/// Writes a schedule's state atomically: a crash leaves the old file or the new one.
pub fn save(dir: &Path, state: &ScheduleState) -> io::Result<()> {
    fs::create_dir_all(dir)?;
    let bytes = serde_json::to_vec_pretty(state).expect("state serializes");
    crate::sink::replace_file(dir, &format!("{}.json", state.name), &bytes)
}

/// Fingerprint of what a cycle measures: the lists' paths and contents, and the repeats.
pub fn fingerprint(lists: &[PathBuf], repeats: u32) -> io::Result<String> {
    let mut h = Sha256::new();
    for l in lists {
        h.update(l.display().to_string().as_bytes());
        h.update([0]);
        h.update(fs::read(l)?);
        h.update([0]);
    }
    h.update(repeats.to_le_bytes());
    Ok(hex::encode(h.finalize()))
}

/// The (input, repeat) pairs whose whole lines are in `file` (repeat 1 when not annotated).
/// Lines that do not decode (not JSON, not UTF-8, no input) are skipped, not fatal: they must
/// not hide the pairs on the other lines. An I/O error is returned, and the caller must not
/// take it as "nothing written" (that measures the whole cycle again).
pub fn written(file: &Path) -> io::Result<HashSet<(String, u32)>> {
    let mut done = HashSet::new();
    let f = match fs::File::open(file) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(done),
        Err(e) => return Err(e),
    };
    #[derive(Deserialize)]
    struct Line {
        input: String,
        #[serde(default)]
        annotations: std::collections::BTreeMap<String, String>,
    }
    let mut reader = io::BufReader::new(f);
    let mut line = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        if let Ok(l) = serde_json::from_slice::<Line>(&line) {
            let repeat = l
                .annotations
                .get("repeat")
                .and_then(|r| r.parse().ok())
                .unwrap_or(1);
            done.insert((l.input, repeat));
        }
    }
    Ok(done)
}

/// The pid file of a state directory: a running daemon holds an exclusive lock on it for its
/// whole life (the kernel drops the lock when the process dies, however it dies) and writes
/// its pid into it for `vantage status`.
pub fn pid_path(dir: &Path) -> PathBuf {
    dir.join("daemon.pid")
}

/// The pid written in the pid file (0 when unreadable).
fn read_pid(f: &mut fs::File) -> u32 {
    use std::io::{Read, Seek};
    let mut text = String::new();
    let _ = f.rewind();
    let _ = f.read_to_string(&mut text);
    text.trim().parse().unwrap_or(0)
}

/// The pid of the daemon holding `dir`'s lock, if one does (0 when it holds the lock but its
/// pid is not written yet). Takes a shared lock for an instant; needs only read access.
pub fn running_daemon(dir: &Path) -> Option<u32> {
    let mut f = fs::File::open(pid_path(dir)).ok()?;
    match f.try_lock_shared() {
        Ok(()) => {
            let _ = f.unlock();
            None
        }
        Err(fs::TryLockError::WouldBlock) => Some(read_pid(&mut f)),
        Err(fs::TryLockError::Error(_)) => None,
    }
}

/// The exclusive claim of a state directory: the locked pid file. Dropping it releases the
/// lock (so does the process dying).
#[derive(Debug)]
pub struct Claim {
    file: fs::File,
}

/// Claims `dir` for this process; fails with the other daemon's pid when one holds it.
pub fn claim(dir: &Path) -> Result<Claim, String> {
    let p = pid_path(dir);
    let mut file = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&p)
        .map_err(|e| format!("cannot open {}: {e}", p.display()))?;
    // Twice: `vantage status` takes a shared lock for an instant.
    let mut tries = 0;
    loop {
        match file.try_lock() {
            Ok(()) => break,
            Err(fs::TryLockError::WouldBlock) if tries < 1 => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(200));
            }
            Err(fs::TryLockError::WouldBlock) => {
                let pid = read_pid(&mut file);
                return Err(format!(
                    "another vantage daemon (pid {pid}) is using the state directory {}",
                    dir.display()
                ));
            }
            Err(fs::TryLockError::Error(e)) => {
                return Err(format!("cannot lock {}: {e}", p.display()))
            }
        }
    }
    file.set_len(0)
        .and_then(|_| (&file).write_all(format!("{}\n", std::process::id()).as_bytes()))
        .and_then(|_| file.sync_all())
        .map_err(|e| format!("cannot write {}: {e}", p.display()))?;
    Ok(Claim { file })
}

impl Claim {
    /// Releases the claim on a clean stop: empties the pid file (never removes it: a daemon
    /// starting now may have opened it already, and a lock on a removed file excludes nobody).
    pub fn release(self) {
        let _ = self.file.set_len(0);
    }
}

/// Unix seconds now.
pub fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_round_trips_and_replaces_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let fresh = load(dir.path(), "cn").unwrap();
        assert_eq!(fresh.name, "cn");
        assert!(fresh.current.is_none());
        let mut s = fresh.clone();
        s.next_due = Some(12.5);
        s.current = Some(Current {
            run_id: "r".into(),
            file: "f.jsonl".into(),
            started: 1.0,
            fingerprint: "x".into(),
            resumed: 0,
            active: 0.0,
            crashed: vec![Crash {
                input: "https://b/".into(),
                repeat: 1,
                category_code: None,
                count: 1,
                alone: false,
            }],
        });
        save(dir.path(), &s).unwrap();
        save(dir.path(), &s).unwrap();
        assert_eq!(load(dir.path(), "cn").unwrap(), s);
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(
            names,
            vec![std::ffi::OsString::from("cn.json")],
            "no temp left"
        );
    }

    #[test]
    fn written_reads_inputs_and_repeats() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("c.jsonl");
        fs::write(
            &f,
            "{\"input\":\"https://a/\",\"annotations\":{\"repeat\":\"2\"}}\n\
             {\"input\":\"https://b/\"}\nnot json\n",
        )
        .unwrap();
        let w = written(&f).unwrap();
        assert!(w.contains(&("https://a/".into(), 2)));
        assert!(w.contains(&("https://b/".into(), 1)));
        assert_eq!(w.len(), 2);
    }

    #[test]
    fn written_skips_lines_that_are_not_utf8() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("c.jsonl");
        let mut text = b"{\"input\":\"https://a/\"}\n".to_vec();
        text.extend_from_slice(b"{\"input\":\"\xff\xfe\"}\n\x80\x81 garbage\n");
        text.extend_from_slice(b"{\"input\":\"https://b/\",\"annotations\":{\"repeat\":\"3\"}}\n");
        text.extend_from_slice(b"{\"input\":\"https://c/\"}"); // last line, no newline
        fs::write(&f, text).unwrap();
        let w = written(&f).unwrap();
        assert!(w.contains(&("https://a/".into(), 1)), "{w:?}");
        assert!(w.contains(&("https://b/".into(), 3)), "{w:?}");
        assert!(w.contains(&("https://c/".into(), 1)), "{w:?}");
        assert_eq!(w.len(), 3, "{w:?}");
    }

    #[test]
    fn written_reports_io_errors() {
        let dir = tempfile::tempdir().unwrap();
        // A directory opens but does not read.
        assert!(written(dir.path()).is_err());
        assert!(written(&dir.path().join("missing.jsonl"))
            .unwrap()
            .is_empty());
    }

    #[test]
    fn the_claim_is_an_exclusive_lock() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(running_daemon(dir.path()), None);
        let claim = claim(dir.path()).unwrap();
        assert_eq!(running_daemon(dir.path()), Some(std::process::id()));
        // A second claim (another open file description, as another process would have)
        // is refused while the first is held.
        let err = super::claim(dir.path()).unwrap_err();
        assert!(err.contains("another vantage daemon"), "{err}");
        assert!(err.contains(&std::process::id().to_string()), "{err}");
        claim.release();
        assert_eq!(running_daemon(dir.path()), None);
        // Released: claimable again, pid file kept.
        let again = super::claim(dir.path()).unwrap();
        assert!(pid_path(dir.path()).exists());
        drop(again);
        assert_eq!(running_daemon(dir.path()), None);
    }
}
