//! Verdicts through a censor: the real `vantage run` measures through an in-process censor
//! (lying and injecting DNS, a middlebox keyed on SNI and Host, throttling, interception) and
//! compares with a real `vantage helper` whose traffic goes around the censor. Each scenario's
//! `x_verdict` and `blocking` must come out right, and none of the traps (CDN, down sites, a
//! failed control) may ever be called blocked.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

use serde_json::Value;

use crate::harness::censor::{self, Action, DnsLie, Middlebox};
use crate::harness::web::{page, serve_on};
use crate::harness::{run_args, vantage, Answer, Ca, FakeDns, Helper, Reply, Site, Tls, Workdir};

/// Where things live on loopback: the middlebox in front of every site, the sites themselves,
/// the control's source address (exempt from the censor).
const MIDDLEBOX: &str = "127.0.0.2";
const SITES: &str = "127.0.0.3";
const CONTROL_SOURCE: &str = "127.0.0.4";
/// The port of the warning page a forged redirect points to (served on `SITES`).
const WARNING_PORT: u16 = 18980;
/// A notice page no fingerprint knows, where another forged redirect points (on `SITES`).
const NOTICE_PORT: u16 = 18981;
/// The site's own page for the probe's region, within its registrable domain (on `SITES`).
const GEO_PORT: u16 = 18982;
/// Where a poisoned cache sends the probe: nothing listens there, for anyone.
const DEAD: &str = "127.0.0.66";
/// A blockpage body carrying a pattern from the shipped fingerprint set (Russia's national
/// blockpage text; the run's probe_cc is ZZ, unknown, so every country's entries apply).
const BLOCKPAGE: &str = "<html><head><title>Доступ ограничен</title></head><body><p>Доступ к сайту ограничен в соответствии с Федеральными законами</p></body></html>";

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

struct Scenario {
    name: &'static str,
    tls: Tls,
    reply: Reply,
    lie: Option<DnsLie>,
    action: Option<Action>,
    /// The real resolver does not know the name.
    unknown_name: bool,
    /// Nothing listens for the site at all.
    no_server: bool,
    want_status: &'static str,
    want_methods: &'static [&'static str],
    want_blocking: Value,
}

fn s(name: &'static str, tls: Tls, reply: Reply) -> Scenario {
    Scenario {
        name,
        tls,
        reply,
        lie: None,
        action: None,
        unknown_name: false,
        no_server: false,
        want_status: "accessible",
        want_methods: &[],
        want_blocking: Value::Bool(false),
    }
}

impl Scenario {
    fn lie(mut self, l: DnsLie) -> Self {
        self.lie = Some(l);
        self
    }
    fn act(mut self, a: Action) -> Self {
        self.action = Some(a);
        self
    }
    fn want(
        mut self,
        status: &'static str,
        methods: &'static [&'static str],
        blocking: Value,
    ) -> Self {
        self.want_status = status;
        self.want_methods = methods;
        self.want_blocking = blocking;
        self
    }
}

fn blocking(s: &str) -> Value {
    Value::String(s.into())
}

