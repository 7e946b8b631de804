//! The terminal view: header, what changed since the previous run, then one line per target
//! (blocked first) with its status now, since when, a compact history and the methods.
//! Strings from records come from the network: control characters are escaped so a record
//! cannot drive the terminal.

use std::fmt::Write;

use super::summary::{glyph, status_index, ChangeKind, Run, Summary, Target};
use crate::analysis::Status;

/// How many runs the history strings show.
pub const HISTORY_RUNS: usize = 12;
/// How many changes of each kind other than newly blocked and unblocked are listed.
const OTHER_CHANGES: usize = 10;

/// `n` and `word`, plural unless `n` is 1: "1 target", "2 targets".
pub fn count(n: usize, word: &str) -> String {
    match n {
        1 => format!("1 {word}"),
        n => format!("{n} {word}s"),
    }
}

/// A string from a record made safe for a terminal: control characters and bidi overrides
/// escaped, as `vantage show` does (one rule for every command that prints record text).
pub fn clean(s: &str) -> String {
    crate::screen::escape(s)
}

/// `B B . d` over the last `HISTORY_RUNS` runs, oldest first.
pub fn history(t: &Target) -> String {
    let from = t.history.len().saturating_sub(HISTORY_RUNS);
    let mut s = String::new();
    for cell in &t.history[from..] {
        if !s.is_empty() {
            s.push(' ');
        }
        s.push(glyph(cell.as_ref().map(|c| c.status())));
    }
    s
}

/// `blocked 2/3`: the status now, with the repeats that agree when there were several.
fn status_now(t: &Target) -> String {
    let c = t.known();
    if c.repeats() > 1 {
        format!("{} {}/{}", t.now.as_str(), c.agreeing(), c.repeats())
    } else {
        t.now.as_str().to_string()
    }
}

/// `  [control failed for 7/7 targets]` when the run's control failed for most targets.
fn trouble(r: &Run) -> String {
    r.control_trouble()
        .map(|t| format!("  [{t}]"))
        .unwrap_or_default()
}

/// The last runs, oldest first: start, targets, blocked, unknown, and control trouble.
fn runs(o: &mut String, s: &Summary) {
    let from = s.runs.len().saturating_sub(HISTORY_RUNS);
    let _ = writeln!(
        o,
        "Runs ({}oldest first):",
        if from > 0 { "the last 12 runs, " } else { "" }
    );
    for r in &s.runs[from..] {
        let _ = writeln!(
            o,
            "  {}  {:>5} targets  {:>5} blocked  {:>5} unknown  {}{}",
            r.start,
            r.measured(),
            r.blocked(),
            r.tally[status_index(Status::Unknown)],
            clean(&r.id),
            trouble(r)
        );
    }
    o.push('\n');
}

/// The whole terminal report. `source` names where the records came from.
pub fn render(s: &Summary, source: &str) -> String {
    let mut o = String::new();
    let first = s.runs.first().expect("a summary has runs");
    let last = s.runs.last().unwrap();
    let _ = writeln!(
        o,
        "vantage report: {}, {}",
        clean(source),
        count(s.measurements, "measurement")
    );
    let _ = writeln!(
        o,
        "{} from {} to {} UTC, {}",
        count(s.runs.len(), "run"),
        first.start,
        last.end,
        count(s.targets.len(), "target")
    );
    let now = s.now_tally();
    let _ = writeln!(
        o,
        "now: {}",
        Status::ALL
            .iter()
            .map(|&st| format!("{} {}", now[status_index(st)], st.as_str()))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let _ = writeln!(
        o,
        "last run: {} ({}){}",
        clean(&last.id),
        last.start,
        trouble(last)
    );
    o.push('\n');
    runs(&mut o, s);

    if s.runs.len() < 2 {
        let _ = writeln!(o, "Changes since the previous run: none (only one run)");
    } else {
        let prev = &s.runs[s.runs.len() - 2];
        let _ = writeln!(
            o,
            "Changes since the previous run ({}, {}):",
            clean(&prev.id),
            prev.start
        );
        if s.changes.is_empty() {
            let _ = writeln!(o, "  none");
        }
        // Every newly blocked and unblocked target; of the other kinds (down, back up, unknown)
        // the first few, since they can be many on a flaky network.
        for group in s.changes.chunk_by(|a, b| a.kind() == b.kind()) {
            let kind = group[0].kind();
            let all = matches!(kind, ChangeKind::NewlyBlocked | ChangeKind::Unblocked);
            let limit = if all { group.len() } else { OTHER_CHANGES };
            for c in group.iter().take(limit) {
                let _ = writeln!(
                    o,
                    "  {:<14} {}  ({})",
                    format!("{}:", kind.label()),
                    clean(&c.input),
                    c.detail()
                );
            }
            if group.len() > limit {
                let _ = writeln!(
                    o,
                    "  {:<14} ... and {} more",
                    format!("{}:", kind.label()),
                    group.len() - limit
                );
            }
        }
    }
    o.push('\n');

    let shown = s.runs.len().min(HISTORY_RUNS);
    let _ = writeln!(
        o,
        "Targets (history over the last {shown} run{}, oldest first: B blocked, . accessible, d down, ? unknown, - not measured):",
        if shown == 1 { "" } else { "s" }
    );
    let hw = (shown * 2).saturating_sub(1).max("HISTORY".len());
    let _ = writeln!(
        o,
        "  {:<16} {:<19} {:>4}  {:<hw$}  TARGET  [METHODS]",
        "STATUS", "SINCE", "RUNS", "HISTORY"
    );
    for t in &s.targets {
        let since = &s.runs[t.since_run].start;
        let mut line = format!(
            "  {:<16} {:<19} {:>4}  {:<hw$}  {}",
            status_now(t),
            since,
            t.streak,
            history(t),
            clean(&t.input)
        );
        if t.now == Status::Blocked && !t.known().methods.is_empty() {
            let _ = write!(line, "  [{}]", clean(&t.known().methods.join(", ")));
        }
        if t.stale() {
            let _ = write!(line, "  (last run: unknown; status as last known)");
        }
        if t.last_run + 1 != s.runs.len() {
            let _ = write!(line, "  (not in the last run)");
        }
        o.push_str(&line);
        o.push('\n');
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_singular_or_plural() {
        assert_eq!(count(1, "target"), "1 target");
        assert_eq!(count(0, "run"), "0 runs");
        assert_eq!(count(2, "measurement"), "2 measurements");
    }

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(clean("a\u{1b}[2Jb\n"), "a\\u{1b}[2Jb\\u{a}");
        // A bidi override would reorder what follows it on screen (a name read backwards).
        assert_eq!(clean("x\u{202e}moc.evil"), "x\\u{202e}moc.evil");
        assert_eq!(clean("plain"), "plain");
    }
}
