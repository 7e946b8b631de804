//! Without a control: only self-evident signs block.

use super::*;

#[test]
fn without_a_control_only_self_evident_signs_block() {
    use Status::*;
    let race = || {
        obs()
            .datagram(datagram("race.test", "A", 7, 0, 0.001, &["127.0.0.9"]))
            .datagram(datagram("race.test", "A", 7, 1, 0.101, &["127.0.0.1"]))
            .datagram(datagram("race.test", "AAAA", 8, 0, 0.002, &[]))
            .connect("127.0.0.9:80", 0, Some(Failure::ConnectionRefused))
    };
    check(vec![
        row(
            "no control + bogon",
            HTTP,
            obs().resolve(HOST, 0, &["127.0.0.2"]).connect(
                "127.0.0.2:80",
                0,
                Some(Failure::ConnectionRefused),
            ),
            None,
        )
        .ooni(None, Value::Null, None)
        .verdict(Blocked, &["dns.bogon"]),
        row(
            "no control + the same bogon inside a testbed net",
            HTTP,
            obs()
                .resolve(HOST, 0, &["127.0.0.2"])
                .connect("127.0.0.2:80", 0, None)
                .get(HTTP, "127.0.0.2:80", 0, &real()),
            None,
        )
        .testbed("127.0.0.0/8")
        .ooni(None, Value::Null, None)
        .verdict(Unknown, &[]),
        row(
            "testbed: a 127.x answer with a control is an ordinary address",
            HTTP,
            obs()
                .resolve(HOST, 0, &["127.0.0.2"])
                .connect("127.0.0.2:80", 0, None)
                .get(HTTP, "127.0.0.2:80", 0, &real()),
            Some(
                ctl()
                    .resolves(&["127.0.0.2"])
                    .connects("127.0.0.2:80")
                    .fetched(&real()),
            ),
        )
        .testbed("127.0.0.0/8")
        .ooni(Some("consistent"), Value::Bool(false), Some(true))
        .verdict(Accessible, &[]),
        row(
            "testbed: outside the declared net a loopback answer is still a bogon",
            HTTP,
            obs().resolve(HOST, 0, &["127.1.0.1"]).connect(
                "127.1.0.1:80",
                0,
                Some(Failure::ConnectionRefused),
            ),
            Some(
                ctl()
                    .resolves(&["127.0.0.2"])
                    .connects("127.0.0.2:80")
                    .connect_fails("127.1.0.1:80", "connection_refused")
                    .fetched(&real()),
            ),
        )
        .testbed("127.0.0.0/24")
        .ooni(Some("inconsistent"), b("dns"), Some(false))
        .verdict(Blocked, &["dns.bogon"]),
        row(
            "no control + disagreeing duplicate answers",
            "http://race.test/",
            race(),
            None,
        )
        .testbed("127.0.0.0/8")
        .ooni(None, Value::Null, None)
        .verdict(Blocked, &["dns.injection"]),
        row(
            "no control + a second answer, from another address, with other addresses",
            HTTP,
            http_ok().datagram({
                let mut d = datagram(HOST, "A", 1, 1, 0.001, &[OTHER]);
                d.x_source_address = Some("8.8.4.4:53".into());
                d
            }),
            None,
        )
        .ooni(None, Value::Null, None)
        .verdict(Blocked, &["dns.injection"]),
        row(
            "no control + a certificate for the wrong name",
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
            None,
        )
        .ooni(None, Value::Null, None)
        .verdict(Blocked, &["tls.mitm"]),
        row(
            "no control + an expired certificate is not self-evident",
            HTTPS,
            obs()
                .resolve(HOST, 0, &[SITE])
                .connect("93.184.215.14:443", 0, None)
                .handshake(
                    "93.184.215.14:443",
                    HOST,
                    0,
                    Some(Failure::SslInvalidCertificate),
                ),
            None,
        )
        .ooni(None, Value::Null, None)
        .verdict(Unknown, &[]),
        row(
            "no control + a known GFW answer",
            HTTP,
            obs().resolve(HOST, 0, &["243.185.187.39"]).connect(
                "243.185.187.39:80",
                0,
                Some(Failure::Timeout),
            ),
            None,
        )
        .ooni(None, Value::Null, None)
        .verdict(Blocked, &["dns.bogon", "dns.forged"]),
        row(
            "no control + a known blockpage",
            HTTP,
            obs()
                .resolve(HOST, 0, &[SITE])
                .connect("93.184.215.14:80", 0, None)
                .get(
                    HTTP,
                    "93.184.215.14:80",
                    0,
                    &plain(
                        200,
                        "Telekomünikasyon İletişim Başkanlığı",
                        "<title>Telekomünikasyon İletişim Başkanlığı</title>",
                    ),
                ),
            None,
        )
        .ooni(None, Value::Null, None)
        .verdict(Blocked, &["http.blockpage"]),
        row(
            "no control + a timeout",
            HTTP,
            obs().dns_fails(HOST, 0, Failure::Timeout),
            None,
        )
        .ooni(None, Value::Bool(false), Some(true))
        .verdict(Unknown, &[]),
        row(
            "no control + one validated address among others with a wrong-name certificate",
            HTTPS,
            obs()
                .resolve(HOST, 0, &[SITE, CDN])
                .connect("93.184.215.14:443", 0, None)
                .connect("151.101.1.67:443", 0, None)
                .handshake("93.184.215.14:443", HOST, 0, None)
                .handshake(
                    "151.101.1.67:443",
                    HOST,
                    0,
                    Some(Failure::SslInvalidHostname),
                )
                .get(HTTPS, "93.184.215.14:443", 0, &real()),
            None,
        )
        .ooni(None, Value::Bool(false), Some(true))
        .verdict(Unknown, &[]),
    ]);
}
