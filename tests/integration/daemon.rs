//! `vantage daemon` and `vantage status` on the fake internet: a daemon killed with SIGKILL and
//! restarted neither loses nor re-measures finished work; SIGTERM flushes and exits 0; two
//! schedules at a tiny interval never overlap and an overrun is reported; bad configs are
//! refused naming the file and line; a due time saved while the clock ran ahead does not stall
//! the schedule; with a `[clickhouse]` table, every record reaches a real ClickHouse (18.16 and
//! 26.9) exactly once through a SIGKILL and restart of it, including one finished during
//! SIGTERM's grace period. Everything is on 127.0.0.1 and bounded in time.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::daemon::{lines_on_disk, sigterm, start_daemon, wait_for};
use crate::harness::web::{page, serve};
use crate::harness::{
    binary, jsonl_files, read_records, Answer, Ca, FakeDns, Reply, Site, Tls, Workdir,
};

/// The fake internet of these tests: a fast site, a stalling one and a slow one.
struct Net {
    _ca: Ca,
    dns: FakeDns,
    fast: String,
    stall: String,
    slow: String,
}

async fn net() -> Net {
    let ca = Ca::new("Vantage Test CA");
    let fast = Site::new("fast.test", Tls::Plain, page("Fast", 2_000));
    let stall = Site::new("stall.test", Tls::Plain, Reply::Stall);
    let slow = Site::new(
        "slow.test",
        Tls::Plain,
        Reply::Slow {
            size: 3_000,
            chunk: 1_000,
            every: Duration::from_millis(600),
        },
    );
    let (fa, sa, la) = (
        serve(fast.clone(), &ca, &ca).await,
        serve(stall.clone(), &ca, &ca).await,
        serve(slow.clone(), &ca, &ca).await,
    );
    let lo = Answer::Addrs(vec!["127.0.0.1".parse().unwrap()]);
    let dns = FakeDns::start(HashMap::from([
        ("fast.test".to_string(), lo.clone()),
        ("stall.test".to_string(), lo.clone()),
        ("slow.test".to_string(), lo),
    ]))
    .await;
    Net {
        fast: fast.url(fa),
        stall: stall.url(sa),
        slow: slow.url(la),
        dns,
        _ca: ca,
    }
}

/// Writes `daemon.toml` (results and state in the workdir, loopback resolver, test CA).
fn write_config(work: &Workdir, net: &Net, run_extra: &str, schedules: &str) -> PathBuf {
    let ca = work.write("ca.pem", &net._ca.pem);
    work.write(
        "daemon.toml",
        &format!(
            "results = \"results\"\nvantage_point = \"test-vp\"\ngrace = \"1s\"\n\n[run]\n\
             resolver = \"{}\"\nca_file = \"{}\"\nrate = 0\ndns_wait = \"50ms\"\n{run_extra}\n\
             {schedules}",
            net.dns.addr,
            ca.display()
        ),
    )
}

fn start(config: &Path, log: &Path) -> tokio::process::Child {
    start_daemon(config, log, &[])
}

fn state(work: &Workdir, name: &str) -> Value {
    let p = work.out().join(".state").join(format!("{name}.json"));
    serde_json::from_slice(&std::fs::read(&p).unwrap_or_default()).unwrap_or(Value::Null)
}

