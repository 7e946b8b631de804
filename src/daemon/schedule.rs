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
            c.schedule
                .after(&after)
                .next()
                .map(|t| t.timestamp() as f64)
                .unwrap_or(f64::MAX)
        }
    }
}

/// Whether `due` lies further ahead of `now` than the schedule can put it: after a forward
/// clock jump (a board booting with a wrong clock that NTP then corrects back) the due time
/// computed from the wrong clock would stall the schedule. `every`: more than every + jitter
/// ahead; cron: later than the next match after now, plus jitter. (One second of slack.)
pub fn too_far(schedule: &Schedule, due: f64, now: f64) -> bool {
    due > next_due_base(schedule, Some(now), now) + schedule.jitter.as_secs_f64() + 1.0
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
    fn a_due_time_from_a_clock_that_ran_ahead_is_too_far() {
        let mut s = schedule(When::Every(Duration::from_secs(3600)));
        s.jitter = Duration::from_secs(600);
        let now = 1_795_392_000.0;
        // Anything the schedule itself computes is fine: from a last start at or before now.
        assert!(!too_far(&s, now + 3600.0 + 599.0, now));
        assert!(!too_far(&s, now - 10.0, now));
        // Saved while the clock said 2030.
        assert!(too_far(&s, now + 4.0 * 365.0 * 86400.0, now));
        assert!(too_far(&s, now + 3600.0 + 700.0, now));

        let c = schedule(When::Cron(Box::new(parse_cron("30 2 * * *").unwrap())));
        // The next match is 02:30 today; tomorrow's is too far.
        assert!(!too_far(&c, now + 2.5 * 3600.0, now));
        assert!(too_far(&c, now + 86400.0 + 2.5 * 3600.0, now));
        // A yearly cron may legitimately be months ahead.
        let y = schedule(When::Cron(Box::new(parse_cron("0 0 1 6 *").unwrap())));
        let june = next_due_base(&y, None, now);
        assert!(june - now > 100.0 * 86400.0);
        assert!(!too_far(&y, june, now));
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
