//! One row per method of SPEC's table (those the QA rows do not already cover).

use super::*;

#[test]
fn every_method_has_a_row() {
    use Status::*;
    let ru_blockpage = plain(
        200,
        "Blocked",
        "<html><title>Blocked</title><body>Доступ к сайту ограничен в соответствии с Федеральными законами</body></html>",
    );
    check(vec![
        row(
            "dns.failure: SERVFAIL where the control resolves",
            HTTP,
            obs().dns_fails(HOST, 0, Failure::DnsServfail),
            Some(site_ctl()),
        )
        .ooni(Some("inconsistent"), b("dns"), Some(false))
        .verdict(Blocked, &["dns.failure"]),
        row(
            "dns.failure: the resolver is silent",
            HTTP,
            obs().dns_fails(HOST, 0, Failure::Timeout),
            Some(site_ctl()),
        )
        .ooni(Some("inconsistent"), b("dns"), Some(false))
        .verdict(Blocked, &["dns.failure"]),
        row(
            "dns.forged: a GFW answer, the connection times out",
            HTTP,
            obs().resolve(HOST, 0, &["8.7.198.45"]).connect(
                "8.7.198.45:80",
                0,
                Some(Failure::Timeout),
            ),
            Some(site_ctl().connect_fails("8.7.198.45:80", "generic_timeout_error")),
        )
        .ooni(Some("inconsistent"), b("dns"), Some(false))
        .verdict(Blocked, &["dns.forged"]),
        row(
            "dns.forged: another service's address, another certificate",
            HTTPS,
            obs()
                .resolve(HOST, 0, &[OTHER])
                .connect("31.13.94.37:443", 0, None)
                .handshake(
                    "31.13.94.37:443",
                    HOST,
                    0,
                    Some(Failure::SslInvalidHostname),
                ),
            Some(site_ctl().tls_fails("31.13.94.37:443", HOST, "ssl_invalid_hostname")),
        )
        .ooni(Some("inconsistent"), b("dns"), Some(false))
        .verdict(Blocked, &["dns.forged"]),
        row(
            "tcp.reset",
            HTTP,
            obs().resolve(HOST, 0, &[SITE]).connect(
                "93.184.215.14:80",
                0,
                Some(Failure::ConnectionReset),
            ),
            Some(site_ctl()),
        )
        .ooni(Some("consistent"), b("tcp_ip"), Some(false))
        .verdict(Blocked, &["tcp.reset"]),
        row(
            "tcp.refused",
            HTTP,
            obs().resolve(HOST, 0, &[SITE]).connect(
                "93.184.215.14:80",
                0,
                Some(Failure::ConnectionRefused),
            ),
            Some(site_ctl()),
        )
        .ooni(Some("consistent"), b("tcp_ip"), Some(false))
        .verdict(Blocked, &["tcp.refused"]),
        row(
            "tls.eof",
            HTTPS,
            obs()
                .resolve(HOST, 0, &[SITE])
                .connect("93.184.215.14:443", 0, None)
                .handshake("93.184.215.14:443", HOST, 0, Some(Failure::Eof)),
            Some(site_ctl()),
        )
        .ooni(Some("consistent"), b("http-failure"), Some(false))
        .verdict(Blocked, &["tls.eof"]),
        row(
            "tls.timeout",
            HTTPS,
            obs()
                .resolve(HOST, 0, &[SITE])
                .connect("93.184.215.14:443", 0, None)
                .handshake("93.184.215.14:443", HOST, 0, Some(Failure::Timeout)),
            Some(site_ctl()),
        )
        .ooni(Some("consistent"), b("http-failure"), Some(false))
        .verdict(Blocked, &["tls.timeout"]),
        row(
            "tls.mitm: an untrusted certificate where the control's validates",
            HTTPS,
            obs()
                .resolve(HOST, 0, &[SITE])
                .connect("93.184.215.14:443", 0, None)
                .handshake(
                    "93.184.215.14:443",
                    HOST,
                    0,
                    Some(Failure::SslUnknownAuthority),
                ),
            Some(site_ctl()),
        )
        .ooni(Some("consistent"), b("http-failure"), Some(false))
        .verdict(Blocked, &["tls.mitm"]),
        row(
            "http.timeout: no response at all",
            HTTP,
            obs()
                .resolve(HOST, 0, &[SITE])
                .connect("93.184.215.14:80", 0, None)
                .get_fails(HTTP, "93.184.215.14:80", 0, Failure::Timeout),
            Some(site_ctl()),
        )
        .ooni(Some("consistent"), b("http-failure"), Some(false))
        .verdict(Blocked, &["http.timeout"]),
        row(
            "http.blockpage: a national blockpage body",
            HTTP,
            obs()
                .resolve(HOST, 0, &[SITE])
                .connect("93.184.215.14:80", 0, None)
                .get(HTTP, "93.184.215.14:80", 0, &ru_blockpage),
            Some(site_ctl()),
        )
        .ooni(Some("consistent"), Value::Bool(false), Some(true))
        .verdict(Blocked, &["http.blockpage"]),
        row(
            "http.blockpage: a redirect to warning.or.kr, which serves its page over valid TLS",
            HTTP,
            obs()
                .resolve(HOST, 0, &[SITE])
                .connect("93.184.215.14:80", 0, None)
                .get(
                    HTTP,
                    "93.184.215.14:80",
                    0,
                    &redirect(302, "http://warning.or.kr/i1.html"),
                )
                .resolve("warning.or.kr", 1, &["211.1.1.1"])
                .connect("211.1.1.1:80", 1, None)
                .get(
                    "http://warning.or.kr/i1.html",
                    "211.1.1.1:80",
                    1,
                    &plain(200, "warning", "<html>warning</html>"),
                ),
            Some(site_ctl()),
        )
        .ooni(Some("consistent"), Value::Bool(false), Some(true))
        .verdict(Blocked, &["http.blockpage"]),
        row(
            "http.blockpage: the redirect target is HTTPS (OONI: accessible)",
            HTTP,
            obs()
                .resolve(HOST, 0, &[SITE])
                .connect("93.184.215.14:80", 0, None)
                .get(
                    HTTP,
                    "93.184.215.14:80",
                    0,
                    &redirect(302, "http://www.warning.or.kr/"),
                )
                .get(
                    "http://www.warning.or.kr/",
                    "211.1.1.1:80",
                    1,
                    &redirect(301, "https://www.warning.or.kr/"),
                )
                .resolve("www.warning.or.kr", 1, &["211.1.1.1"])
                .connect("211.1.1.1:80", 1, None)
                .connect("211.1.1.1:443", 2, None)
                .handshake("211.1.1.1:443", "www.warning.or.kr", 2, None)
                .get(
                    "https://www.warning.or.kr/",
                    "211.1.1.1:443",
                    2,
                    &plain(200, "warning", "<html>warning</html>"),
                ),
            Some(site_ctl()),
        )
        .ooni(Some("consistent"), Value::Bool(false), Some(true))
        .verdict(Blocked, &["http.blockpage"]),
        row(
            "http.blockpage: a redirect to a warning page whose host does not resolve here",
            HTTP,
            obs()
                .resolve(HOST, 0, &[SITE])
                .connect("93.184.215.14:80", 0, None)
                .get(
                    HTTP,
                    "93.184.215.14:80",
                    0,
                    &redirect(302, "http://warning.or.kr/i1.html"),
                )
                .dns_fails("warning.or.kr", 1, Failure::DnsNxdomain),
            Some(site_ctl()),
        )
        // OONI's walk meets the NXDOMAIN at depth 1 first: "dns".
        .ooni(Some("consistent"), b("dns"), Some(false))
        .verdict(Blocked, &["http.blockpage"]),
        row(
            "dns.injection + tcp.timeout: the forged answer wins, its address is blackholed",
            HTTP,
            obs()
                .datagram(datagram(HOST, "A", 1, 0, 0.001, &[OTHER]))
                .datagram(datagram(HOST, "A", 1, 1, 0.101, &[SITE]))
                .datagram(datagram(HOST, "AAAA", 2, 0, 0.1, &[]))
                .connect("31.13.94.37:80", 0, Some(Failure::Timeout)),
            Some(site_ctl().connects("31.13.94.37:80")),
        )
        .ooni(Some("inconsistent"), b("dns"), Some(false))
        .verdict(Blocked, &["dns.injection", "dns.forged", "tcp.timeout"]),
    ]);
}
