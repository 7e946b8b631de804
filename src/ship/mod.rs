//! Shipping records from the local JSONL (the source of truth) to a ClickHouse fleet store,
//! exactly once through outages.
//!
//! The seam the daemon uses: `ClickhouseConfig` (the `[clickhouse]` table of its config file)
//! and `Shipper::{new, ship_once, run}`.
//!
//! How "nothing lost, nothing duplicated" holds:
//! - Only whole lines (ending in a newline) are shipped; a line still being written, or torn by
//!   a crash, waits (the sink's repair cuts a torn one; the next whole line takes its place).
//! - `DIR/.shipped.json` records, per destination and file, the byte offset past the last line
//!   ClickHouse acknowledged. It is replaced atomically and only after the acknowledgement, so
//!   an outage or crash only ever makes the shipper send a batch again, never skip one.
//! - A batch sent again (ClickHouse stored it but the answer was lost, or we crashed before
//!   saving the offset) is not a duplicate on read: the table is a ReplacingMergeTree ordered by
//!   `measurement_uid`, so readers use `FINAL` (or `GROUP BY measurement_uid`), and background
//!   merges remove the extra copies over time.

pub mod clickhouse;
mod row;
mod state;

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;
use serde::Deserialize;

use crate::exit::{fatal, usage, Exit};
use clickhouse::{display_url, valid_identifier, Client, Secret};
pub use row::{unix_time, Row};
use state::State;
pub use state::STATE_FILE;

/// Where and how to ship (the daemon config's `[clickhouse]` table).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClickhouseConfig {
    /// ClickHouse's HTTP interface, e.g. http://127.0.0.1:8123/
    pub url: String,
    #[serde(default = "default_database")]
    pub database: String,
    #[serde(default = "default_table")]
    pub table: String,
    pub user: Option<String>,
    /// Name of the environment variable holding the password (never the password itself).
    pub password_env: Option<String>,
}

fn default_database() -> String {
    "vantage".into()
}
fn default_table() -> String {
    "measurements".into()
}

/// The environment variable `vantage ship` reads the password from.
pub const PASSWORD_ENV: &str = "VANTAGE_CLICKHOUSE_PASSWORD";

/// At most this many lines per insert...
pub const BATCH_ROWS: usize = 500;
/// ...and about this many bytes (a single bigger line goes alone).
pub const BATCH_BYTES: usize = 4 << 20;
/// How long `run` waits between passes once caught up.
pub const POLL_INTERVAL: Duration = Duration::from_secs(5);
/// Backoff while ClickHouse is unreachable: doubles from the first to the last.
pub const BACKOFF_FIRST: Duration = Duration::from_secs(1);
pub const BACKOFF_MAX: Duration = Duration::from_secs(60);
/// How long the last pass after a stop may take.
pub const LAST_PASS: Duration = Duration::from_secs(30);

/// A fault of the shipper (ClickHouse unreachable, a bad answer): retried by `Shipper::run`.
/// Its message never holds credentials.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ShipError(pub String);

/// Ships one results directory as one vantage point.
pub struct Shipper {
    pub config: ClickhouseConfig,
    pub results: PathBuf,
    pub vantage_point: String,
    client: Client,
    /// `URL database.table`, without credentials: keys the progress state and names the store.
    destination: String,
    poll: Duration,
    schema_ready: bool,
}

