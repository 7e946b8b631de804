//! The lookup as OONI's classic view reads it. OONI's web_connectivity (LTE) resolves the
//! URL's host with the system resolver, getaddrinfo, and writes that one lookup as one
//! `queries[]` entry: engine `getaddrinfo`, query type `ANY`, the A and AAAA addresses
//! together, getaddrinfo's failure, tags `classic` and `depth=N`. OONI's classic analysis
//! (`minipipeline.ClassicFilter`) keeps only such lookups and the endpoints whose addresses
//! they gave. vantage never calls getaddrinfo: it asks its resolver itself, over UDP (and TCP
//! for a truncated answer), and keeps one entry per datagram. This module adds, per lookup,
//! the entry getaddrinfo would have written for the answers vantage used, naming the entries
//! it merges (`x_merged`) and how they were obtained (`x_engine`): a documented deviation,
//! not a claim that getaddrinfo was called.
//!
//! The failure is the one getaddrinfo gives, as probe-cli's netxlite spells it: any address ->
//! success; otherwise any NXDOMAIN -> `dns_nxdomain_error` (EAI_NONAME); every query answered
//! without an address -> `dns_no_answer` (EAI_NODATA); every query unanswered ->
//! `generic_timeout_error` (the lookup's deadline); one same local failure (a socket error)
//! -> that failure; anything else (SERVFAIL, REFUSED, garbage, mixtures) ->
//! `dns_server_misbehaving` (EAI_AGAIN / EAI_FAIL, netxlite's default).

use serde::{Deserialize, Serialize};

use crate::failure::Failure;
use crate::observation::DnsQuery;

/// OONI's engine name for the system resolver's lookup.
pub const ENGINE: &str = "getaddrinfo";
/// The tag LTE puts on everything that derives from the system resolver.
pub const CLASSIC_TAG: &str = "classic";

/// One `queries[]` entry a merged lookup stands on: the answer (or failure) the probe used
/// for one query type.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MergedFrom {
    pub engine: String,
    pub query_type: String,
    pub x_query_id: u16,
    pub x_response_index: usize,
}

impl MergedFrom {
    /// Names the entry `q`.
    pub fn of(q: &DnsQuery) -> MergedFrom {
        MergedFrom {
            engine: q.engine.clone(),
            query_type: q.query_type.clone(),
            x_query_id: q.x_query_id,
            x_response_index: q.x_response_index,
        }
    }
    fn is(&self, q: &DnsQuery) -> bool {
        *self == MergedFrom::of(q)
    }
}

/// What marks a merged entry (absent on the per-datagram ones).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Merged {
    /// How vantage obtained the answers: `udp`, or `udp+tcp` when a truncated answer was
    /// asked again over TCP.
    pub x_engine: String,
    pub x_merged: Vec<MergedFrom>,
}

/// The entry getaddrinfo would have written for one lookup: `entries` are the lookup's stored
/// `queries[]` entries, `used` names the one the probe used for each query type (the first
/// usable answer, or the entry recording the query's failure). `None` when `used` is empty.
pub fn merged(entries: &[DnsQuery], used: &[MergedFrom]) -> Option<DnsQuery> {
    let first = entries.first()?;
    if used.is_empty() {
        return None;
    }
    let picked: Vec<&DnsQuery> = used
        .iter()
        .filter_map(|u| entries.iter().find(|q| u.is(q)))
        .collect();
    let mut m = first.clone();
    m.engine = ENGINE.into();
    m.query_type = "ANY".into();
    m.answers = ["A", "AAAA"]
        .iter()
        .flat_map(|t| {
            picked
                .iter()
                .flat_map(move |q| q.answers.iter().filter(move |a| a.answer_type == *t))
        })
        .cloned()
        .collect();
    m.failure = if m.answers.is_empty() {
        Some(failure(&picked, used.len()))
    } else {
        None
    };
    m.rcode = None;
    m.raw_response = None;
    m.t0 = picked.iter().map(|q| q.t0).fold(first.t0, f64::min);
    m.t = picked.iter().map(|q| q.t).fold(first.t0, f64::max);
    m.tags = std::iter::once(CLASSIC_TAG.to_string())
        .chain(
            first
                .tags
                .iter()
                .filter(|t| t.starts_with("depth="))
                .cloned(),
        )
        .collect();
    m.x_source_address = None;
    m.x_query_id = 0;
    m.x_id_match = None;
    m.x_question_match = None;
    m.x_response_index = 0;
    m.x_flags = None;
    m.x_decode_error = None;
    m.x_answers_dropped = picked.iter().map(|q| q.x_answers_dropped).sum();
    m.x_raw_bytes_dropped = 0;
    let tcp = picked.iter().any(|q| q.engine == "tcp");
    m.x_classic = Some(Merged {
        x_engine: if tcp { "udp+tcp" } else { "udp" }.into(),
        x_merged: used.to_vec(),
    });
    Some(m)
}

