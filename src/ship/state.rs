//! How far each results file has been shipped: `DIR/.shipped.json`, per destination
//! (`scheme://host:port/path database.table`, never credentials) and per file (relative to DIR),
//! the byte offset just past the last whole line that ClickHouse acknowledged.
//!
//! The file is replaced atomically (write a temp file, fsync, rename, fsync the directory) and
//! only after ClickHouse acknowledged the batch, so a crash loses no progress that was not
//! shipped; a crash between the insert and the rename re-inserts that batch on the next start,
//! which the table's ReplacingMergeTree (and `FINAL` on read) turns into no duplicate.
//!
//! It also remembers, per destination, the lines set aside: lines the store refused even when
//! sent alone (too big for its front, not parseable by it), which progress moved past. How many
//! in all, and the latest `SET_ASIDE_KEPT` of them (file, line, byte offset, size, reason).

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::Path;

use serde::{Deserialize, Serialize};

pub const STATE_FILE: &str = ".shipped.json";
/// Set-aside lines listed per destination (the count goes on).
pub const SET_ASIDE_KEPT: usize = 100;

/// A line the store refused even alone: never sent again.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SetAsideLine {
    /// Relative to the results dir, `/`-separated.
    pub file: String,
    /// 1-based line number.
    pub line: u64,
    /// Byte offset of the line's start.
    pub offset: u64,
    pub bytes: u64,
    pub reason: String,
    /// Unix seconds.
    pub at: u64,
}

/// The lines set aside for one destination.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct SetAside {
    pub count: u64,
    /// The latest, oldest first.
    pub lines: Vec<SetAsideLine>,
}

#[derive(Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct State {
    pub version: u32,
    /// destination -> file (relative to the results dir, `/`-separated) -> offset.
    pub destinations: BTreeMap<String, BTreeMap<String, u64>>,
    /// destination -> the lines set aside there.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub set_aside: BTreeMap<String, SetAside>,
}

impl State {
    /// Reads the state; a missing file is an empty state, an unreadable one an error (shipping
    /// everything again would be safe but is better decided by a person).
    pub fn load(dir: &Path) -> io::Result<State> {
        let path = dir.join(STATE_FILE);
        match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{} is damaged ({e}); remove it to ship everything again (nothing is duplicated)", path.display()),
                )
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(State {
                version: 1,
                ..State::default()
            }),
            Err(e) => Err(e),
        }
    }

    /// Replaces the state file atomically and durably.
    pub fn save(&self, dir: &Path) -> io::Result<()> {
        let bytes = serde_json::to_vec(self).expect("state serializes");
        crate::sink::replace_file(dir, STATE_FILE, &bytes)
    }

    pub fn offset(&self, dest: &str, file: &str) -> u64 {
        self.destinations
            .get(dest)
            .and_then(|f| f.get(file))
            .copied()
            .unwrap_or(0)
    }

    pub fn set(&mut self, dest: &str, file: &str, offset: u64) {
        self.destinations
            .entry(dest.to_string())
            .or_default()
            .insert(file.to_string(), offset);
    }

    /// Remembers a line set aside for `dest` (and moves nothing: the caller saves progress).
    pub fn set_aside(&mut self, dest: &str, line: SetAsideLine) {
        let s = self.set_aside.entry(dest.to_string()).or_default();
        s.count += 1;
        s.lines.push(line);
        if s.lines.len() > SET_ASIDE_KEPT {
            let extra = s.lines.len() - SET_ASIDE_KEPT;
            s.lines.drain(..extra);
        }
    }

    /// How many lines were set aside for `dest`.
    #[cfg(test)]
    pub fn set_aside_count(&self, dest: &str) -> u64 {
        self.set_aside.get(dest).map(|s| s.count).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_round_trips_and_starts_empty() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = State::load(dir.path()).unwrap();
        assert_eq!(s.offset("d", "2026-11-23/a.jsonl"), 0);
        s.set("d", "2026-11-23/a.jsonl", 42);
        s.save(dir.path()).unwrap();
        let back = State::load(dir.path()).unwrap();
        assert_eq!(back, s);
        assert_eq!(back.offset("d", "2026-11-23/a.jsonl"), 42);
        assert_eq!(back.offset("other", "2026-11-23/a.jsonl"), 0);
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, [STATE_FILE], "no temp file left");
        let text = fs::read_to_string(dir.path().join(STATE_FILE)).unwrap();
        assert!(!text.contains('\n'), "compact JSON: {text}");
        assert!(
            !text.contains("set_aside"),
            "no key until a line is set aside: {text}"
        );
    }

    #[test]
    fn set_aside_lines_are_counted_and_the_latest_kept() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = State::load(dir.path()).unwrap();
        for n in 0..(SET_ASIDE_KEPT as u64 + 5) {
            s.set_aside(
                "d",
                SetAsideLine {
                    file: "a.jsonl".into(),
                    line: n + 1,
                    offset: n * 10,
                    bytes: 10,
                    reason: "413".into(),
                    at: 0,
                },
            );
        }
        s.save(dir.path()).unwrap();
        let back = State::load(dir.path()).unwrap();
        assert_eq!(back.set_aside_count("d"), SET_ASIDE_KEPT as u64 + 5);
        assert_eq!(back.set_aside_count("other"), 0);
        let kept = &back.set_aside["d"].lines;
        assert_eq!(kept.len(), SET_ASIDE_KEPT);
        assert_eq!(kept.last().unwrap().line, SET_ASIDE_KEPT as u64 + 5);
        // A state written before set-aside lines existed still reads.
        std::fs::write(
            dir.path().join(STATE_FILE),
            br#"{"version":1,"destinations":{}}"#,
        )
        .unwrap();
        assert_eq!(State::load(dir.path()).unwrap().set_aside_count("d"), 0);
    }

    #[test]
    fn a_damaged_state_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(STATE_FILE), b"{nope").unwrap();
        let e = State::load(dir.path()).unwrap_err();
        assert!(e.to_string().contains(".shipped.json"), "{e}");
    }
}
