//! Nothing from the network makes a record unbounded: the real binary against a resolver that
//! floods every query with 64 datagrams of thousands of answers, behind a site that redirects
//! every hop to a fresh name (so every hop adds a lookup), and against a redirect chain whose
//! every hop carries a 512 KiB body that JSON-escapes sixfold. The records stay within their
//! budgets, say what they shed, and stay whole JSON with their verdict.

use std::path::Path;
use std::time::Duration;

use base64::Engine as _;
use serde_json::Value;

use crate::harness::hostile::{answers_that_fit, FloodDns, FloodSpec, Maze};
use crate::harness::{vantage, Workdir};

/// Record lines under `out`, raw.
fn lines(out: &Path) -> Vec<String> {
    crate::harness::jsonl_files(out)
        .iter()
        .flat_map(|f| {
            std::fs::read_to_string(f)
                .unwrap()
                .lines()
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect()
}

fn run_args(work: &Workdir, urls: &[String], resolver: std::net::SocketAddr) -> Vec<String> {
    let targets = work.write("targets.txt", &(urls.join("\n") + "\n"));
    [
        "run",
        "--targets",
        targets.to_str().unwrap(),
        "--out",
        work.out().to_str().unwrap(),
        "--resolver",
        &resolver.to_string(),
        "--rate",
        "0",
        "--dns-wait",
        "300ms",
        "--timeout",
        "60s",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

fn raw_bytes(q: &Value) -> Option<Vec<u8>> {
    let data = q["raw_response"].as_str()?;
    Some(
        base64::engine::general_purpose::STANDARD
            .decode(data)
            .unwrap(),
    )
}

fn n(v: &Value) -> u64 {
    v.as_u64().unwrap_or(0)
}

/// The wire length of a question for `host` (labels, root, type, class).
fn question_len(host: &str) -> usize {
    host.split('.').map(|l| l.len() + 1).sum::<usize>() + 1 + 4
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dns_flood_through_fresh_names_leaves_a_small_record_that_counts_what_it_shed() {
    let flood = FloodDns::start(FloodSpec {
        datagrams: 64,
        answers: 4000,
        pace: Duration::from_millis(1),
    })
    .await;
    let maze = Maze::start("maze.test", b"moved".to_vec()).await;
    let work = Workdir::new();
    let url = maze.url("h0-flood");
    let out = vantage(&run_args(&work, &[url], flood.addr), &work.out()).await;
    assert_eq!(out.code, 0, "{}", out.stderr);

    let lines = lines(&work.out());
    assert_eq!(lines.len(), 1);
    let size = lines[0].len();
    assert!(size < 1024 * 1024, "record of {size} bytes");
    let r: Value = serde_json::from_str(&lines[0]).unwrap();
    let tk = &r["test_keys"];
    assert_eq!(tk["requests"].as_array().unwrap().len(), 11, "10 redirects");
    assert_eq!(tk["x_redirect_limit_reached"], true);
    assert!(tk["x_verdict"]["status"].is_string());

    let queries = tk["queries"].as_array().unwrap();
    let summaries = tk["x_dns_truncated"].as_array().expect("x_dns_truncated");
    assert_eq!(summaries.len(), 11, "one summary per hop's lookup");
    let mut received_total = 0;
    for s in summaries {
        let host = s["hostname"].as_str().unwrap();
        let tx = s["transaction_id"].as_u64().unwrap();
        let mine: Vec<&Value> = queries
            .iter()
            .filter(|q| q["hostname"] == host && q["transaction_id"] == tx)
            .collect();
        let stored: Vec<&Value> = mine
            .iter()
            .copied()
            .filter(|q| !q["raw_response"].is_null())
            .collect();
        assert!(stored.len() <= 32 + 2, "{host}: {} entries", stored.len());
        // Every datagram that arrived is an entry or counted as dropped; no more arrived than
        // the resolver sent.
        let received = n(&s["datagrams_received"]);
        assert_eq!(
            stored.len() as u64 + n(&s["datagrams_dropped"]),
            received,
            "{s}"
        );
        assert!(received <= flood.sent(host).datagrams, "{s}");
        assert!(n(&s["datagrams_dropped"]) > 0, "{s}");
        received_total += received;
        // Each stored datagram: its first 1232 bytes, its first 32 answers, the rest counted.
        let (mut answers_dropped, mut raw_dropped) = (0, 0);
        for q in &stored {
            let raw = raw_bytes(q).unwrap();
            assert_eq!(raw.len(), 1232);
            let ancount = u16::from_be_bytes([raw[6], raw[7]]) as usize;
            let qtype = if q["query_type"] == "A" { 1 } else { 28 };
            assert_eq!(ancount, answers_that_fit(4000, qtype, question_len(host)));
            assert_eq!(q["answers"].as_array().unwrap().len(), 32);
            assert_eq!(n(&q["x_answers_dropped"]), ancount as u64 - 32);
            let record = if qtype == 1 { 16 } else { 28 };
            let len = 12 + question_len(host) + ancount * record;
            assert_eq!(n(&q["x_raw_bytes_dropped"]), len as u64 - 1232);
            answers_dropped += n(&q["x_answers_dropped"]);
            raw_dropped += n(&q["x_raw_bytes_dropped"]);
        }
        assert_eq!(n(&s["answers_dropped"]), answers_dropped, "{s}");
        assert_eq!(n(&s["raw_bytes_dropped"]), raw_dropped, "{s}");
        // The answer each hop used is always there, whatever the budgets.
        assert!(
            mine.iter().any(|q| q["query_type"] == "A"
                && q["failure"].is_null()
                && q["answers"][0]["ipv4"] == "127.0.0.1"),
            "{host}: no usable A answer stored"
        );
    }
    assert!(
        received_total > 11 * 2 * 8,
        "the flood arrived: {received_total} datagrams"
    );
    // The measurement's DNS budget (128 KiB) ran out on the later hops.
    assert!(summaries
        .iter()
        .any(|s| s["measurement_budget_exhausted"] == true));
    let dns_json = serde_json::to_vec(&tk["queries"]).unwrap().len();
    assert!(dns_json < 300 * 1024, "queries[] holds {dns_json} bytes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_chain_of_huge_bodies_keeps_a_small_prefix_of_each_keeping_the_verdict() {
    let flood = FloodDns::start(FloodSpec {
        datagrams: 1,
        answers: 1,
        pace: Duration::ZERO,
    })
    .await;
    // 512 KiB of a control character: `\u0001` in JSON, six bytes each, 3 MiB per hop.
    let maze = Maze::start("bodies.test", vec![1u8; 512 * 1024]).await;
    let work = Workdir::new();
    let url = maze.url("h0-bodies");
    let out = vantage(&run_args(&work, &[url], flood.addr), &work.out()).await;
    assert_eq!(out.code, 0, "{}", out.stderr);

    let lines = lines(&work.out());
    assert_eq!(lines.len(), 1);
    let size = lines[0].len() + 1;
    assert!(size <= 4 * 1024 * 1024, "record of {size} bytes");
    let r: Value = serde_json::from_str(&lines[0]).unwrap();
    let tk = &r["test_keys"];
    assert!(tk["x_verdict"]["status"].is_string());
    assert!(tk["x_verdict"]["reasons"].is_array());
    let requests = tk["requests"].as_array().unwrap();
    assert_eq!(requests.len(), 11, "every hop is still listed");
    // Every hop is a redirect (the chain ends at the redirect limit): each keeps 16 KiB of its
    // 512 KiB body, its true length and hash measured all the same. Before, every hop kept
    // 512 KiB and the record grew past 30 MB before the hard cap shed it.
    for t in requests {
        let resp = &t["response"];
        assert_eq!(n(&resp["code"]) / 100, 3, "{}", resp["code"]);
        assert_eq!(resp["body"].as_str().unwrap().len(), 16 * 1024);
        assert_eq!(resp["body_is_truncated"], true);
        assert_eq!(n(&resp["x_body_length"]), 512 * 1024);
        assert_eq!(resp["x_body_sha256"].as_str().unwrap().len(), 64);
    }
    // 11 x 96 KiB once escaped, and the rest: no need for the hard cap.
    assert!(size < 2 * 1024 * 1024, "record of {size} bytes");
    assert!(tk["x_truncated"].is_null(), "{}", tk["x_truncated"]);
    assert!(maze.requests() >= 11);
}
