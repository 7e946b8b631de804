//! OONI's classic keys, row by row against probe-cli's analysisclassic.go (and the minipipeline
//! metrics it reads): each row's expected keys are what OONI's code gives for the same
//! observations, the lookups read through the getaddrinfo-style entry the record carries.
//! Covered: which lookup entry OONI reads, DNS consistency and `x_dns_flags` (analysisext.go),
//! the walk's fall-through (no rule applies: OONI sets nothing, whatever the DNS), rules 5.1.2,
//! 5.3, 5.4, 6 and 7. Every endpoint here stands for one the probe tagged `fetch_body=true`
//! (it tags them all so), which OONI's classic filter requires. Also the index helpers the
//! rules rest on (an address host is its own site).

use super::*;
use crate::observation::DnsQuery;
use crate::probe::getaddrinfo::{merged, MergedFrom};

/// OONI's keys: dns_consistency, blocking, accessible, dns_experiment_failure,
/// http_experiment_failure, x_dns_flags.
type Keys = (
    Option<&'static str>,
    Value,
    Option<bool>,
    Option<&'static str>,
    Option<&'static str>,
    u32,
);

/// The observations with the getaddrinfo-style entry of each lookup (one per host and depth,
/// each query's first datagram used), as the probe adds them to a record.
fn with_classic(mut o: Obs) -> Obs {
    let mut groups: Vec<(String, usize)> = Vec::new();
    for q in &o.0.queries {
        let key = (q.hostname.clone(), index::depth_of(&q.tags));
        if !groups.contains(&key) {
            groups.push(key);
        }
    }
    for (host, depth) in groups {
        let entries: Vec<DnsQuery> = (o.0.queries.iter())
            .filter(|q| q.hostname == host && index::depth_of(&q.tags) == depth)
            .cloned()
            .collect();
        let mut used: Vec<MergedFrom> = Vec::new();
        for q in entries.iter().filter(|q| q.x_response_index == 0) {
            used.push(MergedFrom::of(q));
        }
        o.0.classic_lookups.extend(merged(&entries, &used));
    }
    o
}

fn keys(url: &str, o: &Obs, control: Option<&Ctl>) -> Analysis {
    let fp = Fingerprints::builtin();
    let control = control.map(|c| c.0.clone());
    let ctx = Context {
        control: control.as_ref(),
        control_failure: None,
        testbed_nets: &[],
        fingerprints: &fp,
        probe_cc: None,
    };
    analyze(&Url::parse(url).unwrap(), &o.0, &ctx)
}

