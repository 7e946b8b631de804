//! The aggregation behind the report, pure (no I/O): measurements go into a [`Collector`], one
//! cell per (run, target), and come out as a [`Summary`]: runs in time order, each target's
//! history, its status now and since when, and what changed between the last two runs.
//!
//! `unknown` says nothing about a target (the probe could not tell: no control, a failed one):
//! a target's status "now" is its latest informative one (accessible, blocked, down), streaks
//! skip unknown runs as they skip runs that did not measure it, and a change is only ever
//! between informative statuses, so a control outage never reads as censorship lifting.
//!
//! Memory is proportional to targets x runs (a few counters per cell); of the evidence only the
//! reasons of each target's latest blocked measurement are kept.

use std::collections::{BTreeMap, HashMap};

use crate::analysis::Status;

/// What the report reads of one record.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    pub run: String,
    pub input: String,
    pub category: Option<String>,
    /// `measurement_start_time`, `YYYY-MM-DD hh:mm:ss` UTC (so it sorts as text).
    pub time: String,
    pub status: Status,
    pub methods: Vec<String>,
    pub reasons: Vec<String>,
    /// Empty when the source does not say.
    pub measurement_uid: String,
    /// Where it was measured from (as the record says; empty when it does not).
    pub place: Place,
    pub control: Control,
}

/// Where a measurement was made from.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Place {
    pub vantage_point: String,
    pub probe_cc: String,
    pub probe_asn: String,
}

/// What became of the control a measurement asked.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Control {
    /// It answered (or the source does not say).
    #[default]
    Answered,
    /// It was asked and failed (`control_failure` is set).
    Failed,
    /// The run had no control.
    None,
}

/// The evidence of a target's latest blocked measurement.
#[derive(Clone, Debug, PartialEq)]
pub struct Evidence {
    pub time: String,
    pub run: String,
    pub methods: Vec<String>,
    pub reasons: Vec<String>,
    pub measurement_uid: String,
}

/// Whether a status tells something about the target (unknown does not).
pub fn informative(s: Status) -> bool {
    s != Status::Unknown
}

/// Index of a status in per-status counters (the order of [`Status::ALL`]).
pub fn status_index(s: Status) -> usize {
    match s {
        Status::Accessible => 0,
        Status::Blocked => 1,
        Status::Down => 2,
        Status::Unknown => 3,
    }
}

/// One target in one run: how many repeats gave each status, and the methods of the blocked ones.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Cell {
    pub counts: [u32; 4],
    pub methods: Vec<String>,
    /// Repeats whose control failed, and repeats made without a control.
    pub control_failed: u32,
    pub no_control: u32,
}

impl Cell {
    /// Blocked if any repeat was blocked, else accessible if any was, else down, else unknown.
    pub fn status(&self) -> Status {
        for s in [
            Status::Blocked,
            Status::Accessible,
            Status::Down,
            Status::Unknown,
        ] {
            if self.counts[status_index(s)] > 0 {
                return s;
            }
        }
        Status::Unknown
    }
    pub fn repeats(&self) -> u32 {
        self.counts.iter().sum()
    }
    /// How many repeats had the cell's status.
    pub fn agreeing(&self) -> u32 {
        self.counts[status_index(self.status())]
    }
    /// The status when it tells something (not unknown).
    pub fn known(&self) -> Option<Status> {
        Some(self.status()).filter(|&s| informative(s))
    }
}

struct RunAcc {
    id: String,
    first: String,
    last: String,
}

/// Of the vantage points, countries and networks seen, the set (few in practice).
fn note<T: Ord + Clone>(set: &mut std::collections::BTreeSet<T>, v: &T) {
    if !set.contains(v) {
        set.insert(v.clone());
    }
}

struct TargetAcc {
    input: String,
    category: Option<String>,
    category_time: String,
    evidence: Option<Evidence>,
}

/// Accumulates measurements in any order.
#[derive(Default)]
pub struct Collector {
    run_ids: HashMap<String, u32>,
    runs: Vec<RunAcc>,
    target_ids: HashMap<String, u32>,
    targets: Vec<TargetAcc>,
    cells: HashMap<(u32, u32), Cell>,
    places: std::collections::BTreeSet<Place>,
    /// Only this vantage point's measurements are added (`--vantage-point`).
    only: Option<String>,
    pub measurements: usize,
}

impl Collector {
    /// A collector that keeps only `vantage_point`'s measurements (all, for `None`).
    pub fn only(vantage_point: Option<String>) -> Collector {
        Collector {
            only: vantage_point,
            ..Collector::default()
        }
    }

