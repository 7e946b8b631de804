//! Whether a cycle in progress is waiting on its spacing, for `vantage status`: every target it
//! still lacks is of a host:port measured less than `spacing` ago (read from the cycle's file),
//! so nothing is measured until the earliest of those spacings ends. Without this, a cycle
//! that waits an hour between repeats looks stuck.

use std::collections::HashSet;

use super::config::Schedule;
use super::state::{self, Current};
use crate::targets::{self, Entry};

/// When the next measurement of a waiting cycle may start.
#[derive(Debug, PartialEq)]
pub(super) struct Wait {
    /// Unix seconds.
    pub at: f64,
    /// The host:port it is of.
    pub key: String,
}

/// The wait of `cur` (a cycle of `sched`) at `now`, when it is waiting on its spacing.
/// `ends` are the recent measurements' (host:port, end) of every schedule (their cycles in
/// progress and last cycles: one spacing is kept across them all), so a cycle that waits on
/// the last cycle's measurement, having written nothing yet, says so too.
pub(super) fn next(
    sched: &Schedule,
    cur: &Current,
    now: f64,
    ends: &[(String, chrono::NaiveDateTime)],
) -> Option<Wait> {
    if sched.spacing.is_zero() {
        return None;
    }
    let written = state::written(&cur.file).ok()?;
    let mut pending = HashSet::new();
    for entry in targets::open(&sched.run.targets).ok()? {
        if let Entry::Target(t) = entry {
            let missing =
                (1..=sched.repeats.max(1)).any(|r| !written.contains(&(t.input.clone(), r)));
            if missing {
                pending.insert(crate::runner::host_port(&t.url));
            }
        }
    }
    let mut next: Option<Wait> = None;
    for key in pending {
        // A host:port not measured recently is being measured (or about to be).
        let end = ends
            .iter()
            .filter(|(k, _)| *k == key)
            .map(|(_, e)| e.and_utc().timestamp() as f64)
            .fold(None, |m: Option<f64>, e| Some(m.map_or(e, |m| m.max(e))))?;
        let at = end + sched.spacing.as_secs_f64();
        if at <= now {
            return None;
        }
        if next.as_ref().is_none_or(|n| at < n.at) {
            next = Some(Wait { at, key });
        }
    }
    next
}