/// Runs every row and reports all mismatches at once.
fn check_keys(rows: Vec<(&str, &str, Obs, Option<Ctl>, Keys)>) {
    let mut wrong = Vec::new();
    for (name, url, o, c, want) in &rows {
        let a = keys(url, o, c.as_ref());
        let got = (
            a.dns_consistency.clone(),
            a.blocking.clone(),
            a.accessible,
            a.dns_experiment_failure.clone(),
            a.http_experiment_failure.clone(),
            a.x_dns_flags.unwrap_or(0),
        );
        let want = (
            want.0.map(String::from),
            want.1.clone(),
            want.2,
            want.3.map(String::from),
            want.4.map(String::from),
            want.5,
        );
        if got != want {
            wrong.push(format!("{name}:\n  want {want:?}\n  got  {got:?}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} rows wrong:\n{}",
        wrong.len(),
        rows.len(),
        wrong.join("\n")
    );
}

/// The A query timed out, the AAAA query was answered without an address.
fn a_timeout_aaaa_empty() -> Obs {
    let mut a = datagram(HOST, "A", 1, 0, 0.03, &[]);
    a.failure = Some(Failure::Timeout);
    a.rcode = None;
    a.raw_response = None;
    obs()
        .datagram(Obs::tagged(a, 0))
        .datagram(Obs::tagged(datagram(HOST, "AAAA", 2, 0, 0.02, &[]), 0))
}

fn no_addr_ctl() -> Ctl {
    ctl().resolves(&[]).fetch_fails("dns_no_answer")
}

#[test]
fn the_lookup_is_read_as_getaddrinfo_wrote_it() {
    // getaddrinfo gives EAI_AGAIN for a timeout and an empty answer: netxlite's
    // dns_server_misbehaving, which is what OONI's classic filter keeps (the per-datagram
    // entries are engine "udp"). Control resolved: unexpected failure (flag 2), rule 5.4.
    check_keys(vec![(
        "A timed out, AAAA empty",
        HTTP,
        with_classic(a_timeout_aaaa_empty()),
        Some(site_ctl()),
        (
            Some("inconsistent"),
            b("dns"),
            Some(false),
            Some("dns_server_misbehaving"),
            Some("dns_server_misbehaving"),
            2,
        ),
    )]);
}

#[test]
fn a_failed_lookup_against_a_control_that_resolved_nothing() {
    let nx = |f: Failure| with_classic(obs().dns_fails(HOST, 0, f));
    check_keys(vec![
        // 5.3: dns_no_answer where the control resolved no address: the site is down, no
        // http_experiment_failure; an expected failure (consistent, no flag).
        (
            "no answer, control none",
            HTTP,
            nx(Failure::DnsNoAnswer),
            Some(no_addr_ctl()),
            (
                Some("consistent"),
                Value::Bool(false),
                Some(false),
                Some("dns_no_answer"),
                None,
                0,
            ),
        ),
        // 5.3 is about dns_no_answer only: NXDOMAIN there is 5.4, an unexpected failure.
        (
            "nxdomain, control none",
            HTTP,
            nx(Failure::DnsNxdomain),
            Some(no_addr_ctl()),
            (
                Some("inconsistent"),
                b("dns"),
                Some(false),
                Some("dns_nxdomain_error"),
                Some("dns_nxdomain_error"),
                2,
            ),
        ),
        // 5.2: the control's lookup failed too: down, expected.
        (
            "nxdomain, control nxdomain",
            HTTP,
            nx(Failure::DnsNxdomain),
            Some(
                ctl()
                    .dns_fails("dns_nxdomain_error")
                    .fetch_fails("dns_nxdomain_error"),
            ),
            (
                Some("consistent"),
                Value::Bool(false),
                Some(false),
                Some("dns_nxdomain_error"),
                Some("dns_nxdomain_error"),
                0,
            ),
        ),
        // 5.4: dns_no_answer while the control resolved addresses.
        (
            "no answer, control resolved",
            HTTP,
            nx(Failure::DnsNoAnswer),
            Some(site_ctl()),
            (
                Some("inconsistent"),
                b("dns"),
                Some(false),
                Some("dns_no_answer"),
                Some("dns_no_answer"),
                2,
            ),
        ),
    ]);
}

#[test]
fn a_redirect_s_lookup_failing_has_no_dns_control_but_an_expectation() {
    // 5.1.2: the redirect's host is not the input's, so no DNS control for it, but the
    // control fetched the page: "dns". The first lookup succeeded: consistent, no
    // dns_experiment_failure.
    let o = with_classic(redirected_to_org_fails(Failure::DnsNxdomain));
    check_keys(vec![
        (
            "redirect host nxdomain",
            HTTP,
            o.clone(),
            Some(site_ctl()),
            (
                Some("consistent"),
                b("dns"),
                Some(false),
                None,
                Some("dns_nxdomain_error"),
                0,
            ),
        ),
        // Without a control: 5.1.1, false/true ("sic").
        (
            "redirect host nxdomain, no control",
            HTTP,
            o,
            None,
            (
                None,
                Value::Bool(false),
                Some(true),
                None,
                Some("dns_nxdomain_error"),
                0,
            ),
        ),
    ]);
}

fn redirected_to_org_fails(f: Failure) -> Obs {
    obs()
        .resolve(HOST, 0, &[SITE])
        .connect("93.184.215.14:80", 0, None)
        .get(
            HTTP,
            "93.184.215.14:80",
            0,
            &redirect(302, "http://www.example.org/"),
        )
        .dns_fails("www.example.org", 1, f)
}

#[test]
fn when_no_rule_applies_ooni_sets_nothing_whatever_the_dns() {
    // analysisClassicComputeBlockingAccessible returns without a setter: blocking stays nil
    // and accessible null, even with an inconsistent DNS (only the setters turn it to "dns").
    let forged = obs().resolve(HOST, 0, &[OTHER]).deadline();
    let private = obs().resolve(HOST, 0, &["10.10.34.35"]).deadline();
    let mixed = obs().resolve(HOST, 0, &["127.0.0.1", SITE]).deadline();
    check_keys(vec![
        (
            "forged answer, then the deadline",
            HTTP,
            with_classic(forged),
            Some(site_ctl()),
            (Some("inconsistent"), Value::Null, None, None, None, 4),
        ),
        // Not loopback: rules 6 and 7 do not apply to a private address.
        (
            "private answer, then the deadline",
            HTTP,
            with_classic(private),
            Some(site_ctl()),
            (Some("inconsistent"), Value::Null, None, None, None, 5),
        ),
        // Not only loopback: no rule 6.
        (
            "loopback and the site's address",
            HTTP,
            with_classic(mixed),
            Some(site_ctl()),
            (Some("consistent"), Value::Null, None, None, None, 1),
        ),
    ]);
}

#[test]
fn loopback_answers_follow_rules_6_and_7() {
    let lo = || with_classic(obs().resolve(HOST, 0, &["127.0.0.1"]));
    check_keys(vec![
        // 6: only loopback for the probe, real addresses for the control.
        (
            "loopback, control resolved",
            HTTP,
            lo(),
            Some(site_ctl()),
            (Some("inconsistent"), b("dns"), Some(false), None, None, 5),
        ),
        // 7: only loopback for both: down.
        (
            "loopback for both",
            HTTP,
            lo(),
            Some(
                ctl()
                    .resolves(&["127.0.0.1"])
                    .fetch_fails("connection_refused"),
            ),
            (
                Some("consistent"),
                Value::Bool(false),
                Some(false),
                None,
                None,
                1,
            ),
        ),
        // 6: the control resolved no address at all, which is not "only loopback" (OONI
        // counts one address at least); its lookup did not fail, so its set is there.
        (
            "loopback, control resolved nothing",
            HTTP,
            lo(),
            Some(no_addr_ctl()),
            (Some("inconsistent"), b("dns"), Some(false), None, None, 5),
        ),
        // Neither: the control's lookup failed, so OONI has no control addresses (rules 6
        // and 7 need the control's lookup to have succeeded) and no "unexpected addresses"
        // flag; nothing else applies. Inconsistent: the control resolved nothing.
        (
            "loopback, control's lookup failed",
            HTTP,
            lo(),
            Some(
                ctl()
                    .dns_fails("dns_server_misbehaving")
                    .fetch_fails("dns_server_misbehaving"),
            ),
            (Some("inconsistent"), Value::Null, None, None, None, 1),
        ),
    ]);
}

#[test]
fn unexpected_addresses_need_the_control_s_addresses() {
    // analysisext.go's flag 4 (DNSLookupSuccessWithInvalidAddresses) is computed only when the
    // control's lookup succeeded. Here it failed: no flag 4; inconsistent all the same (the
    // control resolved nothing), and the page cannot be compared (no control status code):
    // http-diff, which the inconsistency turns into "dns".
    let o = with_classic(http_ok());
    let c = ctl()
        .dns_fails("dns_nxdomain_error")
        .fetch_fails("dns_nxdomain_error");
    check_keys(vec![(
        "probe resolved, control's lookup failed",
        HTTP,
        o,
        Some(c),
        (Some("inconsistent"), b("dns"), Some(false), None, None, 0),
    )]);
}

#[test]
fn a_round_trip_that_failed_for_the_control_too_is_down() {
    // 2.2: the probe's GET and the control's fetch both failed: down, the probe's failure.
    let o = obs()
        .resolve(HOST, 0, &[SITE])
        .connect("93.184.215.14:80", 0, None)
        .get_fails(HTTP, "93.184.215.14:80", 0, Failure::Eof);
    let c = site_ctl().fetch_fails("eof_error");
    check_keys(vec![(
        "both fetches failed",
        HTTP,
        with_classic(o),
        Some(c),
        (
            Some("consistent"),
            Value::Bool(false),
            Some(false),
            None,
            Some("eof_error"),
            0,
        ),
    )]);
}

#[test]
fn a_hop_back_to_a_host_resolved_earlier_has_no_lookup_of_its_own() {
    // www.example.com (loopback only) -> www.example.org -> www.example.com again, cut by the
    // deadline after hop 2's connect: the probe resolves each host once, so hop 2 has no
    // lookup, and OONI's walk (deepest first; HTTP,
    // TLS, TCP, DNS within a depth) stops at hop 0's refused connect before hop 0's lookup:
    // http-failure (no control connect there), "dns" by the inconsistency, and the connect's
    // failure.
    let o = obs()
        .resolve(HOST, 0, &["127.0.0.1"])
        .connect("127.0.0.2:80", 0, Some(Failure::ConnectionRefused))
        .connect("127.0.0.1:80", 0, None)
        .get(
            HTTP,
            "127.0.0.1:80",
            0,
            &redirect(302, "http://www.example.org/"),
        )
        .resolve("www.example.org", 1, &[CDN])
        .connect("151.101.1.67:80", 1, None)
        .get(
            "http://www.example.org/",
            "151.101.1.67:80",
            1,
            &redirect(302, "http://www.example.com/again"),
        )
        .connect("127.0.0.1:80", 2, None)
        .deadline();
    check_keys(vec![(
        "back to the first host",
        HTTP,
        with_classic(o),
        Some(site_ctl()),
        (
            Some("inconsistent"),
            b("dns"),
            Some(false),
            None,
            Some("connection_refused"),
            5,
        ),
    )]);
}

#[test]
fn an_address_host_is_its_own_site() {
    // `index::same_site`: an IP literal is the same site only as itself. A 302 from the
    // input's address to another address leaves the site (a forged redirect, vantage's
    // `http.diff`; OONI compares only the final page, which shares Content-Length: no diff).
    let input = "http://93.184.215.14/";
    let notice = "http://45.33.1.10/blocked.html";
    let notice_page = plain(
        200,
        "Access to this resource is restricted",
        "<html><title>Access to this resource is restricted</title>By order of the regulator.</html>",
    );
    let o = obs()
        .connect("93.184.215.14:80", 0, None)
        .get(input, "93.184.215.14:80", 0, &redirect(302, notice))
        .connect("45.33.1.10:80", 1, None)
        .get(notice, "45.33.1.10:80", 1, &notice_page);
    let c = ctl()
        .resolves(&[SITE])
        .connects("93.184.215.14:80")
        .fetched(&real())
        .final_url(input);
    check(vec![row("address to address", input, o, Some(c))
        .ooni(None, Value::Bool(false), Some(true))
        .verdict(Status::Blocked, &["http.diff"])
        .says("http://93.184.215.14/ redirected (302) to http://45.33.1.10/blocked.html over cleartext HTTP")]);
}

#[test]
fn a_control_handshake_speaks_for_the_certificate_only_when_it_validated() {
    // `ControlView::tls` / `valid_at`: Ok only for a handshake that completed without a
    // failure and with a certificate valid for the name; one that completed with a certificate
    // not valid for it (written without a failure) is no evidence for the address.
    let mut c = site_ctl();
    let invalid = crate::control::ControlTls {
        server_name: HOST.into(),
        status: true,
        failure: None,
        x_certificate_valid: Some(false),
    };
    c.0.tls_handshake.insert("31.13.94.37:443".into(), invalid);
    let o = obs();
    let fp = Fingerprints::builtin();
    let ctx = Context {
        control: Some(&c.0),
        control_failure: None,
        testbed_nets: &[],
        fingerprints: &fp,
        probe_cc: None,
    };
    let url = Url::parse(HTTPS).unwrap();
    let ix = index::Index::new(&url, &o.0, ctx);
    let view = ix.control.as_ref().unwrap();
    let other: std::net::IpAddr = OTHER.parse().unwrap();
    assert!(matches!(
        view.tls(ep("31.13.94.37:443"), HOST),
        Some(Err(_))
    ));
    assert!(!view.valid_at(other, HOST, false));
    assert!(view.invalid_at(other, HOST));
    assert_eq!(view.tls(ep("93.184.215.14:443"), HOST), Some(Ok(())));
    assert!(view.valid_at(SITE.parse().unwrap(), HOST, false));
    // `validates`: some handshake of the control validated this very name.
    assert!(view.validates(HOST));
    assert!(
        !view.validates("www.example.org"),
        "validated for another name"
    );
}

#[test]
fn ip_info_vouches_for_an_address_only_with_the_valid_for_domain_flag() {
    // OONI's TH flags an address 8 (ControlIPInfoFlagValidForDomain) when a handshake there
    // validated the input's host; 1 (the probe resolved it) or 2 (the helper did) say nothing
    // of the certificate. Only for the input's host.
    use crate::control::{IP_FLAG_HELPER, IP_FLAG_PROBE, IP_FLAG_VALID_FOR_DOMAIN};
    let vouched = |flags: u32, input_host: bool| {
        let c = site_ctl().asn(OTHER, 32934, flags);
        let o = obs();
        let fp = Fingerprints::builtin();
        let ctx = Context {
            control: Some(&c.0),
            control_failure: None,
            testbed_nets: &[],
            fingerprints: &fp,
            probe_cc: None,
        };
        let url = Url::parse(HTTPS).unwrap();
        let ix = index::Index::new(&url, &o.0, ctx);
        let view = ix.control.as_ref().unwrap();
        view.valid_at(OTHER.parse().unwrap(), HOST, input_host)
    };
    assert!(vouched(IP_FLAG_VALID_FOR_DOMAIN, true));
    assert!(vouched(IP_FLAG_VALID_FOR_DOMAIN | IP_FLAG_PROBE, true));
    assert!(!vouched(IP_FLAG_PROBE | IP_FLAG_HELPER, true));
    assert!(!vouched(IP_FLAG_VALID_FOR_DOMAIN, false));
}

#[test]
fn a_response_came_over_valid_tls_only_when_the_certificate_validated_its_host() {
    // `Index::over_valid_tls`: the handshake on the request's connection validated the
    // certificate, and for the request's host.
    let over = |sni: &str, failure: Option<Failure>| {
        let o = obs()
            .resolve(HOST, 0, &[SITE])
            .connect("93.184.215.14:443", 0, None)
            .handshake("93.184.215.14:443", sni, 0, failure)
            .get(HTTPS, "93.184.215.14:443", 0, &real());
        let fp = Fingerprints::builtin();
        let ctx = Context {
            control: None,
            control_failure: None,
            testbed_nets: &[],
            fingerprints: &fp,
            probe_cc: None,
        };
        let url = Url::parse(HTTPS).unwrap();
        let ix = index::Index::new(&url, &o.0, ctx);
        ix.over_valid_tls(ix.final_response().unwrap())
    };
    assert!(over(HOST, None));
    assert!(!over(HOST, Some(Failure::SslInvalidHostname)));
    assert!(!over("www.example.org", None), "validated for another name");
}
