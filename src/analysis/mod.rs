//! Analysis: from a measurement's observations and the control's answer to OONI's
//! `dns_consistency`, `blocking` and `accessible` (web_connectivity 0.5 "classic" meanings) and to
//! vantage's `x_verdict` (status, blocking methods, evidence). Pure: no I/O, no clock, no
//! randomness; the same input always gives the same output.
//!
//! - `index`: the observations arranged by redirect hop, and the control's answer by endpoint.
//! - `dns`: each host's lookup: the answers used, injected duplicates, bogons, known forged
//!   answers, consistency with the control (IP overlap, ASN, or TLS validation for the name);
//!   `dead_ends`: answers that neither the probe nor the control can connect to while the
//!   control's own addresses serve the site.
//! - `http_diff`: OONI's HTTP comparison with the control, the transfer rate (throttling) and
//!   the recognisable server-side challenges (a CDN's CAPTCHA is not censorship).
//! - `classic`: OONI's `dns_consistency` / `blocking` / `accessible`.
//! - `verdict`: `x_verdict`, where vantage names each blocking method with its evidence and
//!   refuses to call blocked what the control sees fail too (`verdict::steps` weighs failed
//!   connects, handshakes and round trips; `verdict::pages` the final page and blockpages).

mod classic;
mod dead_ends;
mod dns;
mod http_diff;
mod index;
mod verdict;

#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize};

use ipnet::IpNet;
use url::Url;

use crate::control::ControlAnswer;
use crate::fingerprints::Fingerprints;
use crate::observation::Observations;

pub use http_diff::{
    COMMON_HEADERS, INITIAL_WINDOW, STALL_SECONDS, THROTTLE_MAX_RATE, THROTTLE_MIN_BYTES,
    THROTTLE_MIN_SECONDS, THROTTLE_RATIO, THROTTLE_RTT_FACTOR,
};

/// `x_verdict.status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Accessible,
    Blocked,
    Down,
    Unknown,
}

impl Status {
    pub const ALL: [Status; 4] = [
        Status::Accessible,
        Status::Blocked,
        Status::Down,
        Status::Unknown,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Accessible => "accessible",
            Status::Blocked => "blocked",
            Status::Down => "down",
            Status::Unknown => "unknown",
        }
    }
}

/// A blocking method: the closed list of docs/RECORD.md, in its order (which is the order
/// `x_verdict.methods` lists them in).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Method {
    DnsNxdomain,
    DnsBogon,
    DnsInjection,
    DnsForged,
    DnsFailure,
    TcpTimeout,
    TcpReset,
    TcpRefused,
    TlsReset,
    TlsTimeout,
    TlsEof,
    TlsMitm,
    HttpReset,
    HttpTimeout,
    HttpEof,
    HttpBlockpage,
    HttpDiff,
    Throttling,
}

impl Method {
    pub const ALL: [Method; 18] = [
        Method::DnsNxdomain,
        Method::DnsBogon,
        Method::DnsInjection,
        Method::DnsForged,
        Method::DnsFailure,
        Method::TcpTimeout,
        Method::TcpReset,
        Method::TcpRefused,
        Method::TlsReset,
        Method::TlsTimeout,
        Method::TlsEof,
        Method::TlsMitm,
        Method::HttpReset,
        Method::HttpTimeout,
        Method::HttpEof,
        Method::HttpBlockpage,
        Method::HttpDiff,
        Method::Throttling,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Method::DnsNxdomain => "dns.nxdomain",
            Method::DnsBogon => "dns.bogon",
            Method::DnsInjection => "dns.injection",
            Method::DnsForged => "dns.forged",
            Method::DnsFailure => "dns.failure",
            Method::TcpTimeout => "tcp.timeout",
            Method::TcpReset => "tcp.reset",
            Method::TcpRefused => "tcp.refused",
            Method::TlsReset => "tls.reset",
            Method::TlsTimeout => "tls.timeout",
            Method::TlsEof => "tls.eof",
            Method::TlsMitm => "tls.mitm",
            Method::HttpReset => "http.reset",
            Method::HttpTimeout => "http.timeout",
            Method::HttpEof => "http.eof",
            Method::HttpBlockpage => "http.blockpage",
            Method::HttpDiff => "http.diff",
            Method::Throttling => "throttling",
        }
    }
}

/// `x_verdict`: the status, the blocking methods (non-empty exactly when blocked) and the
/// evidence in sentences.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    pub status: Status,
    pub methods: Vec<String>,
    pub reasons: Vec<String>,
}

/// Everything the analysis adds to a record (flattened into `test_keys`). OONI's keys keep
/// OONI's meanings; a key that could not be computed is null.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Analysis {
    /// The failure of the first lookup of the URL's host, OONI's string (getaddrinfo's, as
    /// OONI's classic view reads the lookup).
    pub dns_experiment_failure: Option<String>,
    /// The failure of the step OONI's classic walk stopped at (a round trip, a handshake, a
    /// connect or the lookup), as LTE writes it; null when it stopped at no failure.
    pub http_experiment_failure: Option<String>,
    pub dns_consistency: Option<String>,
    pub body_length_match: Option<bool>,
    pub body_proportion: Option<f64>,
    pub status_code_match: Option<bool>,
    pub headers_match: Option<bool>,
    pub title_match: Option<bool>,
    /// OONI's `blocking`: `false`, a string, or null.
    pub blocking: serde_json::Value,
    pub accessible: Option<bool>,
    /// OONI's DNS flags: 1 a bogon answer, 2 an unexpected failure, 4 unexpected addresses.
    pub x_dns_flags: Option<u32>,
    pub x_verdict: Verdict,
}

/// What the analysis compares the observations with.
#[derive(Clone, Copy, Debug)]
pub struct Context<'a> {
    /// The control's answer, when one was asked for and came back.
    pub control: Option<&'a ControlAnswer>,
    /// Why the control could not answer, when it could not.
    pub control_failure: Option<&'a str>,
    /// Reserved ranges treated as routable (testbeds).
    pub testbed_nets: &'a [IpNet],
    pub fingerprints: &'a Fingerprints,
    /// The probe's country (ISO 3166), `None` when unknown ("ZZ"): fingerprints apply only
    /// where they are seen.
    pub probe_cc: Option<&'a str>,
}

/// Analyses one measurement of `input`.
pub fn analyze(input: &Url, obs: &Observations, ctx: &Context<'_>) -> Analysis {
    let ix = index::Index::new(input, obs, *ctx);
    let lookups = dns::analyze(&ix);
    let diff = http_diff::final_diff(&ix);
    let classic = classic::compute(&ix, &lookups, diff.as_ref());
    let x_verdict = verdict::compute(&ix, &lookups, diff.as_ref().map(|d| d.for_verdict()));
    let d = diff.unwrap_or_default();
    Analysis {
        dns_experiment_failure: classic.dns_experiment_failure,
        http_experiment_failure: classic.http_experiment_failure,
        dns_consistency: classic.dns_consistency.map(str::to_string),
        body_length_match: d.body_length_match,
        body_proportion: d.body_proportion,
        status_code_match: d.status_code_match,
        headers_match: d.headers_match,
        title_match: d.title_match,
        blocking: classic.blocking,
        accessible: classic.accessible,
        x_dns_flags: Some(classic.x_dns_flags),
        x_verdict,
    }
}
