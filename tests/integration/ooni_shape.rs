//! Golden tests of the record's shape against OONI's spec (ooni/spec, data-formats/df-*.md and
//! nettests/ts-017-web-connectivity.md) and what OONI's web_connectivity LTE writes: records
//! of a loopback scenario (a helper as control, a plain and a TLS site, an injected DNS
//! answer, a name that does not exist), checked key by key for presence and JSON type, then
//! the values OONI's code reads: raw_response a base64 string, the merged getaddrinfo lookup,
//! tags, engine names, x_control_request, test_helpers, annotations.
//!
//! The spec facts live here, each citing its file and section.

use std::collections::HashMap;
use std::time::Duration;

use base64::Engine as _;
use serde_json::Value;

use crate::harness::web::{page, serve};
use crate::harness::{run_args, vantage, Answer, Ca, FakeDns, Helper, Site, Tls, Workdir};

/// A JSON type as the spec names it.
#[derive(Clone, Copy, Debug)]
enum T {
    Str,
    Num,
    Bool,
    Obj,
    List,
    /// The type, or null ("nullable" in the spec).
    Or(&'static T),
}

const NULLABLE_STR: T = T::Or(&T::Str);
const NULLABLE_NUM: T = T::Or(&T::Num);
const NULLABLE_OBJ: T = T::Or(&T::Obj);
const NULLABLE_LIST: T = T::Or(&T::List);
const NULLABLE_BOOL: T = T::Or(&T::Bool);

fn is(v: &Value, t: T) -> bool {
    match t {
        T::Str => v.is_string(),
        T::Num => v.is_number(),
        T::Bool => v.is_boolean(),
        T::Obj => v.is_object(),
        T::List => v.is_array(),
        T::Or(t) => v.is_null() || is(v, *t),
    }
}

/// Every key of `keys` is in `v` with its type.
fn keys(what: &str, v: &Value, keys: &[(&str, T)]) {
    for (k, t) in keys {
        let got = v
            .get(*k)
            .unwrap_or_else(|| panic!("{what}: no key {k} in {v}"));
        assert!(is(got, *t), "{what}.{k}: {got} is not {t:?}");
    }
}

/// df-000-base.md, "Specification": the base keys (the optional ones vantage writes included).
const DF000: &[(&str, T)] = &[
    ("annotations", T::Obj),
    ("data_format_version", T::Str),
    ("extensions", T::Obj),
    ("input", NULLABLE_STR),
    ("measurement_start_time", T::Str),
    ("probe_asn", T::Str),
    ("probe_cc", T::Str),
    ("probe_ip", T::Str),
    ("report_id", T::Str),
    ("resolver_ip", T::Str),
    ("software_name", T::Str),
    ("software_version", T::Str),
    ("test_keys", T::Obj),
    ("test_name", T::Str),
    ("test_runtime", T::Num),
    ("test_start_time", T::Str),
    ("test_version", T::Str),
];

/// df-000-base.md, "Annotations": `architecture` is one of Go's names.
const ARCHITECTURES: &[&str] = &[
    "arm", "arm64", "386", "amd64", "ppc64", "ppc64le", "riscv64", "s390x", "loong64", "mips",
    "mips64",
];
/// df-000-base.md, "Annotations": `platform` values.
const PLATFORMS: &[&str] = &[
    "android",
    "freebsd",
    "ios",
    "lepidopter",
    "linux",
    "macos",
    "windows",
];

/// ts-017-web-connectivity.md, "Expected output" (and LTE's TestKeys for the x_ keys OONI's
/// analysis reads: x_control_request, x_dns_duplicate_responses).
const TS017: &[(&str, T)] = &[
    ("agent", T::Str),
    ("client_resolver", NULLABLE_STR),
    ("queries", NULLABLE_LIST),
    ("tcp_connect", NULLABLE_LIST),
    ("tls_handshakes", NULLABLE_LIST),
    ("requests", NULLABLE_LIST),
    ("control", NULLABLE_OBJ),
    ("control_failure", NULLABLE_STR),
    ("dns_experiment_failure", NULLABLE_STR),
    ("http_experiment_failure", NULLABLE_STR),
    ("dns_consistency", NULLABLE_STR),
    ("body_length_match", NULLABLE_BOOL),
    ("body_proportion", NULLABLE_NUM),
    ("status_code_match", NULLABLE_BOOL),
    ("headers_match", NULLABLE_BOOL),
    ("title_match", NULLABLE_BOOL),
    ("accessible", NULLABLE_BOOL),
    ("x_control_request", NULLABLE_OBJ),
    ("x_dns_duplicate_responses", NULLABLE_LIST),
];

/// df-002-dnst.md, "Query".
const DF002_QUERY: &[(&str, T)] = &[
    ("answers", NULLABLE_LIST),
    ("engine", T::Str),
    ("failure", NULLABLE_STR),
    ("hostname", T::Str),
    ("query_type", T::Str),
    ("raw_response", NULLABLE_STR),
    ("rcode", NULLABLE_NUM),
    ("resolver_address", T::Str),
    ("t", T::Num),
    ("t0", T::Num),
    ("tags", NULLABLE_LIST),
    ("transaction_id", T::Num),
];
/// df-002-dnst.md, "Answer" (A/AAAA/CNAME).
const DF002_ANSWER: &[(&str, T)] = &[("answer_type", T::Str), ("ttl", NULLABLE_NUM)];
/// df-002-dnst.md, "DNS resolver engines".
const ENGINES: &[&str] = &[
    "unknown",
    "system",
    "getaddrinfo",
    "golang_net_resolver",
    "go",
    "udp",
    "tcp",
    "dot",
    "doh",
];

/// df-005-tcpconnect.md, "TCPConnect" and "Status".
const DF005: &[(&str, T)] = &[
    ("ip", T::Str),
    ("port", T::Num),
    ("status", T::Obj),
    ("t", T::Num),
    ("t0", T::Num),
    ("tags", NULLABLE_LIST),
    ("transaction_id", T::Num),
];
const DF005_STATUS: &[(&str, T)] = &[("failure", NULLABLE_STR), ("success", T::Bool)];

/// df-006-tlshandshake.md, "TLSHandshake".
const DF006: &[(&str, T)] = &[
    ("network", T::Str),
    ("address", T::Str),
    ("cipher_suite", NULLABLE_STR),
    ("failure", NULLABLE_STR),
    ("negotiated_protocol", NULLABLE_STR),
    ("no_tls_verify", T::Bool),
    ("peer_certificates", NULLABLE_LIST),
    ("server_name", T::Str),
    ("t", T::Num),
    ("t0", T::Num),
    ("tags", NULLABLE_LIST),
    ("tls_version", NULLABLE_STR),
    ("transaction_id", T::Num),
];

/// df-001-httpt.md, "Request" / "Response" (the per-round-trip keys).
const DF001: &[(&str, T)] = &[
    ("failure", NULLABLE_STR),
    ("request", T::Obj),
    ("response", NULLABLE_OBJ),
    ("t", T::Num),
    ("t0", T::Num),
    ("tags", NULLABLE_LIST),
    ("transaction_id", T::Num),
];
const DF001_REQUEST: &[(&str, T)] = &[
    ("body", T::Or(&T::Str)),
    ("body_is_truncated", T::Bool),
    ("headers", T::Obj),
    ("headers_list", T::List),
    ("method", T::Str),
    ("url", T::Str),
];
const DF001_RESPONSE: &[(&str, T)] = &[
    ("body_is_truncated", T::Bool),
    ("code", T::Num),
    ("headers", T::Obj),
    ("headers_list", T::List),
];

/// df-001-httpt.md, "MaybeBinaryData": a string, or `{"format": "base64", "data": ...}`.
fn maybe_binary(what: &str, v: &Value) {
    if v.is_string() || v.is_null() {
        return;
    }
    assert_eq!(v["format"], "base64", "{what}: {v}");
    let data = v["data"].as_str().unwrap_or_else(|| panic!("{what}: {v}"));
    base64::engine::general_purpose::STANDARD
        .decode(data)
        .unwrap();
}

fn list<'v>(v: &'v Value, key: &str) -> &'v [Value] {
    v[key].as_array().map(Vec::as_slice).unwrap_or(&[])
}

