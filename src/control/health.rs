//! How the control fared over a pass: of the targets whose control was asked, how many got no
//! answer, grouped by cause (`connection_refused`, `HTTP 401`, `helper_refused`, ...), for the
//! run's summary line, the daemon's warning per cycle and `vantage status`. Pure: it reads the
//! records' `control_failure` strings.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Control outcomes of a pass.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ControlHealth {
    /// Targets whose control was asked (an answer or a failure).
    pub asked: u64,
    /// Targets whose control failed, by cause (`cause`).
    #[serde(default)]
    pub failed: BTreeMap<String, u64>,
}

impl ControlHealth {
    /// Targets whose control answered.
    pub fn answered(&self) -> u64 {
        self.asked.saturating_sub(self.failed.values().sum::<u64>())
    }

    /// Counts one target: `None` when the control answered, else its `control_failure`.
    pub fn record(&mut self, failure: Option<&str>) {
        self.asked += 1;
        if let Some(f) = failure {
            *self.failed.entry(cause(f)).or_insert(0) += 1;
        }
    }

    /// Adds another pass's counts (a daemon cycle made of several passes).
    pub fn merge(&mut self, other: &ControlHealth) {
        self.asked += other.asked;
        for (cause, n) in &other.failed {
            *self.failed.entry(cause.clone()).or_insert(0) += n;
        }
    }

    /// Targets whose control failed.
    pub fn failures(&self) -> u64 {
        self.failed.values().sum()
    }

    /// `failed for 7/7 targets (HTTP 401: token refused)`, or with several causes, most
    /// frequent first, `failed for 7/10 targets (6 connection_refused, 1 HTTP 503)`; `None`
    /// when no control failed.
    pub fn failed_line(&self) -> Option<String> {
        let n = self.failures();
        if n == 0 {
            return None;
        }
        let mut causes: Vec<(&String, &u64)> = self.failed.iter().collect();
        causes.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        let why = match causes.as_slice() {
            [(cause, _)] => match hint(cause) {
                Some(h) => format!("{cause}: {h}"),
                None => cause.to_string(),
            },
            many => many
                .iter()
                .map(|(cause, n)| format!("{n} {cause}"))
                .collect::<Vec<_>>()
                .join(", "),
        };
        let targets = if self.asked == 1 { "target" } else { "targets" };
        Some(format!("failed for {n}/{} {targets} ({why})", self.asked))
    }
}

/// The cause a `control_failure` is grouped under: `HTTP <status>` for a control that
/// answered with an error status, else the failure's OONI name (the text before `: `).
pub fn cause(failure: &str) -> String {
    if let Some(rest) = failure.strip_prefix("http_request_failed: control answered ") {
        let status: String = rest.chars().take_while(char::is_ascii_digit).collect();
        if !status.is_empty() {
            return format!("HTTP {status}");
        }
    }
    let name = failure.split(": ").next().unwrap_or(failure).trim();
    if name.is_empty() {
        "unknown_failure".into()
    } else {
        name.to_string()
    }
}

/// What a cause usually means, when it is not plain from its name.
pub(super) fn hint(cause: &str) -> Option<&'static str> {
    match cause {
        "HTTP 401" => Some("token refused"),
        "HTTP 503" => Some("busy"),
        "helper_refused" => Some(
            "the helper's policy refuses these destinations: private or reserved addresses \
             are refused unless the helper runs with --allow-private",
        ),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_grouped_by_cause() {
        let cases = [
            ("connection_refused", "connection_refused"),
            ("generic_timeout_error", "generic_timeout_error"),
            ("http_request_failed: control answered 401", "HTTP 401"),
            ("http_request_failed: control answered 307", "HTTP 307"),
            (
                "http_request_failed: control answered 503 to 5 attempts over 7.3 s (busy)",
                "HTTP 503",
            ),
            ("http_request_failed: something else", "http_request_failed"),
            (
                "helper_refused: 127.0.0.1 is a private or reserved address",
                "helper_refused",
            ),
            (
                "control_answer_too_large: over 262144 bytes",
                "control_answer_too_large",
            ),
            (
                "json_parse_error: expected value at line 1",
                "json_parse_error",
            ),
            ("unknown_failure: \"tls: bad record\"", "unknown_failure"),
            ("", "unknown_failure"),
        ];
        for (failure, want) in cases {
            assert_eq!(cause(failure), want, "{failure:?}");
        }
    }

    #[test]
    fn the_line_names_one_cause_with_its_meaning_or_counts_several() {
        let tally = |outcomes: &[Option<&str>]| {
            let mut h = ControlHealth::default();
            for o in outcomes {
                h.record(*o);
            }
            h
        };
        let refused = Some("connection_refused");
        let token = Some("http_request_failed: control answered 401");
        let busy = Some("http_request_failed: control answered 503 to 5 attempts over 7.3 s");
        let cases: [(&[Option<&str>], Option<&str>); 6] = [
            (&[], None),
            (&[None, None], None),
            (
                &[token; 7],
                Some("failed for 7/7 targets (HTTP 401: token refused)"),
            ),
            (
                &[refused],
                Some("failed for 1/1 target (connection_refused)"),
            ),
            (
                &[
                    refused, busy, None, refused, refused, None, refused, refused, refused, None,
                ],
                Some("failed for 7/10 targets (6 connection_refused, 1 HTTP 503)"),
            ),
            // Equal counts: by name.
            (
                &[token, refused],
                Some("failed for 2/2 targets (1 HTTP 401, 1 connection_refused)"),
            ),
        ];
        for (outcomes, want) in cases {
            let t = tally(outcomes);
            assert_eq!(t.failed_line().as_deref(), want, "{outcomes:?}");
            let answered = outcomes.iter().filter(|o| o.is_none()).count() as u64;
            assert_eq!(t.answered(), answered, "{outcomes:?}");
        }
    }

    #[test]
    fn passes_merge_and_the_tally_round_trips_through_the_state_file() {
        let mut a = ControlHealth::default();
        a.record(Some("connection_refused"));
        let mut b = ControlHealth::default();
        b.record(None);
        b.record(Some("connection_refused"));
        a.merge(&b);
        assert_eq!(a.asked, 3);
        assert_eq!(a.failures(), 2);
        let json = serde_json::to_string(&a).unwrap();
        assert_eq!(serde_json::from_str::<ControlHealth>(&json).unwrap(), a);
    }
}
