//! Three behaviours of real censors that once came out wrong (issue 9): a resolver poisoned
//! upstream whose forged answer leads nowhere, a forged redirect on cleartext HTTP, and a
//! throttled small page; each with the traps that must stay out (down sites, CDNs, GeoDNS,
//! geo-redirects, slow links, servers that pause).

use super::*;

/// An address that accepts no connection from anywhere (a poisoned cache's answer).
const DEAD: &str = "104.244.43.208";
const NOTICE_HOST: &str = "notice.isp-filter.net";
const NOTICE_URL: &str = "http://notice.isp-filter.net/blocked.html";

fn notice_page() -> Resp {
    plain(
        200,
        "Access to this resource is restricted",
        "<html><title>Access to this resource is restricted</title>By order of the regulator.</html>",
    )
}

/// The probe asked the resolver once and got `DEAD`; its connect to `DEAD:port` failed with `f`.
fn poisoned(port: u16, f: Failure) -> Obs {
    obs()
        .resolve(HOST, 0, &[DEAD])
        .connect(&format!("{DEAD}:{port}"), 0, Some(f))
}

#[test]
fn a_resolver_poisoned_upstream_whose_answer_leads_nowhere() {
    use Status::*;
    check(vec![
        row(
            "one forged answer, no connection to it from the probe or the control, the control's own address serves the site",
            HTTP,
            poisoned(80, Failure::Timeout),
            Some(site_ctl().connect_fails(&format!("{DEAD}:80"), "generic_timeout_error")),
        )
        .ooni(Some("inconsistent"), b("dns"), Some(false))
        .verdict(Blocked, &["dns.forged"])
        .says("neither the probe nor the control could connect")
        .says("93.184.215.14:80"),
        row(
            "the same, refused on both sides",
            HTTP,
            poisoned(80, Failure::ConnectionRefused),
            Some(site_ctl().connect_fails(&format!("{DEAD}:80"), "connection_refused")),
        )
        .ooni(Some("inconsistent"), b("dns"), Some(false))
        .verdict(Blocked, &["dns.forged"]),
        row(
            "the same over HTTPS (the control's E001 handshake there fails too)",
            HTTPS,
            poisoned(443, Failure::Timeout),
            Some(
                site_ctl()
                    .connect_fails(&format!("{DEAD}:443"), "generic_timeout_error")
                    .tls_fails(&format!("{DEAD}:443"), HOST, "generic_timeout_error"),
            ),
        )
        .ooni(Some("inconsistent"), b("dns"), Some(false))
        .verdict(Blocked, &["dns.forged"]),
        // Traps.
        row(
            "trap: poisoned, but the site is down from everywhere",
            HTTP,
            poisoned(80, Failure::Timeout),
            Some(
                ctl()
                    .resolves(&[SITE])
                    .connect_fails("93.184.215.14:80", "connection_refused")
                    .connect_fails(&format!("{DEAD}:80"), "generic_timeout_error")
                    .fetch_fails("connection_refused"),
            ),
        )
        .ooni(Some("inconsistent"), b("dns"), Some(false))
        .verdict(Down, &[]),
        row(
            "trap: the control connects to its own address but its fetch fails",
            HTTP,
            poisoned(80, Failure::Timeout),
            Some(
                ctl()
                    .resolves(&[SITE])
                    .connects("93.184.215.14:80")
                    .connect_fails(&format!("{DEAD}:80"), "generic_timeout_error")
                    .fetch_fails("connection_reset"),
            ),
        )
        .ooni(Some("inconsistent"), b("dns"), Some(false))
        .verdict(Down, &[]),
        row(
            "trap: the control never tried the probe's address",
            HTTP,
            poisoned(80, Failure::Timeout),
            Some(site_ctl()),
        )
        .ooni(Some("inconsistent"), b("dns"), Some(false))
        .verdict(Unknown, &[]),
        row(
            "trap: no route to the probe's address from either side (a network's reach, not a site's)",
            HTTP,
            poisoned(80, Failure::HostUnreachable),
            Some(site_ctl().connect_fails(&format!("{DEAD}:80"), "host_unreachable")),
        )
        .ooni(Some("inconsistent"), b("dns"), Some(false))
        .verdict(Unknown, &[]),
        row(
            "trap: a CDN answer with one dead node, the other serves the page",
            HTTP,
            obs()
                .resolve(HOST, 0, &[DEAD, CDN])
                .connect(&format!("{DEAD}:80"), 0, Some(Failure::Timeout))
                .connect("151.101.1.67:80", 0, None)
                .get(HTTP, "151.101.1.67:80", 0, &real()),
            Some(
                site_ctl()
                    .connect_fails(&format!("{DEAD}:80"), "generic_timeout_error")
                    .connects("151.101.1.67:80"),
            ),
        )
        .ooni(Some("inconsistent"), Value::Bool(false), Some(true))
        .verdict(Accessible, &[]),
        row(
            "trap: the control's own addresses fail too, where the probe's are dead",
            HTTP,
            poisoned(80, Failure::Timeout),
            Some(
                ctl()
                    .resolves(&[SITE])
                    .connect_fails("93.184.215.14:80", "generic_timeout_error")
                    .connect_fails(&format!("{DEAD}:80"), "generic_timeout_error")
                    .fetched(&real()),
            ),
        )
        .ooni(Some("inconsistent"), b("dns"), Some(false))
        .verdict(Unknown, &[]),
    ]);
}

