//! `vantage helper` as a probe uses it and as an attacker would: measurements come back in
//! OONI's control shape, abuse is refused, and `vantage run --control` records the answer.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{json, Value};

use crate::harness::web::{page, serve};
use crate::harness::{
    client, run_args, vantage, Answer, Ca, FakeDns, Helper, Reply, Site, Tls, Workdir,
};

struct World {
    ca: Ca,
    dns: FakeDns,
    ok: String,
    tls_ok: String,
    stall: String,
    work: Workdir,
}

async fn world() -> World {
    let ca = Ca::new("Vantage Test CA");
    let ok = Site::new("ok.test", Tls::Plain, page("Control OK", 2000));
    let tls_ok = Site::new("secure.test", Tls::Valid, page("Secure OK", 2000));
    let stall = Site::new("stall.test", Tls::Plain, Reply::Stall);
    let (a, b, c) = (
        serve(ok.clone(), &ca, &ca).await,
        serve(tls_ok.clone(), &ca, &ca).await,
        serve(stall.clone(), &ca, &ca).await,
    );
    let lo = vec!["127.0.0.1".parse().unwrap()];
    let dns = FakeDns::start(HashMap::from([
        ("ok.test".to_string(), Answer::Addrs(lo.clone())),
        ("secure.test".to_string(), Answer::Addrs(lo.clone())),
        ("stall.test".to_string(), Answer::Addrs(lo)),
    ]))
    .await;
    World {
        ca,
        dns,
        ok: ok.url(a),
        tls_ok: tls_ok.url(b),
        stall: stall.url(c),
        work: Workdir::new(),
    }
}

