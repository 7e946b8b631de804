//! `vantage report`: a results directory of several runs written by hand (records with the keys
//! the report reads, in the shape `run` writes), read by the real binary: the terminal summary
//! (changes since the previous run, since when, history), the HTML page (blocked table, SVG
//! charts, hostile strings escaped, nothing external), malformed and torn lines skipped with a
//! warning, exit statuses, and the ClickHouse source against a fake ClickHouse on 127.0.0.1.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use std::collections::HashMap;

use crate::harness::web::{page, serve};
use crate::harness::{binary, run_args, vantage, Answer, Ca, FakeDns, Site, Tls, Workdir};

const R1: &str = "20261120T100000Z_webconnectivity_ZZ_AS0_n1_aaaaaaaaaaaaaaaa";
const R2: &str = "20261121T100000Z_webconnectivity_ZZ_AS0_n1_bbbbbbbbbbbbbbbb";
const R3: &str = "20261122T100000Z_webconnectivity_ZZ_AS0_n1_0000000000000000";
const HOSTILE_REASON: &str =
    "the page matched the blockpage <script>alert(1)</script> of \"ISP\" & co";
const HOSTILE_INPUT: &str = "https://x.example/\"><img src=http://evil.example/p.png>";

/// A record in the shape `vantage run` writes, with the keys the report reads.
fn record(run: &str, input: &str, time: &str, category: Option<&str>, status: &str) -> Value {
    record_with(run, input, time, category, status, &[], &[], 0)
}

#[allow(clippy::too_many_arguments)]
fn record_with(
    run: &str,
    input: &str,
    time: &str,
    category: Option<&str>,
    status: &str,
    methods: &[&str],
    reasons: &[&str],
    repeat: u32,
) -> Value {
    let mut annotations = json!({"engine_name": "vantage", "platform": "linux",
        "architecture": "x86_64", "vantage_point": "vp-report-1"});
    if let Some(c) = category {
        annotations["category_code"] = json!(c);
    }
    if repeat > 0 {
        annotations["repeat"] = json!(repeat.to_string());
    }
    let (methods, reasons): (Vec<&str>, Vec<&str>) = match status {
        "blocked" if methods.is_empty() => (vec!["tcp.reset"], vec!["the connection was reset"]),
        _ if reasons.is_empty() => (methods.to_vec(), vec!["the probe got the site's page"]),
        _ => (methods.to_vec(), reasons.to_vec()),
    };
    json!({
        "schema_version": 1,
        "data_format_version": "0.2.0",
        "measurement_uid": uid(time, input),
        "report_id": run,
        "software_name": "vantage",
        "software_version": "0.1.0",
        "test_name": "web_connectivity",
        "test_version": "0.1.0",
        "input": input,
        "measurement_start_time": time,
        "test_start_time": time,
        "test_runtime": 0.5,
        "probe_cc": "ZZ",
        "probe_asn": "AS0",
        "probe_ip": "127.0.0.1",
        "resolver_ip": "127.0.0.1",
        "annotations": annotations,
        "extensions": {"dnst": 0, "httpt": 0, "tcpconnect": 0, "tlshandshake": 0},
        "test_keys": {
            "agent": "redirect",
            "queries": [{"hostname": "x.example", "answers": [], "failure": null}],
            "tcp_connect": [],
            "tls_handshakes": [],
            "requests": [],
            "control": null,
            "control_failure": null,
            "dns_consistency": "consistent",
            "blocking": if status == "blocked" { json!("tcp_ip") } else { json!(false) },
            "accessible": status == "accessible",
            "x_verdict": {"status": status, "methods": methods, "reasons": reasons}
        }
    })
}

/// A measurement_uid in the shape `run` writes, one per time and input.
fn uid(time: &str, input: &str) -> String {
    let h = input
        .bytes()
        .fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(b.into()));
    format!(
        "{}.000000_ZZ_webconnectivity_{h:016x}",
        time.replace(['-', ' ', ':'], "")
    )
}

fn lines(records: &[Value]) -> String {
    records.iter().map(|r| format!("{r}\n")).collect()
}