/// The probe's GET of the input got a 302 to `to`, whose page it then fetched.
fn forged_redirect(to: &str, to_host: &str, page: &Resp) -> Obs {
    obs()
        .resolve(HOST, 0, &[SITE])
        .connect("93.184.215.14:80", 0, None)
        .get(HTTP, "93.184.215.14:80", 0, &redirect(302, to))
        .resolve(to_host, 1, &[PROXY])
        .connect("45.33.1.10:80", 1, None)
        .get(to, "45.33.1.10:80", 1, page)
}

#[test]
fn a_forged_redirect_on_cleartext_http() {
    use Status::*;
    check(vec![
        row(
            "a 302 to an unknown notice host, where the control got the page at the input's URL",
            HTTP,
            forged_redirect(NOTICE_URL, NOTICE_HOST, &notice_page()),
            Some(site_ctl().final_url(HTTP)),
        )
        .ooni(Some("consistent"), Value::Bool(false), Some(true))
        .verdict(Blocked, &["http.diff"])
        .says("http://www.example.com/ redirected (302) to http://notice.isp-filter.net/blocked.html over cleartext HTTP")
        .says("where the control got the page"),
        row(
            "the same where the site upgrades the control to HTTPS",
            HTTP,
            forged_redirect(NOTICE_URL, NOTICE_HOST, &notice_page()),
            Some(site_ctl().final_url(HTTPS)),
        )
        .ooni(Some("consistent"), Value::Bool(false), Some(true))
        .verdict(Blocked, &["http.diff"]),
        row(
            "a redirect elsewhere: the control went on to the site's /home, the probe to a notice host",
            HTTP,
            forged_redirect(NOTICE_URL, NOTICE_HOST, &notice_page()),
            Some(site_ctl().final_url("http://www.example.com/home")),
        )
        .ooni(Some("consistent"), Value::Bool(false), Some(true))
        .verdict(Blocked, &["http.diff"])
        .says("where the control's fetch went on to http://www.example.com/home"),
        row(
            "a 302 to a notice page known by its text is a blockpage, not also a diff",
            HTTP,
            forged_redirect(
                NOTICE_URL,
                NOTICE_HOST,
                &plain(
                    200,
                    "Доступ ограничен",
                    "<html>Доступ к сайту ограничен в соответствии с Федеральными законами</html>",
                ),
            ),
            Some(site_ctl().final_url(HTTP)),
        )
        .ooni(Some("consistent"), Value::Bool(false), Some(true))
        .verdict(Blocked, &["http.blockpage"]),
        row(
            "a forged 302 one hop in, after the site's own redirect to its www host",
            "http://example.com/",
            obs()
                .resolve("example.com", 0, &[SITE])
                .connect("93.184.215.14:80", 0, None)
                .get(
                    "http://example.com/",
                    "93.184.215.14:80",
                    0,
                    &redirect(301, HTTP),
                )
                .connect("93.184.215.14:80", 1, None)
                .get(HTTP, "93.184.215.14:80", 1, &redirect(302, NOTICE_URL))
                .resolve(NOTICE_HOST, 2, &[PROXY])
                .connect("45.33.1.10:80", 2, None)
                .get(NOTICE_URL, "45.33.1.10:80", 2, &notice_page()),
            Some(
                ctl()
                    .resolves(&[SITE])
                    .connects("93.184.215.14:80")
                    .fetched(&real())
                    .final_url(HTTP),
            ),
        )
        .ooni(Some("consistent"), Value::Bool(false), Some(true))
        .verdict(Blocked, &["http.diff"])
        .says("http://www.example.com/ redirected (302)"),
        // Traps: the site's own redirects.
        row(
            "trap: the redirect came from an address nothing ties to the site (a CDN's or a forger's)",
            HTTP,
            obs()
                .resolve(HOST, 0, &[CDN])
                .connect("151.101.1.67:80", 0, None)
                .get(HTTP, "151.101.1.67:80", 0, &redirect(302, NOTICE_URL))
                .resolve(NOTICE_HOST, 1, &[PROXY])
                .connect("45.33.1.10:80", 1, None)
                .get(NOTICE_URL, "45.33.1.10:80", 1, &notice_page()),
            Some(site_ctl().final_url(HTTP)),
        )
        .ooni(Some("inconsistent"), Value::Bool(false), Some(true))
        .verdict(Unknown, &[]),
        row(
            "trap: the control does not say where its fetch ended (OONI's helper): the pages are compared",
            HTTP,
            forged_redirect("http://www.example.org/", "www.example.org", &real()),
            Some(site_ctl()),
        )
        .ooni(Some("consistent"), Value::Bool(false), Some(true))
        .verdict(Accessible, &[]),
        row(
            "trap: the same redirect seen by the control (it ended on the same page)",
            HTTP,
            forged_redirect("http://www.example.org/", "www.example.org", &real()),
            Some(site_ctl().final_url("http://www.example.org/")),
        )
        .ooni(Some("consistent"), Value::Bool(false), Some(true))
        .verdict(Accessible, &[]),
        row(
            "trap: the control was redirected to the same host, another path",
            HTTP,
            forged_redirect("http://www.example.org/de/", "www.example.org", &notice_page()),
            Some(site_ctl().final_url("http://www.example.org/en/")),
        )
        .ooni(Some("consistent"), Value::Bool(false), Some(true))
        .verdict(Unknown, &[]),
        row(
            "trap: a geo-redirect within the site's registrable domain",
            HTTP,
            forged_redirect("http://de.example.com/", "de.example.com", &notice_page()),
            Some(site_ctl().final_url(HTTP)),
        )
        .ooni(Some("consistent"), Value::Bool(false), Some(true))
        .verdict(Unknown, &[]),
        row(
            "trap: a geo-redirect to the bare domain",
            HTTP,
            forged_redirect("http://example.com/de", "example.com", &notice_page()),
            Some(site_ctl().final_url(HTTP)),
        )
        .ooni(Some("consistent"), Value::Bool(false), Some(true))
        .verdict(Unknown, &[]),
        row(
            "trap: a geo-redirect to another domain whose page is the site's by OONI's rules",
            HTTP,
            forged_redirect(
                "http://www.example.de/",
                "www.example.de",
                &page("Beispiel Startseite", 5200),
            ),
            Some(site_ctl().final_url(HTTP)),
        )
        .ooni(Some("consistent"), Value::Bool(false), Some(true))
        .verdict(Accessible, &[]),
        row(
            "trap: a geo-redirect to another domain over TLS validated for the site",
            HTTPS,
            obs()
                .resolve(HOST, 0, &[SITE])
                .connect("93.184.215.14:443", 0, None)
                .handshake("93.184.215.14:443", HOST, 0, None)
                .get(
                    HTTPS,
                    "93.184.215.14:443",
                    0,
                    &redirect(302, "https://www.example.de/"),
                )
                .resolve("www.example.de", 1, &[PROXY])
                .connect("45.33.1.10:443", 1, None)
                .handshake("45.33.1.10:443", "www.example.de", 1, None)
                .get(
                    "https://www.example.de/",
                    "45.33.1.10:443",
                    1,
                    &notice_page(),
                ),
            Some(site_ctl().final_url(HTTPS)),
        )
        .ooni(Some("consistent"), Value::Bool(false), Some(true))
        .verdict(Accessible, &[]),
    ]);
}

