//! Observations: what each probe step saw, as plain data in OONI's test-key shapes
//! (df-002 queries, df-005 tcp_connect, df-006 tls_handshakes, df-001 requests), with
//! vantage's extra evidence under `x_` keys. Probes produce these; analysis and records read them.

use std::collections::BTreeMap;
use std::time::Instant;

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::failure::Failure;

/// Seconds since the start of one measurement: every `t0`/`t` in a record uses it.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    start: Instant,
}

impl Clock {
    pub fn start() -> Clock {
        Clock {
            start: Instant::now(),
        }
    }
    /// Seconds since the measurement started, rounded to microseconds.
    pub fn now(&self) -> f64 {
        secs(self.start.elapsed().as_secs_f64())
    }
    pub fn at(&self, instant: Instant) -> f64 {
        secs(instant.saturating_duration_since(self.start).as_secs_f64())
    }
}

fn secs(s: f64) -> f64 {
    (s * 1e6).round() / 1e6
}

/// Bytes as OONI writes them: a string when valid UTF-8, otherwise `{"format":"base64","data":...}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum MaybeBinary {
    Text(String),
    Binary { format: String, data: String },
}

impl MaybeBinary {
    pub fn from_bytes(bytes: &[u8]) -> MaybeBinary {
        match std::str::from_utf8(bytes) {
            Ok(s) => MaybeBinary::Text(s.to_string()),
            Err(_) => MaybeBinary::base64(bytes),
        }
    }
    pub fn base64(bytes: &[u8]) -> MaybeBinary {
        MaybeBinary::Binary {
            format: "base64".into(),
            data: base64_string(bytes),
        }
    }
}

/// The redirect depth an entry belongs to (`depth=N` tag; 0 when absent).
pub fn depth_of(tags: &[String]) -> usize {
    tags.iter()
        .find_map(|t| t.strip_prefix("depth=").and_then(|n| n.parse().ok()))
        .unwrap_or(0)
}

/// Bytes as a plain base64 string (standard alphabet, padded): df-002's `raw_response`.
pub fn base64_string(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// One DNS answer record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DnsAnswer {
    pub answer_type: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub ipv4: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub ipv6: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub hostname: Option<String>,
    pub ttl: u32,
}

/// Header flags of a DNS response.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DnsFlags {
    pub aa: bool,
    pub tc: bool,
    pub rd: bool,
    pub ra: bool,
    pub ad: bool,
    pub cd: bool,
}

/// One entry of `queries[]`: one response datagram that arrived for a query (or the query's
/// failure when none usable arrived). A query answered twice appears twice: the GFW's forged
/// answer and the real one are both evidence.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DnsQuery {
    pub engine: String,
    pub resolver_address: String,
    pub hostname: String,
    pub query_type: String,
    pub failure: Option<Failure>,
    pub answers: Vec<DnsAnswer>,
    pub rcode: Option<u16>,
    /// The datagram's bytes, base64 (df-002: a plain base64 string, not a binary-data object).
    pub raw_response: Option<String>,
    pub t0: f64,
    pub t: f64,
    pub tags: Vec<String>,
    pub transaction_id: u64,
    /// Address the datagram came from.
    pub x_source_address: Option<String>,
    /// The id we sent, and whether the datagram carried it.
    pub x_query_id: u16,
    pub x_id_match: Option<bool>,
    /// Whether the question section echoes ours.
    pub x_question_match: Option<bool>,
    /// 0 for the first datagram that arrived for this query, 1 for the next, ...
    pub x_response_index: usize,
    pub x_flags: Option<DnsFlags>,
    /// Why the datagram could not be decoded, when it could not.
    pub x_decode_error: Option<String>,
    /// Answer records beyond the per-entry cap (`budget::DNS_ANSWERS_PER_ENTRY`): counted, not
    /// decoded. Absent when none.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub x_answers_dropped: u64,
    /// Bytes of the datagram beyond the per-entry cap (`budget::DNS_RAW_BYTES_PER_ENTRY`):
    /// `raw_response` then holds only the first ones. Absent when none.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub x_raw_bytes_dropped: u64,
    /// On the lookup entry merged the way OONI's classic view reads it (engine `getaddrinfo`,
    /// `probe::getaddrinfo`): how vantage obtained it and the entries it merges. Absent on
    /// the per-datagram entries.
    #[serde(flatten, default, skip_serializing_if = "Option::is_none")]
    pub x_classic: Option<crate::probe::getaddrinfo::Merged>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// What one lookup received beyond its budgets (`x_dns_truncated[]`, only for lookups that shed
