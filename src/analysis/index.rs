//! The observations arranged for analysis: one `Hop` per redirect depth (its host, connects,
//! handshakes and HTTP round trip), and the control's answer keyed by endpoint.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

use url::Url;

use super::Context;
use crate::control::{ControlAnswer, ControlTcp, ControlTls, IP_FLAG_VALID_FOR_DOMAIN};
use crate::failure::Failure;
pub use crate::observation::depth_of;
use crate::observation::{HttpTransaction, Observations, TcpConnect, TlsHandshake};
use crate::probe::web::REDIRECTS;

/// A URL's host as analysis compares it: lowercase, IPv6 without brackets.
pub fn host_of(url: &Url) -> Option<String> {
    match url.host()? {
        url::Host::Domain(d) => Some(d.trim_end_matches('.').to_ascii_lowercase()),
        url::Host::Ipv4(ip) => Some(ip.to_string()),
        url::Host::Ipv6(ip) => Some(ip.to_string()),
    }
}

/// Whether two host names are the same (case and final dot ignored).
pub fn same_host(a: &str, b: &str) -> bool {
    a.trim_end_matches('.')
        .eq_ignore_ascii_case(b.trim_end_matches('.'))
}

/// Whether two hosts may be one site: the same IP literal, or names whose last two labels
/// agree. A registrable domain (a public suffix and one label more) always has at least two
/// labels, so two names under one registrable domain always pass; no public-suffix list is
/// needed to never call a site's own redirect foreign. The price is the other way round:
/// `a.co.uk` and `b.co.uk`, or two `github.io` sites, count as one site too.
pub fn same_site(a: &str, b: &str) -> bool {
    let norm = |h: &str| h.trim_end_matches('.').to_ascii_lowercase();
    let (a, b) = (norm(a), norm(b));
    if a.parse::<IpAddr>().is_ok() || b.parse::<IpAddr>().is_ok() {
        return a == b;
    }
    let tail = |h: &str| -> Vec<String> {
        let labels: Vec<&str> = h.rsplit('.').take(2).collect();
        labels.into_iter().map(str::to_string).collect()
    };
    a == b || (tail(&a).len() == 2 && tail(&a) == tail(&b))
}

/// One redirect hop: what was done for one URL of the chain.
pub struct Hop<'a> {
    pub depth: usize,
    pub host: String,
    pub tcp: Vec<&'a TcpConnect>,
    pub tls: Vec<&'a TlsHandshake>,
    pub request: Option<&'a HttpTransaction>,
}

impl<'a> Hop<'a> {
    /// The TLS handshake made on the connection to `addr`.
    pub fn tls_for(&self, addr: SocketAddr) -> Option<&'a TlsHandshake> {
        self.tls
            .iter()
            .copied()
            .find(|h| h.address.parse::<SocketAddr>().ok() == Some(addr))
    }
}

/// The endpoint an entry's `ip`/`port` or `address` names.
pub fn tcp_addr(t: &TcpConnect) -> Option<SocketAddr> {
    t.ip.parse::<IpAddr>()
        .ok()
        .map(|ip| SocketAddr::new(ip, t.port))
}

/// Whether a request went over TLS.
pub fn is_https(tx: &HttpTransaction) -> bool {
    tx.request.url.starts_with("https:")
}

/// The host a request was made to.
pub fn request_host(tx: &HttpTransaction) -> Option<String> {
    Url::parse(&tx.request.url).ok().as_ref().and_then(host_of)
}

/// A response the chain followed (or would have followed) as a redirect.
pub fn is_redirect(tx: &HttpTransaction) -> bool {
    tx.response
        .as_ref()
        .is_some_and(|r| REDIRECTS.contains(&r.code))
}

/// A round trip that ended the chain with a page: it arrived whole and is not a redirect.
pub fn is_final(tx: &HttpTransaction) -> bool {
    tx.failure.is_none() && tx.response.is_some() && !is_redirect(tx)
}

/// No route from the probe: its own network (or a filter that names no method).
pub fn unreachable(f: &Failure) -> bool {
    matches!(f, Failure::NetworkUnreachable | Failure::HostUnreachable)
}

/// An IPv6 address the probe's network cannot reach: a v4-only vantage point, not the site.
pub fn ipv6_unreachable(ip: IpAddr, f: &Failure) -> bool {
    ip.is_ipv6() && unreachable(f)
}

