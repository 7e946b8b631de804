//! A measurement that keeps killing the process (OOM-killed under `MemoryMax`, an abort) must
//! not stall the daemon, resuming the same cycle forever.
//!
//! Before each measurement its (input, repeat) is marked in flight: one line appended to the
//! schedule's journal, `STATE/<schedule>.inflight` (`Marks`). A mark is cleared by its record
//! being in the cycle's file, so nothing else is written. The journal is not fsynced: the page
//! cache outlives a killed process (the case here); a power cut may lose marks, which only
//! loses a count. Its first line names the run that wrote it (`Current::resumed`), so a journal
//! already counted is never counted twice. A clean stop removes it (the measurements it
//! abandons are no crashes), and so does the end of the cycle.
//!
//! At the next start, a mark whose pair is not in the file is a measurement the process died
//! in (`count_crashes`). A pair that was in flight at `CRASHES_BEFORE_FAILED` deaths is
//! measured again alone (one pass each, before the rest of the cycle: `offenders`), so that
//! the blame of its next death is certain; a pair that died that many times, the latest alone,
//! gets a failed-measurement record (`unknown_failure: measurement crashed the probe N times`,
//! verdict unknown: `write_failed`) and is skipped, so the cycle completes. With one
//! measurement at a time, the second death already condemns it.

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{self, BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use super::state::{Crash, Current};
use crate::failure::Failure;
use crate::record::{Record, RunInfo};
use crate::sink::{JsonlSink, Sink};
use crate::targets::{self, Entry, ListError};

/// Deaths in flight, the latest with nothing else in flight, before a measurement is recorded
/// as failed.
pub const CRASHES_BEFORE_FAILED: u32 = 2;

/// A measurement started (its record perhaps not written yet): one journal line.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Mark {
    pub input: String,
    pub repeat: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category_code: Option<String>,
}

/// The journal's first line.
#[derive(Serialize, Deserialize)]
struct Header {
    run: u32,
}

/// Path of a schedule's in-flight journal.
pub fn journal_path(dir: &Path, schedule: &str) -> PathBuf {
    dir.join(format!("{schedule}.inflight"))
}

/// The in-flight journal of one run of a cycle.
#[derive(Debug)]
pub struct Marks {
    path: PathBuf,
    file: Mutex<File>,
}

impl Marks {
    /// Starts the journal of run `run` (`Current::resumed`) afresh.
    pub fn create(dir: &Path, schedule: &str, run: u32) -> io::Result<Marks> {
        let path = journal_path(dir, schedule);
        let mut file = File::create(&path)?;
        let mut line = serde_json::to_vec(&Header { run }).expect("headers serialize");
        line.push(b'\n');
        file.write_all(&line)?;
        Ok(Marks {
            path,
            file: Mutex::new(file),
        })
    }
}

impl crate::runner::InFlight for Marks {
    fn started(&self, input: &str, category_code: Option<&str>, repeat: u32) {
        let mark = Mark {
            input: input.to_string(),
            repeat,
            category_code: category_code.map(String::from),
        };
        let mut line = serde_json::to_vec(&mark).expect("marks serialize");
        line.push(b'\n');
        let mut file = self.file.lock().expect("journal lock");
        if let Err(e) = file.write_all(&line) {
            tracing::error!(
                "cannot mark {input} (repeat {repeat}) in flight in {}: {e}",
                self.path.display()
            );
        }
    }
}

/// The marks run `run` left in `schedule`'s journal (none when it is missing, unreadable or
/// of another run). A line cut by the death is skipped.
pub fn read_marks(dir: &Path, schedule: &str, run: u32) -> Vec<Mark> {
    let path = journal_path(dir, schedule);
    let Ok(file) = File::open(&path) else {
        return Vec::new();
    };
    let mut lines = io::BufReader::new(file).split(b'\n');
    let header = lines
        .next()
        .and_then(|l| l.ok())
        .and_then(|l| serde_json::from_slice::<Header>(&l).ok());
    if header.map(|h| h.run) != Some(run) {
        return Vec::new();
    }
    lines
        .map_while(Result::ok)
        .filter_map(|l| serde_json::from_slice(&l).ok())
        .collect()
}

