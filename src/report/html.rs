//! The HTML view: one self-contained page (inline CSS and SVG, no script, nothing fetched: a
//! Content-Security-Policy forbids it) that names the vantage point, country, network and
//! time range, then the summary numbers, what changed since the previous run, the runs (those
//! whose control failed marked), charts of the blocked share per run and per category, tables
//! of the blocked targets (since when, methods, a link to the evidence) and of the others, and
//! the evidence of each blocked target with its `measurement_uid` and the `vantage show`
//! command that prints the whole measurement.
//!
//! Built with maud: every string that came from a record (records carry what the network
//! sent) is HTML-escaped by construction; [`Text`] also replaces control characters.

use maud::{html, Markup, PreEscaped, Render, DOCTYPE};

use super::chart;
use super::summary::{status_index, Change, ChangeKind, Place, Summary, Target};
use super::terminal::count;
use crate::analysis::Status;

/// How many runs the history strips in the tables, and the runs table, show.
const HISTORY_RUNS: usize = 24;

/// Text from a record: escaped (by maud) with control characters (but newline and tab)
/// replaced by U+FFFD.
pub struct Text<'a>(pub &'a str);

impl Render for Text<'_> {
    fn render_to(&self, buf: &mut String) {
        use std::fmt::Write;
        let mut e = maud::Escaper::new(buf);
        for c in self.0.chars() {
            let c = if c.is_control() && c != '\n' && c != '\t' {
                '\u{fffd}'
            } else {
                c
            };
            let _ = e.write_char(c);
        }
    }
}

