//! A vantage helper answers the request an OONI probe sends, byte for byte, and forwards the
//! probe's User-Agent, Accept and Accept-Language to the site (as OONI's oohelperd does), never
//! any other header, bounded in length and count, with vantage's defaults when absent.
//!
//! The request's shape is OONI's, from ooni/probe-cli (commit 7cb22410c98db6dbc801887d93b65c8a5318ad07):
//! `internal/experiment/webconnectivitylte/control.go` (`Control.Run`) builds a
//! `model.THRequest` (`internal/model/th.go`: `http_request`, `http_request_headers`,
//! `tcp_connect`, `x_quic_enabled`) with the three headers of `internal/model/http.go`, and its
//! `tcp_connect` from a `var endpoints []string` that stays nil when the probe's DNS gave no
//! address: Go's encoding/json writes that nil slice as `null`. The helper side,
//! `internal/oohelperd/http.go` (`httpDo`), copies only `user-agent`, `accept` and
//! `accept-language` (any case) from `http_request_headers` onto its GET.

use std::collections::{BTreeSet, HashMap};

use serde_json::Value;

use crate::harness::header_echo::{header_echo, Heads};
use crate::harness::{client, Answer, FakeDns, Helper};

/// `model.HTTPHeaderUserAgent`, `model.HTTPHeaderAccept`, `model.HTTPHeaderAcceptLanguage`.
const OONI_UA: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.10 Safari/605.1.1";
const OONI_ACCEPT: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
const OONI_ACCEPT_LANGUAGE: &str = "en-US,en;q=0.9";

/// What Go's `json.Marshal` writes for the probe's `THRequest` when its DNS lookup failed (map
/// keys sorted, struct fields in declaration order, a nil slice as `null`).
fn ooni_request_dns_failed(url: &str) -> String {
    format!(
        "{{\"http_request\":\"{url}\",\"http_request_headers\":{{\"Accept\":[\"{OONI_ACCEPT}\"],\
         \"Accept-Language\":[\"{OONI_ACCEPT_LANGUAGE}\"],\"User-Agent\":[\"{OONI_UA}\"]}},\
         \"tcp_connect\":null,\"x_quic_enabled\":false}}"
    )
}

struct Bench {
    helper: Helper,
    url: String,
    heads: Heads,
    _dns: FakeDns,
}

async fn bench() -> Bench {
    let (site, heads) = header_echo().await;
    let dns = FakeDns::start(HashMap::from([(
        "echo.test".to_string(),
        Answer::Addrs(vec!["127.0.0.1".parse().unwrap()]),
    )]))
    .await;
    let resolver = dns.addr.to_string();
    let helper = Helper::start(&["--resolver", &resolver, "--allow-private"]).await;
    Bench {
        helper,
        url: format!("http://echo.test:{}/", site.port()),
        heads,
        _dns: dns,
    }
}

impl Bench {
    /// Posts `body` as an OONI probe does (its own User-Agent on the POST) and returns the
    /// answer and the head the site received for it.
    async fn ask(&self, body: String) -> (Value, Vec<(String, String)>) {
        let before = self.heads.lock().unwrap().len();
        let resp = client()
            .post(self.helper.url())
            .header("content-type", "application/json")
            .header("user-agent", "ooniprobe-cli/3.24.0 ooniprobe-engine/3.24.0")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        let status = resp.status();
        let text = resp.text().await.unwrap();
        assert_eq!(status, 200, "{body}\n-> {text}");
        let answer: Value = serde_json::from_str(&text).unwrap();
        let heads = self.heads.lock().unwrap();
        assert_eq!(heads.len(), before + 1, "the site got one GET: {answer}");
        (answer, heads[before].clone())
    }
}

fn values<'a>(head: &'a [(String, String)], name: &str) -> Vec<&'a str> {
    head.iter()
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .collect()
}

