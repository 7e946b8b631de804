//! One measurement of one URL: DNS, then for each resolved address (capped per family) a TCP
//! connect, a TLS handshake for https, and, on the first endpoint that is ready, the HTTP GET over
//! that same connection. Redirects are followed hop by hop, each a full DNS -> TCP -> TLS -> HTTP
//! chain. Every step is bounded by the step timeout and the target's overall deadline.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::join_all;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use url::Url;

use super::counting::Counted;
use super::dns::{self, DnsSettings, Lookup, Resolved};
use super::http::{self as httpprobe, HttpSettings};
use super::tcp;
use super::tls::{self, TlsContext};
use crate::budget::DnsBudget;
use crate::failure::{quote, Failure};
use crate::observation::{Clock, HttpTransaction, Observations, TcpConnect, TlsHandshake};
use crate::rate::RateLimiter;

/// Status codes that are followed as redirects.
pub const REDIRECTS: [u16; 5] = [301, 302, 303, 307, 308];

/// How one measurement runs.
#[derive(Clone, Debug)]
pub struct ProbeSettings {
    pub dns: DnsSettings,
    /// Timeout of each TCP connect and TLS handshake.
    pub step_timeout: Duration,
    /// Overall time for one target, all hops included.
    pub deadline: Duration,
    /// Addresses tried per family (IPv4, IPv6) per hop.
    pub max_addrs_per_family: usize,
    pub max_redirects: usize,
    pub http: HttpSettings,
    /// Never connect to reserved addresses nor the host's own (a helper must not reach into its
    /// own network).
    pub refuse_reserved: bool,
    /// Local address to send from (multi-homed hosts); the system's choice when `None`.
    pub source: Option<IpAddr>,
}

/// Shared by every measurement of a run.
pub struct Prober {
    settings: Arc<ProbeSettings>,
    tls: TlsContext,
    rate: Arc<RateLimiter>,
}

/// A measurement whose network work is done; DNS listeners may still be waiting for late answers.
pub struct Measured {
    pub observations: Observations,
    pub clock: Clock,
    tails: Vec<JoinHandle<Lookup>>,
}

impl Measured {
    /// Waits for the DNS listening windows to close and adds every response they recorded (and
    /// the summary of what each left out, over its budgets), each lookup as getaddrinfo would
    /// have written it, and the late and duplicate answers in OONI's list of them.
    pub async fn finish(mut self) -> Observations {
        let mut queries = Vec::new();
        for tail in self.tails.drain(..) {
            match tail.await {
                Ok(lookup) => {
                    queries.extend(lookup.queries);
                    self.observations.classic_lookups.extend(lookup.classic);
                    self.observations.x_dns_truncated.extend(lookup.truncated);
                }
                Err(e) => tracing::error!("DNS listener task failed: {e}"),
            }
        }
        queries.append(&mut self.observations.queries);
        self.observations.x_dns_duplicate_responses = super::getaddrinfo::duplicates(&queries);
        self.observations.queries = queries;
        self.observations
    }
}

struct Endpoint {
    tcp: TcpConnect,
    tls: Option<TlsHandshake>,
    http: Option<HttpTransaction>,
}

impl Prober {
    pub fn new(settings: ProbeSettings, tls: TlsContext, rate: Arc<RateLimiter>) -> Prober {
        Prober {
            settings: Arc::new(settings),
            tls,
            rate,
        }
    }

    pub fn settings(&self) -> &ProbeSettings {
        &self.settings
    }

    /// Measures `url`. Never fails: what went wrong is in the observations.
    pub async fn measure(&self, url: &Url) -> Measured {
        self.measure_with(url, None).await
    }

