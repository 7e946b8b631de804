//! A control URL's userinfo, query and fragment (a password, an API key) are never printed or
//! logged: the preflight line, the daemon's log and the records name the control as
//! `test_helpers` does, scheme, host, port and path only.

use super::daemon::{first_cycle_done, start, stop, write_config};
use super::preflight::world;
use crate::harness::dead_port;
use crate::harness::fake_control::answering;
use crate::harness::Workdir;

const SECRETS: [&str; 4] = ["alice", "hunter2", "key=abc", "frag"];

fn with_secrets(addr: impl std::fmt::Display) -> (String, String) {
    (
        format!("http://alice:hunter2@{addr}/?key=abc#frag"),
        format!("http://{addr}/"),
    )
}

fn no_secrets(what: &str, text: &str) {
    for s in SECRETS {
        assert!(!text.contains(s), "{s:?} in the {what}:\n{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runs_output_never_shows_the_control_urls_credentials() {
    let w = world().await;
    // Dead, and one answering bytes that are not HTTP (reqwest's error names the URL).
    let garbage = answering(b"SSH-2.0-nope\r\n".to_vec()).await;
    for addr in [dead_port().to_string(), garbage.to_string()] {
        let (control, shown) = with_secrets(&addr);
        let out = w.run(&["a"], &["--control", &control]).await;
        assert_eq!(out.code, 0, "{}", out.stderr);
        assert!(
            out.stderr.contains(&format!("vantage: control {shown} ")),
            "{}",
            out.stderr
        );
        no_secrets("stderr", &out.stderr);
        no_secrets("stdout", &out.stdout);
        for r in &out.records {
            no_secrets("record", &r.to_string());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemons_log_never_shows_the_control_urls_credentials() {
    let w = world().await;
    let (url, dns) = (&w.url, &w.dns);
    let work = Workdir::new();
    work.write("list.txt", &format!("{url}a\n"));
    let (control, shown) = with_secrets(dead_port());
    let config = write_config(
        &work,
        dns,
        &control,
        "[[schedule]]\nname = \"s\"\ntargets = [\"list.txt\"]\nevery = \"1h\"\nspacing = \"0s\"\n",
    );
    let log = work.path("daemon.log");
    let child = start(&config, &log);
    let done = first_cycle_done(&work).await;
    stop(child).await;
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(done, "{log}");
    assert!(
        log.contains(&format!("control {shown} unreachable")),
        "{log}"
    );
    no_secrets("daemon log", &log);
}
