//! The steps of each hop: connects, handshakes and round trips that failed, weighed against the
//! control's view of the same step (or of the whole fetch).

use std::net::{IpAddr, SocketAddr};

use super::Judge;
use crate::analysis::index::{tcp_addr, Fetch, Hop};
use crate::analysis::{http_diff, Method};
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

/// No route from the probe: its own network (or a filter that names no method).
pub(super) fn unreachable(f: &Failure) -> bool {
    matches!(f, Failure::NetworkUnreachable | Failure::HostUnreachable)
}

impl<'a> Judge<'_, 'a> {
    /// Connects, handshakes and round trips, hop by hop.
    pub(super) fn hops(&mut self) {
        let last = self.ix.hops.len() - 1;
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
                None if hop.depth == last => self.endpoints(hop),
                None => {}
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
                if addr.is_ipv6()
                    && matches!(f, Failure::NetworkUnreachable | Failure::HostUnreachable)
                {
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
            h.server_name
        );
        if let Some(leaf) = h.x_chain.first() {
            what.push_str(&format!(
                ": subject \"{}\", issuer \"{}\"",
                leaf.subject, leaf.issuer
            ));
            if !leaf.san.is_empty() {
                what.push_str(&format!(", names {}", leaf.san.join(" ")));
            }
        }
        let ctl = self
            .ix
            .control
            .as_ref()
            .and_then(|c| c.tls(addr, &h.server_name));
        match ctl {
            Some(Ok(())) => self.ev.block(
                Method::TlsMitm,
                format!("{what}, where the control's certificate for {addr} validates."),
            ),
            Some(Err(cf)) => match self.fetch() {
                Some(Fetch::Ok { .. }) => self.ev.unknown(format!(
                    "{what}; the control's handshake with {addr} fails too ({cf}), though it fetched the page elsewhere."
                )),
                _ => self.ev.down(format!(
                    "{what}; the control's handshake fails too ({cf}): the site's certificate is broken for everyone."
                )),
            },
            None if self.suspect(&hop.host, addr.ip()) => {
                self.attributed(&what, addr.ip())
            }
            None => match self.fetch() {
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
        match ctl {
            Some(Ok(())) => match method {
                Some(m) => self
                    .ev
                    .block(m, format!("{what}, where the control {control_did}.")),
                None => self.ev.unknown(format!(
                    "{what}, where the control {control_did}; this failure names no blocking method."
                )),
            },
            Some(Err(cf)) => match self.fetch() {
                Some(Fetch::Ok { .. }) if self.suspect(&hop.host, ip) => self.attributed(&what, ip),
                Some(Fetch::Ok { .. }) => self.ev.unknown(format!(
                    "{what}; the control's attempt failed too ({cf}), though it fetched the page elsewhere."
                )),
                _ => self
                    .ev
                    .down(format!("{what}; the control's attempt failed too ({cf}).")),
            },
            None if self.suspect(&hop.host, ip) => self.attributed(&what, ip),
            None => match (self.fetch(), method) {
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
                tx.request.url
            );
            match self.fetch() {
                Some(Fetch::Failed(cf)) => self
                    .ev
                    .down(format!("{what}; the control's fetch failed too ({cf}).")),
                _ => self.ev.unknown(format!("{what}.")),
            }
            return;
        }
        if f == Failure::Timeout {
            if let Some(c) = &self.ix.control {
                if let Some(reason) = http_diff::throttled(tx, &c.answer.http_request) {
                    if c.fetch_ok() {
                        self.ev.block(Method::Throttling, reason);
                        return;
                    }
                }
            }
        }
        let got = match &tx.response {
            Some(r) => format!(" ({} body bytes received)", r.x_body_length),
            None => String::new(),
        };
        let what = format!(
            "The HTTP request for {} to {} failed with {f} after {:.3} s{got}",
            tx.request.url,
            tx.address,
            tx.t - tx.t0
        );
        self.step_failure(hop, ip, http_method(&f), &f, what, None, "fetched the page");
    }
}
