//! The HTML view: one self-contained page (inline CSS and SVG, no script, nothing fetched: a
//! Content-Security-Policy forbids it) with the summary numbers, what changed since the previous
//! run, a chart of blocked share per run and per category, and tables of the blocked targets
//! (since when, methods, the latest evidence) and of the others. Every string that came from a
//! record is HTML-escaped: records carry what the network sent.

use std::fmt::Write;

use super::summary::{status_index, Change, ChangeKind, Summary, Target};
use crate::analysis::Status;

/// How many runs the history strips in the tables show.
const HISTORY_RUNS: usize = 24;

/// Escapes text for HTML element content and attribute values.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c if c.is_control() && c != '\n' && c != '\t' => o.push('\u{fffd}'),
            c => o.push(c),
        }
    }
    o
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
"#;

fn status_class(s: Option<Status>) -> &'static str {
    s.map_or("none", Status::as_str)
}

/// Colored squares for the last runs, oldest first, each with the run's time as its title.
fn strip(s: &Summary, t: &Target) -> String {
    let from = t.history.len().saturating_sub(HISTORY_RUNS);
    let mut o = String::new();
    for (i, cell) in t.history.iter().enumerate().skip(from) {
        let st = cell.as_ref().map(|c| c.status());
        let label = match cell {
            Some(c) if c.repeats() > 1 => {
                format!("{} {}/{}", status_class(st), c.agreeing(), c.repeats())
            }
            Some(_) => status_class(st).to_string(),
            None => "not measured".to_string(),
        };
        let _ = write!(
            o,
            r#"<span class="h {}" title="{} UTC: {}"></span>"#,
            status_class(st),
            esc(&s.runs[i].start),
            label
        );
    }
    o
}

fn legend() -> &'static str {
    r#"<p class="legend">History, oldest first: <span class="h blocked"></span> blocked <span class="h accessible"></span> accessible <span class="h down"></span> down <span class="h unknown"></span> unknown <span class="h none"></span> not measured</p>"#
}

fn pct(part: usize, whole: usize) -> f64 {
    if whole == 0 {
        0.0
    } else {
        100.0 * part as f64 / whole as f64
    }
}

/// Bar chart of the blocked share of each run's targets, with a percentage grid.
fn runs_chart(s: &Summary) -> String {
    let (w, h) = (1140.0, 320.0);
    let (left, right, top, bottom) = (56.0, 16.0, 18.0, 58.0);
    let pw = w - left - right;
    let ph = h - top - bottom;
    let n = s.runs.len();
    let mut o = String::new();
    let _ = write!(
        o,
        r##"<svg viewBox="0 0 {w} {h}" role="img" aria-label="Blocked share per run"><rect x="0" y="0" width="{w}" height="{h}" fill="#fff"/>"##
    );
    // The axis ends at the smallest of 10, 20, 40, 60, 80, 100% that holds every run's
    // share, so a low share still shows its trend.
    let highest = s
        .runs
        .iter()
        .map(|r| pct(r.blocked(), r.measured()))
        .fold(0.0, f64::max);
    let top_pct = [10.0, 20.0, 40.0, 60.0, 80.0, 100.0]
        .into_iter()
        .find(|&t| highest <= t)
        .unwrap_or(100.0);
    for q in 0..=4 {
        let p = top_pct * q as f64 / 4.0;
        let y = top + ph * (1.0 - p / top_pct);
        let _ = write!(
            o,
            r##"<line x1="{left}" x2="{x2}" y1="{y:.1}" y2="{y:.1}" stroke="#e3e6eb"/><text x="{tx}" y="{ty:.1}" font-size="12" text-anchor="end" fill="#555d6b">{p}%</text>"##,
            x2 = left + pw,
            tx = left - 8.0,
            ty = y + 4.0
        );
    }
    let slot = pw / n as f64;
    let bar = (slot * 0.7).clamp(1.0, 60.0);
    let label_every = n.div_ceil(10).max(1);
    let mut points = Vec::new();
    for (i, r) in s.runs.iter().enumerate() {
        let share = pct(r.blocked(), r.measured());
        let cx = left + slot * (i as f64 + 0.5);
        let bh = ph * share / top_pct;
        let y = top + ph - bh;
        points.push(format!("{cx:.1},{y:.1}"));
        let _ = write!(
            o,
            r##"<rect x="{x:.1}" y="{y:.1}" width="{bar:.1}" height="{bh:.1}" fill="#c0392b" opacity="0.85"><title>{t} UTC, run {id}: {b} of {m} targets blocked ({share:.0}%)</title></rect>"##,
            x = cx - bar / 2.0,
            t = esc(&r.start),
            id = esc(&r.id),
            b = r.blocked(),
            m = r.measured()
        );
        if n <= 24 {
            let _ = write!(
                o,
                r##"<text x="{cx:.1}" y="{ly:.1}" font-size="12" text-anchor="middle" fill="#1d2330">{share:.0}%</text>"##,
                ly = y - 5.0
            );
        }
        // Counted from the last run, which is always labelled.
        if (n - 1 - i).is_multiple_of(label_every) {
            let date = r.start.get(5..16).unwrap_or(&r.start);
            let _ = write!(
                o,
                r##"<text x="{cx:.1}" y="{ly:.1}" font-size="12" text-anchor="middle" fill="#555d6b">{d}</text>"##,
                ly = top + ph + 18.0,
                d = esc(date)
            );
        }
    }
    if n > 1 {
        let _ = write!(
            o,
            r##"<polyline points="{}" fill="none" stroke="#7a1f16" stroke-width="2"/>"##,
            points.join(" ")
        );
    }
    let _ = write!(
        o,
        r##"<line x1="{left}" x2="{x2}" y1="{y}" y2="{y}" stroke="#888"/><text x="{cx}" y="{ly}" font-size="13" text-anchor="middle" fill="#555d6b">run (start time, UTC, MM-DD hh:mm)</text></svg>"##,
        x2 = left + pw,
        y = top + ph,
        cx = left + pw / 2.0,
        ly = h - 12.0
    );
    o
}