    /// Measures `url`, handing the first hop's endpoints to `endpoints` as soon as DNS has
    /// answered (the control is asked about them while the probe connects).
    pub async fn measure_with(
        &self,
        url: &Url,
        mut announce: Option<oneshot::Sender<Vec<SocketAddr>>>,
    ) -> Measured {
        let clock = Clock::start();
        let deadline = crate::limits::after(Instant::now(), self.settings.deadline);
        let mut obs = Observations::default();
        let mut tails = Vec::new();
        // One DNS evidence budget for every lookup of the measurement (each hop's fresh name).
        let dns_budget = DnsBudget::per_measurement();
        let mut resolved: HashMap<String, Resolved> = HashMap::new();
        let mut next_tx = 1u64;
        let mut current = url.clone();

        for depth in 0..=self.settings.max_redirects {
            if Instant::now() >= deadline {
                obs.x_deadline_exceeded = true;
                break;
            }
            let tags = vec![format!("depth={depth}")];
            let endpoint_tags = endpoint_tags(depth);
            let host = current.host_str().unwrap_or_default().to_string();
            let Some(port) = current.port_or_known_default() else {
                break;
            };
            let answer = match resolved.get(&host) {
                Some(r) => r.clone(),
                None => {
                    let r = self
                        .resolve(
                            &current,
                            &host,
                            clock,
                            &tags,
                            next_tx,
                            &dns_budget,
                            &mut tails,
                        )
                        .await;
                    if let Some(ip) = literal_ip(&current) {
                        let lookup =
                            super::getaddrinfo::literal(ip, clock.now(), &tags[0], next_tx);
                        obs.classic_lookups.push(lookup);
                    }
                    next_tx += 1;
                    resolved.insert(host.clone(), r.clone());
                    r
                }
            };
            let addrs = cap_per_family(&answer.addrs, self.settings.max_addrs_per_family);
            if let Some(tx) = announce.take() {
                let _ = tx.send(addrs.iter().map(|ip| SocketAddr::new(*ip, port)).collect());
            }
            if addrs.is_empty() {
                break;
            }
            let token = AtomicBool::new(false);
            let attempts = addrs.iter().enumerate().map(|(i, ip)| {
                self.endpoint(
                    SocketAddr::new(*ip, port),
                    &current,
                    &host,
                    clock,
                    &endpoint_tags,
                    next_tx + i as u64,
                    deadline,
                    &token,
                )
            });
            let results = join_all(attempts).await;
            next_tx += addrs.len() as u64;
            let mut fetched = None;
            for e in results {
                obs.tcp_connect.push(e.tcp);
                obs.tls_handshakes.extend(e.tls);
                if e.http.is_some() {
                    fetched = e.http;
                }
            }
            let Some(tx) = fetched else { break };
            let location = redirect_target(&tx);
            obs.requests.insert(0, tx);
            match location {
                None => break,
                Some(Ok(next)) => {
                    if depth == self.settings.max_redirects {
                        obs.x_redirect_limit_reached = true;
                    }
                    current = next;
                }
                Some(Err(reason)) => {
                    obs.requests[0].failure = Some(Failure::Unknown(reason));
                    break;
                }
            }
        }
        if Instant::now() >= deadline {
            obs.x_deadline_exceeded = true;
        }
        if let Some(tx) = announce.take() {
            let _ = tx.send(Vec::new());
        }
        Measured {
            observations: obs,
            clock,
            tails,
        }
    }

