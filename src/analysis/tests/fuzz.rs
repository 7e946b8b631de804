//! Property tests: random observations and control answers, invariants only.

use super::*;
use proptest::prelude::*;

const ADDRS: [&str; 8] = [
    SITE,
    CDN,
    OTHER,
    "8.7.198.45",
    "10.0.0.1",
    "127.0.0.5",
    SITE6,
    "fd00::1",
];
const FAILS: [Failure; 8] = [
    Failure::Timeout,
    Failure::ConnectionReset,
    Failure::ConnectionRefused,
    Failure::Eof,
    Failure::NetworkUnreachable,
    Failure::SslInvalidHostname,
    Failure::SslUnknownAuthority,
    Failure::DnsNxdomain,
];

fn fail(i: usize) -> Failure {
    FAILS[i % FAILS.len()].clone()
}

#[derive(Debug, Clone)]
struct Spec {
    https: bool,
    hops: Vec<HopSpec>,
    control: Option<CtlSpec>,
    testbed: bool,
}

#[derive(Debug, Clone)]
struct HopSpec {
    dns: Result<Vec<usize>, usize>,
    injected: Option<usize>,
    tcp: Vec<Option<usize>>,
    tls: Vec<Option<usize>>,
    http: Option<Result<usize, usize>>,
}

#[derive(Debug, Clone)]
struct CtlSpec {
    dns: Result<Vec<usize>, usize>,
    tcp: Vec<(usize, bool)>,
    tls: Vec<(usize, bool)>,
    fetch: Result<usize, usize>,
    rate: Option<f64>,
}

fn hop_spec() -> impl Strategy<Value = HopSpec> {
    (
        prop_oneof![
            prop::collection::vec(0..8usize, 1..3).prop_map(Ok),
            (0..8usize).prop_map(Err)
        ],
        prop::option::of(0..8usize),
        prop::collection::vec(prop::option::of(0..8usize), 0..3),
        prop::collection::vec(prop::option::of(0..8usize), 0..3),
        prop::option::of(prop_oneof![
            (0..5usize).prop_map(Ok),
            (0..8usize).prop_map(Err)
        ]),
    )
        .prop_map(|(dns, injected, tcp, tls, http)| HopSpec {
            dns,
            injected,
            tcp,
            tls,
            http,
        })
}

fn ctl_spec() -> impl Strategy<Value = CtlSpec> {
    (
        prop_oneof![
            prop::collection::vec(0..8usize, 0..3).prop_map(Ok),
            (0..3usize).prop_map(Err)
        ],
        prop::collection::vec((0..8usize, any::<bool>()), 0..3),
        prop::collection::vec((0..8usize, any::<bool>()), 0..3),
        prop_oneof![(0..5usize).prop_map(Ok), (0..8usize).prop_map(Err)],
        prop::option::of(1.0..1e8f64),
    )
        .prop_map(|(dns, tcp, tls, fetch, rate)| CtlSpec {
            dns,
            tcp,
            tls,
            fetch,
            rate,
        })
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        any::<bool>(),
        prop::collection::vec(hop_spec(), 1..4),
        prop::option::of(ctl_spec()),
        any::<bool>(),
    )
        .prop_map(|(https, hops, control, testbed)| Spec {
            https,
            hops,
            control,
            testbed,
        })
}

fn responses(i: usize, next: &str) -> Resp {
    match i % 5 {
        0 => real(),
        1 => plain(
            200,
            "Blocked",
            "<html>Доступ к сайту ограничен в соответствии с Федеральными законами</html>",
        ),
        2 => redirect(302, next),
        3 => plain(503, "Down", "<html>down</html>"),
        _ => captcha(),
    }
}

fn sock(ip: &str, port: u16) -> String {
    if ip.contains(':') {
        format!("[{ip}]:{port}")
    } else {
        format!("{ip}:{port}")
    }
}