/// Horizontal bars: the share of each category's targets blocked now.
fn categories_chart(s: &Summary) -> String {
    let cats = s.categories();
    let row = 28.0;
    let (w, left, right, top) = (1140.0, 200.0, 250.0, 10.0);
    let pw = w - left - right;
    let h = top * 2.0 + row * cats.len() as f64;
    let mut o = String::new();
    let _ = write!(
        o,
        r##"<svg viewBox="0 0 {w} {h}" role="img" aria-label="Blocked share per category"><rect x="0" y="0" width="{w}" height="{h}" fill="#fff"/>"##
    );
    for (i, (cat, blocked, total)) in cats.iter().enumerate() {
        let y = top + row * i as f64;
        let share = pct(*blocked, *total);
        let _ = write!(
            o,
            r##"<text x="{lx}" y="{ty:.1}" font-size="13" text-anchor="end" fill="#1d2330">{c}</text><rect x="{left}" y="{by:.1}" width="{pw}" height="18" fill="#eef0f4"/><rect x="{left}" y="{by:.1}" width="{bw:.1}" height="18" fill="#c0392b"/><text x="{vx}" y="{ty:.1}" font-size="13" fill="#1d2330">{blocked} of {total} blocked ({share:.0}%)</text>"##,
            lx = left - 10.0,
            ty = y + 18.0,
            by = y + 5.0,
            c = esc(cat),
            bw = pw * share / 100.0,
            vx = left + pw + 10.0
        );
    }
    o.push_str("</svg>");
    o
}

