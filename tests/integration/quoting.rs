//! Network text quoted in a failure or a verdict reason is cut to a short prefix with its full
//! length: one injected 302 whose Location is `http://[` and 380,000 `"` (each Debug-escapes to
//! two bytes, JSON-escapes to four) must not crowd a record's observations out of the size cap.

use std::collections::HashMap;

use serde_json::Value;

use crate::harness::web::serve;
use crate::harness::{run_args, vantage, Answer, Ca, FakeDns, Reply, Site, Tls, Workdir};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_invalid_location_leaves_short_failures_and_reasons_and_keeps_observations() {
    let ca = Ca::new("Vantage Test CA");
    let site = Site::new(
        "quote.test",
        Tls::Plain,
        Reply::Redirect {
            code: 302,
            location: format!("http://[{}", "\"".repeat(380_000)),
        },
    );
    let addr = serve(site.clone(), &ca, &ca).await;
    let lo = Answer::Addrs(vec!["127.0.0.1".parse().unwrap()]);
    let dns = FakeDns::start(HashMap::from([("quote.test".to_string(), lo)])).await;
    let work = Workdir::new();
    let ca_file = work.write("ca.pem", &ca.pem);
    // The second line's own URL is 30 KB: every reason that names it quotes it short.
    let long_url = format!("{}?q={}", site.url(addr), "a".repeat(30_000));
    let list = work.write("list.txt", &format!("{}\n{long_url}\n", site.url(addr)));
    let out = vantage(&run_args(&work, &list, &dns, &ca_file, &[]), &work.out()).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    for url in [site.url(addr), long_url] {
        check(out.record(&url));
    }
}

fn check(r: &Value) {
    let tk = &r["test_keys"];
    let brief = |v: &Value| format!("{v:.1500}");
    for key in ["queries", "tcp_connect", "requests"] {
        assert!(
            tk[key].as_array().is_some_and(|a| !a.is_empty()),
            "{key} missing: {}",
            brief(tk)
        );
    }
    let shed = tk["x_truncated"].to_string();
    assert!(!shed.contains("observations"), "shed: {shed}");
    let hop = &tk["requests"][0];
    assert_eq!(hop["response"]["code"], 302);
    let failure = hop["failure"].as_str().unwrap_or_default();
    assert!(
        failure.contains("invalid redirect Location"),
        "{failure:.500}"
    );
    assert!(
        failure.contains("bytes)"),
        "states the full length: {failure:.500}"
    );
    let hef = tk["http_experiment_failure"].as_str().unwrap_or_default();
    assert!(
        hef.len() < 1024,
        "http_experiment_failure of {} bytes",
        hef.len()
    );
    assert!(failure.len() < 1024, "failure of {} bytes", failure.len());
    let reasons = tk["x_verdict"]["reasons"].as_array().expect("reasons");
    assert!(!reasons.is_empty());
    for reason in reasons {
        let s = reason.to_string();
        assert!(s.len() < 1024, "reason of {} bytes: {s:.500}", s.len());
    }
}