fn small() -> Resp {
    page("Example Domain Homepage", 12_000)
}

#[test]
fn a_throttled_small_page() {
    use Status::*;
    check(vec![
        row(
            "12 KB at 3 KB/s over 4 s, a 40 ms connect, the control at full speed",
            HTTP,
            obs()
                .resolve(HOST, 0, &[SITE])
                .connect("93.184.215.14:80", 0, None)
                .get_paced(HTTP, "93.184.215.14:80", &small(), 4.0),
            Some(site_ctl().fetched(&small())),
        )
        .ooni(Some("consistent"), Value::Bool(false), Some(true))
        .verdict(Blocked, &["throttling"])
        .says("a 0.040 s round trip explains")
        .says("arrived at 3005 bytes/s (12019 bytes in 4.0 s)"),
        row(
            "12 KB cut by the timeout at 1 KB/s while still arriving",
            HTTP,
            obs()
                .resolve(HOST, 0, &[SITE])
                .connect("93.184.215.14:80", 0, None)
                .get_slow(HTTP, "93.184.215.14:80", &small(), 1000),
            Some(site_ctl().fetched(&small())),
        )
        .ooni(Some("consistent"), b("http-failure"), Some(false))
        .verdict(Blocked, &["throttling"]),
        row(
            "a 4 KB page at 300 bytes/s, cut off while still arriving",
            HTTP,
            obs()
                .resolve(HOST, 0, &[SITE])
                .connect("93.184.215.14:80", 0, None)
                .get_slow(HTTP, "93.184.215.14:80", &page("Small", 4000), 300),
            Some(site_ctl().fetched(&page("Small", 4000))),
        )
        .ooni(Some("consistent"), b("http-failure"), Some(false))
        .verdict(Blocked, &["throttling"]),
        // Traps.
        row(
            "trap: 12 KB at 3 KB/s over a slow international link (a 700 ms connect)",
            HTTP,
            obs()
                .resolve(HOST, 0, &[SITE])
                .connect_rtt("93.184.215.14:80", 0, 0.7)
                .get_paced(HTTP, "93.184.215.14:80", &small(), 4.0),
            Some(site_ctl().fetched(&small())),
        )
        .ooni(Some("consistent"), Value::Bool(false), Some(true))
        .verdict(Accessible, &[]),
        row(
            "trap: 12 KB slowly for the control too",
            HTTP,
            obs()
                .resolve(HOST, 0, &[SITE])
                .connect("93.184.215.14:80", 0, None)
                .get_paced(HTTP, "93.184.215.14:80", &small(), 4.0),
            Some(site_ctl().fetched(&small()).rate(Some(6000.0))),
        )
        .ooni(Some("consistent"), Value::Bool(false), Some(true))
        .verdict(Accessible, &[]),
        row(
            "trap: a server that pauses 4 s mid-page, then sends the rest at once",
            HTTP,
            obs()
                .resolve(HOST, 0, &[SITE])
                .connect("93.184.215.14:80", 0, None)
                .get_paused(HTTP, "93.184.215.14:80", &small(), 2000, 4.0),
            Some(site_ctl().fetched(&small())),
        )
        .ooni(Some("consistent"), Value::Bool(false), Some(true))
        .verdict(Accessible, &[]),
        row(
            "trap: 12 KB in 1.5 s is too short to judge",
            HTTP,
            obs()
                .resolve(HOST, 0, &[SITE])
                .connect("93.184.215.14:80", 0, None)
                .get_paced(HTTP, "93.184.215.14:80", &small(), 1.5),
            Some(site_ctl().fetched(&small())),
        )
        .ooni(Some("consistent"), Value::Bool(false), Some(true))
        .verdict(Accessible, &[]),
        row(
            "trap: 40 KB at 20 KB/s is a slow line, not throttling",
            HTTP,
            obs()
                .resolve(HOST, 0, &[SITE])
                .connect("93.184.215.14:80", 0, None)
                .get_paced(
                    HTTP,
                    "93.184.215.14:80",
                    &page("Example Domain Homepage", 40_000),
                    2.0,
                ),
            Some(site_ctl().fetched(&page("Example Domain Homepage", 40_000))),
        )
        .ooni(Some("consistent"), Value::Bool(false), Some(true))
        .verdict(Accessible, &[]),
    ]);
}