    /// The vantage points, countries and networks of the measurements added so far.
    pub fn places(&self) -> &std::collections::BTreeSet<Place> {
        &self.places
    }

    pub fn add(&mut self, e: Entry) {
        if self
            .only
            .as_ref()
            .is_some_and(|vp| *vp != e.place.vantage_point)
        {
            return;
        }
        self.measurements += 1;
        let run = match self.run_ids.get(&e.run) {
            Some(&i) => {
                let r = &mut self.runs[i as usize];
                if e.time < r.first {
                    r.first.clone_from(&e.time);
                }
                if e.time > r.last {
                    r.last.clone_from(&e.time);
                }
                i
            }
            None => {
                let i = self.runs.len() as u32;
                self.run_ids.insert(e.run.clone(), i);
                self.runs.push(RunAcc {
                    id: e.run.clone(),
                    first: e.time.clone(),
                    last: e.time.clone(),
                });
                i
            }
        };
        let target = match self.target_ids.get(&e.input) {
            Some(&i) => i,
            None => {
                let i = self.targets.len() as u32;
                self.target_ids.insert(e.input.clone(), i);
                self.targets.push(TargetAcc {
                    input: e.input.clone(),
                    category: None,
                    category_time: String::new(),
                    evidence: None,
                });
                i
            }
        };
        let t = &mut self.targets[target as usize];
        if e.category.is_some() && e.time >= t.category_time {
            t.category.clone_from(&e.category);
            t.category_time.clone_from(&e.time);
        }
        note(&mut self.places, &e.place);
        let cell = self.cells.entry((run, target)).or_default();
        cell.counts[status_index(e.status)] += 1;
        match e.control {
            Control::Answered => {}
            Control::Failed => cell.control_failed += 1,
            Control::None => cell.no_control += 1,
        }
        if e.status == Status::Blocked {
            for m in &e.methods {
                if !cell.methods.contains(m) {
                    cell.methods.push(m.clone());
                }
            }
            if t.evidence.as_ref().is_none_or(|ev| e.time >= ev.time) {
                t.evidence = Some(Evidence {
                    time: e.time,
                    run: e.run,
                    methods: e.methods,
                    reasons: e.reasons,
                    measurement_uid: e.measurement_uid,
                });
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.measurements == 0
    }

    /// Orders runs by their earliest measurement and computes everything the views show.
    pub fn finish(self) -> Summary {
        let mut order: Vec<usize> = (0..self.runs.len()).collect();
        order.sort_by(|&a, &b| {
            let (a, b) = (&self.runs[a], &self.runs[b]);
            (&a.first, &a.id).cmp(&(&b.first, &b.id))
        });
        let mut position = vec![0usize; self.runs.len()];
        for (pos, &i) in order.iter().enumerate() {
            position[i] = pos;
        }
        let n = order.len();
        let mut runs: Vec<Run> = order
            .iter()
            .map(|&i| Run {
                id: self.runs[i].id.clone(),
                start: self.runs[i].first.clone(),
                end: self.runs[i].last.clone(),
                tally: [0; 4],
                control_failed: 0,
                no_control: 0,
            })
            .collect();
        let mut histories: Vec<Vec<Option<Cell>>> = vec![vec![None; n]; self.targets.len()];
        for ((run, target), cell) in self.cells {
            let pos = position[run as usize];
            let r = &mut runs[pos];
            r.tally[status_index(cell.status())] += 1;
            // A target whose control failed (or was missing) for every repeat.
            r.control_failed += usize::from(cell.control_failed == cell.repeats());
            r.no_control += usize::from(cell.no_control == cell.repeats());
            histories[target as usize][pos] = Some(cell);
        }
        let mut targets: Vec<Target> = self
            .targets
            .into_iter()
            .zip(histories)
            .map(|(t, history)| Target::new(t, history))
            .collect();
        // Blocked first, the longest blocked first; then by status and input.
        let key = |t: &Target| {
            let since = if t.now == Status::Blocked {
                t.since_run
            } else {
                0
            };
            (rank(t.now), since)
        };
        targets.sort_by(|a, b| key(a).cmp(&key(b)).then_with(|| a.input.cmp(&b.input)));
        let changes = if n >= 2 {
            let mut changes: Vec<Change> = targets.iter().filter_map(|t| t.change(n - 1)).collect();
            changes.sort_by(|a, b| (a.kind(), &a.input).cmp(&(b.kind(), &b.input)));
            changes
        } else {
            Vec::new()
        };
        Summary {
            runs,
            targets,
            changes,
            places: self.places.into_iter().collect(),
            measurements: self.measurements,
        }
    }
}

/// Sort order of statuses: blocked first.
fn rank(s: Status) -> u8 {
    match s {
        Status::Blocked => 0,
        Status::Down => 1,
        Status::Unknown => 2,
        Status::Accessible => 3,
    }
}

/// One run, in time order.
#[derive(Clone, Debug)]
pub struct Run {
    pub id: String,
    pub start: String,
    pub end: String,
    /// Targets per status (after aggregating repeats), by [`status_index`].
    pub tally: [usize; 4],
    /// Targets whose control failed for every repeat, and targets measured without a control.
    pub control_failed: usize,
    pub no_control: usize,
}

impl Run {
    pub fn measured(&self) -> usize {
        self.tally.iter().sum()
    }
    pub fn blocked(&self) -> usize {
        self.tally[status_index(Status::Blocked)]
    }
    /// `control failed for 7/7 targets` (or `no control for ...`) when that is so for all or
    /// most (more than half) of the run's targets: the run's unknowns are the control's.
    pub fn control_trouble(&self) -> Option<String> {
        let n = self.measured();
        let most = |k: usize| k > 0 && 2 * k > n;
        if most(self.control_failed) {
            Some(format!(
                "control failed for {}/{n} targets",
                self.control_failed
            ))
        } else if most(self.no_control) {
            Some(format!("no control for {}/{n} targets", self.no_control))
        } else {
            None
        }
    }
}

/// One target across the runs.
#[derive(Clone, Debug)]
pub struct Target {
    pub input: String,
    pub category: Option<String>,
    /// One entry per run (in time order); `None` where the run did not measure it.
    pub history: Vec<Option<Cell>>,
    /// What we know: the status in the latest run that told something (accessible, blocked,
    /// down); unknown only when no run ever did.
    pub now: Status,
    /// The latest run that measured it (its status may be unknown).
    pub last_run: usize,
    /// The run `now` comes from (`last_run` when the target was never known).
    pub known_run: usize,
    /// The first run of the unbroken streak of `now` (runs that did not measure the target, or
    /// could not tell, do not break it).
    pub since_run: usize,
    /// How many measured runs the streak spans.
    pub streak: usize,
    /// The evidence of the latest blocked measurement, if any.
    pub evidence: Option<Evidence>,
}

impl Target {
    fn new(t: TargetAcc, history: Vec<Option<Cell>>) -> Target {
        let last_run = history
            .iter()
            .rposition(Option::is_some)
            .expect("a target has at least one measurement");
        let known_run = history
            .iter()
            .rposition(|c| c.as_ref().and_then(Cell::known).is_some())
            .unwrap_or(last_run);
        let now = history[known_run].as_ref().map(Cell::status).unwrap();
        let mut since_run = known_run;
        let mut streak = 0;
        for (i, cell) in history.iter().enumerate().take(known_run + 1).rev() {
            match cell.as_ref().map(Cell::status) {
                None => continue,
                Some(s) if s == now => {
                    since_run = i;
                    streak += 1;
                }
                Some(s) if !informative(s) => continue,
                Some(_) => break,
            }
        }
        Target {
            input: t.input,
            category: t.category,
            history,
            now,
            last_run,
            known_run,
            since_run,
            streak,
            evidence: t.evidence,
        }
    }

    /// Whether the latest run that measured it could not tell (so `now` is older news).
    pub fn stale(&self) -> bool {
        self.known_run != self.last_run
    }

    /// What changed for it in run `last` (the last run): only between informative statuses;
    /// a target the run measured as unknown did not change.
    fn change(&self, last: usize) -> Option<Change> {
        let to = self.history[last].as_ref()?.known()?;
        let before = &self.history[..last];
        // The previous informative measurement of it: a schedule may skip a target in a run,
        // and an unknown one tells nothing.
        let from = before.iter().rev().flatten().find_map(Cell::known);
        (from != Some(to)).then(|| Change {
            input: self.input.clone(),
            from,
            measured_before: before.iter().any(Option::is_some),
            to,
        })
    }

    /// The cell of the latest run that measured it.
    pub fn last(&self) -> &Cell {
        self.history[self.last_run].as_ref().unwrap()
    }

    /// The cell `now` comes from.
    pub fn known(&self) -> &Cell {
        self.history[self.known_run].as_ref().unwrap()
    }
}

/// What changed for a target between the previous run and the last one.
#[derive(Clone, Debug, PartialEq)]
pub struct Change {
    pub input: String,
    /// The status in the latest earlier run that told something; `None`: none did.
    pub from: Option<Status>,
    /// Whether an earlier run measured it at all (if so and `from` is `None`, as unknown).
    pub measured_before: bool,
    pub to: Status,
}

/// Kinds of change, in the order the report lists them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ChangeKind {
    NewlyBlocked,
    Unblocked,
    NewlyDown,
    BackUp,
    Other,
}

impl ChangeKind {
    pub fn label(self) -> &'static str {
        match self {
            ChangeKind::NewlyBlocked => "newly blocked",
            ChangeKind::Unblocked => "unblocked",
            ChangeKind::NewlyDown => "newly down",
            ChangeKind::BackUp => "back up",
            ChangeKind::Other => "changed",
        }
    }
}