fn pairs(records: &[Value]) -> Vec<(String, String)> {
    records
        .iter()
        .map(|r| {
            (
                r["input"].as_str().unwrap().to_string(),
                r["annotations"]["repeat"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_then_restart_neither_loses_nor_remeasures() {
    let net = net().await;
    let work = Workdir::new();
    let mut list = String::new();
    for i in 0..10 {
        list.push_str(&format!("{}page{i}\n", net.fast));
    }
    for i in 0..3 {
        list.push_str(&format!("{}page{i}\n", net.stall));
    }
    work.write("list.txt", &list);
    let config = write_config(
        &work,
        &net,
        "timeout = \"4s\"\nparallel = 64",
        "[[schedule]]\nname = \"cn\"\ntargets = [\"list.txt\"]\nevery = \"1h\"\nrepeats = 2\nspacing = \"0s\"\n",
    );
    let mut child = start(&config, &work.path("first.log"));
    // 10 fast targets x 2 repeats finish at once; the 3 x 2 stalled ones are in flight.
    let fast_done = wait_for(Duration::from_secs(10), || lines_on_disk(&work.out()) >= 20).await;
    assert!(
        fast_done,
        "{}",
        std::fs::read_to_string(work.path("first.log")).unwrap()
    );
    assert_eq!(
        lines_on_disk(&work.out()),
        20,
        "the stalled ones are still in flight"
    );
    let before = state(&work, "cn");
    assert!(
        before["current"].is_object(),
        "the cycle in progress is recorded: {before}"
    );
    // A second daemon on the same state would measure everything twice: refused.
    let second = tokio::process::Command::new(binary())
        .args(["daemon", "--config"])
        .arg(&config)
        .stdin(Stdio::null())
        .output()
        .await
        .unwrap();
    let err = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(1), "{err}");
    assert!(err.contains("another vantage daemon"), "{err}");
    let status = tokio::process::Command::new(binary())
        .args(["status", "--config"])
        .arg(&config)
        .output()
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(text.contains("daemon: running"), "{text}");
    assert!(text.contains("in progress: "), "{text}");
    child.start_kill().unwrap(); // SIGKILL
    child.wait().await.unwrap();

    // A kill inside write() can leave a torn line: the restart must cut it.
    let file = jsonl_files(&work.out()).remove(0);
    let mut text = std::fs::read(&file).unwrap();
    text.extend_from_slice(b"{\"schema_version\":1,\"inp");
    std::fs::write(&file, &text).unwrap();

    let mut child = start(&config, &work.path("second.log"));
    let finished = wait_for(Duration::from_secs(20), || {
        state(&work, "cn")["cycles"].as_u64() == Some(1)
    })
    .await;
    let log2 = std::fs::read_to_string(work.path("second.log")).unwrap();
    assert!(finished, "the resumed cycle finishes:\n{log2}");
    sigterm(&child);
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success());
    assert!(log2.contains("resuming an interrupted cycle"), "{log2}");

    let files = jsonl_files(&work.out());
    assert_eq!(files.len(), 1, "the cycle kept its one file: {files:?}");
    let records = read_records(&work.out()); // panics on a partial line
    let got = pairs(&records);
    let unique: HashSet<_> = got.iter().cloned().collect();
    assert_eq!(got.len(), unique.len(), "no (input, repeat) measured twice");
    assert_eq!(got.len(), 26, "13 targets x 2 repeats, none lost");
    for r in &records {
        assert_eq!(r["annotations"]["schedule"], "cn");
        assert_eq!(
            r["report_id"], records[0]["report_id"],
            "one run id per cycle"
        );
    }
    let after = state(&work, "cn");
    assert!(after["current"].is_null(), "{after}");
    assert_eq!(after["history"][0]["measured"], 26);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_flushes_and_exits_0() {
    let net = net().await;
    let work = Workdir::new();
    let mut list = String::new();
    for i in 0..5 {
        list.push_str(&format!("{}page{i}\n{}page{i}\n", net.fast, net.stall));
    }
    work.write("list.txt", &list);
    let config = write_config(
        &work,
        &net,
        "timeout = \"60s\"",
        "[[schedule]]\nname = \"main\"\ntargets = [\"list.txt\"]\nevery = \"1h\"\nspacing = \"0s\"\n",
    );
    let log = work.path("daemon.log");
    let mut child = start_daemon(&config, &log, &["--log-format", "json"]);
    assert!(wait_for(Duration::from_secs(10), || lines_on_disk(&work.out()) >= 5).await);
    let t = Instant::now();
    sigterm(&child);
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("stops within the grace period")
        .unwrap();
    let log = std::fs::read_to_string(&log).unwrap();
    assert_eq!(status.code(), Some(0), "{log}");
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "grace is 1 s: {:?}",
        t.elapsed()
    );
    assert!(log.contains("abandoning 5 measurement"), "{log}");
    for line in log.lines() {
        let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(
            v["level"].is_string() && v["fields"]["message"].is_string(),
            "{line}"
        );
    }
    let records = read_records(&work.out());
    assert_eq!(records.len(), 5, "the finished ones, whole");
    assert!(records
        .iter()
        .all(|r| r["input"].as_str().unwrap().contains("fast.test")));
    assert!(
        state(&work, "main")["current"].is_object(),
        "the interrupted cycle is kept for the next start"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_schedules_never_overlap_and_an_overrun_is_reported() {
    let net = net().await;
    let work = Workdir::new();
    work.write("fast.txt", &format!("{}\n", net.fast));
    // 3 KB at 1 KB per 600 ms: about 1.2 s, longer than the 1 s interval.
    work.write("slow.txt", &format!("{}\n", net.slow));
    let config = write_config(
        &work,
        &net,
        "timeout = \"10s\"",
        "[[schedule]]\nname = \"a\"\ntargets = [\"fast.txt\"]\nevery = \"1s\"\nspacing = \"0s\"\n\n\
         [[schedule]]\nname = \"b\"\ntargets = [\"slow.txt\"]\nevery = \"1s\"\nspacing = \"0s\"\n",
    );
    let log = work.path("daemon.log");
    let mut child = start(&config, &log);
    let enough = wait_for(Duration::from_secs(15), || {
        state(&work, "a")["cycles"].as_u64().unwrap_or(0) >= 3
            && state(&work, "b")["cycles"].as_u64().unwrap_or(0) >= 3
    })
    .await;
    sigterm(&child);
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .unwrap()
        .unwrap();
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(enough, "{log}");
    assert_eq!(status.code(), Some(0), "{log}");

    let mut cycles: Vec<(f64, f64, String)> = Vec::new();
    for name in ["a", "b"] {
        for c in state(&work, name)["history"].as_array().unwrap() {
            cycles.push((
                c["started"].as_f64().unwrap(),
                c["ended"].as_f64().unwrap(),
                name.to_string(),
            ));
        }
    }
    cycles.sort_by(|x, y| x.0.partial_cmp(&y.0).unwrap());
    for w in cycles.windows(2) {
        assert!(w[0].1 <= w[1].0, "cycles overlap: {w:?}");
    }
    assert!(state(&work, "b")["overruns"].as_u64().unwrap() >= 1);
    assert!(log.contains("overran its interval"), "{log}");

    // Past schedule a's next due time (1 s) with the daemon stopped: status says it is
    // overdue because nothing runs, not "now" as if a cycle were starting.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let status = tokio::process::Command::new(binary())
        .args(["status", "--config"])
        .arg(&config)
        .output()
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(status.status.success(), "{text}");
    for want in [
        "schedule a (every 1s",
        "schedule b",
        "last cycle: ",
        "measured",
        "next due: ",
        "overruns: ",
    ] {
        assert!(text.contains(want), "{want:?} missing:\n{text}");
    }
    assert!(text.contains("overran its interval"), "{text}");
    assert!(text.contains("daemon: not running"), "{text}");
    assert!(
        text.contains("(the daemon is not running: it runs when started)"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_configs_name_the_file_and_line() {
    let work = Workdir::new();
    work.write("list.txt", "https://example.test/\n");
    let head =
        "results = \"results\"\n[run]\nresolver = \"127.0.0.1:9\"\n[[schedule]]\nname = \"x\"\n";
    let cases = [
        (
            "targets = [\"list.txt\"]\nevery = \"1h\"\nrepeatz = 2\n",
            "line 8",
            "repeatz",
        ),
        (
            "targets = [\"list.txt\"]\ncron = \"every tuesday\"\n",
            "line 7",
            "cron",
        ),
        (
            "targets = [\"list.txt\", \"nope.txt\"]\nevery = \"1h\"\n",
            "line 6",
            "nope.txt",
        ),
    ];
    for (tail, line, word) in cases {
        let config = work.write("daemon.toml", &format!("{head}{tail}"));
        for command in ["daemon", "status"] {
            let out = tokio::time::timeout(
                Duration::from_secs(10),
                tokio::process::Command::new(binary())
                    .args([command, "--config"])
                    .arg(&config)
                    .stdin(Stdio::null())
                    .output(),
            )
            .await
            .expect("refused at once")
            .unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{command} {tail}: {err}");
            assert!(err.contains(&config.display().to_string()), "{err}");
            assert!(err.contains(line), "{tail}: {err}");
            assert!(err.contains(word), "{err}");
        }
    }
    // `-` is stdout for `vantage run --out -`; a daemon's results are files (and its state
    // lives beside them): before, it made a directory named `-`.
    let config = work.write(
        "daemon.toml",
        &format!(
            "{}targets = [\"list.txt\"]\nevery = \"1h\"\n",
            head.replacen("\"results\"", "\"-\"", 1)
        ),
    );
    let out = tokio::time::timeout(
        Duration::from_secs(10),
        tokio::process::Command::new(binary())
            .args(["daemon", "--config"])
            .arg(&config)
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("refused at once, not run")
    .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("line 1") && err.contains("results"), "{err}");
    assert!(!work.path("-").exists(), "a directory named -");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeats_of_one_host_port_are_spaced() {
    let net = net().await;
    let work = Workdir::new();
    // Two URLs on one host:port, twice each: four measurements, three gaps of 700 ms.
    work.write("list.txt", &format!("{0}a\n{0}b\n", net.fast));
    let config = write_config(
        &work,
        &net,
        "timeout = \"5s\"",
        "[[schedule]]\nname = \"s\"\ntargets = [\"list.txt\"]\nevery = \"1h\"\nrepeats = 2\nspacing = \"700ms\"\n",
    );
    let log = work.path("daemon.log");
    let mut child = start(&config, &log);
    let done = wait_for(Duration::from_secs(15), || {
        state(&work, "s")["cycles"].as_u64() == Some(1)
    })
    .await;
    sigterm(&child);
    child.wait().await.unwrap();
    assert!(done, "{}", std::fs::read_to_string(&log).unwrap());
    let c = &state(&work, "s")["history"][0];
    let took = c["ended"].as_f64().unwrap() - c["started"].as_f64().unwrap();
    assert!(took >= 2.1, "three gaps of 700 ms: took {took:.2} s");
    assert_eq!(c["measured"], 4);
    let mut got = pairs(&read_records(&work.out()));
    got.sort();
    let want: Vec<(String, String)> = ["a", "b"]
        .iter()
        .flat_map(|p| ["1", "2"].map(|r| (format!("{}{p}", net.fast), r.to_string())))
        .collect();
    assert_eq!(got, want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spacing_survives_a_restart() {
    // One URL, two repeats 3 s apart. The daemon is killed in the gap and restarted at once:
    // the resumed second repeat must still wait until 3 s after the first ended.
    let net = net().await;
    let work = Workdir::new();
    work.write("list.txt", &format!("{}\n", net.fast));
    let config = write_config(
        &work,
        &net,
        "timeout = \"5s\"",
        "[[schedule]]\nname = \"s\"\ntargets = [\"list.txt\"]\nevery = \"1h\"\nrepeats = 2\nspacing = \"3s\"\n",
    );
    let log = work.path("daemon.log");
    let mut first = start(&config, &log);
    let one = wait_for(Duration::from_secs(15), || lines_on_disk(&work.out()) == 1).await;
    first.start_kill().unwrap();
    first.wait().await.unwrap();
    assert!(one, "{}", std::fs::read_to_string(&log).unwrap());
    let log2 = work.path("daemon2.log");
    let mut second = start(&config, &log2);
    let two = wait_for(Duration::from_secs(15), || lines_on_disk(&work.out()) == 2).await;
    sigterm(&second);
    second.wait().await.unwrap();
    assert!(two, "{}", std::fs::read_to_string(&log2).unwrap());
    let records = read_records(&work.out());
    let at = |r: &Value| {
        let t = chrono::NaiveDateTime::parse_from_str(
            r["measurement_start_time"].as_str().unwrap(),
            "%Y-%m-%d %H:%M:%S",
        )
        .unwrap();
        t.and_utc().timestamp() as f64
    };
    let (a, b) = (&records[0], &records[1]);
    let gap = at(b) - (at(a) + a["test_runtime"].as_f64().unwrap());
    // Timestamps have 1 s resolution: a true gap of 3 s reads as at least 2 s.
    assert!(
        gap >= 2.0,
        "the restarted daemon forgot the spacing: gap {gap:.2} s"
    );
    let log_text = std::fs::read_to_string(&log2).unwrap();
    assert!(log_text.contains("spacing: 1 recent"), "{log_text}");
}

/// The table the daemon test ships to (not the default: the `[clickhouse]` keys are used).
const CH_TABLE: &str = "vantage.daemon_e2e";
/// The environment variable the daemon test names in `password_env`.
const CH_PASSWORD_ENV: &str = "VANTAGE_TEST_DAEMON_CH_PASSWORD";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemon_ships_through_a_clickhouse_outage_and_its_last_records_on_sigterm() {
    tokio::time::timeout(
        Duration::from_secs(60),
        daemon_ships_body(crate::harness::clickhouse::Server::Debian),
    )
    .await
    .expect("the test ends within 60 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemon_ships_through_a_clickhouse_26_outage_and_its_last_records_on_sigterm() {
    tokio::time::timeout(
        Duration::from_secs(60),
        daemon_ships_body(crate::harness::clickhouse::Server::Chdb),
    )
    .await
    .expect("the test ends within 60 s");
}

async fn daemon_ships_body(server: crate::harness::clickhouse::Server) {
    use crate::harness::clickhouse::{ClickHouse, PASSWORD, USER};
    let Some(mut ch) = ClickHouse::start(server, "daemon_ships_through_a_clickhouse_outage").await
    else {
        return;
    };
    let net = net().await;
    let work = Workdir::new();
    // Three fast pages and one slow one (about 1.2 s): at SIGTERM the slow one is in flight,
    // and its record, written during the grace period, must still be shipped.
    let fast = 3;
    let mut list = String::new();
    for i in 0..fast {
        list.push_str(&format!("{}page{i}\n", net.fast));
    }
    list.push_str(&format!("{}\n", net.slow));
    work.write("list.txt", &list);
    let config = write_config(
        &work,
        &net,
        "timeout = \"10s\"",
        &format!(
            "[[schedule]]\nname = \"e2e\"\ntargets = [\"list.txt\"]\nevery = \"1s\"\nspacing = \"0s\"\n\n\
             [clickhouse]\nurl = \"{}\"\ndatabase = \"vantage\"\ntable = \"daemon_e2e\"\n\
             user = \"{USER}\"\npassword_env = \"{CH_PASSWORD_ENV}\"\n",
            ch.url()
        ),
    );
    // A longer grace than write_config's 1 s, so the slow measurement finishes in it.
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("grace = \"1s\"", "grace = \"5s\"");
    std::fs::write(&config, text).unwrap();
    let log = work.path("daemon.log");
    let mut child = tokio::process::Command::new(binary())
        .args(["daemon", "--config"])
        .arg(&config)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .env("VANTAGE_LOG", "info")
        .env(CH_PASSWORD_ENV, PASSWORD)
        .kill_on_drop(true)
        .spawn()
        .expect("the daemon starts");
    let read_log = || std::fs::read_to_string(&log).unwrap_or_default();

    // Some records measured and some shipped (the shipper polls every 5 s).
    let deadline = Instant::now() + Duration::from_secs(20);
    while lines_on_disk(&work.out()) < 2 * (fast + 1) || rows(&ch).await == 0 {
        assert!(
            Instant::now() < deadline,
            "nothing measured and shipped in 20 s:\n{}",
            read_log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let shipped_before_kill = rows(&ch).await;

    // ClickHouse dies; the daemon keeps measuring (two more cycles) and sees the outage.
    ch.kill();
    let at_kill = lines_on_disk(&work.out());
    let outage_seen = wait_for(Duration::from_secs(15), || {
        lines_on_disk(&work.out()) >= at_kill + 2 * (fast + 1)
            && read_log().contains("shipping failed, next try in")
    })
    .await;
    assert!(outage_seen, "{}", read_log());

    // Back on the same data directory; SIGTERM once a cycle's slow measurement is in flight.
    ch.spawn().await;
    let in_flight = wait_for(Duration::from_secs(10), || {
        let cur = &state(&work, "e2e")["current"];
        cur["file"].as_str().is_some_and(|f| {
            std::fs::read_to_string(f)
                .map(|t| t.lines().count() == fast)
                .unwrap_or(false)
        })
    })
    .await;
    assert!(in_flight, "{}", read_log());
    let t = Instant::now();
    sigterm(&child);
    let status = tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .expect("the daemon stops within 20 s of SIGTERM")
        .unwrap();
    let stderr = read_log();
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("in-flight measurement(s) finished within the grace period"),
        "a measurement was in flight at SIGTERM:\n{stderr}"
    );
    assert!(
        !stderr.contains(PASSWORD),
        "the password is in the log:\n{stderr}"
    );

    // Nothing lost, nothing duplicated: every line of every file is one row after FINAL.
    let records = read_records(&work.out());
    let total = records.len() as u64;
    let uids: HashSet<String> = records
        .iter()
        .map(|r| r["measurement_uid"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(uids.len() as u64, total, "uids in the files are unique");
    assert_eq!(
        ch.final_counts_in(CH_TABLE).await,
        (total, total),
        "rows after FINAL vs lines in the JSONL\n{stderr}"
    );
    let stored: HashSet<String> = ch
        .query(&format!(
            "SELECT measurement_uid FROM {CH_TABLE} FINAL FORMAT TSV"
        ))
        .await
        .lines()
        .map(String::from)
        .collect();
    assert_eq!(stored, uids, "the same uids in ClickHouse as in the files");
    let raw = rows(&ch).await;
    eprintln!(
        "daemon ship test: {shipped_before_kill} rows stored before ClickHouse was killed at \
         {at_kill} lines; {total} lines in {} files, {raw} rows stored (before merges), {total} \
         after FINAL; stopped {:.1} s after SIGTERM",
        jsonl_files(&work.out()).len(),
        t.elapsed().as_secs_f64()
    );
}

/// Rows stored in the test table (before merges); 0 while ClickHouse or the table is missing.
async fn rows(ch: &crate::harness::clickhouse::ClickHouse) -> u64 {
    ch.try_query(&format!("SELECT count() FROM {CH_TABLE}"))
        .await
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_due_time_from_a_clock_that_ran_ahead_does_not_stall() {
    let net = net().await;
    let work = Workdir::new();
    work.write("list.txt", &format!("{}\n", net.fast));
    let config = write_config(
        &work,
        &net,
        "timeout = \"5s\"",
        "[[schedule]]\nname = \"j\"\ntargets = [\"list.txt\"]\nevery = \"1h\"\nspacing = \"0s\"\n",
    );
    // The last cycle ran while the clock said four years ahead, then NTP set it right.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let ahead = now + 4.0 * 365.0 * 86400.0;
    let state_dir = work.out().join(".state");
    std::fs::create_dir_all(&state_dir).unwrap();
    std::fs::write(
        state_dir.join("j.json"),
        serde_json::json!({
            "name": "j",
            "next_due": ahead,
            "current": null,
            "history": [{
                "run_id": "old", "file": "old.jsonl", "started": ahead - 3600.0,
                "ended": ahead - 3500.0, "measured": 1, "overran": false
            }],
            "cycles": 1,
            "overruns": 0
        })
        .to_string(),
    )
    .unwrap();
    let log = work.path("daemon.log");
    let mut child = start(&config, &log);
    let ran = wait_for(Duration::from_secs(15), || {
        state(&work, "j")["cycles"].as_u64() == Some(2)
    })
    .await;
    sigterm(&child);
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .unwrap()
        .unwrap();
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(ran, "the cycle runs now, not in four years:\n{log}");
    assert_eq!(status.code(), Some(0), "{log}");
    assert!(
        log.contains("further ahead than the schedule allows"),
        "{log}"
    );
    let next = state(&work, "j")["next_due"].as_f64().unwrap();
    assert!(
        next < now + 2.0 * 3600.0,
        "next due from the right clock: {next}"
    );
}

/// A listener on 127.0.0.1 that tells the test of each connection it accepts (and holds the
/// connection open, unanswered).
async fn tattletale() -> (
    std::net::SocketAddr,
    tokio::sync::mpsc::UnboundedReceiver<()>,
) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((conn, _)) = listener.accept().await {
            held.push(conn);
            if tx.send(()).is_err() {
                return;
            }
        }
    });
    (addr, rx)
}

/// A target whose measurement kills the daemon (the test SIGKILLs it whenever the target's
/// server sees a connection, as the OOM killer would under `MemoryMax`), with a slow target in
/// flight beside it: after a bounded number of deaths the poison target is recorded as a
/// failed measurement that says why, the slow one is measured for real, and the cycle
/// completes with exactly one record per (input, repeat).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_that_kills_the_daemon_is_recorded_as_failed_and_the_cycle_completes() {
    let mut net = net().await;
    let (poison_addr, mut poison_seen) = tattletale().await;
    let lo = Answer::Addrs(vec!["127.0.0.1".parse().unwrap()]);
    net.dns = FakeDns::start(HashMap::from([
        ("fast.test".to_string(), lo.clone()),
        ("stall.test".to_string(), lo.clone()),
        ("poison.test".to_string(), lo),
    ]))
    .await;
    let poison = format!("http://poison.test:{}/", poison_addr.port());
    let work = Workdir::new();
    let mut list = String::new();
    for i in 0..5 {
        list.push_str(&format!("{}page{i}\n", net.fast));
    }
    list.push_str(&format!("{}page0\n{poison}\n", net.stall));
    work.write("list.txt", &list);
    let config = write_config(
        &work,
        &net,
        "timeout = \"2s\"\nparallel = 8",
        "[[schedule]]\nname = \"cn\"\ntargets = [\"list.txt\"]\nevery = \"1h\"\nspacing = \"0s\"\n",
    );
    let logs = |n: usize| {
        (0..=n)
            .map(|i| std::fs::read_to_string(work.path(&format!("run{i}.log"))).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n----\n")
    };
    let mut kills = 0;
    let mut child = start(&config, &work.path("run0.log"));
    let deadline = Instant::now() + Duration::from_secs(90);
    while state(&work, "cn")["cycles"].as_u64() != Some(1) {
        assert!(
            Instant::now() < deadline,
            "no cycle completed in 90 s:\n{}",
            logs(kills)
        );
        let seen = tokio::time::timeout(Duration::from_millis(100), poison_seen.recv()).await;
        if seen.is_err() {
            continue;
        }
        child.start_kill().unwrap(); // SIGKILL, as the OOM killer sends
        child.wait().await.unwrap();
        kills += 1;
        assert!(
            kills <= 5,
            "the daemon died {kills} times on the same target and still resumes it:\n{}",
            logs(kills)
        );
        // Connections the dead process had opened are not the next one's.
        tokio::time::sleep(Duration::from_millis(300)).await;
        while poison_seen.try_recv().is_ok() {}
        child = start(&config, &work.path(&format!("run{kills}.log")));
    }
    sigterm(&child);
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .unwrap()
        .unwrap();
    let log = logs(kills);
    assert!(status.success(), "{log}");
    assert!((2..=4).contains(&kills), "{kills} deaths:\n{log}");
    assert!(log.contains("recorded as a failed measurement"), "{log}");

    let records = read_records(&work.out());
    let got = pairs(&records);
    let unique: HashSet<_> = got.iter().cloned().collect();
    assert_eq!(
        got.len(),
        unique.len(),
        "one record per (input, repeat): {got:?}"
    );
    assert_eq!(got.len(), 7, "every target, none lost: {got:?}");
    let failed = records
        .iter()
        .find(|r| r["input"] == poison.as_str())
        .unwrap();
    let why = failed["test_keys"]["failure"].as_str().unwrap_or_default();
    assert!(
        why.starts_with("unknown_failure: measurement crashed the probe ")
            && why.ends_with(" times"),
        "{failed}"
    );
    assert_eq!(failed["test_keys"]["x_verdict"]["status"], "unknown");
    let stall = records
        .iter()
        .find(|r| r["input"].as_str().unwrap().contains("stall.test"))
        .unwrap();
    assert!(
        stall["test_keys"]["failure"].is_null(),
        "the slow target in flight beside it was measured, not blamed: {stall}"
    );
    let keys = |v: &Value| {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(keys(failed), keys(stall), "the same base keys");
    assert_eq!(keys(&failed["annotations"]), keys(&stall["annotations"]));
    assert_eq!(failed["report_id"], stall["report_id"]);
    assert_eq!(failed["annotations"]["repeat"], "1");
    let after = state(&work, "cn");
    assert!(after["current"].is_null(), "{after}");
    assert_eq!(after["history"][0]["measured"], 7, "{after}");
    assert!(
        !work.out().join(".state").join("cn.inflight").exists(),
        "the in-flight journal goes with the cycle"
    );
    eprintln!("poison target: the daemon died {kills} times before it was recorded as failed");
}
