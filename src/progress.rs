//! Progress of `vantage run` on a terminal: targets done out of the total, measurements in
//! flight, targets found blocked so far, time elapsed and an estimate of the time left, redrawn
//! a few times a second from the start (not only when a record is written). Drawn on stderr,
//! and not at all when stderr is not a terminal. `line` is the pure formatting.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

/// What the progress line shows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub done: u64,
    /// Measurements the pass will make, when known.
    pub total: Option<u64>,
    pub in_flight: u64,
    pub blocked: u64,
}

/// The progress line, e.g. `12/120 done · 8 in flight · 3 blocked · 9s elapsed · ETA 1m 30s`.
/// The estimate assumes the rate so far holds; with nothing done yet there is none.
pub fn line(s: &Snapshot, elapsed: Duration) -> String {
    let done = match s.total {
        Some(total) => format!("{}/{total} done", s.done),
        None => format!("{} done", s.done),
    };
    let mut out = format!(
        "{done} · {} in flight · {} blocked · {} elapsed",
        s.in_flight,
        s.blocked,
        short(elapsed)
    );
    if let Some(total) = s.total {
        let left = total.saturating_sub(s.done);
        let eta = match (left, s.done) {
            (0, _) => "0s".to_string(),
            (_, 0) => "--".to_string(),
            (left, done) => short(elapsed.mul_f64(left as f64 / done as f64)),
        };
        out.push_str(&format!(" · ETA {eta}"));
    }
    out
}

/// A duration to the second, in at most two units: `9s`, `1m 05s`, `2h 03m`.
fn short(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m {:02}s", s / 60, s % 60),
        _ => format!("{}h {:02}m", s / 3600, s % 3600 / 60),
    }
}

#[derive(Debug, Default)]
struct Counts {
    done: AtomicU64,
    /// 0: unknown.
    total: AtomicU64,
    in_flight: AtomicU64,
    blocked: AtomicU64,
}

impl Counts {
    fn snapshot(&self) -> Snapshot {
        let total = self.total.load(Ordering::Relaxed);
        Snapshot {
            done: self.done.load(Ordering::Relaxed),
            total: (total > 0).then_some(total),
            in_flight: self.in_flight.load(Ordering::Relaxed),
            blocked: self.blocked.load(Ordering::Relaxed),
        }
    }
}

/// The progress display of one pass (hidden when not wanted or stderr is not a terminal).
/// Cheap to clone; every clone updates the same counts.
#[derive(Clone, Debug)]
pub struct Progress {
    bar: ProgressBar,
    counts: Arc<Counts>,
}

/// How often the line is redrawn.
const TICK: Duration = Duration::from_millis(200);

impl Progress {
    pub fn new(show: bool) -> Progress {
        let target = if show {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        let bar = ProgressBar::with_draw_target(None, target);
        let counts = Arc::new(Counts::default());
        let c = counts.clone();
        let style = ProgressStyle::with_template("{spinner} {vantage}")
            .expect("valid template")
            .with_key(
                "vantage",
                move |state: &ProgressState, w: &mut dyn std::fmt::Write| {
                    let _ = w.write_str(&line(&c.snapshot(), state.elapsed()));
                },
            );
        bar.set_style(style);
        if !bar.is_hidden() {
            bar.enable_steady_tick(TICK);
        }
        Progress { bar, counts }
    }

    /// Whether anything is drawn (counting the lists for the total is worth it only then).
    pub fn shown(&self) -> bool {
        !self.bar.is_hidden()
    }

    pub fn set_total(&self, total: u64) {
        self.counts.total.store(total, Ordering::Relaxed);
    }

    /// A measurement started.
    pub fn started(&self) {
        self.counts.in_flight.fetch_add(1, Ordering::Relaxed);
    }

    /// A measurement ended (its record written or not).
    pub fn ended(&self) {
        let _ = self
            .counts
            .in_flight
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
    }

    /// Measurements under way now (started, not yet ended).
    pub fn in_flight(&self) -> u64 {
        self.counts.in_flight.load(Ordering::Relaxed)
    }

    /// A record was written.
    pub fn recorded(&self, blocked: bool) {
        self.counts.done.fetch_add(1, Ordering::Relaxed);
        self.counts
            .blocked
            .fetch_add(blocked as u64, Ordering::Relaxed);
    }

    /// Runs `f` (which prints to stderr) with the line out of the way.
    pub fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        self.bar.suspend(f)
    }

    /// Removes the line.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_shows_done_total_in_flight_blocked_and_eta() {
        let secs = Duration::from_secs;
        let s = |done, total, in_flight, blocked| Snapshot {
            done,
            total,
            in_flight,
            blocked,
        };
        let cases = [
            (
                s(0, Some(120), 64, 0),
                secs(0),
                "0/120 done · 64 in flight · 0 blocked · 0s elapsed · ETA --",
            ),
            (
                s(12, Some(120), 8, 3),
                secs(10),
                "12/120 done · 8 in flight · 3 blocked · 10s elapsed · ETA 1m 30s",
            ),
            (
                s(1, Some(7201), 1, 0),
                secs(1),
                "1/7201 done · 1 in flight · 0 blocked · 1s elapsed · ETA 2h 00m",
            ),
            (
                s(5, Some(5), 0, 1),
                secs(65),
                "5/5 done · 0 in flight · 1 blocked · 1m 05s elapsed · ETA 0s",
            ),
            (
                s(2, None, 2, 0),
                secs(3),
                "2 done · 2 in flight · 0 blocked · 3s elapsed",
            ),
        ];
        for (snapshot, elapsed, want) in cases {
            assert_eq!(line(&snapshot, elapsed), want, "{snapshot:?}");
        }
    }

    #[test]
    fn counts_follow_measurements_and_records() {
        let p = Progress::new(false);
        assert!(!p.shown());
        p.set_total(3);
        p.started();
        p.started();
        p.recorded(true);
        p.ended();
        p.ended();
        p.ended(); // never below zero
        assert_eq!(
            p.counts.snapshot(),
            Snapshot {
                done: 1,
                total: Some(3),
                in_flight: 0,
                blocked: 1
            }
        );
    }
}