/// What the control's own fetch of the URL came to.
#[derive(Clone, Debug, PartialEq)]
pub enum Fetch {
    /// It got a response below 500.
    Ok { code: i64 },
    /// It failed, or the site answered with a server error.
    Failed(String),
}

/// The control's own resolution of the URL's host.
#[derive(Clone, Debug, PartialEq)]
pub enum ControlDns {
    Resolved(Vec<IpAddr>),
    /// It says the name does not exist, or has no address.
    NoSuchName(String),
    /// It could not resolve (server failure and the like): nothing to compare with.
    Failed(String),
}

/// The control's answer, keyed for lookups.
pub struct ControlView<'a> {
    pub answer: &'a ControlAnswer,
    tcp: HashMap<SocketAddr, &'a ControlTcp>,
    tls: HashMap<SocketAddr, &'a ControlTls>,
    pub dns: ControlDns,
    pub fetch: Fetch,
    /// Where the control's fetch ended, when it says (vantage helpers do).
    pub final_url: Option<Url>,
}

/// What a control handshake says about the certificate of its address for its server name.
fn handshake_result(t: &ControlTls) -> Result<(), String> {
    if t.status && t.failure.is_none() && t.x_certificate_valid != Some(false) {
        Ok(())
    } else {
        Err(t
            .failure
            .clone()
            .unwrap_or_else(|| "certificate not valid".into()))
    }
}

impl<'a> ControlView<'a> {
    fn new(answer: &'a ControlAnswer) -> ControlView<'a> {
        let tcp = answer
            .tcp_connect
            .iter()
            .filter_map(|(k, v)| Some((k.parse().ok()?, v)))
            .collect();
        let tls = answer
            .tls_handshake
            .iter()
            .filter_map(|(k, v)| Some((k.parse().ok()?, v)))
            .collect();
        let addrs: Vec<IpAddr> = answer
            .dns
            .addrs
            .iter()
            .filter_map(|a| a.parse().ok())
            .collect();
        let dns = match &answer.dns.failure {
            Some(f) if matches!(Failure::from_ooni(f), Failure::DnsNxdomain) => {
                ControlDns::NoSuchName(f.clone())
            }
            Some(f) => ControlDns::Failed(f.clone()),
            None if addrs.is_empty() => ControlDns::NoSuchName("no address".into()),
            None => ControlDns::Resolved(addrs),
        };
        let h = &answer.http_request;
        let fetch = match &h.failure {
            Some(f) => Fetch::Failed(f.clone()),
            None if h.status_code <= 0 => Fetch::Failed("no response".into()),
            None if h.status_code >= 500 => Fetch::Failed(format!("HTTP {}", h.status_code)),
            None => Fetch::Ok {
                code: h.status_code,
            },
        };
        let final_url = h.x_final_url.as_deref().and_then(|u| Url::parse(u).ok());
        ControlView {
            answer,
            tcp,
            tls,
            dns,
            fetch,
            final_url,
        }
    }

    /// The control's connect to `addr`, when it tried it: `Ok` when it connected.
    pub fn tcp(&self, addr: SocketAddr) -> Option<Result<(), String>> {
        self.tcp.get(&addr).map(|c| {
            if c.status {
                Ok(())
            } else {
                Err(c.failure.clone().unwrap_or_else(|| "failed".into()))
            }
        })
    }

    /// The control's handshake with `addr` for `server_name`, when it made one: its `failure`
    /// (what OONI's classic analysis reads: a certificate that did not validate counts only
    /// when the control wrote it as a failure).
    pub fn tls_failure(&self, addr: SocketAddr, server_name: &str) -> Option<Option<&'a str>> {
        self.handshakes_at(addr.ip(), Some(addr.port()), server_name)
            .next()
            .map(|(t, _)| t.failure.as_deref())
    }

    /// One of the control's connects to `ips` that succeeded, when there is one.
    pub fn connected(&self, ips: &[IpAddr]) -> Option<SocketAddr> {
        let mut ok: Vec<SocketAddr> = (self.tcp.iter())
            .filter(|(a, c)| c.status && ips.contains(&a.ip()))
            .map(|(a, _)| *a)
            .collect();
        ok.sort();
        ok.first().copied()
    }

