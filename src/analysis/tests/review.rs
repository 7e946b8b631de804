//! Rows from the review of false positives: each was called blocked (or, for the title, called
//! accessible) by the analysis before its fix. Grouped by finding.

use super::*;

/// A localized variant of the site's page: other title, other length, none of its headers.
fn localized() -> Resp {
    let mut p = page("Beispiel Startseite", 3000);
    p.headers.retain(|(k, _)| k != "X-Site");
    p
}

/// The control of a plain-HTTP site: it checked the probe's CDN address too, with no TLS
/// evidence either way (the handshake there timed out).
fn cdn_ctl() -> Ctl {
    site_ctl().connects("151.101.1.67:80").tls_fails(
        "151.101.1.67:443",
        HOST,
        "generic_timeout_error",
    )
}

fn ru_blockpage() -> Resp {
    plain(
        200,
        "Blocked",
        "<html><title>Blocked</title><body>Доступ к сайту ограничен в соответствии с Федеральными законами</body></html>",
    )
}

#[test]
fn finding_1_cdn_answers_without_evidence_are_not_forged() {
    use Status::*;
    check(vec![
        row(
            "CDN over HTTP without TLS evidence: disjoint answers, another page length",
            HTTP,
            obs()
                .resolve(HOST, 0, &[CDN])
                .connect("151.101.1.67:80", 0, None)
                .get(HTTP, "151.101.1.67:80", 0, &localized()),
            Some(cdn_ctl()),
        )
        .ooni(Some("inconsistent"), Value::Bool(false), Some(true))
        .verdict(Unknown, &[]),
        row(
            "CDN over HTTP without TLS evidence: the GET at the CDN's address times out",
            HTTP,
            obs()
                .resolve(HOST, 0, &[CDN])
                .connect("151.101.1.67:80", 0, None)
                .get_fails(HTTP, "151.101.1.67:80", 0, Failure::Timeout),
            Some(cdn_ctl()),
        )
        .ooni(Some("inconsistent"), b("dns"), Some(false))
        .verdict(Unknown, &[]),
        // Regression rows (these passed before): the control's E001 check vindicates or
        // contradicts the probe's address for an http:// URL.
        row(
            "E001: the control's handshake at the probe's address validates the name (http://)",
            HTTP,
            obs()
                .resolve(HOST, 0, &[CDN])
                .connect("151.101.1.67:80", 0, None)
                .get_fails(HTTP, "151.101.1.67:80", 0, Failure::ConnectionReset),
            Some(site_ctl().tls_ok("151.101.1.67:443", HOST)),
        )
        .ooni(Some("inconsistent"), b("dns"), Some(false))
        .verdict(Blocked, &["http.reset"]),
        row(
            "E001: ip_info flag 8 alone vindicates the probe's address",
            HTTP,
            obs()
                .resolve(HOST, 0, &[CDN])
                .connect("151.101.1.67:80", 0, None)
                .get_fails(HTTP, "151.101.1.67:80", 0, Failure::ConnectionReset),
            Some(site_ctl().asn(CDN, 0, 1 | 8)),
        )
        .ooni(Some("inconsistent"), b("dns"), Some(false))
        .verdict(Blocked, &["http.reset"]),
        row(
            "E001: a certificate for another name at the probe's address, where the site's validates",
            HTTP,
            obs()
                .resolve(HOST, 0, &[OTHER])
                .connect("31.13.94.37:80", 0, None)
                .get(HTTP, "31.13.94.37:80", 0, &localized()),
            Some(
                site_ctl()
                    .connects("31.13.94.37:80")
                    .tls_fails("31.13.94.37:443", HOST, "ssl_invalid_hostname"),
            ),
        )
        .ooni(Some("inconsistent"), Value::Bool(false), Some(true))
        .verdict(Blocked, &["dns.forged"]),
    ]);
}

