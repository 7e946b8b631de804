//! OONI's QA families (OONI.md's golden outcomes table).

use super::*;

#[test]
fn ooni_qa_golden_outcomes() {
    use Status::*;
    let ghost_page = plain(
        200,
        "Access denied",
        "<html><title>Access denied</title></html>",
    );
    check(vec![
        row("successWithHTTP", HTTP, http_ok(), Some(site_ctl()))
            .ooni(Some("consistent"), Value::Bool(false), Some(true))
            .verdict(Accessible, &[]),
        row("successWithHTTPS", HTTPS, https_ok(), Some(site_ctl()))
            .ooni(Some("consistent"), Value::Bool(false), Some(true))
            .verdict(Accessible, &[]),
        row(
            "dnsBlockingNXDOMAIN",
            HTTPS,
            obs().dns_fails(HOST, 0, Failure::DnsNxdomain),
            Some(site_ctl()),
        )
        .ooni(Some("inconsistent"), b("dns"), Some(false))
        .verdict(Blocked, &["dns.nxdomain"]),
        row(
            "dnsBlockingBOGON",
            HTTP,
            obs()
                .resolve(HOST, 0, &["10.0.0.1"])
                .connect("10.0.0.1:80", 0, Some(Failure::Timeout)),
            Some(site_ctl()),
        )
        .ooni(Some("inconsistent"), b("dns"), Some(false))
        .verdict(Blocked, &["dns.bogon"]),
        row(
            "dnsBlockingBOGON to Iran's national blockpage",
            HTTP,
            obs()
                .resolve(HOST, 0, &["10.10.34.35"])
                .connect("10.10.34.35:80", 0, None)
                .get(
                    HTTP,
                    "10.10.34.35:80",
                    0,
                    &plain(200, "M1-6", "<html><head><title>M1-6</title></head><body><iframe src=\"http://10.10.34.35:80\"></iframe></body></html>"),
                ),
            Some(site_ctl()),
        )
        .ooni(Some("inconsistent"), Value::Bool(false), Some(true))
        .verdict(Blocked, &["dns.bogon", "dns.forged", "http.blockpage"]),
        row(
            "dnsHijackingToProxyWithHTTPURL",
            HTTP,
            obs()
                .resolve(HOST, 0, &[PROXY])
                .connect("45.33.1.10:80", 0, None)
                .get(HTTP, "45.33.1.10:80", 0, &real()),
            Some(site_ctl().connects("45.33.1.10:80")),
        )
        .ooni(Some("inconsistent"), Value::Bool(false), Some(true))
        .verdict(Accessible, &[]),
        // vantage's improvement: the proxy's TLS validated for the name, so the answer is
        // consistent (OONI's classic engine says "inconsistent" here).
        row(
            "dnsHijackingToProxyWithHTTPSURL",
            HTTPS,
            obs()
                .resolve(HOST, 0, &[PROXY])
                .connect("45.33.1.10:443", 0, None)
                .handshake("45.33.1.10:443", HOST, 0, None)
                .get(HTTPS, "45.33.1.10:443", 0, &real()),
            Some(site_ctl()),
        )
        .ooni(Some("consistent"), Value::Bool(false), Some(true))
        .verdict(Accessible, &[]),
        row(
            "ghostDNSBlockingWithHTTP",
            "http://ghost.example.com/",
            obs()
                .resolve("ghost.example.com", 0, &[OTHER])
                .connect("31.13.94.37:80", 0, None)
                .get("http://ghost.example.com/", "31.13.94.37:80", 0, &ghost_page),
            Some(
                ctl()
                    .dns_fails("dns_name_error")
                    .connects("31.13.94.37:80")
                    .fetch_fails("dns_nxdomain_error"),
            ),
        )
        .ooni(Some("inconsistent"), b("dns"), Some(false))
        // The name does not exist: a resolver rewriting NXDOMAIN, the site is down (classic
        // keys as OONI's).
        .verdict(Down, &[]),
        row(
            "ghostDNSBlockingWithHTTPS",
            "https://ghost.example.com/",
            obs()
                .resolve("ghost.example.com", 0, &[OTHER])
                .connect("31.13.94.37:443", 0, Some(Failure::Timeout)),
            Some(
                ctl()
                    .dns_fails("dns_name_error")
                    .connect_fails("31.13.94.37:443", "generic_timeout_error")
                    .fetch_fails("dns_nxdomain_error"),
            ),
        )
        .ooni(Some("inconsistent"), b("dns"), Some(false))
        // The name does not exist: a resolver rewriting NXDOMAIN, the site is down (classic
        // keys as OONI's).
        .verdict(Down, &[]),
        row(
            "tcpBlockingConnectTimeout",
            HTTPS,
            obs()
                .resolve(HOST, 0, &[SITE])
                .connect("93.184.215.14:443", 0, Some(Failure::Timeout)),
            Some(site_ctl()),
        )
        .ooni(Some("consistent"), b("tcp_ip"), Some(false))
        .verdict(Blocked, &["tcp.timeout"]),
        row(
            "tlsBlockingConnectionResetWithConsistentDNS",
            HTTPS,
            obs()
                .resolve(HOST, 0, &[SITE])
                .connect("93.184.215.14:443", 0, None)
                .handshake("93.184.215.14:443", HOST, 0, Some(Failure::ConnectionReset)),
            Some(site_ctl()),
        )
        .ooni(Some("consistent"), b("http-failure"), Some(false))
        .verdict(Blocked, &["tls.reset"]),
        row(
            "httpBlockingConnectionReset",
            HTTP,
            obs()
                .resolve(HOST, 0, &[SITE])
                .connect("93.184.215.14:80", 0, None)
                .get_fails(HTTP, "93.184.215.14:80", 0, Failure::ConnectionReset),
            Some(site_ctl()),
        )
        .ooni(Some("consistent"), b("http-failure"), Some(false))
        .verdict(Blocked, &["http.reset"]),
        row(
            "throttlingWithHTTP",
            HTTP,
            obs()
                .resolve(HOST, 0, &[SITE])
                .connect("93.184.215.14:80", 0, None)
                .get_slow(HTTP, "93.184.215.14:80", &page("Big", 1 << 20), 8 * 1024),
            Some(site_ctl().fetched(&page("Big", 1 << 20))),
        )
        .ooni(Some("consistent"), b("http-failure"), Some(false))
        .verdict(Blocked, &["throttling"]),
        row(
            "throttlingWithHTTPS",
            HTTPS,
            obs()
                .resolve(HOST, 0, &[SITE])
                .connect("93.184.215.14:443", 0, None)
                .handshake("93.184.215.14:443", HOST, 0, None)
                .get_slow(HTTPS, "93.184.215.14:443", &page("Big", 1 << 20), 8 * 1024),
            Some(site_ctl().fetched(&page("Big", 1 << 20))),
        )
        .ooni(Some("consistent"), b("http-failure"), Some(false))
        .verdict(Blocked, &["throttling"]),
        row(
            "httpDiffWithConsistentDNS",
            HTTP,
            obs()
                .resolve(HOST, 0, &[SITE])
                .connect("93.184.215.14:80", 0, None)
                .get(HTTP, "93.184.215.14:80", 0, &Resp { headers: vec![], ..plain(200, "Nothing to see here", "<html>blocked</html>") }),
            Some(site_ctl()),
        )
        .ooni(Some("consistent"), b("http-diff"), Some(false))
        .verdict(Blocked, &["http.diff"]),
        row(
            "cloudflareCAPTCHAWithHTTP",
            HTTP,
            obs()
                .resolve(HOST, 0, &[SITE])
                .connect("93.184.215.14:80", 0, None)
                .get(HTTP, "93.184.215.14:80", 0, &captcha()),
            Some(site_ctl()),
        )
        .ooni(Some("consistent"), b("http-diff"), Some(false))
        .verdict(Accessible, &[]),
        row(
            "cloudflareCAPTCHAWithHTTPS",
            HTTPS,
            obs()
                .resolve(HOST, 0, &[SITE])
                .connect("93.184.215.14:443", 0, None)
                .handshake("93.184.215.14:443", HOST, 0, None)
                .get(HTTPS, "93.184.215.14:443", 0, &captcha()),
            Some(site_ctl()),
        )
        .ooni(Some("consistent"), Value::Bool(false), Some(true))
        .verdict(Accessible, &[]),
        row(
            "redirectWithConsistentDNSAndThenNXDOMAIN",
            HTTP,
            obs()
                .resolve(HOST, 0, &[SITE])
                .connect("93.184.215.14:80", 0, None)
                .get(HTTP, "93.184.215.14:80", 0, &redirect(302, "http://www.example.org/"))
                .dns_fails("www.example.org", 1, Failure::DnsNxdomain),
            Some(site_ctl()),
        )
        .ooni(Some("consistent"), b("dns"), Some(false))
        .verdict(Blocked, &["dns.nxdomain"]),
        row(
            "redirectWithConsistentDNSAndThenConnectionRefusedForHTTP",
            HTTP,
            redirected_to_org()
                .connect("151.101.1.67:80", 1, Some(Failure::ConnectionRefused)),
            Some(site_ctl()),
        )
        .ooni(Some("consistent"), b("http-failure"), Some(false))
        .verdict(Blocked, &["tcp.refused"]),
        row(
            "redirectWithConsistentDNSAndThenConnectionResetForHTTP",
            HTTP,
            redirected_to_org()
                .connect("151.101.1.67:80", 1, None)
                .get_fails("http://www.example.org/", "151.101.1.67:80", 1, Failure::ConnectionReset),
            Some(site_ctl()),
        )
        .ooni(Some("consistent"), b("http-failure"), Some(false))
        .verdict(Blocked, &["http.reset"]),
        row(
            "redirectWithConsistentDNSAndThenEOFForHTTP",
            HTTP,
            redirected_to_org()
                .connect("151.101.1.67:80", 1, None)
                .get_fails("http://www.example.org/", "151.101.1.67:80", 1, Failure::Eof),
            Some(site_ctl()),
        )
        .ooni(Some("consistent"), b("http-failure"), Some(false))
        .verdict(Blocked, &["http.eof"]),
        row(
            "redirectWithConsistentDNSAndThenTimeoutForHTTPS",
            HTTP,
            obs()
                .resolve(HOST, 0, &[SITE])
                .connect("93.184.215.14:80", 0, None)
                .get(HTTP, "93.184.215.14:80", 0, &redirect(301, "https://www.example.com/"))
                .connect("93.184.215.14:443", 1, None)
                .handshake("93.184.215.14:443", HOST, 1, Some(Failure::Timeout)),
            Some(site_ctl()),
        )
        .ooni(Some("consistent"), b("http-failure"), Some(false))
        .verdict(Blocked, &["tls.timeout"]),
        row(
            "websiteDownNXDOMAIN",
            HTTP,
            obs().dns_fails(HOST, 0, Failure::DnsNxdomain),
            Some(ctl().dns_fails("dns_name_error").fetch_fails("dns_nxdomain_error")),
        )
        .ooni(Some("consistent"), Value::Bool(false), Some(false))
        .verdict(Down, &[]),
        row(
            "websiteDownTCPConnect",
            HTTP,
            obs()
                .resolve(HOST, 0, &[SITE])
                .connect("93.184.215.14:80", 0, Some(Failure::ConnectionRefused)),
            Some(
                ctl()
                    .resolves(&[SITE])
                    .connect_fails("93.184.215.14:80", "connection_refused")
                    .fetch_fails("connection_refused"),
            ),
        )
        .ooni(Some("consistent"), Value::Bool(false), Some(false))
        .verdict(Down, &[]),
        row(
            "badSSLWithExpiredCertificate",
            HTTPS,
            obs()
                .resolve(HOST, 0, &[SITE])
                .connect("93.184.215.14:443", 0, None)
                .handshake("93.184.215.14:443", HOST, 0, Some(Failure::SslInvalidCertificate)),
            Some(
                ctl()
                    .resolves(&[SITE])
                    .connects("93.184.215.14:443")
                    .tls_fails("93.184.215.14:443", HOST, "ssl_invalid_certificate")
                    .fetch_fails("ssl_invalid_certificate"),
            ),
        )
        .ooni(Some("consistent"), Value::Bool(false), Some(false))
        .verdict(Down, &[]),
        row("controlFailureWithSuccessfulHTTPWebsite", HTTP, http_ok(), None)
            .control_failed("generic_timeout_error")
            .ooni(None, Value::Null, None)
            .verdict(Unknown, &[]),
        row("controlFailureWithSuccessfulHTTPSWebsite", HTTPS, https_ok(), None)
            .control_failed("generic_timeout_error")
            // SPEC: without a control, only self-evident verdicts; the rest is unknown.
            .ooni(None, Value::Bool(false), Some(true))
            .verdict(Unknown, &[]),
    ]);
}
