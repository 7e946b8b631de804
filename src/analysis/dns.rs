//! DNS evidence, one `Lookup` per host of the chain: the answers the probe used, duplicate
//! datagrams that disagree or come from elsewhere (injection), reserved addresses (bogons),
//! known forged answers (fingerprints), and consistency with the control.
//!
//! `queries[]` holds one entry per datagram. For each query (type and id) the answer used is
//! the TCP retry's when the UDP answer was truncated, else the first datagram that carries the
//! id and question and comes from the resolver; a query with no such datagram has one entry with
//! its failure. An AAAA query with no records (`dns_no_answer`) is normal and never evidence.

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};

use super::index::{depth_of, same_host, ControlDns, Index};
use crate::failure::Failure;
use crate::fingerprints::Fingerprint;
use crate::observation::DnsQuery;

/// How the probe's answers for a host compare with the control's.
#[derive(Clone, Debug, PartialEq)]
pub enum DnsState {
    /// No control answer for this host (no control, or a redirect to another host).
    Unchecked,
    /// The answers agree: a shared address, a shared ASN, or TLS validated the name at one.
    Consistent(Agreement),
    /// The control resolved other addresses and nothing vindicates the probe's.
    Inconsistent,
    /// The control finds no such name (or no address) but the probe's resolver answered.
    Ghost(String),
    /// The control could not resolve the name: nothing to compare with.
    ControlFailed(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Agreement {
    SharedAddress,
    SharedAsn,
    /// Other addresses than the control's, but TLS validated the name at one of them.
    Tls,
}

/// One host's lookup.
pub struct Lookup<'a> {
    pub host: String,
    /// The depth it was made at.
    pub depth: usize,
    pub resolver: String,
    /// The addresses the probe used (A then AAAA).
    pub addrs: Vec<IpAddr>,
    /// Why there is no address, when there is none (the A query's failure first).
    pub failure: Option<Failure>,
    /// One sentence per injection seen.
    pub injection: Vec<String>,
    /// Addresses carried by disagreeing or foreign datagrams.
    pub injected: BTreeSet<IpAddr>,
    /// Reserved addresses among the answers (outside testbeds, not the control's, not vindicated).
    pub bogons: Vec<IpAddr>,
    /// A known forged answer (the value that matched) and its fingerprint.
    pub fingerprint: Option<(String, &'a Fingerprint)>,
    /// Addresses at which TLS validated the name (the probe's handshakes, the control's).
    pub vindicated: BTreeSet<IpAddr>,
    /// Addresses at which the probe's own TLS validated the name (OONI's classic extension).
    pub probe_vindicated: BTreeSet<IpAddr>,
    pub state: DnsState,
    /// Whether the lookup's addresses share an address or an ASN with the control's.
    pub shares_with_control: bool,
}

impl Lookup<'_> {
    /// Addresses that are not the site's as far as the evidence goes: bogons, known forged
    /// answers, injected answers the control does not share, and all of them when the lookup
    /// is inconsistent with the control.
    pub fn suspect(&self, ip: IpAddr, control_addrs: &[IpAddr]) -> bool {
        if self.vindicated.contains(&ip) {
            return false;
        }
        self.bogons.contains(&ip)
            || self
                .fingerprint
                .as_ref()
                .is_some_and(|(v, _)| v.parse::<IpAddr>().ok() == Some(ip))
            || (self.injected.contains(&ip) && !control_addrs.contains(&ip))
            || (matches!(self.state, DnsState::Inconsistent | DnsState::Ghost(_))
                && self.addrs.contains(&ip))
    }
}

/// The lookups of every host of the chain, in the order the chain met them.
pub fn analyze<'a>(ix: &Index<'a>) -> Vec<Lookup<'a>> {
    let mut hosts: Vec<String> = Vec::new();
    for q in &ix.obs.queries {
        let h = q.hostname.trim_end_matches('.').to_ascii_lowercase();
        if !hosts.contains(&h) {
            hosts.push(h);
        }
    }
    hosts
        .into_iter()
        .map(|host| {
            let entries: Vec<&DnsQuery> = ix
                .obs
                .queries
                .iter()
                .filter(|q| same_host(&q.hostname, &host))
                .collect();
            lookup(ix, host, &entries)
        })
        .collect()
}

