//! The control protocol: what the probe asks a `vantage helper` and what it answers. The shapes
//! are OONI's test-helper protocol (`internal/model/th.go`), so OONI probes can use a vantage
//! helper and vantage can read an OONI helper's answer; vantage's extra evidence is under `x_`.
//! `GET /info` (vantage helpers only) says who the helper is and where the probe's request came
//! from. `preflight` checks a control once before a pass; `health` counts how it fared.
//!
//! A helper that refuses a destination by its own policy (a private or reserved address
//! without `--allow-private`) has measured nothing: it answers OONI's shape with the refusal as
//! the failures and says so in `x_refused`, and the probe takes such an answer as the control
//! failure `helper_refused: ...` (never as the site failing from the control too).

mod bounded;
mod breaker;
pub mod health;
pub mod preflight;
mod retry;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `POST /` body: the URL, the probe's request headers and the endpoints it resolved. Read as
/// OONI's helper reads it (Go's decoder): a key that is absent or `null` is empty; an OONI probe
/// whose DNS failed sends `"tcp_connect": null`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ControlRequest {
    pub http_request: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub http_request_headers: BTreeMap<String, Vec<String>>,
    /// `"ip:port"` endpoints the probe resolved.
    #[serde(default, deserialize_with = "null_as_default")]
    pub tcp_connect: Vec<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub x_quic_enabled: bool,
}

fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// One TCP connect as the control saw it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ControlTcp {
    pub status: bool,
    pub failure: Option<String>,
}

/// One TLS handshake as the control saw it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ControlTls {
    pub server_name: String,
    pub status: bool,
    pub failure: Option<String>,
    /// The chain validated for `server_name` (vantage helpers only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x_certificate_valid: Option<bool>,
}

/// The control's fetch of the URL (redirects followed). OONI writes -1 for lengths and codes
/// it does not have.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ControlHttp {
    pub body_length: i64,
    pub failure: Option<String>,
    pub title: String,
    #[serde(deserialize_with = "null_as_default")]
    pub headers: BTreeMap<String, String>,
    pub status_code: i64,
    #[serde(default)]
    pub discovered_h3_endpoint: String,
    /// SHA-256 of the body the control received (vantage helpers only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x_body_sha256: Option<String>,
    /// The body was read to its end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x_body_complete: Option<bool>,
    /// Body bytes per second over the transfer (vantage helpers only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x_transfer_rate: Option<f64>,
    /// The URL of the last hop.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x_final_url: Option<String>,
}

impl Default for ControlHttp {
    fn default() -> Self {
        ControlHttp {
            body_length: -1,
            failure: None,
            title: String::new(),
            headers: BTreeMap::new(),
            status_code: -1,
            discovered_h3_endpoint: String::new(),
            x_body_sha256: None,
            x_body_complete: None,
            x_transfer_rate: None,
            x_final_url: None,
        }
    }
}

/// The control's own resolution. OONI's failure vocabulary here: `dns_name_error` (NXDOMAIN),
/// `dns_server_failure`, `unknown_error`; "no answer" is success with no addresses.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ControlDns {
    pub failure: Option<String>,
    #[serde(deserialize_with = "null_as_default")]
    pub addrs: Vec<String>,
}

/// Per-address facts: ASN (0 when unknown) and OONI's flags.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ControlIpInfo {
    pub asn: u32,
    pub flags: u32,
}

/// `ip_info` flags (OONI): resolved by the probe, by the helper, a bogon, valid for the domain.
pub const IP_FLAG_PROBE: u32 = 1;
pub const IP_FLAG_HELPER: u32 = 2;
pub const IP_FLAG_BOGON: u32 = 4;
pub const IP_FLAG_VALID_FOR_DOMAIN: u32 = 8;

