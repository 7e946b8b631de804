//! Inputs that used to panic the probe or make a measurement vanish: an over-long URI (from a
//! redirect, a list line, a helper request), absurd numbers in flags and daemon configs, an
//! https URL with an IPv6 literal, and a stdout whose reader went away.

use std::collections::HashMap;
use std::process::Stdio;
use std::time::Duration;

use serde_json::{json, Value};

use crate::harness::web::{page, serve, serve_on};
use crate::harness::{binary, client, run_args, vantage, Answer, Ca, FakeDns, Helper};
use crate::harness::{Reply, Site, Tls, Workdir};

/// An ok site and a DNS that knows it, and `more` names, all on 127.0.0.1:
/// (CA, DNS, the site's URL).
async fn ok_site(more: &[&str]) -> (Ca, FakeDns, String) {
    let ca = Ca::new("Vantage Test CA");
    let site = Site::new("ok.test", Tls::Plain, page("OK", 100));
    let addr = serve(site.clone(), &ca, &ca).await;
    let lo = Answer::Addrs(vec!["127.0.0.1".parse().unwrap()]);
    let zone = more
        .iter()
        .chain(&["ok.test"])
        .map(|n| (n.to_string(), lo.clone()))
        .collect::<HashMap<_, _>>();
    let dns = FakeDns::start(zone).await;
    (ca, dns, site.url(addr))
}