fn build(s: &Spec) -> (String, Observations, Option<ControlAnswer>) {
    let scheme = if s.https { "https" } else { "http" };
    let port = if s.https { 443 } else { 80 };
    let host = |d: usize| format!("h{d}.example.com");
    let url = |d: usize| format!("{scheme}://{}/", host(d));
    let mut o = obs();
    for (d, h) in s.hops.iter().enumerate() {
        match &h.dns {
            Ok(addrs) => {
                let a: Vec<&str> = addrs.iter().map(|i| ADDRS[*i]).collect();
                o = o.resolve(&host(d), d, &a);
            }
            Err(f) => o = o.dns_fails(&host(d), d, fail(*f)),
        }
        if let Some(i) = h.injected {
            let mut q = datagram(&host(d), "A", 10 * d as u16 + 1, 1, 0.3, &[ADDRS[i]]);
            q.tags = depth_tag(d);
            o = o.datagram(q);
        }
        let addrs: Vec<&str> = match &h.dns {
            Ok(a) => a.iter().map(|i| ADDRS[*i]).collect(),
            Err(_) => vec![],
        };
        for (k, ip) in addrs.iter().enumerate() {
            let a = sock(ip, port);
            let tcp = h.tcp.get(k).cloned().flatten().map(fail);
            let ok = tcp.is_none();
            o = o.connect(&a, d, tcp);
            if ok && s.https {
                o = o.handshake(&a, &host(d), d, h.tls.get(k).cloned().flatten().map(fail));
            }
        }
        if let (Some(http), Some(ip)) = (&h.http, addrs.first()) {
            let a = sock(ip, port);
            o = match http {
                Ok(i) => o.get(&url(d), &a, d, &responses(*i, &url(d + 1))),
                Err(f) => o.get_fails(&url(d), &a, d, fail(*f)),
            };
        }
    }
    let control = s.control.as_ref().map(|c| {
        let mut k = ctl();
        k = match &c.dns {
            Ok(a) => k.resolves(&a.iter().map(|i| ADDRS[*i]).collect::<Vec<_>>()),
            Err(0) => k.dns_fails("dns_name_error"),
            Err(_) => k.dns_fails("dns_server_failure"),
        };
        for (i, ok) in &c.tcp {
            let a = sock(ADDRS[*i], port);
            k = if *ok {
                k.connects(&a)
            } else {
                k.connect_fails(&a, "generic_timeout_error")
            };
        }
        for (i, ok) in &c.tls {
            let a = sock(ADDRS[*i], 443);
            k = if *ok {
                k.tls_ok(&a, &host(0))
            } else {
                k.tls_fails(&a, &host(0), "ssl_invalid_hostname")
            };
        }
        k = match c.fetch {
            Ok(i) => k.fetched(&responses(i, "/")),
            Err(f) => k.fetch_fails(&fail(f).to_string()),
        };
        k.rate(c.rate).0
    });
    (url(0), o.0, control)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]
    #[test]
    fn verdict_invariants_hold(s in spec()) {
        let (url, o, control) = build(&s);
        let fp = Fingerprints::builtin();
        let nets: Vec<ipnet::IpNet> = if s.testbed { vec!["127.0.0.0/8".parse().unwrap()] } else { vec![] };
        let ctx = Context {
            control: control.as_ref(),
            control_failure: control.is_none().then_some("generic_timeout_error"),
            testbed_nets: &nets,
            fingerprints: &fp,
            probe_cc: None,
        };
        let url = Url::parse(&url).unwrap();
        let a = analyze(&url, &o, &ctx);
        check_invariants(&a, control.is_some());
        // Pure: the same input gives the same output.
        prop_assert_eq!(&a, &analyze(&url, &o, &ctx));
        // A failure the control shares, with nothing self-evident, is never a block: when the
        // control failed everything, only self-evident methods may appear.
        if let Some(c) = &control {
            let all_failed = c.http_request.failure.is_some()
                && c.tcp_connect.values().all(|t| !t.status)
                && c.tls_handshake.values().all(|t| !t.status)
                && c.dns.failure.is_some();
            if all_failed {
                let allowed = ["dns.bogon", "dns.injection", "dns.forged", "tls.mitm", "http.blockpage"];
                for m in &a.x_verdict.methods {
                    prop_assert!(allowed.contains(&m.as_str()), "{} with a control that failed everything: {:?}", m, a.x_verdict);
                }
            }
        }
    }
}
