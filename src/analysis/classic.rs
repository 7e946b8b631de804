//! OONI web_connectivity 0.5's "classic" `dns_consistency`, `blocking`, `accessible` and
//! `http_experiment_failure` (`analysisclassic.go`), so vantage's records compare with OONI's.
//! The lookups are read as OONI's classic view reads them: each lookup's entry merged the way
//! getaddrinfo writes it (`probe::getaddrinfo`), when the observations carry one (records do;
//! hand-made observations fall back to vantage's own reading of the datagrams).
//!
//! Deliberate differences: a lookup is also valid when the probe's TLS handshake validated
//! the name at one of its addresses (CDN and GeoDNS answers are not inconsistent), as OONI's
//! own "ext" analysis does; addresses inside the testbed ranges count as routable (not
//! loopback): a testbed is a stand-in for the Internet, and OONI's check of vantage's testbed
//! records maps those ranges to routable addresses for the same reason. A failed lookup without
//! a control is `false`/`true` as OONI's rule 5.1.1 has it ("sic" in OONI's code: nothing says
//! the site is reachable); vantage's own verdict there is `unknown`.
//!
//! As OONI's walk does, a measurement no rule applies to (a lookup and nothing after it, a
//! redirect chain cut at its limit) is `null`/`null` even when its DNS is inconsistent, and the
//! "unexpected addresses" flag (4) needs the control's addresses (its lookup succeeded).

use std::net::{IpAddr, SocketAddr};

use serde_json::Value;

use super::dns::Lookup;
use super::http_diff::HttpDiff;
use super::index::{depth_of, ipv6_unreachable, is_final, is_https, same_host, tcp_addr, Index};
use crate::failure::Failure;

pub struct Classic {
    pub dns_consistency: Option<&'static str>,
    pub blocking: Value,
    pub accessible: Option<bool>,
    pub x_dns_flags: u32,
    pub dns_experiment_failure: Option<String>,
    /// The failure of the step the walk stopped at (OONI's `setHTTPExperimentFailure`).
    pub http_experiment_failure: Option<String>,
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
    /// No rule applied: OONI calls no setter, so `null`, `null` whatever the DNS.
    Unset,
}

pub fn compute(ix: &Index<'_>, lookups: &[Lookup<'_>], diff: Option<&HttpDiff>) -> Classic {
    let first = lookups
        .iter()
        .find(|l| same_host(&l.host, &ix.host) && l.depth == 0);
    let (dns_consistency, x_dns_flags) = consistency(ix, first);
    let inconsistent = dns_consistency == Some("inconsistent");
    let (row, http_experiment_failure) = walk(ix, lookups, diff);
    let (blocking, accessible) = match row {
        Row::Accessible => (Value::Bool(false), Some(true)),
        Row::Null | Row::Down if inconsistent => (Value::String("dns".into()), Some(false)),
        Row::Null => (Value::Null, None),
        Row::Down => (Value::Bool(false), Some(false)),
        Row::Blocking(_) if inconsistent => (Value::String("dns".into()), Some(false)),
        Row::Blocking(s) => (Value::String(s.into()), Some(false)),
        Row::Unset => (Value::Null, None),
    };
    Classic {
        dns_consistency,
        blocking,
        accessible,
        x_dns_flags,
        dns_experiment_failure: first
            .and_then(|l| classic_failure(ix, l))
            .map(|f| f.to_string()),
        http_experiment_failure: http_experiment_failure.map(|f| f.to_string()),
    }
}

