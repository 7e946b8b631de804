//! Table tests of `vantage show`: a record read step by step, cut and escaped for a terminal,
//! found by URL or uid in files and directories; random records never panic it.

use serde_json::{json, Value};

use super::format::{measurement, row, table};
use super::{list, one};

/// A certificate for `secure.test`, valid through 2027, as a record's `peer_certificates`.
fn peer_certificate() -> Value {
    let mut params = rcgen::CertificateParams::new(vec!["secure.test".to_string()]).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "secure.test");
    params.not_before = rcgen::date_time_ymd(2026, 1, 2);
    params.not_after = rcgen::date_time_ymd(2027, 3, 4);
    let key = rcgen::KeyPair::generate().unwrap();
    let der = params.self_signed(&key).unwrap().der().to_vec();
    json!({"format": "base64", "data": crate::observation::base64_string(&der)})
}

fn record(peer_certificates: Value, x_chain: Value) -> Value {
    let query = |engine: &str, tags: Value, t: f64, source: &str, ip: &str| {
        json!({
            "engine": engine, "resolver_address": "127.0.0.1:53", "hostname": "secure.test",
            "query_type": "A", "failure": null, "t": t, "tags": tags,
            "x_source_address": source,
            "answers": [{"answer_type": "A", "ipv4": ip, "ttl": 60}],
        })
    };
    let depth0 = json!(["depth=0"]);
    let mut late = query("udp", depth0.clone(), 0.0309, "127.0.0.1:53", "127.0.0.9");
    late["x_response_index"] = json!(1);
    let mut stray = query("udp", depth0.clone(), 0.0401, "127.0.0.1:53", "127.0.0.77");
    let mut first = query("udp", depth0, 0.0021, "127.0.0.1:53", "127.0.0.66");
    first["answers"]
        .as_array_mut()
        .unwrap()
        .push(json!({"answer_type": "A", "ipv4": "127.0.0.67", "ttl": 60}));
    stray["x_id_match"] = json!(false);
    json!({
        "measurement_uid": "20261201_ZZ_webconnectivity_abc",
        "input": "https://Secure.test/",
        "x_input_normalized": "https://secure.test/",
        "measurement_start_time": "2026-12-01 16:42:11",
        "test_runtime": 1.25,
        "probe_cc": "ZZ", "probe_asn": "AS0", "resolver_ip": "127.0.0.1",
        "test_helpers": {"backend": {"address": "http://127.0.0.1:9/", "type": "http"}},
        "test_keys": {
            "queries": [
                query("getaddrinfo", json!(["classic"]), 0.003, "127.0.0.1:53", "127.0.0.9"),
                first,
                {
                    "engine": "udp", "resolver_address": "127.0.0.1:53",
                    "hostname": "secure.test", "query_type": "AAAA",
                    "failure": "dns_no_answer", "answers": [], "t": 0.0025, "tags": [],
                    "x_source_address": null,
                },
                late.clone(),
                stray,
            ],
            // A copy of the late entry, as records have it: shown once.
            "x_dns_duplicate_responses": [late],
            "tcp_connect": [
                {"ip": "127.0.0.66", "port": 443, "t": 0.0122,
                 "status": {"success": false, "failure": "connection_refused"}, "tags": ["depth=0"]},
                {"ip": "::1", "port": 443, "t": 0.0131, "tags": ["depth=1"],
                 "status": {"success": true, "failure": null}},
            ],
            "tls_handshakes": [{
                "address": "[::1]:443", "server_name": "secure.test", "t": 0.02,
                "tls_version": "TLSv1.3", "negotiated_protocol": "", "failure": null,
                "tags": ["depth=1"],
                "x_certificate_valid": true,
                "peer_certificates": peer_certificates, "x_chain": x_chain,
            }],
            "requests": [
                {"t": 0.05, "failure": null, "request": {"url": "https://secure.test/home"},
                 "response": {"code": 200, "x_title": "Home page", "x_body_length": 3000,
                              "headers": {}}},
                {"t": 0.03, "failure": null, "request": {"url": "https://secure.test/"},
                 "response": {"code": 301, "x_title": null, "x_body_length": 0,
                              "headers": {"Location": "/home"}}},
            ],
            "control": {
                "dns": {"addrs": ["127.0.0.9", "::1"], "failure": null},
                "tcp_connect": {
                    "127.0.0.9:443": {"status": true, "failure": null},
                    "[::1]:443": {"status": false, "failure": "connection_refused"},
                },
                "tls_handshake": {"127.0.0.9:443": {"server_name": "secure.test", "status": true,
                                                     "failure": null, "x_certificate_valid": true}},
                "http_request": {"status_code": 200, "title": "Home page", "body_length": 3000,
                                 "failure": null, "headers": {}},
            },
            "control_failure": null,
            "blocking": "dns", "accessible": false, "dns_consistency": "inconsistent",
            "x_verdict": {"status": "blocked", "methods": ["dns.injection"],
                          "reasons": ["Two answers to one query.", "The late one is right."]},
        },
    })
}

