//! One row per verdict rule that mutation testing (cargo-mutants, `bench/mutants.sh`) found no
//! row for: each fails when its rule changes, most of them by the reason they must give. Grouped
//! by the code that holds the rule.

use super::*;

/// A bogon the probe's resolver answered (no fingerprint names it).
const BOGON: &str = "10.1.2.3";
/// A known GFW answer (a `[[dns]]` fingerprint).
const GFW: &str = "8.7.198.45";

/// Which addresses the DNS evidence calls the site's (`dns::Lookup::standing`): a failure at an
/// address it calls forged is the DNS method's doing; one at the control's address is the site's.
#[test]
fn standing_of_an_address() {
    use Status::*;
    check(vec![
        row(
            "a bogon answer whose connection times out: the bogon explains the failure",
            HTTP,
            obs()
                .resolve(HOST, 0, &[BOGON])
                .connect("10.1.2.3:80", 0, Some(Failure::Timeout)),
            Some(site_ctl()),
        )
        .ooni(Some("inconsistent"), b("dns"), Some(false))
        .verdict(Blocked, &["dns.bogon"])
        .says("10.1.2.3 is not the site's address as far as the DNS evidence goes"),
        row(
            "a bogon answer whose connection times out, without a control",
            HTTP,
            obs()
                .resolve(HOST, 0, &[BOGON])
                .connect("10.1.2.3:80", 0, Some(Failure::Timeout)),
            None,
        )
        .verdict(Blocked, &["dns.bogon"])
        .says("10.1.2.3 is not the site's address as far as the DNS evidence goes"),
        row(
            "a known forged answer whose connection times out (the control never tried it)",
            HTTP,
            obs()
                .resolve(HOST, 0, &[GFW])
                .connect("8.7.198.45:80", 0, Some(Failure::Timeout)),
            Some(site_ctl()),
        )
        .ooni(Some("inconsistent"), b("dns"), Some(false))
        .verdict(Blocked, &["dns.forged"])
        .says("8.7.198.45 is not the site's address as far as the DNS evidence goes")
        .never_says("TLS does not vindicate them, and"),
        row(
            "an injected answer wins the race and its connection times out (the control never tried it)",
            HTTP,
            obs()
                .datagram(datagram(HOST, "A", 1, 0, 0.001, &[OTHER]))
                .datagram(datagram(HOST, "A", 1, 1, 0.101, &[SITE]))
                .datagram(datagram(HOST, "AAAA", 2, 0, 0.1, &[]))
                .connect("31.13.94.37:80", 0, Some(Failure::Timeout)),
            Some(site_ctl()),
        )
        .ooni(Some("inconsistent"), b("dns"), Some(false))
        .verdict(Blocked, &["dns.injection", "dns.forged"])
        .says("31.13.94.37 is not the site's address as far as the DNS evidence goes"),
        row(
            "the probe's resolver answered another address, but the page came from the control's address and differs",
            HTTP,
            obs()
                .resolve(HOST, 0, &[OTHER])
                .connect("93.184.215.14:80", 0, None)
                .get(HTTP, "93.184.215.14:80", 0, &plain(200, "Something else", "<html><title>Something else</title>Another page.</html>")),
            Some(site_ctl()),
        )
        .ooni(Some("inconsistent"), Value::Bool(false), Some(true))
        .verdict(Blocked, &["http.diff"]),
        row(
            "a CDN's answer without evidence either way, the GET there times out: not blamed, not forged",
            HTTP,
            obs()
                .resolve(HOST, 0, &[CDN])
                .connect("151.101.1.67:80", 0, None)
                .get_fails(HTTP, "151.101.1.67:80", 0, Failure::Timeout),
            Some(site_ctl()),
        )
        .ooni(Some("inconsistent"), b("dns"), Some(false))
        .verdict(Unknown, &[])
        .says("151.101.1.67 is not among the control's addresses for www.example.com and nothing ties it to the site or against it")
        .never_says("is not the site's address as far as the DNS evidence goes"),
        row(
            "an answer whose certificate is for another name, the GET there is reset: the DNS method's doing",
            HTTP,
            obs()
                .resolve(HOST, 0, &[OTHER])
                .connect("31.13.94.37:80", 0, None)
                .get_fails(HTTP, "31.13.94.37:80", 0, Failure::ConnectionReset),
            Some(site_ctl().tls_fails("31.13.94.37:443", HOST, "ssl_invalid_hostname")),
        )
        .ooni(Some("inconsistent"), b("dns"), Some(false))
        .verdict(Blocked, &["dns.forged"])
        .says("31.13.94.37 is not the site's address as far as the DNS evidence goes"),
    ]);
}

/// Addresses that lead nowhere (`dead_ends`) are judged by failures that say whose address it
/// is: "no route" from the probe's network says nothing of the kind.
#[test]
fn dead_ends_need_a_failure_that_names_the_address() {
    use Status::*;
    check(vec![row(
        "the probe has no route to its answer, the control cannot connect to it either",
        HTTP,
        obs().resolve(HOST, 0, &[OTHER]).connect(
            "31.13.94.37:80",
            0,
            Some(Failure::HostUnreachable),
        ),
        Some(site_ctl().connect_fails("31.13.94.37:80", "generic_timeout_error")),
    )
    .ooni(Some("inconsistent"), b("dns"), Some(false))
    .verdict(Unknown, &[])
    .says("unreachable from the probe's network")
    .never_says("neither the probe nor the control")]);
}

