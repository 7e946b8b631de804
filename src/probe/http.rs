//! The HTTP probe: one GET over a connection the probe already opened (and, for https, whose
//! certificate validated), with hyper's connection-level client (HTTP/1.1, or HTTP/2 when ALPN
//! chose it). OONI's browser-like headers; the body is kept up to a cap while its true length,
//! SHA-256 and transfer timeline are recorded; reading stops at a hard read cap so an endless
//! body ends the step instead of the run.

use std::net::SocketAddr;
use std::time::Duration;

use http::{HeaderValue, Method, Request};
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::rt::{TokioExecutor, TokioIo};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::Instant;
use url::Url;

use crate::failure::Failure;
use crate::limits::MAX_URL_LEN;
use crate::observation::{
    Clock, HttpHeaders, HttpRequest, HttpResponse, HttpTransaction, MaybeBinary, TransferSample,
};

/// OONI's browser-like request headers (`internal/model/http.go`).
pub const USER_AGENT: &str =
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15";
pub const ACCEPT: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
pub const ACCEPT_LANGUAGE: &str = "en-US,en;q=0.9";

/// How much to keep and read.
#[derive(Clone, Debug)]
pub struct HttpSettings {
    /// Body bytes kept in the record (OONI: 512 KiB); a redirect keeps at most
    /// [`crate::budget::REDIRECT_BODY_BYTES`].
    pub body_cap: usize,
    /// Body bytes read at most; beyond, the transfer is cut and marked incomplete.
    pub read_cap: u64,
    /// Time for the whole round trip, headers and body.
    pub timeout: Duration,
    /// Headers sent instead of the browser-like defaults (none: the defaults).
    pub headers: RequestHeaders,
}

/// Request headers that replace the defaults of their names (a helper sends its probe's
/// User-Agent, Accept and Accept-Language; `helper::headers` chooses them).
#[derive(Clone, Debug, Default)]
pub struct RequestHeaders(pub Vec<(http::HeaderName, HeaderValue)>);

impl RequestHeaders {
    fn apply(&self, h: &mut http::HeaderMap) {
        for (name, _) in &self.0 {
            h.remove(name);
        }
        for (name, value) in &self.0 {
            h.append(name.clone(), value.clone());
        }
    }
}

/// Minimum spacing of transfer samples.
const SAMPLE_EVERY: Duration = Duration::from_millis(100);

/// Sends one GET for `url` over `io`. `h2` selects HTTP/2 (when ALPN negotiated it).
#[allow(clippy::too_many_arguments)]
pub async fn get<S>(
    io: S,
    h2: bool,
    url: &Url,
    addr: SocketAddr,
    settings: &HttpSettings,
    clock: Clock,
    tags: &[String],
    transaction_id: u64,
) -> HttpTransaction
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let t0 = clock.now();
    let started = Instant::now();
    let (mut request, refused) = match build_request(url, h2) {
        Ok(r) => (r, None),
        // The URL cannot be sent (a request target over 64 KiB): a failure of this hop,
        // recorded with the request that could not be made.
        Err(e) => (bare_request(url, h2), Some(e)),
    };
    settings.headers.apply(request.headers_mut());
    let mut tx = HttpTransaction {
        network: "tcp".into(),
        address: addr.to_string(),
        alpn: Some(if h2 { "h2" } else { "http/1.1" }.into()),
        failure: None,
        request: HttpRequest {
            url: url.to_string(),
            method: "GET".into(),
            headers: HttpHeaders::from_map(request.headers()),
            body: String::new(),
            body_is_truncated: false,
            x_transport: "tcp".into(),
        },
        response: None,
        t0,
        t: t0,
        tags: tags.to_vec(),
        transaction_id,
        x_t_response_headers: None,
        x_transfer: vec![],
    };
    if h2 {
        // HTTP/2 carries the authority in the URI, not a Host header.
        tx.request.headers.headers.remove("Host");
        tx.request.headers.headers_list.retain(|(k, _)| k != "Host");
    }
    if let Some(failure) = refused {
        tx.failure = Some(failure);
        return tx;
    }
    let deadline = crate::limits::after(started, settings.timeout);
    let outcome = tokio::time::timeout_at(
        deadline,
        round_trip(io, h2, request, &mut tx, settings, clock, started),
    )
    .await;
    if outcome.is_err() {
        tx.failure = Some(Failure::Timeout);
    }
    tx.t = clock.now();
    tx
}