#[test]
fn finding_2_3_pages_that_cannot_be_compared() {
    use Status::*;
    let cf403 = plain(
        403,
        "Attention Required! | Cloudflare",
        "<html><title>Attention Required! | Cloudflare</title>verify you are human</html>",
    )
    .header("Server", "cloudflare")
    .header("Cf-Ray", "8a1b2c3d4e5f-FRA");
    check(vec![
        row(
            "the control gets 403 (geo-block) while the probe gets the page",
            HTTP,
            http_ok(),
            Some(site_ctl().fetched(&plain(
                403,
                "Forbidden",
                "<html><title>Forbidden</title>Not available in your country</html>",
            ))),
        )
        .ooni(Some("consistent"), b("http-diff"), Some(false))
        .verdict(Unknown, &[]),
        row(
            "the control gets a Cloudflare challenge, the probe a 403 of the site's",
            HTTP,
            obs()
                .resolve(HOST, 0, &[SITE])
                .connect("93.184.215.14:80", 0, None)
                .get(
                    HTTP,
                    "93.184.215.14:80",
                    0,
                    &plain(403, "Forbidden", "<html><title>Forbidden</title>no</html>"),
                ),
            Some(site_ctl().fetched(&cf403)),
        )
        .ooni(Some("consistent"), Value::Bool(false), Some(true))
        .verdict(Unknown, &[]),
        row(
            "a server error on the probe's side only, over HTTP",
            HTTP,
            obs()
                .resolve(HOST, 0, &[SITE])
                .connect("93.184.215.14:80", 0, None)
                .get(
                    HTTP,
                    "93.184.215.14:80",
                    0,
                    &plain(502, "Bad Gateway", "<html>bad gateway</html>"),
                ),
            Some(site_ctl()),
        )
        .ooni(Some("consistent"), b("http-diff"), Some(false))
        .verdict(Unknown, &[]),
    ]);
}

#[test]
fn finding_4_other_final_urls_and_unvisited_hosts() {
    use Status::*;
    check(vec![
        row(
            "the probe is redirected to /zh/, the control's fetch ends on /",
            HTTP,
            obs()
                .resolve(HOST, 0, &[SITE])
                .connect("93.184.215.14:80", 0, None)
                .get(HTTP, "93.184.215.14:80", 0, &redirect(302, "/zh/"))
                .connect("93.184.215.14:80", 1, None)
                .get(
                    "http://www.example.com/zh/",
                    "93.184.215.14:80",
                    1,
                    &localized(),
                ),
            Some(site_ctl().final_url(HTTP)),
        )
        .ooni(Some("consistent"), Value::Bool(false), Some(true))
        .verdict(Unknown, &[]),
        row(
            "the probe is redirected to https://www.example.cn/ with an invalid certificate, a host the control never visited",
            HTTP,
            obs()
                .resolve(HOST, 0, &[SITE])
                .connect("93.184.215.14:80", 0, None)
                .get(
                    HTTP,
                    "93.184.215.14:80",
                    0,
                    &redirect(302, "https://www.example.cn/"),
                )
                .resolve("www.example.cn", 1, &[OTHER])
                .connect("31.13.94.37:443", 1, None)
                .handshake(
                    "31.13.94.37:443",
                    "www.example.cn",
                    1,
                    Some(Failure::SslUnknownAuthority),
                ),
            Some(site_ctl().final_url(HTTP)),
        )
        .ooni(Some("consistent"), b("http-failure"), Some(false))
        .verdict(Unknown, &[]),
        // Regression rows: the same host and path, the control upgraded to HTTPS, is compared;
        // a failure on the host the control's fetch ended on is blamed.
        row(
            "a cleartext page where the control was upgraded to HTTPS is compared",
            HTTP,
            obs()
                .resolve(HOST, 0, &[SITE])
                .connect("93.184.215.14:80", 0, None)
                .get(
                    HTTP,
                    "93.184.215.14:80",
                    0,
                    &plain(200, "Nothing to see here", "<html>blocked</html>"),
                ),
            Some(site_ctl().final_url(HTTPS)),
        )
        .ooni(Some("consistent"), Value::Bool(false), Some(true))
        .verdict(Blocked, &["http.diff"]),
        row(
            "a reset on the host the control's fetch ended on",
            HTTP,
            redirected_to_org()
                .connect("151.101.1.67:80", 1, None)
                .get_fails(
                    "http://www.example.org/",
                    "151.101.1.67:80",
                    1,
                    Failure::ConnectionReset,
                ),
            Some(site_ctl().final_url("https://www.example.org/")),
        )
        .ooni(Some("consistent"), b("http-failure"), Some(false))
        .verdict(Blocked, &["http.reset"]),
    ]);
}