/// getaddrinfo's failure for a lookup without addresses (see the module doc). `expected` is
/// how many queries were sent; a used entry that was not stored counts as unanswered.
fn failure(picked: &[&DnsQuery], expected: usize) -> Failure {
    let mut failures: Vec<Failure> = picked
        .iter()
        .map(|q| q.failure.clone().unwrap_or(Failure::DnsNoAnswer))
        .collect();
    failures.resize(expected.max(failures.len()), Failure::Timeout);
    if failures.contains(&Failure::DnsNxdomain) {
        return Failure::DnsNxdomain;
    }
    let all = |f: &Failure| failures.iter().all(|x| x == f);
    if all(&Failure::DnsNoAnswer) {
        return Failure::DnsNoAnswer;
    }
    if all(&Failure::Timeout) {
        return Failure::Timeout;
    }
    let dns = |f: &Failure| {
        matches!(
            f,
            Failure::DnsNoAnswer
                | Failure::DnsRefused
                | Failure::DnsServfail
                | Failure::DnsServerMisbehaving
                | Failure::DnsWrongQueryId
                | Failure::Timeout
        )
    };
    match failures.first() {
        Some(f) if !dns(f) && all(f) => f.clone(),
        _ => Failure::DnsServerMisbehaving,
    }
}

/// The entry getaddrinfo writes for a URL whose host is an address (`http://127.0.0.1/`): LTE
/// calls it there too, and it answers the address itself without asking anyone. vantage asks
/// nothing either (`x_engine`: `literal`, nothing merged).
pub fn literal(ip: std::net::IpAddr, t: f64, depth_tag: &str, transaction_id: u64) -> DnsQuery {
    use crate::observation::DnsAnswer;
    let (answer_type, ipv4, ipv6) = match ip {
        std::net::IpAddr::V4(v4) => ("A", Some(v4.to_string()), None),
        std::net::IpAddr::V6(v6) => ("AAAA", None, Some(v6.to_string())),
    };
    DnsQuery {
        engine: ENGINE.into(),
        resolver_address: String::new(),
        hostname: ip.to_string(),
        query_type: "ANY".into(),
        failure: None,
        answers: vec![DnsAnswer {
            answer_type: answer_type.into(),
            ipv4,
            ipv6,
            hostname: None,
            ttl: 0,
        }],
        rcode: None,
        raw_response: None,
        t0: t,
        t,
        tags: vec![CLASSIC_TAG.into(), depth_tag.into()],
        transaction_id,
        x_source_address: None,
        x_query_id: 0,
        x_id_match: None,
        x_question_match: None,
        x_response_index: 0,
        x_flags: None,
        x_decode_error: None,
        x_answers_dropped: 0,
        x_raw_bytes_dropped: 0,
        x_classic: Some(Merged {
            x_engine: "literal".into(),
            x_merged: vec![],
        }),
    }
}