/// The helper's answer. `tcp_connect`, `http_request` and `dns` must be there (OONI's
/// `THResponse` always writes them; Go writes an empty map as `{}` or `null`): an answer
/// without one is not a helper's and reads as `json_parse_error: missing field ...`, the
/// control failing, never a control that found nothing.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ControlAnswer {
    #[serde(deserialize_with = "null_as_default")]
    pub tcp_connect: BTreeMap<String, ControlTcp>,
    #[serde(default)]
    pub tls_handshake: BTreeMap<String, ControlTls>,
    #[serde(default)]
    pub quic_handshake: BTreeMap<String, serde_json::Value>,
    pub http_request: ControlHttp,
    #[serde(default)]
    pub http3_request: Option<serde_json::Value>,
    pub dns: ControlDns,
    #[serde(default)]
    pub ip_info: BTreeMap<String, ControlIpInfo>,
    /// The helper refused to measure (its own policy, e.g. a private destination without
    /// `--allow-private`): why, naming the addresses. The failures in the other fields are
    /// the refusal, not the network's (vantage helpers only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x_refused: Option<String>,
}

/// An answer in OONI's shape can still say nothing: a fetch with neither a status code nor a
/// failure was never made (OONI's helper and vantage's always give one or the other), and its
/// empty `dns` would read as "no such name" and make a page the probe loaded `down`.
fn measured_something(answer: &ControlAnswer) -> Result<(), String> {
    let http = &answer.http_request;
    if http.failure.is_none() && http.status_code <= 0 {
        return Err(format!(
            "control_answer_incoherent: its fetch has neither a status code nor a failure \
             (status_code {})",
            http.status_code
        ));
    }
    Ok(())
}

/// `GET /info`: the helper's software and protocol, and the probe's address as the helper saw
/// it (the TCP peer: behind a NAT, the vantage point's public address).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct HelperInfo {
    #[serde(default)]
    pub software: Option<String>,
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub protocol: Option<u32>,
    #[serde(default)]
    pub client_address: Option<std::net::IpAddr>,
    #[serde(default)]
    pub max_inflight: Option<usize>,
}

/// The control protocol version `GET /info` states.
pub const PROTOCOL: u32 = 1;

pub use bounded::{cut_texts, was_cut, MAX_ANSWER_BYTES, MAX_ENTRIES, MAX_STRING};
pub use breaker::{FIRST_COOL_DOWN, MAX_COOL_DOWN, TRIP_AFTER};
pub use retry::{FIRST_BACKOFF, MAX_ATTEMPTS, MAX_BACKOFF, MAX_RETRY_AFTER};

/// Requests a probe keeps in flight to a control that does not say its limit (`GET /info`):
/// `vantage helper`'s default `--max-inflight`, and what OONI's oohelperd serves any client
/// (`internal/oohelperd/handler.go`, `handlerShouldThrottleClient`: 503 from 25 in flight).
pub const DEFAULT_MAX_INFLIGHT: usize = 25;

/// Asks a `vantage helper` (or an OONI test helper) about one URL, with at most as many
/// requests in flight as the control accepts (`limit_inflight`), a busy one asked again
/// (`retry`).
#[derive(Clone)]
pub struct ControlClient {
    client: reqwest::Client,
    url: url::Url,
    token: Option<String>,
    inflight: std::sync::Arc<tokio::sync::Semaphore>,
    breaker: std::sync::Arc<breaker::Breaker>,
}

/// How long the probe waits for the control's answer (OONI: 30 s).
pub const CONTROL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

impl ControlClient {
    pub fn new(
        url: url::Url,
        token: Option<String>,
        tls: &crate::probe::tls::TlsContext,
    ) -> Result<ControlClient, crate::probe::tls::TlsSetupError> {
        let client = reqwest::Client::builder()
            .tls_backend_preconfigured(tls.service_config()?)
            .timeout(CONTROL_TIMEOUT)
            .no_proxy()
            // A 3xx from the control is its failure: a redirect could re-POST the probe's
            // request (307) anywhere the path's owner likes.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("vantage/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| crate::probe::tls::TlsSetupError::Config(e.to_string()))?;
        Ok(ControlClient {
            client,
            url,
            token,
            inflight: std::sync::Arc::new(tokio::sync::Semaphore::new(DEFAULT_MAX_INFLIGHT)),
            breaker: Default::default(),
        })
    }

