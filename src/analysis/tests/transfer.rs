//! How a body's transfer is measured from its samples, and a control rate that cannot be
//! compared with (rows for `http_diff::transfer` and `throttled`).

use super::*;
use crate::analysis::http_diff::{throttled, transfer, Transfer};
use crate::observation::{HttpTransaction, TransferSample};

/// A 10,000-byte page whose bytes arrived at the sample times given.
fn fetched(samples: &[(f64, u64)], failure: Option<Failure>, t: f64) -> HttpTransaction {
    let body = "x".repeat(10_000);
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
    // One sample: no time passed.
    assert_eq!(transfer(&fetched(&[(1.0, 10_000)], None, 1.0)), None);
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
    let control = |rate: f64| ControlHttp {
        x_transfer_rate: Some(rate),
        ..Default::default()
    };
    assert!(throttled(&tx, &control(5_000_000.0), Some(0.01)).is_some());
    for rate in [f64::INFINITY, 0.0, -5_000_000.0, f64::NAN] {
        assert_eq!(throttled(&tx, &control(rate), Some(0.01)), None, "{rate}");
    }
}