/// The datagrams of one query (one type, one id).
struct Query<'a> {
    qtype: &'a str,
    entries: Vec<&'a DnsQuery>,
}

impl<'a> Query<'a> {
    /// Datagrams that are answers to this query: our id, our question, decodable.
    fn answers(&self) -> impl Iterator<Item = &'a DnsQuery> + '_ {
        self.entries.iter().copied().filter(|q| {
            q.x_id_match != Some(false)
                && q.x_question_match != Some(false)
                && q.x_decode_error.is_none()
                && (q.raw_response.is_some() || !q.answers.is_empty() || q.rcode.is_some())
        })
    }

    /// The answer the probe used, or the entry that records the query's failure.
    fn used(&self) -> Option<&'a DnsQuery> {
        if let Some(tcp) = self.entries.iter().find(|q| q.engine == "tcp") {
            return Some(tcp);
        }
        let mut candidates: Vec<&DnsQuery> = self
            .answers()
            .filter(|q| from_resolver(q) != Some(false))
            .collect();
        candidates.sort_by(|a, b| {
            (a.x_response_index, a.t)
                .partial_cmp(&(b.x_response_index, b.t))
                .unwrap_or(std::cmp::Ordering::Equal)
        });
        candidates.first().copied().or_else(|| {
            // No usable datagram: the entry that records the failure (timeout, garbage).
            self.entries
                .iter()
                .copied()
                .find(|q| q.raw_response.is_none() && q.failure.is_some())
                .or_else(|| self.entries.last().copied())
        })
    }
}

/// Whether a datagram came from the resolver it was sent to (None when unknown).
fn from_resolver(q: &DnsQuery) -> Option<bool> {
    let src: SocketAddr = q.x_source_address.as_deref()?.parse().ok()?;
    let resolver: SocketAddr = q.resolver_address.parse().ok()?;
    Some(src.ip().to_canonical() == resolver.ip().to_canonical() && src.port() == resolver.port())
}

fn addrs_of(q: &DnsQuery) -> Vec<IpAddr> {
    q.addresses().collect()
}

