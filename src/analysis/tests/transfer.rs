//! How a body's transfer is measured from its samples, and a control rate that cannot be
//! compared with (rows for `http_diff::transfer` and `throttled`).

use super::*;
use crate::analysis::http_diff::{throttled, transfer, Transfer};
use crate::observation::{HttpTransaction, TransferSample};

/// A 10,000-byte page whose bytes arrived at the sample times given.
fn fetched(samples: &[(f64, u64)], failure: Option<Failure>, t: f64) -> HttpTransaction {
    fetched_of(10_000, samples, failure, t)
}

fn fetched_of(
    size: usize,
    samples: &[(f64, u64)],
    failure: Option<Failure>,
    t: f64,
) -> HttpTransaction {
    let body = "x".repeat(size);
    let mut tx = Obs::transaction(HTTP, "93.184.215.14:80", 0);
    tx.response = Some(plain(200, "Page", &body).response());
    tx.x_transfer = samples
        .iter()
        .map(|&(t, bytes)| TransferSample { t, bytes })
        .collect();
    tx.failure = failure;
    tx.t = t;
    tx
}

#[test]
fn a_transfer_runs_from_the_first_sample_to_the_last_bytes() {
    let tx = fetched(&[(1.0, 0), (2.0, 4_000), (3.0, 10_000)], None, 3.0);
    let want = Transfer {
        bytes: 10_000,
        seconds: 2.0,
        cut: false,
        idle: 0.0,
    };
    assert_eq!(transfer(&tx), Some(want));
    // Cut by the timeout at 5 s, two seconds after the last bytes.
    let tx = fetched(
        &[(1.0, 0), (2.0, 4_000), (3.0, 10_000)],
        Some(Failure::Timeout),
        5.0,
    );
    let want = Transfer {
        bytes: 10_000,
        seconds: 4.0,
        cut: true,
        idle: 2.0,
    };
    assert_eq!(transfer(&tx), Some(want));
}

#[test]
fn no_time_or_no_bytes_is_no_transfer() {
    // One sample: no time passed (whether it counted the body or not).
    assert_eq!(transfer(&fetched(&[(1.0, 10_000)], None, 1.0)), None);
    assert_eq!(transfer(&fetched(&[(1.0, 0)], None, 1.0)), None);
    // Time passed, but the body had been counted whole at the first sample.
    assert_eq!(
        transfer(&fetched(&[(1.0, 10_000), (2.0, 10_000)], None, 2.0)),
        None
    );
}

#[test]
fn a_control_rate_that_is_not_a_finite_positive_number_judges_nothing() {
    // 10,000 bytes at 1,000 B/s, steady, over a 10 ms round trip: throttled against a control
    // at 5 MB/s, never against one whose rate is infinite, zero or negative.
    let samples: Vec<(f64, u64)> = (0..=10).map(|i| (f64::from(i), i as u64 * 1_000)).collect();
    let tx = fetched(&samples, None, 10.0);
    assert!(throttled(&tx, &control_at(5_000_000.0), Some(0.01)).is_some());
    for rate in [f64::INFINITY, 0.0, -5_000_000.0, f64::NAN] {
        assert_eq!(
            throttled(&tx, &control_at(rate), Some(0.01)),
            None,
            "{rate}"
        );
    }
}

fn control_at(rate: f64) -> ControlHttp {
    ControlHttp {
        x_transfer_rate: Some(rate),
        ..Default::default()
    }
}

/// `size` bytes arriving evenly, one sample a second, over `seconds`.
fn even(size: usize, seconds: u32) -> HttpTransaction {
    let samples: Vec<(f64, u64)> = (0..=seconds)
        .map(|i| {
            (
                f64::from(i),
                size as u64 * u64::from(i) / u64::from(seconds),
            )
        })
        .collect();
    fetched_of(size, &samples, None, f64::from(seconds))
}

#[test]
fn each_throttling_bound_is_inclusive_where_its_rule_says() {
    let fast = control_at(5_000_000.0);
    // Exactly THROTTLE_MIN_SECONDS (2 s) is long enough.
    assert!(throttled(&even(10_000, 2), &fast, Some(0.01)).is_some());
    // Exactly THROTTLE_RTT_FACTOR (10) times what the round trip explains (one round trip of
    // 1 s for 10,000 bytes) is slow enough.
    assert!(throttled(&even(10_000, 10), &fast, Some(1.0)).is_some());
    assert_eq!(throttled(&even(10_000, 10), &fast, Some(1.01)), None);
    // Without a round trip, an expected size of exactly THROTTLE_MIN_BYTES (64 KiB) is enough.
    let big = even(64 * 1024, 10);
    let without = throttled(&big, &fast, None).expect("64 KiB at 6.5 KB/s");
    assert!(!without.contains("round trip"), "{without}");
    assert_eq!(throttled(&even(64 * 1024 - 1, 10), &fast, None), None);
    // A round trip that is not a finite positive number is no round trip.
    for rtt in [0.0, -1.0, f64::INFINITY, f64::NAN] {
        assert_eq!(
            throttled(&big, &fast, Some(rtt)).as_ref(),
            Some(&without),
            "{rtt}"
        );
    }
}
