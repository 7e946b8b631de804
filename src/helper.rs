//! `vantage helper`: the control server, run on an uncensored host. It measures what a probe
//! asks about with the same probe code the probe uses (so differences come from the network,
//! not the code), and answers in OONI's test-helper shape plus vantage's `x_` evidence.
//!
//! Hardening: reserved destinations are refused unless `--allow-private` (a helper must not be a
//! proxy into its own network), an optional bearer token, a cap on requests in flight (503
//! beyond), a body size cap, per-step timeouts, and no panic on any input.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use tokio::sync::Semaphore;
use url::Url;

use crate::bogon::is_bogon;
use crate::control::{
    ControlAnswer, ControlDns, ControlHttp, ControlIpInfo, ControlRequest, ControlTcp, ControlTls,
    IP_FLAG_BOGON, IP_FLAG_HELPER, IP_FLAG_PROBE, IP_FLAG_VALID_FOR_DOMAIN,
};
use crate::failure::Failure;
use crate::observation::Observations;
use crate::probe::{ProbeSettings, Prober};

/// Largest request body accepted.
pub const MAX_BODY: usize = 64 * 1024;
/// Most endpoints of the probe's that are checked per request.
const MAX_PROBE_ENDPOINTS: usize = 16;

/// How the helper runs.
pub struct HelperConfig {
    pub probe: ProbeSettings,
    pub token: Option<String>,
    pub allow_private: bool,
    pub max_inflight: usize,
}

struct Shared {
    prober: Prober,
    token: Option<String>,
    allow_private: bool,
    inflight: Semaphore,
}

/// The helper's HTTP routes.
pub fn router(config: HelperConfig, tls: crate::probe::tls::TlsContext) -> Router {
    let shared = Arc::new(Shared {
        prober: Prober::new(
            config.probe,
            tls,
            Arc::new(crate::rate::RateLimiter::new(0)),
        ),
        token: config.token,
        allow_private: config.allow_private,
        inflight: Semaphore::new(config.max_inflight.max(1)),
    });
    Router::new()
        .route("/", post(measure))
        .route(
            "/",
            get(|| async { "vantage helper: POST a web_connectivity control request here\n" }),
        )
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(shared)
}

/// Serves until the process is stopped.
pub async fn serve(listener: tokio::net::TcpListener, router: Router) -> std::io::Result<()> {
    axum::serve(listener, router).await
}

fn refuse(code: StatusCode, message: impl Into<String>) -> Response {
    let body = serde_json::json!({ "error": message.into() });
    (code, Json(body)).into_response()
}

/// Compares in constant time, so the token cannot be guessed byte by byte.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn measure(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(token) = &shared.token {
        let given = headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if !given.is_some_and(|g| same(g.as_bytes(), token.as_bytes())) {
            return refuse(StatusCode::UNAUTHORIZED, "missing or wrong bearer token");
        }
    }
    let Ok(_permit) = shared.inflight.try_acquire() else {
        return refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "too many requests in flight",
        );
    };
    let request: ControlRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return refuse(StatusCode::BAD_REQUEST, format!("malformed request: {e}")),
    };
    let url = match Url::parse(&request.http_request) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => u,
        Ok(u) => return refuse(StatusCode::BAD_REQUEST, format!("not an http(s) URL: {u}")),
        Err(e) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                format!("invalid http_request URL: {e}"),
            )
        }
    };
    let literal = match url.host() {
        Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
        _ => None,
    };
    if let Some(ip) = literal {
        if !shared.allow_private && is_bogon(ip) {
            return refuse(
                StatusCode::FORBIDDEN,
                format!("refused: {ip} is a private or reserved address"),
            );
        }
    }
    let mut endpoints = Vec::new();
    for e in request.tcp_connect.iter().take(MAX_PROBE_ENDPOINTS) {
        match e.parse::<SocketAddr>() {
            Ok(a) => endpoints.push(a),
            Err(_) => {
                return refuse(
                    StatusCode::BAD_REQUEST,
                    format!("invalid tcp_connect endpoint {e:?}"),
                )
            }
        }
    }
    let answer = control_measurement(&shared, &url, &endpoints).await;
    Json(answer).into_response()
}

