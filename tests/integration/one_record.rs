//! The one-record property, tried with hostile inputs: random target lists (URLs of hostile
//! servers, URLs about the 64 KiB limit, weird international names, garbage lines) against a
//! fake internet whose sites reset, stall, send garbage and redirect to 70 KiB Locations, with
//! a control that answers garbage, JSON of the wrong shape, a huge or a lying answer. Whatever
//! happens, every distinct valid target of the list has exactly one record, no measurement
//! ended in an internal error, and the run exits 0.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{json, Value};

use crate::harness::fake_control::{answering, json_response};
use crate::harness::web::{page, serve, serve_on};
use crate::harness::{run_args, vantage, Answer, Ca, FakeDns, Reply, Site, Tls, Workdir};

/// The fake internet of every case: started once, shared.
struct World {
    ca: Ca,
    dns: FakeDns,
    /// URLs of the hostile sites (and of hostile DNS names).
    sites: Vec<String>,
    /// Base URLs of the hostile controls.
    controls: Vec<String>,
    /// `http://ok.test:PORT/`: the base of long URLs and the port of weird names.
    ok: String,
    ok_port: u16,
}

fn lo() -> IpAddr {
    "127.0.0.1".parse().unwrap()
}

fn sites(ok: &str) -> Vec<Site> {
    let redirect = |code, location: String| Reply::Redirect { code, location };
    let raw = |s: &str| Reply::Raw(s.to_string());
    vec![
        Site::new("secure.test", Tls::Valid, page("Secure", 3000)),
        Site::new("h2.test", Tls::ValidH2, page("Over h2", 3000)),
        Site::new("reset.test", Tls::Plain, Reply::Reset),
        Site::new("close.test", Tls::Plain, Reply::Close),
        Site::new("stall.test", Tls::Plain, Reply::Stall),
        Site::new("endless.test", Tls::Plain, Reply::Endless),
        Site::new("e500.test", Tls::Plain, Reply::Error(500)),
        Site::new(
            "garbage.test",
            Tls::Plain,
            raw("HTTP/1.1 2OO OK\r\n\0\x01\x02 junk\r\n\r\n"),
        ),
        Site::new(
            "badhdr.test",
            Tls::Plain,
            raw("HTTP/1.1 200 OK\r\nContent-Length: -1\r\nContent-Length: 5\r\n\r\nhello"),
        ),
        Site::new(
            "bighdr.test",
            Tls::Plain,
            Reply::Raw(format!(
                "HTTP/1.1 200 OK\r\nX-Big: {}\r\nContent-Length: 2\r\n\r\nok",
                "h".repeat(70 * 1024)
            )),
        ),
        Site::new("redirect.test", Tls::Plain, redirect(302, ok.to_string())),
        Site::new(
            "longloc.test",
            Tls::Plain,
            redirect(302, format!("{ok}{}", "a".repeat(70 * 1024))),
        ),
        Site::new(
            "longrel.test",
            Tls::Plain,
            redirect(301, format!("/{}", "\"".repeat(24 * 1024))),
        ),
        Site::new("loop.test", Tls::Plain, redirect(307, "/again".into())),
        Site::new(
            "badloc.test",
            Tls::Plain,
            redirect(302, "http://[::1".into()),
        ),
        Site::new(
            "jsloc.test",
            Tls::Plain,
            redirect(302, "javascript:x()".into()),
        ),
        Site::new("emptyloc.test", Tls::Plain, redirect(302, String::new())),
        Site::new("untrusted.test", Tls::Untrusted, page("Interception", 100)),
        Site::new("expired.test", Tls::Expired, page("Expired", 100)),
        Site::new("tlsreset.test", Tls::ResetOnHello, page("never", 100)),
        Site::new("tlsstall.test", Tls::StallHandshake, page("never", 100)),
    ]
}

