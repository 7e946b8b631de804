//! Details: reasons, HTTP-diff arithmetic, throttling thresholds, serialization, names.

use super::*;

#[test]
fn reasons_name_the_evidence() {
    let r = row(
        "race",
        "http://x.test/",
        obs()
            .datagram(datagram("x.test", "A", 7, 0, 0.001, &["127.0.0.9"]))
            .datagram(datagram("x.test", "A", 7, 1, 0.101, &["127.0.0.1"]))
            .datagram(datagram("x.test", "AAAA", 8, 0, 0.002, &[])),
        None,
    )
    .testbed("127.0.0.0/8");
    let v = r.run().x_verdict;
    assert_eq!(
        v.reasons[0],
        "The A query for x.test got 2 answers that disagree: 127.0.0.9 at 0.001 s; 127.0.0.1 at 0.101 s."
    );

    let r = row(
        "bogon",
        HTTP,
        obs().resolve(HOST, 0, &["192.168.1.1"]),
        Some(site_ctl()),
    );
    let v = r.run().x_verdict;
    assert!(
        v.reasons
            .iter()
            .any(|s| s.contains("192.168.1.1, a private address")),
        "{v:?}"
    );

    let r = row(
        "timeout",
        HTTPS,
        obs()
            .resolve(HOST, 0, &[SITE])
            .connect("93.184.215.14:443", 0, Some(Failure::Timeout)),
        Some(site_ctl()),
    );
    let v = r.run().x_verdict;
    assert_eq!(
        v.reasons,
        ["TCP connect to 93.184.215.14:443 failed with generic_timeout_error after 10.000 s, where the control connected."]
    );

    let v = row(
        "nx",
        HTTP,
        obs().dns_fails(HOST, 0, Failure::DnsNxdomain),
        Some(site_ctl()),
    )
    .run()
    .x_verdict;
    assert_eq!(
        v.reasons,
        [format!("The lookup of {HOST} at {RESOLVER} failed with dns_nxdomain_error while the control resolves it to {SITE}.")]
    );

    let v = row("cfail", HTTP, http_ok(), None)
        .control_failed("generic_timeout_error")
        .run()
        .x_verdict;
    assert!(
        v.reasons[0].contains("The control could not answer (generic_timeout_error)"),
        "{v:?}"
    );

    let v = row("none", HTTP, http_ok(), None).run().x_verdict;
    assert!(v.reasons[0].contains("No control was asked"), "{v:?}");
}

#[test]
fn http_diff_follows_oonis_rules() {
    let c = |code: i64, len: i64, title: &str, headers: &[(&str, &str)]| ControlHttp {
        body_length: len,
        title: title.into(),
        status_code: code,
        headers: headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..ControlHttp::default()
    };
    let r = |code: u16, len: u64, title: &str, headers: &[(&str, &str)]| {
        let mut x = plain(code, title, "");
        x.length = Some(len);
        x.headers = headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        x.response()
    };
    // Body proportion strictly above 0.7.
    let d = http_diff::compare(&r(200, 700, "", &[]), &c(200, 1000, "", &[]));
    assert_eq!(d.body_proportion, Some(0.7));
    assert_eq!(d.body_length_match, Some(false));
    let d = http_diff::compare(&r(200, 701, "", &[]), &c(200, 1000, "", &[]));
    assert_eq!(d.body_length_match, Some(true));
    assert!(!d.is_diff());
    // Status codes: null when they differ and the control's is not 2xx.
    let d = http_diff::compare(&r(200, 10, "", &[]), &c(404, 10, "", &[]));
    assert_eq!(d.status_code_match, None);
    assert!(d.is_diff());
    let d = http_diff::compare(&r(403, 10, "", &[]), &c(200, 10, "", &[]));
    assert_eq!(d.status_code_match, Some(false));
    // Headers: only uncommon names (and not HTTP/1.1 framing) count.
    let d = http_diff::compare(
        &r(
            200,
            1,
            "",
            &[
                ("Server", "x"),
                ("Content-Length", "1"),
                ("Connection", "close"),
            ],
        ),
        &c(
            200,
            1000,
            "",
            &[
                ("server", "y"),
                ("content-length", "1000"),
                ("connection", "close"),
            ],
        ),
    );
    assert_eq!(d.for_verdict().headers_match, Some(false));
    let d = http_diff::compare(
        &r(200, 1, "", &[("X-Cache", "HIT")]),
        &c(200, 1000, "", &[("x-cache", "MISS")]),
    );
    assert_eq!(d.headers_match, Some(true));
    // Titles: words of 5 bytes or more, case-insensitive, order-insensitive.
    let d = http_diff::compare(
        &r(200, 1, "Hello Big World", &[]),
        &c(200, 1000, "world HELLO of", &[]),
    );
    assert_eq!(d.title_match, Some(true));
    let d = http_diff::compare(&r(200, 1, "Hello World", &[]), &c(200, 1000, "Hello", &[]));
    assert_eq!(d.title_match, Some(false));
    let d = http_diff::compare(&r(200, 1, "a b", &[]), &c(200, 1000, "", &[]));
    assert_eq!(d.title_match, Some(true), "two empty word sets match");
    // ...as OONI has it; the verdict takes a title without words as no title evidence.
    assert_eq!(d.for_verdict().title_match, None);
    let d = http_diff::compare(&r(200, 1, "Hello World", &[]), &c(200, 1000, "Home", &[]));
    assert_eq!(d.for_verdict().title_match, None);
    let d = http_diff::compare(
        &r(200, 1, "Hello World", &[]),
        &c(200, 9, "world hello", &[]),
    );
    assert_eq!(d.for_verdict().title_match, Some(true));
    // No control status: nothing comparable but the body.
    let d = http_diff::compare(&r(200, 1, "x", &[]), &c(-1, -1, "", &[]));
    assert_eq!(d, http_diff::HttpDiff::default());
    assert!(d.is_diff());
}

