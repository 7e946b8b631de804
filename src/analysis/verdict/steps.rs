//! The steps of each hop: connects, handshakes and round trips that failed, weighed against the
//! control's view of the same step (or of the whole fetch).

use std::net::{IpAddr, SocketAddr};

use super::Judge;
use crate::analysis::dns::Standing;
use crate::analysis::index::{ipv6_unreachable, tcp_addr, unreachable, Fetch, Hop};
use crate::analysis::{http_diff, Method};
use crate::failure::quote;
use crate::failure::Failure;
use crate::observation::{HttpTransaction, TlsHandshake};

/// The step failure's method, by kind.
fn tcp_method(f: &Failure) -> Option<Method> {
    match f {
        Failure::Timeout => Some(Method::TcpTimeout),
        Failure::ConnectionReset | Failure::ConnectionAborted => Some(Method::TcpReset),
        Failure::ConnectionRefused => Some(Method::TcpRefused),
        _ => None,
    }
}

fn tls_method(f: &Failure) -> Option<Method> {
    match f {
        Failure::ConnectionReset | Failure::ConnectionAborted => Some(Method::TlsReset),
        Failure::Timeout => Some(Method::TlsTimeout),
        Failure::Eof => Some(Method::TlsEof),
        _ => None,
    }
}

fn http_method(f: &Failure) -> Option<Method> {
    match f {
        Failure::ConnectionReset | Failure::ConnectionAborted => Some(Method::HttpReset),
        Failure::Timeout => Some(Method::HttpTimeout),
        Failure::Eof => Some(Method::HttpEof),
        _ => None,
    }
}

