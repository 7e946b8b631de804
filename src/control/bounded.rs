//! The control's answer, read within a budget: a control (or a censor on its path) decides how
//! many bytes it sends, so the probe reads at most `MAX_ANSWER_BYTES` of it, streamed (never
//! buffered first and checked after), and refuses an answer with more entries, or longer names
//! and addresses, than any real helper writes. What is refused becomes the record's
//! `control_failure`; none of it is embedded. A text the site or network chose (a 10 KB
//! Content-Security-Policy is real) is cut to `MAX_STRING`, marked `… (cut from N bytes)`
//! (`cut`): vantage's helper cuts what it sends, the probe what it reads.

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
    /// The connection closed before any answer began: a kept-alive connection the control
    /// closed as the request went out (a helper evicting idle connections under a flood). Nothing
    /// was answered, so asking again on a new connection may work.
    Unanswered(String),
    /// Anything else, as the record's `control_failure` says it.
    Failed(String),
}

impl NoAnswer {
    /// The record's `control_failure` for this one attempt.
    pub(super) fn failure(self) -> String {
        match self {
            NoAnswer::Busy { .. } => "http_request_failed: control answered 503".into(),
            NoAnswer::Unanswered(f) | NoAnswer::Failed(f) => f,
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
    let mut response = request.send().await.map_err(|e| {
        if closed_unanswered(&e) {
            NoAnswer::Unanswered(super::describe(e))
        } else {
            NoAnswer::Failed(super::describe(e))
        }
    })?;
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
    while let Some(chunk) = response.chunk().await.map_err(super::describe)? {
        if body.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(too_large().into());
        }
        body.extend_from_slice(&chunk);
    }
    serde_json::from_slice(&body).map_err(|e| NoAnswer::Failed(format!("json_parse_error: {e}")))
}

/// Whether the connection closed before any of the answer came (hyper's "incomplete
/// message" on a request that was sent).
fn closed_unanswered(e: &reqwest::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if err
            .downcast_ref::<hyper::Error>()
            .is_some_and(hyper::Error::is_incomplete_message)
        {
            return true;
        }
        source = err.source();
    }
    false
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

/// The marker a cut text ends with: `… (cut from N bytes)`, N its whole length.
const CUT_MARK: &str = "… (cut from ";

/// Cuts `s` to at most `MAX_STRING` bytes: its first bytes (on a char boundary), then
/// `… (cut from N bytes)`. A text within the bound is left whole.
pub fn cut(s: &mut String) {
    if s.len() <= MAX_STRING {
        return;
    }
    let mark = format!("{CUT_MARK}{} bytes)", s.len());
    let end = crate::failure::prefix(s, MAX_STRING - mark.len()).len();
    s.truncate(end);
    s.push_str(&mark);
}

/// `s` was cut by `cut`: what it says is not all the control saw.
pub fn was_cut(s: &str) -> bool {
    s.len() <= MAX_STRING
        && s.rfind(CUT_MARK).is_some_and(|i| {
            let n = &s[i + CUT_MARK.len()..];
            n.strip_suffix(" bytes)")
                .is_some_and(|n| n.parse::<usize>().is_ok_and(|n| n > MAX_STRING))
        })
}

/// Cuts every text of `answer` a site or a network chose (a title, a header value, a URL, a
/// failure that echoes one) to `MAX_STRING` (`cut`). The helper does it to what it sends,
/// the probe to what it reads. Names and addresses are not cut (`check` refuses long ones).
pub fn cut_texts(answer: &mut ControlAnswer) {
    let http = &mut answer.http_request;
    let texts = [&mut http.title, &mut http.discovered_h3_endpoint]
        .into_iter()
        .chain(http.headers.values_mut())
        .chain(
            [
                &mut http.failure,
                &mut http.x_final_url,
                &mut answer.dns.failure,
                &mut answer.x_refused,
            ]
            .into_iter()
            .flatten(),
        )
        .chain(answer.tcp_connect.values_mut().flat_map(|t| &mut t.failure))
        .chain(
            answer
                .tls_handshake
                .values_mut()
                .flat_map(|t| std::iter::once(&mut t.server_name).chain(&mut t.failure)),
        );
    texts.for_each(cut);
}

/// Cuts `answer`'s long texts (`cut_texts`), or `Err` naming the first hard bound it
/// exceeds: more entries than `MAX_ENTRIES`, or a name or address over `MAX_STRING`.
pub(super) fn check(answer: &mut ControlAnswer) -> Result<(), String> {
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
    let mut longest = [opt(&http.x_body_sha256)]
        .into_iter()
        .chain(http.headers.keys().map(String::len))
        .chain(answer.dns.addrs.iter().map(String::len))
        .chain(answer.ip_info.keys().map(String::len))
        .chain(answer.tcp_connect.keys().map(String::len))
        .chain(answer.tls_handshake.keys().map(String::len));
    if let Some(n) = longest.find(|n| *n > MAX_STRING) {
        return Err(format!(
            "control_answer_too_large: a {n}-byte name (at most {MAX_STRING})"
        ));
    }
    cut_texts(answer);
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
        let before = a.clone();
        assert_eq!(check(&mut a), Ok(()));
        assert_eq!(a, before);
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
            ("name", |a, i| {
                if i == 0 {
                    a.http_request
                        .headers
                        .insert("x".repeat(MAX_STRING + 1), String::new());
                }
            }),
            ("name", |a, i| {
                if i == 0 {
                    a.tls_handshake
                        .insert("x".repeat(MAX_STRING + 1), ControlTls::default());
                }
            }),
        ];
        for (what, grow) in cases {
            let mut a = ControlAnswer::default();
            for i in 0..=MAX_ENTRIES {
                grow(&mut a, i);
            }
            let err = check(&mut a).expect_err(what);
            assert!(err.starts_with("control_answer_too_large: "), "{err}");
            assert!(err.contains(what), "{what}: {err}");
        }
    }

    #[test]
    fn long_texts_are_cut_and_marked_within_the_bound() {
        let mut a = ControlAnswer::default();
        let csp = "c".repeat(10_708);
        a.http_request
            .headers
            .insert("Content-Security-Policy".into(), csp.clone());
        a.http_request.title = "é".repeat(MAX_STRING); // 2 bytes each: cut on a char boundary
        a.tls_handshake.insert(
            "127.0.0.1:443".into(),
            ControlTls {
                server_name: "s".repeat(MAX_STRING + 1),
                failure: Some("f".repeat(70_000)),
                ..ControlTls::default()
            },
        );
        assert_eq!(check(&mut a), Ok(()));
        let cut_csp = &a.http_request.headers["Content-Security-Policy"];
        assert!(cut_csp.len() <= MAX_STRING && csp.starts_with(&cut_csp[..8000]));
        assert!(cut_csp.ends_with("… (cut from 10708 bytes)"), "{cut_csp}");
        let tls = &a.tls_handshake["127.0.0.1:443"];
        for s in [cut_csp, &a.http_request.title, &tls.server_name] {
            assert!(s.len() <= MAX_STRING && was_cut(s), "{} bytes", s.len());
        }
        assert!(was_cut(tls.failure.as_deref().unwrap()));
        // Cutting again changes nothing; a short text that looks cut is not.
        let again = a.clone();
        cut_texts(&mut a);
        assert_eq!(a, again);
        assert!(!was_cut("title… (cut from 12 bytes)"));
    }
}