    /// The control's handshakes for `server_name` at `ip` (on `port` when given): `Ok` for one
    /// that completed with a certificate valid for the name.
    fn handshakes_at<'s>(
        &'s self,
        ip: IpAddr,
        port: Option<u16>,
        server_name: &'s str,
    ) -> impl Iterator<Item = (&'a ControlTls, Result<(), String>)> + 's {
        self.tls
            .iter()
            .filter(move |(a, t)| {
                a.ip() == ip
                    && port.is_none_or(|p| a.port() == p)
                    && same_host(&t.server_name, server_name)
            })
            .map(|(_, t)| (*t, handshake_result(t)))
    }

    /// The control's handshake with `addr` for `server_name`, when it tried it: `Ok` when it
    /// completed with a certificate valid for the name.
    pub fn tls(&self, addr: SocketAddr, server_name: &str) -> Option<Result<(), String>> {
        self.handshakes_at(addr.ip(), Some(addr.port()), server_name)
            .next()
            .map(|(_, r)| r)
    }

    /// Whether the control says `ip` (any port) serves a certificate valid for `host`: one of
    /// its handshakes there validated, or its `ip_info` flags the address valid for the domain
    /// (which speaks for the input's host only: pass `input_host`).
    pub fn valid_at(&self, ip: IpAddr, host: &str, input_host: bool) -> bool {
        self.handshakes_at(ip, None, host).any(|(_, r)| r.is_ok())
            || (input_host
                && self
                    .answer
                    .ip_info
                    .get(&ip.to_string())
                    .is_some_and(|i| i.flags & IP_FLAG_VALID_FOR_DOMAIN != 0))
    }

    /// Whether the control's handshake at `ip` (any port) for `host` completed with a
    /// certificate that is not valid for it.
    pub fn invalid_at(&self, ip: IpAddr, host: &str) -> bool {
        self.handshakes_at(ip, None, host)
            .any(|(t, _)| t.x_certificate_valid == Some(false))
    }

    /// Whether any handshake of the control validated `host`: the site has a valid
    /// certificate, so an address that serves an invalid one is not the site's.
    pub fn validates(&self, host: &str) -> bool {
        self.tls
            .values()
            .any(|t| same_host(&t.server_name, host) && handshake_result(t).is_ok())
    }

    /// The control's resolved addresses (empty when it resolved none).
    pub fn addrs(&self) -> &[IpAddr] {
        match &self.dns {
            ControlDns::Resolved(a) => a,
            _ => &[],
        }
    }

    pub fn fetch_ok(&self) -> bool {
        matches!(self.fetch, Fetch::Ok { .. })
    }
}

/// The measurement, arranged.
pub struct Index<'a> {
    /// The input's host, lowercase.
    pub host: String,
    pub obs: &'a Observations,
    pub ctx: Context<'a>,
    pub control: Option<ControlView<'a>>,
    /// One per depth, 0 first.
    pub hops: Vec<Hop<'a>>,
}

impl<'a> Index<'a> {
    pub fn new(input: &'a Url, obs: &'a Observations, ctx: Context<'a>) -> Index<'a> {
        let host = host_of(input).unwrap_or_default();
        let max_depth = obs
            .queries
            .iter()
            .map(|q| depth_of(&q.tags))
            .chain(obs.tcp_connect.iter().map(|t| depth_of(&t.tags)))
            .chain(obs.tls_handshakes.iter().map(|t| depth_of(&t.tags)))
            .chain(obs.requests.iter().map(|r| depth_of(&r.tags)))
            .max()
            .unwrap_or(0);
        let mut hops: Vec<Hop<'a>> = Vec::new();
        for depth in 0..=max_depth {
            let request = obs.requests.iter().find(|r| depth_of(&r.tags) == depth);
            let tls: Vec<&TlsHandshake> = obs
                .tls_handshakes
                .iter()
                .filter(|t| depth_of(&t.tags) == depth)
                .collect();
            let tcp: Vec<&TcpConnect> = obs
                .tcp_connect
                .iter()
                .filter(|t| depth_of(&t.tags) == depth)
                .collect();
            let previous_target = hops
                .last()
                .and_then(|h: &Hop<'a>| h.request)
                .and_then(redirect_target)
                .as_ref()
                .and_then(host_of);
            let hop_host = request
                .and_then(request_host)
                .or_else(|| tls.first().map(|t| t.server_name.to_ascii_lowercase()))
                .or_else(|| {
                    obs.queries
                        .iter()
                        .find(|q| depth_of(&q.tags) == depth)
                        .map(|q| q.hostname.trim_end_matches('.').to_ascii_lowercase())
                })
                .or(previous_target)
                .unwrap_or_else(|| {
                    if depth == 0 {
                        host.clone()
                    } else {
                        String::new()
                    }
                });
            hops.push(Hop {
                depth,
                host: hop_host,
                tcp,
                tls,
                request,
            });
        }
        Index {
            host,
            obs,
            ctx,
            control: ctx.control.map(ControlView::new),
            hops,
        }
    }

    /// The last hop.
    pub fn last(&self) -> &Hop<'a> {
        self.hops.last().expect("there is always hop 0")
    }

    /// The final response of the chain: the last hop's, when it arrived whole and is not a
    /// redirect (`requests[0]`).
    pub fn final_response(&self) -> Option<&'a HttpTransaction> {
        self.last().request.filter(|tx| is_final(tx))
    }

