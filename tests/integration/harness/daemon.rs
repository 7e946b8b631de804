//! Driving a long-running `vantage daemon` from a test: start it with its log in a file, wait
//! for what it writes, stop it with SIGTERM, ask `vantage status`.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use super::{binary, jsonl_files};

/// `vantage daemon --config CONFIG EXTRA...`, logging at info level into `log`.
pub fn start_daemon(config: &Path, log: &Path, extra: &[&str]) -> tokio::process::Child {
    tokio::process::Command::new(binary())
        .args(["daemon", "--config"])
        .arg(config)
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .env("VANTAGE_LOG", "info")
        .kill_on_drop(true)
        .spawn()
        .expect("the daemon starts")
}

/// Sends SIGTERM to `child`.
pub fn sigterm(child: &tokio::process::Child) {
    let pid = child.id().unwrap().to_string();
    let ok = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(ok.success());
}

/// `vantage status --config CONFIG`'s output; panics when it fails.
pub async fn status(config: &Path) -> String {
    let out = tokio::process::Command::new(binary())
        .args(["status", "--config"])
        .arg(config)
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Lines in every JSONL file under `out`, whole or not.
pub fn lines_on_disk(out: &Path) -> usize {
    jsonl_files(out)
        .iter()
        .map(|f| {
            std::fs::read_to_string(f)
                .unwrap_or_default()
                .lines()
                .count()
        })
        .sum()
}

/// Waits until `cond` holds, for at most `limit`.
pub async fn wait_for(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let t = Instant::now();
    while t.elapsed() < limit {
        if cond() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    cond()
}