impl Change {
    pub fn kind(&self) -> ChangeKind {
        match (self.from, self.to) {
            (_, Status::Blocked) => ChangeKind::NewlyBlocked,
            (Some(Status::Blocked), _) => ChangeKind::Unblocked,
            (_, Status::Down) => ChangeKind::NewlyDown,
            (Some(Status::Down), Status::Accessible) => ChangeKind::BackUp,
            _ => ChangeKind::Other,
        }
    }
    /// "accessible -> blocked" ("new -> ..." for a target measured for the first time,
    /// "unknown -> ..." for one no earlier run could tell about).
    pub fn detail(&self) -> String {
        let from = match self.from {
            Some(s) => s.as_str(),
            None if self.measured_before => "unknown",
            None => "new",
        };
        format!("{from} -> {}", self.to.as_str())
    }
}

/// Everything the views show.
#[derive(Debug)]
pub struct Summary {
    /// In time order (by earliest measurement).
    pub runs: Vec<Run>,
    /// Blocked first (the longest blocked first), then down, unknown, accessible; by input.
    pub targets: Vec<Target>,
    /// Between the last two runs, grouped by kind.
    pub changes: Vec<Change>,
    /// Every vantage point, country and network the measurements came from, sorted.
    pub places: Vec<Place>,
    pub measurements: usize,
}

