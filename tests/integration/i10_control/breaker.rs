//! A control that never answers costs the run its timeout once, not once per batch: the
//! control client stops asking after consecutive timeouts or connect failures (or a preflight
//! that found it silent) for a cool-down, failing each target at once with a
//! `control_failure` that says so.

use std::time::Instant;

use super::preflight::{statuses, world};
use crate::harness::fake_control::silent;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_control_is_skipped_not_waited_for_per_batch() {
    let control = format!("http://{}/", silent().await);
    let pages: Vec<String> = (0..30).map(|i| format!("p{i}")).collect();
    let pages: Vec<&str> = pages.iter().map(String::as_str).collect();
    let started = Instant::now();
    let out = world()
        .await
        .run(&pages, &["--control", &control, "--parallel", "30"])
        .await;
    let took = started.elapsed().as_secs_f64();
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(statuses(&out), vec!["unknown"; 30]);
    for r in &out.records {
        let failure = r["test_keys"]["control_failure"]
            .as_str()
            .unwrap_or_default();
        assert!(
            failure.starts_with(
                "generic_timeout_error: control skipped: it did not answer the check before the \
                 first target, retrying at "
            ),
            "{failure}"
        );
    }
    // The 5 s preflight, then nothing: not 5 s + two 30 s batches.
    assert!(took < 15.0, "took {took:.1} s");
    // The summary's time is the run's, the check included (it said 0.8 s of a 5.8 s run).
    let said: f64 = out
        .stdout
        .split(" measured in ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no time in {}", out.stdout));
    assert!(
        said >= 4.5,
        "the summary says {said} s of a {took:.1} s run"
    );
    eprintln!("silent control, 30 targets: {took:.1} s");
}