fn lines_with(lines: &[String], needle: &str) -> Vec<String> {
    lines
        .iter()
        .filter(|l| l.contains(needle))
        .cloned()
        .collect()
}

#[test]
fn a_record_reads_step_by_step() {
    let shown = measurement(&record(json!([peer_certificate()]), json!([])));
    let text = shown.join("\n");
    let at = |s: &str| {
        shown
            .iter()
            .position(|l| l.trim() == s)
            .unwrap_or_else(|| panic!("no {s:?} in\n{text}"))
    };
    // Sections in the order the measurement went, the verdict last.
    let order = [
        at("DNS"),
        at("TCP connect"),
        at("TLS handshake"),
        at("HTTP"),
        at("Control"),
        at("verdict: blocked (dns.injection)"),
    ];
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{text}");
    for (needle, want) in [
        (
            "measurement",
            "measurement  20261201_ZZ_webconnectivity_abc",
        ),
        ("normalized", "normalized   https://secure.test/"),
        (
            "started",
            "started      2026-12-01 16:42:11 UTC, ran 1.2500 s",
        ),
        ("control", "control      http://127.0.0.1:9/ answered"),
        ("probe", "probe        ZZ AS0, resolver 127.0.0.1:53"),
        // Each DNS answer with its arrival time, source and redirect depth, in time order,
        // one a line; the late one marked; the getaddrinfo summary left out.
        (
            "engine  type",
            "  depth  t       from          engine  type  name         answer",
        ),
        (
            "0.0021",
            "  0      0.0021  127.0.0.1:53  udp     A     secure.test  127.0.0.66",
        ),
        ("127.0.0.67", "                                                          127.0.0.67"),
        (
            "0.0025",
            "  -      0.0025  127.0.0.1:53  udp     AAAA  secure.test  dns_no_answer",
        ),
        (
            "0.0309",
            "  0      0.0309  127.0.0.1:53  udp     A     secure.test  127.0.0.9      late",
        ),
        (
            "0.0401",
            "  0      0.0401  127.0.0.1:53  udp     A     secure.test  127.0.0.77     another query's id",
        ),
        ("0.0122", "  0      0.0122  127.0.0.66:443  connection_refused"),
        ("0.0131", "  1      0.0131  [::1]:443       connected"),
        ("SNI  ", "  depth  t       address    SNI          result"),
        ("TLSv1.3", "  1      0.0200  [::1]:443  secure.test  TLSv1.3 no ALPN"),
        ("names", "      names    secure.test"),
        (
            "valid  ",
            "      valid    2026-01-02T00:00:00Z to 2027-03-04T00:00:00Z",
        ),
        // Hops in the order they happened.
        (
            "-> /home",
            "  0      0.0300  https://secure.test/      301     -            0 bytes     -> /home",
        ),
        (
            "200     \"Home",
            "  1      0.0500  https://secure.test/home  200     \"Home page\"  3000 bytes",
        ),
        // What the control saw, then OONI's keys, before the verdict.
        ("DNS  ", "  DNS      127.0.0.9"),
        ("connect  1", "  connect  127.0.0.9:443  connected"),
        ("connect  [", "  connect  [::1]:443      connection_refused"),
        (
            "TLS  ",
            "  TLS      127.0.0.9:443  SNI secure.test     ok, certificate valid for the name",
        ),
        (
            "HTTP  ",
            "  HTTP     200            \"Home page\"         3000 bytes",
        ),
        (
            "OONI",
            "OONI: blocking=dns, accessible=false, dns_consistency=inconsistent",
        ),
        ("Two answers", "  - Two answers to one query."),
    ] {
        assert_eq!(lines_with(&shown, needle), [want], "{needle:?} in\n{text}");
    }
    assert!(
        lines_with(&shown, "secure.test  127.0.0.9 ").len() == 1,
        "{text}"
    );
    assert_eq!(
        row(&record(json!([]), json!([]))),
        [
            "2026-12-01 16:42:11",
            "20261201_ZZ_webconnectivity_abc",
            "blocked",
            "https://Secure.test/"
        ]
    );
}