impl Summary {
    /// Targets per status now, by [`status_index`].
    pub fn now_tally(&self) -> [usize; 4] {
        let mut tally = [0; 4];
        for t in &self.targets {
            tally[status_index(t.now)] += 1;
        }
        tally
    }

    /// Per category (targets without one under "uncategorized"): (blocked now, targets),
    /// most blocked share first.
    pub fn categories(&self) -> Vec<(String, usize, usize)> {
        let mut by: BTreeMap<String, (usize, usize)> = BTreeMap::new();
        for t in &self.targets {
            let key = t
                .category
                .clone()
                .unwrap_or_else(|| "uncategorized".to_string());
            let e = by.entry(key).or_default();
            e.1 += 1;
            if t.now == Status::Blocked {
                e.0 += 1;
            }
        }
        let mut v: Vec<_> = by.into_iter().map(|(k, (b, n))| (k, b, n)).collect();
        // Share descending (b1/n1 > b2/n2 <=> b1*n2 > b2*n1), then name.
        v.sort_by(|a, b| (b.1 * a.2).cmp(&(a.1 * b.2)).then_with(|| a.0.cmp(&b.0)));
        v
    }
}

/// One character per status for history strings.
pub fn glyph(s: Option<Status>) -> char {
    match s {
        Some(Status::Blocked) => 'B',
        Some(Status::Accessible) => '.',
        Some(Status::Down) => 'd',
        Some(Status::Unknown) => '?',
        None => '-',
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(run: &str, input: &str, time: &str, status: Status) -> Entry {
        Entry {
            run: run.into(),
            input: input.into(),
            category: Some("NEWS".into()),
            time: time.into(),
            status,
            methods: if status == Status::Blocked {
                vec!["dns.injection".into()]
            } else {
                vec![]
            },
            reasons: vec![format!("{run} {status:?}")],
            measurement_uid: format!("{run}-{input}"),
            place: Place::default(),
            control: if status == Status::Unknown {
                Control::Failed
            } else {
                Control::Answered
            },
        }
    }

    #[test]
    fn unknown_is_no_news() {
        use Status::*;
        let mut c = Collector::default();
        for (input, statuses) in [
            ("was-blocked", [Blocked, Unknown, Unknown]),
            ("was-fine", [Accessible, Accessible, Unknown]),
            ("blocked-again", [Blocked, Unknown, Blocked]),
            ("lifted-after-a-gap", [Blocked, Unknown, Accessible]),
            ("first-known", [Unknown, Unknown, Blocked]),
            ("never-known", [Unknown, Unknown, Unknown]),
        ] {
            for (i, st) in statuses.into_iter().enumerate() {
                c.add(e(
                    &format!("r{i}"),
                    input,
                    &format!("2026-01-0{} 00:00:00", i + 1),
                    st,
                ));
            }
        }
        let s = c.finish();
        let t = |name: &str| s.targets.iter().find(|t| t.input == name).unwrap();
        let b = t("was-blocked");
        assert_eq!(
            (b.now, b.since_run, b.streak, b.stale()),
            (Blocked, 0, 1, true)
        );
        assert_eq!((t("was-fine").now, t("was-fine").streak), (Accessible, 2));
        let again = t("blocked-again");
        assert_eq!((again.now, again.since_run, again.streak), (Blocked, 0, 2));
        assert!(!again.stale());
        assert_eq!(
            (t("never-known").now, t("never-known").stale()),
            (Unknown, false)
        );
        let changes: Vec<_> = s
            .changes
            .iter()
            .map(|c| (c.input.as_str(), c.kind(), c.detail()))
            .collect();
        assert_eq!(
            changes,
            [
                (
                    "first-known",
                    ChangeKind::NewlyBlocked,
                    "unknown -> blocked".to_string()
                ),
                (
                    "lifted-after-a-gap",
                    ChangeKind::Unblocked,
                    "blocked -> accessible".to_string()
                ),
            ]
        );
        assert_eq!(s.now_tally(), [2, 3, 0, 1]);
        assert_eq!(s.runs[1].control_failed, 5, "was-fine was measured in r1");
        assert_eq!(
            s.runs[1].control_trouble().as_deref(),
            Some("control failed for 5/6 targets")
        );
        assert_eq!(s.runs[2].control_trouble(), None, "2 of 6 is not most");
    }

    #[test]
    fn runs_ordered_by_time_streaks_and_changes() {
        use Status::*;
        let mut c = Collector::default();
        // Added out of order on purpose.
        c.add(e("r3", "a", "2026-01-03 00:00:00", Blocked));
        c.add(e("r1", "a", "2026-01-01 00:00:00", Blocked));
        c.add(e("r2", "a", "2026-01-02 00:00:00", Accessible));
        c.add(e("r3", "a", "2026-01-03 00:00:05", Accessible));
        c.add(e("r1", "b", "2026-01-01 00:00:00", Blocked));
        c.add(e("r2", "b", "2026-01-02 00:00:00", Blocked));
        c.add(e("r3", "b", "2026-01-03 00:00:00", Accessible));
        c.add(e("r2", "c", "2026-01-02 00:00:00", Accessible));
        c.add(e("r3", "c", "2026-01-03 00:00:00", Down));
        c.add(e("r1", "d", "2026-01-01 00:00:00", Blocked));
        c.add(e("r3", "d", "2026-01-03 00:00:00", Blocked));
        let s = c.finish();
        let ids: Vec<_> = s.runs.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["r1", "r2", "r3"]);
        let order: Vec<_> = s.targets.iter().map(|t| t.input.as_str()).collect();
        // Blocked first, the longest blocked first.
        assert_eq!(order, ["d", "a", "c", "b"]);
        let a = &s.targets[1];
        assert_eq!((a.now, a.since_run, a.streak), (Blocked, 2, 1));
        assert_eq!(a.last().agreeing(), 1);
        assert_eq!(a.last().repeats(), 2);
        assert_eq!(a.evidence.as_ref().unwrap().run, "r3");
        // r2 did not measure d: the streak goes on through it.
        let d = &s.targets[0];
        assert_eq!((d.since_run, d.streak), (0, 2));
        let kinds: Vec<_> = s
            .changes
            .iter()
            .map(|c| (c.input.as_str(), c.kind()))
            .collect();
        assert_eq!(
            kinds,
            [
                ("a", ChangeKind::NewlyBlocked),
                ("b", ChangeKind::Unblocked),
                ("c", ChangeKind::NewlyDown)
            ]
        );
        assert_eq!(s.runs[2].tally, [1, 2, 1, 0]);
        assert_eq!(s.categories(), [("NEWS".to_string(), 2, 4)]);
    }

    #[test]
    fn cell_status_precedence() {
        let mut c = Cell::default();
        assert_eq!(c.status(), Status::Unknown);
        c.counts[status_index(Status::Down)] = 1;
        assert_eq!(c.status(), Status::Down);
        c.counts[status_index(Status::Accessible)] = 1;
        assert_eq!(c.status(), Status::Accessible);
        c.counts[status_index(Status::Blocked)] = 1;
        assert_eq!(c.status(), Status::Blocked);
    }
}