/// Another address of the site's, which the control used where the probe's failed.
const SITE_B: &str = "93.184.215.15";

/// The control resolves both addresses, fails at the probe's, fetches the page through the other.
fn ctl_elsewhere() -> Ctl {
    ctl()
        .resolves(&[SITE, SITE_B])
        .connects("93.184.215.15:80")
        .connects("93.184.215.15:443")
        .tls_ok("93.184.215.15:443", HOST)
        .fetched(&real())
}

/// A TLS handshake with the site's address that broke on a certificate failure before it
/// completed (the probe saw no whole chain).
fn broken_handshake(f: Failure) -> Obs {
    let mut o = obs()
        .resolve(HOST, 0, &[SITE])
        .connect("93.184.215.14:443", 0, None)
        .handshake("93.184.215.14:443", HOST, 0, Some(f));
    let h = o.0.tls_handshakes.last_mut().unwrap();
    h.x_handshake_completed = false;
    h.x_certificate_valid = None;
    h.x_chain.clear();
    o
}

/// www.example.com redirects to https://other.example.net/, where the control's fetch never went
/// (it ended on the input's URL).
fn to_other_host() -> Obs {
    obs()
        .resolve(HOST, 0, &[SITE])
        .connect("93.184.215.14:80", 0, None)
        .get(
            HTTP,
            "93.184.215.14:80",
            0,
            &redirect(302, "https://other.example.net/"),
        )
        .resolve("other.example.net", 1, &[CDN])
        .connect("151.101.1.67:443", 1, None)
}

