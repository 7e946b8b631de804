//! DNS evidence, one `Lookup` per host of the chain: the answers the probe used, duplicate
//! answers that disagree (injection), reserved addresses (bogons), known forged answers
//! (fingerprints), consistency with the control, and what stands for or against each address
//! (`Standing`).
//!
//! `queries[]` holds one entry per datagram. For each query (type and id) the answer used is
//! the TCP retry's when the UDP answer was truncated, else the first datagram that carries the
//! id and question and comes from the resolver; a query with no such datagram has one entry with
//! its failure. An AAAA query with no records (`dns_no_answer`) is normal and never evidence.
//!
//! Two answers to one query (UDP datagrams, or a UDP datagram and the TCP retry's answer) are an
//! injection only when their address sets are disjoint and one of them is neither the control's
//! nor validated by TLS: a subset, a superset, another order,
//! or two sets of the site's own addresses are a resolver's ordinary behaviour. An answer from
//! another source address than the resolver's is noted, never evidence by itself (multi-homed
//! resolvers answer from another address).

use std::collections::{BTreeMap, BTreeSet};
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
    /// A shared address, or an address in one of the control's ASNs.
    Shared,
    /// Other addresses than the control's, but TLS validated the name at one of them.
    Tls,
}

/// What the evidence says about one address of a lookup.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Standing {
    /// The site's as far as the evidence goes: shared with the control, validated by TLS, in a
    /// consistent lookup, or not checkable (no control answer for the host).
    Genuine,
    /// Not the site's: a bogon, a known forged answer, an injected answer, or an address whose
    /// certificate is not valid for the name where the control's is.
    Forged,
    /// Another address than the control's with nothing for or against it (a CDN's or GeoDNS
    /// answer cannot be told from a forged one).
    Unverified,
    /// An answer for a name the control finds does not exist (a resolver rewriting NXDOMAIN).
    Ghost,
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
    /// Addresses carried by injected answers (disjoint from another answer, not the site's).
    pub injected: BTreeSet<IpAddr>,
    /// Answers from another address than the resolver's: noted, not evidence by themselves.
    pub foreign: Vec<String>,
    /// Reserved addresses among the answers (outside testbeds, not the control's, not vindicated).
    pub bogons: Vec<IpAddr>,
    /// A known forged answer (the value that matched) and its fingerprint.
    pub fingerprint: Option<(String, &'a Fingerprint)>,
    /// Addresses at which TLS validated the name (the probe's handshakes, the control's).
    pub vindicated: BTreeSet<IpAddr>,
    /// Addresses at which the probe's own TLS validated the name (OONI's classic extension).
    pub probe_vindicated: BTreeSet<IpAddr>,
    /// Addresses that are not the site's, and why: a certificate not valid for the name where
    /// the control's is, or no connection from either side where the control's own addresses
    /// work (`dead_ends`).
    pub contradicted: BTreeMap<IpAddr, String>,
    /// The control's addresses for this host (empty when it has none for it).
    pub control_addrs: Vec<IpAddr>,
    pub state: DnsState,
    /// Whether the lookup's addresses share an address or an ASN with the control's.
    pub shares_with_control: bool,
}

