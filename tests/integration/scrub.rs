//! The probe's own address never reaches a record: a site echoes the client address in a
//! redirect, headers, cookies, title and body, and a whoami resolver answers with it. The probe
//! runs from 127.0.0.1 against servers on 127.0.0.2; with `--probe-ip 127.0.0.1` no spelling of
//! it is left in the JSON line or inside the decoded raw bytes, while the servers' addresses
//! stay. Without the flag the same run shows the address, so the test sees what it checks.

use std::collections::HashMap;
use std::net::IpAddr;

use base64::Engine as _;
use serde_json::Value;

use crate::harness::echo::{echo_site, whoami_dns, WHOAMI};
use crate::harness::fake_control::{answering, json_response};
use crate::harness::{vantage, Workdir};

const PROBE: &str = "127.0.0.1";

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// Occurrences of `addr` in `text` not followed by another digit (127.0.0.10 is another).
fn count(text: &str, addr: &str) -> usize {
    text.match_indices(addr)
        .filter(|(i, _)| {
            !text[i + addr.len()..]
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_digit())
        })
        .count()
}

/// Every base64 blob of the record, decoded, with the key it is under.
fn blobs(v: &Value, key: &str, out: &mut Vec<(String, Vec<u8>)>) {
    match v {
        Value::Object(m) if m.get("format").and_then(Value::as_str) == Some("base64") => {
            let data = m["data"].as_str().unwrap();
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(data)
                .unwrap();
            out.push((key.to_string(), bytes));
        }
        Value::Object(m) => m.iter().for_each(|(k, v)| blobs(v, k, out)),
        Value::Array(a) => a.iter().for_each(|v| blobs(v, key, out)),
        Value::String(s) if key == "raw_response" => {
            let bytes = base64::engine::general_purpose::STANDARD.decode(s).unwrap();
            out.push((key.to_string(), bytes));
        }
        _ => {}
    }
}

/// The record as text without its fixed `probe_ip` key, and its decoded raw DNS responses.
fn evidence(r: &Value) -> (String, Vec<Vec<u8>>) {
    let mut r = r.clone();
    assert_eq!(r["probe_ip"], PROBE, "probe_ip is OONI's fixed placeholder");
    r.as_object_mut().unwrap().remove("probe_ip");
    let mut found = Vec::new();
    blobs(&r, "", &mut found);
    let raw = found
        .iter()
        .filter(|(k, _)| k == "raw_response")
        .map(|(_, b)| b.clone())
        .collect();
    let mut text = r.to_string();
    for (_, bytes) in &found {
        text.push_str(&String::from_utf8_lossy(bytes));
    }
    (text, raw)
}

fn has(bytes: &[u8], needle: &[u8]) -> bool {
    bytes.windows(needle.len()).any(|w| w == needle)
}

/// `vantage run` over the echo site and the whoami name, with `extra` flags.
async fn run_echo(port: u16, dns: std::net::SocketAddr, extra: &[&str]) -> crate::harness::Outcome {
    let work = Workdir::new();
    let targets = work.write(
        "targets.txt",
        &format!("http://echo.test:{port}/\nhttp://{WHOAMI}:{port}/landing\n"),
    );
    let mut args: Vec<String> = [
        "run",
        "--targets",
        targets.to_str().unwrap(),
        "--out",
        work.out().to_str().unwrap(),
        "--resolver",
        &dns.to_string(),
        "--rate",
        "0",
        "--timeout",
        "3s",
        "--dns-wait",
        "200ms",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(extra.iter().map(|s| s.to_string()));
    let out = vantage(&args, &work.out()).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.records.len(), 2, "{}", out.stderr);
    out
}