    /// Starts the DNS lookup in its own task and waits for the first usable answer only.
    #[allow(clippy::too_many_arguments)]
    async fn resolve(
        &self,
        url: &Url,
        host: &str,
        clock: Clock,
        tags: &[String],
        tx: u64,
        budget: &DnsBudget,
        tails: &mut Vec<JoinHandle<Lookup>>,
    ) -> Resolved {
        match url.host() {
            Some(url::Host::Ipv4(ip)) => return literal(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => return literal(IpAddr::V6(ip)),
            _ => {}
        }
        let (early_tx, early_rx) = oneshot::channel();
        let settings = self.settings.clone();
        let rate = self.rate.clone();
        let host_owned = host.to_string();
        let tags = tags.to_vec();
        let budget = budget.clone();
        tails.push(tokio::spawn(async move {
            dns::lookup(
                &settings.dns,
                &host_owned,
                clock,
                &tags,
                tx,
                &rate,
                &budget,
                early_tx,
            )
            .await
        }));
        early_rx.await.unwrap_or(Resolved {
            addrs: vec![],
            failure: Some(Failure::Unknown("DNS task ended without an answer".into())),
        })
    }

    /// TCP, then TLS with SNI = the URL's host when `tls` (whatever the URL's scheme), and no
    /// fetch: for endpoints someone else resolved, and for OONI's E001 check of whether an
    /// address serves a certificate valid for the name.
    pub async fn check_endpoint(
        &self,
        addr: SocketAddr,
        url: &Url,
        tls: bool,
        clock: Clock,
        tx: u64,
    ) -> (TcpConnect, Option<TlsHandshake>) {
        let host = url.host_str().unwrap_or_default();
        let taken = AtomicBool::new(true);
        let mut url = url.clone();
        let _ = url.set_scheme(if tls { "https" } else { "http" });
        let deadline = crate::limits::after(Instant::now(), self.settings.deadline);
        let e = self
            .endpoint(
                addr,
                &url,
                host,
                clock,
                &["depth=0".to_string()],
                tx,
                deadline,
                &taken,
            )
            .await;
        (e.tcp, e.tls)
    }

    /// TCP, then TLS for https, then the GET if this endpoint is the first one ready.
    #[allow(clippy::too_many_arguments)]
    async fn endpoint(
        &self,
        addr: SocketAddr,
        url: &Url,
        host: &str,
        clock: Clock,
        tags: &[String],
        tx: u64,
        deadline: Instant,
        token: &AtomicBool,
    ) -> Endpoint {
        let budget = |step: Duration| step.min(deadline.saturating_duration_since(Instant::now()));
        let step = self.settings.step_timeout;
        let refusal = match self.settings.refuse_reserved {
            true => crate::bogon::helper_refusal(addr.ip()),
            false => None,
        };
        if let Some(why) = refusal {
            let t = clock.now();
            return Endpoint {
                tcp: TcpConnect {
                    ip: addr.ip().to_string(),
                    port: addr.port(),
                    status: crate::observation::TcpStatus {
                        success: false,
                        failure: Some(Failure::Unknown(format!("refused: {why}"))),
                    },
                    t0: t,
                    t,
                    tags: tags.to_vec(),
                    transaction_id: tx,
                },
                tls: None,
                http: None,
            };
        }
        let (tcp, stream) = tcp::connect(
            addr,
            self.settings.source,
            budget(step),
            clock,
            tags,
            tx,
            &self.rate,
        )
        .await;
        let mut out = Endpoint {
            tcp,
            tls: None,
            http: None,
        };
        let Some(stream) = stream else { return out };
        let (stream, counters) = Counted::new(stream);
        let mut http_settings = self.settings.http.clone();
        if url.scheme() == "https" {
            let hs = tls::handshake(
                &self.tls,
                stream,
                &counters,
                host,
                addr,
                budget(step),
                clock,
                tags,
                tx,
            )
            .await;
            out.tls = Some(hs.observation);
            let Some(stream) = hs.stream else { return out };
            if token.swap(true, Ordering::SeqCst) {
                return out;
            }
            let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
            http_settings.timeout = budget(http_settings.timeout);
            out.http =
                Some(httpprobe::get(stream, h2, url, addr, &http_settings, clock, tags, tx).await);
        } else {
            if token.swap(true, Ordering::SeqCst) {
                return out;
            }
            http_settings.timeout = budget(http_settings.timeout);
            out.http = Some(
                httpprobe::get(stream, false, url, addr, &http_settings, clock, tags, tx).await,
            );
        }
        out
    }
}

/// LTE's tags for the endpoints of the web flow (`generateTagsForEndpoints`): `classic` (the
/// addresses are the lookup's that OONI's classic view reads, or the URL's own), the
/// `tcptls_experiment` of web_connectivity 0.4 at depth 0, the depth, and `fetch_body=true`
/// (each of them fetches the page if it is the first ready: not a check-only connect).
fn endpoint_tags(depth: usize) -> Vec<String> {
    let mut tags = vec![super::getaddrinfo::CLASSIC_TAG.to_string()];
    if depth == 0 {
        tags.push("tcptls_experiment".into());
    }
    tags.push(format!("depth={depth}"));
    tags.push("fetch_body=true".into());
    tags
}

/// The URL's host when it is an address.
fn literal_ip(url: &Url) -> Option<IpAddr> {
    match url.host()? {
        url::Host::Ipv4(ip) => Some(IpAddr::V4(ip)),
        url::Host::Ipv6(ip) => Some(IpAddr::V6(ip)),
        url::Host::Domain(_) => None,
    }
}

fn literal(ip: IpAddr) -> Resolved {
    Resolved {
        addrs: vec![ip],
        failure: None,
    }
}

/// Keeps the first `max` addresses of each family, in answer order.
pub fn cap_per_family(addrs: &[IpAddr], max: usize) -> Vec<IpAddr> {
    let v4 = addrs.iter().filter(|a| a.is_ipv4()).take(max);
    let v6 = addrs.iter().filter(|a| a.is_ipv6()).take(max);
    v4.chain(v6).copied().collect()
}

/// Where a redirect response points, resolved against the request URL. The failure texts
/// quote the network's Location only through `quote`: it may be megabytes long.
fn redirect_target(tx: &HttpTransaction) -> Option<Result<Url, String>> {
    let response = tx.response.as_ref()?;
    if tx.failure.is_some() || !REDIRECTS.contains(&response.code) {
        return None;
    }
    let location = response
        .headers
        .headers_list
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("location"))
        .map(|(_, v)| v.as_str());
    let Some(location) = location else {
        return Some(Err(format!("redirect {} without Location", response.code)));
    };
    let base = Url::parse(&tx.request.url).ok()?;
    match base.join(location) {
        Ok(u) if u.as_str().len() > crate::limits::MAX_URL_LEN => Some(Err(format!(
            "redirect to a URL longer than {} bytes ({} bytes): not followed",
            crate::limits::MAX_URL_LEN,
            u.as_str().len()
        ))),
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Some(Ok(u)),
        Ok(u) => Some(Err(format!(
            "redirect to unsupported URL {}",
            quote(u.as_str())
        ))),
        Err(e) => Some(Err(format!(
            "invalid redirect Location {:?}: {e}",
            quote(location)
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_cap_keeps_order_within_each_family() {
        let addrs: Vec<IpAddr> = ["1.1.1.1", "::1", "2.2.2.2", "3.3.3.3", "::2", "::3"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        let got: Vec<String> = cap_per_family(&addrs, 2)
            .iter()
            .map(|a| a.to_string())
            .collect();
        assert_eq!(got, ["1.1.1.1", "2.2.2.2", "::1", "::2"]);
    }
}
