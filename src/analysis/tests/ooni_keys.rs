//! OONI's keys follow OONI's rules (probe-cli's webconnectivitylte/analysisclassic.go and
//! minipipeline/httpdiff.go), whatever vantage's own `x_verdict` concludes: `headers_match`
//! counts every header outside OONI's common list (Content-Length and Connection too),
//! `http_experiment_failure` is the failure of the step the classic walk stopped at,
//! `blocking` is never `"tls"`, and a DNS failure without a control is null/null.

use super::*;
use crate::observation::HttpResponse;

fn keys(url: &str, o: &Obs, control: Option<&Ctl>, control_failure: Option<&str>) -> Analysis {
    let fp = Fingerprints::builtin();
    let control = control.map(|c| c.0.clone());
    let ctx = Context {
        control: control.as_ref(),
        control_failure,
        testbed_nets: &[],
        fingerprints: &fp,
        probe_cc: None,
    };
    analyze(&Url::parse(url).unwrap(), &o.0, &ctx)
}

/// A page with only OONI's common headers and the HTTP/1.1 framing ones.
fn bare(title: &str, size: usize) -> Resp {
    let mut r = page(title, size);
    r.headers.retain(|(k, _)| k != "X-Site");
    r.headers.push(("Connection".into(), "keep-alive".into()));
    r
}

#[test]
fn headers_match_counts_content_length_and_connection_as_ooni_does() {
    // Same status, bodies of very different length, different titles: only the framing
    // headers are shared. OONI's httpdiff list of common headers has neither Content-Length
    // nor Connection, so for OONI the uncommon headers intersect: no http-diff.
    let o = obs()
        .resolve(HOST, 0, &[SITE])
        .connect("93.184.215.14:80", 0, None)
        .get(
            HTTP,
            "93.184.215.14:80",
            0,
            &bare("Gateway notice board", 300),
        );
    let c = site_ctl().fetched(&bare("Example Domain Homepage", 5000));
    let a = keys(HTTP, &o, Some(&c), None);
    assert_eq!(a.headers_match, Some(true), "Content-Length is shared");
    assert_eq!(a.body_length_match, Some(false));
    assert_eq!(a.title_match, Some(false));
    assert_eq!(
        (&a.blocking, a.accessible),
        (&Value::Bool(false), Some(true))
    );
    // vantage's own comparison (x_verdict) still ignores the framing headers: a diff.
    assert_eq!(a.x_verdict.methods, ["http.diff"]);
    assert!(
        a.x_verdict
            .reasons
            .iter()
            .any(|r| r.contains("uncommon headers differ")),
        "{:?}",
        a.x_verdict.reasons
    );
}

#[test]
fn headers_match_is_false_when_only_common_headers_are_shared() {
    let mut mine = bare("Gateway notice board", 300);
    mine.headers
        .retain(|(k, _)| k != "Content-Length" && k != "Connection");
    let o = obs()
        .resolve(HOST, 0, &[SITE])
        .connect("93.184.215.14:80", 0, None)
        .get(HTTP, "93.184.215.14:80", 0, &mine);
    let c = site_ctl().fetched(&bare("Example Domain Homepage", 5000));
    let a = keys(HTTP, &o, Some(&c), None);
    assert_eq!(a.headers_match, Some(false));
    assert_eq!(a.blocking, b("http-diff"));
}

#[test]
fn http_experiment_failure_is_the_failure_of_the_step_that_failed() {
    let refused = obs().resolve(HOST, 0, &[SITE]).connect(
        "93.184.215.14:80",
        0,
        Some(Failure::ConnectionRefused),
    );
    let a = keys(HTTP, &refused, Some(&site_ctl()), None);
    assert_eq!(a.blocking, b("tcp_ip"));
    assert_eq!(
        a.http_experiment_failure.as_deref(),
        Some("connection_refused")
    );

    let reset = obs()
        .resolve(HOST, 0, &[SITE])
        .connect("93.184.215.14:443", 0, None)
        .handshake("93.184.215.14:443", HOST, 0, Some(Failure::ConnectionReset));
    let a = keys(HTTPS, &reset, Some(&site_ctl()), None);
    assert_eq!(a.blocking, b("http-failure"));
    assert_eq!(
        a.http_experiment_failure.as_deref(),
        Some("connection_reset")
    );

    // OONI's rule 5.4 writes the lookup's failure there too.
    let nx = obs().dns_fails(HOST, 0, Failure::DnsNxdomain);
    let a = keys(HTTP, &nx, Some(&site_ctl()), None);
    assert_eq!(a.blocking, b("dns"));
    assert_eq!(
        a.http_experiment_failure.as_deref(),
        Some("dns_nxdomain_error")
    );

    // A redirect's failed round trip, deeper than the first hop's success.
    let o = redirected_to_org()
        .connect("151.101.1.67:80", 1, None)
        .get_fails(
            "http://www.example.org/",
            "151.101.1.67:80",
            1,
            Failure::Eof,
        );
    let a = keys(HTTP, &o, Some(&site_ctl()), None);
    assert_eq!(a.http_experiment_failure.as_deref(), Some("eof_error"));

    // A page that arrived: nothing failed.
    let a = keys(HTTP, &http_ok(), Some(&site_ctl()), None);
    assert_eq!(a.http_experiment_failure, None);
}