impl Lookup<'_> {
    fn fingerprinted(&self, ip: IpAddr) -> bool {
        self.fingerprint
            .as_ref()
            .is_some_and(|(v, _)| v.parse::<IpAddr>().ok() == Some(ip))
    }

    /// What the evidence says about `ip` as an address of this host.
    pub fn standing(&self, ip: IpAddr) -> Standing {
        if self.vindicated.contains(&ip) || self.control_addrs.contains(&ip) {
            return Standing::Genuine;
        }
        if self.bogons.contains(&ip) || self.fingerprinted(ip) || self.injected.contains(&ip) {
            return Standing::Forged;
        }
        match self.state {
            DnsState::Inconsistent if self.contradicted.contains_key(&ip) => Standing::Forged,
            DnsState::Inconsistent => Standing::Unverified,
            DnsState::Ghost(_) => Standing::Ghost,
            _ => Standing::Genuine,
        }
    }

    /// Whether bogons and known forged answers (named by their own methods) account for all
    /// the addresses.
    pub fn explained(&self) -> bool {
        self.addrs
            .iter()
            .all(|a| self.bogons.contains(a) || self.fingerprinted(*a))
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
    /// Datagrams that are answers to this query: our question, decoded (a decoded datagram
    /// has an rcode, which a record keeps when its raw bytes are shed; garbage and the entry of
    /// a query nothing answered have none). Wrong-id datagrams are not in any query's group.
    fn answers(&self) -> impl Iterator<Item = &'a DnsQuery> + '_ {
        self.entries
            .iter()
            .copied()
            .filter(|q| q.x_question_match != Some(false) && q.rcode.is_some())
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
    // A before AAAA, as the probe combines them (it asks nothing else).
    queries.sort_by_key(|g| g.qtype != "A");

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
                .or(failures.first())
                .map(|(_, f)| f.clone())
                .unwrap_or(Failure::DnsNoAnswer),
        )
    } else {
        None
    };

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

    // Addresses at which TLS validated the name: the probe's handshakes, and the control's
    // (its own, and its checks of the probe's addresses, whatever the URL's scheme).
    let probe_vindicated: BTreeSet<IpAddr> = ix
        .obs
        .tls_handshakes
        .iter()
        .filter(|t| t.x_certificate_valid == Some(true) && same_host(&t.server_name, &host))
        .filter_map(|t| t.address.parse::<SocketAddr>().ok().map(|a| a.ip()))
        .collect();
    let mut vindicated = probe_vindicated.clone();
    let input_host = same_host(&host, &ix.host);
    if let Some(c) = &ix.control {
        vindicated.extend(seen.iter().filter(|ip| c.valid_at(**ip, &host, input_host)));
    }
    let control_addrs = ix.control_addrs(&host).to_vec();
    let the_sites = |a: &IpAddr| control_addrs.contains(a) || vindicated.contains(a);

    let (injection, injected, foreign) = injections(&host, &queries, &the_sites);

    let bogons: Vec<IpAddr> = seen
        .iter()
        .copied()
        .filter(|ip| ix.is_bogon(*ip) && !the_sites(ip))
        .collect();

    let cc = ix.ctx.probe_cc;
    let fingerprint = seen
        .iter()
        .filter(|ip| !the_sites(ip))
        .map(|ip| ip.to_string())
        .chain(names.iter().cloned())
        .find_map(|v| {
            ix.ctx
                .fingerprints
                .match_dns(&v, cc)
                .filter(|f| !f.is_own_host(&ix.host))
                .map(|f| (v, f))
        });

    // Addresses whose certificate is not valid for the name, where the control's is valid.
    let mut contradicted = BTreeMap::new();
    if let Some(c) = ix.control.as_ref().filter(|c| c.validates(&host)) {
        for ip in seen.iter().filter(|ip| !the_sites(ip)) {
            let probe = ix.obs.tls_handshakes.iter().find(|t| {
                t.x_certificate_valid == Some(false)
                    && same_host(&t.server_name, &host)
                    && t.address.parse::<SocketAddr>().is_ok_and(|a| a.ip() == *ip)
            });
            let why = match probe {
                Some(t) => format!(
                    "the probe's TLS handshake with {} got a certificate not valid for {host} ({})",
                    t.address,
                    t.failure
                        .as_ref()
                        .map_or("invalid".to_string(), |f| f.to_string())
                ),
                None if c.invalid_at(*ip, &host) => format!(
                    "the control's TLS handshake with {ip} got a certificate not valid for {host}"
                ),
                None => continue,
            };
            contradicted.insert(*ip, why);
        }
    }

    // Addresses that lead nowhere, from the probe or the control, while the control's own work.
    for (ip, why) in super::dead_ends::dead_ends(ix, &addrs, &control_addrs) {
        if !the_sites(&ip) {
            contradicted.entry(ip).or_insert(why);
        }
    }

    let shares_with_control = shares(ix, &addrs, &control_addrs);
    let tls = addrs.iter().any(|a| vindicated.contains(a));
    let state = match ix.control_dns_for(&host) {
        // Without the control's answer for the host there is nothing to agree with (TLS
        // still makes its addresses the site's: `vindicated`).
        _ if addrs.is_empty() => DnsState::Unchecked,
        None => DnsState::Unchecked,
        Some(ControlDns::Resolved(_)) if shares_with_control => {
            DnsState::Consistent(Agreement::Shared)
        }
        Some(_) if tls => DnsState::Consistent(Agreement::Tls),
        Some(ControlDns::Resolved(_)) => DnsState::Inconsistent,
        Some(ControlDns::NoSuchName(f)) => DnsState::Ghost(f.clone()),
        Some(ControlDns::Failed(f)) => DnsState::ControlFailed(f.clone()),
    };

    Lookup {
        host,
        depth,
        resolver,
        addrs,
        failure,
        injection,
        injected,
        foreign,
        bogons,
        fingerprint,
        vindicated,
        probe_vindicated,
        contradicted,
        control_addrs,
        state,
        shares_with_control,
    }
}