/// Connects, handshakes and round trips that failed (`verdict::steps`).
#[test]
fn steps_that_failed() {
    use Status::*;
    check(vec![
        row(
            "the connect fails where the control's connect to that address fails too, but the control fetched the page through another",
            HTTP,
            obs()
                .resolve(HOST, 0, &[SITE])
                .connect("93.184.215.14:80", 0, Some(Failure::Timeout)),
            Some(ctl_elsewhere().connect_fails("93.184.215.14:80", "generic_timeout_error")),
        )
        .ooni(Some("consistent"), Value::Bool(false), Some(false))
        .verdict(Unknown, &[])
        .says("the control's attempt failed too (generic_timeout_error), though it fetched the page elsewhere"),
        row(
            "the connect fails where the control's fails too, and the control's fetch failed",
            HTTP,
            obs()
                .resolve(HOST, 0, &[SITE])
                .connect("93.184.215.14:80", 0, Some(Failure::Timeout)),
            Some(
                ctl()
                    .resolves(&[SITE])
                    .connect_fails("93.184.215.14:80", "generic_timeout_error")
                    .fetch_fails("generic_timeout_error"),
            ),
        )
        .ooni(Some("consistent"), Value::Bool(false), Some(false))
        .verdict(Down, &[])
        .says("the control's attempt failed too (generic_timeout_error).")
        .never_says("the control's fetch failed too"),
        row(
            "a certificate that does not validate where the control's handshake at that address fails too, the control fetched elsewhere",
            HTTPS,
            obs()
                .resolve(HOST, 0, &[SITE])
                .connect("93.184.215.14:443", 0, None)
                .handshake("93.184.215.14:443", HOST, 0, Some(Failure::SslUnknownAuthority)),
            Some(ctl_elsewhere().connects("93.184.215.14:443").tls_fails(
                "93.184.215.14:443",
                HOST,
                "ssl_unknown_authority",
            )),
        )
        .ooni(Some("consistent"), Value::Bool(false), Some(false))
        .verdict(Unknown, &[])
        .says("the control's handshake with 93.184.215.14:443 fails too (ssl_unknown_authority), though it fetched the page elsewhere"),
        row(
            "a certificate that does not validate for the control either, whose fetch failed: broken for everyone",
            HTTPS,
            obs()
                .resolve(HOST, 0, &[SITE])
                .connect("93.184.215.14:443", 0, None)
                .handshake("93.184.215.14:443", HOST, 0, Some(Failure::SslUnknownAuthority)),
            Some(
                ctl()
                    .resolves(&[SITE])
                    .connects("93.184.215.14:443")
                    .tls_fails("93.184.215.14:443", HOST, "ssl_unknown_authority")
                    .fetch_fails("ssl_unknown_authority"),
            ),
        )
        .ooni(Some("consistent"), Value::Bool(false), Some(false))
        .verdict(Down, &[])
        .says("the site's certificate is broken for everyone"),
        row(
            "a certificate that does not validate at an address of the site's the control did not try, where it fetched the page over TLS",
            HTTPS,
            obs()
                .resolve(HOST, 0, &[SITE])
                .connect("93.184.215.14:443", 0, None)
                .handshake("93.184.215.14:443", HOST, 0, Some(Failure::SslUnknownAuthority)),
            Some(ctl_elsewhere()),
        )
        .ooni(Some("consistent"), b("http-failure"), Some(false))
        .verdict(Blocked, &["tls.mitm"])
        .says("where the control fetched the page over validated TLS"),
        row(
            "a certificate for another name at a redirect host the control never went to",
            HTTP,
            to_other_host().handshake(
                "151.101.1.67:443",
                "other.example.net",
                1,
                Some(Failure::SslInvalidHostname),
            ),
            Some(site_ctl().final_url(HTTP)),
        )
        .ooni(Some("consistent"), b("http-failure"), Some(false))
        .verdict(Unknown, &[])
        .says("the control's fetch never went to other.example.net"),
        row(
            "a handshake reset at a redirect host the control never went to",
            HTTP,
            to_other_host().handshake(
                "151.101.1.67:443",
                "other.example.net",
                1,
                Some(Failure::ConnectionReset),
            ),
            Some(site_ctl().final_url(HTTP)),
        )
        .ooni(Some("consistent"), b("http-failure"), Some(false))
        .verdict(Unknown, &[])
        .says("the control's fetch never went to other.example.net"),
        row(
            "a certificate failure that broke the handshake before it completed, the control's validated",
            HTTPS,
            broken_handshake(Failure::SslUnknownAuthority),
            Some(site_ctl()),
        )
        .ooni(Some("consistent"), b("http-failure"), Some(false))
        .verdict(Unknown, &[])
        .says("where the control completed it; this failure names no blocking method"),
        row(
            "a handshake broken on a certificate for another name before it completed, without a control",
            HTTPS,
            broken_handshake(Failure::SslInvalidHostname),
            None,
        )
        .verdict(Unknown, &[]),
        row(
            "a failure the control shares (down) and a deadline that cut the measurement short (unknown): unknown",
            HTTP,
            obs()
                .resolve(HOST, 0, &[SITE])
                .connect("93.184.215.14:80", 0, Some(Failure::Timeout))
                .deadline(),
            Some(
                ctl()
                    .resolves(&[SITE])
                    .connect_fails("93.184.215.14:80", "generic_timeout_error")
                    .fetch_fails("generic_timeout_error"),
            ),
        )
        .ooni(Some("consistent"), Value::Bool(false), Some(false))
        .verdict(Unknown, &[])
        .says("The per-target deadline cut the measurement short."),
        row(
            "the site has only an IPv6 address and the probe's network has no IPv6 route",
            HTTP,
            obs()
                .resolve(HOST, 0, &[SITE6])
                .connect(&format!("[{SITE6}]:80"), 0, Some(Failure::NetworkUnreachable)),
            Some(
                ctl()
                    .resolves(&[SITE6])
                    .connects(&format!("[{SITE6}]:80"))
                    .fetched(&real()),
            ),
        )
        .ooni(Some("consistent"), Value::Null, None)
        .verdict(Unknown, &[])
        .says("Every address of www.example.com is IPv6 and the probe's network cannot reach IPv6."),
        row(
            "IPv6 unreachable, the IPv4 address times out where the control connected: the IPv4 failure is the evidence",
            HTTP,
            obs()
                .resolve(HOST, 0, &[SITE, SITE6])
                .connect(&format!("[{SITE6}]:80"), 0, Some(Failure::NetworkUnreachable))
                .connect("93.184.215.14:80", 0, Some(Failure::Timeout)),
            Some(site_ctl().resolves(&[SITE, SITE6])),
        )
        .ooni(Some("consistent"), b("tcp_ip"), Some(false))
        .verdict(Blocked, &["tcp.timeout"])
        .never_says("Every address"),
        row(
            "a redirect that cannot be followed, where the control's fetch failed too",
            HTTP,
            {
                let mut o = obs()
                    .resolve(HOST, 0, &[SITE])
                    .connect("93.184.215.14:80", 0, None)
                    .get(HTTP, "93.184.215.14:80", 0, &redirect(302, "http://[::1"));
                o.0.requests[0].failure = Some(Failure::Unknown("bad Location".into()));
                o
            },
            Some(
                ctl()
                    .resolves(&[SITE])
                    .connects("93.184.215.14:80")
                    .fetch_fails("generic_timeout_error"),
            ),
        )
        .ooni(Some("consistent"), Value::Bool(false), Some(false))
        .verdict(Down, &[])
        .says("could not be followed (unknown_failure: bad Location); the control's fetch failed too"),
    ]);
}

/// Lookups that failed (`verdict::Judge::dns_failure`).
#[test]
fn lookups_that_failed() {
    use Status::*;
    check(vec![
        row(
            "the lookup fails with host_unreachable (the probe's own network) while the control resolves",
            HTTP,
            obs().dns_fails(HOST, 0, Failure::HostUnreachable),
            Some(site_ctl()),
        )
        .ooni(Some("inconsistent"), b("dns"), Some(false))
        .verdict(Unknown, &[])
        .says("the probe's own network or setup failed"),
        row(
            "the lookup fails with an unknown failure while the control resolves",
            HTTP,
            obs().dns_fails(HOST, 0, Failure::Unknown("socket: permission denied".into())),
            Some(site_ctl()),
        )
        .ooni(Some("inconsistent"), b("dns"), Some(false))
        .verdict(Unknown, &[])
        .says("the probe's own network or setup failed"),
        row(
            "a redirect host whose lookup fails, where the control's fetch never went",
            HTTP,
            obs()
                .resolve(HOST, 0, &[SITE])
                .connect("93.184.215.14:80", 0, None)
                .get(HTTP, "93.184.215.14:80", 0, &redirect(302, "http://other.example.net/"))
                .dns_fails("other.example.net", 1, Failure::DnsNxdomain),
            Some(site_ctl().final_url(HTTP)),
        )
        .ooni(Some("consistent"), b("dns"), Some(false))
        .verdict(Unknown, &[])
        .says("the control's fetch never went to other.example.net, so it says nothing about that host"),
        row(
            "a redirect host whose lookup fails, where the control's fetch went on through it",
            HTTP,
            obs()
                .resolve(HOST, 0, &[SITE])
                .connect("93.184.215.14:80", 0, None)
                .get(HTTP, "93.184.215.14:80", 0, &redirect(302, "http://other.example.net/"))
                .dns_fails("other.example.net", 1, Failure::DnsNxdomain),
            Some(site_ctl().final_url("http://other.example.net/")),
        )
        .ooni(Some("consistent"), b("dns"), Some(false))
        .verdict(Blocked, &["dns.nxdomain"])
        .says("while the control fetched the page through the same redirects"),
    ]);
}

