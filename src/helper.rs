//! `vantage helper`: the control server, run on an uncensored host. It measures what a probe
//! asks about with the same probe code the probe uses (so differences come from the network,
//! not the code), and answers in OONI's test-helper shape plus vantage's `x_` evidence. It
//! reads an OONI probe's request as OONI's helper does (absent or `null` keys are empty) and
//! sends the site the probe's User-Agent, Accept and Accept-Language (`headers`).
//!
//! Hardening: reserved destinations (NAT64, 6to4 and Teredo forms included) and the helper's
//! own interface addresses are refused unless
//! `--allow-private` (a helper must not be a proxy into its own network), an optional bearer
//! token compared in constant time, a cap on requests in flight (503 beyond), a body size cap
//! and read timeout, per-step timeouts, a server that bounds connections and their idle time
//! (`server`), a measurement spoiled by the helper's own lack of descriptors or memory answered
//! 503 (`resources`), a request log without the token, and no panic on any input.

mod headers;
mod resources;
pub mod server;

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tokio::sync::Semaphore;
use url::Url;

use crate::bogon::{helper_refusal, is_bogon};
use crate::control::{
    ControlAnswer, ControlDns, ControlHttp, ControlIpInfo, ControlRequest, ControlTcp, ControlTls,
    HelperInfo, IP_FLAG_BOGON, IP_FLAG_HELPER, IP_FLAG_PROBE, IP_FLAG_VALID_FOR_DOMAIN,
};
use crate::failure::Failure;
use crate::observation::Observations;
use crate::probe::{ProbeSettings, Prober};

pub use headers::{MAX_FORWARDED_VALUES, MAX_FORWARDED_VALUE_BYTES};
pub use server::{serve, ServeLimits};

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
    /// The probe code's settings; each request gets its own `Prober` sending its probe's
    /// headers (`headers`).
    settings: ProbeSettings,
    tls: crate::probe::tls::TlsContext,
    rate: Arc<crate::rate::RateLimiter>,
    /// SHA-256 of the token: compared in constant time, digests of equal length, so neither
    /// the token's bytes nor its length leak through timing.
    token: Option<[u8; 32]>,
    allow_private: bool,
    max_inflight: usize,
    inflight: Semaphore,
}

/// The helper's HTTP routes. Serve them with `serve` (which gives handlers the peer address).
pub fn router(config: HelperConfig, tls: crate::probe::tls::TlsContext) -> Router {
    let max_inflight = config.max_inflight.max(1);
    let shared = Arc::new(Shared {
        settings: config.probe,
        tls,
        rate: Arc::new(crate::rate::RateLimiter::new(0)),
        token: config.token.as_deref().map(digest),
        allow_private: config.allow_private,
        max_inflight,
        inflight: Semaphore::new(max_inflight),
    });
    Router::new()
        .route("/", post(measure))
        .route(
            "/",
            get(|| async { "vantage helper: POST a web_connectivity control request here\n" }),
        )
        .route("/info", get(info))
        .with_state(shared)
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Why a request gets no measurement.
struct Refusal(StatusCode, String);

impl Refusal {
    fn new(code: StatusCode, message: impl Into<String>) -> Refusal {
        Refusal(code, message.into())
    }
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": self.1 });
        (self.0, Json(body)).into_response()
    }
}

fn authorize(shared: &Shared, headers: &HeaderMap) -> Result<(), Refusal> {
    let Some(token) = &shared.token else {
        return Ok(());
    };
    let given = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match given {
        Some(g) if bool::from(digest(g).ct_eq(token)) => Ok(()),
        _ => Err(Refusal::new(
            StatusCode::UNAUTHORIZED,
            "missing or wrong bearer token",
        )),
    }
}

/// `GET /info`: who this helper is and the address the probe's request came from (the TCP
/// peer; no X-Forwarded-For: behind a reverse proxy it would be the proxy's).
async fn info(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    if let Err(refusal) = authorize(&shared, &headers) {
        tracing::info!(status = refusal.0.as_u16(), outcome = ?refusal.1, "info request");
        return refusal.into_response();
    }
    tracing::info!(status = 200, "info request");
    Json(HelperInfo {
        software: Some("vantage".into()),
        version: Some(env!("CARGO_PKG_VERSION").into()),
        protocol: Some(crate::control::PROTOCOL),
        client_address: Some(peer.ip().to_canonical()),
        max_inflight: Some(shared.max_inflight),
    })
    .into_response()
}