impl<'a> Judge<'_, 'a> {
    /// Connects, handshakes and round trips, hop by hop.
    pub(super) fn hops(&mut self) {
        for hop in &self.ix.hops {
            if self.past_detour(hop.depth) {
                self.ev.note(format!(
                    "Hop {} ({}) follows the redirect to a warning page: it says nothing about the site.",
                    hop.depth, hop.host
                ));
                continue;
            }
            match hop.request {
                Some(tx) if tx.failure.is_some() => self.http_failure(hop, tx),
                Some(_) => {}
                // Only the last hop can lack a request: the chain goes on after a response.
                None => self.endpoints(hop),
            }
        }
        if self.ix.obs.x_deadline_exceeded {
            self.ev
                .unknown("The per-target deadline cut the measurement short.".to_string());
        }
        if self.ix.obs.x_redirect_limit_reached {
            let why = "The redirect chain was still going at the hop limit".to_string();
            match self.fetch() {
                Some(Fetch::Failed(cf)) => self
                    .ev
                    .down(format!("{why}, and the control's fetch failed too ({cf}).")),
                _ => self.ev.unknown(format!("{why}.")),
            }
        }
    }

    /// The hop where the chain broke before any request: why each endpoint failed.
    fn endpoints(&mut self, hop: &Hop<'a>) {
        let https = !hop.tls.is_empty();
        let mut v6_unreachable = 0;
        let mut tried = 0;
        for t in &hop.tcp {
            let Some(addr) = tcp_addr(t) else { continue };
            tried += 1;
            if !t.status.success {
                let f = t
                    .status
                    .failure
                    .clone()
                    .unwrap_or_else(|| Failure::Unknown("no failure recorded".into()));
                if ipv6_unreachable(addr.ip(), &f) {
                    v6_unreachable += 1;
                    continue;
                }
                let what = format!(
                    "TCP connect to {addr} failed with {f} after {:.3} s",
                    t.t - t.t0
                );
                let ctl = self.ix.control.as_ref().and_then(|c| c.tcp(addr));
                self.step_failure(hop, addr.ip(), tcp_method(&f), &f, what, ctl, "connected");
                continue;
            }
            if !https {
                continue;
            }
            let Some(h) = hop.tls_for(addr) else { continue };
            match &h.failure {
                Some(f) if f.is_certificate() && h.x_handshake_completed => {
                    self.certificate(hop, addr, h, f)
                }
                Some(f) => {
                    let what = format!(
                        "The TLS handshake with {addr} (SNI {}) failed with {f} after {:.3} s",
                        h.server_name,
                        h.t - h.t0
                    );
                    let ctl = self
                        .ix
                        .control
                        .as_ref()
                        .and_then(|c| c.tls(addr, &h.server_name));
                    self.step_failure(hop, addr.ip(), tls_method(f), f, what, ctl, "completed it");
                }
                None => {}
            }
        }
        if tried > 0 && v6_unreachable == tried {
            self.ev.unknown(format!(
                "Every address of {} is IPv6 and the probe's network cannot reach IPv6.",
                hop.host
            ));
        }
    }

    /// A handshake that completed with a certificate that does not validate.
    fn certificate(&mut self, hop: &Hop<'a>, addr: SocketAddr, h: &TlsHandshake, f: &Failure) {
        let mut what = format!(
            "The TLS handshake with {addr} (SNI {}) completed with a certificate that does not validate ({f})",
            quote(&h.server_name)
        );
        if let Some(leaf) = h.x_chain.first() {
            what.push_str(&format!(
                ": subject \"{}\", issuer \"{}\"",
                quote(&leaf.subject),
                quote(&leaf.issuer)
            ));
            if !leaf.san.is_empty() {
                what.push_str(&format!(", names {}", quote(&leaf.san.join(" "))));
            }
        }
        let ctl = self
            .ix
            .control
            .as_ref()
            .and_then(|c| c.tls(addr, &h.server_name));
        if let Some(Ok(())) = ctl {
            self.ev.block(
                Method::TlsMitm,
                format!("{what}, where the control's certificate for {addr} validates."),
            );
            return;
        }
        if self.accounted(hop, &what, addr.ip()) {
            return;
        }
        match ctl {
            Some(Err(cf)) => match self.fetch() {
                Some(Fetch::Ok { .. }) => self.ev.unknown(format!(
                    "{what}; the control's handshake with {addr} fails too ({cf}), though it fetched the page elsewhere."
                )),
                _ => self.ev.down(format!(
                    "{what}; the control's handshake fails too ({cf}): the site's certificate is broken for everyone."
                )),
            },
            _ => match self.fetch() {
                Some(Fetch::Ok { .. }) if !self.ix.control_visited(&hop.host) => {
                    self.never_visited(&what, &hop.host)
                }
                Some(Fetch::Ok { .. }) => self.ev.block(
                    Method::TlsMitm,
                    format!("{what}, where the control fetched the page over validated TLS."),
                ),
                Some(Fetch::Failed(cf)) => self.ev.down(format!(
                    "{what}; the control's fetch failed too ({cf})."
                )),
                None if *f == Failure::SslInvalidHostname => self.ev.block(
                    Method::TlsMitm,
                    format!("{what}: a certificate for another name is interception, with or without a control."),
                ),
                None => self.ev.unknown(format!(
                    "{what}; without a control, interception cannot be told from a broken certificate."
                )),
            },
        }
    }

    /// A failure at a redirect hop's host that the control's fetch never went to.
    fn never_visited(&mut self, what: &str, host: &str) {
        self.ev.unknown(format!(
            "{what}; the control's fetch never went to {}, so nothing says the site works there.",
            quote(host)
        ));
    }

    /// Whether the DNS evidence accounts for a failure at `ip` (then it is not the step's
    /// doing): a forged address, a rewritten NXDOMAIN, or an address nothing ties to the site.
    fn accounted(&mut self, hop: &Hop<'a>, what: &str, ip: IpAddr) -> bool {
        match self.standing(&hop.host, ip) {
            Standing::Genuine => return false,
            Standing::Forged => self.attributed(what, ip),
            Standing::Ghost => self.ev.note(format!(
                "{what}; the control finds no such name as {}, so {ip} is the rewriting resolver's answer, not a site's.",
                hop.host
            )),
            Standing::Unverified => match self.fetch() {
                Some(Fetch::Failed(cf)) => self
                    .ev
                    .down(format!("{what}; the control's fetch failed too ({cf}).")),
                _ => self.ev.unknown(format!(
                    "{what}; {ip} is not among the control's addresses for {} and nothing ties it to the site or against it, so the failure cannot be blamed.",
                    hop.host
                )),
            },
        }
        true
    }

    /// A failure at an address the DNS evidence already calls wrong.
    fn attributed(&mut self, what: &str, ip: IpAddr) {
        match self.fetch() {
            Some(Fetch::Ok { .. }) | None => self.ev.note(format!(
                "{what}; {ip} is not the site's address as far as the DNS evidence goes."
            )),
            Some(Fetch::Failed(cf)) => self
                .ev
                .down(format!("{what}; the control's fetch failed too ({cf}).")),
        }
    }

    /// A step that failed: blocking only where the control succeeded.
    #[allow(clippy::too_many_arguments)]
    fn step_failure(
        &mut self,
        hop: &Hop<'a>,
        ip: IpAddr,
        method: Option<Method>,
        f: &Failure,
        what: String,
        ctl: Option<Result<(), String>>,
        control_did: &str,
    ) {
        if unreachable(f) {
            self.ev.unknown(format!(
                "{what}: the address is unreachable from the probe's network, which names no blocking method."
            ));
            return;
        }
        if let Some(Ok(())) = ctl {
            if self.standing(&hop.host, ip) != Standing::Ghost {
                match method {
                    Some(m) => self
                        .ev
                        .block(m, format!("{what}, where the control {control_did}.")),
                    None => self.ev.unknown(format!(
                        "{what}, where the control {control_did}; this failure names no blocking method."
                    )),
                }
                return;
            }
        }
        if self.accounted(hop, &what, ip) {
            return;
        }
        match ctl {
            Some(Err(cf)) => match self.fetch() {
                Some(Fetch::Ok { .. }) => self.ev.unknown(format!(
                    "{what}; the control's attempt failed too ({cf}), though it fetched the page elsewhere."
                )),
                _ => self
                    .ev
                    .down(format!("{what}; the control's attempt failed too ({cf}).")),
            },
            _ => match (self.fetch(), method) {
                (Some(Fetch::Ok { .. }), _) if !self.ix.control_visited(&hop.host) => {
                    self.never_visited(&what, &hop.host)
                }
                (Some(Fetch::Ok { .. }), Some(m)) => self
                    .ev
                    .block(m, format!("{what}, where the control fetched the page.")),
                (Some(Fetch::Ok { .. }), None) => self.ev.unknown(format!(
                    "{what}, where the control fetched the page; this failure names no blocking method."
                )),
                (Some(Fetch::Failed(cf)), _) => self
                    .ev
                    .down(format!("{what}; the control's fetch failed too ({cf}).")),
                (None, _) => self.ev.unknown(format!("{what}.")),
            },
        }
    }

    /// A round trip that failed (maybe after part of the body).
    fn http_failure(&mut self, hop: &Hop<'a>, tx: &HttpTransaction) {
        let f = tx.failure.clone().expect("called for failures");
        let ip = tx
            .address
            .parse::<SocketAddr>()
            .map(|a| a.ip())
            .unwrap_or(IpAddr::from([0, 0, 0, 0]));
        if tx.response.is_some() && matches!(f, Failure::Unknown(_)) {
            // The response came but could not be followed (a redirect without a usable Location).
            let what = format!(
                "The response from {} could not be followed ({f})",
                quote(&tx.request.url)
            );
            match self.fetch() {
                Some(Fetch::Failed(cf)) => self
                    .ev
                    .down(format!("{what}; the control's fetch failed too ({cf}).")),
                _ => self.ev.unknown(format!("{what}.")),
            }
            return;
        }
        if let Some(t) = http_diff::transfer(tx).filter(|t| t.still_arriving()) {
            // Cut off while the body was still arriving: a slow transfer, not a stall.
            if let Some(reason) = self.throttling(hop, tx) {
                self.ev.block(Method::Throttling, reason);
            } else {
                let rate = self
                    .ix
                    .control
                    .as_ref()
                    .and_then(|c| c.answer.http_request.x_transfer_rate);
                let against = match rate {
                    Some(r) => format!("the control's {r:.0} bytes/s"),
                    None => "a control that gives no transfer rate".to_string(),
                };
                self.ev.unknown(format!(
                    "The body of {} was still arriving when the timeout cut it off ({} bytes in {:.1} s, {:.0} bytes/s): a slow transfer, not a stall, which against {against} does not meet the throttling thresholds (steadily below a tenth of the control's rate and {:.0} bytes/s, for {:.0} s or more and {:.0} times what the connect's round trip explains, from an address of the site's).",
                    quote(&tx.request.url),
                    t.bytes,
                    t.seconds,
                    t.rate(),
                    http_diff::THROTTLE_MAX_RATE,
                    http_diff::THROTTLE_MIN_SECONDS,
                    http_diff::THROTTLE_RTT_FACTOR
                ));
            }
            return;
        }
        let got = match &tx.response {
            Some(r) => format!(" ({} body bytes received)", r.x_body_length),
            None => String::new(),
        };
        let what = format!(
            "The HTTP request for {} to {} failed with {f} after {:.3} s{got}",
            quote(&tx.request.url),
            tx.address,
            tx.t - tx.t0
        );
        self.step_failure(hop, ip, http_method(&f), &f, what, None, "fetched the page");
    }

    /// Why the transfer of `tx` is throttling, when it is: a far slower transfer than the
    /// control's from an address of the site's, where the control fetched the page.
    pub(super) fn throttling(&self, hop: &Hop<'a>, tx: &HttpTransaction) -> Option<String> {
        let c = self.ix.control.as_ref().filter(|c| c.fetch_ok())?;
        let addr = tx.address.parse::<SocketAddr>().ok()?;
        if self.standing(&hop.host, addr.ip()) != Standing::Genuine {
            return None;
        }
        // The round trip: the connect to the address the body came from, at this hop.
        let rtt = (hop.tcp.iter())
            .filter(|t| t.status.success && tcp_addr(t) == Some(addr))
            .map(|t| t.t - t.t0)
            .filter(|r| *r > 0.0)
            .reduce(f64::min);
        http_diff::throttled(tx, &c.answer.http_request, rtt)
    }
}