/// something): counted here, not stored in `queries[]`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DnsTruncated {
    pub hostname: String,
    /// The lookup's `transaction_id` in `queries[]`.
    pub transaction_id: u64,
    /// Datagrams that arrived on the lookup's socket in all (TCP answers included).
    pub datagrams_received: u64,
    /// Of those, the ones with no `queries[]` entry (over the entry count or byte budgets).
    pub datagrams_dropped: u64,
    /// Bytes of the dropped datagrams.
    pub bytes_dropped: u64,
    /// Answer records not decoded, summed over the stored entries (`x_answers_dropped`).
    pub answers_dropped: u64,
    /// Raw bytes not stored, summed over the stored entries (`x_raw_bytes_dropped`).
    pub raw_bytes_dropped: u64,
    /// Some datagrams were dropped because the measurement's DNS budget (all hops) was spent.
    pub measurement_budget_exhausted: bool,
}

#[cfg(test)]
impl DnsQuery {
    /// A stored UDP answer to an A query for `h.test`, with no answers: unit tests fill in
    /// what they need.
    pub(crate) fn fixture() -> DnsQuery {
        serde_json::from_value(serde_json::json!({
            "engine": "udp", "resolver_address": "127.0.0.1:53", "hostname": "h.test",
            "query_type": "A", "failure": null, "answers": [], "rcode": 0,
            "raw_response": null, "t0": 0.0, "t": 0.1, "tags": [], "transaction_id": 1,
            "x_source_address": "127.0.0.1:53", "x_query_id": 1, "x_id_match": true,
            "x_question_match": true, "x_response_index": 0, "x_flags": null,
            "x_decode_error": null
        }))
        .expect("the fixture is a DnsQuery")
    }
}

impl DnsQuery {
    /// The addresses this response carries (A and AAAA answers).
    pub fn addresses(&self) -> impl Iterator<Item = std::net::IpAddr> + '_ {
        self.answers.iter().filter_map(|a| {
            a.ipv4
                .as_deref()
                .or(a.ipv6.as_deref())
                .and_then(|s| s.parse().ok())
        })
    }
}

/// `status` of a tcp_connect entry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TcpStatus {
    pub success: bool,
    pub failure: Option<Failure>,
}

/// One entry of `tcp_connect[]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TcpConnect {
    pub ip: String,
    pub port: u16,
    pub status: TcpStatus,
    pub t0: f64,
    pub t: f64,
    pub tags: Vec<String>,
    pub transaction_id: u64,
}

/// One certificate of the peer's chain, decoded.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CertInfo {
    pub subject: String,
    pub issuer: String,
    pub san: Vec<String>,
    pub not_before: String,
    pub not_after: String,
    pub serial: String,
    pub sha256: String,
}

/// One entry of `tls_handshakes[]`. `failure` holds the handshake failure, or the certificate
/// validation failure when the handshake completed with a certificate that does not validate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TlsHandshake {
    pub network: String,
    pub address: String,
    pub server_name: String,
    pub cipher_suite: Option<String>,
    pub tls_version: Option<String>,
    pub negotiated_protocol: Option<String>,
    pub no_tls_verify: bool,
    pub peer_certificates: Vec<MaybeBinary>,
    pub failure: Option<Failure>,
    pub t0: f64,
    pub t: f64,
    pub tags: Vec<String>,
    pub transaction_id: u64,
    /// The handshake itself completed (even if the certificate did not validate).
    pub x_handshake_completed: bool,
    /// Whether the chain validates for `server_name` against the trust anchors.
    pub x_certificate_valid: Option<bool>,
    /// The decoded chain, leaf first.
    pub x_chain: Vec<CertInfo>,
    pub x_bytes_sent: u64,
    pub x_bytes_received: u64,
}

