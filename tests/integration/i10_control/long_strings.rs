//! A page whose header is longer than the probe takes from a control (`MAX_STRING`, 8 KiB: a
//! 10.7 KB Content-Security-Policy is real) is still compared with the control: vantage's
//! helper cuts the value it puts in its answer, the probe cuts (never refuses) one over-long
//! string from any control, and the cut is marked `… (cut from N bytes)`. The total size and
//! the entry counts stay hard bounds.

use serde_json::Value;

use crate::harness::fake_control::{answering, json_response};
use crate::harness::web::{serve, Reply};
use crate::harness::{
    loopback_zone, run_args, vantage, Ca, FakeDns, Helper, Outcome, Site, Tls, Workdir,
};

const CSP_BYTES: usize = 10_708;
const MAX_STRING: usize = 8192;

/// Measures a site whose 200 carries a `CSP_BYTES`-byte Content-Security-Policy, against the
/// control `control` (a URL), or a vantage helper when `None`.
async fn measure(control: Option<String>) -> Outcome {
    let ca = Ca::new("Vantage Test CA");
    let body = "<html><head><title>Policy page</title></head><body>fine</body></html>";
    let raw = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nX-Site: fake\r\n\
         Content-Security-Policy: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        "c".repeat(CSP_BYTES),
        body.len()
    );
    let site = Site::new("csp.test", Tls::Plain, Reply::Raw(raw));
    let addr = serve(site.clone(), &ca, &ca).await;
    let dns = FakeDns::start(loopback_zone(&["csp.test"])).await;
    let resolver = dns.addr.to_string();
    let helper;
    let control = match control {
        Some(c) => c,
        None => {
            helper = Helper::start(&["--resolver", &resolver, "--allow-private"]).await;
            helper.url()
        }
    };
    let work = Workdir::new();
    let ca_file = work.write("ca.pem", &ca.pem);
    let list = work.write("list.txt", &format!("{}\n", site.url(addr)));
    let extra = [
        "--control",
        control.as_str(),
        "--testbed-net",
        "127.0.0.0/8",
    ];
    let args = run_args(&work, &list, &dns, &ca_file, &extra);
    let out = vantage(&args, &work.out()).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.records.len(), 1, "{}", out.stderr);
    out
}

fn cut_header(tk: &Value) -> &str {
    let csp = tk["control"]["http_request"]["headers"]["Content-Security-Policy"]
        .as_str()
        .unwrap_or_else(|| panic!("no CSP in the control's answer: {tk}"));
    assert!(csp.len() <= MAX_STRING, "{} bytes", csp.len());
    csp
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vantages_helper_cuts_a_long_header_its_probe_would_refuse() {
    let out = measure(None).await;
    let tk = &out.records[0]["test_keys"];
    assert_eq!(tk["control_failure"], Value::Null, "{}", out.stderr);
    assert_eq!(tk["x_verdict"]["status"], "accessible", "{tk}");
    let csp = cut_header(tk);
    assert!(
        csp.ends_with(&format!("… (cut from {CSP_BYTES} bytes)")),
        "{csp}"
    );
    // The probe's own record keeps the whole header.
    let own = &tk["requests"][0]["response"]["headers"]["Content-Security-Policy"];
    assert_eq!(own.as_str().map(str::len), Some(CSP_BYTES));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_probe_cuts_a_long_string_from_another_control() {
    let title = format!("Policy page {}", "w".repeat(9000));
    let answer = serde_json::json!({
        "tcp_connect": {}, "dns": {"failure": null, "addrs": ["127.0.0.1"]},
        "http_request": {"body_length": 71, "failure": null, "title": title, "status_code": 200,
            "headers": {"Content-Type": "text/html", "X-Site": "fake",
                        "Content-Security-Policy": "c".repeat(CSP_BYTES)}},
    });
    let control = answering(json_response(200, answer.to_string().as_bytes())).await;
    let out = measure(Some(format!("http://{control}/"))).await;
    let tk = &out.records[0]["test_keys"];
    assert_eq!(tk["control_failure"], Value::Null, "{}", out.stderr);
    assert!(cut_header(tk).ends_with(&format!("… (cut from {CSP_BYTES} bytes)")));
    // A cut title is not compared: its words are not all there.
    assert_eq!(tk["title_match"], Value::Null, "{tk}");
    assert_eq!(tk["headers_match"], true, "names are compared, not values");
    assert_eq!(tk["x_verdict"]["status"], "accessible", "{tk}");
}