#[test]
fn finding_5_nxdomain_rewriting_is_down() {
    check(vec![row(
        "the control says NXDOMAIN, the ISP's resolver answers with its search page",
        "http://no-such-site.example/",
        obs()
            .resolve("no-such-site.example", 0, &[PROXY])
            .connect("45.33.1.10:80", 0, None)
            .get(
                "http://no-such-site.example/",
                "45.33.1.10:80",
                0,
                &plain(200, "Search results", "<html>did you mean</html>"),
            ),
        Some(
            ctl()
                .dns_fails("dns_name_error")
                .connects("45.33.1.10:80")
                .fetch_fails("dns_nxdomain_error"),
        ),
    )
    .ooni(Some("inconsistent"), b("dns"), Some(false))
    .verdict(Status::Down, &[])]);
}

#[test]
fn finding_6_only_disjoint_answers_are_injection() {
    use Status::*;
    let foreign = |addrs: &[&str]| {
        let mut d = datagram(HOST, "A", 1, 1, 0.001, addrs);
        d.x_source_address = Some("8.8.4.4:53".into());
        d
    };
    check(vec![
        row(
            "a superset answer to the same query is no injection",
            HTTP,
            http_ok().datagram(datagram(HOST, "A", 1, 1, 0.2, &[SITE, CDN])),
            Some(site_ctl()),
        )
        .ooni(Some("consistent"), Value::Bool(false), Some(true))
        .verdict(Accessible, &[]),
        row(
            "disjoint answers that are both the control's are no injection",
            HTTP,
            http_ok().datagram(datagram(HOST, "A", 1, 1, 0.2, &[CDN])),
            Some(site_ctl().resolves(&[SITE, CDN])),
        )
        .ooni(Some("consistent"), Value::Bool(false), Some(true))
        .verdict(Accessible, &[]),
        row(
            "an answer from another source address, alone, is a note",
            HTTP,
            http_ok().datagram(foreign(&[SITE])),
            Some(site_ctl()),
        )
        .ooni(Some("consistent"), Value::Bool(false), Some(true))
        .verdict(Accessible, &[]),
        row(
            "the same addresses in another order are no injection",
            HTTP,
            obs()
                .datagram(datagram(HOST, "A", 1, 0, 0.01, &[SITE, CDN]))
                .datagram(datagram(HOST, "A", 1, 1, 0.02, &[CDN, SITE]))
                .datagram(datagram(HOST, "AAAA", 2, 0, 0.01, &[]))
                .connect("93.184.215.14:80", 0, None)
                .get(HTTP, "93.184.215.14:80", 0, &real()),
            Some(site_ctl().resolves(&[SITE, CDN])),
        )
        .ooni(Some("consistent"), Value::Bool(false), Some(true))
        .verdict(Accessible, &[]),
    ]);
}

#[test]
fn finding_7_slow_links_are_not_throttling() {
    use Status::*;
    let big = || page("Big", 1 << 20);
    check(vec![
        row(
            "a 20 KiB/s transfer (a slow international link) is not throttling",
            HTTP,
            obs()
                .resolve(HOST, 0, &[SITE])
                .connect("93.184.215.14:80", 0, None)
                .get_slow(HTTP, "93.184.215.14:80", &big(), 20 * 1024),
            Some(site_ctl().fetched(&big())),
        )
        .ooni(Some("consistent"), b("http-failure"), Some(false))
        .verdict(Unknown, &[]),
        row(
            "a slow body without the control's rate is not http.timeout (OONI's helper)",
            HTTP,
            obs()
                .resolve(HOST, 0, &[SITE])
                .connect("93.184.215.14:80", 0, None)
                .get_slow(HTTP, "93.184.215.14:80", &big(), 8 * 1024),
            Some(site_ctl().fetched(&big()).rate(None)),
        )
        .ooni(Some("consistent"), b("http-failure"), Some(false))
        .verdict(Unknown, &[]),
        row(
            "a body that stalls mid-transfer is http.timeout, not throttling",
            HTTP,
            obs()
                .resolve(HOST, 0, &[SITE])
                .connect("93.184.215.14:80", 0, None)
                .get_stalled(HTTP, "93.184.215.14:80", &big(), 8 * 1024, 2),
            Some(site_ctl().fetched(&big())),
        )
        .ooni(Some("consistent"), b("http-failure"), Some(false))
        .verdict(Blocked, &["http.timeout"]),
    ]);
}