#[test]
fn without_the_chain_the_records_summary_of_it_is_shown() {
    let chain = json!([{
        "subject": "CN=other.test", "issuer": "CN=Interception CA", "san": ["other.test"],
        "not_before": "2026-01-01T00:00:00Z", "not_after": "2026-02-01T00:00:00Z",
        "serial": "01", "sha256": "00",
    }]);
    let shown = measurement(&record(json!([]), chain));
    let text = shown.join("\n");
    assert_eq!(
        lines_with(&shown, "subject"),
        ["      subject  CN=other.test"]
    );
    assert_eq!(
        lines_with(&shown, "issuer"),
        ["      issuer   CN=Interception CA"]
    );
    assert!(
        text.contains("2026-01-01T00:00:00Z to 2026-02-01T00:00:00Z"),
        "{text}"
    );
    let undecodable = measurement(&record(
        json!([{"format": "base64", "data": "AAAA"}]),
        json!([]),
    ));
    assert!(undecodable.join("\n").contains("undecodable certificate"));
}

#[test]
fn malformed_records_are_shown_with_dashes_never_a_panic() {
    let cases = [
        json!(null),
        json!(7),
        json!({"test_keys": "x"}),
        json!({"test_keys": {"queries": [1, null, {"answers": "x", "t": "soon"}],
                             "tcp_connect": {"a": 1}, "requests": [[]],
                             "tls_handshakes": [{"peer_certificates": [{"format": "base64",
                                                 "data": "%%%"}], "x_chain": [7]}],
                             "x_verdict": {"methods": "dns", "reasons": [null, 3]}}}),
    ];
    for case in cases {
        let shown = measurement(&case);
        assert!(
            shown.iter().any(|l| l.starts_with("verdict: -")),
            "{case}: {shown:?}"
        );
        assert_eq!(row(&case)[1], "-");
    }
}

#[test]
fn tables_align_columns_and_trim() {
    let rows = vec![
        vec!["a".to_string(), "long value".into(), "".into()],
        vec!["bbb".to_string(), "x".into(), "z".into()],
    ];
    assert_eq!(
        table(&["h", "value", ""], &rows),
        ["h    value", "a    long value", "bbb  x           z"]
    );
    assert!(table(&["h"], &[]).is_empty());
}

#[test]
fn a_results_directory_is_searched_and_bad_lines_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let day = dir.path().join("2026-12-01");
    std::fs::create_dir_all(&day).unwrap();
    std::fs::create_dir_all(dir.path().join(".state")).unwrap();
    std::fs::write(dir.path().join(".state/x.jsonl"), "not read\n").unwrap();
    let mut older = record(json!([]), json!([]));
    older["measurement_uid"] = json!("older");
    older["test_keys"]["x_verdict"]["status"] = json!("accessible");
    let newer = record(json!([]), json!([]));
    let file = day.join("run.jsonl");
    std::fs::write(&file, format!("{older}\n{{\"torn\n\n{{}}\n{newer}\n")).unwrap();
    assert_eq!(
        list(dir.path()).unwrap(),
        [
            "started              measurement_uid                  status      input",
            "2026-12-01 16:42:11  older                            accessible  https://Secure.test/",
            "2026-12-01 16:42:11  20261201_ZZ_webconnectivity_abc  blocked     https://Secure.test/",
        ]
    );
    assert_eq!(list(&file).unwrap().len(), 3, "a file works too");
    // By URL as listed, or as normalized: the latest, with the earlier named.
    for which in ["https://Secure.test/", "secure.test"] {
        let shown = one(dir.path(), which).unwrap();
        assert!(
            shown[0].ends_with("20261201_ZZ_webconnectivity_abc"),
            "{shown:?}"
        );
        let tail = &shown[shown.len() - 2..];
        assert_eq!(
            tail,
            [
                "1 earlier measurement(s) of it (show one by its uid):",
                "  2026-12-01 16:42:11  older  accessible"
            ]
        );
    }
    let shown = one(dir.path(), "older").unwrap();
    assert!(shown
        .iter()
        .any(|l| l == "verdict: accessible (dns.injection)"));
    let missing = one(dir.path(), "nope").unwrap_err().to_string();
    assert!(missing.contains("no measurement of nope"), "{missing}");
    let empty = tempfile::tempdir().unwrap();
    assert!(list(empty.path())
        .unwrap_err()
        .to_string()
        .contains("no .jsonl file"));
    let junk = empty.path().join("passwd.jsonl");
    std::fs::write(&junk, "root:x:0:0:root:/root:/bin/bash\n{}\n").unwrap();
    assert_eq!(
        list(&junk).unwrap_err().to_string(),
        format!("{}: no measurement records", junk.display())
    );
}