/// Three runs. blocked.example: accessible, then blocked twice (since run 2; 2 of 3 repeats
/// in run 3, with a hostile reason); always.example blocked in every run; new.example blocked
/// only in run 3; unblocked.example blocked then accessible; down.example down in run 3.
/// Run 3's file sits in an earlier-named day directory: runs are ordered by time, not by path.
fn results_dir(work: &Workdir) -> (PathBuf, PathBuf, PathBuf) {
    let out = work.out();
    let t1 = "2026-11-20 10:00:00";
    let t2 = "2026-11-21 10:00:00";
    let t3 = "2026-11-22 10:00:00";
    let mut run1 = Vec::new();
    let mut run2 = Vec::new();
    let mut run3 = Vec::new();
    for (run, t, v) in [
        (R1, t1, &mut run1),
        (R2, t2, &mut run2),
        (R3, t3, &mut run3),
    ] {
        v.push(record(
            run,
            "https://always.example/",
            t,
            Some("NEWS"),
            "blocked",
        ));
        v.push(record(
            run,
            "https://fine.example/",
            t,
            Some("SRCH"),
            "accessible",
        ));
        v.push(record(
            run,
            HOSTILE_INPUT,
            t,
            Some("<b>CAT</b>"),
            "accessible",
        ));
    }
    run1.push(record(
        R1,
        "https://blocked.example/",
        t1,
        Some("NEWS"),
        "accessible",
    ));
    run2.push(record_with(
        R2,
        "https://blocked.example/",
        t2,
        Some("NEWS"),
        "blocked",
        &["dns.injection"],
        &["two answers to one query disagree"],
        0,
    ));
    for (i, status) in ["blocked", "accessible", "blocked"].iter().enumerate() {
        run3.push(record_with(
            R3,
            "https://blocked.example/",
            &format!("2026-11-22 10:00:0{}", i + 1),
            Some("NEWS"),
            status,
            if *status == "blocked" {
                &["dns.injection", "http.blockpage"]
            } else {
                &[]
            },
            if *status == "blocked" {
                &[HOSTILE_REASON]
            } else {
                &[]
            },
            i as u32 + 1,
        ));
    }
    for (run, t, v, st) in [
        (R1, t1, &mut run1, "accessible"),
        (R2, t2, &mut run2, "accessible"),
        (R3, t3, &mut run3, "blocked"),
    ] {
        v.push(record(run, "https://new.example/", t, Some("HUMR"), st));
    }
    for (run, t, v, st) in [
        (R1, t1, &mut run1, "blocked"),
        (R2, t2, &mut run2, "blocked"),
        (R3, t3, &mut run3, "accessible"),
    ] {
        v.push(record(
            run,
            "https://unblocked.example/",
            t,
            Some("HUMR"),
            st,
        ));
    }
    for (run, t, v, st) in [
        (R1, t1, &mut run1, "accessible"),
        (R2, t2, &mut run2, "accessible"),
        (R3, t3, &mut run3, "down"),
    ] {
        v.push(record(run, "https://down.example/", t, None, st));
    }
    let write = |day: &str, run: &str, text: String| {
        let dir = out.join(day);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{run}.jsonl"));
        std::fs::write(&path, text).unwrap();
        path
    };
    write("2026-11-20", R1, lines(&run1));
    // Run 2: a line that is not JSON and one that lacks the verdict, in the middle.
    let mut text2 = lines(&run2[..2]);
    text2.push_str("this is not json\n");
    text2.push_str("{\"report_id\":\"x\",\"input\":\"https://y/\"}\n");
    text2.push_str(&lines(&run2[2..]));
    let f2 = write("2026-11-21", R2, text2);
    // Run 3: a torn last line (a killed writer).
    let mut text3 = lines(&run3);
    text3.push_str(
        "{\"report_id\":\"20261122T100000Z_webconnectivity_ZZ_AS0_n1_0000000000000000\",\"inp",
    );
    let f3 = write("2026-11-19", R3, text3);
    (out, f2, f3)
}

fn report(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(binary())
        .arg("report")
        .args(args)
        .env("VANTAGE_LOG", "warn")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn line_with<'a>(text: &'a str, needle: &str) -> &'a str {
    text.lines()
        .find(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no line with {needle:?} in:\n{text}"))
}

fn check_terminal(stdout: &str) {
    assert!(
        stdout.contains("3 runs from 2026-11-20 10:00:00 to 2026-11-22 10:00:03 UTC, 7 targets"),
        "{stdout}"
    );
    assert!(stdout.contains(&format!("last run: {R3}")), "{stdout}");
    // What changed since run 2.
    let changes = stdout
        .split("Changes since the previous run")
        .nth(1)
        .unwrap()
        .split("Targets (")
        .next()
        .unwrap();
    assert!(changes.contains(R2), "{changes}");
    let l = line_with(changes, "new.example");
    assert!(
        l.contains("newly blocked:") && l.contains("accessible -> blocked"),
        "{l}"
    );
    let l = line_with(changes, "unblocked.example");
    assert!(
        l.contains("unblocked:") && l.contains("blocked -> accessible"),
        "{l}"
    );
    let l = line_with(changes, "down.example");
    assert!(
        l.contains("newly down:") && l.contains("accessible -> down"),
        "{l}"
    );
    for steady in ["always.example", "https://blocked.example/", "fine.example"] {
        assert!(
            !changes.contains(steady),
            "{steady} did not change:\n{changes}"
        );
    }
    // Per target: status now, since when, streak, history, methods; blocked first.
    let stdout = stdout.split("Targets (").nth(1).unwrap();
    let l = line_with(stdout, "https://blocked.example/");
    assert!(l.contains("blocked 2/3"), "{l}");
    assert!(l.contains("2026-11-21 10:00:00"), "since run 2: {l}");
    assert!(l.contains(". B B"), "{l}");
    assert!(l.contains("[dns.injection, http.blockpage]"), "{l}");
    let l = line_with(stdout, "https://always.example/");
    assert!(
        l.contains("2026-11-20 10:00:00") && l.contains("B B B"),
        "{l}"
    );
    let l = line_with(stdout, "https://new.example/");
    assert!(
        l.contains("2026-11-22 10:00:00") && l.contains(". . B"),
        "{l}"
    );
    let l = line_with(stdout, "https://unblocked.example/");
    assert!(
        l.trim_start().starts_with("accessible") && l.contains("B B ."),
        "{l}"
    );
    let l = line_with(stdout, "https://down.example/");
    assert!(
        l.trim_start().starts_with("down") && l.contains(". . d"),
        "{l}"
    );
    assert!(
        stdout.contains("B blocked, . accessible, d down, ? unknown"),
        "{stdout}"
    );
    let targets = stdout.split("TARGET  [METHODS]").nth(1).unwrap();
    let first_accessible = targets.find("\n  accessible").unwrap();
    let last_blocked = targets.rfind("\n  blocked").unwrap();
    assert!(last_blocked < first_accessible, "blocked first:\n{targets}");
}