/// Injections: two answers to one query whose address sets are disjoint, one of them not the
/// site's (`the_sites`: the control's or validated by TLS). Returns the sentences, the injected
/// addresses, and notes on answers from another source than the resolver.
fn injections(
    host: &str,
    queries: &[Query<'_>],
    the_sites: &dyn Fn(&IpAddr) -> bool,
) -> (Vec<String>, BTreeSet<IpAddr>, Vec<String>) {
    let mut injection = Vec::new();
    let mut injected = BTreeSet::new();
    let mut foreign = Vec::new();
    for g in queries {
        // Every whole answer with our id: the UDP datagrams and the TCP retry's (the resolver's
        // whole answer); a truncated one is partial and compared with nothing.
        let mut whole: Vec<&DnsQuery> = g
            .answers()
            .filter(|q| q.x_id_match == Some(true))
            .filter(|q| !q.x_flags.as_ref().is_some_and(|f| f.tc))
            .collect();
        whole.sort_by(|a, b| a.t.partial_cmp(&b.t).unwrap_or(std::cmp::Ordering::Equal));
        let sets: Vec<BTreeSet<IpAddr>> = whole
            .iter()
            .map(|q| addrs_of(q).into_iter().collect())
            .collect();
        let foreign_set = |s: &BTreeSet<IpAddr>| !s.iter().any(the_sites);
        let mut found = false;
        // Every pair, both ways (a set is never disjoint from itself: never empty here).
        for a in &sets {
            for b in &sets {
                let disjoint = !a.is_empty() && !b.is_empty() && a.is_disjoint(b);
                if disjoint && (foreign_set(a) || foreign_set(b)) {
                    found = true;
                    for s in [a, b].into_iter().filter(|s| foreign_set(s)) {
                        injected.extend(s.iter().copied());
                    }
                }
            }
        }
        if found {
            let parts: Vec<String> = whole
                .iter()
                .map(|q| format!("{} at {:.3} s", said(q), q.t))
                .collect();
            injection.push(format!(
                "The {} query for {host} got {} answers that disagree: {}.",
                g.qtype,
                whole.len(),
                parts.join("; ")
            ));
        }
        for q in g.answers().filter(|q| q.x_id_match == Some(true)) {
            if from_resolver(q) == Some(false) {
                foreign.push(format!(
                    "An answer to the {} query for {host} came from {}, not from the resolver {} ({} at {:.3} s); a resolver may answer from another of its addresses, so this alone is no evidence.",
                    g.qtype,
                    q.x_source_address.as_deref().unwrap_or("?"),
                    q.resolver_address,
                    said(q),
                    q.t
                ));
            }
        }
    }
    (injection, injected, foreign)
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