/// The address the control saw the probe's requests come from (`GET /info`) is scrubbed when it
/// is globally routable: behind a NAT that is the vantage point's public address, which no
/// interface carries. The control here is a fake that answers `/info` and the measurement
/// request alike with one JSON object naming a public address (only ever data: nothing is sent
/// to it) and quoting it in its page title and headers; a loopback address the control reports
/// (a helper on the same host) identifies nothing and is kept, as the sites' own address here.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_public_address_the_control_saw_is_scrubbed() {
    const PUBLIC: &str = "81.2.69.160";
    let servers = ip("127.0.0.2");
    let site = echo_site(servers, "echo.test").await;
    let zone = HashMap::from([("echo.test".to_string(), vec![servers])]);
    let dns = whoami_dns(servers, zone, vec![servers]).await;
    let answer = |client: &str| {
        let body = serde_json::json!({
            "software": "vantage", "protocol": 1, "client_address": client,
            "tcp_connect": {},
            "http_request": {"status_code": 200, "title": format!("Hello {PUBLIC}"),
                             "headers": {"X-Seen-From": PUBLIC}, "body_length": 10},
            "dns": {"addrs": ["127.0.0.2"]}
        });
        json_response(200, body.to_string().as_bytes())
    };
    for (client, scrubbed) in [(PUBLIC, true), ("127.0.0.1", false)] {
        let control = answering(answer(client)).await;
        let url = format!("http://{control}/");
        let out = run_echo(site.port(), dns, &["--control", &url]).await;
        for r in &out.records {
            let title = &r["test_keys"]["control"]["http_request"]["title"];
            let (text, _) = evidence(r);
            if scrubbed {
                assert_eq!(*title, "Hello [scrubbed]", "{r}");
                assert_eq!(count(&text, PUBLIC), 0, "{PUBLIC} left in {text}");
            } else {
                assert_eq!(*title, format!("Hello {PUBLIC}"), "{r}");
                assert!(count(&text, PROBE) > 0, "loopback is kept");
            }
            assert!(text.contains("127.0.0.2"), "the servers' address stays");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_probe_address_is_scrubbed_everywhere() {
    let servers = ip("127.0.0.2");
    let site = echo_site(servers, "echo.test").await;
    let zone = HashMap::from([("echo.test".to_string(), vec![servers])]);
    let dns = whoami_dns(servers, zone, vec![servers]).await;
    let run = |extra: &'static [&str]| run_echo(site.port(), dns, extra);

    // Without the flag (loopback is never scrubbed on its own) the address is everywhere.
    let plain = run(&[]).await;
    let echo = plain.record(&format!("http://echo.test:{}/", site.port()));
    let landing = &echo["test_keys"]["requests"][0];
    let title = landing["response"]["x_title"].as_str().unwrap();
    assert_eq!(
        title,
        format!("Your address is {PROBE}"),
        "the site saw 127.0.0.1"
    );
    let mut seen = 0;
    for r in &plain.records {
        let (text, raw) = evidence(r);
        seen += count(&text, PROBE);
        if r["input"].as_str().unwrap().contains(WHOAMI) {
            assert!(raw.iter().any(|b| has(b, &[127, 0, 0, 1])), "binary answer");
        }
    }
    assert!(
        seen >= 20,
        "the unscrubbed records hold the address {seen} times"
    );

    let scrubbed = run(&["--probe-ip", PROBE]).await;
    let mut marks = 0;
    for r in &scrubbed.records {
        let (text, raw) = evidence(r);
        assert_eq!(count(&text, PROBE), 0, "{PROBE} left in {text}");
        for bytes in &raw {
            assert!(!has(bytes, &[127, 0, 0, 1]), "binary address left");
            let m = hickory_proto::op::Message::from_vec(bytes).expect("raw DNS still decodes");
            if m.answers.iter().any(|a| a.data.to_string() == "192.0.2.0") {
                marks += 1;
            }
        }
        assert!(text.contains("127.0.0.2"), "the servers' address stays");
        assert!(text.contains("127.0.0.10"), "a neighbour's address stays");
    }
    assert!(marks >= 1, "the whoami answer became 192.0.2.0");

    let echo = scrubbed.record(&format!("http://echo.test:{}/", site.port()));
    let requests = echo["test_keys"]["requests"].as_array().unwrap();
    let (landing, first) = (&requests[0], &requests[1]);
    let response = &landing["response"];
    assert_eq!(response["x_title"], "Your address is [scrubbed]");
    assert_eq!(response["headers"]["X-Client-Ip"], "[scrubbed]");
    assert_eq!(response["headers"]["Set-Cookie"], "seen=[scrubbed]; Path=/");
    assert_eq!(response["x_body_sha256"], "[scrubbed]");
    let body = response["body"].as_str().unwrap();
    assert!(
        body.contains("You connect from [scrubbed] (as IPv6: [scrubbed], [scrubbed]; in a link: /go?from=[scrubbed])"),
        "{body}"
    );
    assert_eq!(
        landing["request"]["url"],
        format!("http://echo.test:{}/landing?client=[scrubbed]", site.port())
    );
    let location = &first["response"]["headers"]["Location"];
    assert_eq!(
        *location,
        format!("http://echo.test:{}/landing?client=[scrubbed]", site.port())
    );
    let whoami = scrubbed.record(&format!("http://{WHOAMI}:{}/landing", site.port()));
    let answers: Vec<&Value> = whoami["test_keys"]["queries"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|q| q["answers"].as_array().unwrap())
        .map(|a| &a["ipv4"])
        .collect();
    assert!(answers.iter().any(|a| *a == "[scrubbed]"), "{answers:?}");
    assert!(answers.iter().any(|a| *a == "127.0.0.2"), "{answers:?}");
}