fn methods(ms: &[String]) -> String {
    ms.iter()
        .map(|m| format!(r#"<span class="m">{}</span>"#, esc(m)))
        .collect()
}

fn changes_table(s: &Summary) -> String {
    if s.runs.len() < 2 {
        return "<p>Only one run so far: nothing to compare.</p>".into();
    }
    let prev = &s.runs[s.runs.len() - 2];
    let mut o = format!(
        "<p class=\"small\">Run {} ({} UTC) compared with run {} ({} UTC), for the targets the last run measured.</p>",
        esc(&s.runs[s.runs.len() - 1].id),
        esc(&s.runs[s.runs.len() - 1].start),
        esc(&prev.id),
        esc(&prev.start)
    );
    if s.changes.is_empty() {
        o.push_str("<p>No target changed status.</p>");
        return o;
    }
    let blocking =
        |c: &&Change| matches!(c.kind(), ChangeKind::NewlyBlocked | ChangeKind::Unblocked);
    let (main, rest): (Vec<&Change>, Vec<&Change>) = s.changes.iter().partition(blocking);
    if main.is_empty() {
        o.push_str("<p>Nothing was newly blocked or unblocked.</p>");
    } else {
        o.push_str(&change_rows(&main));
    }
    if !rest.is_empty() {
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
        let _ = write!(
            o,
            "<details><summary>{} other change{} ({})</summary>{}</details>",
            rest.len(),
            if rest.len() == 1 { "" } else { "s" },
            counts.join(", "),
            change_rows(&rest)
        );
    }
    o
}

fn change_rows(changes: &[&Change]) -> String {
    let mut o =
        String::from("<table><tr><th>Change</th><th>Target</th><th>Was</th><th>Now</th></tr>");
    for c in changes {
        let (kind, input, from, to) = (c.kind(), &c.input, &c.from, &c.to);
        let _ = write!(
            o,
            r#"<tr class="change"><td class="nowrap s {cls}">{k}</td><td class="target">{t}</td><td class="s {fc}">{f}</td><td class="s {tc}">{n}</td></tr>"#,
            cls = match kind {
                ChangeKind::NewlyBlocked => "blocked",
                ChangeKind::Unblocked | ChangeKind::BackUp => "accessible",
                ChangeKind::NewlyDown => "down",
                ChangeKind::Other => "unknown",
            },
            k = kind.label(),
            t = esc(input),
            fc = status_class(*from),
            f = from.map_or("new target", Status::as_str),
            tc = to.as_str(),
            n = to.as_str()
        );
    }
    o.push_str("</table>");
    o
}

fn blocked_table(s: &Summary) -> String {
    let blocked: Vec<&Target> = s
        .targets
        .iter()
        .filter(|t| t.now == Status::Blocked)
        .collect();
    if blocked.is_empty() {
        return "<p>No target is blocked now.</p>".into();
    }
    let mut o = String::from(
        "<table><tr><th>Target</th><th>Category</th><th>Blocked since (UTC)</th><th>Methods</th><th>Evidence (latest blocked measurement)</th><th>History</th></tr>",
    );
    for t in blocked {
        let c = t.last();
        let repeats = if c.repeats() > 1 {
            format!(
                "<br><span class=\"small\">last run: {}/{} blocked</span>",
                c.agreeing(),
                c.repeats()
            )
        } else {
            String::new()
        };
        let mut evidence = String::new();
        if let Some(ev) = &t.evidence {
            evidence.push_str("<ul>");
            for r in &ev.reasons {
                let _ = write!(evidence, "<li>{}</li>", esc(r));
            }
            let _ = write!(
                evidence,
                "</ul><span class=\"small\">measured {} UTC</span>",
                esc(&ev.time)
            );
        }
        let _ = write!(
            o,
            r#"<tr class="blocked-row"><td class="target">{input}</td><td>{cat}</td><td class="nowrap">{since}<br><span class="small">{streak} run{pl} in a row</span>{repeats}</td><td>{m}</td><td class="evidence">{evidence}</td><td class="nowrap">{h}</td></tr>"#,
            input = esc(&t.input),
            cat = esc(t.category.as_deref().unwrap_or("")),
            since = esc(&s.runs[t.since_run].start),
            streak = t.streak,
            pl = if t.streak == 1 { "" } else { "s" },
            m = methods(&c.methods),
            h = strip(s, t)
        );
    }
    o.push_str("</table>");
    o
}

fn others_table(s: &Summary) -> String {
    let others: Vec<&Target> = s
        .targets
        .iter()
        .filter(|t| t.now != Status::Blocked)
        .collect();
    if others.is_empty() {
        return "<p>None: every target is blocked.</p>".into();
    }
    let mut o = String::from(
        "<table><tr><th>Status now</th><th>Since (UTC)</th><th>Runs in a row</th><th>Target</th><th>Category</th><th>History</th></tr>",
    );
    for t in others {
        let last_blocked = t
            .evidence
            .as_ref()
            .map(|e| {
                format!(
                    "<br><span class=\"small\">last blocked {} UTC</span>",
                    esc(&e.time)
                )
            })
            .unwrap_or_default();
        let _ = write!(
            o,
            r#"<tr><td class="s {st}">{st}{lb}</td><td class="nowrap">{since}</td><td>{streak}</td><td class="target">{input}</td><td>{cat}</td><td class="nowrap">{h}</td></tr>"#,
            st = t.now.as_str(),
            lb = last_blocked,
            since = esc(&s.runs[t.since_run].start),
            streak = t.streak,
            input = esc(&t.input),
            cat = esc(t.category.as_deref().unwrap_or("")),
            h = strip(s, t)
        );
    }
    o.push_str("</table>");
    o
}

/// The whole page. `source` names where the records came from.
pub fn render(s: &Summary, source: &str) -> String {
    let first = s.runs.first().expect("a summary has runs");
    let last = s.runs.last().unwrap();
    let now = s.now_tally();
    let count = |k: ChangeKind| s.changes.iter().filter(|c| c.kind() == k).count();
    let blocked_now = now[status_index(Status::Blocked)];
    let mut o = String::new();
    let _ = write!(
        o,
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>vantage report: what is blocked, and since when</title>
<style>{STYLE}</style></head><body><main>
<h1>What is blocked, and since when</h1>
<p class="meta">{source}: {runs} run{pl} from {a} to {b} UTC, {targets} targets, {meas} measurements. Made by vantage {ver}.</p>
<div class="cards">
<div class="card blocked"><b>{blocked_now}</b><span>blocked now ({bp:.0}% of targets)</span></div>
<div class="card blocked"><b>{nb}</b><span>newly blocked in the last run</span></div>
<div class="card"><b>{ub}</b><span>unblocked in the last run</span></div>
<div class="card"><b>{acc}</b><span>accessible now</span></div>
<div class="card"><b>{down}</b><span>down now (from everywhere)</span></div>
<div class="card"><b>{unk}</b><span>unknown now</span></div>
</div>
"#,
        source = esc(source),
        runs = s.runs.len(),
        pl = if s.runs.len() == 1 { "" } else { "s" },
        a = esc(&first.start),
        b = esc(&last.end),
        targets = s.targets.len(),
        meas = s.measurements,
        ver = env!("CARGO_PKG_VERSION"),
        bp = pct(blocked_now, s.targets.len()),
        nb = count(ChangeKind::NewlyBlocked),
        ub = count(ChangeKind::Unblocked),
        acc = now[status_index(Status::Accessible)],
        down = now[status_index(Status::Down)],
        unk = now[status_index(Status::Unknown)],
    );
    let _ = write!(
        o,
        "<h2>Changes since the previous run</h2>\n{}\n",
        changes_table(s)
    );
    let _ = write!(
        o,
        "<h2>Blocked share over time</h2>\n<p class=\"small\">Share of the targets each run measured that were blocked (a target counts as blocked in a run if any of its repeats was).</p>\n<div class=\"chart\">{}</div>\n",
        runs_chart(s)
    );
    let _ = write!(
        o,
        "<h2>Blocked share per category (now)</h2>\n<p class=\"small\">Each target's status in the latest run that measured it.</p>\n<div class=\"chart\">{}</div>\n",
        categories_chart(s)
    );
    let _ = write!(
        o,
        "<h2 id=\"blocked\">Blocked targets</h2>\n{}<div class=\"wide\">{}</div>\n",
        legend(),
        blocked_table(s)
    );
    let _ = write!(
        o,
        "<h2 id=\"others\">Other targets</h2>\n<div class=\"wide\">{}</div>\n",
        others_table(s)
    );
    o.push_str(
        "<p class=\"small\">Verdicts are vantage's x_verdict: blocked names the methods with one sentence of evidence each; down means the site failed from the control too and is never counted as blocked.</p>\n</main></body></html>\n",
    );
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_everything_markup_needs() {
        assert_eq!(
            esc(r#"<script>alert('x')</script> & "q""#),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"
        );
    }
}
