//! `vantage daemon` and `vantage status` about the control: a warning per cycle with the counts
//! of targets whose control failed, kept in the state for `status`; a cron schedule shown as
//! written; a cycle waiting on its spacing says so.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::preflight::world;
use crate::harness::daemon::{lines_on_disk, sigterm, start_daemon, status, wait_for};
use crate::harness::dead_port;
use crate::harness::{FakeDns, Workdir};

/// `daemon.toml` in `work`: results and state there, loopback resolver, a dead control.
pub(super) fn write_config(
    work: &Workdir,
    dns: &FakeDns,
    control: &str,
    schedules: &str,
) -> PathBuf {
    work.write(
        "daemon.toml",
        &format!(
            "results = \"results\"\nvantage_point = \"test-vp\"\ngrace = \"1s\"\n\n[run]\n\
             resolver = \"{}\"\nrate = 0\ndns_wait = \"50ms\"\ntimeout = \"3s\"\n\
             control = \"{control}\"\ntestbed_nets = [\"127.0.0.0/8\"]\n\n{schedules}",
            dns.addr
        ),
    )
}

/// Whether schedule `s` finished its first cycle within 20 s.
pub(super) async fn first_cycle_done(work: &Workdir) -> bool {
    let state = work.out().join(".state").join("s.json");
    wait_for(Duration::from_secs(20), || {
        std::fs::read_to_string(&state).is_ok_and(|s| s.contains("\"cycles\": 1"))
    })
    .await
}

pub(super) fn start(config: &Path, log: &Path) -> tokio::process::Child {
    start_daemon(config, log, &[])
}

pub(super) async fn stop(mut child: tokio::process::Child) {
    sigterm(&child);
    child.wait().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cycle_whose_control_failed_is_logged_and_shown_in_status() {
    let w = world().await;
    let (url, dns) = (&w.url, &w.dns);
    let work = Workdir::new();
    work.write("list.txt", &format!("{url}a\n{url}b\n"));
    let control = format!("http://{}/", dead_port());
    let config = write_config(
        &work,
        dns,
        &control,
        "[[schedule]]\nname = \"s\"\ntargets = [\"list.txt\"]\nevery = \"1h\"\nspacing = \"0s\"\n\n\
         [[schedule]]\nname = \"c\"\ntargets = [\"list.txt\"]\ncron = \"0 0 1 1 *\"\n",
    );
    let log = work.path("daemon.log");
    let child = start(&config, &log);
    let done = first_cycle_done(&work).await;
    let shown = status(&config).await;
    stop(child).await;
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(done, "{log}");
    let warned = log.lines().find(|l| {
        l.contains("WARN") && l.contains("control failed for 2/2 targets (connection_refused)")
    });
    assert!(warned.is_some_and(|l| l.contains("schedule=s")), "{log}");
    // Checked at start, before any cycle.
    let at_start = format!("control {control} unreachable (connection_refused)");
    let first = log.lines().position(|l| l.contains(&at_start));
    let cycle = log.lines().position(|l| l.contains("cycle started"));
    assert!(first.is_some() && first < cycle, "{log}");
    assert!(log.contains("records will say ZZ/AS0"), "{log}");
    assert!(
        shown.contains("  control: failed for 2/2 targets (connection_refused)"),
        "{shown}"
    );
    // The cron as written, not as the cron crate prints it.
    assert!(shown.contains("schedule c (cron \"0 0 1 1 *\","), "{shown}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cycle_waiting_on_its_spacing_says_so() {
    let w = world().await;
    let (url, dns) = (&w.url, &w.dns);
    let work = Workdir::new();
    work.write("list.txt", &format!("{url}\n"));
    let control = format!("http://{}/", dead_port());
    let config = write_config(
        &work,
        dns,
        &control,
        "[[schedule]]\nname = \"s\"\ntargets = [\"list.txt\"]\nevery = \"1h\"\nrepeats = 2\n\
         spacing = \"1h\"\n\n[[schedule]]\nname = \"m\"\ntargets = [\"list.txt\"]\n\
         cron = \"* * * * *\"\n",
    );
    let before = status(&config).await;
    assert!(
        before.contains("schedule m (cron \"* * * * *\","),
        "{before}"
    );
    let log = work.path("daemon.log");
    let child = start(&config, &log);
    let one = wait_for(Duration::from_secs(20), || lines_on_disk(&work.out()) >= 1).await;
    let shown = status(&config).await;
    stop(child).await;
    assert!(one, "{}", std::fs::read_to_string(&log).unwrap());
    let host = url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let line = shown
        .lines()
        .find(|l| l.contains("waiting on spacing"))
        .unwrap_or_else(|| panic!("{shown}"));
    assert!(
        line.starts_with("  waiting on spacing (1h): the next measurement of ")
            && line.contains(&host),
        "{line}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_token_is_logged_once_per_cycle_and_info_is_not_said_missing() {
    let w = world().await;
    let (url, dns) = (&w.url, &w.dns);
    let resolver = dns.addr.to_string();
    let helper = crate::harness::Helper::start(&[
        "--resolver",
        &resolver,
        "--token",
        "s3cret",
        "--allow-private",
    ])
    .await;
    let work = Workdir::new();
    work.write("list.txt", &format!("{url}a\n"));
    let config = write_config(
        &work,
        dns,
        &helper.url(),
        "[[schedule]]\nname = \"s\"\ntargets = [\"list.txt\"]\nevery = \"1h\"\nspacing = \"0s\"\n",
    );
    let log = work.path("daemon.log");
    let child = start(&config, &log);
    let done = first_cycle_done(&work).await;
    stop(child).await;
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(done, "{log}");
    let said = log
        .lines()
        .filter(|l| l.contains("answered 401: token refused"))
        .count();
    assert_eq!(said, 1, "one cycle, one warning:\n{log}");
    assert!(!log.contains("no /info from the control"), "{log}");
    assert!(
        log.contains("the control's /info failed (HTTP 401: token refused)"),
        "{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_next_cycle_waiting_on_the_last_cycles_spacing_says_so() {
    let w = world().await;
    let (url, dns) = (&w.url, &w.dns);
    let work = Workdir::new();
    work.write("list.txt", &format!("{url}\n"));
    let control = format!("http://{}/", dead_port());
    // Every 3 s, the default spacing (3 min), one target: the second cycle waits on the
    // first cycle's measurement.
    let config = write_config(
        &work,
        dns,
        &control,
        "[[schedule]]\nname = \"s\"\ntargets = [\"list.txt\"]\nevery = \"3s\"\njitter = \"0s\"\n",
    );
    let log = work.path("daemon.log");
    let child = start(&config, &log);
    let state = work.out().join(".state").join("s.json");
    let second = wait_for(Duration::from_secs(30), || {
        std::fs::read_to_string(&state)
            .is_ok_and(|s| s.contains("\"cycles\": 1") && s.contains("\"current\": {"))
    })
    .await;
    let shown = status(&config).await;
    stop(child).await;
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(second, "{log}");
    let host = url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    assert!(
        shown.lines().any(|l| l.starts_with(&format!(
            "  waiting on spacing (3m): the next measurement of {host} may start at "
        ))),
        "{shown}"
    );
    // Stopped while waiting on spacing: nothing was in flight.
    assert!(
        !log.contains("in-flight measurement(s) finished within the grace period"),
        "{log}"
    );
}
