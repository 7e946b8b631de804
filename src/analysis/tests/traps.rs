//! Traps: what must never be called blocked.

use super::*;

#[test]
fn traps_are_never_blocked() {
    use Status::*;
    check(vec![
        row(
            "CDN: other addresses than the control's, validated by TLS",
            HTTPS,
            obs()
                .resolve(HOST, 0, &[CDN])
                .connect("151.101.1.67:443", 0, None)
                .handshake("151.101.1.67:443", HOST, 0, None)
                .get(HTTPS, "151.101.1.67:443", 0, &real()),
            Some(site_ctl()),
        )
        .ooni(Some("consistent"), Value::Bool(false), Some(true))
        .verdict(Accessible, &[]),
        row(
            "CDN over HTTP: the control's TLS validates the name at the probe's address",
            HTTP,
            obs()
                .resolve(HOST, 0, &[CDN])
                .connect("151.101.1.67:80", 0, None)
                .get(
                    HTTP,
                    "151.101.1.67:80",
                    0,
                    &page("Example Domain Homepage", 5300),
                ),
            Some(
                site_ctl()
                    .connects("151.101.1.67:80")
                    .tls_ok("151.101.1.67:443", HOST),
            ),
        )
        .ooni(Some("inconsistent"), Value::Bool(false), Some(true))
        .verdict(Accessible, &[]),
        row(
            "CDN: a shared ASN makes the answers consistent",
            HTTP,
            obs()
                .resolve(HOST, 0, &[CDN])
                .connect("151.101.1.67:80", 0, None)
                .get(HTTP, "151.101.1.67:80", 0, &real()),
            Some(site_ctl().asn(CDN, 54113, 1).asn(SITE, 54113, 2)),
        )
        .ooni(Some("consistent"), Value::Bool(false), Some(true))
        .verdict(Accessible, &[]),
        row(
            "CDN over TLS, but the site is down everywhere",
            HTTPS,
            obs().resolve(HOST, 0, &[CDN]).connect(
                "151.101.1.67:443",
                0,
                Some(Failure::ConnectionRefused),
            ),
            Some(
                ctl()
                    .resolves(&[SITE])
                    .connect_fails("93.184.215.14:443", "connection_refused")
                    .fetch_fails("connection_refused"),
            ),
        )
        .ooni(Some("inconsistent"), b("dns"), Some(false))
        .verdict(Down, &[]),
        row(
            "down: refused from the control too",
            HTTP,
            obs().resolve(HOST, 0, &[SITE]).connect(
                "93.184.215.14:80",
                0,
                Some(Failure::ConnectionRefused),
            ),
            Some(ctl().resolves(&[SITE]).fetch_fails("connection_refused")),
        )
        .ooni(Some("consistent"), b("http-failure"), Some(false))
        .verdict(Down, &[]),
        row(
            "down: NXDOMAIN everywhere",
            HTTPS,
            obs().dns_fails(HOST, 0, Failure::DnsNxdomain),
            Some(
                ctl()
                    .dns_fails("dns_name_error")
                    .fetch_fails("dns_nxdomain_error"),
            ),
        )
        .ooni(Some("consistent"), Value::Bool(false), Some(false))
        .verdict(Down, &[]),
        row(
            "down: 5xx on both sides",
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
            Some(site_ctl().fetched(&plain(
                503,
                "Service Unavailable",
                "<html>unavailable</html>",
            ))),
        )
        .ooni(Some("consistent"), b("http-diff"), Some(false))
        .verdict(Down, &[]),
        row(
            "down: 5xx on both sides over HTTPS",
            HTTPS,
            obs()
                .resolve(HOST, 0, &[SITE])
                .connect("93.184.215.14:443", 0, None)
                .handshake("93.184.215.14:443", HOST, 0, None)
                .get(
                    HTTPS,
                    "93.184.215.14:443",
                    0,
                    &plain(500, "Error", "<html>error</html>"),
                ),
            Some(site_ctl().fetched(&plain(500, "Error", "<html>error</html>"))),
        )
        .ooni(Some("consistent"), Value::Bool(false), Some(true))
        .verdict(Down, &[]),
        row(
            "down: a certificate for the wrong name, seen by the control too",
            HTTPS,
            obs()
                .resolve(HOST, 0, &[SITE])
                .connect("93.184.215.14:443", 0, None)
                .handshake(
                    "93.184.215.14:443",
                    HOST,
                    0,
                    Some(Failure::SslInvalidHostname),
                ),
            Some(
                ctl()
                    .resolves(&[SITE])
                    .connects("93.184.215.14:443")
                    .tls_fails("93.184.215.14:443", HOST, "ssl_invalid_hostname")
                    .fetch_fails("ssl_invalid_hostname"),
            ),
        )
        .ooni(Some("consistent"), Value::Bool(false), Some(false))
        .verdict(Down, &[]),
        row(
            "control failure, probe failure",
            HTTP,
            obs()
                .resolve(HOST, 0, &[SITE])
                .connect("93.184.215.14:80", 0, None)
                .get_fails(HTTP, "93.184.215.14:80", 0, Failure::ConnectionReset),
            None,
        )
        .control_failed("connection_refused")
        .ooni(None, Value::Null, None)
        .verdict(Unknown, &[]),
        row(
            "control failure, probe NXDOMAIN",
            HTTP,
            obs().dns_fails(HOST, 0, Failure::DnsNxdomain),
            None,
        )
        .control_failed("generic_timeout_error")
        .ooni(None, Value::Bool(false), Some(true)) // OONI's row 5 "(sic)"
        .verdict(Unknown, &[]),
        row(
            "IPv6 unreachable from a v4-only network while IPv4 works",
            HTTPS,
            obs()
                .resolve(HOST, 0, &[SITE, SITE6])
                .connect(
                    &format!("[{SITE6}]:443"),
                    0,
                    Some(Failure::NetworkUnreachable),
                )
                .connect("93.184.215.14:443", 0, None)
                .handshake("93.184.215.14:443", HOST, 0, None)
                .get(HTTPS, "93.184.215.14:443", 0, &real()),
            Some(site_ctl()),
        )
        .ooni(Some("consistent"), Value::Bool(false), Some(true))
        .verdict(Accessible, &[]),
        row(
            "IPv6 unreachable is no evidence next to an IPv4 timeout",
            HTTPS,
            obs()
                .resolve(HOST, 0, &[SITE, SITE6])
                .connect(
                    &format!("[{SITE6}]:443"),
                    0,
                    Some(Failure::NetworkUnreachable),
                )
                .connect("93.184.215.14:443", 0, Some(Failure::Timeout)),
            Some(site_ctl()),
        )
        .ooni(Some("consistent"), b("tcp_ip"), Some(false))
        .verdict(Blocked, &["tcp.timeout"]),
        row(
            "only IPv6, unreachable from the probe",
            HTTPS,
            obs().resolve(HOST, 0, &[SITE6]).connect(
                &format!("[{SITE6}]:443"),
                0,
                Some(Failure::NetworkUnreachable),
            ),
            Some(ctl().resolves(&[SITE6]).fetched(&real())),
        )
        .ooni(Some("consistent"), Value::Null, None)
        .verdict(Unknown, &[]),
        row(
            "a blockpage pattern on the site's own page (the control got the same bytes)",
            HTTP,
            obs()
                .resolve(HOST, 0, &[SITE])
                .connect("93.184.215.14:80", 0, None)
                .get(HTTP, "93.184.215.14:80", 0, &about_korea()),
            Some(site_ctl().fetched(&about_korea())),
        )
        .ooni(Some("consistent"), Value::Bool(false), Some(true))
        .verdict(Accessible, &[]),
        row(
            "measuring warning.or.kr itself",
            "http://warning.or.kr/",
            obs()
                .resolve("warning.or.kr", 0, &["211.1.1.1"])
                .connect("211.1.1.1:80", 0, None)
                .get(
                    "http://warning.or.kr/",
                    "211.1.1.1:80",
                    0,
                    &redirect(302, "http://warning.or.kr/i1.html"),
                )
                .get(
                    "http://warning.or.kr/i1.html",
                    "211.1.1.1:80",
                    1,
                    &about_korea(),
                )
                .connect("211.1.1.1:80", 1, None),
            None,
        )
        .ooni(None, Value::Null, None)
        .verdict(Unknown, &[]),
        row(
            "404 on both sides is the site's own answer",
            HTTP,
            obs()
                .resolve(HOST, 0, &[SITE])
                .connect("93.184.215.14:80", 0, None)
                .get(
                    HTTP,
                    "93.184.215.14:80",
                    0,
                    &plain(404, "Not Found", "<html>not found</html>"),
                ),
            Some(site_ctl().fetched(&plain(404, "Not Found", "<html>not found</html>"))),
        )
        .ooni(Some("consistent"), Value::Bool(false), Some(true))
        .verdict(Accessible, &[]),
        row(
            "the control gets a server error, the probe a page: nothing to compare",
            HTTP,
            http_ok(),
            Some(site_ctl().fetched(&plain(503, "Unavailable", "<html>x</html>"))),
        )
        .ooni(Some("consistent"), b("http-diff"), Some(false))
        .verdict(Unknown, &[]),
        // "A small page arriving slowly" (4 KB at 300 bytes/s, the control at full speed) was a
        // trap here while throttling needed 64 KiB; at a 40 ms round trip it is throttling now
        // (censors.rs). Its traps are a small page slow for the control too, over a long round
        // trip, or from a server that pauses.
        row(
            "a small page arriving slowly for the control too is not throttling",
            HTTP,
            obs()
                .resolve(HOST, 0, &[SITE])
                .connect("93.184.215.14:80", 0, None)
                .get_slow(HTTP, "93.184.215.14:80", &page("Small", 4000), 300),
            Some(site_ctl().fetched(&page("Small", 4000)).rate(Some(400.0))),
        )
        // Still arriving when the timeout cut it: a slow transfer, not a stall.
        .ooni(Some("consistent"), b("http-failure"), Some(false))
        .verdict(Unknown, &[]),
        row(
            "a small page arriving slowly over a long round trip is not throttling",
            HTTP,
            obs()
                .resolve(HOST, 0, &[SITE])
                .connect_rtt("93.184.215.14:80", 0, 1.5)
                .get_slow(HTTP, "93.184.215.14:80", &page("Small", 4000), 300),
            Some(site_ctl().fetched(&page("Small", 4000))),
        )
        .ooni(Some("consistent"), b("http-failure"), Some(false))
        .verdict(Unknown, &[]),
        row(
            "a redirect loop on both sides",
            HTTP,
            obs()
                .resolve(HOST, 0, &[SITE])
                .connect("93.184.215.14:80", 0, None)
                .get(HTTP, "93.184.215.14:80", 0, &redirect(307, "/again"))
                .redirect_limit(),
            Some(
                ctl()
                    .resolves(&[SITE])
                    .fetch_fails("unknown_failure: stopped after 10 redirects"),
            ),
        )
        .ooni(Some("consistent"), Value::Null, None)
        .verdict(Down, &[]),
        row(
            "deadline cut the measurement short",
            HTTPS,
            obs().resolve(HOST, 0, &[SITE]).deadline(),
            Some(site_ctl()),
        )
        .ooni(Some("consistent"), Value::Null, None)
        .verdict(Unknown, &[]),
        row(
            "a truncated answer retried over TCP is not an injection",
            HTTP,
            {
                let mut tc = datagram(HOST, "A", 1, 0, 0.01, &[]);
                tc.failure = None;
                tc.x_flags = Some(crate::observation::DnsFlags {
                    tc: true,
                    ..Default::default()
                });
                let mut tcp = datagram(HOST, "A", 1, 0, 0.05, &[SITE]);
                tcp.engine = "tcp".into();
                obs()
                    .datagram(tc)
                    .datagram(tcp)
                    .datagram(datagram(HOST, "AAAA", 2, 0, 0.01, &[]))
                    .connect("93.184.215.14:80", 0, None)
                    .get(HTTP, "93.184.215.14:80", 0, &real())
            },
            Some(site_ctl()),
        )
        .ooni(Some("consistent"), Value::Bool(false), Some(true))
        .verdict(Accessible, &[]),
        row(
            "the same answer twice is no injection",
            HTTP,
            http_ok().datagram(datagram(HOST, "A", 1, 1, 0.2, &[SITE])),
            Some(site_ctl()),
        )
        .ooni(Some("consistent"), Value::Bool(false), Some(true))
        .verdict(Accessible, &[]),
        row(
            "garbage with our id is no injection",
            HTTP,
            http_ok().datagram({
                let mut g = datagram(HOST, "A", 1, 1, 0.2, &[]);
                g.failure = Some(Failure::DnsServerMisbehaving);
                g.x_decode_error = Some("unexpected end of input".into());
                g.rcode = None;
                g
            }),
            Some(site_ctl()),
        )
        .ooni(Some("consistent"), Value::Bool(false), Some(true))
        .verdict(Accessible, &[]),
        row(
            "an IP-literal URL: no DNS at all",
            "https://93.184.215.14/",
            obs().connect("93.184.215.14:443", 0, None).handshake(
                "93.184.215.14:443",
                SITE,
                0,
                Some(Failure::ConnectionReset),
            ),
            Some(ctl().tls_ok("93.184.215.14:443", SITE).fetched(&real())),
        )
        .ooni(None, b("http-failure"), Some(false))
        .verdict(Blocked, &["tls.reset"]),
        row(
            "the control cannot resolve (server failure): the probe's answers are unchecked",
            HTTP,
            http_ok(),
            Some(site_ctl().dns_fails("dns_server_failure")),
        )
        .ooni(Some("inconsistent"), Value::Bool(false), Some(true))
        .verdict(Accessible, &[]),
        row(
            "no A record where the control resolves",
            HTTP,
            obs().resolve(HOST, 0, &[]),
            Some(site_ctl()),
        )
        .ooni(Some("inconsistent"), b("dns"), Some(false))
        .verdict(Blocked, &["dns.nxdomain"]),
        row(
            "no address anywhere",
            HTTP,
            obs().resolve(HOST, 0, &[]),
            Some(ctl().resolves(&[]).fetch_fails("dns_no_answer")),
        )
        .ooni(Some("consistent"), Value::Bool(false), Some(false))
        .verdict(Down, &[]),
        row(
            "a dynamic page quoting a blockpage's text, matching the control by OONI's rules",
            HTTP,
            obs()
                .resolve(HOST, 0, &[SITE])
                .connect("93.184.215.14:80", 0, None)
                .get(
                    HTTP,
                    "93.184.215.14:80",
                    0,
                    &about_korea().header("X-Site", "real"),
                ),
            Some(site_ctl().fetched(&{
                let mut r = about_korea().header("X-Site", "real");
                r.body.push_str("<!-- another ad -->");
                r
            })),
        )
        .ooni(Some("consistent"), Value::Bool(false), Some(true))
        .verdict(Accessible, &[]),
        row(
            "http to https on the same host (DNS cached)",
            HTTP,
            obs()
                .resolve(HOST, 0, &[SITE])
                .connect("93.184.215.14:80", 0, None)
                .get(HTTP, "93.184.215.14:80", 0, &redirect(301, HTTPS))
                .connect("93.184.215.14:443", 1, None)
                .handshake("93.184.215.14:443", HOST, 1, None)
                .get(HTTPS, "93.184.215.14:443", 1, &real()),
            Some(site_ctl()),
        )
        .ooni(Some("consistent"), Value::Bool(false), Some(true))
        .verdict(Accessible, &[]),
        row(
            "a bogon the control resolves too is the site's own",
            "http://intranet.example.com/",
            obs()
                .resolve("intranet.example.com", 0, &["10.1.2.3"])
                .connect("10.1.2.3:80", 0, Some(Failure::Timeout)),
            Some(
                ctl()
                    .resolves(&["10.1.2.3"])
                    .fetch_fails("generic_timeout_error"),
            ),
        )
        // OONI's row 4: the helper does not connect to bogons, so no TCP control: "http-failure".
        .ooni(Some("consistent"), b("http-failure"), Some(false))
        .verdict(Down, &[]),
    ]);
}