/// "127.0.0.9, 127.0.0.1" (or "no address").
pub fn list(addrs: &[IpAddr]) -> String {
    if addrs.is_empty() {
        "no address".into()
    } else {
        addrs
            .iter()
            .map(|a| a.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// What one datagram said: its addresses, or its failure.
fn said(q: &DnsQuery) -> String {
    let a = addrs_of(q);
    match (&q.failure, a.is_empty()) {
        (Some(f), true) => f.to_string(),
        _ => list(&a),
    }
}

fn lookup<'a>(ix: &Index<'a>, host: String, entries: &[&'a DnsQuery]) -> Lookup<'a> {
    let depth = entries.iter().map(|q| depth_of(&q.tags)).min().unwrap_or(0);
    let resolver = entries
        .first()
        .map(|q| q.resolver_address.clone())
        .unwrap_or_default();

    // Group the datagrams by query: type and id (wrong-id datagrams carry no answer of ours).
    let mut queries: Vec<Query<'a>> = Vec::new();
    for q in entries.iter().copied() {
        if q.x_id_match == Some(false) {
            continue;
        }
        match queries
            .iter_mut()
            .find(|g| g.qtype == q.query_type && g.entries[0].x_query_id == q.x_query_id)
        {
            Some(g) => g.entries.push(q),
            None => queries.push(Query {
                qtype: &q.query_type,
                entries: vec![q],
            }),
        }
    }
    // A before AAAA, as the probe combines them.
    queries.sort_by_key(|g| match g.qtype {
        "A" => 0,
        "AAAA" => 1,
        _ => 2,
    });

    let mut addrs: Vec<IpAddr> = Vec::new();
    let mut failures: Vec<(&str, Failure)> = Vec::new();
    for g in &queries {
        if let Some(u) = g.used() {
            for a in addrs_of(u) {
                if !addrs.contains(&a) {
                    addrs.push(a);
                }
            }
            if let Some(f) = &u.failure {
                failures.push((g.qtype, f.clone()));
            } else if addrs_of(u).is_empty() {
                failures.push((g.qtype, Failure::DnsNoAnswer));
            }
        }
    }
    let failure = if addrs.is_empty() {
        Some(
            failures
                .iter()
                .find(|(t, _)| *t == "A")
                .or_else(|| failures.iter().find(|(_, f)| *f != Failure::DnsNoAnswer))
                .or(failures.first())
                .map(|(_, f)| f.clone())
                .unwrap_or(Failure::DnsNoAnswer),
        )
    } else {
        None
    };

    // Injection: several answers to one query that disagree, or an answer from elsewhere.
    let mut injection = Vec::new();
    let mut injected = BTreeSet::new();
    for g in &queries {
        let udp: Vec<&DnsQuery> = g
            .answers()
            .filter(|q| q.engine == "udp" && q.x_id_match == Some(true))
            .filter(|q| !q.x_flags.as_ref().is_some_and(|f| f.tc))
            .collect();
        let signature = |q: &DnsQuery| {
            let mut a: Vec<IpAddr> = addrs_of(q);
            a.sort();
            a.dedup();
            let f = if a.is_empty() {
                q.failure.as_ref().map(|f| f.to_string())
            } else {
                None
            };
            (a, f)
        };
        if udp.len() >= 2 && udp.iter().any(|q| signature(q) != signature(udp[0])) {
            let mut sorted = udp.clone();
            sorted.sort_by(|a, b| a.t.partial_cmp(&b.t).unwrap_or(std::cmp::Ordering::Equal));
            let parts: Vec<String> = sorted
                .iter()
                .map(|q| format!("{} at {:.3} s", said(q), q.t))
                .collect();
            injection.push(format!(
                "The {} query for {host} got {} answers that disagree: {}.",
                g.qtype,
                udp.len(),
                parts.join("; ")
            ));
            for q in &udp {
                injected.extend(addrs_of(q));
            }
        }
        for q in g.answers().filter(|q| q.x_id_match == Some(true)) {
            if from_resolver(q) == Some(false) {
                injection.push(format!(
                    "An answer to the {} query for {host} came from {}, not from the resolver {}: {} at {:.3} s.",
                    g.qtype,
                    q.x_source_address.as_deref().unwrap_or("?"),
                    q.resolver_address,
                    said(q),
                    q.t
                ));
                injected.extend(addrs_of(q));
            }
        }
    }

    // Every address any answer carried (used or not), for bogons and fingerprints.
    let mut seen: Vec<IpAddr> = Vec::new();
    let mut names: Vec<String> = Vec::new();
    for g in &queries {
        for q in g.answers() {
            for a in addrs_of(q) {
                if !seen.contains(&a) {
                    seen.push(a);
                }
            }
            for n in q.answers.iter().filter_map(|a| a.hostname.as_deref()) {
                if !names.iter().any(|m| m == n) {
                    names.push(n.to_string());
                }
            }
        }
    }

    // Addresses at which TLS validated the name.
    let probe_vindicated: BTreeSet<IpAddr> = ix
        .obs
        .tls_handshakes
        .iter()
        .filter(|t| t.x_certificate_valid == Some(true) && same_host(&t.server_name, &host))
        .filter_map(|t| t.address.parse::<SocketAddr>().ok().map(|a| a.ip()))
        .collect();
    let mut vindicated = probe_vindicated.clone();
    let control_dns = ix.control_dns_for(&host);
    if let Some(c) = &ix.control {
        for ip in &seen {
            if c.tls_valid_at(*ip, &host) {
                vindicated.insert(*ip);
            }
        }
        if control_dns.is_some() {
            for (ip, info) in &c.answer.ip_info {
                if info.flags & crate::control::IP_FLAG_VALID_FOR_DOMAIN != 0 {
                    if let Ok(ip) = ip.parse() {
                        vindicated.insert(ip);
                    }
                }
            }
        }
    }
    let control_addrs: &[IpAddr] = match control_dns {
        Some(ControlDns::Resolved(a)) => a,
        _ => &[],
    };

    let bogons: Vec<IpAddr> = seen
        .iter()
        .copied()
        .filter(|ip| crate::bogon::is_bogon_except(*ip, ix.ctx.testbed_nets))
        .filter(|ip| !control_addrs.contains(ip) && !vindicated.contains(ip))
        .collect();

    let fingerprint = seen
        .iter()
        .filter(|ip| !control_addrs.contains(ip) && !vindicated.contains(ip))
        .map(|ip| ip.to_string())
        .chain(names.iter().cloned())
        .find_map(|v| {
            ix.ctx
                .fingerprints
                .match_dns(&v)
                .filter(|f| !f.is_own_host(&ix.host))
                .map(|f| (v, f))
        });

    let shares_with_control = shares(ix, &addrs, control_addrs);
    let state = match control_dns {
        _ if addrs.is_empty() => DnsState::Unchecked,
        None => {
            if addrs.iter().any(|a| vindicated.contains(a)) {
                DnsState::Consistent(Agreement::Tls)
            } else {
                DnsState::Unchecked
            }
        }
        Some(c) => {
            let tls = addrs.iter().any(|a| vindicated.contains(a));
            match c {
                ControlDns::Resolved(ctl) if addrs.iter().any(|a| ctl.contains(a)) => {
                    DnsState::Consistent(Agreement::SharedAddress)
                }
                ControlDns::Resolved(_) if shares_with_control => {
                    DnsState::Consistent(Agreement::SharedAsn)
                }
                _ if tls => DnsState::Consistent(Agreement::Tls),
                ControlDns::Resolved(_) => DnsState::Inconsistent,
                ControlDns::NoSuchName(f) => DnsState::Ghost(f.clone()),
                ControlDns::Failed(f) => DnsState::ControlFailed(f.clone()),
            }
        }
    };

    Lookup {
        host,
        depth,
        resolver,
        addrs,
        failure,
        injection,
        injected,
        bogons,
        fingerprint,
        vindicated,
        probe_vindicated,
        state,
        shares_with_control,
    }
}

/// A shared address, or a shared (non-zero) ASN in the control's `ip_info`.
fn shares(ix: &Index<'_>, addrs: &[IpAddr], control_addrs: &[IpAddr]) -> bool {
    if addrs.iter().any(|a| control_addrs.contains(a)) {
        return true;
    }
    let Some(c) = &ix.control else { return false };
    let asn = |ip: &IpAddr| {
        c.answer
            .ip_info
            .get(&ip.to_string())
            .map(|i| i.asn)
            .filter(|a| *a != 0)
    };
    let ours: BTreeSet<u32> = addrs.iter().filter_map(asn).collect();
    control_addrs
        .iter()
        .filter_map(asn)
        .any(|a| ours.contains(&a))
}

/// A reserved range's name, for reasons.
pub fn bogon_kind(ip: IpAddr) -> &'static str {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            match (a, b) {
                (127, _) => "loopback",
                (10, _) | (192, 168) => "private",
                (172, 16..=31) => "private",
                (100, 64..=127) => "shared (CGNAT)",
                (169, 254) => "link-local",
                (198, 18..=19) => "benchmarking",
                (0, _) => "\"this network\"",
                (224..=239, _) => "multicast",
                _ => "reserved",
            }
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            if v6.is_loopback() {
                "loopback"
            } else if v6.is_unspecified() {
                "unspecified"
            } else if s[0] & 0xfe00 == 0xfc00 {
                "unique-local"
            } else if s[0] & 0xffc0 == 0xfe80 {
                "link-local"
            } else if s[0] & 0xff00 == 0xff00 {
                "multicast"
            } else if v6.to_ipv4_mapped().is_some() {
                "IPv4-mapped"
            } else {
                "reserved"
            }
        }
    }
}