/// Removes `schedule`'s journal (a clean stop, the end of a cycle).
pub fn clear(dir: &Path, schedule: &str) {
    match fs::remove_file(journal_path(dir, schedule)) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => tracing::warn!(
            "cannot remove {}: {e}",
            journal_path(dir, schedule).display()
        ),
        _ => {}
    }
}

/// At a resume: the marks the dead run left, minus the pairs written since, become crashes
/// (counted per pair); crashes of pairs now written are forgotten. Returns how many
/// measurements were in flight when it died.
pub fn count_crashes(
    cur: &mut Current,
    marks: Vec<Mark>,
    written: &HashSet<(String, u32)>,
) -> usize {
    let mut seen = HashSet::new();
    let died_in: Vec<Mark> = marks
        .into_iter()
        .filter(|m| !written.contains(&(m.input.clone(), m.repeat)))
        .filter(|m| seen.insert((m.input.clone(), m.repeat)))
        .collect();
    cur.crashed
        .retain(|c| !written.contains(&(c.input.clone(), c.repeat)));
    let alone = died_in.len() == 1;
    for m in &died_in {
        match cur
            .crashed
            .iter_mut()
            .find(|c| c.input == m.input && c.repeat == m.repeat)
        {
            Some(c) => {
                c.count += 1;
                c.alone = alone;
            }
            None => cur.crashed.push(Crash {
                input: m.input.clone(),
                repeat: m.repeat,
                category_code: m.category_code.clone(),
                count: 1,
                alone,
            }),
        }
    }
    died_in.len()
}

/// The crashes that condemn their measurement (removed from `cur`).
pub fn condemned(cur: &mut Current) -> Vec<Crash> {
    let (out, keep) = std::mem::take(&mut cur.crashed)
        .into_iter()
        .partition(|c| c.count >= CRASHES_BEFORE_FAILED && c.alone);
    cur.crashed = keep;
    out
}

/// The pairs to measure alone before the rest: in flight at enough deaths, but not alone.
pub fn offenders(cur: &Current) -> HashSet<(String, u32)> {
    cur.crashed
        .iter()
        .filter(|c| c.count >= CRASHES_BEFORE_FAILED)
        .map(|c| (c.input.clone(), c.repeat))
        .collect()
}

/// The failure a condemned measurement is recorded with.
pub fn failure(c: &Crash) -> Failure {
    Failure::Unknown(format!("measurement crashed the probe {} times", c.count))
}

/// Appends the failed-measurement records of `crashes` to `file`.
pub fn write_failed(
    file: &std::path::Path,
    run: &RunInfo,
    crashes: &[Crash],
) -> Result<(), String> {
    let mut sink = JsonlSink::append(file).map_err(|e| e.to_string())?;
    for c in crashes {
        let why = failure(c);
        let reason = format!("the measurement could not be made: {why}");
        let when = (time::OffsetDateTime::now_utc(), 0.0);
        let mut record = Record::failed(
            run,
            &c.input,
            c.category_code.as_deref(),
            when,
            &why,
            reason,
        );
        record
            .annotations
            .insert("repeat".into(), c.repeat.to_string());
        sink.write_line(&record.to_line())
            .map_err(|e| e.to_string())?;
    }
    sink.finish().map_err(|e| e.to_string())
}