/// The entries OONI's LTE lists under `x_dns_duplicate_responses`: every datagram that
/// answered one of our queries after its first one (late answers and duplicates, the real
/// answer behind an injected one among them).
pub fn duplicates(queries: &[DnsQuery]) -> Vec<DnsQuery> {
    queries
        .iter()
        .filter(|q| q.x_classic.is_none() && q.x_id_match == Some(true) && q.x_response_index > 0)
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observation::DnsAnswer;

    fn entry(
        qtype: &str,
        id: u16,
        index: usize,
        failure: Option<Failure>,
        addrs: &[&str],
    ) -> DnsQuery {
        let mut q = DnsQuery::fixture();
        q.query_type = qtype.into();
        q.x_query_id = id;
        q.x_response_index = index;
        q.failure = failure;
        q.tags = vec!["depth=2".into()];
        q.raw_response = Some("AAAA".into());
        q.t0 = 0.01;
        q.t = 0.02 + index as f64;
        q.answers = addrs
            .iter()
            .map(|a| DnsAnswer {
                answer_type: if a.contains(':') { "AAAA" } else { "A" }.into(),
                ipv4: (!a.contains(':')).then(|| a.to_string()),
                ipv6: a.contains(':').then(|| a.to_string()),
                hostname: None,
                ttl: 60,
            })
            .collect();
        q
    }

    fn used(entries: &[DnsQuery]) -> Vec<MergedFrom> {
        entries.iter().map(MergedFrom::of).collect()
    }

    fn failure_of(a: Option<Failure>, aaaa: Option<Failure>) -> Option<Failure> {
        let e = [entry("A", 1, 0, a, &[]), entry("AAAA", 2, 0, aaaa, &[])];
        merged(&e, &used(&e)).unwrap().failure
    }

    #[test]
    fn the_merged_entry_has_lte_s_shape_and_names_what_it_merges() {
        let a = entry("A", 1, 0, None, &["127.0.0.9"]);
        let forged = entry("A", 1, 1, None, &["127.0.0.66"]);
        let aaaa = entry("AAAA", 2, 0, None, &["::9"]);
        let entries = [a.clone(), forged, aaaa.clone()];
        let m = merged(&entries, &used(&[a, aaaa])).unwrap();
        assert_eq!(
            (m.engine.as_str(), m.query_type.as_str()),
            ("getaddrinfo", "ANY")
        );
        assert_eq!(m.tags, ["classic", "depth=2"]);
        assert_eq!(m.failure, None);
        let addrs: Vec<String> = m.addresses().map(|a| a.to_string()).collect();
        assert_eq!(
            addrs,
            ["127.0.0.9", "::9"],
            "A then AAAA, the duplicate left out"
        );
        assert_eq!(
            (m.raw_response, m.rcode, m.x_source_address),
            (None, None, None)
        );
        assert_eq!(m.transaction_id, 1, "the lookup's transaction");
        let c = m.x_classic.unwrap();
        assert_eq!(c.x_engine, "udp");
        let named: Vec<(&str, u16, usize)> = (c.x_merged.iter())
            .map(|u| (u.query_type.as_str(), u.x_query_id, u.x_response_index))
            .collect();
        assert_eq!(named, [("A", 1, 0), ("AAAA", 2, 0)]);
        assert_eq!((m.t0, m.t), (0.01, 0.02));
    }

    #[test]
    fn addresses_from_either_query_are_a_success() {
        let e = [
            entry("A", 1, 0, Some(Failure::DnsNoAnswer), &[]),
            entry("AAAA", 2, 0, None, &["::9"]),
        ];
        assert_eq!(merged(&e, &used(&e)).unwrap().failure, None);
    }

    #[test]
    fn the_failure_is_the_one_getaddrinfo_gives() {
        use Failure::*;
        let cases = [
            (Some(DnsNxdomain), Some(DnsNxdomain), DnsNxdomain),
            (Some(DnsNxdomain), Some(DnsNoAnswer), DnsNxdomain),
            (Some(DnsNoAnswer), Some(DnsNoAnswer), DnsNoAnswer),
            (None, None, DnsNoAnswer),
            (Some(Timeout), Some(Timeout), Timeout),
            (Some(DnsServfail), Some(DnsServfail), DnsServerMisbehaving),
            (Some(DnsRefused), Some(Timeout), DnsServerMisbehaving),
            (Some(Timeout), Some(DnsNoAnswer), DnsServerMisbehaving),
            (
                Some(DnsServerMisbehaving),
                Some(DnsNoAnswer),
                DnsServerMisbehaving,
            ),
            (
                Some(NetworkUnreachable),
                Some(NetworkUnreachable),
                NetworkUnreachable,
            ),
            // A local failure is getaddrinfo's only when every query had it.
            (
                Some(NetworkUnreachable),
                Some(Timeout),
                DnsServerMisbehaving,
            ),
        ];
        for (a, aaaa, want) in cases {
            assert_eq!(
                failure_of(a.clone(), aaaa.clone()),
                Some(want.clone()),
                "{a:?} {aaaa:?}"
            );
        }
    }

    #[test]
    fn a_used_entry_that_was_not_stored_counts_as_unanswered() {
        let e = [entry("A", 1, 0, Some(Failure::Timeout), &[])];
        let mut u = used(&e);
        u.push(MergedFrom {
            engine: "udp".into(),
            query_type: "AAAA".into(),
            x_query_id: 9,
            x_response_index: 0,
        });
        assert_eq!(merged(&e, &u).unwrap().failure, Some(Failure::Timeout));
        assert_eq!(merged(&e, &[]), None);
    }

    #[test]
    fn a_tcp_answer_says_so_in_x_engine() {
        let mut tcp = entry("A", 1, 0, None, &["127.0.0.9"]);
        tcp.engine = "tcp".into();
        let aaaa = entry("AAAA", 2, 0, Some(Failure::DnsNoAnswer), &[]);
        let e = [tcp, aaaa];
        let m = merged(&e, &used(&e)).unwrap();
        assert_eq!(m.x_classic.unwrap().x_engine, "udp+tcp");
    }

    #[test]
    fn an_address_host_gets_getaddrinfo_s_answer_to_itself() {
        let q = literal("::1".parse().unwrap(), 0.5, "depth=0", 1);
        assert_eq!(
            (
                q.engine.as_str(),
                q.query_type.as_str(),
                q.hostname.as_str()
            ),
            ("getaddrinfo", "ANY", "::1")
        );
        let addrs: Vec<String> = q.addresses().map(|a| a.to_string()).collect();
        assert_eq!(addrs, ["::1"]);
        assert_eq!(q.tags, ["classic", "depth=0"]);
        assert_eq!(q.x_classic.unwrap().x_engine, "literal");
    }

    #[test]
    fn duplicates_are_the_later_answers_to_our_queries() {
        let mut wrong_id = entry("A", 7, 1, None, &["127.0.0.66"]);
        wrong_id.x_id_match = Some(false);
        let e = [
            entry("A", 1, 0, None, &["127.0.0.66"]),
            entry("A", 1, 1, None, &["127.0.0.9"]),
            entry("AAAA", 2, 0, None, &[]),
            wrong_id,
        ];
        let d = duplicates(&e);
        assert_eq!(d.len(), 1);
        assert_eq!((d[0].x_query_id, d[0].x_response_index), (1, 1));
    }
}