#[test]
fn throttling_needs_size_duration_and_a_far_slower_rate() {
    let big = page("Big", 1 << 20);
    let c = |rate: f64| {
        let mut h = site_ctl().fetched(&big).0.http_request;
        h.x_transfer_rate = Some(rate);
        h
    };
    let slow = |rate: u64| {
        obs()
            .get_slow(HTTP, "93.184.215.14:80", &big, rate)
            .0
            .requests
            .remove(0)
    };
    assert!(http_diff::throttled(&slow(8 * 1024), &c(5e6), None).is_some());
    assert!(http_diff::throttled(&slow(15 * 1024), &c(5e6), None).is_some());
    // Not far slower than the control.
    assert!(http_diff::throttled(&slow(8 * 1024), &c(50_000.0), None).is_none());
    // A slow line (or a slow international link), not a throttled one.
    assert!(http_diff::throttled(&slow(200 * 1024), &c(50e6), None).is_none());
    assert!(http_diff::throttled(&slow(20 * 1024), &c(50e6), None).is_none());
    // Measured over less than 2 s.
    let mut short = slow(8 * 1024);
    short.x_transfer.retain(|s| s.t <= 1.8);
    short.t = 1.8;
    assert!(http_diff::throttled(&short, &c(5e6), None).is_none());
    // A transfer that stalled before the cut is a timeout, not a slow transfer.
    let mut stalled = slow(8 * 1024);
    stalled.x_transfer.retain(|s| s.t <= 3.3);
    assert!(http_diff::throttled(&stalled, &c(5e6), None).is_none());
    // The expected size comes from the control when the transfer was cut off: 24 KiB received
    // in 3 s of a 96 KiB page (the integration scenario).
    let mut cut = obs()
        .get_slow(
            HTTP,
            "93.184.215.14:80",
            &page("Big page", 96 * 1024),
            8 * 1024,
        )
        .0
        .requests
        .remove(0);
    cut.x_transfer.retain(|s| s.t <= 3.3);
    cut.t = 3.3;
    cut.response.as_mut().unwrap().x_body_length = 24 * 1024;
    let mut small_ctl = c(5e6);
    small_ctl.body_length = 96 * 1024;
    assert!(http_diff::throttled(&cut, &small_ctl, None).is_some());
    small_ctl.body_length = 40 * 1024;
    assert!(http_diff::throttled(&cut, &small_ctl, None).is_none());
    // No rate from the control.
    let mut none = c(5e6);
    none.x_transfer_rate = None;
    assert!(http_diff::throttled(&slow(8 * 1024), &none, None).is_none());
    // A complete transfer of a big body, slowly.
    let mut tx = slow(8 * 1024);
    tx.failure = None;
    let r = tx.response.as_mut().unwrap();
    r.x_body_complete = true;
    assert!(http_diff::throttled(&tx, &c(5e6), None).is_some());
    // A complete small body is never throttled.
    let mut small = slow(1000);
    small.failure = None;
    small.response.as_mut().unwrap().x_body_complete = true;
    assert!(http_diff::throttled(&small, &c(5e6), None).is_none());
    // With the connect's round trip the size no longer matters, the time it explains does:
    // 10 KB in 10 s is throttled at a 40 ms round trip (one round of slow start) and not at a
    // 1.2 s one.
    assert!(http_diff::throttled(&small, &c(5e6), Some(0.04)).is_some());
    assert!(http_diff::throttled(&small, &c(5e6), Some(1.2)).is_none());
    // 1 MiB at 8 KiB/s cut at 10 s (80 KiB, 3 rounds): throttled at 0.3 s, not at 0.4 s.
    assert!(http_diff::throttled(&slow(8 * 1024), &c(5e6), Some(0.3)).is_some());
    assert!(http_diff::throttled(&slow(8 * 1024), &c(5e6), Some(0.4)).is_none());
    // The rate caps hold with a round trip too.
    assert!(http_diff::throttled(&slow(20 * 1024), &c(50e6), Some(0.01)).is_none());
    assert!(http_diff::throttled(&slow(8 * 1024), &c(50_000.0), Some(0.01)).is_none());
}