    /// A reserved address outside the testbed ranges.
    pub fn is_bogon(&self, ip: IpAddr) -> bool {
        crate::bogon::is_bogon_except(ip, self.ctx.testbed_nets)
    }

    /// Whether `tx` came over a TLS connection whose certificate validated for its host.
    pub fn over_valid_tls(&self, tx: &HttpTransaction) -> bool {
        if !is_https(tx) {
            return false;
        }
        let Ok(addr) = tx.address.parse::<SocketAddr>() else {
            return false;
        };
        let depth = depth_of(&tx.tags);
        let host = request_host(tx).unwrap_or_default();
        self.hops.get(depth).is_some_and(|h| {
            h.tls_for(addr).is_some_and(|t| {
                t.x_certificate_valid == Some(true) && same_host(&t.server_name, &host)
            })
        })
    }

    /// Whether the control's DNS answer speaks for `host` (it resolved the URL's host only).
    pub fn control_dns_for(&self, host: &str) -> Option<&ControlDns> {
        let c = self.control.as_ref()?;
        same_host(host, &self.host).then_some(&c.dns)
    }

    /// The control's addresses for `host` (empty when it has none for that host).
    pub fn control_addrs(&self, host: &str) -> &[IpAddr] {
        match self.control_dns_for(host) {
            Some(ControlDns::Resolved(a)) => a,
            _ => &[],
        }
    }

    /// Whether the control's fetch went through `host`: the input's host, or the host its
    /// fetch ended on (assumed when the control does not say where it ended, as OONI's
    /// helpers do not).
    pub fn control_visited(&self, host: &str) -> bool {
        if same_host(host, &self.host) {
            return true;
        }
        match self.control.as_ref().map(|c| c.final_url.as_ref()) {
            Some(Some(u)) => host_of(u).is_some_and(|h| same_host(&h, host)),
            Some(None) => true,
            None => false,
        }
    }

    /// Whether `tx`'s URL is the page the control's fetch ended on: same host and path (an
    /// http/https difference aside: a site that upgrades to HTTPS for the control and a censor
    /// who answers the probe's cleartext request is the commonest case of all). `None` when
    /// the control does not say where it ended.
    pub fn same_page_as_control(&self, tx: &HttpTransaction) -> Option<bool> {
        let theirs = self.control.as_ref()?.final_url.as_ref()?;
        let ours = Url::parse(&tx.request.url).ok()?;
        let host = |u: &Url| host_of(u).unwrap_or_default();
        Some(same_host(&host(&ours), &host(theirs)) && ours.path() == theirs.path())
    }
}

/// Where a redirect response points, resolved against its request URL.
pub fn redirect_target(tx: &HttpTransaction) -> Option<Url> {
    let r = tx.response.as_ref()?;
    if !REDIRECTS.contains(&r.code) {
        return None;
    }
    let location = location(tx)?;
    Url::parse(&tx.request.url).ok()?.join(location).ok()
}

/// A response's `Location` header.
pub fn location(tx: &HttpTransaction) -> Option<&str> {
    super::http_diff::header(tx.response.as_ref()?, "location")
}
