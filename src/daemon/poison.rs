//! A measurement that keeps killing the process (OOM-killed under `MemoryMax`, an abort) must
//! not stall the daemon, resuming the same cycle forever.
//!
//! Before each measurement its (input, repeat) is marked in flight in the schedule's state
//! (`Marks`, saved before the measurement starts). At the next start, a mark whose pair is not
//! in the cycle's file is a measurement the process died in (`count_crashes`). A pair that was
//! in flight at `CRASHES_BEFORE_FAILED` deaths is measured again alone (one at a time, before
//! the rest of the cycle: `offenders`), so that the blame of its next death is certain; a pair
//! that died that many times, the latest alone, gets a failed-measurement record
//! (`unknown_failure: measurement crashed the probe N times`, verdict unknown: `write_failed`)
//! and is skipped, so the cycle completes. With one measurement at a time, the second death
//! already condemns it. A clean stop clears the marks of the measurements it abandons.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Mutex;

use super::state::{self, Crash, Current, Mark, ScheduleState};
use crate::failure::Failure;
use crate::record::{Record, RunInfo};
use crate::sink::{JsonlSink, Sink};
use crate::targets::{self, Entry, ListError};

/// Deaths in flight, the latest with nothing else in flight, before a measurement is recorded
/// as failed.
pub const CRASHES_BEFORE_FAILED: u32 = 2;

/// The in-flight marks of one run of a cycle: each start saves the schedule's state.
#[derive(Debug)]
pub struct Marks {
    dir: PathBuf,
    st: Mutex<ScheduleState>,
}

impl Marks {
    /// Marks for the cycle in progress of `st` (its `current`), saved in `dir`.
    pub fn new(dir: PathBuf, st: ScheduleState) -> Marks {
        Marks {
            dir,
            st: Mutex::new(st),
        }
    }
}

impl crate::runner::InFlight for Marks {
    fn started(&self, input: &str, category_code: Option<&str>, repeat: u32) {
        let mut st = self.st.lock().expect("marks lock");
        let Some(cur) = st.current.as_mut() else {
            return;
        };
        cur.in_flight.push(Mark {
            input: input.to_string(),
            repeat,
            category_code: category_code.map(String::from),
        });
        if let Err(e) = state::save(&self.dir, &st) {
            tracing::error!(
                "cannot save the in-flight mark of {input} (repeat {repeat}) in {}: {e}",
                self.dir.display()
            );
        }
    }

    fn written(&self, input: &str, repeat: u32) {
        // In memory only: saved with the next mark (a stale mark of a written pair is no
        // crash: `count_crashes` ignores it).
        let mut st = self.st.lock().expect("marks lock");
        if let Some(cur) = st.current.as_mut() {
            cur.in_flight
                .retain(|m| !(m.repeat == repeat && m.input == input));
        }
    }
}

/// At a resume: the marks left in flight by the process that died, minus the pairs written
/// since, become crashes (counted per pair); crashes of pairs now written are forgotten.
/// Returns how many measurements were in flight when it died.
pub fn count_crashes(cur: &mut Current, written: &HashSet<(String, u32)>) -> usize {
    let died_in: Vec<Mark> = std::mem::take(&mut cur.in_flight)
        .into_iter()
        .filter(|m| !written.contains(&(m.input.clone(), m.repeat)))
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
        let mut record = Record::failed(run, &c.input, c.category_code.as_deref(), &failure(c));
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
                all.insert((t.url.to_string(), r));
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
        // Died with three in flight, one of them written meanwhile (a stale mark).
        cur.in_flight = vec![mark("p", 1), mark("slow", 1), mark("done", 1)];
        let written: HashSet<_> = [("done".to_string(), 1)].into();
        assert_eq!(count_crashes(&mut cur, &written), 2);
        assert!(cur.in_flight.is_empty());
        assert!(condemned(&mut cur).is_empty());
        assert!(offenders(&cur).is_empty());
        // Again with the same two: both are offenders, neither is condemned.
        cur.in_flight = vec![mark("p", 1), mark("slow", 1)];
        count_crashes(&mut cur, &none);
        assert!(condemned(&mut cur).is_empty());
        assert_eq!(offenders(&cur).len(), 2);
        // Measured alone: slow is written, p kills it alone.
        cur.in_flight = vec![mark("p", 1)];
        let written: HashSet<_> = [("slow".to_string(), 1)].into();
        count_crashes(&mut cur, &written);
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
            cur.in_flight = vec![mark("p", 2)];
            count_crashes(&mut cur, &HashSet::new());
        }
        assert_eq!(condemned(&mut cur).len(), 1);
    }
}
