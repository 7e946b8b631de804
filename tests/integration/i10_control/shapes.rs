//! An answer that lacks any of OONI's `dns`, `tcp_connect` and `http_request` (OONI's
//! `THResponse` always has all three) is the control failing, never a control that found
//! nothing: the verdict is `unknown`, not `down`. OONI's real shape (`tcp_connect` may be `{}`,
//! `null` lists) still reads. So is an answer in OONI's shape that measured nothing (its fetch
//! has neither a status nor a failure): read as "no such name", it made a loaded page `down`.

use serde_json::Value;

use super::preflight::{statuses, world};
use crate::harness::fake_control::{json_response, scripted};

const DNS: &str = r#""dns":{"failure":null,"addrs":["127.0.0.1"]}"#;
const TCP: &str = r#""tcp_connect":{}"#;
const HTTP: &str = r#""http_request":{"body_length":500,"failure":null,"title":"OK",
    "headers":{"Content-Type":"text/html","X-Site":"fake"},"status_code":200}"#;

/// A control answering each POST by the last path segment of its URL.
async fn shape_control() -> String {
    let addr = scripted(|_, body| {
        let request: Value = serde_json::from_slice(body).unwrap_or_default();
        let url = request["http_request"].as_str().unwrap_or_default();
        let answer = match url.rsplit('/').next().unwrap_or_default() {
            "garbage" => r#"{"garbage":true}"#.to_string(),
            "no-http" => format!("{{{DNS},{TCP}}}"),
            "no-dns" => format!("{{{TCP},{HTTP}}}"),
            "no-tcp" => format!("{{{DNS},{HTTP}}}"),
            "empty-http" => format!(r#"{{{DNS},{TCP},"http_request":{{}}}}"#),
            // OONI's shape, but it measured nothing: no address, no failure, no status.
            "measured-nothing" => format!(
                r#"{{"dns":{{"failure":null,"addrs":[]}},{TCP},"http_request":{{"body_length":-1,
                   "failure":null,"title":"","headers":{{}},"status_code":-1}}}}"#
            ),
            _ => format!("{{{DNS},{TCP},{HTTP}}}"),
        };
        json_response(200, answer.as_bytes())
    })
    .await;
    format!("http://{addr}/")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_missing_oonis_keys_is_a_control_failure_not_down() {
    let control = shape_control().await;
    let pages = [
        "garbage",
        "no-http",
        "no-dns",
        "no-tcp",
        "empty-http",
        "measured-nothing",
        "ooni",
    ];
    let out = world().await.run(&pages, &["--control", &control]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(statuses(&out).len(), pages.len(), "{}", out.stderr);
    for r in &out.records {
        let tk = &r["test_keys"];
        let input = r["input"].as_str().unwrap_or_default();
        let page = input.rsplit('/').next().unwrap_or_default();
        if page == "ooni" {
            assert_eq!(tk["control_failure"], Value::Null, "{page}: {tk}");
            assert_eq!(tk["x_verdict"]["status"], "accessible", "{page}: {tk}");
            continue;
        }
        assert_eq!(tk["x_verdict"]["status"], "unknown", "{page}: {tk}");
        assert_ne!(tk["blocking"], "dns", "{page}: {tk}");
        let failure = tk["control_failure"].as_str().unwrap_or_default();
        let want = match page {
            "measured-nothing" => "control_answer_incoherent: ",
            _ => "json_parse_error: ",
        };
        assert!(failure.starts_with(want), "{page}: {tk}");
    }
}