/// Measures `url` from here, checks the probe's endpoints too, and summarizes.
async fn control_measurement(
    shared: &Shared,
    url: &Url,
    probe_endpoints: &[SocketAddr],
) -> ControlAnswer {
    let measured = shared.prober.measure(url).await;
    let clock = measured.clock;
    let obs = measured.finish().await;
    let mut answer = summarize(url, &obs);

    // The probe's endpoints this measurement did not already try, and OONI's E001 check: a TLS
    // handshake with SNI on :443 at every address, whatever the URL's scheme, so that an
    // address that differs from ours (a CDN, GeoDNS) can be vindicated by its certificate.
    let https = url.scheme() == "https";
    let url_port = url.port_or_known_default().unwrap_or(0);
    let allowed = |ip: IpAddr| shared.allow_private || !is_bogon(ip);
    let mut checks: Vec<(SocketAddr, bool)> = Vec::new();
    for ep in probe_endpoints {
        if !answer.tcp_connect.contains_key(&ep.to_string()) && allowed(ep.ip()) {
            checks.push((*ep, https && (ep.port() == url_port || ep.port() == 443)));
        }
    }
    let mut ips: Vec<IpAddr> = answer
        .dns
        .addrs
        .iter()
        .filter_map(|a| a.parse().ok())
        .collect();
    ips.extend(probe_endpoints.iter().map(|e| e.ip()));
    for ip in ips {
        let ep = SocketAddr::new(ip, 443);
        let done =
            answer.tls_handshake.contains_key(&ep.to_string()) || checks.contains(&(ep, true));
        if !done && allowed(ip) {
            checks.retain(|c| c.0 != ep);
            checks.push((ep, true));
        }
    }
    let results =
        futures_util::future::join_all(checks.iter().enumerate().map(|(i, (ep, tls))| {
            shared
                .prober
                .check_endpoint(*ep, url, *tls, clock, 1000 + i as u64)
        }))
        .await;
    for ((ep, _), (tcp, hs)) in checks.iter().zip(results) {
        let key = ep.to_string();
        answer.tcp_connect.insert(
            key.clone(),
            ControlTcp {
                status: tcp.status.success,
                failure: tcp.status.failure.map(|f| f.to_string()),
            },
        );
        if let Some(hs) = hs {
            answer.tls_handshake.insert(key, tls_entry(&hs));
        }
    }
    ip_info(&mut answer, probe_endpoints);
    answer
}

fn tls_entry(hs: &crate::observation::TlsHandshake) -> ControlTls {
    ControlTls {
        server_name: hs.server_name.clone(),
        status: hs.failure.is_none(),
        failure: hs.failure.as_ref().map(|f| f.to_string()),
        x_certificate_valid: hs.x_certificate_valid,
    }
}

/// The control answer for what this helper observed.
pub fn summarize(url: &Url, obs: &Observations) -> ControlAnswer {
    let mut answer = ControlAnswer {
        dns: dns_summary(url, obs),
        ..ControlAnswer::default()
    };
    for t in obs
        .tcp_connect
        .iter()
        .filter(|t| t.tags.iter().any(|g| g == "depth=0"))
    {
        let key =
            SocketAddr::new(t.ip.parse().unwrap_or(IpAddr::from([0, 0, 0, 0])), t.port).to_string();
        answer.tcp_connect.insert(
            key,
            ControlTcp {
                status: t.status.success,
                failure: t.status.failure.as_ref().map(|f| f.to_string()),
            },
        );
    }
    for hs in obs
        .tls_handshakes
        .iter()
        .filter(|h| h.tags.iter().any(|g| g == "depth=0"))
    {
        answer
            .tls_handshake
            .insert(hs.address.clone(), tls_entry(hs));
    }
    answer.http_request = http_summary(obs);
    answer
}

fn dns_summary(url: &Url, obs: &Observations) -> ControlDns {
    if let Some(host) = url.host() {
        if !matches!(host, url::Host::Domain(_)) {
            return ControlDns {
                failure: None,
                addrs: vec![url
                    .host_str()
                    .unwrap_or_default()
                    .trim_matches(|c| c == '[' || c == ']')
                    .to_string()],
            };
        }
    }
    let first: Vec<_> = obs
        .queries
        .iter()
        .filter(|q| q.tags.iter().any(|t| t == "depth=0") && q.x_response_index == 0)
        .collect();
    let mut addrs: Vec<String> = Vec::new();
    for q in &first {
        for a in q.addresses() {
            let s = a.to_string();
            if !addrs.contains(&s) {
                addrs.push(s);
            }
        }
    }
    if !addrs.is_empty() {
        return ControlDns {
            failure: None,
            addrs,
        };
    }
    let a_failure = first
        .iter()
        .find(|q| q.query_type == "A")
        .and_then(|q| q.failure.clone());
    let failure = match a_failure {
        None | Some(Failure::DnsNoAnswer) => None,
        Some(Failure::DnsNxdomain) => Some("dns_name_error".to_string()),
        Some(Failure::DnsServfail | Failure::DnsRefused) => Some("dns_server_failure".to_string()),
        Some(_) => Some("unknown_error".to_string()),
    };
    ControlDns { failure, addrs }
}