/// Garbage with our id (the probe could not decode it: no rcode).
fn garbage(index: usize, t: f64) -> crate::observation::DnsQuery {
    let mut g = datagram(HOST, "A", 1, index, t, &[]);
    g.failure = Some(Failure::DnsServerMisbehaving);
    g.x_decode_error = Some("unexpected end of input".into());
    g.rcode = None;
    g
}

/// An answer with the site's address from `source` first, then the resolver's NXDOMAIN: the
/// probe used the resolver's (it takes answers from the resolver's address only).
fn foreign_first(source: &str) -> Obs {
    let nx = |qtype: &str, id: u16| {
        let mut q = datagram(HOST, qtype, id, 1, 0.02, &[]);
        q.failure = Some(Failure::DnsNxdomain);
        q.rcode = Some(3);
        q
    };
    obs()
        .datagram({
            let mut d = datagram(HOST, "A", 1, 0, 0.001, &[SITE]);
            d.x_source_address = Some(source.into());
            d
        })
        .datagram(nx("A", 1))
        .datagram(nx("AAAA", 2))
}

/// Which datagrams are answers, which answer the probe used (`dns::Query`).
#[test]
fn datagrams_and_answers() {
    use Status::*;
    check(vec![
        row(
            "a datagram with our id but another question, first, carrying another address: not an answer",
            HTTP,
            obs()
                .datagram({
                    let mut q = datagram(HOST, "A", 1, 0, 0.001, &[OTHER]);
                    q.x_question_match = Some(false);
                    q
                })
                .datagram(datagram(HOST, "A", 1, 1, 0.02, &[SITE]))
                .datagram(datagram(HOST, "AAAA", 2, 0, 0.02, &[]))
                .connect("93.184.215.14:80", 0, None)
                .get(HTTP, "93.184.215.14:80", 0, &real()),
            Some(site_ctl()),
        )
        .ooni(Some("consistent"), Value::Bool(false), Some(true))
        .verdict(Accessible, &[]),
        row(
            "garbage with our id first, the resolver's answer after it: the answer is used",
            HTTP,
            obs()
                .datagram(garbage(0, 0.001))
                .datagram(datagram(HOST, "A", 1, 1, 0.02, &[SITE]))
                .datagram(datagram(HOST, "AAAA", 2, 0, 0.02, &[]))
                .connect("93.184.215.14:80", 0, None)
                .get(HTTP, "93.184.215.14:80", 0, &real()),
            Some(site_ctl()),
        )
        .ooni(Some("consistent"), Value::Bool(false), Some(true))
        .verdict(Accessible, &[]),
        row(
            "a record whose raw DNS bytes were shed: the first answer (NXDOMAIN) still counts",
            HTTP,
            obs()
                .datagram({
                    let mut q = datagram(HOST, "A", 1, 0, 0.01, &[]);
                    q.failure = Some(Failure::DnsNxdomain);
                    q.rcode = Some(3);
                    q.raw_response = None;
                    q
                })
                .datagram(datagram(HOST, "A", 1, 1, 0.05, &[SITE]))
                .datagram({
                    let mut q = datagram(HOST, "AAAA", 2, 0, 0.01, &[]);
                    q.failure = Some(Failure::DnsNxdomain);
                    q.rcode = Some(3);
                    q.raw_response = None;
                    q
                }),
            Some(site_ctl()),
        )
        .ooni(Some("inconsistent"), b("dns"), Some(false))
        .verdict(Blocked, &["dns.nxdomain"]),
        row(
            "the site's address from another source first, then the resolver's NXDOMAIN: the resolver's answer is the one used",
            HTTP,
            foreign_first("8.8.4.4:53"),
            Some(site_ctl()),
        )
        .ooni(Some("inconsistent"), b("dns"), Some(false))
        .verdict(Blocked, &["dns.nxdomain"])
        .says("came from 8.8.4.4:53, not from the resolver 8.8.8.8:53 (93.184.215.14 at 0.001 s)"),
        row(
            "an NXDOMAIN from another source first, then the resolver's answer: the note says what it said",
            HTTP,
            http_ok().datagram({
                let mut d = datagram(HOST, "A", 1, 1, 0.001, &[]);
                d.failure = Some(Failure::DnsNxdomain);
                d.rcode = Some(3);
                d.x_source_address = Some("8.8.4.4:53".into());
                d
            }),
            Some(site_ctl()),
        )
        .ooni(Some("consistent"), Value::Bool(false), Some(true))
        .verdict(Accessible, &[])
        .says("came from 8.8.4.4:53, not from the resolver 8.8.8.8:53 (dns_nxdomain_error at 0.001 s)"),
        row(
            "the same, the first answer from the resolver's address but another port",
            HTTP,
            foreign_first("8.8.8.8:5353"),
            Some(site_ctl()),
        )
        .ooni(Some("inconsistent"), b("dns"), Some(false))
        .verdict(Blocked, &["dns.nxdomain"])
        .says("came from 8.8.8.8:5353, not from the resolver 8.8.8.8:53"),
        row(
            "a retry with a fresh id and the first query's late answer differ: two queries, no injection",
            HTTP,
            obs()
                .datagram(datagram(HOST, "A", 3, 0, 1.1, &[SITE]))
                .datagram(datagram(HOST, "A", 1, 0, 1.2, &[CDN]))
                .datagram(datagram(HOST, "AAAA", 2, 0, 0.02, &[]))
                .connect("93.184.215.14:80", 0, None)
                .get(HTTP, "93.184.215.14:80", 0, &real()),
            Some(site_ctl()),
        )
        .ooni(Some("consistent"), Value::Bool(false), Some(true))
        .verdict(Accessible, &[]),
        row(
            "A answers come before AAAA answers, whatever order the datagrams came in",
            HTTP,
            obs()
                .datagram(datagram(HOST, "AAAA", 2, 0, 0.01, &["2a03:2880:f10c:83:face:b00c:0:25de"]))
                .datagram(datagram(HOST, "A", 1, 0, 0.02, &[CDN]))
                .connect("151.101.1.67:80", 0, None)
                .get_fails(HTTP, "151.101.1.67:80", 0, Failure::Timeout),
            Some(site_ctl()),
        )
        .ooni(Some("inconsistent"), b("dns"), Some(false))
        .verdict(Unknown, &[])
        .says("The answers for www.example.com (151.101.1.67, 2a03:2880:f10c:83:face:b00c:0:25de) differ"),
        row(
            "the A query times out, the AAAA query gets NXDOMAIN: the lookup's failure is the A query's",
            HTTP,
            obs()
                .dns_fails(HOST, 0, Failure::Timeout)
                .datagram({
                    let mut q = datagram(HOST, "AAAA", 2, 0, 0.03, &[]);
                    q.failure = Some(Failure::DnsNxdomain);
                    q.rcode = Some(3);
                    q
                }),
            Some(site_ctl()),
        )
        .ooni(Some("inconsistent"), b("dns"), Some(false))
        .verdict(Blocked, &["dns.failure"])
        .says("failed with generic_timeout_error while the control resolves it"),
        row(
            "garbage, then nothing: the query's failure is the timeout, not the garbage",
            HTTP,
            obs()
                .datagram(garbage(0, 0.001))
                .dns_fails(HOST, 0, Failure::Timeout),
            Some(site_ctl()),
        )
        .ooni(Some("inconsistent"), b("dns"), Some(false))
        .verdict(Blocked, &["dns.failure"])
        .says("failed with generic_timeout_error while the control resolves it")
        .never_says("dns_server_misbehaving"),
    ]);
}