    /// Keeps at most `n` requests in flight (the control's limit: `HelperInfo::max_inflight`),
    /// within 1 and `limits::MAX_INFLIGHT`. Call before the client is shared: clones made
    /// before keep the limit they had.
    pub fn limit_inflight(&mut self, n: usize) {
        let n = n.clamp(1, crate::limits::MAX_INFLIGHT);
        self.inflight = std::sync::Arc::new(tokio::sync::Semaphore::new(n));
    }

    /// Takes what the preflight found: a control that was silent is not asked for a
    /// cool-down (`breaker`), so a run does not wait its timeout for every batch of targets.
    pub fn heed(&self, checked: &preflight::Preflight) {
        if checked.found_silent() {
            self.breaker.trip("generic_timeout_error");
        }
    }

    /// The request for `input` with the probe's headers and endpoints.
    pub fn request_for(input: &str, endpoints: &[std::net::SocketAddr]) -> ControlRequest {
        use crate::probe::http::{ACCEPT, ACCEPT_LANGUAGE, USER_AGENT};
        ControlRequest {
            http_request: input.to_string(),
            http_request_headers: [
                ("Accept", ACCEPT),
                ("Accept-Language", ACCEPT_LANGUAGE),
                ("User-Agent", USER_AGENT),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), vec![v.to_string()]))
            .collect(),
            tcp_connect: endpoints.iter().map(|e| e.to_string()).collect(),
            x_quic_enabled: false,
        }
    }

    /// The control's answer, or why there is none (a string for the record's `control_failure`).
    /// It waits while the client's requests in flight are at the control's limit, and a busy
    /// control (503) is asked again (`retry`). At most `MAX_ANSWER_BYTES` are read, and an
    /// answer beyond the entry and string bounds is refused: either is
    /// `control_answer_too_large: ...`. A helper's refusal (`x_refused`, or a 403 saying
    /// `refused: ...`) is `helper_refused: ...`.
    pub async fn ask(&self, request: &ControlRequest) -> Result<ControlAnswer, String> {
        self.breaker.check()?;
        let _permit = self.inflight.acquire().await.expect("never closed");
        // Checked again: the breaker may have opened while this request waited its turn.
        self.breaker.check()?;
        let answer = retry::retrying(|| {
            bounded::fetch_json(self.authorized(self.client.post(self.url.clone()).json(request)))
        })
        .await;
        self.breaker
            .record(answer.as_ref().map(|_| ()).map_err(String::as_str));
        let answer: ControlAnswer = answer?;
        let mut answer = answer;
        bounded::check(&mut answer)?;
        if let Some(why) = &answer.x_refused {
            return Err(format!("{}{why}", bounded::REFUSED));
        }
        measured_something(&answer)?;
        Ok(answer)
    }

    /// `GET /info` of the helper, within the same budget and with the same failure strings as
    /// `ask`.
    pub async fn info(&self) -> Result<HelperInfo, String> {
        let mut url = self.url.clone();
        let path = format!("{}/info", url.path().trim_end_matches('/'));
        url.set_path(&path);
        url.set_query(None);
        let info: HelperInfo = bounded::fetch_json(self.authorized(self.client.get(url)))
            .await
            .map_err(bounded::NoAnswer::failure)?;
        let long = [&info.software, &info.version]
            .into_iter()
            .flatten()
            .any(|s| s.len() > MAX_STRING);
        if long {
            return Err(format!(
                "control_answer_too_large: a string over {MAX_STRING} bytes"
            ));
        }
        Ok(info)
    }

    fn authorized(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.token {
            Some(t) => request.bearer_auth(t),
            None => request,
        }
    }
}