#[test]
fn finding_8_fingerprints_only_where_they_mean_something() {
    use Status::*;
    check(vec![
        row(
            "a blockpage's text on a page over TLS validated for the host",
            HTTPS,
            obs()
                .resolve(HOST, 0, &[SITE])
                .connect("93.184.215.14:443", 0, None)
                .handshake("93.184.215.14:443", HOST, 0, None)
                .get(HTTPS, "93.184.215.14:443", 0, &ru_blockpage()),
            Some(site_ctl()),
        )
        .ooni(Some("consistent"), Value::Bool(false), Some(true))
        .verdict(Accessible, &[]),
        row(
            "a Great Firewall answer seen by a probe in Germany is no fingerprint",
            HTTP,
            obs().resolve(HOST, 0, &["8.7.198.45"]).connect(
                "8.7.198.45:80",
                0,
                Some(Failure::Timeout),
            ),
            Some(site_ctl()),
        )
        .cc("DE")
        .ooni(Some("inconsistent"), b("dns"), Some(false))
        .verdict(Unknown, &[]),
        // The same answer, which neither side can connect to while the control's own address
        // serves the site, is forged by that evidence (a poisoned resolver), not by the
        // fingerprint.
        row(
            "a Great Firewall answer in Germany that leads nowhere is forged, by what the control saw",
            HTTP,
            obs().resolve(HOST, 0, &["8.7.198.45"]).connect(
                "8.7.198.45:80",
                0,
                Some(Failure::Timeout),
            ),
            Some(site_ctl().connect_fails("8.7.198.45:80", "generic_timeout_error")),
        )
        .cc("DE")
        .ooni(Some("inconsistent"), b("dns"), Some(false))
        .verdict(Blocked, &["dns.forged"])
        .says("neither the probe nor the control could connect to 8.7.198.45:80")
        .never_says("known forged answer"),
        row(
            "a Russian blockpage text seen by a probe in Germany is no fingerprint",
            HTTP,
            obs()
                .resolve(HOST, 0, &[SITE])
                .connect("93.184.215.14:80", 0, None)
                .get(HTTP, "93.184.215.14:80", 0, &ru_blockpage()),
            Some(site_ctl()),
        )
        .cc("DE")
        .ooni(Some("consistent"), Value::Bool(false), Some(true))
        .verdict(Blocked, &["http.diff"]),
        row(
            "no control + a page that mentions warning.or.kr",
            HTTP,
            obs()
                .resolve(HOST, 0, &[SITE])
                .connect("93.184.215.14:80", 0, None)
                .get(HTTP, "93.184.215.14:80", 0, &about_korea()),
            None,
        )
        .ooni(None, Value::Null, None)
        .verdict(Unknown, &[]),
        row(
            "a redirect to warning.or.kr.example.net is no warning page",
            HTTP,
            obs()
                .resolve(HOST, 0, &[SITE])
                .connect("93.184.215.14:80", 0, None)
                .get(
                    HTTP,
                    "93.184.215.14:80",
                    0,
                    &redirect(302, "http://warning.or.kr.example.net/welcome"),
                )
                .resolve("warning.or.kr.example.net", 1, &[CDN])
                .connect("151.101.1.67:80", 1, None)
                .get(
                    "http://warning.or.kr.example.net/welcome",
                    "151.101.1.67:80",
                    1,
                    &real(),
                ),
            Some(site_ctl().final_url("http://warning.or.kr.example.net/welcome")),
        )
        .ooni(Some("consistent"), Value::Bool(false), Some(true))
        .verdict(Accessible, &[]),
    ]);
}

#[test]
fn finding_9_titles_without_words_are_no_evidence() {
    let home = plain(
        200,
        "Home",
        &format!("<title>Home</title>{}", "x".repeat(5000)),
    );
    check(vec![row(
        "a blockpage titled in short words against a site titled in short words",
        HTTP,
        obs()
            .resolve(HOST, 0, &[SITE])
            .connect("93.184.215.14:80", 0, None)
            .get(
                HTTP,
                "93.184.215.14:80",
                0,
                &plain(200, "Stop", "<html><title>Stop</title>no</html>"),
            ),
        Some(site_ctl().fetched(&home)),
    )
    // OONI's classic keys: two empty word sets "match", so OONI calls it accessible.
    .ooni(Some("consistent"), Value::Bool(false), Some(true))
    .verdict(Status::Blocked, &["http.diff"])]);
}