/// A lookup's failure as OONI's classic view reads it: the merged getaddrinfo-style entry's
/// for the same host and depth when there is one, else vantage's reading of the datagrams.
fn classic_failure(ix: &Index<'_>, l: &Lookup<'_>) -> Option<Failure> {
    let merged = ix
        .obs
        .classic_lookups
        .iter()
        .find(|q| same_host(&q.hostname, &l.host) && depth_of(&q.tags) == l.depth);
    match merged {
        Some(q) => q.failure.clone(),
        None => l.failure.clone(),
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
    match &classic_failure(ix, l) {
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
                // OONI's "unexpected addresses" flag needs the control's addresses: none
                // when its lookup failed.
                let unexpected = if control_failed { 0 } else { 4 };
                (Some("inconsistent"), flags | unexpected)
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
/// that applies decides. Also the failure of the step it stopped at (OONI's
/// `http_experiment_failure`: set by the rules about failed steps, whatever the step).
fn walk(ix: &Index<'_>, lookups: &[Lookup<'_>], diff: Option<&HttpDiff>) -> (Row, Option<Failure>) {
    let control = ix.control.as_ref();
    for hop in ix.hops.iter().rev() {
        if let Some(tx) = hop.request {
            // 1: a final response.
            if is_final(tx) {
                let row = match diff {
                    _ if is_https(tx) => Row::Accessible,
                    _ if control.is_none() => Row::Null,
                    Some(d) if !d.is_diff() => Row::Accessible,
                    _ => Row::Blocking("http-diff"),
                };
                return (row, None);
            }
            // 2: a round trip that failed.
            if let Some(f) = &tx.failure {
                let row = match control {
                    None => Row::Null,
                    Some(c) if c.answer.http_request.failure.is_some() => Row::Down,
                    Some(_) => Row::Blocking("http-failure"),
                };
                return (row, Some(f.clone()));
            }
        }
        // 3: a TLS handshake that failed (OONI's order: the smallest failure string first).
        let failed_tls = (hop.tls.iter())
            .filter(|t| t.failure.is_some())
            .min_by_key(|t| (failure_key(&t.failure), std::cmp::Reverse(t.transaction_id)));
        if let Some(t) = failed_tls {
            let addr = t.address.parse::<SocketAddr>().ok();
            let row = match control {
                None => Row::Null,
                Some(c) => match addr.and_then(|a| c.tls_failure(a, &t.server_name)) {
                    Some(Some(_)) => Row::Down,
                    _ => Row::Blocking("http-failure"),
                },
            };
            return (row, t.failure.clone());
        }
        // 4: a TCP connect that failed (an IPv6 address unreachable from a v4-only network is
        // not a failure of the site's).
        let failed_tcp = (hop.tcp.iter())
            .filter(|t| {
                let v6_unreachable = match (t.ip.parse::<IpAddr>(), &t.status.failure) {
                    (Ok(ip), Some(f)) => ipv6_unreachable(ip, f),
                    _ => false,
                };
                !t.status.success && !v6_unreachable
            })
            .min_by_key(|t| {
                (
                    failure_key(&t.status.failure),
                    std::cmp::Reverse(t.transaction_id),
                )
            });
        if let Some(t) = failed_tcp {
            let row = match control {
                None => Row::Null,
                Some(c) => match tcp_addr(t).and_then(|a| c.tcp(a)) {
                    None => Row::Blocking("http-failure"),
                    Some(Err(_)) => Row::Down,
                    Some(Ok(())) => Row::Blocking("tcp_ip"),
                },
            };
            return (row, t.status.failure.clone());
        }
        // 5-7: the lookup made at this depth.
        let Some(l) = lookups
            .iter()
            .find(|l| l.depth == hop.depth && same_host(&l.host, &hop.host))
        else {
            continue;
        };
        if let Some(decided) = dns_step(ix, l) {
            return decided;
        }
    }
    (Row::Unset, None)
}

/// How OONI's linear analysis orders failures within a step: by failure string.
fn failure_key(f: &Option<Failure>) -> String {
    f.as_ref().map(|f| f.to_string()).unwrap_or_default()
}

/// Rules 5-7: the lookup of a hop, when one of them decides.
fn dns_step(ix: &Index<'_>, l: &Lookup<'_>) -> Option<(Row, Option<Failure>)> {
    let control = ix.control.as_ref();
    let control_dns = control.filter(|_| same_host(&l.host, &ix.host));
    if let Some(f) = classic_failure(ix, l) {
        let row = match control_dns {
            // OONI's rule 5.1.1: accessible ("sic"); `x_verdict` says unknown.
            None if control.is_none() => Row::Accessible,
            None => Row::Blocking("dns"),
            Some(c) if c.answer.dns.failure.is_some() => Row::Down,
            // 5.3: OONI sets no failure here.
            Some(c) if f == Failure::DnsNoAnswer && c.addrs().is_empty() => {
                return Some((Row::Down, None))
            }
            Some(_) => Row::Blocking("dns"),
        };
        return Some((row, Some(f)));
    }
    // 6 and 7 need the control's addresses for this host: its lookup succeeded.
    let c = control_dns.filter(|c| c.answer.dns.failure.is_none())?;
    // Only loopback addresses, one at least (OONI's analysisContainsOnlyLoopbackAddrs).
    let only_loopback =
        |addrs: &[IpAddr]| !addrs.is_empty() && addrs.iter().all(|a| loopback(ix, *a));
    match (only_loopback(&l.addrs), only_loopback(c.addrs())) {
        (true, false) => Some((Row::Blocking("dns"), None)),
        (true, true) => Some((Row::Down, None)),
        _ => None,
    }
}