impl Shipper {
    /// Checks the configuration (URL without credentials, plain database and table names, the
    /// password's environment variable set); contacts nothing.
    pub fn new(
        config: ClickhouseConfig,
        results: PathBuf,
        vantage_point: String,
    ) -> Result<Shipper, ShipError> {
        let url = url::Url::parse(&config.url)
            .map_err(|e| ShipError(format!("clickhouse url: not a URL ({e})")))?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(ShipError(
                "clickhouse url must not hold credentials: give `user` and the name of the \
                 environment variable holding the password (`password_env`)"
                    .into(),
            ));
        }
        if url
            .query_pairs()
            .any(|(k, _)| k == "password" || k == "user")
        {
            return Err(ShipError(
                "clickhouse url must not hold credentials in its query: use `user` and `password_env`"
                    .into(),
            ));
        }
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(ShipError(format!(
                "clickhouse url {}: only http:// and https:// URLs with a host",
                display_url(&url)
            )));
        }
        for (what, name) in [("database", &config.database), ("table", &config.table)] {
            if !valid_identifier(name) {
                return Err(ShipError(format!(
                    "clickhouse {what} {name:?}: only letters, digits and _"
                )));
            }
        }
        if vantage_point.trim().is_empty() {
            return Err(ShipError("the vantage point needs a name".into()));
        }
        let password = match &config.password_env {
            None => None,
            Some(var) => Some(Secret(std::env::var(var).map_err(|_| {
                ShipError(format!(
                    "clickhouse password_env: the environment variable {var} is not set"
                ))
            })?)),
        };
        let tls = crate::probe::tls::TlsContext::new(None)
            .map_err(|e| ShipError(format!("TLS setup: {e}")))?;
        let destination = format!("{} {}.{}", display_url(&url), config.database, config.table);
        let client = Client::new(url, config.user.clone(), password, &tls)?;
        Ok(Shipper {
            config,
            results,
            vantage_point,
            client,
            destination,
            poll: POLL_INTERVAL,
            schema_ready: false,
        })
    }

    /// How long `run` waits between passes once caught up (default `POLL_INTERVAL`).
    pub fn with_poll_interval(mut self, poll: Duration) -> Shipper {
        self.poll = poll;
        self
    }

    /// Where records go, e.g. `http://127.0.0.1:8123/ vantage.measurements` (no credentials).
    pub fn destination(&self) -> &str {
        &self.destination
    }

    fn table(&self) -> String {
        format!("`{}`.`{}`", self.config.database, self.config.table)
    }

    /// Creates the database and table unless they exist (once per shipper).
    async fn ensure_schema(&mut self) -> Result<(), ShipError> {
        if self.schema_ready {
            return Ok(());
        }
        let db = format!("CREATE DATABASE IF NOT EXISTS `{}`", self.config.database);
        self.client.execute(&db, Vec::new()).await?;
        let table = format!(
            "CREATE TABLE IF NOT EXISTS {} (measurement_uid String, vantage_point String, \
             report_id String, input String, category_code String, probe_cc String, \
             probe_asn String, measurement_start_time DateTime, status String, \
             methods Array(String), record String, shipped_at DateTime DEFAULT now()) \
             ENGINE = ReplacingMergeTree() ORDER BY measurement_uid",
            self.table()
        );
        self.client.execute(&table, Vec::new()).await?;
        self.schema_ready = true;
        Ok(())
    }

    /// Ships every record not shipped yet; returns how many rows went out.
    pub async fn ship_once(&mut self) -> Result<u64, ShipError> {
        self.ensure_schema().await?;
        let mut state = State::load(&self.results)
            .map_err(|e| ShipError(format!("cannot read the shipping state: {e}")))?;
        let mut shipped = 0;
        for (rel, path) in jsonl_files(&self.results) {
            shipped += self.ship_file(&mut state, &rel, &path).await?;
        }
        Ok(shipped)
    }

    async fn ship_file(
        &mut self,
        state: &mut State,
        rel: &str,
        path: &Path,
    ) -> Result<u64, ShipError> {
        let io_err = |e: std::io::Error| ShipError(format!("{}: {e}", path.display()));
        let mut start = state.offset(&self.destination, rel);
        let mut file = File::open(path).map_err(io_err)?;
        let len = file.metadata().map_err(io_err)?.len();
        if len == start {
            return Ok(0);
        }
        if len < start {
            tracing::warn!(
                "{}: shorter than what was shipped from it ({len} < {start} bytes); shipping it \
                 again from the start (rows already there are not duplicated)",
                path.display()
            );
            start = 0;
        }
        file.seek(SeekFrom::Start(start)).map_err(io_err)?;
        // Only what is there now: a line being appended meanwhile waits for the next pass.
        let mut reader = BufReader::new(file.take(len - start));
        let mut shipped = 0;
        let mut pos = start;
        let mut saved = state.offset(&self.destination, rel);
        let mut body = Vec::new();
        let mut rows = 0usize;
        let mut line = Vec::new();
        loop {
            line.clear();
            let got = reader.read_until(b'\n', &mut line).map_err(io_err)?;
            if got == 0 || line.last() != Some(&b'\n') {
                break; // the end, or a line not finished yet
            }
            let at = pos;
            pos += got as u64;
            let text = std::str::from_utf8(&line)
                .map(|t| t.trim_end_matches(['\n', '\r']))
                .map_err(|e| e.to_string());
            match text {
                Ok("") => {}
                Ok(text) => match Row::from_line(text, &self.vantage_point) {
                    Ok(row) => {
                        serde_json::to_writer(&mut body, &row).expect("rows serialize");
                        body.push(b'\n');
                        rows += 1;
                    }
                    Err(bad) => tracing::warn!(
                        "{} at byte {at}: not a record, cannot be shipped: {}",
                        path.display(),
                        bad.0
                    ),
                },
                Err(e) => tracing::warn!(
                    "{} at byte {at}: not UTF-8, cannot be shipped: {e}",
                    path.display()
                ),
            }
            if rows >= BATCH_ROWS || body.len() >= BATCH_BYTES {
                shipped += self.flush(state, rel, &mut body, &mut rows, pos).await?;
                saved = pos;
            }
        }
        if pos != saved {
            shipped += self.flush(state, rel, &mut body, &mut rows, pos).await?;
        }
        Ok(shipped)
    }

    /// Inserts the batch, then (only then) records `end` as shipped.
    async fn flush(
        &mut self,
        state: &mut State,
        rel: &str,
        body: &mut Vec<u8>,
        rows: &mut usize,
        end: u64,
    ) -> Result<u64, ShipError> {
        let n = *rows as u64;
        if n > 0 {
            let query = format!(
                "INSERT INTO {} ({}) FORMAT JSONEachRow",
                self.table(),
                row::COLUMNS
            );
            self.client.execute(&query, std::mem::take(body)).await?;
            tracing::debug!("shipped {n} rows from {rel} to {}", self.destination);
        }
        body.clear();
        *rows = 0;
        state.set(&self.destination, rel, end);
        state.save(&self.results).map_err(|e| {
            ShipError(format!(
                "cannot save the shipping state in {}: {e}",
                self.results.display()
            ))
        })?;
        Ok(n)
    }

    /// Ships until `stop` turns true (or its sender goes away), retrying with backoff while
    /// ClickHouse is unreachable, and makes a last pass before returning.
    pub async fn run(mut self, mut stop: tokio::sync::watch::Receiver<bool>) {
        let mut backoff = BACKOFF_FIRST;
        loop {
            if *stop.borrow() {
                break;
            }
            let pass = tokio::select! {
                r = self.ship_once() => r,
                _ = stop.wait_for(|s| *s) => break,
            };
            let wait = match pass {
                Ok(n) => {
                    if n > 0 {
                        tracing::info!("shipped {n} rows to {}", self.destination);
                    }
                    backoff = BACKOFF_FIRST;
                    self.poll
                }
                Err(e) => {
                    tracing::warn!("shipping failed, next try in {}s: {e}", backoff.as_secs());
                    let w = backoff;
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                    w
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = stop.wait_for(|s| *s) => break,
            }
        }
        match tokio::time::timeout(LAST_PASS, self.ship_once()).await {
            Ok(Ok(n)) => {
                if n > 0 {
                    tracing::info!("shipped {n} rows to {}", self.destination);
                }
            }
            Ok(Err(e)) => tracing::warn!("last shipping pass failed (the next start resumes): {e}"),
            Err(_) => tracing::warn!("last shipping pass timed out (the next start resumes)"),
        }
    }
}