/// A news page that quotes the Russian blockpage's sentence (a `[[body]]` fingerprint).
fn quoting(stamp: &str) -> Resp {
    let mut p = page("Roskomnadzor blocks another site", 4000);
    p.body = format!(
        "<html><title>Roskomnadzor blocks another site</title>Visitors now read: «Доступ к сайту ограничен в соответствии с Федеральными законами». {stamp}{}</html>",
        p.body
    );
    p.headers
        .retain(|(k, _)| !k.eq_ignore_ascii_case("content-length"));
    p.headers
        .push(("Content-Length".into(), p.body.len().to_string()));
    p
}

/// Known blockpages and what keeps a page that matches one from being called so (`pages`).
#[test]
fn pages_that_match_a_blockpage_fingerprint() {
    use Status::*;
    check(vec![
        row(
            "a page quoting a blockpage that matches the control's by OONI's rules (another timestamp): the site's",
            HTTP,
            obs()
                .resolve(HOST, 0, &[SITE])
                .connect("93.184.215.14:80", 0, None)
                .get(HTTP, "93.184.215.14:80", 0, &quoting("12:00")),
            Some(site_ctl().fetched(&quoting("12:01"))),
        )
        .ooni(Some("consistent"), Value::Bool(false), Some(true))
        .verdict(Accessible, &[]),
        row(
            "a page quoting a blockpage, the whole body then a reset; the control's body is the same",
            HTTP,
            {
                let mut o = obs()
                    .resolve(HOST, 0, &[SITE])
                    .connect("93.184.215.14:80", 0, None)
                    .get(HTTP, "93.184.215.14:80", 0, &quoting("12:00"));
                o.0.requests[0].failure = Some(Failure::ConnectionReset);
                o
            },
            Some(site_ctl().fetched(&quoting("12:00"))),
        )
        .ooni(Some("consistent"), b("http-failure"), Some(false))
        .verdict(Blocked, &["http.reset"]),
        row(
            "the warning site itself measured without a control: its own page is no blockpage",
            "http://warning.or.kr/",
            obs()
                .resolve("warning.or.kr", 0, &[PROXY])
                .connect("45.33.1.10:80", 0, None)
                .get(
                    "http://warning.or.kr/",
                    "45.33.1.10:80",
                    0,
                    &plain(
                        200,
                        "Warning",
                        "<html><head><meta name=\"kcsc\" content=\"blocking\"><title>Warning</title></head>About the KCSC.</html>",
                    ),
                ),
            None,
        )
        .cc("KR")
        .verdict(Unknown, &[])
        .says("came over cleartext HTTP; without a control it cannot be checked against the site's"),
    ]);
}