/// A record of `input` started at `time`, its uid `uid`.
fn at(uid: &str, time: &str) -> Value {
    let mut r = record(json!([]), json!([]));
    r["measurement_uid"] = json!(uid);
    r["measurement_start_time"] = json!(time);
    r
}

#[test]
fn the_listing_is_in_start_order_and_earlier_measurements_one_a_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("r.jsonl");
    let records = [
        at("b", "2026-12-01 10:00:05"),
        at("a", "2026-12-01 10:00:01"),
        at("c", "2026-12-01 10:00:05"),
    ];
    let text: String = records.iter().map(|r| format!("{r}\n")).collect();
    std::fs::write(&file, text).unwrap();
    let uids: Vec<String> = list(&file).unwrap()[1..]
        .iter()
        .map(|l| l.split("  ").nth(1).unwrap().to_string())
        .collect();
    assert_eq!(uids, ["a", "b", "c"], "start time, then file order");
    // The latest by start time, not by file order; of two at once, the later in the file.
    let shown = one(&file, "secure.test").unwrap();
    assert_eq!(shown[0], "measurement  c");
    assert_eq!(
        shown[shown.len() - 3..],
        [
            "2 earlier measurement(s) of it (show one by its uid):",
            "  2026-12-01 10:00:05  b  blocked",
            "  2026-12-01 10:00:01  a  blocked",
        ]
    );
    // At most ten named, the latest first.
    let many: String = (0..13)
        .map(|i| {
            format!(
                "{}\n",
                at(&format!("m{i:02}"), &format!("2026-12-01 10:00:{i:02}"))
            )
        })
        .collect();
    std::fs::write(&file, many).unwrap();
    let shown = one(&file, "secure.test").unwrap();
    assert_eq!(shown[0], "measurement  m12");
    let from = shown
        .iter()
        .position(|l| l.starts_with("12 earlier"))
        .unwrap();
    let tail = &shown[from + 1..];
    assert_eq!(tail.len(), 11, "{tail:?}");
    assert!(
        tail[0].ends_with("m11  blocked") && tail[9].contains("m02"),
        "{tail:?}"
    );
    assert_eq!(tail[10], "  … and 2 more");
}

#[test]
fn a_huge_cell_is_cut_with_its_length_never_a_panic() {
    let mut r = record(json!([]), json!([]));
    let location = format!("http://127.0.0.1/{}", "a".repeat(70_000));
    r["test_keys"]["requests"][1]["response"]["headers"]["Location"] = json!(location);
    r["input"] = json!("x".repeat(65_545));
    let shown = measurement(&r);
    let hop = lines_with(&shown, "-> http://127.0.0.1/aaa");
    assert_eq!(hop.len(), 1, "{shown:?}");
    assert!(hop[0].ends_with("… (70020 bytes)"), "{}", hop[0]);
    assert!(shown.iter().all(|l| l.len() < 1000), "every line bounded");
    let input = lines_with(&shown, "input ");
    assert!(input[0].ends_with("… (65545 bytes)"), "{input:?}");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("r.jsonl");
    std::fs::write(&file, format!("{r}\n")).unwrap();
    let listed = list(&file).unwrap();
    assert!(listed[1].ends_with("… (65545 bytes)"), "{listed:?}");
}