#[test]
fn blocking_is_never_tls() {
    let c = site_ctl();
    for f in [
        Failure::ConnectionReset,
        Failure::Timeout,
        Failure::Eof,
        Failure::SslUnknownAuthority,
        Failure::SslInvalidHostname,
    ] {
        let o = obs()
            .resolve(HOST, 0, &[SITE])
            .connect("93.184.215.14:443", 0, None)
            .handshake("93.184.215.14:443", HOST, 0, Some(f.clone()));
        let a = keys(HTTPS, &o, Some(&c), None);
        assert_eq!(a.blocking, b("http-failure"), "{f}");
        assert_eq!(a.accessible, Some(false), "{f}");
        // Without a control: OONI's 3.1.1, null/null.
        let a = keys(HTTPS, &o, None, None);
        assert_eq!((&a.blocking, a.accessible), (&Value::Null, None), "{f}");
    }
}

#[test]
fn a_dns_failure_without_a_control_is_accessible_as_ooni_s_rule_5_1_1_has_it() {
    // analysisclassic.go 5.1.1 ("sic"): no DNS control and no expectation -> false/true.
    // vantage's own verdict stays unknown: nothing says the site is reachable.
    for f in [
        Failure::DnsNxdomain,
        Failure::DnsServfail,
        Failure::Timeout,
        Failure::DnsNoAnswer,
    ] {
        let o = obs().dns_fails(HOST, 0, f.clone());
        for failure in [None, Some("connection_refused")] {
            let a = keys(HTTP, &o, None, failure);
            assert_eq!(
                (&a.blocking, a.accessible),
                (&Value::Bool(false), Some(true)),
                "{f}"
            );
            assert_eq!(a.dns_experiment_failure, Some(f.to_string()), "{f}");
        }
    }
}

#[test]
fn the_control_s_handshake_counts_by_its_failure_as_ooni_reads_it() {
    // OONI's 3.2/3.3 read the control's `failure` only: a handshake that completed with a
    // certificate that does not validate, written without a failure, is no failure.
    let o = obs()
        .resolve(HOST, 0, &[SITE])
        .connect("93.184.215.14:443", 0, None)
        .handshake("93.184.215.14:443", HOST, 0, Some(Failure::ConnectionReset));
    let mut c = site_ctl();
    c.0.tls_handshake.insert(
        "93.184.215.14:443".into(),
        crate::control::ControlTls {
            server_name: HOST.into(),
            status: true,
            failure: None,
            x_certificate_valid: Some(false),
        },
    );
    let a = keys(HTTPS, &o, Some(&c), None);
    assert_eq!(
        (&a.blocking, a.accessible),
        (&b("http-failure"), Some(false))
    );
    // Written as a failure, it is the site's: down.
    let c = site_ctl().tls_fails("93.184.215.14:443", HOST, "ssl_unknown_authority");
    let a = keys(HTTPS, &o, Some(&c), None);
    assert_eq!(
        (&a.blocking, a.accessible),
        (&Value::Bool(false), Some(false))
    );
}

#[test]
fn of_several_failed_connects_the_walk_takes_the_smallest_failure_as_ooni_sorts_them() {
    // A timeout at an address the control cannot reach either (down), recorded first, and a
    // refusal at the site's address the control connected to (tcp_ip): OONI's linear analysis
    // sorts connection_refused before generic_timeout_error.
    let o = obs()
        .resolve(HOST, 0, &[SITE, OTHER])
        .connect("31.13.94.37:80", 0, Some(Failure::Timeout))
        .connect("93.184.215.14:80", 0, Some(Failure::ConnectionRefused));
    let c = site_ctl().connect_fails("31.13.94.37:80", "generic_timeout_error");
    let a = keys(HTTP, &o, Some(&c), None);
    assert_eq!(a.blocking, b("tcp_ip"));
    assert_eq!(
        a.http_experiment_failure.as_deref(),
        Some("connection_refused")
    );
}