/// The request for `url`, or the failure of a URL no request can carry.
fn build_request(url: &Url, h2: bool) -> Result<Request<Empty<Bytes>>, Failure> {
    let mut path = url.path().to_string();
    if let Some(q) = url.query() {
        path.push('?');
        path.push_str(q);
    }
    let uri = if h2 {
        let mut u = url.clone();
        u.set_fragment(None);
        u.to_string()
    } else {
        path
    };
    let len = uri.len();
    let mut req = Request::builder()
        .method(Method::GET)
        .uri(uri)
        .body(Empty::<Bytes>::new())
        .map_err(|e| {
            Failure::Unknown(if len > MAX_URL_LEN {
                format!("request URL longer than {MAX_URL_LEN} bytes ({len} bytes): not sent")
            } else {
                format!(
                    "cannot build the request: {}",
                    crate::failure::quote(&e.to_string())
                )
            })
        })?;
    add_headers(&mut req, url, h2);
    Ok(req)
}

/// A request with the probe's headers and no target, standing for one that could not be built.
fn bare_request(url: &Url, h2: bool) -> Request<Empty<Bytes>> {
    let mut req = Request::new(Empty::<Bytes>::new());
    add_headers(&mut req, url, h2);
    req
}

fn add_headers(req: &mut Request<Empty<Bytes>>, url: &Url, h2: bool) {
    let host = match url.port() {
        Some(p) => format!("{}:{p}", url.host_str().unwrap_or_default()),
        None => url.host_str().unwrap_or_default().to_string(),
    };
    let h = req.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&host) {
        h.insert(http::header::HOST, v);
    }
    h.insert(
        http::header::USER_AGENT,
        HeaderValue::from_static(USER_AGENT),
    );
    h.insert(http::header::ACCEPT, HeaderValue::from_static(ACCEPT));
    h.insert(
        http::header::ACCEPT_LANGUAGE,
        HeaderValue::from_static(ACCEPT_LANGUAGE),
    );
    if h2 {
        h.remove(http::header::HOST);
    }
}

/// Aborts the connection task when the round trip ends, however it ends.
struct AbortOnDrop(tokio::task::JoinHandle<()>);
impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn round_trip<S>(
    io: S,
    h2: bool,
    request: Request<Empty<Bytes>>,
    tx: &mut HttpTransaction,
    settings: &HttpSettings,
    clock: Clock,
    started: Instant,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let io = TokioIo::new(io);
    let spawn_conn = |conn: std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>| {
        AbortOnDrop(tokio::spawn(conn))
    };
    let response = if h2 {
        match hyper::client::conn::http2::handshake(TokioExecutor::new(), io).await {
            Err(e) => Err(e),
            Ok((mut sender, conn)) => {
                let _guard = spawn_conn(Box::pin(async move {
                    let _ = conn.await;
                }));
                sender.send_request(request).await.map(|r| (r, _guard))
            }
        }
    } else {
        match hyper::client::conn::http1::handshake(io).await {
            Err(e) => Err(e),
            Ok((mut sender, conn)) => {
                let _guard = spawn_conn(Box::pin(async move {
                    let _ = conn.await;
                }));
                sender.send_request(request).await.map(|r| (r, _guard))
            }
        }
    };
    match response {
        Err(e) => tx.failure = Some(Failure::classify(&e)),
        // The guard lives until the body is read: the connection task drives the body.
        Ok((r, _guard)) => read_response(r, tx, settings, clock, started).await,
    }
}