/// An HTTP header list as OONI writes it (`headers` map plus the ordered `headers_list`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct HttpHeaders {
    pub headers: BTreeMap<String, String>,
    pub headers_list: Vec<(String, String)>,
}

impl HttpHeaders {
    pub fn from_map(map: &http::HeaderMap) -> HttpHeaders {
        let mut h = HttpHeaders::default();
        for (name, value) in map {
            let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
            h.headers
                .entry(canonical(name.as_str()))
                .or_insert_with(|| value.clone());
            h.headers_list.push((canonical(name.as_str()), value));
        }
        h
    }
}

/// `content-type` -> `Content-Type`, as OONI's Go code writes header names.
pub fn canonical(name: &str) -> String {
    name.split('-')
        .map(|part| {
            let mut c = part.chars();
            match c.next() {
                Some(first) => {
                    first.to_ascii_uppercase().to_string() + &c.as_str().to_ascii_lowercase()
                }
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join("-")
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HttpRequest {
    pub url: String,
    pub method: String,
    #[serde(flatten)]
    pub headers: HttpHeaders,
    pub body: String,
    pub body_is_truncated: bool,
    pub x_transport: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HttpResponse {
    pub code: u16,
    #[serde(flatten)]
    pub headers: HttpHeaders,
    pub body: Option<MaybeBinary>,
    pub body_is_truncated: bool,
    /// Bytes of body received in all (may exceed what `body` keeps).
    pub x_body_length: u64,
    /// The body was read to its end (false when cut by the read cap, a timeout or an error).
    pub x_body_complete: bool,
    /// SHA-256 of every body byte received.
    pub x_body_sha256: String,
    pub x_title: Option<String>,
}

/// A sample of the body transfer: bytes received so far at time `t`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct TransferSample {
    pub t: f64,
    pub bytes: u64,
}

/// One entry of `requests[]`: one HTTP round trip (one redirect hop).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HttpTransaction {
    pub network: String,
    pub address: String,
    pub alpn: Option<String>,
    pub failure: Option<Failure>,
    pub request: HttpRequest,
    pub response: Option<HttpResponse>,
    pub t0: f64,
    pub t: f64,
    pub tags: Vec<String>,
    pub transaction_id: u64,
    /// Seconds from sending the request to the response headers.
    pub x_t_response_headers: Option<f64>,
    /// Samples of the body transfer (at most a few per second), for throttling analysis.
    pub x_transfer: Vec<TransferSample>,
}

/// Everything one measurement of one URL observed.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Observations {
    pub queries: Vec<DnsQuery>,
    pub tcp_connect: Vec<TcpConnect>,
    pub tls_handshakes: Vec<TlsHandshake>,
    /// In OONI's order: the last hop first.
    pub requests: Vec<HttpTransaction>,
    /// The per-target deadline cut the measurement short.
    pub x_deadline_exceeded: bool,
    /// The redirect chain was still going when the hop limit was reached.
    pub x_redirect_limit_reached: bool,
    /// Lookups that received more than their DNS budgets keep (absent when none did).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub x_dns_truncated: Vec<DnsTruncated>,
    /// OONI LTE's late and duplicate DNS answers: copies of the `queries[]` entries of every
    /// datagram that answered a query after its first one.
    #[serde(default)]
    pub x_dns_duplicate_responses: Vec<DnsQuery>,
    /// Each lookup as getaddrinfo would have written it (`probe::getaddrinfo`): not analysed
    /// with the datagrams (vantage's analysis reads those), written first in `queries[]` by
    /// the record.
    #[serde(skip)]
    pub classic_lookups: Vec<DnsQuery>,
}