/// The Russian blockpage itself.
fn ru_blockpage() -> Resp {
    plain(
        200,
        "Blocked",
        "<html><title>Blocked</title><body>Доступ к сайту ограничен в соответствии с Федеральными законами</body></html>",
    )
}

/// DNS answers the evidence names by their own method (`dns::Lookup::explained`) and names a
/// resolver gives in place of the site's (CNAME fingerprints).
#[test]
fn answers_named_by_their_own_method() {
    use Status::*;
    check(vec![
        row(
            "a bogon answer (no fingerprint) that serves a known blockpage: bogon and blockpage, not also forged",
            HTTP,
            obs()
                .resolve(HOST, 0, &[BOGON])
                .connect("10.1.2.3:80", 0, None)
                .get(HTTP, "10.1.2.3:80", 0, &ru_blockpage()),
            Some(site_ctl()),
        )
        .ooni(Some("inconsistent"), Value::Bool(false), Some(true))
        .verdict(Blocked, &["dns.bogon", "http.blockpage"]),
        row(
            "the resolver answers with a CNAME chain that ends at a known warning host",
            HTTP,
            obs().datagram({
                let mut q = datagram(HOST, "A", 1, 0, 0.02, &[PROXY]);
                for (i, name) in ["filter.isp.example.net", "trustpositif.kominfo.go.id"]
                    .into_iter()
                    .enumerate()
                {
                    let cname = crate::observation::DnsAnswer {
                        answer_type: "CNAME".into(),
                        ipv4: None,
                        ipv6: None,
                        hostname: Some(name.into()),
                        ttl: 60,
                    };
                    q.answers.insert(i, cname);
                }
                q
            })
            .datagram(datagram(HOST, "AAAA", 2, 0, 0.02, &[]))
            .connect("45.33.1.10:80", 0, Some(Failure::ConnectionRefused)),
            Some(site_ctl()),
        )
        .cc("ID")
        .ooni(Some("inconsistent"), b("dns"), Some(false))
        .verdict(Blocked, &["dns.forged"])
        .says("answered www.example.com with trustpositif.kominfo.go.id, a known forged answer"),
    ]);
}

/// Answers a certificate speaks against (`dns`'s `contradicted`): only the probe's handshake at
/// that address, for that name, that got a certificate not valid for it.
#[test]
fn certificates_against_an_answer() {
    use Status::*;
    check(vec![
        row(
            "the probe's handshake at its answer gets a certificate for another name; the control validated the site elsewhere",
            HTTPS,
            obs()
                .resolve(HOST, 0, &[OTHER])
                .connect("31.13.94.37:443", 0, None)
                .handshake("31.13.94.37:443", HOST, 0, Some(Failure::SslInvalidHostname)),
            Some(site_ctl()),
        )
        .ooni(Some("inconsistent"), b("dns"), Some(false))
        .verdict(Blocked, &["dns.forged"])
        .says("the probe's TLS handshake with 31.13.94.37:443 got a certificate not valid for www.example.com (ssl_invalid_hostname)"),
        row(
            "the probe's handshake at its unshared answer times out: nothing against the answer",
            HTTPS,
            obs()
                .resolve(HOST, 0, &[CDN])
                .connect("151.101.1.67:443", 0, None)
                .handshake("151.101.1.67:443", HOST, 0, Some(Failure::Timeout)),
            Some(site_ctl()),
        )
        .ooni(Some("inconsistent"), b("dns"), Some(false))
        .verdict(Unknown, &[]),
        row(
            "a certificate not valid for a redirect host at the same address says nothing against the input host's answer",
            HTTP,
            obs()
                .resolve(HOST, 0, &[OTHER])
                .connect("31.13.94.37:80", 0, None)
                .get(HTTP, "31.13.94.37:80", 0, &redirect(302, "https://other.example.net/"))
                .resolve("other.example.net", 1, &[OTHER])
                .connect("31.13.94.37:443", 1, None)
                .handshake("31.13.94.37:443", "other.example.net", 1, Some(Failure::SslInvalidHostname)),
            Some(site_ctl().final_url(HTTP)),
        )
        .ooni(Some("inconsistent"), b("dns"), Some(false))
        .verdict(Unknown, &[]),
    ]);
}