#[test]
fn terminal_summary_changes_since_when_and_warnings() {
    let work = Workdir::new();
    let (out, f2, f3) = results_dir(&work);
    let (code, stdout, stderr) = report(&["--results", out.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}\n{stdout}");
    check_terminal(&stdout);
    for (file, line) in [(&f2, 3), (&f2, 4), (&f3, 10)] {
        let want = format!("{}:{line}: skipped", file.display());
        assert!(stderr.contains(&want), "want {want:?} in:\n{stderr}");
    }
    assert!(stderr.contains("partial last line"), "{stderr}");
}

fn external_references(page: &str) -> Vec<String> {
    let lower = page.to_ascii_lowercase();
    let mut found = Vec::new();
    // Attributes this page could fetch through (text that merely reads "src=" is escaped and
    // has no quote after it), and the elements a hostile string would need.
    for attr in [
        "src=\"", "src='", "href=\"", "href='", "url(", "@import", "<link", "<script", "<img",
        "<iframe", "<object", "<embed",
    ] {
        let mut from = 0;
        while let Some(i) = lower[from..].find(attr) {
            let at = &page[from + i..(from + i + 60).min(page.len())];
            // A link within the page (to a measurement's evidence) fetches nothing.
            if !(attr.starts_with("href=") && at[attr.len()..].starts_with('#')) {
                found.push(at.to_string());
            }
            from += i + attr.len();
        }
    }
    found
}

#[test]
fn html_page_is_self_contained_and_escaped() {
    let work = Workdir::new();
    let (out, _, _) = results_dir(&work);
    let page_path = work.path("report.html");
    let (code, stdout, stderr) = report(&[
        "--results",
        out.to_str().unwrap(),
        "--html",
        page_path.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    check_terminal(&stdout);
    let page = std::fs::read_to_string(&page_path).unwrap();
    assert!(page.starts_with("<!DOCTYPE html>"));
    assert!(page.contains("<svg") && page.contains("</svg>"));
    assert!(page.contains("aria-label=\"Blocked share per run\""));
    assert!(page.contains("aria-label=\"Blocked share per category\""));
    // The blocked table: one row per blocked target, with since-when, methods and evidence.
    let rows: Vec<&str> = page.split("<tr class=\"blocked-row\">").skip(1).collect();
    assert_eq!(rows.len(), 3, "blocked rows");
    let row = rows
        .iter()
        .find(|r| r.contains("https://blocked.example/"))
        .unwrap();
    assert!(row.contains("2026-11-21 10:00:00"), "{row}");
    assert!(
        row.contains("dns.injection") && row.contains("http.blockpage"),
        "{row}"
    );
    assert!(row.contains("2/3 blocked"), "{row}");
    // Where, when, and each blocked target's evidence behind its measurement_uid.
    let top = page.split("<h2").next().unwrap();
    for want in [
        "vp-report-1",
        ">ZZ<",
        ">AS0<",
        "2026-11-20 10:00:00 to 2026-11-22 10:00:03",
    ] {
        assert!(top.contains(want), "{want} at the top:\n{top}");
    }
    let evidence_uid = uid("2026-11-22 10:00:03", "https://blocked.example/");
    assert!(
        row.contains(&format!("<a href=\"#m-{evidence_uid}\">{evidence_uid}</a>")),
        "{row}"
    );
    let evidence = page.split("<h2 id=\"evidence\">").nth(1).unwrap();
    let ev = evidence
        .split(&format!("<div class=\"ev\" id=\"m-{evidence_uid}\">"))
        .nth(1)
        .expect("the anchor's target")
        .split("</div>")
        .next()
        .unwrap();
    assert!(
        ev.contains(&format!("vantage show {} {evidence_uid}", out.display())),
        "{ev}"
    );
    assert!(ev.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "{ev}");
    assert_eq!(
        evidence.matches("<div class=\"ev\"").count(),
        3,
        "one per blocked target"
    );
    assert!(
        row.contains("&lt;script&gt;alert(1)&lt;/script&gt; of &quot;ISP&quot; &amp; co"),
        "{row}"
    );
    assert!(rows
        .iter()
        .any(|r| r.contains("https://always.example/") && r.contains("2026-11-20 10:00:00")));
    assert!(rows
        .iter()
        .any(|r| r.contains("https://new.example/") && r.contains("2026-11-22 10:00:00")));
    // Hostile strings are text, never markup; nothing is fetched from anywhere.
    assert!(!page.contains("<script>alert(1)"), "unescaped reason");
    assert!(page.contains("&lt;b&gt;CAT&lt;/b&gt;"), "category escaped");
    assert!(page.contains("x.example/&quot;&gt;&lt;img src=http://evil.example/p.png&gt;"));
    assert!(
        external_references(&page).is_empty(),
        "{:?}",
        external_references(&page)
    );
    for scheme in ["\"http://", "\"https://", "'http://", "'https://"] {
        assert!(!page.contains(scheme), "{scheme} in page");
    }
    assert!(page.contains("Content-Security-Policy"));
}

#[test]
fn nothing_to_report_and_bad_usage() {
    let work = Workdir::new();
    let empty = work.path("empty");
    std::fs::create_dir_all(empty.join("2026-11-20")).unwrap();
    std::fs::write(empty.join("2026-11-20/x.jsonl"), "garbage\n").unwrap();
    let (code, _, stderr) = report(&["--results", empty.to_str().unwrap()]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("nothing to report"), "{stderr}");
    assert!(stderr.contains("x.jsonl:1: skipped"), "{stderr}");
    let missing = work.path("missing");
    let (code, _, stderr) = report(&["--results", missing.to_str().unwrap()]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("cannot read results directory"), "{stderr}");
    let (code, _, stderr) = report(&["--no-such-flag"]);
    assert_eq!(code, 2, "{stderr}");
    let (code, _, stderr) = report(&["--clickhouse", "http://127.0.0.1:1/", "--table", "t; DROP"]);
    assert_eq!(code, 2, "{stderr}");
    let (code, _, stderr) = report(&[
        "--clickhouse",
        "http://127.0.0.1:1/",
        "--vantage-point",
        "vp'; DROP",
    ]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("--vantage-point"), "{stderr}");
    // An unwritable page is a failure, after the terminal report.
    let (out, _, _) = results_dir(&work);
    let (code, _, stderr) = report(&[
        "--results",
        out.to_str().unwrap(),
        "--html",
        work.path("no/such/dir/r.html").to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{stderr}");
}

/// A fake ClickHouse on 127.0.0.1: answers `SELECT version()` with `version`, then one query
/// with `rows` (JSONEachRow), and hands back that request.
async fn fake_clickhouse_of(
    version: &'static str,
    rows: String,
) -> (String, tokio::task::JoinHandle<String>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        loop {
            let (mut s, _) = listener.accept().await.unwrap();
            let req = read_request(&mut s).await;
            if req.ends_with("SELECT version()") {
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{version}\n",
                    version.len() + 1
                );
                s.write_all(head.as_bytes()).await.unwrap();
                continue;
            }
            answer_rows(&mut s, &rows).await;
            return req;
        }
    });
    (url, task)
}

/// A fake ClickHouse 18.16 (see `fake_clickhouse_of`).
async fn fake_clickhouse(rows: String) -> (String, tokio::task::JoinHandle<String>) {
    fake_clickhouse_of("18.16.1", rows).await
}

async fn read_request(s: &mut tokio::net::TcpStream) -> String {
    let mut req = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        let n = s.read(&mut buf).await.unwrap();
        req.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&req);
        if let Some(h) = text.find("\r\n\r\n") {
            let len = text[..h]
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse::<usize>().unwrap())
                })
                .unwrap_or(0);
            if req.len() >= h + 4 + len || n == 0 {
                break;
            }
        }
    }
    String::from_utf8_lossy(&req).into_owned()
}