/// The `control_failure` for `e`. Its URL (with the control's credentials) is left out.
fn describe(e: reqwest::Error) -> String {
    let e = e.without_url();
    if e.is_timeout() {
        return "generic_timeout_error".into();
    }
    match crate::failure::Failure::classify(&e) {
        crate::failure::Failure::Unknown(_) => format!("unknown_failure: {e}"),
        f => f.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oonis_answer_reads_with_go_nulls_and_a_partial_one_does_not() {
        let ooni = r#"{"tcp_connect":null,"tls_handshake":{},"quic_handshake":{},
            "http_request":{"body_length":-1,"discovered_h3_endpoint":"","failure":
            "connection_refused","title":"","headers":null,"status_code":-1},
            "http3_request":null,"dns":{"failure":"dns_name_error","addrs":null},
            "ip_info":{}}"#;
        let a: ControlAnswer = serde_json::from_str(ooni).unwrap();
        assert!(a.tcp_connect.is_empty() && a.dns.addrs.is_empty());
        assert_eq!(a.dns.failure.as_deref(), Some("dns_name_error"));
        for partial in [
            r#"{"garbage":true}"#,
            r#"{"tcp_connect":{},"dns":{"failure":null,"addrs":[]}}"#,
            r#"{"tcp_connect":{},"http_request":{"body_length":-1,"title":"","headers":{},"status_code":-1}}"#,
            r#"{"dns":{"failure":null,"addrs":[]},"http_request":{"body_length":-1,"title":"","headers":{},"status_code":-1}}"#,
        ] {
            let e = serde_json::from_str::<ControlAnswer>(partial).unwrap_err();
            assert!(e.to_string().starts_with("missing field"), "{partial}: {e}");
        }
    }

    /// Reads one HTTP request (headers and a Content-Length body) from `s`; false at EOF.
    async fn read_request(s: &mut tokio::net::TcpStream) -> bool {
        use tokio::io::AsyncReadExt;
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0);
                if buf.len() >= end + 4 + len {
                    return true;
                }
            }
            match s.read(&mut chunk).await {
                Ok(0) | Err(_) => return false,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
    }

    /// A control that closes its kept-alive connection as the next request arrives (a helper
    /// evicting its oldest idle connection under a flood does that to the probe's pooled one):
    /// nothing was answered, so the request is sent again on a new connection, never the
    /// target's `control_failure`.
    #[tokio::test]
    async fn a_pooled_connection_closed_under_a_request_is_asked_again() {
        use tokio::io::AsyncWriteExt;
        let answer = r#"{"tcp_connect":{},"http_request":{"body_length":1,"failure":null,
            "title":"","headers":{},"status_code":200},"dns":{"failure":null,"addrs":[]}}"#;
        let response = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{answer}",
            answer.len()
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            // The first connection: one answer, then the next request is read and dropped.
            let (mut s, _) = listener.accept().await.unwrap();
            assert!(read_request(&mut s).await);
            s.write_all(response.as_bytes()).await.unwrap();
            read_request(&mut s).await;
            drop(s);
            // Every later connection is answered.
            loop {
                let (mut s, _) = listener.accept().await.unwrap();
                while read_request(&mut s).await {
                    s.write_all(response.as_bytes()).await.unwrap();
                }
            }
        });
        let tls = crate::probe::tls::TlsContext::new(None).unwrap();
        let url = url::Url::parse(&format!("http://{addr}/")).unwrap();
        let c = ControlClient::new(url, None, &tls).unwrap();
        let request = ControlRequest {
            http_request: "http://x.test/".into(),
            ..ControlRequest::default()
        };
        for round in 0..2 {
            let got = c.ask(&request).await;
            assert!(got.is_ok(), "round {round}: {got:?}");
        }
    }

    #[test]
    fn the_limit_a_control_states_is_kept_within_bounds() {
        let tls = crate::probe::tls::TlsContext::new(None).unwrap();
        let url = url::Url::parse("http://127.0.0.1:9/").unwrap();
        let mut c = ControlClient::new(url, None, &tls).unwrap();
        assert_eq!(c.inflight.available_permits(), DEFAULT_MAX_INFLIGHT);
        for (stated, kept) in [(0, 1), (2, 2), (usize::MAX, crate::limits::MAX_INFLIGHT)] {
            c.limit_inflight(stated);
            assert_eq!(c.inflight.available_permits(), kept, "{stated}");
        }
    }
}