/// How a lookup compares with the control's (`dns::DnsState`).
#[test]
fn lookups_against_the_control() {
    use Status::*;
    let cdn_https = || {
        obs()
            .resolve(HOST, 0, &[CDN])
            .connect("151.101.1.67:443", 0, None)
            .handshake("151.101.1.67:443", HOST, 0, None)
            .get(HTTPS, "151.101.1.67:443", 0, &real())
    };
    check(vec![
        row(
            "other addresses than the control's, validated by the probe's TLS: a CDN's",
            HTTPS,
            cdn_https(),
            Some(site_ctl()),
        )
        .ooni(Some("consistent"), Value::Bool(false), Some(true))
        .verdict(Accessible, &[])
        .says("but TLS validated www.example.com at 151.101.1.67: a CDN's or GeoDNS answers"),
        row(
            "the control finds no such name, but the probe's answer validated TLS for it (a name that exists here only)",
            HTTPS,
            cdn_https(),
            Some(ctl().dns_fails("dns_nxdomain_error")),
        )
        .ooni(Some("inconsistent"), Value::Bool(false), Some(true))
        .verdict(Accessible, &[]),
        row(
            "the control's resolver failed: the probe's answers are unchecked, the page is compared",
            HTTP,
            http_ok(),
            Some(
                ctl()
                    .dns_fails("dns_server_failure")
                    .connects("93.184.215.14:80")
                    .fetched(&real()),
            ),
        )
        .ooni(Some("inconsistent"), Value::Bool(false), Some(true))
        .verdict(Accessible, &[])
        .says("The control could not resolve www.example.com (dns_server_failure), so the probe's answers (93.184.215.14) are unchecked."),
        row(
            "an address of one of the control's ASNs: consistent, a failure there is blamed",
            HTTP,
            obs()
                .resolve(HOST, 0, &[CDN])
                .connect("151.101.1.67:80", 0, Some(Failure::ConnectionReset)),
            Some(site_ctl().asn(CDN, 15133, 0).asn(SITE, 15133, 0)),
        )
        .ooni(Some("consistent"), b("http-failure"), Some(false))
        .verdict(Blocked, &["tcp.reset"]),
    ]);
}

/// Answers that disagree (`dns::injections`): the TCP retry's answer is the resolver's whole
/// answer, so a UDP answer disjoint from it is as much an injection as one disjoint from another
/// UDP answer (a truncated answer, partial, is compared with nothing).
#[test]
fn answers_that_disagree() {
    use Status::*;
    let truncated = |t: f64, addrs: &[&str]| {
        let mut tc = datagram(HOST, "A", 1, 0, t, addrs);
        tc.x_flags = Some(crate::observation::DnsFlags {
            tc: true,
            ..Default::default()
        });
        tc
    };
    let over_tcp = |addrs: &[&str]| {
        let mut tcp = datagram(HOST, "A", 1, 0, 0.05, addrs);
        tcp.engine = "tcp".into();
        tcp
    };
    check(vec![
        row(
            "a truncated answer, an injected whole UDP answer with another address, the TCP retry with the site's",
            HTTP,
            obs()
                .datagram(truncated(0.01, &[SITE]))
                .datagram(datagram(HOST, "A", 1, 1, 0.02, &[OTHER]))
                .datagram(over_tcp(&[SITE]))
                .datagram(datagram(HOST, "AAAA", 2, 0, 0.01, &[]))
                .connect("93.184.215.14:80", 0, None)
                .get(HTTP, "93.184.215.14:80", 0, &real()),
            Some(site_ctl()),
        )
        .ooni(Some("consistent"), Value::Bool(false), Some(true))
        .verdict(Blocked, &["dns.injection"])
        .says("The A query for www.example.com got 2 answers that disagree: 31.13.94.37 at 0.020 s; 93.184.215.14 at 0.050 s."),
        row(
            "trap: the site's answer, then a late empty one: an empty answer disagrees with nothing",
            HTTP,
            http_ok().datagram(datagram(HOST, "A", 1, 1, 0.2, &[])),
            Some(site_ctl()),
        )
        .ooni(Some("consistent"), Value::Bool(false), Some(true))
        .verdict(Accessible, &[]),
        row(
            "trap: a truncated answer disjoint from the TCP retry's is partial, not an injection",
            HTTP,
            obs()
                .datagram(truncated(0.01, &[SITE_B]))
                .datagram(over_tcp(&[SITE]))
                .datagram(datagram(HOST, "AAAA", 2, 0, 0.01, &[]))
                .connect("93.184.215.14:80", 0, None)
                .get(HTTP, "93.184.215.14:80", 0, &real()),
            Some(site_ctl()),
        )
        .ooni(Some("consistent"), Value::Bool(false), Some(true))
        .verdict(Accessible, &[]),
    ]);
}

const NOTICE_HOST: &str = "notice.isp-filter.net";
const NOTICE_URL: &str = "http://notice.isp-filter.net/blocked.html";

fn notice() -> Resp {
    plain(
        200,
        "Notice",
        "<html><title>Notice</title>This site is not available on this network.</html>",
    )
}

/// The notice host's lookup, connect and page at `depth`.
fn at_notice(o: Obs, depth: usize, page: &Resp) -> Obs {
    o.resolve(NOTICE_HOST, depth, &[PROXY])
        .connect("45.33.1.10:80", depth, None)
        .get(NOTICE_URL, "45.33.1.10:80", depth, page)
}