async fn answer_rows(s: &mut tokio::net::TcpStream, rows: &str) {
    let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            rows.len()
        );
    s.write_all(head.as_bytes()).await.unwrap();
    // In two pieces, cutting a row, as a stream would.
    let (a, b) = rows.as_bytes().split_at(rows.len() / 2);
    s.write_all(a).await.unwrap();
    s.flush().await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    s.write_all(b).await.unwrap();
}

fn as_row(r: &Value) -> Value {
    let v = &r["test_keys"]["x_verdict"];
    json!({
        "report_id": r["report_id"],
        "input": r["input"],
        "category_code": r["annotations"]["category_code"].as_str().unwrap_or(""),
        "measurement_start_time": r["measurement_start_time"],
        "status": v["status"],
        "methods": v["methods"],
        "record": if v["status"] == "blocked" { r.to_string() } else { String::new() },
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clickhouse_source_gives_the_same_report() {
    let work = Workdir::new();
    let (out, _, _) = results_dir(&work);
    let mut rows = String::new();
    for file in crate::harness::jsonl_files(&out) {
        for line in std::fs::read_to_string(&file).unwrap().lines() {
            if let Ok(r) = serde_json::from_str::<Value>(line) {
                if r["test_keys"]["x_verdict"].is_object() {
                    rows.push_str(&format!("{}\n", as_row(&r)));
                }
            }
        }
    }
    let (url, server) = fake_clickhouse(rows).await;
    let page = work.path("ch.html");
    let args: Vec<String> = [
        "report",
        "--clickhouse",
        &url,
        "--clickhouse-user",
        "reader",
        "--html",
        page.to_str().unwrap(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let got = vantage(&args, Path::new("/nonexistent")).await;
    assert_eq!(got.code, 0, "{}", got.stderr);
    check_terminal(&got.stdout);
    assert!(
        got.stdout.contains("ClickHouse http://127.0.0.1:"),
        "{}",
        got.stdout
    );
    let request = server.await.unwrap();
    assert!(request.starts_with("POST /"), "{request}");
    assert!(
        request
            .to_ascii_lowercase()
            .contains("x-clickhouse-user: reader"),
        "{request}"
    );
    assert!(
        request.contains("FROM `vantage`.`measurements` FINAL FORMAT JSONEachRow"),
        "{request}"
    );
    let page = std::fs::read_to_string(page).unwrap();
    assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
}

/// A password without a user is the `default` user's, as for `ship` (18.16 refuses a key
/// without a user: "Unknown user").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_without_a_user_is_the_default_users() {
    let row = json!({"report_id": R1, "input": "https://a.example/",
        "measurement_start_time": "2026-11-20 10:00:00", "status": "accessible"});
    let (url, server) = fake_clickhouse(format!("{row}\n")).await;
    let out = tokio::process::Command::new(binary())
        .args(["report", "--clickhouse", &url])
        .env("VANTAGE_CLICKHOUSE_PASSWORD", "pw-default-1")
        .env("VANTAGE_LOG", "warn")
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let request = server.await.unwrap().to_ascii_lowercase();
    assert!(request.contains("x-clickhouse-user: default"), "{request}");
    assert!(
        request.contains("x-clickhouse-key: pw-default-1"),
        "{request}"
    );
}

/// Credentials in the URL are refused (exit 2) and never echoed; an unreachable ClickHouse is
/// exit 1 without the URL's query.
#[test]
fn clickhouse_urls_never_leak_secrets() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port(); // closed again: nothing listens
    for url in [
        format!("http://127.0.0.1:{port}/?password=s3cret"),
        format!("http://reader:s3cret@127.0.0.1:{port}/"),
    ] {
        let (code, stdout, stderr) = report(&["--clickhouse", &url]);
        assert_eq!(code, 2, "{stderr}");
        assert!(stderr.contains("credentials"), "{stderr}");
        assert!(
            !stderr.contains("s3cret") && !stdout.contains("s3cret"),
            "{stderr}"
        );
    }
    let url = format!("http://127.0.0.1:{port}/?quota_key=s3cret");
    let (code, stdout, stderr) = report(&["--clickhouse", &url]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains(&format!("127.0.0.1:{port}")), "{stderr}");
    assert!(
        !stderr.contains("s3cret") && !stdout.contains("s3cret"),
        "{stderr}"
    );
}

/// Rows of several vantage points are not mixed: refused (exit 2) unless one is chosen, and
/// the choice filters in the query.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clickhouse_rows_of_several_vantage_points_need_a_choice() {
    let row = |vp: &str| {
        format!(
            "{}\n",
            json!({"vantage_point": vp, "report_id": R1, "input": "https://a.example/",
                "category_code": "", "measurement_start_time": "2026-11-20 10:00:00",
                "status": "accessible", "methods": [], "record": ""})
        )
    };
    let (url, server) = fake_clickhouse(row("vp-a") + &row("vp-b")).await;
    let args: Vec<String> = ["report", "--clickhouse", &url]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let got = vantage(&args, Path::new("/nonexistent")).await;
    assert_eq!(got.code, 2, "{}", got.stderr);
    assert!(
        got.stderr.contains("rows from 2 vantage points") && got.stderr.contains("--vantage-point"),
        "{}",
        got.stderr
    );
    server.await.unwrap();

    let (url, server) = fake_clickhouse(row("vp-a.1")).await;
    let args: Vec<String> = [
        "report",
        "--clickhouse",
        &url,
        "--database",
        "2024",
        "--vantage-point",
        "vp-a.1",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let got = vantage(&args, Path::new("/nonexistent")).await;
    assert_eq!(got.code, 0, "{}", got.stderr);
    assert!(
        got.stdout.contains("vantage point vp-a.1"),
        "{}",
        got.stdout
    );
    let request = server.await.unwrap();
    assert!(
        request.contains("FROM `2024`.`measurements` FINAL WHERE vantage_point = 'vp-a.1'"),
        "{request}"
    );
    // A server with query parameters gets the name as one.
    let (url, server) = fake_clickhouse_of("26.9.2.1", row("vp-a.1")).await;
    let args: Vec<String> = ["report", "--clickhouse", &url, "--vantage-point", "vp-a.1"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let got = vantage(&args, Path::new("/nonexistent")).await;
    assert_eq!(got.code, 0, "{}", got.stderr);
    let request = server.await.unwrap();
    assert!(request.starts_with("POST /?param_vp=vp-a.1 "), "{request}");
    assert!(
        request.contains("FINAL WHERE vantage_point = {vp:String} FORMAT"),
        "{request}"
    );
    assert!(
        request.contains("toString(measurement_start_time, 'UTC')"),
        "{request}"
    );
}

/// Records written by the real `vantage run` are what the report reads: two runs against the
/// fake internet without a control, the first treating 127.0.0.0/8 as routable (unknown: plain
/// HTTP and no control), the second not (the loopback answer is a bogon: blocked by
/// `dns.bogon`, with its evidence).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_the_records_run_writes() {
    let ca = Ca::new("Vantage Test CA");
    let site = Site::new("ok.test", Tls::Plain, page("OK", 100));
    let addr = serve(site.clone(), &ca, &ca).await;
    let dns = FakeDns::start(HashMap::from([
        (
            "ok.test".to_string(),
            Answer::Addrs(vec!["127.0.0.1".parse().unwrap()]),
        ),
        ("gone.test".to_string(), Answer::NxDomain),
    ]))
    .await;
    let work = Workdir::new();
    let ca_file = work.write("ca.pem", &ca.pem);
    let url = site.url(addr);
    let list = work.write("list.txt", &format!("{url}\nhttp://gone.test/\n"));
    for extra in [&["--testbed-net", "127.0.0.0/8"][..], &[]] {
        let run = vantage(&run_args(&work, &list, &dns, &ca_file, extra), &work.out()).await;
        assert_eq!(run.code, 0, "{}", run.stderr);
        // Keep the runs' start times apart.
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    }
    let out = work.out();
    let html = work.path("run.html");
    let (code, stdout, stderr) = report(&[
        "--results",
        out.to_str().unwrap(),
        "--html",
        html.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(!stderr.contains("skipped"), "{stderr}");
    assert!(stdout.contains("2 runs from"), "{stdout}");
    assert!(stdout.contains(", 2 targets"), "{stdout}");
    let changes = line_with(&stdout, "newly blocked:");
    assert!(
        changes.contains(&url) && changes.contains("unknown -> blocked"),
        "{stdout}"
    );
    let l = line_with(stdout.split("Targets (").nth(1).unwrap(), &url);
    assert!(
        l.trim_start().starts_with("blocked") && l.contains("? B"),
        "{l}"
    );
    assert!(l.contains("[dns.bogon]"), "{l}");
    let page = std::fs::read_to_string(html).unwrap();
    let row = page.split("<tr class=\"blocked-row\">").nth(1).unwrap();
    assert!(
        row.contains(&url) && row.contains("dns.bogon") && row.contains("<li>"),
        "{row}"
    );
}

/// A control outage is not news: a run with a working control (lie.test blocked by a forged
/// DNS answer, ok.test accessible), then one with a control nobody listens on (everything
/// unknown). `report` lists no change, keeps lie.test blocked as what is known (saying the
/// last run could not tell), marks the second run as the one whose control failed, and the
/// HTML's "unblocked" card stays at 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_control_outage_is_not_reported_as_unblocking() {
    let ca = Ca::new("Vantage Test CA");
    let ok = Site::new("ok.test", Tls::Plain, page("OK", 100));
    let lie = Site::new("lie.test", Tls::Plain, page("Lie", 100));
    let ok_addr = serve(ok.clone(), &ca, &ca).await;
    let lie_addr = serve(lie.clone(), &ca, &ca).await;
    let lo = |s: &str| Answer::Addrs(vec![s.parse().unwrap()]);
    // The probe's resolver lies about lie.test (nothing listens there); the control's does not.
    let probe_dns = FakeDns::start(HashMap::from([
        ("ok.test".to_string(), lo("127.0.0.1")),
        ("lie.test".to_string(), lo("127.0.0.66")),
    ]))
    .await;
    let control_dns = FakeDns::start(HashMap::from([
        ("ok.test".to_string(), lo("127.0.0.1")),
        ("lie.test".to_string(), lo("127.0.0.1")),
    ]))
    .await;
    let work = Workdir::new();
    let ca_file = work.write("ca.pem", &ca.pem);
    let helper = crate::harness::Helper::start(&[
        "--resolver",
        &control_dns.addr.to_string(),
        "--ca-file",
        ca_file.to_str().unwrap(),
        "--allow-private",
    ])
    .await;
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_url = format!("http://{}/", dead.local_addr().unwrap());
    drop(dead);
    let (ok_url, lie_url) = (ok.url(ok_addr), lie.url(lie_addr));
    let list = work.write("list.txt", &format!("{ok_url}\n{lie_url}\n"));
    for control in [helper.url(), dead_url] {
        let extra = ["--control", &control, "--testbed-net", "127.0.0.0/24"];
        let run = vantage(
            &run_args(&work, &list, &probe_dns, &ca_file, &extra),
            &work.out(),
        )
        .await;
        assert_eq!(run.code, 0, "{}", run.stderr);
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    }
    let records = crate::harness::read_records(&work.out());
    let verdicts: Vec<(String, String)> = records
        .iter()
        .map(|r| {
            let v = &r["test_keys"]["x_verdict"]["status"];
            (
                r["input"].as_str().unwrap().to_string(),
                v.as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(
        verdicts.contains(&(lie_url.clone(), "blocked".into()))
            && verdicts.contains(&(ok_url.clone(), "accessible".into()))
            && verdicts.iter().filter(|(_, v)| v == "unknown").count() == 2,
        "the scenario: {verdicts:?}"
    );
    let out = work.out();
    let html = work.path("outage.html");
    let (code, stdout, stderr) = report(&[
        "--results",
        out.to_str().unwrap(),
        "--html",
        html.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(!stdout.contains("unblocked:"), "{stdout}");
    assert!(!stdout.contains("-> unknown"), "{stdout}");
    let changes = stdout
        .split("Changes since the previous run")
        .nth(1)
        .unwrap();
    let changes = changes.split("Targets (").next().unwrap();
    assert!(changes.contains("  none"), "{changes}");
    assert!(
        line_with(&stdout, "last run:").contains("control failed for 2/2 targets"),
        "{stdout}"
    );
    let targets = stdout.split("Targets (").nth(1).unwrap();
    let l = line_with(targets, &lie_url);
    assert!(l.trim_start().starts_with("blocked"), "what we know: {l}");
    assert!(l.contains("B ?") && l.contains("last run: unknown"), "{l}");
    let page = std::fs::read_to_string(html).unwrap();
    let unblocked = page
        .split("unblocked in the last run")
        .next()
        .unwrap()
        .rsplit("<b>")
        .next()
        .unwrap();
    assert!(
        unblocked.starts_with("0</b>"),
        "the unblocked card: {unblocked:.40}"
    );
    assert!(
        page.contains("control failed for 2/2 targets"),
        "run marked in the page"
    );
    // The chart does not draw the outage as a run where nothing was blocked.
    let chart = page
        .split("aria-label=\"Blocked share per run\"")
        .nth(1)
        .unwrap();
    let chart = chart.split("</svg>").next().unwrap();
    assert!(chart.contains(">control failed</text>"), "{chart}");
    // (a bar's share label, not the axis's 0%)
    assert!(!chart.contains("fill=\"#1d2330\">0%</text>"), "{chart}");
}

/// The fleet store as users run it: the records shipped by `vantage ship` into a real
/// ClickHouse (each server), then `report --clickhouse` gives the same report as the files,
/// for the chosen vantage point, with the control's state read from the stored records.
async fn report_from_a_real_clickhouse(server: crate::harness::clickhouse::Server) {
    use crate::harness::clickhouse::{ClickHouse, PASSWORD, USER};
    let Some(ch) = ClickHouse::start(server, "report_from_a_real_clickhouse").await else {
        return;
    };
    let work = Workdir::new();
    let (out, _, _) = results_dir(&work);
    let env = |args: &[&str]| {
        let out = Command::new(binary())
            .args(args)
            .env("VANTAGE_LOG", "warn")
            .env("VANTAGE_CLICKHOUSE_PASSWORD", PASSWORD)
            .output()
            .unwrap();
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        (
            out.status.code().unwrap_or(-1),
            text(&out.stdout),
            text(&out.stderr),
        )
    };
    let url = ch.url();
    let results = out.to_str().unwrap();
    let (code, stdout, stderr) = env(&[
        "ship",
        "--results",
        results,
        "--clickhouse",
        &url,
        "--clickhouse-user",
        USER,
        "--vantage-point",
        "vp-a.1",
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("shipped 23 rows"), "{stdout}");
    let page = work.path("ch.html");
    let (code, stdout, stderr) = env(&[
        "report",
        "--clickhouse",
        &url,
        "--clickhouse-user",
        USER,
        "--vantage-point",
        "vp-a.1",
        "--html",
        page.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    check_terminal(&stdout);
    assert!(stdout.contains("vantage point vp-a.1"), "{stdout}");
    assert!(
        line_with(&stdout, "last run:").contains("no control for 7/7 targets"),
        "the records name no control: {stdout}"
    );
    let page = std::fs::read_to_string(page).unwrap();
    assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    let top = page.split("<h2").next().unwrap();
    assert!(top.contains(">vp-a.1<") && top.contains(">AS0<"), "{top}");
    // Another vantage point's rows: none.
    let (code, _, stderr) = env(&[
        "report",
        "--clickhouse",
        &url,
        "--clickhouse-user",
        USER,
        "--vantage-point",
        "vp-c",
    ]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("nothing to report"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_reads_what_ship_stored_in_clickhouse_18() {
    report_from_a_real_clickhouse(crate::harness::clickhouse::Server::Debian).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_reads_what_ship_stored_in_clickhouse_26() {
    report_from_a_real_clickhouse(crate::harness::clickhouse::Server::Chdb).await;
}

pub const CHROMIUM: &str = "/usr/bin/chromium-headless-shell";

/// The page as a real browser reads it (headless Chromium, installed by `.ci/run`): the parsed
/// document has no element a hostile string would need (the hostile input and reason are text
/// in it), the blocked rows and the evidence anchors are there, and it draws (a screenshot is
/// written next to the page for a human to look at). Without Chromium: a SKIPPED banner (a
/// failure when `CI` is set).
#[test]
fn headless_chromium_parses_the_page_as_text_and_draws_it() {
    if !Path::new(CHROMIUM).exists() {
        let why = format!("{CHROMIUM} is not installed");
        assert!(std::env::var_os("CI").is_none(), "CI is set: {why}");
        let bar = "!".repeat(78);
        eprintln!(
            "\n{bar}\n!! SKIPPED: the headless-Chromium check of the HTML report: {why}.\n{bar}\n"
        );
        return;
    }
    let work = Workdir::new();
    let (out, _, _) = results_dir(&work);
    let page = work.path("report.html");
    let (code, _, stderr) = report(&[
        "--results",
        out.to_str().unwrap(),
        "--html",
        page.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    let chromium = |extra: &str| {
        let out = Command::new(CHROMIUM)
            .args([
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
                "--window-size=1280,2400",
            ])
            .arg(extra)
            .arg(format!("file://{}", page.display()))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let dom = chromium("--dump-dom");
    for element in ["<img", "<script", "<iframe", "<object", "<embed", "<link"] {
        assert!(!dom.contains(element), "{element} in the parsed page");
    }
    assert!(
        dom.contains("&lt;img src=http://evil.example/p.png&gt;"),
        "the input is text"
    );
    assert!(
        dom.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "the reason is text"
    );
    assert_eq!(dom.matches("<tr class=\"blocked-row\">").count(), 3);
    assert_eq!(dom.matches("<div class=\"ev\" id=\"m-").count(), 3);
    let shot = work.path("report.png");
    chromium(&format!("--screenshot={}", shot.display()));
    let png = std::fs::read(&shot).expect("a screenshot");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 20_000,
        "{} bytes",
        png.len()
    );
}

#[test]
fn html_to_a_dash_is_the_page_on_stdout_and_no_file() {
    let work = Workdir::new();
    let (out, _, _) = results_dir(&work);
    let run = Command::new(binary())
        .args(["report", "--results", out.to_str().unwrap(), "--html", "-"])
        .current_dir(work.dir.path())
        .env("VANTAGE_LOG", "warn")
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr),
    );
    assert_eq!(run.status.code(), Some(0), "{stderr}");
    assert!(!work.path("-").exists(), "a file named - was written");
    // stdout is the page alone (pipe it to a file or a browser); the terminal report, on
    // stderr, is still there for the person running it.
    assert!(stdout.starts_with("<!DOCTYPE html>"), "{:.200}", stdout);
    assert!(stdout.trim_end().ends_with("</html>"), "{:.200}", stdout);
    check_terminal(&stderr);
    assert!(!stderr.contains("HTML report written"), "{stderr}");

    // A page that cannot be written (`> page.html` on a full disk) is a failure, not exit 0
    // with nothing written.
    let full = Command::new(binary())
        .args(["report", "--results", out.to_str().unwrap(), "--html", "-"])
        .stdout(std::fs::File::create("/dev/full").unwrap())
        .env("VANTAGE_LOG", "warn")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&full.stderr);
    assert_eq!(full.status.code(), Some(1), "{err}");
    assert!(err.contains("cannot write to stdout"), "{err}");
}

/// Streaks and changes compare runs of one vantage point: a results directory holding two
/// vantage points' records (or two networks' run records) is refused, as the fleet store's rows
/// are, naming them; `--vantage-point` picks one. Before, a blocked run from one network and an
/// accessible run from another read as "unblocked".
#[test]
fn a_directory_mixing_vantage_points_is_refused_or_filtered() {
    let work = Workdir::new();
    let out = work.out();
    let day = out.join("2026-11-20");
    std::fs::create_dir_all(&day).unwrap();
    let t1 = "2026-11-20 10:00:00";
    let t2 = "2026-11-21 10:00:00";
    let blocked = record("r1", "https://x.example/", t1, None, "blocked");
    let mut elsewhere = record("r2", "https://x.example/", t2, None, "accessible");
    elsewhere["annotations"]["vantage_point"] = json!("vp-other");
    elsewhere["probe_cc"] = json!("IT");
    std::fs::write(day.join("r1.jsonl"), lines(&[blocked])).unwrap();
    std::fs::write(day.join("r2.jsonl"), lines(&[elsewhere])).unwrap();
    let dir = out.to_str().unwrap();

    let (code, stdout, stderr) = report(&["--results", dir]);
    assert_eq!(code, 2, "{stdout}{stderr}");
    assert!(!stdout.contains("unblocked"), "{stdout}");
    assert!(
        stderr.contains("2 vantage points or networks")
            && stderr.contains("vp-other IT AS0")
            && stderr.contains("vp-report-1 ZZ AS0")
            && stderr.contains("--vantage-point"),
        "{stderr}"
    );

    let (code, stdout, stderr) = report(&["--results", dir, "--vantage-point", "vp-other"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("1 run from") && stdout.contains("1 target\n"),
        "{stdout}"
    );
    assert!(!stdout.contains("unblocked:"), "{stdout}");
}
