//! `vantage ship` against a real ClickHouse, each test on both servers (Debian's
//! clickhouse-server 18.16, and ClickHouse 26.9 from chdb-core, both installed by `.ci/run`),
//! that each test starts on 127.0.0.1 with free ports and its own data directory: records
//! ship with the right fields into a schema created on first use; shipping again, or again
//! from scratch, duplicates nothing; a torn last line waits until it is whole; SIGKILLing
//! ClickHouse while `vantage ship --follow` streams and restarting it loses and duplicates
//! nothing; an unreachable ClickHouse is exit 1 with no password in the message.
//! Without clickhouse-server the ClickHouse tests print a SKIPPED banner (and fail when `CI`
//! is set). Every test is bounded in time and kills what it started on drop.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::clickhouse::{free_port, ClickHouse, Server, PASSWORD, USER};
use crate::harness::web::{page, serve};
use crate::harness::{binary, run_args, vantage, Answer, Ca, FakeDns, Site, Tls, Workdir};

const TEST_LIMIT: Duration = Duration::from_secs(240);

/// What one `vantage ship` did.
struct Shipped {
    code: i32,
    stdout: String,
    stderr: String,
}

async fn ship(out: &Path, url: &str, extra: &[&str], password: Option<&str>) -> Shipped {
    let mut cmd = tokio::process::Command::new(binary());
    cmd.arg("ship")
        .arg("--results")
        .arg(out)
        .args(["--clickhouse", url, "--vantage-point", "vp-test-1"])
        .args(extra)
        .stdin(Stdio::null())
        .env("VANTAGE_LOG", "warn")
        .env_remove("VANTAGE_CLICKHOUSE_PASSWORD")
        .kill_on_drop(true);
    if let Some(p) = password {
        cmd.env("VANTAGE_CLICKHOUSE_PASSWORD", p);
    }
    let output = tokio::time::timeout(Duration::from_secs(90), cmd.output())
        .await
        .expect("vantage ship ends within 90 s")
        .expect("the binary runs");
    Shipped {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// A real run against the fake internet: three records in `work`'s results directory.
async fn real_run(work: &Workdir) -> Vec<Value> {
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
    let url = site.url(addr);
    let ca_file = work.write("ca.pem", &ca.pem);
    let list = work.write(
        "list.csv",
        &format!(
            "url,category_code,category_description,date_added,source,notes\n\
             {url},NEWS,News,2026-01-01,x,\n{url}page2,GRP,Groups,2026-01-01,x,\n\
             http://gone.test/,HUMR,Human rights,2026-01-01,x,\n"
        ),
    );
    let out = vantage(&run_args(work, &list, &dns, &ca_file, &[]), &work.out()).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.records.len(), 3, "{}", out.stderr);
    out.records
}

/// A copy of `template` with its own uid, input and verdict: one more whole line.
fn synthetic(template: &Value, n: usize) -> String {
    let mut r = template.clone();
    r["measurement_uid"] = format!("20261123100000.{n:06}_ZZ_webconnectivity_{n:016x}").into();
    r["input"] = format!("https://site{}.example/", n % 37).into();
    r["probe_cc"] = ["CN", "IR", "RU"][n % 3].into();
    r["test_keys"]["x_verdict"] = if n.is_multiple_of(2) {
        serde_json::json!({"status": "blocked", "methods": ["dns.bogon", "tls.reset"], "reasons": ["x"]})
    } else {
        serde_json::json!({"status": "accessible", "methods": [], "reasons": []})
    };
    let mut line = serde_json::to_string(&r).unwrap();
    line.push('\n');
    line
}

fn append(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

fn lines_in(out: &Path) -> usize {
    crate::harness::read_records(out).len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_ship_with_their_fields_once_and_a_torn_line_waits() {
    tokio::time::timeout(TEST_LIMIT, records_ship_body(Server::Debian))
        .await
        .expect("the test ends in time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_ship_with_their_fields_once_and_a_torn_line_waits_on_clickhouse_26() {
    tokio::time::timeout(TEST_LIMIT, records_ship_body(Server::Chdb))
        .await
        .expect("the test ends in time");
}

async fn records_ship_body(server: Server) {
    let Some(ch) = ClickHouse::start(server, "records_ship_with_their_fields_once").await else {
        return;
    };
    let work = Workdir::new();
    let records = real_run(&work).await;
    let out = work.out();
    let (out_dir, url, user, pw) = (out.clone(), ch.url(), ["--clickhouse-user", USER], PASSWORD);

    // Schema created on first use; three rows go out.
    let first = ship(&out_dir, &url, &user, Some(pw)).await;
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert!(first.stdout.contains("shipped 3 rows"), "{}", first.stdout);
    assert!(!first.stderr.contains(PASSWORD) && !first.stdout.contains(PASSWORD));
    let engine = ch
        .query(
            "SELECT engine FROM system.tables WHERE database = 'vantage' AND name = 'measurements'",
        )
        .await;
    assert_eq!(engine, "ReplacingMergeTree");
    let columns = ch
        .query("SELECT name, type FROM system.columns WHERE database = 'vantage' AND table = 'measurements' FORMAT TSV")
        .await;
    let want = "measurement_uid\tString\nvantage_point\tString\nreport_id\tString\ninput\tString\n\
                category_code\tString\nprobe_cc\tString\nprobe_asn\tString\n\
                measurement_start_time\tDateTime\nstatus\tString\nmethods\tArray(String)\n\
                record\tString\nshipped_at\tDateTime";
    assert_eq!(columns, want);
    assert_eq!(ch.final_counts().await, (3, 3));

    // A row's fields match its record; `record` is the line itself.
    let file = crate::harness::jsonl_files(&out).remove(0);
    let text = std::fs::read_to_string(&file).unwrap();
    for (line, rec) in text.lines().zip(&records) {
        let uid = rec["measurement_uid"].as_str().unwrap();
        assert!(uid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._".contains(&b)));
        let row: Value = serde_json::from_str(
            &ch.query(&format!(
                "SELECT measurement_uid, vantage_point, report_id, input, category_code, \
                 probe_cc, probe_asn, toString(measurement_start_time, 'UTC') AS start, status, \
                 methods, record FROM vantage.measurements FINAL WHERE measurement_uid = '{uid}' \
                 FORMAT JSONEachRow"
            ))
            .await,
        )
        .unwrap();
        assert_eq!(row["vantage_point"], "vp-test-1");
        assert_eq!(row["report_id"], rec["report_id"]);
        assert_eq!(row["input"], rec["input"]);
        assert_eq!(row["category_code"], rec["annotations"]["category_code"]);
        assert_eq!(row["probe_cc"], rec["probe_cc"]);
        assert_eq!(row["probe_asn"], rec["probe_asn"]);
        assert_eq!(row["start"], rec["measurement_start_time"]);
        assert_eq!(row["status"], rec["test_keys"]["x_verdict"]["status"]);
        assert_eq!(row["methods"], rec["test_keys"]["x_verdict"]["methods"]);
        assert_eq!(row["record"].as_str().unwrap(), line);
    }
    let cats: HashSet<String> = ch
        .query("SELECT category_code FROM vantage.measurements FINAL ORDER BY category_code FORMAT TSV")
        .await
        .lines()
        .map(String::from)
        .collect();
    assert_eq!(
        cats,
        HashSet::from(["NEWS", "GRP", "HUMR"].map(String::from))
    );

    // Shipping again sends nothing: not even a physical duplicate.
    let again = ship(&out_dir, &url, &user, Some(pw)).await;
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(again.stdout.contains("shipped 0 rows"), "{}", again.stdout);
    assert_eq!(
        ch.number("SELECT count() FROM vantage.measurements").await,
        3
    );

    // A torn last line (no newline yet) is not shipped until it is whole.
    let template = &records[0];
    let extra = synthetic(template, 1);
    let (head, tail) = extra.split_at(extra.len() / 2);
    append(&file, head);
    let torn = ship(&out_dir, &url, &user, Some(pw)).await;
    assert_eq!(torn.code, 0, "{}", torn.stderr);
    assert!(torn.stdout.contains("shipped 0 rows"), "{}", torn.stdout);
    assert_eq!(ch.final_counts().await, (3, 3));
    append(&file, tail);
    // A new file on another day ships too.
    let other = out.join("2026-11-24").join("other-run.jsonl");
    append(
        &other,
        &(2..5).map(|n| synthetic(template, n)).collect::<String>(),
    );
    let whole = ship(&out_dir, &url, &user, Some(pw)).await;
    assert_eq!(whole.code, 0, "{}", whole.stderr);
    assert!(whole.stdout.contains("shipped 4 rows"), "{}", whole.stdout);
    assert_eq!(lines_in(&out), 7);
    assert_eq!(ch.final_counts().await, (7, 7));
    assert_eq!(
        ch.number("SELECT count() FROM vantage.measurements").await,
        7
    );

    // Progress lost (a crash between insert and saving it): everything is sent again, and the
    // ReplacingMergeTree read with FINAL or GROUP BY shows no duplicate.
    std::fs::remove_file(out.join(".shipped.json")).unwrap();
    let redo = ship(&out_dir, &url, &user, Some(pw)).await;
    assert_eq!(redo.code, 0, "{}", redo.stderr);
    assert!(redo.stdout.contains("shipped 7 rows"), "{}", redo.stdout);
    assert_eq!(ch.final_counts().await, (7, 7));
    assert_eq!(
        ch.number("SELECT count() FROM (SELECT measurement_uid FROM vantage.measurements GROUP BY measurement_uid)")
            .await,
        7
    );

    // A wrong password: exit 1, ClickHouse's refusal, no password in sight.
    let wrong = "wrong-pw-Kx7-never-printed";
    let refused = ship(&out_dir, &url, &user, Some(wrong)).await;
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    // 18.16 answers 401, 26.9 403 (AUTHENTICATION_FAILED): either fails the pass.
    assert!(
        refused.stderr.contains("401 Unauthorized") || refused.stderr.contains("403 Forbidden"),
        "{}",
        refused.stderr
    );
    assert!(!refused.stderr.contains(wrong), "{}", refused.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_clickhouse_mid_stream_loses_and_duplicates_nothing() {
    tokio::time::timeout(TEST_LIMIT, outage_body(Server::Debian))
        .await
        .expect("the test ends in time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_clickhouse_mid_stream_loses_and_duplicates_nothing_on_clickhouse_26() {
    tokio::time::timeout(TEST_LIMIT, outage_body(Server::Chdb))
        .await
        .expect("the test ends in time");
}

async fn outage_body(server: Server) {
    let Some(mut ch) = ClickHouse::start(server, "killing_clickhouse_mid_stream").await else {
        return;
    };
    let work = Workdir::new();
    let records = real_run(&work).await;
    let out = work.out();
    let template = &records[0];
    let mut follow = tokio::process::Command::new(binary())
        .arg("ship")
        .arg("--results")
        .arg(&out)
        .args(["--clickhouse", &ch.url(), "--vantage-point", "vp-outage"])
        // The old name of --clickhouse-user still works.
        .args(["--user", USER, "--follow", "--poll", "100ms"])
        .env("VANTAGE_CLICKHOUSE_PASSWORD", PASSWORD)
        .env("VANTAGE_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("vantage ship --follow starts");

    // Records keep arriving (two files, as a daemon's runs would write them) while
    // ClickHouse is killed and, a while later, restarted on the same data directory.
    let day = out.join("2026-11-23");
    let files = [day.join("stream-a.jsonl"), day.join("stream-b.jsonl")];
    let mut n = 10;
    let mut write_burst = |count: usize| {
        for _ in 0..count {
            append(&files[n % 2], &synthetic(template, n));
            n += 1;
        }
    };
    for _ in 0..10 {
        write_burst(60);
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    // Wait until some of the stream has arrived, then kill ClickHouse mid-stream.
    let deadline = Instant::now() + Duration::from_secs(60);
    while ch
        .try_query("SELECT count() FROM vantage.measurements")
        .await
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(0)
        == 0
    {
        assert!(Instant::now() < deadline, "nothing shipped in 60 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    write_burst(700);
    let before_kill = ch.number("SELECT count() FROM vantage.measurements").await;
    ch.kill();
    for _ in 0..10 {
        write_burst(50);
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    ch.spawn().await;
    write_burst(123);
    let total = lines_in(&out) as u64;
    assert_eq!(total, 3 + 600 + 700 + 500 + 123);

    // The shipper catches up: every line, once.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (count, uniq) = ch.final_counts().await;
        if count == total {
            assert_eq!(uniq, total, "duplicates after FINAL");
            break;
        }
        assert!(count <= total, "more rows ({count}) than lines ({total})");
        assert!(
            Instant::now() < deadline,
            "caught up with only {count} of {total} rows after 120 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let raw = ch.number("SELECT count() FROM vantage.measurements").await;
    assert!(raw >= total, "{raw} rows stored, {total} lines");
    let uids: HashSet<String> = crate::harness::read_records(&out)
        .iter()
        .map(|r| r["measurement_uid"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(uids.len() as u64, total);
    assert_eq!(
        ch.number("SELECT uniqExact(measurement_uid) FROM vantage.measurements WHERE vantage_point = 'vp-outage'")
            .await,
        total
    );

    // SIGTERM: a last pass, then a clean exit.
    let pid = follow.id().unwrap();
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    let status = tokio::time::timeout(Duration::from_secs(40), follow.wait())
        .await
        .expect("--follow stops within 40 s of SIGTERM")
        .unwrap();
    let mut stderr = String::new();
    if let Some(mut e) = follow.stderr.take() {
        use tokio::io::AsyncReadExt;
        let _ = e.read_to_string(&mut stderr).await;
    }
    assert!(status.success(), "{status}\n{stderr}");
    assert!(
        stderr.contains("next try in"),
        "the outage was seen and retried:\n{stderr}"
    );
    assert!(!stderr.contains(PASSWORD), "{stderr}");
    eprintln!(
        "outage test: {before_kill} rows stored when ClickHouse was killed; {total} lines, \
         {raw} rows stored (before merges), {total} after FINAL, no duplicate"
    );
    assert!(before_kill < total, "ClickHouse was killed mid-stream");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_clickhouse_is_exit_1_without_the_password() {
    let work = Workdir::new();
    let day = work.out().join("2026-11-23");
    append(
        &day.join("r.jsonl"),
        "{\"measurement_uid\":\"u1\",\"input\":\"https://x.example/\"}\n",
    );
    let port = free_port().local_addr().unwrap().port(); // closed again: nothing listens
    let url = format!("http://127.0.0.1:{port}/");
    let secret = "pw-unreachable-9f3e-never-printed";
    let out = ship(&work.out(), &url, &["--user", USER], Some(secret)).await;
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains(&format!("127.0.0.1:{port}")),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains(secret) && !out.stdout.contains(secret));
    assert!(!work.out().join(".shipped.json").exists());

    // Credentials in the URL are refused (exit 2) without being echoed.
    let with_creds = format!("http://{USER}:{secret}@127.0.0.1:{port}/");
    let out = ship(&work.out(), &with_creds, &[], None).await;
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("credentials"), "{}", out.stderr);
    assert!(!out.stderr.contains(secret), "{}", out.stderr);
}

/// `ship` and `report` name the ClickHouse user alike; `ship --user`, the old name, is a
/// hidden alias.
#[test]
fn ship_and_report_name_the_clickhouse_user_alike() {
    for cmd in ["ship", "report"] {
        let out = std::process::Command::new(binary())
            .args([cmd, "--help"])
            .output()
            .unwrap();
        let help = String::from_utf8_lossy(&out.stdout);
        assert!(help.contains("--clickhouse-user <USER>"), "{cmd}: {help}");
        assert!(!help.contains("--user"), "{cmd}: {help}");
    }
}

/// A second shipper on the same results directory (the daemon's, say) holds the lock:
/// `vantage ship` says so and exits 1 without touching anything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_shipper_on_one_results_dir_is_exit_1() {
    let work = Workdir::new();
    let day = work.out().join("2026-11-23");
    append(
        &day.join("r.jsonl"),
        "{\"measurement_uid\":\"u1\",\"input\":\"https://x.example/\"}\n",
    );
    let held = std::fs::File::create(work.out().join(".shipped.lock")).unwrap();
    held.lock().unwrap();
    let port = free_port().local_addr().unwrap().port(); // nothing listens: not contacted
    let out = ship(&work.out(), &format!("http://127.0.0.1:{port}/"), &[], None).await;
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stderr.contains("another shipper"), "{}", out.stderr);
    assert!(!work.out().join(".shipped.json").exists());
    drop(held);
}

/// Behind nginx's default 1 MiB body limit, a 2 MiB record among good ones: the good ones
/// land exactly once, the big one is set aside (warned about by file:line, counted in the
/// output and in the shipping state) and not retried; a second pass ships nothing twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_line_too_big_for_the_front_is_set_aside_and_the_rest_ships_once() {
    tokio::time::timeout(TEST_LIMIT, big_line_body(Server::Debian))
        .await
        .expect("the test ends in time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_line_too_big_for_the_front_is_set_aside_and_the_rest_ships_once_on_clickhouse_26() {
    tokio::time::timeout(TEST_LIMIT, big_line_body(Server::Chdb))
        .await
        .expect("the test ends in time");
}

async fn big_line_body(server: Server) {
    let test = "a_line_too_big_for_the_front_is_set_aside";
    let Some(ch) = ClickHouse::start(server, test).await else {
        return;
    };
    let Some(front) = crate::harness::clickhouse::Front::start(test, &ch).await else {
        return;
    };
    let work = Workdir::new();
    let records = real_run(&work).await;
    let out = work.out();
    let file = out.join("2026-11-23").join("big.jsonl");
    let mut big = records[0].clone();
    big["measurement_uid"] = "20261123100000.000000_ZZ_webconnectivity_b16b16b16b16b16b".into();
    big["test_keys"]["x_padding"] = "x".repeat(2 << 20).into();
    let big_line = serde_json::to_string(&big).unwrap() + "\n";
    let good_before: String = (100..110).map(|n| synthetic(&records[0], n)).collect();
    let good_after: String = (110..120).map(|n| synthetic(&records[0], n)).collect();
    append(&file, &good_before);
    append(&file, &big_line);
    append(&file, &good_after);
    let total_good = 3 + 20;

    let user = ["--user", USER];
    let first = ship(&out, &front.url(), &user, Some(PASSWORD)).await;
    assert_eq!(first.code, 0, "{}\n{}", first.stderr, front.logs());
    assert!(
        first.stdout.contains(&format!("shipped {total_good} rows")),
        "{}\n{}",
        first.stdout,
        first.stderr
    );
    assert!(
        first.stdout.contains("1 line set aside"),
        "{}",
        first.stdout
    );
    assert!(
        first.stderr.contains("big.jsonl:11") && first.stderr.contains("413"),
        "the warning names file:line and the reason:\n{}",
        first.stderr
    );
    assert_eq!(ch.final_counts().await, (total_good, total_good));
    assert_eq!(
        ch.number("SELECT count() FROM vantage.measurements").await,
        total_good,
        "every good line exactly once, not even a physical duplicate"
    );
    let state: Value =
        serde_json::from_slice(&std::fs::read(out.join(".shipped.json")).unwrap()).unwrap();
    let dest = format!("{} vantage.measurements", front.url());
    let aside = &state["set_aside"][&dest];
    assert_eq!(aside["count"], 1, "{state}");
    assert_eq!(aside["lines"][0]["file"], "2026-11-23/big.jsonl", "{state}");
    assert_eq!(aside["lines"][0]["line"], 11, "{state}");
    assert!(
        aside["lines"][0]["bytes"].as_u64().unwrap() > 2 << 20,
        "{state}"
    );
    assert!(
        aside["lines"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("413"),
        "{state}"
    );
    let offsets = &state["destinations"][&dest];
    assert_eq!(
        offsets["2026-11-23/big.jsonl"].as_u64(),
        Some(std::fs::metadata(&file).unwrap().len()),
        "progress moved past the big line: {state}"
    );

    // Nothing is sent again, the big line is not retried.
    let second = ship(&out, &front.url(), &user, Some(PASSWORD)).await;
    assert_eq!(second.code, 0, "{}", second.stderr);
    assert!(
        second.stdout.contains("shipped 0 rows"),
        "{}",
        second.stdout
    );
    assert!(!second.stdout.contains("set aside"), "{}", second.stdout);
    assert!(!second.stderr.contains("big.jsonl:11"), "{}", second.stderr);
    assert_eq!(
        ch.number("SELECT count() FROM vantage.measurements").await,
        total_good
    );

    // A file holding only a big line, in a pass that has shipped nothing yet: the store is
    // asked whether it takes inserts at all (an insert of no rows) before the line is blamed.
    let lone = out.join("2026-11-20").join("lone.jsonl");
    append(&lone, &big_line);
    let third = ship(&out, &front.url(), &user, Some(PASSWORD)).await;
    assert_eq!(third.code, 0, "{}", third.stderr);
    assert!(
        third.stdout.contains("shipped 0 rows") && third.stdout.contains("1 line set aside"),
        "{}\n{}",
        third.stdout,
        third.stderr
    );
    assert!(third.stderr.contains("lone.jsonl:1"), "{}", third.stderr);
    let state: Value =
        serde_json::from_slice(&std::fs::read(out.join(".shipped.json")).unwrap()).unwrap();
    assert_eq!(state["set_aside"][&dest]["count"], 2, "{state}");
    assert_eq!(
        ch.number("SELECT count() FROM vantage.measurements").await,
        total_good
    );
}