/// `DIR/*/*.jsonl`, sorted, as (path relative to DIR with `/`, path). Dot files are skipped.
fn jsonl_files(dir: &Path) -> Vec<(String, PathBuf)> {
    let mut files = Vec::new();
    let visible = |e: &std::fs::DirEntry| !e.file_name().to_string_lossy().starts_with('.');
    let Ok(days) = std::fs::read_dir(dir) else {
        return files;
    };
    for day in days.flatten().filter(visible) {
        let Ok(entries) = std::fs::read_dir(day.path()) else {
            continue;
        };
        for f in entries.flatten().filter(visible) {
            let path = f.path();
            if path.extension().is_some_and(|x| x == "jsonl") && path.is_file() {
                let rel = format!(
                    "{}/{}",
                    day.file_name().to_string_lossy(),
                    f.file_name().to_string_lossy()
                );
                files.push((rel, path));
            }
        }
    }
    files.sort();
    files
}

/// Flags of `vantage ship`.
#[derive(Args, Debug, Clone)]
pub struct ShipArgs {
    /// Results directory to ship.
    #[arg(long, value_name = "DIR", default_value = "results")]
    pub results: PathBuf,
    /// ClickHouse HTTP URL, e.g. http://127.0.0.1:8123/
    #[arg(long = "clickhouse", value_name = "URL")]
    pub clickhouse: String,
    #[arg(long, default_value = "vantage")]
    pub database: String,
    #[arg(long, default_value = "measurements")]
    pub table: String,
    /// ClickHouse user (password from VANTAGE_CLICKHOUSE_PASSWORD).
    #[arg(long)]
    pub user: Option<String>,
    /// Name of this vantage point in the fleet store.
    #[arg(long = "vantage-point", value_name = "NAME")]
    pub vantage_point: String,
    /// Keep shipping new records (retrying while ClickHouse is unreachable) until SIGINT/SIGTERM.
    #[arg(long)]
    pub follow: bool,
    /// With --follow: how long to wait between passes once caught up.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = humantime::parse_duration)]
    pub poll: Duration,
}