fn names(head: &[(String, String)]) -> BTreeSet<&str> {
    head.iter().map(|(k, _)| k.as_str()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ooni_probe_whose_dns_failed_gets_its_control() {
    let b = bench().await;
    let (a, head) = b.ask(ooni_request_dns_failed(&b.url)).await;
    assert_eq!(a["http_request"]["status_code"], 200, "{a}");
    assert_eq!(a["http_request"]["title"], "Header echo", "{a}");
    assert_eq!(a["dns"]["addrs"][0], "127.0.0.1", "{a}");
    let own = format!(
        "127.0.0.1:{}",
        b.url.rsplit(':').next().unwrap().trim_end_matches('/')
    );
    assert_eq!(a["tcp_connect"][&own]["status"], true, "{a}");
    // The probe's headers reached the site, and nothing else but Host.
    assert_eq!(values(&head, "user-agent"), [OONI_UA]);
    assert_eq!(values(&head, "accept"), [OONI_ACCEPT]);
    assert_eq!(values(&head, "accept-language"), [OONI_ACCEPT_LANGUAGE]);
    assert_eq!(
        names(&head),
        BTreeSet::from(["host", "user-agent", "accept", "accept-language"])
    );
    assert_eq!(
        values(&head, "host"),
        [b.url.trim_start_matches("http://").trim_end_matches('/')]
    );
    // The site's echo is in the control's answer, as the probe would see it.
    assert_eq!(
        a["http_request"]["headers"]["X-Echo-User-Agent"], OONI_UA,
        "{a}"
    );

    // No tcp_connect key at all (and no x_quic_enabled): the same.
    let body = format!(
        "{{\"http_request\":\"{}\",\"http_request_headers\":{{\"User-Agent\":[\"{OONI_UA}\"]}}}}",
        b.url
    );
    let (a, head) = b.ask(body).await;
    assert_eq!(a["http_request"]["status_code"], 200, "{a}");
    assert_eq!(values(&head, "user-agent"), [OONI_UA]);
    // Absent Accept and Accept-Language: vantage's defaults (OONI's browser-like values).
    assert_eq!(values(&head, "accept"), [vantage::probe::http::ACCEPT]);
    assert_eq!(
        values(&head, "accept-language"),
        [vantage::probe::http::ACCEPT_LANGUAGE]
    );

    // Every key null, as Go's decoder also takes it.
    let body = format!(
        "{{\"http_request\":\"{}\",\"http_request_headers\":null,\"tcp_connect\":null,\"x_quic_enabled\":null}}",
        b.url
    );
    let (a, head) = b.ask(body).await;
    assert_eq!(a["http_request"]["status_code"], 200, "{a}");
    assert_eq!(
        values(&head, "user-agent"),
        [vantage::probe::http::USER_AGENT]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_probes_three_headers_reach_the_site_bounded() {
    let b = bench().await;
    let long = "L".repeat(5000);
    let many: Vec<String> = (0..20).map(|i| format!("text/x-{i}")).collect();
    let request = serde_json::json!({
        "http_request": b.url,
        "http_request_headers": {
            // Any case, as oohelperd matches them; an over-long value and a spliced one dropped.
            "user-agent": [long, "Probe/1.0", "evil\r\nX-Injected: 1"],
            "ACCEPT": many,
            "Cookie": ["session=secret"],
            "Authorization": ["Bearer t"],
            "X-Forwarded-For": ["127.0.0.9"],
            "Host": ["elsewhere.test"],
        },
        "tcp_connect": null,
        "x_quic_enabled": false,
    });
    let (a, head) = b.ask(request.to_string()).await;
    assert_eq!(a["http_request"]["status_code"], 200, "{a}");
    assert_eq!(
        names(&head),
        BTreeSet::from(["host", "user-agent", "accept", "accept-language"]),
        "{head:?}"
    );
    assert_eq!(values(&head, "user-agent"), ["Probe/1.0"]);
    let accept = values(&head, "accept");
    assert_eq!(
        accept,
        many[..vantage::helper::MAX_FORWARDED_VALUES]
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
    );
    assert_eq!(
        values(&head, "accept-language"),
        [vantage::probe::http::ACCEPT_LANGUAGE]
    );
    assert_eq!(
        values(&head, "host"),
        [b.url.trim_start_matches("http://").trim_end_matches('/')]
    );
}