/// `POST /`: one control measurement, logged (target host, outcome, duration; never the
/// token, never the probe's address).
async fn measure(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Body) -> Response {
    let started = Instant::now();
    let mut host = String::new();
    let answer = answer(&shared, &headers, body, &mut host).await;
    let ms = started.elapsed().as_millis() as u64;
    match answer {
        Ok(answer) => {
            let http = &answer.http_request;
            let site = match &http.failure {
                Some(f) => f.clone(),
                None => format!("status {}", http.status_code),
            };
            tracing::info!(host = %host, status = 200, outcome = ?format!("measured: {site}"), ms, "control request");
            Json(answer).into_response()
        }
        Err(refusal) => {
            tracing::info!(host = %host, status = refusal.0.as_u16(), outcome = ?refusal.1, ms, "control request");
            refusal.into_response()
        }
    }
}

async fn answer(
    shared: &Shared,
    headers: &HeaderMap,
    body: Body,
    host: &mut String,
) -> Result<ControlAnswer, Refusal> {
    authorize(shared, headers)?;
    let body = read_body(body).await?;
    let bad = |message: String| Refusal(StatusCode::BAD_REQUEST, message);
    let request: ControlRequest =
        serde_json::from_slice(&body).map_err(|e| bad(format!("malformed request: {e}")))?;
    let url = match Url::parse(&request.http_request) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => u,
        Ok(u) => return Err(bad(format!("not an http(s) URL: {u}"))),
        Err(e) => return Err(bad(format!("invalid http_request URL: {e}"))),
    };
    *host = url.host_str().unwrap_or_default().to_string();
    let literal = match url.host() {
        Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
        _ => None,
    };
    if let Some(ip) = literal {
        if let Some(why) = helper_refusal(ip).filter(|_| !shared.allow_private) {
            return Err(Refusal::new(
                StatusCode::FORBIDDEN,
                format!("refused: {ip} is {why}{ALLOW_PRIVATE_NOTE}"),
            ));
        }
    }
    let mut endpoints = Vec::new();
    for e in request.tcp_connect.iter().take(MAX_PROBE_ENDPOINTS) {
        match e.parse::<SocketAddr>() {
            Ok(a) => endpoints.push(a),
            Err(_) => return Err(bad(format!("invalid tcp_connect endpoint {e:?}"))),
        }
    }
    let Ok(_permit) = shared.inflight.try_acquire() else {
        return Err(Refusal::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "too many requests in flight",
        ));
    };
    let mut settings = shared.settings.clone();
    settings.http.headers = headers::forwarded(&request.http_request_headers);
    let prober = Prober::new(settings, shared.tls.clone(), shared.rate.clone());
    control_measurement(shared, &prober, &url, &endpoints)
        .await
        .map_err(|f| {
            Refusal::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("helper out of resources, nothing measured ({f})"),
            )
        })
}

/// The request body. `serve` has already received it whole (at most `MAX_BODY` bytes, within
/// the header timeout) before the request counts as busy; this only takes it out of axum.
async fn read_body(body: Body) -> Result<Bytes, Refusal> {
    axum::body::to_bytes(body, MAX_BODY).await.map_err(|e| {
        Refusal::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request body unreadable or over {MAX_BODY} bytes: {e}"),
        )
    })
}

/// Measures `url` from here, checks the probe's endpoints too, and summarizes.
async fn control_measurement(
    shared: &Shared,
    prober: &Prober,
    url: &Url,
    probe_endpoints: &[SocketAddr],
) -> Result<ControlAnswer, Failure> {
    let measured = prober.measure(url).await;
    let clock = measured.clock;
    let obs = measured.finish().await;
    if let Some(f) = resources::local_failure(&obs, &[]) {
        return Err(f.clone());
    }
    let mut answer = summarize(url, &obs);
    if answer.http_request.failure.is_some() {
        answer.x_refused = refusal(&obs);
    }

    // The probe's endpoints this measurement did not already try, and OONI's E001 check: a TLS
    // handshake with SNI on :443 at every address, whatever the URL's scheme, so that an
    // address that differs from ours (a CDN, GeoDNS) can be vindicated by its certificate.
    let https = url.scheme() == "https";
    let url_port = url.port_or_known_default().unwrap_or(0);
    let allowed = |ip: IpAddr| shared.allow_private || helper_refusal(ip).is_none();
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
    let results = futures_util::future::join_all(
        checks
            .iter()
            .enumerate()
            .map(|(i, (ep, tls))| prober.check_endpoint(*ep, url, *tls, clock, 1000 + i as u64)),
    )
    .await;
    if let Some(f) = resources::local_failure(&obs, &results) {
        return Err(f.clone());
    }
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
    // A site's long header or URL would make the probe refuse the whole answer otherwise.
    crate::control::cut_texts(&mut answer);
    Ok(answer)
}