fn request(url: &str, endpoints: &[&str]) -> Value {
    json!({
        "http_request": url,
        "http_request_headers": {"User-Agent": ["test"]},
        "tcp_connect": endpoints,
        "x_quic_enabled": false
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helper_answers_in_oonis_shape() {
    let w = world().await;
    let ca_file = w.work.write("ca.pem", &w.ca.pem);
    let resolver = w.dns.addr.to_string();
    let helper = Helper::start(&[
        "--resolver",
        &resolver,
        "--ca-file",
        ca_file.to_str().unwrap(),
        "--allow-private",
    ])
    .await;
    let port = w.tls_ok.rsplit(':').next().unwrap().trim_end_matches('/');
    let probe_ep = format!("127.0.0.2:{port}");
    let resp = client()
        .post(helper.url())
        .json(&request(&w.tls_ok, &[&probe_ep]))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let a: Value = resp.json().await.unwrap();
    assert_eq!(a["dns"]["addrs"][0], "127.0.0.1");
    assert_eq!(a["dns"]["failure"], Value::Null);
    let own = format!("127.0.0.1:{port}");
    assert_eq!(a["tcp_connect"][&own]["status"], true);
    assert_eq!(a["tls_handshake"][&own]["status"], true);
    assert_eq!(a["tls_handshake"][&own]["server_name"], "secure.test");
    assert_eq!(a["tls_handshake"][&own]["x_certificate_valid"], true);
    // The probe's endpoint was checked too (nothing listens on 127.0.0.2: refused).
    assert_eq!(a["tcp_connect"][&probe_ep]["status"], false);
    assert_eq!(a["tcp_connect"][&probe_ep]["failure"], "connection_refused");
    assert_eq!(a["ip_info"]["127.0.0.2"]["flags"].as_u64().unwrap() & 1, 1);
    assert_eq!(a["ip_info"]["127.0.0.1"]["flags"].as_u64().unwrap() & 2, 2);
    let http = &a["http_request"];
    assert_eq!(http["status_code"], 200);
    assert_eq!(http["body_length"], 2000);
    assert_eq!(http["title"], "Secure OK");
    assert_eq!(http["failure"], Value::Null);
    assert_eq!(http["headers"]["X-Site"], "fake");
    assert!(http["x_transfer_rate"].as_f64().is_some());

    // OONI's E001 check for an http:// URL: a TLS handshake with SNI on :443 at each address.
    let resp = client()
        .post(helper.url())
        .json(&request(&w.ok, &["127.0.0.1:80"]))
        .send()
        .await
        .unwrap();
    let a: Value = resp.json().await.unwrap();
    // Nothing listens on 127.0.0.1:443 here: the connect is tried and refused, so no handshake.
    assert_eq!(
        a["tcp_connect"]["127.0.0.1:443"]["failure"], "connection_refused",
        "{a}"
    );
    assert!(a["tls_handshake"].get("127.0.0.1:443").is_none(), "{a}");
    assert_eq!(a["http_request"]["title"], "Control OK");

    // NXDOMAIN in OONI's helper vocabulary.
    let resp = client()
        .post(helper.url())
        .json(&request("http://missing.test/", &[]))
        .send()
        .await
        .unwrap();
    let a: Value = resp.json().await.unwrap();
    assert_eq!(a["dns"]["failure"], "dns_name_error");
    assert_eq!(a["http_request"]["status_code"], -1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helper_refuses_abuse() {
    let w = world().await;
    let resolver = w.dns.addr.to_string();
    let c = client();

    // Without --allow-private: loopback destinations are refused, by literal or by name.
    let strict = Helper::start(&[
        "--resolver",
        &resolver,
        "--token",
        "s3cret",
        "--max-inflight",
        "1",
    ])
    .await;
    let auth = |r: reqwest::RequestBuilder| r.bearer_auth("s3cret");
    let r = auth(c.post(strict.url()))
        .json(&request("http://127.0.0.1:9/", &[]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = auth(c.post(strict.url()))
        .json(&request(&w.ok, &["127.0.0.1:80"]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let a: Value = r.json().await.unwrap();
    assert_eq!(
        a["http_request"]["status_code"], -1,
        "no fetch from a private address: {a}"
    );
    assert!(
        a["tcp_connect"]
            .as_object()
            .unwrap()
            .values()
            .all(|t| t["status"] == false),
        "{a}"
    );
    assert!(
        a["tcp_connect"].get("127.0.0.1:80").is_none(),
        "the probe's private endpoint is not checked"
    );
    assert_eq!(
        a["ip_info"]["127.0.0.1"]["flags"].as_u64().unwrap() & 4,
        4,
        "marked bogon"
    );

    // Token: missing or wrong is 401.
    let r = c
        .post(strict.url())
        .json(&request(&w.ok, &[]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = c
        .post(strict.url())
        .bearer_auth("guess")
        .json(&request(&w.ok, &[]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    // Malformed, wrong-shaped, oversized requests are 4xx.
    for body in [
        "{",
        "[]",
        "{\"http_request\": 5}",
        "{\"http_request\": \"ftp://x.test/\"}",
        "{\"http_request\": \"http://ok.test/\", \"tcp_connect\": [\"nope\"]}",
    ] {
        let r = auth(c.post(strict.url()))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{body}");
    }
    let huge = format!(
        "{{\"http_request\": \"http://ok.test/\", \"pad\": \"{}\"}}",
        "x".repeat(100_000)
    );
    let r = auth(c.post(strict.url())).body(huge).send().await.unwrap();
    assert_eq!(r.status(), 413);

    // Random bytes and mangled requests: always an answer, never a crash.
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let valid = serde_json::to_string(&request("http://nowhere.test/", &["127.0.0.1:1"])).unwrap();
    for i in 0..60 {
        let body: Vec<u8> = if i % 2 == 0 {
            (0..rng.random_range(0..300))
                .map(|_| rng.random())
                .collect()
        } else {
            let mut b = valid.clone().into_bytes();
            for _ in 0..rng.random_range(1..6) {
                let at = rng.random_range(0..b.len());
                let junk = b"{}[]\",:0aZ\x00\xff";
                b[at] = junk[rng.random_range(0..junk.len())];
            }
            b
        };
        let r = auth(c.post(strict.url()))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert!(
            r.status() == 200 || r.status().is_client_error(),
            "{}",
            r.status()
        );
    }
    let r = auth(c.post(strict.url()))
        .json(&request(&w.ok, &[]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "still serving");

    // Overload: with --max-inflight 1, a second request while one stalls is 503.
    let open = Helper::start(&[
        "--resolver",
        &resolver,
        "--allow-private",
        "--max-inflight",
        "1",
        "--timeout",
        "3s",
    ])
    .await;
    let slow = tokio::spawn({
        let (c, url, body) = (c.clone(), open.url(), request(&w.stall, &[]));
        async move { c.post(url).json(&body).send().await.unwrap().status() }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let r = c
        .post(open.url())
        .json(&request(&w.ok, &[]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    assert_eq!(
        slow.await.unwrap(),
        200,
        "the stalled request is still answered"
    );
    let r = c
        .post(open.url())
        .json(&request(&w.ok, &[]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "and the helper recovers");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_records_the_control_answer_or_its_failure() {
    let w = world().await;
    let ca_file = w.work.write("ca.pem", &w.ca.pem);
    let resolver = w.dns.addr.to_string();
    let helper = Helper::start(&[
        "--resolver",
        &resolver,
        "--ca-file",
        ca_file.to_str().unwrap(),
        "--allow-private",
    ])
    .await;
    let list = w
        .work
        .write("list.txt", &format!("{}\n{}\n", w.ok, w.tls_ok));
    let args = run_args(
        &w.work,
        &list,
        &w.dns,
        &ca_file,
        &["--control", &helper.url(), "--testbed-net", "127.0.0.0/8"],
    );
    let out = vantage(&args, &w.work.out()).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let r = out.record(&w.ok);
    assert_eq!(r["test_keys"]["control_failure"], Value::Null);
    assert_eq!(
        r["test_keys"]["control"]["http_request"]["title"],
        "Control OK"
    );
    assert_eq!(r["test_keys"]["control"]["dns"]["addrs"][0], "127.0.0.1");
    let port = w.ok.rsplit(':').next().unwrap().trim_end_matches('/');
    assert_eq!(
        r["test_keys"]["control"]["tcp_connect"][format!("127.0.0.1:{port}")]["status"],
        true
    );

    // An unreachable control is recorded as such and never makes anything blocked.
    let dead = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dead_url = format!("http://{}/", dead.local_addr().unwrap());
    drop(dead);
    let work2 = Workdir::new();
    let args = run_args(
        &work2,
        &list,
        &w.dns,
        &ca_file,
        &["--control", &dead_url, "--testbed-net", "127.0.0.0/8"],
    );
    let out = vantage(&args, &work2.out()).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    for r in &out.records {
        assert_eq!(
            r["test_keys"]["control_failure"], "connection_refused",
            "{r}"
        );
        assert_eq!(r["test_keys"]["control"], Value::Null);
        assert_ne!(r["test_keys"]["x_verdict"]["status"], "blocked");
    }
}
