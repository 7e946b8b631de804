//! Killed mid-run: `kill -9` while measurements are in flight leaves only whole lines, and
//! every measurement that had finished. A later run in the same directory cuts a torn tail.

use std::collections::HashMap;
use std::process::Stdio;
use std::time::Duration;

use crate::harness::web::{page, serve};
use crate::harness::{
    binary, jsonl_files, read_records, run_args, Answer, Ca, FakeDns, Reply, Site, Tls, Workdir,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_loses_only_what_was_in_flight() {
    let ca = Ca::new("Vantage Test CA");
    let fast = Site::new("fast.test", Tls::Plain, page("Fast", 20_000));
    let slow = Site::new("slow.test", Tls::Plain, Reply::Stall);
    let fast_addr = serve(fast.clone(), &ca, &ca).await;
    let slow_addr = serve(slow.clone(), &ca, &ca).await;
    let lo = vec!["127.0.0.1".parse().unwrap()];
    let dns = FakeDns::start(HashMap::from([
        ("fast.test".to_string(), Answer::Addrs(lo.clone())),
        ("slow.test".to_string(), Answer::Addrs(lo)),
    ]))
    .await;
    let work = Workdir::new();
    let ca_file = work.write("ca.pem", &ca.pem);
    let mut list = String::new();
    for i in 0..30 {
        list.push_str(&format!("{}page{i}\n", fast.url(fast_addr)));
        list.push_str(&format!("{}page{i}\n", slow.url(slow_addr)));
    }
    let targets = work.write("list.txt", &list);
    let args = run_args(
        &work,
        &targets,
        &dns,
        &ca_file,
        &["--parallel", "60", "--timeout", "60s", "--dns-wait", "50ms"],
    );
    let mut child = tokio::process::Command::new(binary())
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();

    // Wait until the 30 fast measurements are on disk; the 30 slow ones are stalled.
    let mut lines = 0;
    for _ in 0..200 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        lines = crate::harness::daemon::lines_on_disk(&work.out());
        if lines >= 30 {
            break;
        }
    }
    assert_eq!(lines, 30, "the fast targets finished");
    child.start_kill().unwrap(); // SIGKILL
    let status = child.wait().await.unwrap();
    assert!(!status.success());

    let records = read_records(&work.out()); // panics on any partial line
    assert_eq!(records.len(), 30, "every finished measurement survived");
    assert!(records
        .iter()
        .all(|r| r["input"].as_str().unwrap().contains("fast.test")));

    // A torn tail (as a kill inside write() could leave) is cut by the next run.
    let file = jsonl_files(&work.out()).remove(0);
    let mut text = std::fs::read(&file).unwrap();
    text.extend_from_slice(b"{\"schema_version\":1,\"inp");
    std::fs::write(&file, &text).unwrap();
    let fast_only = work.write("fast.txt", &format!("{}\n", fast.url(fast_addr)));
    let out = crate::harness::vantage(
        &run_args(&work, &fast_only, &dns, &ca_file, &[]),
        &work.out(),
    )
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        out.records.len(),
        31,
        "the earlier 30 and the new one, and no partial line"
    );
}
