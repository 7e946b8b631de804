//! OONI web_connectivity 0.5's "classic" `dns_consistency`, `blocking` and `accessible`
//! (`analysisclassic.go`), so vantage's records compare with OONI's. Two deliberate
//! differences, both vantage's improvements that OONI's own "ext" analysis makes too:
//! a lookup is also valid when the probe's TLS handshake validated the name at one of its
//! addresses (CDN and GeoDNS answers are not inconsistent), and addresses inside the testbed
//! ranges count as routable (not loopback).

use std::net::{IpAddr, SocketAddr};

use serde_json::Value;

use super::dns::Lookup;
use super::http_diff::HttpDiff;
use super::index::{ipv6_unreachable, is_final, is_https, same_host, tcp_addr, Index};
use crate::failure::Failure;

pub struct Classic {
    pub dns_consistency: Option<&'static str>,
    pub blocking: Value,
    pub accessible: Option<bool>,
    pub x_dns_flags: u32,
    pub dns_experiment_failure: Option<String>,
}

/// A row's outcome, before the DNS-inconsistency overrides.
enum Row {
    /// `false`, `true`, never overridden (rows 1a, 1c, and row 5's "sic").
    Accessible,
    /// `null`, `null`, overridden to `"dns"` when DNS is inconsistent.
    Null,
    /// The website is down: `false`, `false`, overridden to `"dns"`.
    Down,
    /// A blocking string, replaced by `"dns"` when DNS is inconsistent.
    Blocking(&'static str),
}

pub fn compute(ix: &Index<'_>, lookups: &[Lookup<'_>], diff: Option<&HttpDiff>) -> Classic {
    let first = lookups
        .iter()
        .find(|l| same_host(&l.host, &ix.host) && l.depth == 0);
    let (dns_consistency, x_dns_flags) = consistency(ix, first);
    let inconsistent = dns_consistency == Some("inconsistent");
    let (blocking, accessible) = match walk(ix, lookups, diff) {
        Row::Accessible => (Value::Bool(false), Some(true)),
        Row::Null | Row::Down if inconsistent => (Value::String("dns".into()), Some(false)),
        Row::Null => (Value::Null, None),
        Row::Down => (Value::Bool(false), Some(false)),
        Row::Blocking(_) if inconsistent => (Value::String("dns".into()), Some(false)),
        Row::Blocking(s) => (Value::String(s.into()), Some(false)),
    };
    Classic {
        dns_consistency,
        blocking,
        accessible,
        x_dns_flags,
        dns_experiment_failure: first
            .and_then(|l| l.failure.as_ref())
            .map(|f| f.to_string()),
    }
}

/// Step C and D: the depth-0 lookup against the control's, and OONI's DNS flags.
fn consistency(ix: &Index<'_>, lookup: Option<&Lookup<'_>>) -> (Option<&'static str>, u32) {
    let Some(l) = lookup else {
        return (None, 0);
    };
    let mut flags = 0;
    if !l.bogons.is_empty() || l.addrs.iter().any(|a| ix.is_bogon(*a)) {
        flags |= 1;
    }
    let Some(c) = &ix.control else {
        return (None, flags);
    };
    let control_failed = c.answer.dns.failure.is_some();
    let control_addrs = c.addrs();
    match &l.failure {
        Some(f) => {
            let expected =
                control_failed || (*f == Failure::DnsNoAnswer && control_addrs.is_empty());
            if expected {
                (Some("consistent"), flags)
            } else {
                (Some("inconsistent"), flags | 2)
            }
        }
        None => {
            let valid =
                l.shares_with_control || l.addrs.iter().any(|a| l.probe_vindicated.contains(a));
            if !valid {
                (Some("inconsistent"), flags | 4)
            } else if control_addrs.is_empty() {
                // The probe resolved a name the control cannot ("ghost" domains).
                (Some("inconsistent"), flags)
            } else {
                (Some("consistent"), flags)
            }
        }
    }
}

/// A loopback address outside the testbed ranges.
fn loopback(ix: &Index<'_>, ip: IpAddr) -> bool {
    ip.is_loopback() && ix.is_bogon(ip)
}

/// Step F: deepest hop first; within a hop HTTP, then TLS, then TCP, then DNS; the first rule
/// that applies decides.
fn walk(ix: &Index<'_>, lookups: &[Lookup<'_>], diff: Option<&HttpDiff>) -> Row {
    let control = ix.control.as_ref();
    for hop in ix.hops.iter().rev() {
        if let Some(tx) = hop.request {
            // 1: a final response.
            if is_final(tx) {
                if is_https(tx) {
                    return Row::Accessible;
                }
                if control.is_none() {
                    return Row::Null;
                }
                return match diff {
                    Some(d) if !d.is_diff() => Row::Accessible,
                    _ => Row::Blocking("http-diff"),
                };
            }
            // 2: a round trip that failed.
            if tx.failure.is_some() {
                return match control {
                    None => Row::Null,
                    Some(c) if c.answer.http_request.failure.is_some() => Row::Down,
                    Some(_) => Row::Blocking("http-failure"),
                };
            }
        }
        // 3: a TLS handshake that failed.
        if let Some(t) = hop.tls.iter().find(|t| t.failure.is_some()) {
            let Some(c) = control else { return Row::Null };
            let addr = t.address.parse::<SocketAddr>().ok();
            return match addr.and_then(|a| c.tls(a, &t.server_name)) {
                Some(Err(_)) => Row::Down,
                _ => Row::Blocking("http-failure"),
            };
        }
        // 4: a TCP connect that failed (an IPv6 address unreachable from a v4-only network is
        // not a failure of the site's).
        let failed_tcp = hop.tcp.iter().find(|t| {
            let v6_unreachable = match (t.ip.parse::<IpAddr>(), &t.status.failure) {
                (Ok(ip), Some(f)) => ipv6_unreachable(ip, f),
                _ => false,
            };
            !t.status.success && !v6_unreachable
        });
        if let Some(t) = failed_tcp {
            let Some(c) = control else { return Row::Null };
            return match tcp_addr(t).and_then(|a| c.tcp(a)) {
                None => Row::Blocking("http-failure"),
                Some(Err(_)) => Row::Down,
                Some(Ok(())) => Row::Blocking("tcp_ip"),
            };
        }
        // 5-7: the lookup made at this depth.
        let Some(l) = lookups
            .iter()
            .find(|l| l.depth == hop.depth && same_host(&l.host, &hop.host))
        else {
            continue;
        };
        let control_dns = control.filter(|_| same_host(&l.host, &ix.host));
        if let Some(f) = &l.failure {
            return match control_dns {
                None if control.is_none() => Row::Accessible, // OONI's (sic)
                None => Row::Blocking("dns"),
                Some(c) if c.answer.dns.failure.is_some() => Row::Down,
                Some(c) if *f == Failure::DnsNoAnswer && c.addrs().is_empty() => Row::Down,
                Some(_) => Row::Blocking("dns"),
            };
        }
        if let Some(c) = control_dns {
            let ours_loopback = l.addrs.iter().all(|a| loopback(ix, *a));
            let theirs: Vec<IpAddr> = c.addrs().to_vec();
            let theirs_loopback = theirs.iter().all(|a| loopback(ix, *a));
            if ours_loopback && !theirs.is_empty() && !theirs_loopback {
                return Row::Blocking("dns");
            }
            if ours_loopback && !theirs.is_empty() && theirs_loopback {
                return Row::Down;
            }
        }
    }
    Row::Null
}