async fn read_response(
    response: http::Response<hyper::body::Incoming>,
    tx: &mut HttpTransaction,
    settings: &HttpSettings,
    clock: Clock,
    started: Instant,
) {
    tx.x_t_response_headers = Some((started.elapsed().as_secs_f64() * 1e6).round() / 1e6);
    let (parts, mut body) = response.into_parts();
    // A redirect's body is kept only up to a small cap (length and hash still measured): the
    // final page alone may take the full body budget.
    let body_cap = if parts.status.is_redirection() {
        settings.body_cap.min(crate::budget::REDIRECT_BODY_BYTES)
    } else {
        settings.body_cap
    };
    let mut kept: Vec<u8> = Vec::new();
    let mut total: u64 = 0;
    let mut hasher = Sha256::new();
    let mut complete = false;
    let mut last_sample = Instant::now();
    tx.x_transfer.push(TransferSample {
        t: clock.now(),
        bytes: 0,
    });
    // Fill the response in as we go, so a timeout (which drops this future) keeps what arrived.
    let headers = HttpHeaders::from_map(&parts.headers);
    let finish =
        |tx: &mut HttpTransaction, kept: &[u8], total: u64, hash: String, complete: bool| {
            let text = String::from_utf8_lossy(kept);
            tx.response = Some(HttpResponse {
                code: parts.status.as_u16(),
                headers: headers.clone(),
                body: Some(MaybeBinary::from_bytes(kept)),
                body_is_truncated: (kept.len() as u64) < total || !complete,
                x_body_length: total,
                x_body_complete: complete,
                x_body_sha256: hash,
                x_title: title(&text),
            });
        };
    finish(tx, &kept, 0, String::new(), false);
    loop {
        match body.frame().await {
            None => {
                complete = true;
                break;
            }
            Some(Err(e)) => {
                tx.failure = Some(Failure::classify(&e));
                break;
            }
            Some(Ok(frame)) => {
                let Ok(data) = frame.into_data() else {
                    continue;
                };
                total += data.len() as u64;
                hasher.update(&data);
                let room = body_cap.saturating_sub(kept.len());
                kept.extend_from_slice(&data[..room.min(data.len())]);
                if last_sample.elapsed() >= SAMPLE_EVERY {
                    last_sample = Instant::now();
                    tx.x_transfer.push(TransferSample {
                        t: clock.now(),
                        bytes: total,
                    });
                    // Keep the response current in case the step's deadline cuts us off.
                    finish(tx, &kept, total, String::new(), false);
                }
                if total >= settings.read_cap {
                    break;
                }
            }
        }
    }
    tx.x_transfer.push(TransferSample {
        t: clock.now(),
        bytes: total,
    });
    finish(tx, &kept, total, hex::encode(hasher.finalize()), complete);
}

/// The page title as OONI extracts it: `(?i)<title>([^<]{1,512})</title>`.
pub fn title(body: &str) -> Option<String> {
    let lower = body.to_ascii_lowercase();
    let mut from = 0;
    while let Some(pos) = lower[from..].find("<title>") {
        let start = from + pos + "<title>".len();
        let rest = &body[start..];
        let end = rest.find('<').unwrap_or(rest.len());
        let text = &rest[..end];
        if !text.is_empty()
            && text.chars().count() <= 512
            && lower[start + end..].starts_with("</title>")
        {
            return Some(text.to_string());
        }
        from = start;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_follow_oonis_rule() {
        let cases = [
            ("<html><TITLE>Hello World</TITLE>", Some("Hello World")),
            ("<title></title><title>Second</title>", Some("Second")),
            ("<title>no end", None),
            ("<title>a <b>bold</b></title>", None),
            ("nothing here", None),
            ("<title>中文标题</title>", Some("中文标题")),
        ];
        for (body, want) in cases {
            assert_eq!(title(body).as_deref(), want, "{body}");
        }
    }

    #[test]
    fn requests_carry_browser_headers_and_host() {
        let url = Url::parse("http://example.org:8080/a?b=1#frag").unwrap();
        let r = build_request(&url, false).unwrap();
        assert_eq!(r.uri(), "/a?b=1");
        assert_eq!(r.headers()["host"], "example.org:8080");
        assert_eq!(r.headers()["user-agent"], USER_AGENT);
        let r2 = build_request(&url, true).unwrap();
        assert_eq!(r2.uri(), "http://example.org:8080/a?b=1");
        assert!(r2.headers().get("host").is_none());
    }

    #[test]
    fn a_url_no_request_can_carry_is_a_failure() {
        let fits = format!("http://a.example/{}", "x".repeat(MAX_URL_LEN - 1));
        let fits = Url::parse(&fits).unwrap();
        assert!(build_request(&fits, false).is_ok(), "the path alone fits");
        let err = build_request(&fits, true).unwrap_err().to_string();
        assert!(
            err.starts_with("unknown_failure: request URL longer than"),
            "{err}"
        );
        let long = Url::parse(&format!("http://a.example/{}", "é".repeat(20_000))).unwrap();
        assert!(build_request(&long, false).is_err());
    }
}

#[cfg(test)]
mod fuzz {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]
        #[test]
        fn any_body_yields_a_bounded_title_or_none(body in "(?s).{0,600}", pre in "(?i)<title>|</title>|<|>|x") {
            let text = format!("{pre}{body}");
            if let Some(t) = title(&text) {
                prop_assert!(!t.is_empty() && t.chars().count() <= 512 && !t.contains('<'));
            }
        }
    }
}