fn failure(v: &Value) -> String {
    v["failure"].as_str().unwrap_or("null").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_over_long_uri_is_recorded_never_lost() {
    let (ca, dns, ok) = ok_site(&["long.test"]).await;
    // A 302 (an injected one looks the same) whose Location is 70 KiB long.
    let long = Site::new(
        "long.test",
        Tls::Plain,
        Reply::Redirect {
            code: 302,
            location: format!("{ok}{}", "a".repeat(70 * 1024)),
        },
    );
    let long_addr = serve(long.clone(), &ca, &ca).await;
    let work = Workdir::new();
    let ca_file = work.write("ca.pem", &ca.pem);
    // Line 2 is 30 000 bytes, under the reader's 64 KiB line cap, but `"` percent-encodes to
    // three bytes: the URL is 90 KB.
    let list = work.write(
        "list.txt",
        &format!(
            "{}\n{ok}{}\n{ok}\n",
            long.url(long_addr),
            "\"".repeat(30_000)
        ),
    );
    let out = vantage(&run_args(&work, &list, &dns, &ca_file, &[]), &work.out()).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let want = format!("{}:2: ", list.display());
    let hit = out.stderr.lines().find(|l| l.starts_with(&want));
    assert!(
        hit.is_some_and(|l| l.contains("longer than")),
        "want {want}... longer than ... in:\n{:.2000}",
        out.stderr
    );
    assert_eq!(
        out.records.len(),
        2,
        "the redirect and the ok URL each have a record:\n{:.2000}",
        out.stderr
    );
    let r = out.record(&long.url(long_addr));
    let hop = &r["test_keys"]["requests"][0];
    let keys = &r["test_keys"];
    assert_eq!(hop["response"]["code"], 302, "{:.1500}", keys.to_string());
    assert!(failure(hop).contains("longer than"), "{}", failure(hop));
    assert!(
        out.stdout.contains("(1 bad line skipped)"),
        "{}",
        out.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_helper_answers_an_over_long_url_with_a_failure() {
    let (ca, dns, ok) = ok_site(&[]).await;
    let work = Workdir::new();
    let ca_file = work.write("ca.pem", &ca.pem);
    let resolver = dns.addr.to_string();
    let helper = Helper::start(&[
        "--resolver",
        &resolver,
        "--ca-file",
        ca_file.to_str().unwrap(),
        "--allow-private",
    ])
    .await;
    // Under the helper's 64 KiB body cap, but each `é` percent-encodes to six bytes.
    let url = format!("{ok}{}", "é".repeat(30_000));
    let resp = client()
        .post(helper.url())
        .json(&json!({"http_request": url, "tcp_connect": []}))
        .send()
        .await
        .expect("the helper answers instead of dropping the connection");
    assert_eq!(resp.status(), 200);
    let answer: Value = resp.json().await.unwrap();
    let f = failure(&answer["http_request"]);
    assert!(f.contains("longer than"), "{answer:.500}");
    // And it still serves.
    let again = client()
        .post(helper.url())
        .json(&json!({"http_request": ok, "tcp_connect": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 200);
}

/// Runs `vantage ARGS` with a time limit; (status, stderr).
async fn refused(args: &[&str]) -> (Option<i32>, String) {
    let out = tokio::time::timeout(
        Duration::from_secs(20),
        tokio::process::Command::new(binary())
            .args(args)
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .unwrap_or_else(|_| panic!("{args:?} still running after 20 s"))
    .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn absurd_numbers_exit_2_naming_the_flag() {
    let work = Workdir::new();
    let list = work.write("list.txt", "http://x.test:9/\n");
    let out = work.out();
    let base = [
        "run",
        "--targets",
        list.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--resolver",
        "127.0.0.1:9",
        "--rate",
        "0",
    ];
    let huge = "10000000000000000000s";
    let cases = [
        ("--parallel", "2305843009213693951"),
        ("--parallel", "1000000"),
        ("--timeout", huge),
        ("--deadline", huge),
        ("--dns-wait", huge),
        ("--timeout", "500000000000y"),
        ("--max-addrs", "18446744073709551615"),
    ];
    for (flag, value) in cases {
        let mut args = base.to_vec();
        args.extend([flag, value]);
        let (code, err) = refused(&args).await;
        assert_eq!(code, Some(2), "{flag} {value}: {err:.1500}");
        assert!(err.contains(flag), "{flag}: {err:.1500}");
        assert!(
            err.contains("at most"),
            "{flag}: the limit is stated: {err}"
        );
        assert!(!err.contains("panicked"), "{err}");
    }
    // The config file's keys are held to the same limits.
    let file = work.write("vantage.toml", "[run]\nparallel = 99999999\n");
    let mut args = base.to_vec();
    args.extend(["--config", file.to_str().unwrap()]);
    let (code, err) = refused(&args).await;
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("parallel"), "{err}");

    // The helper's.
    for (flag, value) in [
        ("--max-inflight", "2305843009213693951"),
        ("--timeout", huge),
    ] {
        let (code, err) = refused(&[
            "helper",
            "--listen",
            "127.0.0.1:0",
            "--resolver",
            "127.0.0.1:9",
            flag,
            value,
        ])
        .await;
        assert_eq!(code, Some(2), "helper {flag}: {err}");
        assert!(err.contains(flag), "{err}");
    }

    // The daemon's durations, from `vantage daemon` and `vantage status` alike.
    let head = "results = \"results\"\n[run]\nresolver = \"127.0.0.1:9\"\n";
    let sched = "[[schedule]]\nname = \"x\"\ntargets = [\"list.txt\"]\n";
    let cases = [
        (
            format!("{head}{sched}every = \"1h\"\nspacing = \"{huge}\"\n"),
            "spacing",
        ),
        (format!("{head}{sched}every = \"{huge}\"\n"), "every"),
        (
            format!("{head}{sched}every = \"1h\"\njitter = \"{huge}\"\n"),
            "jitter",
        ),
        (
            format!("grace = \"{huge}\"\n{head}{sched}every = \"1h\"\n"),
            "grace",
        ),
        (
            format!("{head}timeout = \"{huge}\"\n{sched}every = \"1h\"\n"),
            "timeout",
        ),
        (
            format!("{head}parallel = 99999999\n{sched}every = \"1h\"\n"),
            "parallel",
        ),
    ];
    for (text, key) in cases {
        let config = work.write("daemon.toml", &text);
        for command in ["status", "daemon"] {
            let (code, err) = refused(&[command, "--config", config.to_str().unwrap()]).await;
            assert_eq!(code, Some(2), "{command} {key}: {err}");
            assert!(err.contains(key), "{command} {key}: {err}");
            assert!(err.contains("daemon.toml"), "{err}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_to_an_ipv6_literal_validates_and_fetches() {
    if std::net::TcpListener::bind("[::1]:0").is_err() {
        eprintln!("SKIPPED https_to_an_ipv6_literal_validates_and_fetches: ::1 is unavailable");
        return;
    }
    let ca = Ca::new("Vantage Test CA");
    // The certificate names the address (an IP SAN), as certificates for IPs do.
    let site = Site::new("::1", Tls::Valid, page("Over IPv6", 500));
    let addr = serve_on("[::1]:0".parse().unwrap(), site, &ca, &ca).await;
    let dns = FakeDns::start(HashMap::new()).await;
    let work = Workdir::new();
    let ca_file = work.write("ca.pem", &ca.pem);
    let url = format!("https://[::1]:{}/", addr.port());
    let list = work.write("list.txt", &format!("{url}\n"));
    let out = vantage(&run_args(&work, &list, &dns, &ca_file, &[]), &work.out()).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let r = out.record(&url);
    let hs = &r["test_keys"]["tls_handshakes"][0];
    assert_eq!(hs["failure"], Value::Null, "{hs}");
    assert_eq!(hs["x_certificate_valid"], true, "{hs}");
    assert_eq!(hs["server_name"], "::1");
    let req = &r["test_keys"]["requests"][0];
    assert_eq!(req["response"]["code"], 200, "{req:.500}");
    assert_eq!(req["response"]["x_title"], "Over IPv6");
}

/// Runs `vantage ARGS` with stdout a pipe whose reading end is already closed.
fn with_closed_stdout(args: &[&str]) -> std::process::Output {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    std::process::Command::new(binary())
        .args(args)
        .stdin(Stdio::null())
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_that_went_away_is_not_a_crash() {
    let (ca, dns, ok) = ok_site(&[]).await;
    let work = Workdir::new();
    let ca_file = work.write("ca.pem", &ca.pem);
    let list = work.write("list.txt", &format!("{ok}\n"));
    let config = work.write(
        "daemon.toml",
        &format!(
            "results = \"results\"\n[run]\nresolver = \"{}\"\n[[schedule]]\nname = \"x\"\n\
             targets = [\"list.txt\"]\nevery = \"1h\"\n",
            dns.addr
        ),
    );
    let run = run_args(&work, &list, &dns, &ca_file, &[]);
    let owned = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<String>>();
    let cases: [Vec<String>; 3] = [
        owned(&["status", "--config", config.to_str().unwrap()]),
        run,
        owned(&["report", "--results", work.out().to_str().unwrap()]),
    ];
    for args in cases {
        let argv = args.clone();
        let out = tokio::task::spawn_blocking(move || {
            with_closed_stdout(&argv.iter().map(String::as_str).collect::<Vec<_>>())
        })
        .await
        .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
    assert_eq!(
        crate::harness::read_records(&work.out()).len(),
        1,
        "the run's record is written whatever became of its stdout"
    );
}