/// Why the fetch went nowhere when this helper's own policy stopped it: every connect of the
/// last hop reached was refused as a reserved or own address (`refuse_reserved`), e.g.
/// `127.0.0.1 is a private or reserved address`.
fn refusal(obs: &Observations) -> Option<String> {
    let depth = |t: &crate::observation::TcpConnect| crate::observation::depth_of(&t.tags);
    let last = obs.tcp_connect.iter().map(depth).max()?;
    let mut why: Vec<String> = Vec::new();
    for t in obs.tcp_connect.iter().filter(|t| depth(t) == last) {
        match &t.status.failure {
            Some(Failure::Unknown(d)) if !t.status.success && d.starts_with("refused: ") => {
                let said = format!("{} is {}", t.ip, &d["refused: ".len()..]);
                if !why.contains(&said) {
                    why.push(said);
                }
            }
            _ => return None,
        }
    }
    (!why.is_empty()).then(|| format!("{}{ALLOW_PRIVATE_NOTE}", why.join("; ")))
}

/// What every refusal of a destination by this helper's policy ends with.
const ALLOW_PRIVATE_NOTE: &str =
    " (this helper measures such destinations only with --allow-private)";

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
            headers: Default::default(),
        },
        refuse_reserved: !allow_private,
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observation::{TcpConnect, TcpStatus};

    fn connect(ip: &str, depth: usize, failure: Option<Failure>) -> TcpConnect {
        TcpConnect {
            ip: ip.into(),
            port: 80,
            status: TcpStatus {
                success: failure.is_none(),
                failure,
            },
            t0: 0.0,
            t: 0.0,
            tags: vec![format!("depth={depth}")],
            transaction_id: 1,
        }
    }

    #[test]
    fn only_a_chain_stopped_by_the_helpers_policy_is_a_refusal() {
        let refused = || {
            Some(Failure::Unknown(
                "refused: a private or reserved address".into(),
            ))
        };
        let own = || {
            Some(Failure::Unknown(
                "refused: one of the helper's own addresses".into(),
            ))
        };
        let net = || Some(Failure::ConnectionRefused);
        let note = " (this helper measures such destinations only with --allow-private)";
        let cases: [(Vec<TcpConnect>, Option<String>); 6] = [
            (vec![], None),
            (
                vec![connect("127.0.0.1", 0, refused())],
                Some(format!("127.0.0.1 is a private or reserved address{note}")),
            ),
            // Redirected into the helper's own network: the last hop is what stopped.
            (
                vec![
                    connect("1.2.3.4", 0, None),
                    connect("10.0.0.1", 1, refused()),
                ],
                Some(format!("10.0.0.1 is a private or reserved address{note}")),
            ),
            (
                vec![
                    connect("::1", 0, refused()),
                    connect("11.22.33.44", 0, own()),
                ],
                Some(format!(
                    "::1 is a private or reserved address; 11.22.33.44 is one of the helper's \
                     own addresses{note}"
                )),
            ),
            // One address refused by the network: the site's failure, not the policy's.
            (
                vec![
                    connect("127.0.0.1", 0, refused()),
                    connect("1.2.3.4", 0, net()),
                ],
                None,
            ),
            // Refused early, but the chain went on and failed elsewhere.
            (
                vec![
                    connect("127.0.0.1", 0, refused()),
                    connect("1.2.3.4", 1, net()),
                ],
                None,
            ),
        ];
        for (tcp, want) in cases {
            let obs = Observations {
                tcp_connect: tcp,
                ..Observations::default()
            };
            assert_eq!(refusal(&obs), want, "{:?}", obs.tcp_connect);
        }
    }
}