/// www.example.com's own 302 to www.example.org (the control went there too), then `next` from
/// www.example.org.
fn via_org(next: &str) -> Obs {
    obs()
        .resolve(HOST, 0, &[SITE])
        .connect("93.184.215.14:80", 0, None)
        .get(
            HTTP,
            "93.184.215.14:80",
            0,
            &redirect(302, "http://www.example.org/"),
        )
        .resolve("www.example.org", 1, &[CDN])
        .connect("151.101.1.67:80", 1, None)
        .get(
            "http://www.example.org/",
            "151.101.1.67:80",
            1,
            &redirect(302, next),
        )
}

/// Redirects the site did not send (`verdict::redirects`): only on the site's way, only off it,
/// only where both pages can be compared.
#[test]
fn redirects_the_site_did_not_send() {
    use Status::*;
    let to_notice = || {
        at_notice(
            obs()
                .resolve(HOST, 0, &[SITE])
                .connect("93.184.215.14:80", 0, None)
                .get(HTTP, "93.184.215.14:80", 0, &redirect(302, NOTICE_URL)),
            1,
            &notice(),
        )
    };
    check(vec![
        row(
            "a 302 off the site where the control got a CDN's challenge: nothing to compare with",
            HTTP,
            to_notice(),
            Some(site_ctl().fetched(&captcha()).final_url(HTTP)),
        )
        .ooni(Some("consistent"), b("http-diff"), Some(false))
        .verdict(Unknown, &[]),
        row(
            "a 302 off the site to a CDN's challenge page: the page is the CDN's",
            HTTP,
            at_notice(
                obs()
                    .resolve(HOST, 0, &[SITE])
                    .connect("93.184.215.14:80", 0, None)
                    .get(HTTP, "93.184.215.14:80", 0, &redirect(302, NOTICE_URL)),
                1,
                &captcha(),
            ),
            Some(site_ctl().final_url(HTTP)),
        )
        .ooni(Some("consistent"), b("http-diff"), Some(false))
        .verdict(Accessible, &[]),
        row(
            "a 302 to a notice host from the control's final host, after the site's own redirect there",
            HTTP,
            at_notice(via_org(NOTICE_URL), 2, &notice()),
            Some(site_ctl().final_url("http://www.example.org/")),
        )
        .ooni(Some("consistent"), Value::Bool(false), Some(true))
        .verdict(Blocked, &["http.diff"])
        .says("http://www.example.org/ redirected (302) to http://notice.isp-filter.net/blocked.html over cleartext HTTP"),
        row(
            "trap: the control's final host sends the probe back to the input's site",
            HTTP,
            via_org("http://www.example.com/welcome")
                .connect("93.184.215.14:80", 2, None)
                .get(
                    "http://www.example.com/welcome",
                    "93.184.215.14:80",
                    2,
                    &plain(200, "Welcome", "<html><title>Welcome</title>Choose a language.</html>"),
                ),
            Some(site_ctl().final_url("http://www.example.org/")),
        )
        .ooni(Some("consistent"), Value::Bool(false), Some(true))
        .verdict(Unknown, &[]),
        row(
            "trap: a 302 at a host off the site's way (after the site's own redirect over valid TLS)",
            HTTPS,
            at_notice(
                obs()
                    .resolve(HOST, 0, &[SITE])
                    .connect("93.184.215.14:443", 0, None)
                    .handshake("93.184.215.14:443", HOST, 0, None)
                    .get(HTTPS, "93.184.215.14:443", 0, &redirect(302, "http://cdn.example.net/"))
                    .resolve("cdn.example.net", 1, &[CDN])
                    .connect("151.101.1.67:80", 1, None)
                    .get("http://cdn.example.net/", "151.101.1.67:80", 1, &redirect(302, NOTICE_URL)),
                2,
                &notice(),
            ),
            Some(site_ctl().final_url(HTTPS)),
        )
        .ooni(Some("consistent"), Value::Bool(false), Some(true))
        .verdict(Unknown, &[]),
    ]);
}

fn small() -> Resp {
    page("Example Domain Homepage", 12_000)
}

/// Throttling is judged against the round trip of the connect the body came over
/// (`verdict::steps::throttling`).
#[test]
fn the_round_trip_a_transfer_is_judged_against() {
    use Status::*;
    check(vec![
        row(
            "trap: 12 KB over 4 s from an address 1 s away, while another address of the site is 4 ms away",
            HTTP,
            obs()
                .resolve(HOST, 0, &[SITE, SITE_B])
                .connect_rtt("93.184.215.15:80", 0, 0.004)
                .connect_rtt("93.184.215.14:80", 0, 1.0)
                .get_paced(HTTP, "93.184.215.14:80", &small(), 4.0),
            Some(site_ctl().fetched(&small())),
        )
        .ooni(Some("consistent"), Value::Bool(false), Some(true))
        .verdict(Accessible, &[]),
        row(
            "a connect recorded with no duration says nothing of the round trip; the other connect's 40 ms does",
            HTTP,
            obs()
                .resolve(HOST, 0, &[SITE])
                .connect_rtt("93.184.215.14:80", 0, 0.0)
                .connect_rtt("93.184.215.14:80", 0, 0.04)
                .get_paced(HTTP, "93.184.215.14:80", &small(), 4.0),
            Some(site_ctl().fetched(&small())),
        )
        .ooni(Some("consistent"), Value::Bool(false), Some(true))
        .verdict(Blocked, &["throttling"])
        .says("a 0.040 s round trip explains"),
    ]);
}
