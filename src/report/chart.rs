//! The HTML report's two SVG charts, inline (nothing fetched): the blocked share of each run's
//! targets over time, and the blocked share per category now. Built with maud, so every label
//! that came from a record is escaped by construction.

use maud::{html, Markup};

use super::html::Text;
use super::summary::Summary;

pub fn pct(part: usize, whole: usize) -> f64 {
    if whole == 0 {
        0.0
    } else {
        100.0 * part as f64 / whole as f64
    }
}

/// A coordinate as SVG wants it.
fn c(v: f64) -> String {
    format!("{v:.1}")
}

/// The axis ends at the smallest of 10, 20, 40, 60, 80, 100% that holds every run's share, so
/// a low share still shows its trend.
fn axis_top(s: &Summary) -> f64 {
    let highest = s
        .runs
        .iter()
        .map(|r| pct(r.blocked(), r.measured()))
        .fold(0.0, f64::max);
    [10.0, 20.0, 40.0, 60.0, 80.0, 100.0]
        .into_iter()
        .find(|&t| highest <= t)
        .unwrap_or(100.0)
}

/// Bar chart of the blocked share of each run's targets, with a percentage grid. A run whose
/// control failed (or was missing) for most targets could not tell: it gets a grey band
/// labelled "control failed" instead of a bar, and the trend line skips it.
pub fn runs(s: &Summary) -> Markup {
    let (w, h) = (1140.0, 320.0);
    let (left, right, top, bottom) = (56.0, 16.0, 18.0, 58.0);
    let (pw, ph) = (w - left - right, h - top - bottom);
    let n = s.runs.len();
    let top_pct = axis_top(s);
    let slot = pw / n as f64;
    let bar = (slot * 0.7).clamp(1.0, 60.0);
    let label_every = n.div_ceil(10).max(1);
    let point = |i: usize| {
        let r = &s.runs[i];
        let share = pct(r.blocked(), r.measured());
        let cx = left + slot * (i as f64 + 0.5);
        let bh = ph * share / top_pct;
        (share, cx, bh, top + ph - bh)
    };
    let line: Vec<String> = (0..n)
        .filter(|&i| s.runs[i].control_trouble().is_none())
        .map(|i| {
            let (_, cx, _, y) = point(i);
            format!("{},{}", c(cx), c(y))
        })
        .collect();
    html! {
        svg viewBox=(format!("0 0 {w} {h}")) role="img" aria-label="Blocked share per run" {
            rect x="0" y="0" width=(w) height=(h) fill="#fff" {}
            @for q in 0..=4 {
                @let p = top_pct * q as f64 / 4.0;
                @let y = top + ph * (1.0 - p / top_pct);
                line x1=(left) x2=(left + pw) y1=(c(y)) y2=(c(y)) stroke="#e3e6eb" {}
                text x=(left - 8.0) y=(c(y + 4.0)) font-size="12" text-anchor="end" fill="#555d6b" { (p) "%" }
            }
            @for (i, r) in s.runs.iter().enumerate() {
                @let (share, cx, bh, y) = point(i);
                @if let Some(trouble) = r.control_trouble() {
                    rect x=(c(cx - bar / 2.0)) y=(top) width=(c(bar)) height=(ph) fill="#d5d9df" opacity="0.6" {
                        title { (Text(&r.start)) " UTC, run " (Text(&r.id)) ": " (trouble) ", so it could not tell" }
                    }
                    @if n <= 24 {
                        text x=(c(cx)) y=(c(top + ph - 6.0)) font-size="11" text-anchor="middle" fill="#555d6b" { "control failed" }
                    }
                } @else {
                rect x=(c(cx - bar / 2.0)) y=(c(y)) width=(c(bar)) height=(c(bh)) fill="#c0392b" opacity="0.85" {
                    title {
                        (Text(&r.start)) " UTC, run " (Text(&r.id)) ": " (r.blocked()) " of "
                        (r.measured()) " targets blocked (" (format!("{share:.0}")) "%)"
                    }
                }
                }
                @if n <= 24 && r.control_trouble().is_none() {
                    text x=(c(cx)) y=(c(y - 5.0)) font-size="12" text-anchor="middle" fill="#1d2330" {
                        (format!("{share:.0}%"))
                    }
                }
                // Counted from the last run, which is always labelled.
                @if (n - 1 - i).is_multiple_of(label_every) {
                    text x=(c(cx)) y=(c(top + ph + 18.0)) font-size="12" text-anchor="middle" fill="#555d6b" {
                        (Text(r.start.get(5..16).unwrap_or(&r.start)))
                    }
                }
            }
            @if line.len() > 1 {
                polyline points=(line.join(" ")) fill="none" stroke="#7a1f16" stroke-width="2" {}
            }
            line x1=(left) x2=(left + pw) y1=(top + ph) y2=(top + ph) stroke="#888" {}
            text x=(left + pw / 2.0) y=(h - 12.0) font-size="13" text-anchor="middle" fill="#555d6b" {
                "run (start time, UTC, MM-DD hh:mm)"
            }
        }
    }
}

/// Horizontal bars: the share of each category's targets blocked now.
pub fn categories(s: &Summary) -> Markup {
    let cats = s.categories();
    let row = 28.0;
    let (w, left, right, top) = (1140.0, 200.0, 250.0, 10.0);
    let pw = w - left - right;
    let h = top * 2.0 + row * cats.len() as f64;
    html! {
        svg viewBox=(format!("0 0 {w} {h}")) role="img" aria-label="Blocked share per category" {
            rect x="0" y="0" width=(w) height=(h) fill="#fff" {}
            @for (i, (cat, blocked, total)) in cats.iter().enumerate() {
                @let y = top + row * i as f64;
                @let share = pct(*blocked, *total);
                text x=(left - 10.0) y=(c(y + 18.0)) font-size="13" text-anchor="end" fill="#1d2330" { (Text(cat)) }
                rect x=(left) y=(c(y + 5.0)) width=(pw) height="18" fill="#eef0f4" {}
                rect x=(left) y=(c(y + 5.0)) width=(c(pw * share / 100.0)) height="18" fill="#c0392b" {}
                text x=(left + pw + 10.0) y=(c(y + 18.0)) font-size="13" fill="#1d2330" {
                    (blocked) " of " (total) " blocked (" (format!("{share:.0}")) "%)"
                }
            }
        }
    }
}