fn http_summary(obs: &Observations) -> ControlHttp {
    let Some(last) = obs.requests.first() else {
        // No request at all: the chain broke before HTTP (DNS, TCP or TLS).
        let failure = obs
            .tls_handshakes
            .iter()
            .find_map(|h| h.failure.clone())
            .or_else(|| {
                obs.tcp_connect
                    .iter()
                    .find_map(|t| t.status.failure.clone())
            })
            .or_else(|| {
                obs.queries
                    .iter()
                    .find(|q| q.query_type == "A")
                    .and_then(|q| q.failure.clone())
            })
            .unwrap_or(Failure::Unknown("no request was made".into()));
        return ControlHttp {
            failure: Some(failure.to_string()),
            ..ControlHttp::default()
        };
    };
    let mut http = ControlHttp {
        failure: last.failure.as_ref().map(|f| f.to_string()),
        x_final_url: Some(last.request.url.clone()),
        ..ControlHttp::default()
    };
    if let Some(r) = &last.response {
        http.status_code = r.code as i64;
        http.body_length = r.x_body_length as i64;
        http.title = r.x_title.clone().unwrap_or_default();
        http.headers = r
            .headers
            .headers
            .clone()
            .into_iter()
            .collect::<BTreeMap<_, _>>();
        http.x_body_sha256 = Some(r.x_body_sha256.clone()).filter(|s| !s.is_empty());
        http.x_body_complete = Some(r.x_body_complete);
        http.x_transfer_rate = transfer_rate(&last.x_transfer);
    }
    http
}

/// Body bytes per second between the first and last transfer samples.
pub fn transfer_rate(samples: &[crate::observation::TransferSample]) -> Option<f64> {
    let (first, last) = (samples.first()?, samples.last()?);
    let secs = last.t - first.t;
    (secs > 0.0).then(|| (last.bytes - first.bytes) as f64 / secs)
}

fn ip_info(answer: &mut ControlAnswer, probe_endpoints: &[SocketAddr]) {
    let mut info: BTreeMap<String, ControlIpInfo> = BTreeMap::new();
    for a in &answer.dns.addrs {
        info.entry(a.clone()).or_default().flags |= IP_FLAG_HELPER;
    }
    for ep in probe_endpoints {
        info.entry(ep.ip().to_string()).or_default().flags |= IP_FLAG_PROBE;
    }
    for (ip, entry) in info.iter_mut() {
        if ip.parse().map(is_bogon).unwrap_or(false) {
            entry.flags |= IP_FLAG_BOGON;
        }
        let valid = answer.tls_handshake.iter().any(|(addr, t)| {
            t.x_certificate_valid == Some(true)
                && addr
                    .parse::<SocketAddr>()
                    .is_ok_and(|a| a.ip().to_string() == *ip)
        });
        if valid {
            entry.flags |= IP_FLAG_VALID_FOR_DOMAIN;
        }
    }
    answer.ip_info = info;
}

/// The helper's per-step settings: like the probe's, without the duplicate-listening window
/// and within the probe's 30 s wait for an answer.
pub fn probe_settings(
    resolver: SocketAddr,
    timeout: Duration,
    allow_private: bool,
    source: Option<IpAddr>,
) -> ProbeSettings {
    ProbeSettings {
        dns: crate::probe::dns::DnsSettings {
            resolver,
            timeout,
            wait: Duration::ZERO,
            source,
        },
        step_timeout: timeout,
        deadline: Duration::from_secs(25),
        max_addrs_per_family: 4,
        max_redirects: 10,
        http: crate::probe::http::HttpSettings {
            body_cap: 512 * 1024,
            read_cap: 16 * 1024 * 1024,
            timeout,
        },
        refuse_reserved: !allow_private,
        source,
    }
}
