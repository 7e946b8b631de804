//! The shared test harness: a fake internet on 127.0.0.1 (DNS, HTTP, HTTPS with a test CA) whose
//! servers can misbehave the ways censors and broken sites do, and a runner for the real
//! `vantage` binary that collects its records. Every address is loopback.

pub mod ca;
pub mod censor;
pub mod clickhouse;
pub mod daemon;
pub mod dns;
pub mod echo;
pub mod fake_control;
pub mod header_echo;
pub mod hostile;
pub mod raw_http;
pub mod record_doc;
pub mod web;

use std::path::{Path, PathBuf};
use std::process::Stdio;

use serde_json::Value;

pub use ca::Ca;
pub use dns::{loopback_zone, Answer, FakeDns};
pub use web::{Reply, Site, Tls};

/// What one invocation of the binary did.
#[derive(Debug)]
pub struct Outcome {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub records: Vec<Value>,
}

impl Outcome {
    /// The record for `input`; panics with the list of inputs when there is none.
    pub fn record(&self, input: &str) -> &Value {
        self.records
            .iter()
            .find(|r| r["input"] == input)
            .unwrap_or_else(|| {
                let inputs: Vec<_> = self
                    .records
                    .iter()
                    .map(|r| r["input"].to_string())
                    .collect();
                panic!(
                    "no record for {input}; have {inputs:?}\nstderr:\n{}",
                    self.stderr
                )
            })
    }
}

/// Path of the binary under test.
pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_vantage")
}

/// Every JSONL line under `out`, parsed; panics on a line that is not whole JSON.
pub fn read_records(out: &Path) -> Vec<Value> {
    let mut records = Vec::new();
    for file in jsonl_files(out) {
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(
            text.is_empty() || text.ends_with('\n'),
            "{} ends mid-line",
            file.display()
        );
        for (i, line) in text.lines().enumerate() {
            let v: Value = serde_json::from_str(line).unwrap_or_else(|e| {
                panic!("{}:{}: not JSON ({e}): {line:.200}", file.display(), i + 1)
            });
            records.push(v);
        }
    }
    record_doc::assert_documented(&records);
    records
}

pub fn jsonl_files(out: &Path) -> Vec<PathBuf> {
    vantage::sink::jsonl_files(out)
}

/// Runs `vantage ARGS...` to completion (asynchronously, so in-process servers keep serving)
/// and collects the records it wrote under `out`.
pub async fn vantage(args: &[String], out: &Path) -> Outcome {
    let output = tokio::process::Command::new(binary())
        .args(args)
        .stdin(Stdio::null())
        .env("VANTAGE_LOG", "warn")
        .output()
        .await
        .expect("the binary runs");
    keep_records(out);
    Outcome {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        records: read_records(out),
    }
}

/// With `VANTAGE_TEST_KEEP_RECORDS=DIR`, a copy of every record file a run wrote, named for the
/// test, so tools outside the repository (OONI's own analysis code) can read what the tests made.
pub fn keep_records(out: &Path) {
    let Some(keep) = std::env::var_os("VANTAGE_TEST_KEEP_RECORDS") else {
        return;
    };
    let test = std::thread::current()
        .name()
        .unwrap_or("unnamed")
        .replace("::", "__");
    std::fs::create_dir_all(&keep).expect("VANTAGE_TEST_KEEP_RECORDS is a usable directory");
    for (i, file) in jsonl_files(out).iter().enumerate() {
        let stem = file.file_stem().unwrap().to_string_lossy().into_owned();
        let dest = Path::new(&keep).join(format!("{test}__{i}_{stem}.jsonl"));
        std::fs::copy(file, dest).expect("a kept record file is written");
    }
}

/// A temp dir holding a target list, the CA file and the results directory of one run.
pub struct Workdir {
    pub dir: tempfile::TempDir,
}

impl Workdir {
    pub fn new() -> Workdir {
        Workdir {
            dir: tempfile::tempdir().unwrap(),
        }
    }
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
    pub fn write(&self, name: &str, content: &str) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, content).unwrap();
        p
    }
    pub fn out(&self) -> PathBuf {
        self.path("results")
    }
}

/// The usual arguments: targets, results dir, resolver, CA, short timeouts.
pub fn run_args(
    work: &Workdir,
    targets: &Path,
    dns: &FakeDns,
    ca_file: &Path,
    extra: &[&str],
) -> Vec<String> {
    let mut args: Vec<String> = vec![
        "run".into(),
        "--targets".into(),
        targets.display().to_string(),
        "--out".into(),
        work.out().display().to_string(),
        "--resolver".into(),
        dns.addr.to_string(),
        "--ca-file".into(),
        ca_file.display().to_string(),
        "--rate".into(),
        "0".into(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

/// A `vantage helper` process, killed when dropped.
pub struct Helper {
    /// Held so the process lives as long as this value (killed on drop).
    _child: tokio::process::Child,
    pub addr: std::net::SocketAddr,
}

impl Helper {
    /// Starts `vantage helper --listen 127.0.0.1:0 ARGS...` and waits for its address.
    pub async fn start(args: &[&str]) -> Helper {
        use tokio::io::AsyncBufReadExt;
        let mut child = tokio::process::Command::new(binary())
            .arg("helper")
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("the helper starts");
        let stdout = child.stdout.take().unwrap();
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        let line = tokio::time::timeout(std::time::Duration::from_secs(20), lines.next_line())
            .await
            .expect("the helper prints its address")
            .unwrap()
            .unwrap();
        let addr = line.rsplit(' ').next().unwrap().parse().unwrap();
        Helper {
            _child: child,
            addr,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }
}

/// An HTTP client for talking to helpers in tests.
pub fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().no_proxy().build().unwrap()
}

/// A loopback port nothing listens on (bound, then released).
pub fn dead_port() -> std::net::SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}