fn scenarios() -> Vec<Scenario> {
    let plain = || page("A real site", 3000);
    vec![
        s("ok-http.test", Tls::Plain, plain()),
        s("ok-https.test", Tls::Valid, plain()),
        s("bogon.test", Tls::Plain, plain())
            .lie(DnsLie::Addrs(vec![ip("127.1.0.1")]))
            .want("blocked", &["dns.bogon"], blocking("dns")),
        s("nx.test", Tls::Plain, plain())
            .lie(DnsLie::NxDomain)
            .want("blocked", &["dns.nxdomain"], blocking("dns")),
        s("injected.test", Tls::Plain, plain())
            .lie(DnsLie::Inject(vec![ip("127.0.0.77")]))
            .want("blocked", &["dns.injection"], blocking("dns")),
        s("sni-reset.test", Tls::Valid, plain())
            .act(Action::Reset)
            .want("blocked", &["tls.reset"], blocking("http-failure")),
        s("sni-close.test", Tls::Valid, plain())
            .act(Action::Close)
            .want("blocked", &["tls.eof"], blocking("http-failure")),
        s("sni-stall.test", Tls::Valid, plain())
            .act(Action::Stall)
            .want("blocked", &["tls.timeout"], blocking("http-failure")),
        s("host-reset.test", Tls::Plain, plain())
            .act(Action::Reset)
            .want("blocked", &["http.reset"], blocking("http-failure")),
        s("host-close.test", Tls::Plain, plain())
            .act(Action::Close)
            .want("blocked", &["http.eof"], blocking("http-failure")),
        s("host-stall.test", Tls::Plain, plain())
            .act(Action::Stall)
            .want("blocked", &["http.timeout"], blocking("http-failure")),
        s("host-blockpage.test", Tls::Plain, plain())
            .act(Action::Blockpage(BLOCKPAGE.into()))
            .want("blocked", &["http.blockpage"], Value::Bool(false)),
        s("host-redirect.test", Tls::Plain, plain())
            .act(Action::Redirect(format!(
                "http://warning.or.kr:{WARNING_PORT}/i1.html"
            )))
            .want("blocked", &["http.blockpage"], Value::Bool(false)),
        s(
            "host-diff.test",
            Tls::Plain,
            page("The real news site of record", 3000),
        )
        .act(Action::Blockpage(
            "<html><title>Nothing to see</title>no</html>".into(),
        ))
        .want("blocked", &["http.diff"], Value::Bool(false)),
        s("intercept.test", Tls::Valid, plain())
            .act(Action::Intercept)
            .want("blocked", &["tls.mitm"], blocking("http-failure")),
        s("throttled.test", Tls::Plain, page("Big page", 96 * 1024))
            .act(Action::Throttle(8 * 1024))
            .want("blocked", &["throttling"], blocking("http-failure")),
        // A resolver poisoned upstream: one answer, an address nobody can connect to, while
        // the control's own address serves the site.
        s("poisoned.test", Tls::Plain, plain())
            .lie(DnsLie::Addrs(vec![ip(DEAD)]))
            .want("blocked", &["dns.forged"], blocking("dns")),
        s("poisoned-tls.test", Tls::Valid, plain())
            .lie(DnsLie::Addrs(vec![ip(DEAD)]))
            .want("blocked", &["dns.forged"], blocking("dns")),
        // A forged redirect to a notice page no fingerprint knows.
        s("host-notice.test", Tls::Plain, plain())
            .act(Action::Redirect(format!(
                "http://notice.filter.test:{NOTICE_PORT}/blocked.html"
            )))
            .want("blocked", &["http.diff"], Value::Bool(false)),
        // A small page (12 KiB) at 3 KiB/s, cut by the 3 s timeout while still arriving.
        s(
            "throttled-small.test",
            Tls::Plain,
            page("Small page", 12 * 1024),
        )
        .act(Action::Throttle(3 * 1024))
        .want("blocked", &["throttling"], blocking("http-failure")),
        // Traps: never blocked.
        // Poisoned, but the site is down from everywhere.
        Scenario {
            no_server: true,
            ..s("poisoned-down.test", Tls::Plain, plain())
                .lie(DnsLie::Addrs(vec![ip(DEAD)]))
                .want("down", &[], blocking("dns"))
        },
        // The site's own geo-redirect for the probe's region, within its registrable domain.
        s("www.geo.test", Tls::Plain, plain())
            .act(Action::Redirect(format!("http://de.geo.test:{GEO_PORT}/")))
            .want("unknown", &[], Value::Bool(false)),
        // A small page the server itself sends slowly, to everyone.
        s(
            "slow-server.test",
            Tls::Plain,
            Reply::Slow {
                size: 12 * 1024,
                chunk: 300,
                every: std::time::Duration::from_millis(100),
            },
        )
        .want("unknown", &[], Value::Bool(false)),
        Scenario {
            no_server: true,
            ..s("down-refused.test", Tls::Plain, plain()).want("down", &[], Value::Bool(false))
        },
        Scenario {
            unknown_name: true,
            ..s("down-nx.test", Tls::Plain, plain()).want("down", &[], Value::Bool(false))
        },
        s("down-500.test", Tls::Plain, Reply::Error(500)).want("down", &[], Value::Bool(false)),
        // A CDN: the probe's resolver gives another address, which serves the same site with a
        // valid certificate.
        s("cdn.test", Tls::Valid, plain()).lie(DnsLie::Addrs(vec![ip("127.0.0.8")])),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verdicts_through_a_censor_match_what_it_did() {
    let trusted = Ca::new("Vantage Test CA");
    let censor_ca = Ca::new("Censor CA");
    let work = Workdir::new();
    let ca_file = work.write("ca.pem", &trusted.pem);

    let mut zone = HashMap::new();
    let mut lies = HashMap::new();
    let mut urls = Vec::new();
    for sc in scenarios() {
        let site = Site::new(sc.name, sc.tls.clone(), sc.reply.clone());
        // The site itself, then the middlebox on the same port in front of it.
        let real = serve_on(
            SocketAddr::new(ip(SITES), 0),
            site.clone(),
            &trusted,
            &censor_ca,
        )
        .await;
        let front = SocketAddr::new(ip(MIDDLEBOX), real.port());
        if !sc.no_server {
            let rules = sc
                .action
                .clone()
                .map(|a| vec![(sc.name.to_string(), a)])
                .unwrap_or_default();
            censor::middlebox(
                front,
                real,
                Middlebox {
                    rules,
                    exempt: ip(CONTROL_SOURCE),
                },
                &censor_ca,
            )
            .await;
        }
        if sc.name == "cdn.test" {
            serve_on(
                SocketAddr::new(ip("127.0.0.8"), real.port()),
                site.clone(),
                &trusted,
                &censor_ca,
            )
            .await;
        }
        if !sc.unknown_name {
            zone.insert(sc.name.to_string(), Answer::Addrs(vec![ip(MIDDLEBOX)]));
        }
        if let Some(l) = &sc.lie {
            lies.insert(sc.name.to_string(), l.clone());
        }
        urls.push((site.url(front), sc));
    }
    // The warning page a forged redirect points to resolves and serves, as the real one does.
    let body =
        "<html><head><title>Warning</title></head><body>Access denied by order.</body></html>";
    let raw = format!(
        "HTTP/1.1 200 OK\r\nServer: KCSC-Warning\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let warning = Site::new("warning.or.kr", Tls::Plain, Reply::Raw(raw));
    serve_on(
        SocketAddr::new(ip(SITES), WARNING_PORT),
        warning,
        &trusted,
        &censor_ca,
    )
    .await;
    zone.insert("warning.or.kr".to_string(), Answer::Addrs(vec![ip(SITES)]));
    // A notice page no fingerprint knows, and the geo-redirected site's regional page: other
    // software than the sites', so neither matches their pages by OONI's rules.
    for (name, port, title) in [
        (
            "notice.filter.test",
            NOTICE_PORT,
            "Access to this resource is restricted",
        ),
        (
            "de.geo.test",
            GEO_PORT,
            "Willkommen auf der deutschen Seite",
        ),
    ] {
        let body = format!("<html><head><title>{title}</title></head><body>{title}.</body></html>");
        let raw = format!(
            "HTTP/1.1 200 OK\r\nServer: other-software\r\nX-Frontend: {name}\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        let site = Site::new(name, Tls::Plain, Reply::Raw(raw));
        serve_on(SocketAddr::new(ip(SITES), port), site, &trusted, &censor_ca).await;
        zone.insert(name.to_string(), Answer::Addrs(vec![ip(SITES)]));
    }
    let real_dns = FakeDns::start(zone).await;
    let censored_dns = censor::dns(real_dns.addr, lies).await;
    let helper = Helper::start(&[
        "--resolver",
        &real_dns.addr.to_string(),
        "--ca-file",
        ca_file.to_str().unwrap(),
        "--allow-private",
        "--source",
        CONTROL_SOURCE,
        "--timeout",
        "3s",
    ])
    .await;

    let list: String = urls.iter().map(|(u, _)| format!("{u}\n")).collect();
    let targets = work.write("targets.txt", &list);
    let probe_dns = FakeDns { addr: censored_dns };
    let args = run_args(
        &work,
        &targets,
        &probe_dns,
        &ca_file,
        &[
            "--control",
            &helper.url(),
            "--testbed-net",
            "127.0.0.0/24",
            "--timeout",
            "3s",
        ],
    );
    let out = vantage(&args, &work.out()).await;
    assert_eq!(out.code, 0, "{}", out.stderr);

    let mut table = String::from("\nscenario              want                          got\n");
    let mut wrong = Vec::new();
    for (url, sc) in &urls {
        let r = out.record(url);
        let v = &r["test_keys"]["x_verdict"];
        let got_methods: Vec<&str> = v["methods"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m.as_str().unwrap())
            .collect();
        let got = format!(
            "{} {:?} blocking={}",
            v["status"].as_str().unwrap(),
            got_methods,
            r["test_keys"]["blocking"]
        );
        let want = format!(
            "{} {:?} blocking={}",
            sc.want_status, sc.want_methods, sc.want_blocking
        );
        table.push_str(&format!("{:<21} {:<29} {}\n", sc.name, want, got));
        let methods_ok = sc.want_methods.iter().all(|m| got_methods.contains(m))
            && (sc.want_methods.is_empty() == got_methods.is_empty());
        if v["status"] != sc.want_status
            || !methods_ok
            || r["test_keys"]["blocking"] != sc.want_blocking
        {
            let tk = &r["test_keys"];
            let first = |list: &str, key: &str| {
                tk[list]
                    .as_array()
                    .and_then(|l| l.first())
                    .map(|e| e[key].clone())
            };
            wrong.push(format!(
                "{}: reasons {}\n    dns {:?} tcp {:?} tls {:?} http {:?} control http {} / {}",
                sc.name,
                v["reasons"],
                tk["queries"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|q| (
                        q["query_type"].clone(),
                        q["failure"].clone(),
                        q["answers"].clone()
                    ))
                    .collect::<Vec<_>>(),
                first("tcp_connect", "status"),
                first("tls_handshakes", "failure"),
                tk["requests"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|q| (q["failure"].clone(), q["response"]["code"].clone()))
                    .collect::<Vec<_>>(),
                tk["control"]["http_request"]["status_code"],
                tk["control_failure"],
            ));
        }
        assert!(
            v["reasons"].as_array().is_some_and(|r| !r.is_empty()),
            "{}: a verdict needs evidence",
            sc.name
        );
    }
    println!("{table}");
    assert!(wrong.is_empty(), "{table}\nwrong:\n{}", wrong.join("\n"));
    assert!(
        out.stdout.contains("blocked "),
        "the summary lists blocked targets: {}",
        out.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_control_never_makes_a_block() {
    let trusted = Ca::new("Vantage Test CA");
    let work = Workdir::new();
    let ca_file = work.write("ca.pem", &trusted.pem);
    let site = Site::new("reset.test", Tls::Plain, page("x", 100));
    let real = serve_on(
        SocketAddr::new(ip(SITES), 0),
        site.clone(),
        &trusted,
        &trusted,
    )
    .await;
    let front = SocketAddr::new(ip(MIDDLEBOX), real.port());
    censor::middlebox(
        front,
        real,
        Middlebox {
            rules: vec![("reset.test".into(), Action::Reset)],
            exempt: ip(CONTROL_SOURCE),
        },
        &trusted,
    )
    .await;
    let dns = FakeDns::start(HashMap::from([(
        "reset.test".to_string(),
        Answer::Addrs(vec![ip(MIDDLEBOX)]),
    )]))
    .await;
    let dead = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dead_url = format!("http://{}/", dead.local_addr().unwrap());
    drop(dead);
    let targets = work.write("t.txt", &format!("{}\n", site.url(front)));
    let args = run_args(
        &work,
        &targets,
        &dns,
        &ca_file,
        &["--control", &dead_url, "--testbed-net", "127.0.0.0/24"],
    );
    let out = vantage(&args, &work.out()).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let r = &out.records[0];
    assert_eq!(r["test_keys"]["requests"][0]["failure"], "connection_reset");
    assert_eq!(
        r["test_keys"]["x_verdict"]["status"], "unknown",
        "{}",
        r["test_keys"]["x_verdict"]
    );
    assert_eq!(r["test_keys"]["blocking"], Value::Null);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_network_is_said_once_and_nothing_is_blocked() {
    // A resolver that never answers and a control nobody listens on: the probe is cut off.
    let silent = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let dead = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dead_url = format!("http://{}/", dead.local_addr().unwrap());
    drop(dead);
    let work = Workdir::new();
    let ca = Ca::new("Vantage Test CA");
    let ca_file = work.write("ca.pem", &ca.pem);
    let targets = work.write("t.txt", "https://one.test/\nhttp://two.test/\nthree.test\n");
    let probe_dns = FakeDns {
        addr: silent.local_addr().unwrap(),
    };
    let args = run_args(
        &work,
        &targets,
        &probe_dns,
        &ca_file,
        &["--control", &dead_url, "--timeout", "1s"],
    );
    let out = vantage(&args, &work.out()).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.records.len(), 3);
    for r in &out.records {
        assert_eq!(
            r["test_keys"]["x_verdict"]["status"], "unknown",
            "{}",
            r["test_keys"]["x_verdict"]
        );
    }
    assert_eq!(
        out.stdout.matches("no working network").count(),
        1,
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("unknown: 3"), "{}", out.stdout);
    drop(silent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_site_on_a_cdn_edge_is_vindicated_by_its_certificate() {
    // The probe's resolver sends it to a CDN edge (127.0.0.9) that the control never resolves.
    // The page is plain http, so only OONI's E001 check (the helper's TLS handshake on :443 at
    // the probe's address) can show the address is genuine. Port 443 needs root.
    const EDGE: &str = "127.0.0.9";
    let trusted = Ca::new("Vantage Test CA");
    let work = Workdir::new();
    let ca_file = work.write("ca.pem", &trusted.pem);
    let edge_tls = match tokio::net::TcpListener::bind((ip(EDGE), 443)).await {
        Ok(l) => l,
        Err(e) if std::env::var_os("CI").is_none() => {
            eprintln!("SKIPPED an_http_site_on_a_cdn_edge_is_vindicated_by_its_certificate: cannot listen on {EDGE}:443 ({e}); run as root");
            return;
        }
        Err(e) => panic!("CI must run this test as root: cannot listen on {EDGE}:443: {e}"),
    };
    drop(edge_tls);
    let name = "cdn-http.test";
    let site = Site::new(name, Tls::Plain, page("A CDN'd site", 3000));
    let real = serve_on(
        SocketAddr::new(ip(SITES), 0),
        site.clone(),
        &trusted,
        &trusted,
    )
    .await;
    let front = SocketAddr::new(ip(MIDDLEBOX), real.port());
    censor::middlebox(
        front,
        real,
        Middlebox {
            rules: vec![],
            exempt: ip(CONTROL_SOURCE),
        },
        &trusted,
    )
    .await;
    // The edge: the same page over http on the site's port, and a valid certificate on :443.
    let edge_page = Site::new(name, Tls::Plain, page("A CDN'd site", 2500));
    serve_on(
        SocketAddr::new(ip(EDGE), real.port()),
        edge_page,
        &trusted,
        &trusted,
    )
    .await;
    let edge_cert = Site::new(name, Tls::Valid, page("A CDN'd site", 2500));
    serve_on(
        SocketAddr::new(ip(EDGE), 443),
        edge_cert,
        &trusted,
        &trusted,
    )
    .await;

    let real_dns = FakeDns::start(HashMap::from([(
        name.to_string(),
        Answer::Addrs(vec![ip(MIDDLEBOX)]),
    )]))
    .await;
    let probe_dns = censor::dns(
        real_dns.addr,
        HashMap::from([(name.to_string(), DnsLie::Addrs(vec![ip(EDGE)]))]),
    )
    .await;
    let helper = Helper::start(&[
        "--resolver",
        &real_dns.addr.to_string(),
        "--ca-file",
        ca_file.to_str().unwrap(),
        "--allow-private",
        "--source",
        CONTROL_SOURCE,
    ])
    .await;
    let url = site.url(front);
    let targets = work.write("t.txt", &format!("{url}\n"));
    let args = run_args(
        &work,
        &targets,
        &FakeDns { addr: probe_dns },
        &ca_file,
        &["--control", &helper.url(), "--testbed-net", "127.0.0.0/24"],
    );
    let out = vantage(&args, &work.out()).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let r = out.record(&url);
    let tk = &r["test_keys"];
    let a = tk["queries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["query_type"] == "A")
        .unwrap();
    assert_eq!(a["answers"][0]["ipv4"], EDGE, "the probe went to the edge");
    let e001 = &tk["control"]["tls_handshake"][format!("{EDGE}:443")];
    assert_eq!(
        e001["x_certificate_valid"], true,
        "the helper checked the edge's certificate: {}",
        tk["control"]
    );
    assert_eq!(tk["blocking"], false, "{}", tk["x_verdict"]);
    assert_eq!(
        tk["x_verdict"]["status"], "accessible",
        "{}",
        tk["x_verdict"]
    );
}