/// Every (input, repeat) a cycle over `lists` measures.
pub fn all_pairs(lists: &[PathBuf], repeats: u32) -> Result<HashSet<(String, u32)>, ListError> {
    let mut all = HashSet::new();
    for entry in targets::open(lists)? {
        if let Entry::Target(t) = entry {
            for r in 1..=repeats.max(1) {
                all.insert((t.input.clone(), r));
            }
        }
    }
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mark(input: &str, repeat: u32) -> Mark {
        Mark {
            input: input.into(),
            repeat,
            category_code: None,
        }
    }

    #[test]
    fn deaths_are_counted_per_pair_and_condemn_only_when_alone() {
        let mut cur = Current::default();
        let none = HashSet::new();
        // Died with three marked, one of them written meanwhile.
        let marks = vec![mark("p", 1), mark("slow", 1), mark("done", 1)];
        let written: HashSet<_> = [("done".to_string(), 1)].into();
        assert_eq!(count_crashes(&mut cur, marks, &written), 2);
        assert!(condemned(&mut cur).is_empty());
        assert!(offenders(&cur).is_empty());
        // Again with the same two: both are offenders, neither is condemned.
        count_crashes(&mut cur, vec![mark("p", 1), mark("slow", 1)], &none);
        assert!(condemned(&mut cur).is_empty());
        assert_eq!(offenders(&cur).len(), 2);
        // Measured alone: slow is written, p kills it alone.
        let written: HashSet<_> = [("slow".to_string(), 1)].into();
        count_crashes(&mut cur, vec![mark("p", 1)], &written);
        let c = condemned(&mut cur);
        assert_eq!(c.len(), 1);
        assert_eq!((c[0].input.as_str(), c[0].count), ("p", 3));
        assert_eq!(
            failure(&c[0]).as_ooni(),
            "unknown_failure: measurement crashed the probe 3 times"
        );
        assert!(cur.crashed.is_empty(), "slow was forgotten once written");
    }

    #[test]
    fn one_at_a_time_the_second_death_condemns() {
        let mut cur = Current::default();
        for _ in 0..CRASHES_BEFORE_FAILED {
            assert!(condemned(&mut cur).is_empty());
            count_crashes(&mut cur, vec![mark("p", 2)], &HashSet::new());
        }
        assert_eq!(condemned(&mut cur).len(), 1);
    }

    #[test]
    fn the_journal_holds_the_marks_of_its_own_run_only() {
        use crate::runner::InFlight;
        let dir = tempfile::tempdir().unwrap();
        assert!(
            read_marks(dir.path(), "cn", 0).is_empty(),
            "no journal, no marks"
        );
        let marks = Marks::create(dir.path(), "cn", 3).unwrap();
        marks.started("https://a/", Some("NEWS"), 1);
        marks.started("https://b/", None, 2);
        drop(marks);
        // A death inside a write leaves a cut line: skipped.
        let path = journal_path(dir.path(), "cn");
        let mut f = fs::OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"{\"input\":\"https://c").unwrap();
        let got = read_marks(dir.path(), "cn", 3);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].category_code.as_deref(), Some("NEWS"));
        assert_eq!((got[1].input.as_str(), got[1].repeat), ("https://b/", 2));
        // Counted already by run 3's resume (now run 4): not counted again.
        assert!(read_marks(dir.path(), "cn", 4).is_empty());
        clear(dir.path(), "cn");
        assert!(!path.exists());
        clear(dir.path(), "cn");
    }

    #[test]
    fn a_failed_record_reads_back_as_its_pair_with_the_failure() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.jsonl");
        let run = RunInfo {
            annotations: [("schedule".to_string(), "cn".to_string())].into(),
            ..RunInfo::for_tests("127.0.0.1")
        };
        let c = Crash {
            input: "https://p/".into(),
            repeat: 2,
            category_code: Some("NEWS".into()),
            count: 2,
            alone: true,
        };
        write_failed(&file, &run, &[c]).unwrap();
        let w = super::super::state::written(&file).unwrap();
        assert!(w.contains(&("https://p/".to_string(), 2)), "{w:?}");
        let v: serde_json::Value = serde_json::from_slice(&fs::read(&file).unwrap()).unwrap();
        assert_eq!(
            v["test_keys"]["failure"],
            "unknown_failure: measurement crashed the probe 2 times"
        );
        assert_eq!(v["test_keys"]["x_verdict"]["status"], "unknown");
        assert_eq!(v["annotations"]["category_code"], "NEWS");
        assert_eq!(v["annotations"]["schedule"], "cn");
        assert_eq!(v["report_id"], "r");
    }
}