fn tags(v: &Value) -> Vec<&str> {
    list(v, "tags").iter().filter_map(Value::as_str).collect()
}

/// Every part of one record against the df-* shapes.
fn check_shape(r: &Value) {
    let input = r["input"].as_str().unwrap_or("?").to_string();
    keys(&input, r, DF000);
    let a = &r["annotations"];
    assert!(a.as_object().unwrap().values().all(Value::is_string), "{a}");
    assert!(
        ARCHITECTURES.contains(&a["architecture"].as_str().unwrap()),
        "{a}"
    );
    assert!(PLATFORMS.contains(&a["platform"].as_str().unwrap()), "{a}");
    assert_eq!(a["engine_name"], "vantage");
    assert_eq!(a["engine_version"], r["software_version"], "{a}");
    // vantage's own: the ranges its analysis treated as routable (--testbed-net).
    assert_eq!(a["testbed_nets"], "127.0.0.0/8", "{a}");
    let tk = &r["test_keys"];
    keys(&input, tk, TS017);
    let b = &tk["blocking"];
    assert!(
        b.is_null()
            || *b == Value::Bool(false)
            || ["dns", "tcp_ip", "http-failure", "http-diff"].contains(&b.as_str().unwrap_or("?")),
        "ts-017 blocking: {b}"
    );
    for q in list(tk, "queries")
        .iter()
        .chain(list(tk, "x_dns_duplicate_responses"))
    {
        keys("queries[]", q, DF002_QUERY);
        assert!(ENGINES.contains(&q["engine"].as_str().unwrap()), "{q}");
        if let Some(raw) = q["raw_response"].as_str() {
            base64::engine::general_purpose::STANDARD
                .decode(raw)
                .expect("df-002: a base64 string");
        }
        for ans in list(q, "answers") {
            keys("answers[]", ans, DF002_ANSWER);
        }
    }
    for t in list(tk, "tcp_connect") {
        keys("tcp_connect[]", t, DF005);
        keys("tcp_connect[].status", &t["status"], DF005_STATUS);
    }
    for h in list(tk, "tls_handshakes") {
        keys("tls_handshakes[]", h, DF006);
        for c in list(h, "peer_certificates") {
            assert_eq!(
                c["format"], "base64",
                "df-006: peer_certificates are BinaryData"
            );
            maybe_binary("peer_certificates[]", c);
        }
    }
    for tx in list(tk, "requests") {
        keys("requests[]", tx, DF001);
        keys("requests[].request", &tx["request"], DF001_REQUEST);
        if !tx["response"].is_null() {
            keys("requests[].response", &tx["response"], DF001_RESPONSE);
            maybe_binary("response.body", &tx["response"]["body"]);
        }
    }
}