const STYLE: &str = r#"
*{box-sizing:border-box}
body{margin:0;background:#f6f7f9;color:#1d2330;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
main{max-width:1200px;margin:0 auto;padding:24px 28px 48px}
h1{font-size:26px;margin:0 0 4px}
h2{font-size:19px;margin:32px 0 10px;border-bottom:1px solid #d9dde3;padding-bottom:4px}
.meta{color:#555d6b;margin:0 0 18px}
.cards{display:flex;flex-wrap:wrap;gap:12px}
.card{flex:1 1 130px;background:#fff;border:1px solid #d9dde3;border-radius:6px;padding:10px 14px}
.card b{display:block;font-size:28px;line-height:1.2}
.card span{color:#555d6b;font-size:13px}
.card.blocked b{color:#b3261e}
.chart{background:#fff;border:1px solid #d9dde3;border-radius:6px;padding:8px}
.chart svg{display:block;width:100%;height:auto}
table{border-collapse:collapse;width:100%;background:#fff;border:1px solid #d9dde3}
th,td{text-align:left;vertical-align:top;padding:6px 8px;border-bottom:1px solid #e6e9ee;font-size:14px}
th{background:#eef0f4;font-weight:600;white-space:nowrap}
td.target{overflow-wrap:anywhere;min-width:200px;max-width:320px;font-family:ui-monospace,"DejaVu Sans Mono",Menlo,Consolas,monospace;font-size:13px}
td.nowrap{white-space:nowrap}
td ul{margin:0;padding-left:18px}
td.evidence{max-width:400px;overflow-wrap:anywhere}
.wide{overflow-x:auto}
.m{display:inline-block;background:#fbe4e2;color:#8c1d18;border-radius:3px;padding:0 5px;margin:1px 2px 1px 0;font-size:12.5px;font-family:ui-monospace,"DejaVu Sans Mono",Menlo,Consolas,monospace}
.s{font-weight:600}
.s.blocked{color:#b3261e}.s.down{color:#7a5a00}.s.unknown{color:#555d6b}.s.accessible{color:#1e6b35}
.h{display:inline-block;width:9px;height:14px;margin-right:2px;border-radius:2px;vertical-align:middle}
.h.blocked{background:#c0392b}.h.accessible{background:#6fbf73}.h.down{background:#e0b000}.h.unknown{background:#9aa1ab}.h.none{background:transparent;border:1px dashed #c5cad2}
details{margin:8px 0}
summary{cursor:pointer;color:#1d2330}
.legend{color:#555d6b;font-size:13px;margin:6px 0}
.small{color:#555d6b;font-size:12.5px;font-weight:400}
.where{display:flex;flex-wrap:wrap;gap:8px 28px;margin:6px 0 10px}
.where dt{color:#555d6b;font-size:12.5px}.where dd{margin:0;font-weight:600}
tr.control-failed td{background:#f3f1ea}
.stale{font-style:italic}
.ev{background:#fff;border:1px solid #d9dde3;border-radius:6px;padding:8px 14px;margin:10px 0}
.ev h3{font-size:15px;margin:4px 0;overflow-wrap:anywhere;font-family:ui-monospace,"DejaVu Sans Mono",Menlo,Consolas,monospace}
.ev:target{border-color:#b3261e;box-shadow:0 0 0 2px #fbe4e2}
code{font-family:ui-monospace,"DejaVu Sans Mono",Menlo,Consolas,monospace;font-size:12.5px;overflow-wrap:anywhere}
code.cmd{background:#eef0f4;padding:1px 5px;border-radius:3px}
"#;

fn status_class(s: Option<Status>) -> &'static str {
    s.map_or("none", Status::as_str)
}

/// Colored squares for the last runs, oldest first, each with the run's time as its title.
fn strip(s: &Summary, t: &Target) -> Markup {
    let from = t.history.len().saturating_sub(HISTORY_RUNS);
    html! {
        @for (i, cell) in t.history.iter().enumerate().skip(from) {
            @let st = cell.as_ref().map(|c| c.status());
            @let label = match cell {
                Some(c) if c.repeats() > 1 => {
                    format!("{} {}/{}", status_class(st), c.agreeing(), c.repeats())
                }
                Some(_) => status_class(st).to_string(),
                None => "not measured".to_string(),
            };
            span class=(format!("h {}", status_class(st)))
                title=(format!("{} UTC: {label}", s.runs[i].start)) {}
        }
    }
}

fn legend() -> Markup {
    html! {
        p.legend {
            "History, oldest first: "
            @for (class, label) in [("blocked", "blocked"), ("accessible", "accessible"),
                ("down", "down"), ("unknown", "unknown"), ("none", "not measured")] {
                span class=(format!("h {class}")) {} " " (label) " "
            }
        }
    }
}

fn methods(ms: &[String]) -> Markup {
    html! { @for m in ms { span.m { (Text(m)) } } }
}

/// The distinct values of one field of the places, joined ("not named" when empty).
fn distinct(places: &[Place], field: fn(&Place) -> &str) -> String {
    let mut v: Vec<&str> = places.iter().map(field).filter(|x| !x.is_empty()).collect();
    v.sort_unstable();
    v.dedup();
    if v.is_empty() {
        "not named".into()
    } else {
        v.join(", ")
    }
}

/// Where and when: vantage point, country, network, time range.
fn where_and_when(s: &Summary) -> Markup {
    let first = s.runs.first().expect("a summary has runs");
    let last = s.runs.last().unwrap();
    html! {
        dl.where {
            div { dt { "Vantage point" } dd { (Text(&distinct(&s.places, |p| &p.vantage_point))) } }
            div { dt { "Country" } dd { (Text(&distinct(&s.places, |p| &p.probe_cc))) } }
            div { dt { "Network (ASN)" } dd { (Text(&distinct(&s.places, |p| &p.probe_asn))) } }
            div { dt { "Time range (UTC)" } dd { (Text(&first.start)) " to " (Text(&last.end)) } }
        }
    }
}

fn cards(s: &Summary) -> Markup {
    let now = s.now_tally();
    let count = |k: ChangeKind| s.changes.iter().filter(|c| c.kind() == k).count();
    let blocked_now = now[status_index(Status::Blocked)];
    let stale = s.targets.iter().filter(|t| t.stale()).count();
    html! {
        div.cards {
            div.card.blocked { b { (blocked_now) } span { "blocked now (" (format!("{:.0}", chart::pct(blocked_now, s.targets.len()))) "% of targets)" } }
            div.card.blocked { b { (count(ChangeKind::NewlyBlocked)) } span { "newly blocked in the last run" } }
            div.card { b { (count(ChangeKind::Unblocked)) } span { "unblocked in the last run" } }
            div.card { b { (now[status_index(Status::Accessible)]) } span { "accessible now" } }
            div.card { b { (now[status_index(Status::Down)]) } span { "down now (from everywhere)" } }
            div.card { b { (now[status_index(Status::Unknown)]) } span { "never known (always unknown)" } }
            div.card { b { (stale) } span { "unknown in the last run (shown as last known)" } }
        }
    }
}

fn changes_table(s: &Summary) -> Markup {
    if s.runs.len() < 2 {
        return html! { p { "Only one run so far: nothing to compare." } };
    }
    let (prev, last) = (&s.runs[s.runs.len() - 2], &s.runs[s.runs.len() - 1]);
    let blocking =
        |c: &&Change| matches!(c.kind(), ChangeKind::NewlyBlocked | ChangeKind::Unblocked);
    let (main, rest): (Vec<&Change>, Vec<&Change>) = s.changes.iter().partition(blocking);
    let mut kinds: Vec<(ChangeKind, usize)> = Vec::new();
    for c in &rest {
        match kinds.iter_mut().find(|(k, _)| *k == c.kind()) {
            Some((_, n)) => *n += 1,
            None => kinds.push((c.kind(), 1)),
        }
    }
    let counts: Vec<String> = kinds
        .iter()
        .map(|(k, n)| format!("{} {n}", k.label()))
        .collect();
    html! {
        p.small {
            "Run " (Text(&last.id)) " (" (Text(&last.start)) " UTC) compared with run "
            (Text(&prev.id)) " (" (Text(&prev.start)) " UTC), for the targets the last run \
            measured. Only informative statuses count: a target the last run could not tell \
            about (unknown) has not changed."
        }
        @if s.changes.is_empty() {
            p { "No target changed status." }
        } @else {
            @if main.is_empty() {
                p { "Nothing was newly blocked or unblocked." }
            } @else {
                (change_rows(&main))
            }
            @if !rest.is_empty() {
                details {
                    summary {
                        (rest.len()) " other change" @if rest.len() != 1 { "s" }
                        " (" (counts.join(", ")) ")"
                    }
                    (change_rows(&rest))
                }
            }
        }
    }
}

fn change_rows(changes: &[&Change]) -> Markup {
    html! {
        table {
            tr { th { "Change" } th { "Target" } th { "Was" } th { "Now" } }
            @for c in changes {
                @let cls = match c.kind() {
                    ChangeKind::NewlyBlocked => "blocked",
                    ChangeKind::Unblocked | ChangeKind::BackUp => "accessible",
                    ChangeKind::NewlyDown => "down",
                    ChangeKind::Other => "unknown",
                };
                @let was = match c.from {
                    Some(s) => s.as_str(),
                    None if c.measured_before => "unknown",
                    None => "new target",
                };
                tr.change {
                    td class=(format!("nowrap s {cls}")) { (c.kind().label()) }
                    td.target { (Text(&c.input)) }
                    td class=(format!("s {}", status_class(c.from))) { (was) }
                    td class=(format!("s {}", c.to.as_str())) { (c.to.as_str()) }
                }
            }
        }
    }
}

/// The last runs, newest first, with those whose control failed for most targets marked.
fn runs_table(s: &Summary) -> Markup {
    let from = s.runs.len().saturating_sub(HISTORY_RUNS);
    html! {
        table {
            tr { th { "Start (UTC)" } th { "Run" } th { "Targets" } th { "Blocked" } th { "Unknown" } th { "Control" } }
            @for r in s.runs[from..].iter().rev() {
                @let trouble = r.control_trouble();
                tr class=[trouble.as_ref().map(|_| "control-failed")] {
                    td.nowrap { (Text(&r.start)) }
                    td.target { (Text(&r.id)) }
                    td { (r.measured()) }
                    td { (r.blocked()) }
                    td { (r.tally[status_index(Status::Unknown)]) }
                    td { @match &trouble { Some(t) => { span.s.unknown { (t) } }, None => { "answered" } } }
                }
            }
        }
    }
}

/// The anchor of a blocked target's evidence: `m-UID` when the uid is a plain name, else by
/// position.
fn anchor(uid: &str, i: usize) -> String {
    let plain = !uid.is_empty()
        && uid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if plain {
        format!("m-{uid}")
    } else {
        format!("evidence-{i}")
    }
}

/// The targets blocked now, each with the anchor of its evidence (unique in the page).
fn blocked(s: &Summary) -> Vec<(&Target, String)> {
    let mut seen = std::collections::HashSet::new();
    s.targets
        .iter()
        .filter(|t| t.now == Status::Blocked)
        .enumerate()
        .map(|(i, t)| {
            let uid = t
                .evidence
                .as_ref()
                .map_or("", |e| e.measurement_uid.as_str());
            let mut a = anchor(uid, i);
            if !seen.insert(a.clone()) {
                a = format!("evidence-{i}");
            }
            (t, a)
        })
        .collect()
}

fn blocked_table(s: &Summary) -> Markup {
    let blocked = blocked(s);
    if blocked.is_empty() {
        return html! { p { "No target is blocked now." } };
    }
    html! {
        table {
            tr { th { "Target" } th { "Category" } th { "Blocked since (UTC)" } th { "Methods" } th { "Evidence (latest blocked measurement)" } th { "History" } }
            @for (t, anchor) in &blocked {
                @let c = t.known();
                tr.blocked-row {
                    td.target { (Text(&t.input)) }
                    td { (Text(t.category.as_deref().unwrap_or(""))) }
                    td.nowrap {
                        (Text(&s.runs[t.since_run].start)) br;
                        span.small { (t.streak) " run" @if t.streak != 1 { "s" } " in a row" }
                        @if c.repeats() > 1 {
                            br; span.small { "last blocked run: " (c.agreeing()) "/" (c.repeats()) " blocked" }
                        }
                        @if t.stale() {
                            br; span.small.stale { "last run: unknown (status as last known)" }
                        }
                    }
                    td { (methods(&c.methods)) }
                    td.evidence {
                        @if let Some(ev) = &t.evidence {
                            ul { @for r in &ev.reasons { li { (Text(r)) } } }
                            span.small {
                                "measured " (Text(&ev.time)) " UTC · "
                                a href=(format!("#{anchor}")) {
                                    @if ev.measurement_uid.is_empty() { "evidence" } @else { (Text(&ev.measurement_uid)) }
                                }
                            }
                        }
                    }
                    td.nowrap { (strip(s, t)) }
                }
            }
        }
    }
}

/// Each blocked target's latest blocked measurement: its uid, methods, reasons, and the
/// command that prints all of it.
fn evidence_section(s: &Summary, results: &str) -> Markup {
    html! {
        @for (t, anchor) in blocked(s) {
            @if let Some(ev) = &t.evidence {
                div.ev id=(anchor) {
                    h3 { (Text(&t.input)) }
                    p.small {
                        "measured " (Text(&ev.time)) " UTC in run " (Text(&ev.run))
                        @if !ev.measurement_uid.is_empty() { " · measurement_uid " code { (Text(&ev.measurement_uid)) } }
                    }
                    p { (methods(&ev.methods)) }
                    ul { @for r in &ev.reasons { li { (Text(r)) } } }
                    @if !ev.measurement_uid.is_empty() {
                        p.small { "Every step of it: " code.cmd { "vantage show " (Text(results)) " " (Text(&ev.measurement_uid)) } }
                    }
                }
            }
        }
    }
}

fn others_table(s: &Summary) -> Markup {
    let others: Vec<&Target> = s
        .targets
        .iter()
        .filter(|t| t.now != Status::Blocked)
        .collect();
    if others.is_empty() {
        return html! { p { "None: every target is blocked." } };
    }
    html! {
        table {
            tr { th { "Status now" } th { "Since (UTC)" } th { "Runs in a row" } th { "Target" } th { "Category" } th { "History" } }
            @for t in others {
                tr {
                    td class=(format!("s {}", t.now.as_str())) {
                        (t.now.as_str())
                        @if t.stale() { br; span.small.stale { "last run: unknown" } }
                        @if let Some(e) = &t.evidence { br; span.small { "last blocked " (Text(&e.time)) " UTC" } }
                    }
                    td.nowrap { (Text(&s.runs[t.since_run].start)) }
                    td { (t.streak) }
                    td.target { (Text(&t.input)) }
                    td { (Text(t.category.as_deref().unwrap_or(""))) }
                    td.nowrap { (strip(s, t)) }
                }
            }
        }
    }
}

/// The whole page. `source` names where the records came from; `results` is what `vantage
/// show` is told to read (the results directory, or `RESULTS` when it is not known here).
pub fn render(s: &Summary, source: &str, results: &str) -> String {
    let first = s.runs.first().expect("a summary has runs");
    let last = s.runs.last().unwrap();
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { "vantage report: what is blocked, and since when" }
                style { (PreEscaped(STYLE)) }
            }
            body { main {
                h1 { "What is blocked, and since when" }
                (where_and_when(s))
                p.meta {
                    (Text(source)) ": " (count(s.runs.len(), "run"))
                    " from " (Text(&first.start)) " to " (Text(&last.end)) " UTC, "
                    (count(s.targets.len(), "target")) ", " (count(s.measurements, "measurement"))
                    ". Made by vantage "
                    (env!("CARGO_PKG_VERSION")) "."
                }
                (cards(s))
                h2 { "Changes since the previous run" }
                (changes_table(s))
                h2 id="runs" { "Runs" }
                p.small { "Newest first. A run whose control failed (or that had none) for most of its targets could not tell blocked from accessible: its unknowns are the control's, not the targets'." }
                div.wide { (runs_table(s)) }
                h2 { "Blocked share over time" }
                p.small { "Share of the targets each run measured that were blocked (a target counts as blocked in a run if any of its repeats was)." }
                div.chart { (chart::runs(s)) }
                h2 { "Blocked share per category (now)" }
                p.small { "Each target's status as last known (the latest run that could tell)." }
                div.chart { (chart::categories(s)) }
                h2 id="blocked" { "Blocked targets" }
                (legend())
                div.wide { (blocked_table(s)) }
                h2 id="others" { "Other targets" }
                div.wide { (others_table(s)) }
                h2 id="evidence" { "Evidence" }
                (evidence_section(s, results))
                p.small { "Verdicts are vantage's x_verdict: blocked names the methods with one sentence of evidence each; down means the site failed from the control too and is never counted as blocked; unknown tells nothing about the target." }
            } }
        }
    };
    let mut o = page.into_string();
    o.push('\n');
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_escapes_markup_and_control_characters() {
        let s =
            html! { p title=(Text("a\"b")) { (Text("<script>alert('x')</script> & \u{1b}[2J")) } };
        assert_eq!(
            s.into_string(),
            "<p title=\"a&quot;b\">&lt;script&gt;alert('x')&lt;/script&gt; &amp; \u{fffd}[2J</p>"
        );
    }

    #[test]
    fn anchors_are_plain() {
        assert_eq!(anchor("20261123_ZZ_web_ab", 0), "m-20261123_ZZ_web_ab");
        assert_eq!(anchor("a\"b c", 3), "evidence-3");
        assert_eq!(anchor("", 1), "evidence-1");
    }
}
