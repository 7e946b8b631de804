//! The control's answer, read within a budget: a control (or a censor on its path) decides how
//! many bytes it sends, so the probe reads at most `MAX_ANSWER_BYTES` of it, streamed (never
//! buffered first and checked after), and refuses an answer with more entries or longer
//! strings than any real helper writes. What is refused becomes the record's
//! `control_failure`; none of it is embedded.

use serde::de::DeserializeOwned;

use super::ControlAnswer;

/// Most bytes of a control answer read.
pub const MAX_ANSWER_BYTES: usize = 256 * 1024;
/// Most entries of each map or list of a control answer (a helper writes a few dozen).
pub const MAX_ENTRIES: usize = 128;
/// Longest string of a control answer (a title, a header value, a failure).
pub const MAX_STRING: usize = 8 * 1024;

/// Why a control request got no answer.
#[derive(Debug)]
pub(super) enum NoAnswer {
    /// 503: the control is busy (or out of resources); asking again later may work.
    Busy {
        retry_after: Option<std::time::Duration>,
    },
    /// Anything else, as the record's `control_failure` says it.
    Failed(String),
}

impl NoAnswer {
    /// The record's `control_failure` for this one attempt.
    pub(super) fn failure(self) -> String {
        match self {
            NoAnswer::Busy { .. } => "http_request_failed: control answered 503".into(),
            NoAnswer::Failed(f) => f,
        }
    }
}

impl From<String> for NoAnswer {
    fn from(failure: String) -> NoAnswer {
        NoAnswer::Failed(failure)
    }
}

/// Sends `request` and parses the answer, or says why there is none.
pub(super) async fn fetch_json<T: DeserializeOwned>(
    request: reqwest::RequestBuilder,
) -> Result<T, NoAnswer> {
    let mut response = request.send().await.map_err(|e| super::describe(e))?;
    let status = response.status();
    if status == reqwest::StatusCode::SERVICE_UNAVAILABLE {
        return Err(NoAnswer::Busy {
            retry_after: super::retry::retry_after(response.headers()),
        });
    }
    if status == reqwest::StatusCode::FORBIDDEN {
        if let Some(why) = refusal(response).await {
            return Err(NoAnswer::Failed(format!("{REFUSED}{why}")));
        }
        return Err(NoAnswer::Failed(
            "http_request_failed: control answered 403".into(),
        ));
    }
    if !status.is_success() {
        // Redirects included: the control client follows none (a 307 must not re-POST).
        return Err(NoAnswer::Failed(format!(
            "http_request_failed: control answered {}",
            status.as_u16()
        )));
    }
    let too_large = || format!("control_answer_too_large: over {MAX_ANSWER_BYTES} bytes");
    if response
        .content_length()
        .is_some_and(|n| n > MAX_ANSWER_BYTES as u64)
    {
        return Err(too_large().into());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| super::describe(e))? {
        if body.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(too_large().into());
        }
        body.extend_from_slice(&chunk);
    }
    serde_json::from_slice(&body).map_err(|e| NoAnswer::Failed(format!("json_parse_error: {e}")))
}

/// The `control_failure` prefix of a helper's refusal by its own policy.
pub(super) const REFUSED: &str = "helper_refused: ";

/// Most bytes of a 403's body read for a helper's refusal.
const MAX_REFUSAL_BYTES: usize = 1024;

/// A vantage helper's 403 says why: `{"error": "refused: 127.0.0.1 is ..."}`. The reason,
/// when the body (at most `MAX_REFUSAL_BYTES`) says one.
async fn refusal(mut response: reqwest::Response) -> Option<String> {
    let mut body = Vec::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        if body.len() + chunk.len() > MAX_REFUSAL_BYTES {
            return None;
        }
        body.extend_from_slice(&chunk);
    }
    let v: serde_json::Value = serde_json::from_slice(&body).ok()?;
    v["error"]
        .as_str()?
        .strip_prefix("refused: ")
        .map(str::to_string)
}

