//! When a schedule's next cycle is due. Pure: given the schedule, the time the last cycle
//! started (or none) and now, in unix seconds.
//!
//! `every`: due `every` after the last cycle started (at once when none ran yet), plus a
//! random delay in [0, jitter). `cron`: the next matching time after now (UTC), plus jitter.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::config::{Schedule, When};

/// The next due time, before jitter.
pub fn next_due_base(schedule: &Schedule, last_start: Option<f64>, now: f64) -> f64 {
    match &schedule.when {
        When::Every(every) => match last_start {
            Some(s) => s + every.as_secs_f64(),
            None => now,
        },
        When::Cron(c) => {
            let after = DateTime::<Utc>::from_timestamp(now as i64, 0).unwrap_or_default();
            c.after(&after)
                .next()
                .map(|t| t.timestamp() as f64)
                .unwrap_or(f64::MAX)
        }
    }
}

/// A random delay in [0, jitter).
pub fn jitter(jitter: Duration) -> f64 {
    if jitter.is_zero() {
        0.0
    } else {
        rand::random::<f64>() * jitter.as_secs_f64()
    }
}

/// Whole-second UTC time for humans: `2026-11-23 04:00:00 UTC`.
pub fn human(t: f64) -> String {
    match DateTime::<Utc>::from_timestamp(t as i64, 0) {
        Some(d) => d.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
        None => "never".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemon::config::parse_cron;

    fn schedule(when: When) -> Schedule {
        Schedule {
            name: "t".into(),
            when,
            jitter: Duration::ZERO,
            repeats: 1,
            spacing: Duration::ZERO,
            run: crate::config::RunArgs {
                resolver: Some("127.0.0.1".into()),
                ..Default::default()
            }
            .resolve(|| Err("none".into()))
            .unwrap(),
        }
    }

    #[test]
    fn every_counts_from_the_last_start() {
        let s = schedule(When::Every(Duration::from_secs(3600)));
        assert_eq!(next_due_base(&s, None, 100.0), 100.0);
        assert_eq!(next_due_base(&s, Some(50.0), 100.0), 3650.0);
    }

    #[test]
    fn cron_is_the_next_match_in_utc() {
        let s = schedule(When::Cron(Box::new(parse_cron("30 2 * * *").unwrap())));
        // 2026-11-23 00:00:00 UTC
        let now = 1_795_392_000.0;
        assert_eq!(human(now), "2026-11-23 00:00:00 UTC");
        assert_eq!(
            human(next_due_base(&s, None, now)),
            "2026-11-23 02:30:00 UTC"
        );
    }

    #[test]
    fn jitter_stays_in_range() {
        for _ in 0..100 {
            let j = jitter(Duration::from_secs(10));
            assert!((0.0..10.0).contains(&j));
        }
        assert_eq!(jitter(Duration::ZERO), 0.0);
    }
}