/// Answers a control may give: none is a usable measurement of the URL.
fn control_answers() -> Vec<Vec<u8>> {
    let huge = json!({
        "http_request": {
            "body_length": 1, "failure": null, "title": "t".repeat(512 * 1024),
            "headers": {}, "status_code": 200
        },
        "tcp_connect": (0..20_000)
            .map(|i| (format!("10.0.{}.{}:443", i / 256, i % 256), json!({"status": true, "failure": null})))
            .collect::<serde_json::Map<String, Value>>(),
    });
    let lying = json!({
        "http_request": {
            "body_length": i64::MAX, "failure": "weird_failure", "title": "<title>",
            "headers": {"": "x", "Set-Cookie": "\u{0}"}, "status_code": -7
        },
        "dns": {"addrs": ["not-an-ip", "999.1.1.1", "::ffff:127.0.0.1", ""], "failure": null},
        "tcp_connect": {"garbage": {"status": false, "failure": "x"},
                        "127.0.0.1:0": {"status": true, "failure": null}},
        "tls_handshake": {"[::1]:443": {"server_name": "", "status": true, "failure": null}},
        "ip_info": {"zzz": {"asn": u32::MAX, "flags": u32::MAX}},
    });
    vec![
        json_response(200, b"\0\xffnot json at all"),
        json_response(
            200,
            br#"{"tcp_connect": "no", "http_request": 5, "dns": []}"#,
        ),
        json_response(200, "[".repeat(200_000).as_bytes()),
        json_response(200, huge.to_string().as_bytes()),
        json_response(200, lying.to_string().as_bytes()),
        json_response(200, b""),
        json_response(500, b"{}"),
        b"HTTP/1.1 307 X\r\nLocation: /\r\nContent-Length: 0\r\n\r\n".to_vec(),
        b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n{\"dns\":".to_vec(),
    ]
}

impl World {
    async fn start() -> World {
        let ca = Ca::new("Vantage Test CA");
        let ok_site = Site::new("ok.test", Tls::Plain, page("OK", 1000));
        let ok_addr = serve(ok_site.clone(), &ca, &ca).await;
        let ok = ok_site.url(ok_addr);
        let mut zone = HashMap::from([("ok.test".to_string(), Answer::Addrs(vec![lo()]))]);
        let mut urls = vec![ok.clone()];
        for site in sites(&ok) {
            let addr = serve(site.clone(), &ca, &ca).await;
            zone.insert(site.name.clone(), Answer::Addrs(vec![lo()]));
            urls.push(site.url(addr));
        }
        let port = ok_addr.port();
        for (name, answer) in [
            ("dnsgarbage.test", Answer::Garbage),
            ("dnssilent.test", Answer::Silent),
            ("dnsservfail.test", Answer::ServFail),
            ("nx.test", Answer::NxDomain),
            ("trunc.test", Answer::Truncated(vec![lo()])),
        ] {
            zone.insert(name.to_string(), answer);
            urls.push(format!("http://{name}:{port}/"));
        }
        if std::net::TcpListener::bind("[::1]:0").is_ok() {
            let v6: SocketAddr = "[::1]:0".parse().unwrap();
            let site = Site::new("::1", Tls::Valid, page("Over IPv6", 500));
            let addr = serve_on(v6, site, &ca, &ca).await;
            urls.push(format!("https://[::1]:{}/", addr.port()));
        } else {
            eprintln!("one_record: ::1 is unavailable; no IPv6 targets in the lists");
        }
        let mut controls = Vec::new();
        for answer in control_answers() {
            controls.push(format!("http://{}/", answering(answer).await));
        }
        let reset = serve(Site::new("c.test", Tls::Plain, Reply::Reset), &ca, &ca).await;
        controls.push(format!("http://{reset}/"));
        World {
            ca,
            dns: FakeDns::start(zone).await,
            sites: urls,
            controls,
            ok,
            ok_port: port,
        }
    }
}

/// One line of a generated list, kept abstract so a failing case prints readably.
#[derive(Clone, Debug)]
enum Line {
    /// The URL of hostile site number N.
    Site(usize),
    /// `ok` followed by N bytes of `a` (or N/3 of `"`, which percent-encode to 3 bytes).
    Long { n: usize, encoded: bool },
    /// `http://HOST:PORT/` with a weird host.
    Name(String),
    /// Anything on one line.
    Garbage(String),
}

#[derive(Clone, Debug)]
struct Case {
    lines: Vec<Line>,
    /// Where the one surely good URL goes.
    anchor: usize,
    control: Option<usize>,
}

const NAME_PIECES: &[&str] = &[
    "a",
    "ok",
    "-",
    "xn--",
    "xn--zz",
    "ß",
    "ı",
    "ﬁ",
    "Ⅸ",
    "ä",
    "\u{200d}",
    "\u{301}",
    "ا",
    "٣",
    "１",
    "。",
    "．",
    "_",
    "🙂",
    "\u{fe0f}",
    "\u{ffff}",
    "Ω",
    "ǅ",
    "%41",
    "..",
    "[",
    "]",
    "*",
    "\u{feff}",
    "\u{3000}",
    "0x7f",
    "255",
    "1.2.3.4.5",
];

fn line(world_sites: usize) -> impl Strategy<Value = Line> {
    let long_label = (64usize..300).prop_map(|n| "a".repeat(n));
    let name = prop_oneof![
        4 => (
            proptest::collection::vec(proptest::sample::select(NAME_PIECES), 1..6),
            proptest::sample::select(&[".test", "", ".", ".xn--zckzah"][..])
        )
            .prop_map(|(p, s)| format!("{}{s}", p.concat())),
        1 => long_label.prop_map(|l| format!("{l}.test")),
    ];
    prop_oneof![
        5 => (0..world_sites).prop_map(Line::Site),
        2 => (65_400usize..65_600, any::<bool>()).prop_map(|(n, encoded)| Line::Long { n, encoded }),
        2 => name.prop_map(Line::Name),
        2 => "[^\n]{0,80}".prop_map(Line::Garbage),
    ]
}

fn case(world: &World) -> impl Strategy<Value = Case> {
    (
        proptest::collection::vec(line(world.sites.len()), 0..10),
        0usize..8,
        proptest::option::of(0..world.controls.len()),
    )
        .prop_map(|(lines, anchor, control)| Case {
            lines,
            anchor,
            control,
        })
}

fn render(world: &World, case: &Case) -> String {
    let mut lines: Vec<String> = case
        .lines
        .iter()
        .map(|l| match l {
            Line::Site(i) => world.sites[*i].clone(),
            Line::Long { n, encoded: false } => format!("{}{}", world.ok, "a".repeat(*n)),
            Line::Long { n, encoded: true } => format!("{}{}", world.ok, "\"".repeat(n / 3)),
            Line::Name(host) => format!("http://{host}:{}/", world.ok_port),
            Line::Garbage(g) => g.clone(),
        })
        .collect();
    lines.insert(case.anchor.min(lines.len()), world.ok.clone());
    let mut text = lines.join("\n");
    text.push('\n');
    text
}

/// What the list reader makes of the file: the targets' URLs, and the number of bad lines.
fn expected(list: &Path) -> (Vec<String>, u64) {
    let (mut targets, mut bad) = (Vec::new(), 0);
    for e in vantage::targets::open(&[list.to_path_buf()]).unwrap() {
        match e {
            vantage::targets::Entry::Target(t) => targets.push(t.input),
            vantage::targets::Entry::Bad(_) => bad += 1,
        }
    }
    targets.sort();
    (targets, bad)
}

/// URLs cut to a readable length (some are 64 KiB).
fn short(urls: &[String]) -> Vec<String> {
    urls.iter()
        .map(|u| match u.char_indices().nth(100) {
            Some((i, _)) => format!("{}...({} bytes)", &u[..i], u.len()),
            None => u.clone(),
        })
        .collect()
}

async fn check(world: &World, case: Case) -> Result<(), TestCaseError> {
    let work = Workdir::new();
    let ca_file = work.write("ca.pem", &world.ca.pem);
    let list = work.write("list.txt", &render(world, &case));
    let (want, bad) = expected(&list);
    let mut extra = vec![
        "--timeout",
        "1s",
        "--deadline",
        "3s",
        "--dns-wait",
        "100ms",
        "--parallel",
        "8",
    ];
    if let Some(c) = case.control {
        extra.extend(["--control", world.controls[c].as_str()]);
    }
    let out = vantage(
        &run_args(&work, &list, &world.dns, &ca_file, &extra),
        &work.out(),
    )
    .await;
    prop_assert_eq!(out.code, 0, "stderr: {:.3000}", out.stderr);
    let mut got: Vec<String> = out
        .records
        .iter()
        .map(|r| r["input"].as_str().unwrap_or("").to_string())
        .collect();
    got.sort();
    prop_assert!(
        got == want,
        "one record per distinct valid target: got {:?}, want {:?}; stderr: {:.3000}",
        short(&got),
        short(&want),
        out.stderr
    );
    for r in &out.records {
        let internal = r["test_keys"]["failure"].as_str().unwrap_or("");
        let input = r["input"].as_str().unwrap_or("").to_string();
        prop_assert!(
            !internal.contains("internal error"),
            "{:?}: {internal}",
            short(&[input])
        );
    }
    let summary = format!("{} measured", want.len());
    prop_assert!(out.stdout.contains(&summary), "{}", out.stdout);
    let noun = if bad == 1 { "line" } else { "lines" };
    let skipped = format!("({bad} bad {noun} skipped)");
    prop_assert!(out.stdout.contains(&skipped), "{}", out.stdout);
    Ok(())
}

#[test]
fn every_valid_target_yields_exactly_one_record() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let world = rt.block_on(World::start());
    let mut runner = TestRunner::new(Config {
        cases: 24,
        max_shrink_iters: 24,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&case(&world), |case| rt.block_on(check(&world, case)));
    if let Err(e) = result {
        panic!("{e}");
    }
}
