//! A control that stopped answering is not asked again and again: after `TRIP_AFTER`
//! consecutive timeouts or connect failures (or a preflight that found it silent or
//! unreachable), the client stops asking for a cool-down (`FIRST_COOL_DOWN`, doubled each time
//! it trips again, up to `MAX_COOL_DOWN`), and each request fails at once with
//! `<the last failure>: control skipped: ...` (`generic_timeout_error`, `connection_refused`,
//! so the summary groups it under its cause). After the cool-down the control is asked
//! again; one answer closes the breaker.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Consecutive failures that open the breaker.
pub const TRIP_AFTER: u32 = 5;
/// The first cool-down, doubled at each next trip up to `MAX_COOL_DOWN`.
pub const FIRST_COOL_DOWN: Duration = Duration::from_secs(30);
pub const MAX_COOL_DOWN: Duration = Duration::from_secs(300);

#[derive(Debug, Default)]
struct State {
    /// Consecutive failures so far.
    failures: u32,
    /// The breaker is open until then.
    open_until: Option<Instant>,
    /// The cool-down of the next trip.
    next_cool_down: Option<Duration>,
    /// The OONI name of the last failure (`generic_timeout_error`).
    cause: String,
    /// What opened it (`5 consecutive failures`, `silent at the start check`).
    why: String,
}

/// The breaker of one control, shared by every clone of its client.
#[derive(Debug, Default)]
pub(super) struct Breaker(Mutex<State>);

/// Whether a `control_failure` says the control is not there (no answer in time, no
/// connection): only those count. An answer, even an error status, closes the breaker.
fn is_absent(failure: &str) -> bool {
    let name = failure.split(':').next().unwrap_or_default();
    matches!(
        name,
        "generic_timeout_error"
            | "connection_refused"
            | "connection_reset"
            | "connection_aborted"
            | "host_unreachable"
            | "network_unreachable"
            | "connect_error"
    )
}

impl Breaker {
    /// `Err` with the record's `control_failure` while the breaker is open.
    pub(super) fn check(&self) -> Result<(), String> {
        let s = self.0.lock().expect("never poisoned");
        match s.open_until {
            Some(until) if Instant::now() < until => Err(format!(
                "{}: control skipped: {}, retrying at {}",
                s.cause,
                s.why,
                wall_clock(until)
            )),
            _ => Ok(()),
        }
    }

    /// Counts the outcome of one request the control was asked.
    pub(super) fn record(&self, outcome: Result<(), &str>) {
        let mut s = self.0.lock().expect("never poisoned");
        match outcome {
            Err(f) if is_absent(f) => {
                s.failures += 1;
                s.cause = f.split(':').next().unwrap_or_default().to_string();
                let open = s.open_until.is_some_and(|u| Instant::now() < u);
                if s.failures >= TRIP_AFTER && !open {
                    s.why = format!("{} consecutive failures", s.failures);
                    trip(&mut s);
                }
            }
            _ => *s = State::default(),
        }
    }

    /// Opens the breaker now, as if `TRIP_AFTER` requests had failed with `cause` (a
    /// preflight that found the control silent).
    pub(super) fn trip(&self, cause: &str) {
        let mut s = self.0.lock().expect("never poisoned");
        s.failures = s.failures.max(TRIP_AFTER);
        s.cause = cause.to_string();
        s.why = "it did not answer the check before the first target".into();
        trip(&mut s);
    }
}

fn trip(s: &mut State) {
    let cool_down = s.next_cool_down.unwrap_or(FIRST_COOL_DOWN);
    s.open_until = Some(Instant::now() + cool_down);
    s.next_cool_down = Some((cool_down * 2).min(MAX_COOL_DOWN));
    tracing::warn!(
        "the control is not asked for {} s: {}",
        cool_down.as_secs(),
        s.why
    );
}

/// `at` as UTC wall-clock time, to the second (`2026-12-01T17:40:05Z`).
fn wall_clock(at: Instant) -> String {
    let later = at.saturating_duration_since(Instant::now());
    let t = time::OffsetDateTime::now_utc() + later;
    let t = t.replace_nanosecond(0).unwrap_or(t);
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consecutive_absences_open_it_and_one_answer_closes_it() {
        let b = Breaker::default();
        for _ in 0..TRIP_AFTER - 1 {
            b.record(Err("generic_timeout_error"));
        }
        b.record(Ok(()));
        for _ in 0..TRIP_AFTER - 1 {
            b.record(Err("connection_refused"));
        }
        b.record(Err("http_request_failed: control answered 500"));
        assert_eq!(b.check(), Ok(()), "an error status is an answer");
        for _ in 0..TRIP_AFTER {
            b.record(Err("generic_timeout_error"));
        }
        let e = b.check().unwrap_err();
        assert!(
            e.starts_with(
                "generic_timeout_error: control skipped: 5 consecutive failures, retrying at 20"
            ),
            "{e}"
        );
        assert_eq!(
            b.0.lock().unwrap().next_cool_down,
            Some(FIRST_COOL_DOWN * 2)
        );
        b.record(Ok(()));
        assert_eq!(b.check(), Ok(()));
        assert_eq!(b.0.lock().unwrap().next_cool_down, None);
    }

    #[test]
    fn each_trip_doubles_the_cool_down_up_to_the_most() {
        let b = Breaker::default();
        let mut seen = Vec::new();
        for _ in 0..6 {
            b.trip("generic_timeout_error");
            let mut s = b.0.lock().unwrap();
            seen.push(
                s.open_until
                    .unwrap()
                    .duration_since(Instant::now())
                    .as_secs()
                    + 1,
            );
            s.open_until = None; // the cool-down is over
        }
        assert_eq!(seen, [30, 60, 120, 240, 300, 300]);
    }

    /// A breaker opened by a silent check says so, not "5 consecutive failures" (only one
    /// request failed).
    #[test]
    fn a_trip_by_the_check_says_it_was_the_check() {
        let b = Breaker::default();
        b.trip("generic_timeout_error");
        let e = b.check().unwrap_err();
        assert!(
            e.starts_with(
                "generic_timeout_error: control skipped: it did not answer the check before the \
                 first target, retrying at 20"
            ),
            "{e}"
        );
    }
}