/// The lookup entries OONI's classic view keeps (df-002 "DNS resolver engines": getaddrinfo
/// lookups are one `ANY` query with the A and AAAA answers).
fn classic_lookups(tk: &Value) -> Vec<&Value> {
    list(tk, "queries")
        .iter()
        .filter(|q| q["engine"] == "getaddrinfo")
        .collect()
}

struct World {
    ca: Ca,
    dns: FakeDns,
    ok: String,
    secure: String,
    injected: String,
    nx: String,
    work: Workdir,
}

async fn world() -> World {
    let ca = Ca::new("Vantage Test CA");
    let ok = Site::new("ok.test", Tls::Plain, page("Shape OK", 2000));
    let secure = Site::new("secure.test", Tls::Valid, page("Shape Secure", 2000));
    let injected = Site::new("injected.test", Tls::Plain, page("Shape Injected", 2000));
    let nx = Site::new("nx.test", Tls::Plain, page("never", 10));
    let a = serve(ok.clone(), &ca, &ca).await;
    let b = serve(secure.clone(), &ca, &ca).await;
    let c = serve(injected.clone(), &ca, &ca).await;
    let lo = vec!["127.0.0.1".parse().unwrap()];
    let dns = FakeDns::start(HashMap::from([
        ("ok.test".to_string(), Answer::Addrs(lo.clone())),
        ("secure.test".to_string(), Answer::Addrs(lo.clone())),
        (
            "injected.test".to_string(),
            Answer::Race {
                first: vec!["127.0.0.66".parse().unwrap()],
                then: lo,
                delay: Duration::from_millis(50),
            },
        ),
        ("nx.test".to_string(), Answer::NxDomain),
    ]))
    .await;
    World {
        ok: ok.url(a),
        secure: secure.url(b),
        injected: injected.url(c),
        nx: nx.url(a),
        ca,
        dns,
        work: Workdir::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_have_the_shape_of_oonis_spec() {
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
    let list_file = w.work.write(
        "list.txt",
        &format!("{}\n{}\n{}\n{}\n", w.ok, w.secure, w.injected, w.nx),
    );
    let args = run_args(
        &w.work,
        &list_file,
        &w.dns,
        &ca_file,
        &["--control", &helper.url(), "--testbed-net", "127.0.0.0/8"],
    );
    let out = vantage(&args, &w.work.out()).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.records.len(), 4);
    for r in &out.records {
        check_shape(r);
        // df-000 "test_helpers", in LTE's shape: the control used, never the probe's address.
        let th = &r["test_helpers"]["backend"];
        assert_eq!(th["address"], helper.url(), "{r}");
        assert_eq!(th["type"], "http");
        // LTE's x_control_request: the THRequest sent (model.THRequest).
        let req = &r["test_keys"]["x_control_request"];
        assert_eq!(req["http_request"], r["input"]);
        assert!(
            req["http_request_headers"]["User-Agent"][0].is_string(),
            "{req}"
        );
        assert!(req["tcp_connect"].is_array(), "{req}");
    }

    // The merged lookup: one getaddrinfo ANY entry per lookup, tagged classic and depth=0,
    // beside the per-datagram udp entries (tagged depth=0 only).
    let ok = out.record(&w.ok)["test_keys"].clone();
    let merged = classic_lookups(&ok);
    assert_eq!(merged.len(), 1, "{ok}");
    let m = merged[0];
    assert_eq!(
        (m["query_type"].as_str(), m["failure"].is_null()),
        (Some("ANY"), true)
    );
    assert_eq!(tags(m), ["classic", "depth=0"]);
    assert_eq!(m["raw_response"], Value::Null, "getaddrinfo shows no bytes");
    assert_eq!(m["answers"][0]["ipv4"], "127.0.0.1");
    assert_eq!(m["x_engine"], "udp");
    let named: Vec<&str> = list(m, "x_merged")
        .iter()
        .map(|e| e["query_type"].as_str().unwrap())
        .collect();
    assert_eq!(named, ["A", "AAAA"]);
    let udp: Vec<&Value> = list(&ok, "queries")
        .iter()
        .filter(|q| q["engine"] == "udp")
        .collect();
    assert_eq!(udp.len(), 2, "{ok}");
    for q in &udp {
        assert_eq!(tags(q), ["depth=0"]);
        assert!(
            q["raw_response"].is_string(),
            "df-002: raw_response is a base64 string: {q}"
        );
    }
    // Endpoints carry LTE's tags (webconnectivitylte/tags.go: generateTagsForEndpoints).
    for key in ["tcp_connect", "requests"] {
        for e in list(&ok, key) {
            assert_eq!(
                tags(e),
                ["classic", "tcptls_experiment", "depth=0", "fetch_body=true"],
                "{key}"
            );
        }
    }
    let secure = out.record(&w.secure)["test_keys"].clone();
    for h in list(&secure, "tls_handshakes") {
        assert_eq!(
            tags(h),
            ["classic", "tcptls_experiment", "depth=0", "fetch_body=true"]
        );
    }
    assert_eq!(
        (&secure["blocking"], &secure["accessible"]),
        (&Value::Bool(false), &Value::Bool(true))
    );

    // An injected answer: the merged lookup holds the answer used (the first), the real one
    // behind it is in LTE's x_dns_duplicate_responses.
    let inj = out.record(&w.injected)["test_keys"].clone();
    let m = classic_lookups(&inj)[0];
    let a: Vec<&str> = list(m, "answers")
        .iter()
        .filter_map(|a| a["ipv4"].as_str())
        .collect();
    assert_eq!(a, ["127.0.0.66"]);
    let dups = list(&inj, "x_dns_duplicate_responses");
    assert!(
        dups.iter()
            .any(|d| d["answers"][0]["ipv4"] == "127.0.0.1" && d["x_response_index"] == 1),
        "{inj}"
    );

    // NXDOMAIN: getaddrinfo's failure, and OONI's rule 5.4 copies it to http_experiment_failure.
    let nx = out.record(&w.nx)["test_keys"].clone();
    let m = classic_lookups(&nx)[0];
    assert_eq!(m["failure"], "dns_nxdomain_error");
    assert_eq!(nx["dns_experiment_failure"], "dns_nxdomain_error");
    assert_eq!(nx["http_experiment_failure"], "dns_nxdomain_error");
    assert_eq!(list(&nx, "x_dns_duplicate_responses").len(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_without_a_control_says_so_in_oonis_keys() {
    let w = world().await;
    let ca_file = w.work.write("ca.pem", &w.ca.pem);
    let list_file = w.work.write("list.txt", &format!("{}\n{}\n", w.ok, w.nx));
    let args = run_args(
        &w.work,
        &list_file,
        &w.dns,
        &ca_file,
        &["--testbed-net", "127.0.0.0/8"],
    );
    let out = vantage(&args, &w.work.out()).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    for r in &out.records {
        check_shape(r);
        assert!(
            r.get("test_helpers").is_none(),
            "no control, no test helper: {r}"
        );
        assert_eq!(r["test_keys"]["x_control_request"], Value::Null);
    }
    // A failed lookup with no control: OONI's keys as OONI's rule 5.1.1 has them ("sic":
    // false/true); vantage's own verdict says nothing about the site.
    let nx = &out.record(&w.nx)["test_keys"];
    assert_eq!(
        (&nx["blocking"], &nx["accessible"]),
        (&Value::Bool(false), &Value::Bool(true))
    );
    assert_eq!(nx["x_verdict"]["status"], "unknown");
}
