//! A busy control is asked again. A 503 (a helper with too many requests in flight, or out of
//! resources) says nothing about the site, so the request is sent again after an exponential
//! backoff with jitter, a helper's `Retry-After` honoured up to `MAX_RETRY_AFTER`, at most
//! `MAX_ATTEMPTS` times in all; a control still busy then is the record's `control_failure`
//! (and the verdict `unknown`), never evidence. A connection the control closed before any
//! answer (a kept-alive one it evicted as the request went out) is asked again at once, once.

use std::future::Future;
use std::time::{Duration, Instant};

use super::bounded::NoAnswer;

/// Attempts of one control request while the control answers 503 (busy).
pub const MAX_ATTEMPTS: usize = 5;
/// The backoff before the first retry, doubled for each next one up to `MAX_BACKOFF`.
pub const FIRST_BACKOFF: Duration = Duration::from_millis(250);
pub const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// Longest wait a control's `Retry-After` is honoured for.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(5);

/// Runs `attempt` until the control is not busy, at most `MAX_ATTEMPTS` times; the answer, or
/// the string for the record's `control_failure`.
pub(super) async fn retrying<T, F, Fut>(mut attempt: F) -> Result<T, String>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, NoAnswer>>,
{
    let started = Instant::now();
    let mut made = 0;
    loop {
        made += 1;
        match attempt().await {
            Ok(t) => return Ok(t),
            Err(NoAnswer::Failed(failure)) => return Err(failure),
            // Closed unanswered twice: the control itself ends the connections.
            Err(NoAnswer::Unanswered(failure)) if made >= 2 || made >= MAX_ATTEMPTS => {
                return Err(failure)
            }
            Err(NoAnswer::Unanswered(_)) => {
                tracing::debug!("the control closed the connection unanswered: asking again");
            }
            Err(NoAnswer::Busy { .. }) if made >= MAX_ATTEMPTS => {
                return Err(format!(
                    "http_request_failed: control answered 503 to {made} attempts over {:.1} s \
                     (busy)",
                    started.elapsed().as_secs_f64()
                ))
            }
            Err(NoAnswer::Busy { retry_after }) => {
                let wait = wait(made, retry_after, rand::random::<f64>());
                tracing::debug!("control busy (attempt {made}): asking again in {wait:?}");
                tokio::time::sleep(wait).await;
            }
        }
    }
}

/// The wait after `made` busy attempts: a backoff of `FIRST_BACKOFF` doubled per attempt up to
/// `MAX_BACKOFF`, of which the second half is random (`jitter` in [0, 1)) so that probes refused
/// together spread out; at least the control's `Retry-After`, within `MAX_RETRY_AFTER`.
fn wait(made: usize, retry_after: Option<Duration>, jitter: f64) -> Duration {
    let doublings = made.saturating_sub(1).min(16) as u32;
    let ceiling = FIRST_BACKOFF
        .saturating_mul(1 << doublings)
        .min(MAX_BACKOFF);
    let half = ceiling / 2;
    let backoff = half + half.mul_f64(jitter.clamp(0.0, 1.0));
    match retry_after {
        Some(asked) => backoff.max(asked.min(MAX_RETRY_AFTER)),
        None => backoff,
    }
}

/// A `Retry-After` of delta-seconds (RFC 9110, 10.2.3). An HTTP-date is not read: the backoff
/// applies.
pub(super) fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let value = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_honours_retry_after_within_bounds() {
        let ms = Duration::from_millis;
        let cases = [
            // (busy attempts made, Retry-After, jitter, wait)
            (1, None, 0.0, ms(125)),
            (1, None, 0.999_999, ms(250)),
            (2, None, 0.0, ms(250)),
            (3, None, 0.5, ms(750)),
            (4, None, 0.0, ms(1000)),
            (9, None, 1.0, MAX_BACKOFF),
            (usize::MAX, None, 1.0, MAX_BACKOFF),
            (1, Some(Duration::from_secs(1)), 0.5, Duration::from_secs(1)),
            (1, Some(Duration::ZERO), 0.0, ms(125)),
            (4, Some(ms(100)), 1.0, MAX_BACKOFF),
            (1, Some(Duration::from_secs(3600)), 0.0, MAX_RETRY_AFTER),
        ];
        for (made, after, jitter, want) in cases {
            let got = wait(made, after, jitter);
            let off = got.abs_diff(want);
            assert!(
                off < ms(1),
                "{made} {after:?} {jitter}: {got:?}, want {want:?}"
            );
        }
    }

    #[test]
    fn retry_after_is_read_in_seconds_only() {
        let with = |v: &str| {
            let mut h = reqwest::header::HeaderMap::new();
            h.insert(reqwest::header::RETRY_AFTER, v.parse().unwrap());
            retry_after(&h)
        };
        assert_eq!(with("3"), Some(Duration::from_secs(3)));
        assert_eq!(with(" 0 "), Some(Duration::ZERO));
        assert_eq!(with("Wed, 21 Oct 2015 07:28:00 GMT"), None);
        assert_eq!(with("-1"), None);
        assert_eq!(retry_after(&reqwest::header::HeaderMap::new()), None);
    }

    #[tokio::test(start_paused = true)]
    async fn busy_is_retried_then_given_up_and_other_failures_are_not_retried() {
        let calls = std::cell::Cell::new(0);
        let got: Result<u8, String> = retrying(|| {
            calls.set(calls.get() + 1);
            let n = calls.get();
            async move {
                if n < 3 {
                    Err(NoAnswer::Busy { retry_after: None })
                } else {
                    Ok(7)
                }
            }
        })
        .await;
        assert_eq!((got, calls.get()), (Ok(7), 3));

        calls.set(0);
        let got: Result<u8, String> = retrying(|| {
            calls.set(calls.get() + 1);
            async { Err(NoAnswer::Busy { retry_after: None }) }
        })
        .await;
        assert_eq!(calls.get(), MAX_ATTEMPTS);
        let failure = got.unwrap_err();
        assert!(
            failure.starts_with("http_request_failed: control answered 503 to 5 attempts over "),
            "{failure}"
        );

        calls.set(0);
        let got: Result<u8, String> = retrying(|| {
            calls.set(calls.get() + 1);
            async { Err(NoAnswer::Failed("connection_refused".into())) }
        })
        .await;
        assert_eq!((got, calls.get()), (Err("connection_refused".into()), 1));
    }
}
