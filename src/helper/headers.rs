//! The probe's request headers the helper sends to the site, as OONI's oohelperd does
//! (`internal/oohelperd/http.go`, `httpDo`): only User-Agent, Accept and Accept-Language, names
//! matched in any case, so the site answers the control as it answered the probe. Never any
//! other header (a probe must not make the helper send its cookies, credentials or a Host of its
//! choosing). Bounded: at most `MAX_FORWARDED_VALUES` values per name, each a valid header value
//! of at most `MAX_FORWARDED_VALUE_BYTES`; others are dropped, and a name left with none gets
//! the probe code's default (OONI's browser-like values).

use std::collections::BTreeMap;

use http::{header, HeaderValue};

use crate::probe::http::RequestHeaders;

/// Most values of each forwarded header (OONI's probe sends one).
pub const MAX_FORWARDED_VALUES: usize = 4;
/// Longest forwarded value (a browser's User-Agent is about 150 bytes).
pub const MAX_FORWARDED_VALUE_BYTES: usize = 1024;

/// The headers forwarded from the probe's `http_request_headers`.
pub fn forwarded(probe: &BTreeMap<String, Vec<String>>) -> RequestHeaders {
    let mut out = Vec::new();
    for name in [header::USER_AGENT, header::ACCEPT, header::ACCEPT_LANGUAGE] {
        let values = probe
            .iter()
            .filter(|(k, _)| k.trim().eq_ignore_ascii_case(name.as_str()))
            .flat_map(|(_, vs)| vs)
            .filter(|v| v.len() <= MAX_FORWARDED_VALUE_BYTES)
            .filter_map(|v| HeaderValue::from_str(v.trim()).ok())
            .filter(|v| !v.is_empty())
            .take(MAX_FORWARDED_VALUES);
        out.extend(values.map(|v| (name.clone(), v)));
    }
    RequestHeaders(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe(pairs: &[(&str, &[&str])]) -> BTreeMap<String, Vec<String>> {
        pairs
            .iter()
            .map(|(k, vs)| (k.to_string(), vs.iter().map(|v| v.to_string()).collect()))
            .collect()
    }

    fn sent(h: &RequestHeaders) -> Vec<(String, String)> {
        h.0.iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap().to_string()))
            .collect()
    }

    #[test]
    fn only_three_names_in_any_case_within_bounds() {
        let long = "x".repeat(MAX_FORWARDED_VALUE_BYTES + 1);
        let edge = "y".repeat(MAX_FORWARDED_VALUE_BYTES);
        let h = forwarded(&probe(&[
            ("user-AGENT", &[&long, "A/1", "bad\r\nX-Injected: 1", ""]),
            ("Accept", &["a", "b", "c", "d", "e"]),
            ("Accept-Language", &[&edge]),
            ("Cookie", &["s=1"]),
            ("Host", &["elsewhere.test"]),
            ("X-Forwarded-For", &["127.0.0.9"]),
        ]));
        let got = sent(&h);
        let want: Vec<(String, String)> = [
            ("user-agent", "A/1"),
            ("accept", "a"),
            ("accept", "b"),
            ("accept", "c"),
            ("accept", "d"),
            ("accept-language", edge.as_str()),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn nothing_forwarded_leaves_the_defaults() {
        assert!(forwarded(&BTreeMap::new()).0.is_empty());
        assert!(forwarded(&probe(&[("Cookie", &["s=1"])])).0.is_empty());
    }
}
