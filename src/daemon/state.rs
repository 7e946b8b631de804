//! What the daemon remembers per schedule, across restarts: the last cycles, how many overran,
//! when the next is due, and the cycle in progress (its run id, file and the fingerprint of its
//! target lists) so a restart after a crash resumes it instead of measuring again. One JSON file
//! per schedule in the state directory, replaced atomically (write a temp file, fsync, rename).

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
    let p = path(dir, &state.name);
    let tmp = dir.join(format!(".{}.json.tmp", state.name));
    {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(&serde_json::to_vec_pretty(state).expect("state serializes"))?;
        f.sync_all()?;
    }
    fs::rename(&tmp, &p)?;
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
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
    for line in io::BufReader::new(f).lines() {
        let line = line?;
        if let Ok(l) = serde_json::from_str::<Line>(&line) {
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

/// The pid file that marks a state directory as in use by a running daemon.
pub fn pid_path(dir: &Path) -> PathBuf {
    dir.join("daemon.pid")
}

/// The pid of another live `vantage` process holding `dir`, if any (Linux: /proc).
pub fn running_daemon(dir: &Path) -> Option<u32> {
    let pid: u32 = fs::read_to_string(pid_path(dir))
        .ok()?
        .trim()
        .parse()
        .ok()?;
    if pid == std::process::id() {
        return None;
    }
    let cmdline = fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let text = String::from_utf8_lossy(&cmdline);
    (text.contains("vantage") && text.contains("daemon")).then_some(pid)
}

/// Marks `dir` as ours; fails with the other daemon's pid when one is running.
pub fn claim(dir: &Path) -> Result<(), String> {
    if let Some(pid) = running_daemon(dir) {
        return Err(format!(
            "another vantage daemon (pid {pid}) is using the state directory {}",
            dir.display()
        ));
    }
    let tmp = dir.join(".daemon.pid.tmp");
    fs::write(&tmp, format!("{}\n", std::process::id()))
        .and_then(|_| fs::rename(&tmp, pid_path(dir)))
        .map_err(|e| format!("cannot write {}: {e}", pid_path(dir).display()))
}

/// Removes our pid file (on a clean stop).
pub fn release(dir: &Path) {
    let p = pid_path(dir);
    if fs::read_to_string(&p)
        .ok()
        .and_then(|t| t.trim().parse::<u32>().ok())
        == Some(std::process::id())
    {
        let _ = fs::remove_file(p);
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
}