#[test]
fn control_characters_and_bidi_overrides_are_escaped_everywhere() {
    let mut r = record(json!([]), json!([]));
    let evil = "Blocked\u{1b}[31m red\u{1b}]0;owned\u{7}\u{202e}txt.exe\u{9b}\u{7f}\u{2066}";
    r["test_keys"]["x_verdict"]["reasons"] = json!([format!("The title is {evil}.")]);
    r["test_keys"]["requests"][0]["response"]["x_title"] = json!(evil);
    r["test_keys"]["requests"][0]["response"]["headers"]["Location"] = json!(evil);
    r["probe_cc"] = json!(evil);
    r["input"] = json!(evil);
    let shown = measurement(&r);
    let text = shown.join("\n");
    let bad = |c: char| {
        c.is_control()
            || ('\u{202a}'..='\u{202e}').contains(&c)
            || ('\u{2066}'..='\u{2069}').contains(&c)
    };
    assert!(!text.chars().any(|c| c != '\n' && bad(c)), "{text:?}");
    let escaped = r"Blocked\u{1b}[31m red\u{1b}]0;owned\u{7}\u{202e}txt.exe\u{9b}\u{7f}\u{2066}";
    assert!(
        text.contains(&format!("  - The title is {escaped}.")),
        "{text}"
    );
    assert!(lines_with(&shown, escaped).len() >= 4, "{text}");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("r.jsonl");
    std::fs::write(&file, format!("{r}\n")).unwrap();
    let listed = list(&file).unwrap().join("\n");
    assert!(!listed.chars().any(|c| c != '\n' && bad(c)), "{listed:?}");
    assert!(listed.contains(escaped), "{listed}");
}

/// Any JSON: strings with control characters, bidi overrides and, now and then, 70,000 chars.
fn any_json() -> impl proptest::strategy::Strategy<Value = Value> {
    use proptest::prelude::*;
    let text = prop_oneof![
        "[a-z\u{1b}\u{7}\u{9b}\u{202e}\u{2067}\n\t -]{0,12}",
        (0usize..3).prop_map(|n| "é".repeat(35_000 * n)),
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        text.prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 40, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
            proptest::collection::vec((r"[a-z_]{1,8}", inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]
    /// Any value anywhere a record has one: shown, bounded and escaped, never a panic.
    #[test]
    fn any_record_is_shown_without_panic(value in any_json(), at in 0usize..12) {
        let paths: [&[&str]; 12] = [
            &[], &["input"], &["test_keys"], &["test_keys", "queries"],
            &["test_keys", "tcp_connect"], &["test_keys", "tls_handshakes"],
            &["test_keys", "requests"], &["test_keys", "control"],
            &["test_keys", "x_verdict"], &["test_keys", "x_verdict", "reasons"],
            &["measurement_start_time"], &["test_keys", "blocking"],
        ];
        let mut r = record(json!([]), json!([]));
        let mut slot = &mut r;
        for key in paths[at] {
            slot = &mut slot[*key];
        }
        *slot = value;
        for l in measurement(&r).iter().chain(&row(&r).to_vec()) {
            proptest::prop_assert!(l.len() < 20_000, "{} bytes", l.len());
            proptest::prop_assert!(!l.chars().any(|c| c.is_control() || c == '\u{202e}'), "{l:?}");
        }
    }
}

#[test]
fn the_control_section_says_why_the_control_did_not_answer() {
    let section = |r: &Value| {
        let shown = measurement(r);
        let from = shown.iter().position(|l| l == "Control").unwrap();
        let to = (shown[from..].iter().position(|l| l.is_empty())).unwrap();
        (shown[from + 1..from + to].to_vec(), shown)
    };
    let mut r = record(json!([]), json!([]));
    r["test_keys"]["control_failure"] = json!("http_request_failed: control answered 401");
    r["test_keys"]["control"] = json!(null);
    r["test_keys"]["blocking"] = json!(null);
    let (lines, shown) = section(&r);
    assert_eq!(
        lines,
        ["  failed: http_request_failed: control answered 401"]
    );
    assert!(shown
        .contains(&"OONI: blocking=null, accessible=false, dns_consistency=inconsistent".into()));
    r["test_keys"]["control_failure"] = json!(null);
    assert_eq!(section(&r).0, ["  (no answer recorded)"]);
    let no_helper = json!({"measurement_uid": "u", "test_keys": {}});
    assert_eq!(section(&no_helper).0, ["  (none asked)"]);
    // A refusal by the helper's policy; OONI's -1 for what it does not have.
    r["test_keys"]["control"] = json!({
        "dns": {"addrs": [], "failure": "dns_name_error"},
        "http_request": {"status_code": -1, "body_length": -1, "title": "",
                         "failure": "dns_lookup_error"},
        "x_refused": "127.0.0.1 is a private address",
    });
    assert_eq!(
        section(&r).0,
        [
            "  DNS      dns_name_error",
            "  HTTP     dns_lookup_error                -  -",
            "  refused  127.0.0.1 is a private address",
        ]
    );
}