/// A response of `len` bytes (`complete` or cut), with `title` and `headers`.
fn resp(code: u16, len: u64, complete: bool, title: &str, headers: &[&str]) -> HttpResponse {
    let mut x = plain(code, title, "");
    x.length = Some(len);
    x.complete = complete;
    x.headers = headers
        .iter()
        .map(|k| (k.to_string(), "v".into()))
        .collect();
    x.response()
}

fn control(code: i64, len: i64, title: &str, headers: &[&str]) -> ControlHttp {
    ControlHttp {
        body_length: len,
        title: title.into(),
        status_code: code,
        headers: headers
            .iter()
            .map(|k| (k.to_string(), "v".into()))
            .collect(),
        ..ControlHttp::default()
    }
}

#[test]
fn body_proportion_needs_a_whole_body_and_both_lengths() {
    // minipipeline's httpDiffBodyProportionFactor: the probe's length above 0, its body not
    // truncated, the control's length above 0; otherwise no body_proportion, no
    // body_length_match.
    let c = control(200, 1000, "", &[]);
    for (r, why) in [
        (resp(200, 900, false, "", &[]), "truncated"),
        (resp(200, 0, true, "", &[]), "empty"),
    ] {
        let d = http_diff::compare(&r, &c);
        assert_eq!(
            (d.body_proportion, d.body_length_match),
            (None, None),
            "{why}"
        );
    }
    let d = http_diff::compare(&resp(200, 900, true, "", &[]), &control(200, 0, "", &[]));
    assert_eq!((d.body_proportion, d.body_length_match), (None, None));
    let d = http_diff::compare(&resp(200, 250, true, "", &[]), &c);
    assert_eq!(
        (d.body_proportion, d.body_length_match),
        (Some(0.25), Some(false))
    );
    let d = http_diff::compare(&resp(200, 4000, true, "", &[]), &c);
    assert_eq!(d.body_proportion, Some(0.25), "the smaller over the larger");
}

#[test]
fn headers_and_titles_need_the_control_s_status_code() {
    // httpDiffUncommonHeadersIntersection and httpDiffTitleDifferentLongWords need a control
    // status code above 0; so does the status comparison.
    let r = resp(200, 10, true, "Hello World", &["X-Site"]);
    let d = http_diff::compare(&r, &control(0, 10, "Hello World", &["X-Site"]));
    assert_eq!(
        (d.status_code_match, d.headers_match, d.title_match),
        (None, None, None)
    );
    let d = http_diff::compare(&r, &control(200, 10, "Hello World", &["X-Site"]));
    assert_eq!(
        (d.status_code_match, d.headers_match, d.title_match),
        (Some(true), Some(true), Some(true))
    );
}

#[test]
fn any_one_of_body_length_headers_title_with_the_status_is_no_diff() {
    // analysisHTTPDiffAlgorithm: the status code matches and one of body length, uncommon
    // headers, title matches.
    let c = control(200, 1000, "Example Domain Homepage", &["X-Site"]);
    let body = resp(200, 990, true, "Notice board", &[]);
    let headers = resp(200, 10, true, "Notice board", &["x-site"]);
    let title = resp(200, 10, true, "homepage DOMAIN Example", &[]);
    let none = resp(200, 10, true, "Notice board", &[]);
    for (r, which) in [
        (&body, "body length"),
        (&headers, "uncommon headers"),
        (&title, "title"),
    ] {
        let d = http_diff::compare(r, &c);
        let agree = [d.body_length_match, d.headers_match, d.title_match];
        assert_eq!(
            agree.iter().filter(|m| **m == Some(true)).count(),
            1,
            "{which}"
        );
        assert!(!d.is_diff(), "{which}");
        assert_eq!(d.agreeing(), which, "the reason names what agrees");
    }
    assert!(http_diff::compare(&none, &c).is_diff());
    // A status code that differs is a diff whatever else agrees.
    let d = http_diff::compare(
        &resp(404, 1000, true, "Example Domain Homepage", &["X-Site"]),
        &c,
    );
    assert_eq!(d.status_code_match, Some(false));
    assert!(d.is_diff());
}

#[test]
fn a_matching_page_s_reason_names_everything_that_agrees() {
    let a = keys(HTTP, &http_ok(), Some(&site_ctl()), None);
    assert!(
        a.x_verdict
            .reasons
            .iter()
            .any(|r| r.ends_with("): status code and body length, uncommon headers, title agree.")),
        "{:?}",
        a.x_verdict.reasons
    );
}