#[test]
fn slow_start_rounds_double_from_ten_segments() {
    use http_diff::{slow_start_rounds, INITIAL_WINDOW};
    assert_eq!(slow_start_rounds(0), 1);
    assert_eq!(slow_start_rounds(12_000), 1);
    assert_eq!(slow_start_rounds(INITIAL_WINDOW), 1);
    assert_eq!(slow_start_rounds(INITIAL_WINDOW + 1), 2);
    assert_eq!(slow_start_rounds(3 * INITIAL_WINDOW), 2);
    assert_eq!(slow_start_rounds(3 * INITIAL_WINDOW + 1), 3);
    assert_eq!(slow_start_rounds(1 << 20), 7);
    assert!(slow_start_rounds(u64::MAX) < 64, "no overflow");
}

#[test]
fn analysis_serializes_oonis_keys() {
    let a = row("ok", HTTP, http_ok(), Some(site_ctl())).run();
    let v = serde_json::to_value(&a).unwrap();
    for key in [
        "dns_experiment_failure",
        "http_experiment_failure",
        "dns_consistency",
        "body_length_match",
        "body_proportion",
        "status_code_match",
        "headers_match",
        "title_match",
        "blocking",
        "accessible",
        "x_dns_flags",
        "x_verdict",
    ] {
        assert!(v.get(key).is_some(), "{key}");
    }
    assert_eq!(v["blocking"], Value::Bool(false));
    assert_eq!(v["body_length_match"], Value::Bool(true));
    assert_eq!(v["x_verdict"]["status"], "accessible");
    let a = row(
        "nx",
        HTTP,
        obs().dns_fails(HOST, 0, Failure::DnsNxdomain),
        Some(site_ctl()),
    )
    .run();
    assert_eq!(
        a.dns_experiment_failure.as_deref(),
        Some("dns_nxdomain_error")
    );
    assert_eq!(a.x_dns_flags, Some(2));
    assert_eq!(a.body_length_match, None);
    let a = row(
        "bogon",
        HTTP,
        obs().resolve(HOST, 0, &["10.0.0.1"]),
        Some(site_ctl()),
    )
    .run();
    assert_eq!(a.x_dns_flags, Some(5));
}

#[test]
fn methods_and_statuses_are_spelled_as_spec_says() {
    let spec = [
        "dns.nxdomain",
        "dns.bogon",
        "dns.injection",
        "dns.forged",
        "dns.failure",
        "tcp.timeout",
        "tcp.reset",
        "tcp.refused",
        "tls.reset",
        "tls.timeout",
        "tls.eof",
        "tls.mitm",
        "http.reset",
        "http.timeout",
        "http.eof",
        "http.blockpage",
        "http.diff",
        "throttling",
    ];
    let ours: Vec<&str> = Method::ALL.iter().map(|m| m.as_str()).collect();
    assert_eq!(ours, spec);
    let mut sorted = Method::ALL.to_vec();
    sorted.sort();
    assert_eq!(
        sorted,
        Method::ALL.to_vec(),
        "the enum order is the table's"
    );
    let statuses: Vec<&str> = Status::ALL.iter().map(|s| s.as_str()).collect();
    assert_eq!(statuses, ["accessible", "blocked", "down", "unknown"]);
    for s in Status::ALL {
        assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
    }
}