/// `Err` naming the first bound `answer` exceeds.
pub(super) fn check(answer: &ControlAnswer) -> Result<(), String> {
    let http = &answer.http_request;
    let counts = [
        ("tcp_connect", answer.tcp_connect.len()),
        ("tls_handshake", answer.tls_handshake.len()),
        ("quic_handshake", answer.quic_handshake.len()),
        ("ip_info", answer.ip_info.len()),
        ("dns.addrs", answer.dns.addrs.len()),
        ("http_request.headers", http.headers.len()),
    ];
    for (what, n) in counts {
        if n > MAX_ENTRIES {
            return Err(format!(
                "control_answer_too_large: {n} {what} entries (at most {MAX_ENTRIES})"
            ));
        }
    }
    let opt = |s: &Option<String>| s.as_deref().unwrap_or_default().len();
    let mut longest = [
        http.title.len(),
        opt(&http.failure),
        opt(&http.x_final_url),
        opt(&http.x_body_sha256),
        http.discovered_h3_endpoint.len(),
        opt(&answer.dns.failure),
        opt(&answer.x_refused),
    ]
    .into_iter()
    .chain(http.headers.iter().map(|(k, v)| k.len().max(v.len())))
    .chain(answer.dns.addrs.iter().map(String::len))
    .chain(answer.ip_info.keys().map(String::len))
    .chain(
        answer
            .tcp_connect
            .iter()
            .map(|(k, t)| k.len().max(opt(&t.failure))),
    )
    .chain(
        answer
            .tls_handshake
            .iter()
            .map(|(k, t)| k.len().max(opt(&t.failure)).max(t.server_name.len())),
    );
    if let Some(n) = longest.find(|n| *n > MAX_STRING) {
        return Err(format!(
            "control_answer_too_large: a {n}-byte string (at most {MAX_STRING})"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::{ControlTcp, ControlTls};

    #[test]
    fn answers_within_bounds_pass() {
        let mut a = ControlAnswer::default();
        for i in 0..MAX_ENTRIES {
            a.tcp_connect
                .insert(format!("10.0.0.{i}:443"), ControlTcp::default());
        }
        a.http_request.title = "t".repeat(MAX_STRING);
        assert_eq!(check(&a), Ok(()));
    }

    #[test]
    fn every_bound_is_enforced() {
        type Grow = fn(&mut ControlAnswer, usize);
        let cases: [(&str, Grow); 8] = [
            ("tcp_connect", |a, i| {
                a.tcp_connect.insert(i.to_string(), ControlTcp::default());
            }),
            ("tls_handshake", |a, i| {
                a.tls_handshake.insert(i.to_string(), ControlTls::default());
            }),
            ("quic_handshake", |a, i| {
                a.quic_handshake
                    .insert(i.to_string(), serde_json::Value::Null);
            }),
            ("ip_info", |a, i| {
                a.ip_info.insert(i.to_string(), Default::default());
            }),
            ("dns.addrs", |a, i| a.dns.addrs.push(i.to_string())),
            ("http_request.headers", |a, i| {
                a.http_request.headers.insert(i.to_string(), String::new());
            }),
            ("string", |a, i| {
                if i == 0 {
                    a.http_request
                        .headers
                        .insert("Set-Cookie".into(), "x".repeat(MAX_STRING + 1));
                }
            }),
            ("string", |a, i| {
                if i == 0 {
                    a.tls_handshake.insert(
                        "1.2.3.4:443".into(),
                        ControlTls {
                            server_name: "x".repeat(MAX_STRING + 1),
                            ..ControlTls::default()
                        },
                    );
                }
            }),
        ];
        for (what, grow) in cases {
            let mut a = ControlAnswer::default();
            for i in 0..=MAX_ENTRIES {
                grow(&mut a, i);
            }
            let err = check(&a).expect_err(what);
            assert!(err.starts_with("control_answer_too_large: "), "{err}");
            assert!(err.contains(what), "{what}: {err}");
        }
    }
}