/// Ships what is new once and exits (or keeps shipping with `--follow`).
pub fn ship_main(args: ShipArgs) -> Result<(), Exit> {
    if !args.results.is_dir() {
        return Err(usage(format!(
            "{}: no such results directory",
            args.results.display()
        )));
    }
    let config = ClickhouseConfig {
        url: args.clickhouse,
        database: args.database,
        table: args.table,
        user: args.user,
        password_env: std::env::var_os(PASSWORD_ENV).map(|_| PASSWORD_ENV.to_string()),
    };
    let mut shipper = Shipper::new(config, args.results, args.vantage_point)
        .map_err(usage)?
        .with_poll_interval(args.poll);
    let rt = tokio::runtime::Runtime::new()
        .map_err(|e| fatal(format!("cannot start the async runtime: {e}")))?;
    if args.follow {
        rt.block_on(async {
            let (tx, rx) = tokio::sync::watch::channel(false);
            tokio::spawn(async move {
                stopped().await;
                let _ = tx.send(true);
            });
            shipper.run(rx).await;
        });
        return Ok(());
    }
    let n = rt.block_on(shipper.ship_once()).map_err(fatal)?;
    println!("shipped {n} rows to {}", shipper.destination());
    Ok(())
}

/// SIGINT or SIGTERM.
async fn stopped() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(url: &str) -> ClickhouseConfig {
        ClickhouseConfig {
            url: url.into(),
            database: default_database(),
            table: default_table(),
            user: None,
            password_env: None,
        }
    }

    #[test]
    fn bad_configurations_are_refused_without_echoing_secrets() {
        let dir = PathBuf::from("results");
        let vp = || "vp".to_string();
        let e = Shipper::new(
            config("http://u:hunter2@127.0.0.1:8123/"),
            dir.clone(),
            vp(),
        )
        .err()
        .unwrap();
        assert!(
            !e.0.contains("hunter2") && e.0.contains("credentials"),
            "{e}"
        );
        let e = Shipper::new(
            config("http://127.0.0.1:8123/?password=hunter2"),
            dir.clone(),
            vp(),
        )
        .err()
        .unwrap();
        assert!(!e.0.contains("hunter2"), "{e}");
        assert!(Shipper::new(config("ftp://127.0.0.1/"), dir.clone(), vp()).is_err());
        let mut c = config("http://127.0.0.1:8123/");
        c.table = "m; DROP TABLE x".into();
        assert!(Shipper::new(c, dir.clone(), vp()).is_err());
        let mut c = config("http://127.0.0.1:8123/");
        c.password_env = Some("VANTAGE_TEST_SURELY_UNSET_VAR".into());
        let e = Shipper::new(c, dir.clone(), vp()).err().unwrap();
        assert!(e.0.contains("VANTAGE_TEST_SURELY_UNSET_VAR"), "{e}");
        let s = Shipper::new(config("http://127.0.0.1:8123/"), dir, vp()).unwrap();
        assert_eq!(
            s.destination(),
            "http://127.0.0.1:8123/ vantage.measurements"
        );
    }

    #[test]
    fn the_shipper_can_run_on_any_tokio_worker() {
        fn send<T: Send + 'static>(_: &T) {}
        let s = Shipper::new(config("http://127.0.0.1:1/"), "r".into(), "vp".into()).unwrap();
        let (_tx, rx) = tokio::sync::watch::channel(false);
        send(&s.run(rx));
    }

    #[tokio::test]
    async fn run_returns_promptly_when_stopped_even_while_unreachable() {
        let dir = tempfile::tempdir().unwrap();
        let s = Shipper::new(
            config("http://127.0.0.1:1/"),
            dir.path().into(),
            "vp".into(),
        )
        .unwrap();
        let (tx, rx) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(s.run(rx));
        tokio::time::sleep(Duration::from_millis(300)).await;
        tx.send(true).unwrap();
        tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .expect("run stops")
            .unwrap();
    }

    #[test]
    fn only_day_directories_jsonl_files_are_shipped() {
        let dir = tempfile::tempdir().unwrap();
        let day = dir.path().join("2026-11-23");
        std::fs::create_dir_all(&day).unwrap();
        std::fs::write(day.join("b.jsonl"), b"").unwrap();
        std::fs::write(day.join("a.jsonl"), b"").unwrap();
        std::fs::write(day.join("a.txt"), b"").unwrap();
        std::fs::write(day.join(".x.jsonl"), b"").unwrap();
        std::fs::write(dir.path().join(STATE_FILE), b"{}").unwrap();
        let rel: Vec<String> = jsonl_files(dir.path()).into_iter().map(|f| f.0).collect();
        assert_eq!(rel, ["2026-11-23/a.jsonl", "2026-11-23/b.jsonl"]);
    }
}
