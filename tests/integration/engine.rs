//! `vantage run` over a fake internet where every site fails in its own way: the records must
//! say exactly what happened at each step.

use std::collections::HashMap;
use std::net::IpAddr;

use serde_json::Value;

use crate::harness::web::{self, page, serve};
use crate::harness::{run_args, vantage, Answer, Ca, FakeDns, Reply, Site, Tls, Workdir};

fn lo() -> IpAddr {
    "127.0.0.1".parse().unwrap()
}

fn failures(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|e| e["failure"].as_str().unwrap_or("null").to_string())
        .collect()
}

fn a_queries(r: &Value) -> Vec<&Value> {
    r["test_keys"]["queries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|q| q["query_type"] == "A")
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_step_is_recorded_as_it_happened() {
    let trusted = Ca::new("Vantage Test CA");
    let censor = Ca::new("Censor CA");
    let work = Workdir::new();
    let ca_file = work.write("ca.pem", &trusted.pem);

    let mut zone = HashMap::new();
    let mut urls: HashMap<&str, String> = HashMap::new();
    let sites = [
        Site::new("ok-http.test", Tls::Plain, page("OK over HTTP", 5000)),
        Site::new("ok-https.test", Tls::Valid, page("OK over HTTPS", 5000)),
        Site::new("h2.test", Tls::ValidH2, page("OK over HTTP/2", 3000)),
        Site::new(
            "slow.test",
            Tls::Plain,
            Reply::Slow {
                size: 64 * 1024,
                chunk: 8 * 1024,
                every: std::time::Duration::from_millis(100),
            },
        ),
        Site::new("race.test", Tls::Plain, page("Real race site", 1000)),
        Site::new("trunc.test", Tls::Plain, page("Truncated DNS", 1000)),
        Site::new("reset.test", Tls::Plain, Reply::Reset),
        Site::new("close.test", Tls::Plain, Reply::Close),
        Site::new("stall.test", Tls::Plain, Reply::Stall),
        Site::new("endless.test", Tls::Plain, Reply::Endless),
        Site::new("untrusted.test", Tls::Untrusted, page("Interception", 100)),
        Site::new("wrongname.test", Tls::WrongName, page("Wrong name", 100)),
        Site::new("expired.test", Tls::Expired, page("Expired", 100)),
        Site::new("tlsreset.test", Tls::ResetOnHello, page("never", 100)),
        Site::new("tlsstall.test", Tls::StallHandshake, page("never", 100)),
    ];
    for site in sites {
        let addr = serve(site.clone(), &trusted, &censor).await;
        let answer = match site.name.as_str() {
            // The forged answer (nothing listens there) arrives first, the real one 100 ms later.
            "race.test" => Answer::Race {
                first: vec!["127.0.0.9".parse().unwrap()],
                then: vec![lo()],
                delay: std::time::Duration::from_millis(100),
            },
            "trunc.test" => Answer::Truncated(vec![lo()]),
            _ => Answer::Addrs(vec![lo()]),
        };
        zone.insert(site.name.clone(), answer);
        urls.insert(
            Box::leak(site.name.clone().into_boxed_str()),
            site.url(addr),
        );
    }
    // Redirect chain r1 -> r2 -> ok-https, and a loop.
    let r2 = Site::new(
        "r2.test",
        Tls::Plain,
        Reply::Redirect {
            code: 301,
            location: urls["ok-https.test"].clone(),
        },
    );
    let r2_addr = serve(r2.clone(), &trusted, &censor).await;
    let r1 = Site::new(
        "r1.test",
        Tls::Plain,
        Reply::Redirect {
            code: 302,
            location: r2.url(r2_addr),
        },
    );
    let r1_addr = serve(r1.clone(), &trusted, &censor).await;
    let looping = Site::new(
        "loop.test",
        Tls::Plain,
        Reply::Redirect {
            code: 307,
            location: "/again".into(),
        },
    );
    // The Location is relative, so the loop stays on that site.
    let loop_addr = serve(looping.clone(), &trusted, &censor).await;
    for (s, a) in [(&r1, r1_addr), (&r2, r2_addr), (&looping, loop_addr)] {
        zone.insert(s.name.clone(), Answer::Addrs(vec![lo()]));
        urls.insert(Box::leak(s.name.clone().into_boxed_str()), s.url(a));
    }
    let hole = web::blackhole().await;
    zone.insert("blackhole.test".into(), Answer::Addrs(vec![lo()]));
    urls.insert(
        "blackhole.test",
        format!("http://blackhole.test:{}/", hole.port()),
    );
    let refused = crate::harness::dead_port();
    zone.insert("refused.test".into(), Answer::Addrs(vec![lo()]));
    urls.insert(
        "refused.test",
        format!("http://refused.test:{}/", refused.port()),
    );
    zone.insert("garbage.test".into(), Answer::Garbage);
    urls.insert("garbage.test", "http://garbage.test/".into());
    zone.insert("silent.test".into(), Answer::Silent);
    urls.insert("silent.test", "http://silent.test/".into());
    zone.insert("servfail.test".into(), Answer::ServFail);
    urls.insert("servfail.test", "http://servfail.test/".into());
    zone.insert("nx.test".into(), Answer::NxDomain);
    urls.insert("nx.test", "http://nx.test/".into());

    let dns = FakeDns::start(zone).await;
    let mut list = String::from("# every scenario\n");
    for u in urls.values() {
        list.push_str(u);
        list.push('\n');
    }
    let targets = work.write("targets.txt", &list);
    let args = run_args(
        &work,
        &targets,
        &dns,
        &ca_file,
        &[
            "--timeout",
            "2s",
            "--dns-wait",
            "300ms",
            "--parallel",
            "32",
            "--testbed-net",
            "127.0.0.0/8",
        ],
    );
    let out = vantage(&args, &work.out()).await;
    assert_eq!(out.code, 0, "stderr: {}", out.stderr);
    assert_eq!(out.records.len(), urls.len(), "one record per URL");
    let rec = |name: &str| out.record(&urls[name]);

    // The base keys every record carries.
    let mut uids = std::collections::HashSet::new();
    for r in &out.records {
        assert_eq!(r["schema_version"], 3);
        assert_eq!(r["data_format_version"], "0.2.0");
        assert_eq!(r["test_name"], "web_connectivity");
        assert_eq!(r["software_name"], "vantage");
        assert_eq!(r["probe_ip"], "127.0.0.1");
        assert_eq!(r["probe_cc"], "ZZ");
        assert_eq!(r["resolver_ip"], "127.0.0.1");
        let start = r["measurement_start_time"].as_str().unwrap();
        assert_eq!(start.len(), 19, "{start}");
        assert_eq!(&start[10..11], " ");
        assert!(r["test_runtime"].as_f64().unwrap() > 0.0);
        assert!(
            uids.insert(r["measurement_uid"].as_str().unwrap().to_string()),
            "uids are unique"
        );
    }
    // Without a control only self-evident interference is a verdict: the injected race and the
    // certificate for another name. Everything else is unknown, never blocked.
    for r in &out.records {
        let input = r["input"].as_str().unwrap();
        let v = &r["test_keys"]["x_verdict"];
        let want = if input == urls["race.test"] {
            ("blocked", vec!["dns.injection"])
        } else if input == urls["wrongname.test"] {
            ("blocked", vec!["tls.mitm"])
        } else {
            ("unknown", vec![])
        };
        assert_eq!(v["status"], want.0, "{input}: {v}");
        assert_eq!(v["methods"], serde_json::json!(want.1), "{input}: {v}");
    }
    assert!(
        out.stdout.contains(&format!("unknown: {}", urls.len() - 2)),
        "{}",
        out.stdout
    );

    // A plain page: DNS answer with TTL, TCP, the response with title, length and hash.
    let r = rec("ok-http.test");
    let a = a_queries(r);
    assert_eq!(a[0]["answers"][0]["ipv4"], "127.0.0.1");
    assert_eq!(a[0]["answers"][0]["ttl"], 60);
    assert_eq!(a[0]["rcode"], 0);
    assert_eq!(a[0]["x_id_match"], true);
    let aaaa: Vec<_> = r["test_keys"]["queries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|q| q["query_type"] == "AAAA")
        .collect();
    assert_eq!(aaaa[0]["failure"], "dns_no_answer");
    assert_eq!(r["test_keys"]["tcp_connect"][0]["status"]["success"], true);
    let req = &r["test_keys"]["requests"][0];
    assert_eq!(req["failure"], Value::Null);
    assert!(req["request"]["headers"]["User-Agent"]
        .as_str()
        .unwrap()
        .contains("Safari"));
    let resp = &req["response"];
    assert_eq!(resp["code"], 200);
    assert_eq!(resp["x_title"], "OK over HTTP");
    assert_eq!(resp["x_body_length"], 5000);
    assert_eq!(resp["x_body_complete"], true);
    assert_eq!(resp["body_is_truncated"], false);
    assert_eq!(resp["body"].as_str().unwrap().len(), 5000);
    assert_eq!(resp["x_body_sha256"].as_str().unwrap().len(), 64);
    assert_eq!(resp["headers"]["X-Site"], "fake");

    // HTTPS: the handshake's details and the validated chain.
    let r = rec("ok-https.test");
    let tls = &r["test_keys"]["tls_handshakes"][0];
    assert_eq!(tls["failure"], Value::Null);
    assert_eq!(tls["server_name"], "ok-https.test");
    assert_eq!(tls["tls_version"], "TLSv1.3");
    assert_eq!(tls["negotiated_protocol"], "http/1.1");
    assert_eq!(tls["x_certificate_valid"], true);
    assert_eq!(tls["x_chain"][0]["san"][0], "ok-https.test");
    assert!(tls["x_chain"][0]["issuer"]
        .as_str()
        .unwrap()
        .contains("Vantage Test CA"));
    assert_eq!(tls["peer_certificates"][0]["format"], "base64");
    assert!(tls["x_bytes_received"].as_u64().unwrap() > 100);
    assert_eq!(
        r["test_keys"]["requests"][0]["response"]["x_title"],
        "OK over HTTPS"
    );

    // HTTP/2 when ALPN picks it, on the same connection.
    let r = rec("h2.test");
    assert_eq!(
        r["test_keys"]["tls_handshakes"][0]["negotiated_protocol"],
        "h2"
    );
    let req = &r["test_keys"]["requests"][0];
    assert_eq!(req["alpn"], "h2");
    assert_eq!(req["failure"], Value::Null);
    assert_eq!(req["response"]["code"], 200);
    assert_eq!(req["response"]["x_title"], "OK over HTTP/2");
    assert_eq!(req["response"]["x_body_length"], 3000);
    assert_eq!(
        r["test_keys"]["tcp_connect"].as_array().unwrap().len(),
        1,
        "one connection"
    );

    // A slow transfer leaves a timeline of samples (the evidence for throttling).
    let slow = &rec("slow.test")["test_keys"]["requests"][0];
    assert_eq!(slow["response"]["x_body_length"], 64 * 1024);
    let samples = slow["x_transfer"].as_array().unwrap();
    assert!(samples.len() >= 5, "{samples:?}");
    let last = samples.last().unwrap();
    assert_eq!(last["bytes"], 64 * 1024);
    assert!(last["t"].as_f64().unwrap() - samples[0]["t"].as_f64().unwrap() >= 0.6);
    assert!(samples
        .windows(2)
        .all(|w| w[0]["bytes"].as_u64() <= w[1]["bytes"].as_u64()));

    // DNS: NXDOMAIN, SERVFAIL, silence, garbage, truncation, and the injected race.
    assert_eq!(
        failures(&rec("nx.test")["test_keys"]["queries"])[0],
        "dns_nxdomain_error"
    );
    assert!(rec("nx.test")["test_keys"]["tcp_connect"]
        .as_array()
        .unwrap()
        .is_empty());
    assert_eq!(
        a_queries(rec("servfail.test"))[0]["failure"],
        "dns_servfail_error"
    );
    assert_eq!(
        a_queries(rec("silent.test"))[0]["failure"],
        "generic_timeout_error"
    );
    let garbage = a_queries(rec("garbage.test"));
    assert!(
        garbage
            .iter()
            .any(|q| q["failure"] == "dns_server_misbehaving" && q["x_decode_error"].is_string()),
        "{garbage:?}"
    );
    let trunc = a_queries(rec("trunc.test"));
    assert!(trunc.iter().any(|q| q["x_flags"]["tc"] == true));
    let over_tcp: Vec<_> = trunc.iter().filter(|q| q["engine"] == "tcp").collect();
    assert_eq!(over_tcp[0]["answers"][0]["ipv4"], "127.0.0.1");
    assert_eq!(
        rec("trunc.test")["test_keys"]["requests"][0]["response"]["code"],
        200
    );
    let race = a_queries(rec("race.test"));
    assert_eq!(
        race.len(),
        2,
        "both answers to one query are kept: {race:?}"
    );
    assert_eq!(race[0]["answers"][0]["ipv4"], "127.0.0.9");
    assert_eq!(race[0]["x_response_index"], 0);
    assert_eq!(race[1]["answers"][0]["ipv4"], "127.0.0.1");
    assert_eq!(race[1]["x_response_index"], 1);
    assert_eq!(race[0]["x_query_id"], race[1]["x_query_id"]);
    assert!(race[1]["t"].as_f64().unwrap() >= race[0]["t"].as_f64().unwrap() + 0.09);
    assert_eq!(
        rec("race.test")["test_keys"]["tcp_connect"][0]["ip"],
        "127.0.0.9",
        "the first answer is the one connected to"
    );

    // TCP: refused and blackholed.
    assert_eq!(
        rec("refused.test")["test_keys"]["tcp_connect"][0]["status"]["failure"],
        "connection_refused"
    );
    assert_eq!(
        rec("blackhole.test")["test_keys"]["tcp_connect"][0]["status"]["failure"],
        "generic_timeout_error"
    );

    // HTTP: reset, close, stall, endless body.
    let http_failure = |name: &str| rec(name)["test_keys"]["requests"][0]["failure"].clone();
    assert_eq!(http_failure("reset.test"), "connection_reset");
    assert_eq!(http_failure("close.test"), "eof_error");
    assert_eq!(http_failure("stall.test"), "generic_timeout_error");
    let endless = &rec("endless.test")["test_keys"]["requests"][0]["response"];
    assert_eq!(endless["code"], 200);
    assert_eq!(endless["body_is_truncated"], true);
    assert_eq!(endless["x_body_complete"], false);
    assert!(endless["x_body_length"].as_u64().unwrap() >= 8 * 1024 * 1024);
    assert_eq!(endless["body"].as_str().unwrap().len(), 512 * 1024);

    // TLS: certificates that do not validate are recorded with their chain, and no request goes out.
    for (name, failure) in [
        ("untrusted.test", "ssl_unknown_authority"),
        ("wrongname.test", "ssl_invalid_hostname"),
        ("expired.test", "ssl_invalid_certificate"),
    ] {
        let r = rec(name);
        let tls = &r["test_keys"]["tls_handshakes"][0];
        assert_eq!(tls["failure"], failure, "{name}");
        assert_eq!(tls["x_handshake_completed"], true, "{name}");
        assert_eq!(tls["x_certificate_valid"], false, "{name}");
        assert!(!tls["x_chain"].as_array().unwrap().is_empty(), "{name}");
        assert!(
            r["test_keys"]["requests"].as_array().unwrap().is_empty(),
            "{name}: no request over an unvalidated connection"
        );
    }
    assert!(
        rec("untrusted.test")["test_keys"]["tls_handshakes"][0]["x_chain"][0]["issuer"]
            .as_str()
            .unwrap()
            .contains("Censor CA")
    );
    let tls_failure = |name: &str| rec(name)["test_keys"]["tls_handshakes"][0]["failure"].clone();
    assert_eq!(tls_failure("tlsreset.test"), "connection_reset");
    assert_eq!(tls_failure("tlsstall.test"), "generic_timeout_error");

    // Redirects: every hop recorded, last hop first, each with its depth.
    let chain = rec("r1.test")["test_keys"]["requests"].as_array().unwrap();
    assert_eq!(chain.len(), 3);
    assert_eq!(chain[0]["request"]["url"], urls["ok-https.test"]);
    assert_eq!(chain[0]["response"]["code"], 200);
    assert_eq!(chain[1]["response"]["code"], 301);
    assert_eq!(chain[2]["request"]["url"], urls["r1.test"]);
    assert!(chain[0]["tags"]
        .as_array()
        .unwrap()
        .contains(&"depth=2".into()));
    let tls_hops = rec("r1.test")["test_keys"]["tls_handshakes"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(tls_hops, 1, "one TLS handshake, at the https hop");
    let looped = rec("loop.test");
    assert_eq!(
        looped["test_keys"]["requests"].as_array().unwrap().len(),
        11,
        "the first request and 10 redirects"
    );
    assert_eq!(looped["test_keys"]["x_redirect_limit_reached"], true);
}
