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
//! - One shipper at a time per results directory: a pass holds an exclusive lock on
//!   `DIR/.shipped.lock` (the daemon's shipper skips a pass while `vantage ship` holds it, and
//!   `vantage ship` refuses while the daemon's does).
//! - Before a file is read it is fsynced, so no offset is saved past bytes a power cut could
//!   take back; a saved offset that no longer ends a line (the file was cut and written again)
//!   restarts that file from its start.
//! - Batches hold at most `BATCH_ROWS` rows and `BATCH_BYTES` bytes, the limit checked before a
//!   row joins (`batch.rs`): a row bigger than the limit goes alone.
//! - A batch ClickHouse refuses (a 4xx other than 401/403/408/429) is sent again row by row. A
//!   row refused even alone (a 413 from a front, a parse error) while the store takes other
//!   inserts (it took one in this pass, or it takes an insert of no rows) is set aside: a
//!   warning names its file:line and the reason, it is counted (the `ship` output, the
//!   state's `set_aside`), and progress moves past it, so it is never retried and the rest of
//!   the file ships. A store that takes no insert at all is not the row's fault: then, as for
//!   a file that cannot be read, the file is skipped for this pass with a warning and tried
//!   again on the next; the other files go on. Unreachable, 5xx, 401/403: the pass fails and is
//!   retried (nothing is set aside for a transient failure).

mod batch;
pub mod clickhouse;
mod row;
mod state;

use std::fs::{File, TryLockError};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;
use serde::Deserialize;

use crate::exit::{fatal, usage, Exit};
use batch::{Batch, Span};
use clickhouse::{valid_identifier, Client, Secret};
pub use row::{unix_time, Row};
pub use state::STATE_FILE;
use state::{SetAsideLine, State};

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

/// Settings of each insert on a server that has async inserts (21.11+).
const ASYNC_INSERT: &[(&str, &str)] = &[("async_insert", "1"), ("wait_for_async_insert", "1")];

/// At most this many lines per insert...
pub const BATCH_ROWS: usize = 500;
/// ...and about this many bytes (a single bigger line goes alone): well under the 1 MB body
/// limit of an nginx TLS front (`client_max_body_size`'s default).
pub const BATCH_BYTES: usize = 512 << 10;
/// Held (exclusively) by a shipping pass: `DIR/.shipped.lock`.
pub const LOCK_FILE: &str = ".shipped.lock";
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

/// How shipping one file went wrong.
enum FileError {
    /// Only this file, for this pass (a batch refused, a read error): the others go on.
    Skip(ShipError),
    /// The whole pass (ClickHouse unreachable or refusing us, the state not saved).
    Pass(ShipError),
}

/// The file being shipped: its key in the state and its path.
struct Source<'a> {
    rel: &'a str,
    path: &'a Path,
}

/// What one pass did.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Shipped {
    /// Rows the store acknowledged.
    pub rows: u64,
    /// Lines set aside (refused even alone; never sent again).
    pub set_aside: u64,
    /// The store took an insert in this pass.
    accepted: bool,
}

impl Shipped {
    /// `shipped N rows to DEST` and, when lines were set aside, how many and where they are
    /// listed.
    pub fn describe(&self, destination: &str, results: &Path) -> String {
        let mut s = format!("shipped {} rows to {destination}", self.rows);
        if self.set_aside > 0 {
            s.push_str(&format!(
                "; {} line{} set aside (refused even alone, never sent again; listed in {})",
                self.set_aside,
                if self.set_aside == 1 { "" } else { "s" },
                results.join(STATE_FILE).display()
            ));
        }
        s
    }
}

/// A refusal of this batch rather than of us or of the moment: a 4xx other than 401/403
/// (and 408/429, which pass).
fn refuses_the_batch(status: reqwest::StatusCode) -> bool {
    status.is_client_error() && !matches!(status.as_u16(), 401 | 403 | 408 | 429)
}

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
    /// URL settings of each insert: async inserts, waited for, where the server has them.
    insert_settings: &'static [(&'static str, &'static str)],
    /// The pass under way.
    pass: Shipped,
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
                crate::redact::url(&url)
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
        let destination = format!(
            "{} {}.{}",
            crate::redact::url(&url),
            config.database,
            config.table
        );
        let client = Client::new(url, config.user.clone(), password, &tls)?;
        Ok(Shipper {
            config,
            results,
            vantage_point,
            client,
            destination,
            poll: POLL_INTERVAL,
            schema_ready: false,
            insert_settings: &[],
            pass: Shipped::default(),
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

    /// Creates the database and table unless they exist, and learns what the server offers
    /// (once per shipper).
    async fn ensure_schema(&mut self) -> Result<(), ShipError> {
        if self.schema_ready {
            return Ok(());
        }
        // Async inserts: the server gathers the small inserts of many vantage points into few
        // parts instead of one part each. Waited for, so an acknowledgement still means stored.
        if self
            .client
            .version()
            .await?
            .is_some_and(|v| v.async_insert())
        {
            self.insert_settings = ASYNC_INSERT;
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

    /// Ships every record not shipped yet; returns how many rows went out and how many lines
    /// were set aside. Fails when another shipper holds the results directory's lock.
    pub async fn ship_once(&mut self) -> Result<Shipped, ShipError> {
        self.try_ship_once().await?.ok_or_else(|| {
            ShipError(format!(
                "another shipper is shipping {} (it holds {}); try again when it is done",
                self.results.display(),
                self.results.join(LOCK_FILE).display()
            ))
        })
    }

    /// As `ship_once`, but `None` when another shipper holds the lock (nothing done).
    async fn try_ship_once(&mut self) -> Result<Option<Shipped>, ShipError> {
        let lock_path = self.results.join(LOCK_FILE);
        let lock = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock_path)
            .map_err(|e| ShipError(format!("cannot open {}: {e}", lock_path.display())))?;
        let locked = lock.try_lock();
        match locked {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Ok(None),
            Err(TryLockError::Error(e)) => {
                return Err(ShipError(format!(
                    "cannot lock {}: {e}",
                    lock_path.display()
                )))
            }
        }
        // Held until `lock` is dropped at the end of the pass (or closed by a crash).
        self.ensure_schema().await?;
        let mut state = State::load(&self.results)
            .map_err(|e| ShipError(format!("cannot read the shipping state: {e}")))?;
        self.pass = Shipped::default();
        for path in crate::sink::jsonl_files(&self.results) {
            let rel = relative(&self.results, &path);
            match self.ship_file(&mut state, &rel, &path).await {
                Ok(n) => self.pass.rows += n,
                Err(FileError::Pass(e)) => return Err(e),
                Err(FileError::Skip(e)) => tracing::warn!(
                    "{}: skipped for this pass (tried again on the next): {e}",
                    path.display()
                ),
            }
        }
        drop(lock);
        Ok(Some(self.pass))
    }

    async fn ship_file(
        &mut self,
        state: &mut State,
        rel: &str,
        path: &Path,
    ) -> Result<u64, FileError> {
        let io_err = |e: std::io::Error| FileError::Skip(ShipError(format!("cannot read it: {e}")));
        let saved_start = state.offset(&self.destination, rel);
        let mut start = saved_start;
        let mut file = File::open(path).map_err(io_err)?;
        let len = file.metadata().map_err(io_err)?.len();
        if len == start {
            return Ok(0);
        }
        // What is shipped must be on disk first: an offset saved past bytes a power cut takes
        // back would skip whatever is written there next.
        file.sync_data().map_err(io_err)?;
        if len < start {
            tracing::warn!(
                "{}: shorter than what was shipped from it ({len} < {start} bytes); shipping it \
                 again from the start (rows already there are not duplicated)",
                path.display()
            );
            start = 0;
        } else if start > 0 {
            let mut before = [0u8; 1];
            file.seek(SeekFrom::Start(start - 1)).map_err(io_err)?;
            file.read_exact(&mut before).map_err(io_err)?;
            if before[0] != b'\n' {
                tracing::warn!(
                    "{}: what was shipped from it ({start} bytes) no longer ends a line (the file \
                     was cut and written again); shipping it again from the start (rows already \
                     there are not duplicated)",
                    path.display()
                );
                start = 0;
            }
        }
        file.seek(SeekFrom::Start(start)).map_err(io_err)?;
        // Only what is there now: a line being appended meanwhile waits for the next pass.
        let mut reader = BufReader::new(file.take(len - start));
        let src = Source { rel, path };
        let mut shipped = 0;
        let mut pos = start;
        let mut saved = saved_start;
        let mut batch = Batch::default();
        let mut line = Vec::new();
        let mut row_bytes = Vec::new();
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
                        row_bytes.clear();
                        serde_json::to_writer(&mut row_bytes, &row).expect("rows serialize");
                        row_bytes.push(b'\n');
                        // The batch goes before a row that would take it past the limit.
                        if batch.would_overflow(row_bytes.len()) {
                            shipped += self.flush(state, &src, &mut batch, at).await?;
                            saved = at;
                        }
                        batch.push(&row_bytes, Span { at, end: pos });
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
            if batch.full() {
                shipped += self.flush(state, &src, &mut batch, pos).await?;
                saved = pos;
            }
        }
        if !batch.is_empty() || pos != saved {
            shipped += self.flush(state, &src, &mut batch, pos).await?;
        }
        Ok(shipped)
    }

    /// Inserts the batch, then (only then) records `end` as shipped. A batch the store refuses
    /// goes again row by row, so only the rows it refuses alone are left out (`refused_alone`).
    async fn flush(
        &mut self,
        state: &mut State,
        src: &Source<'_>,
        batch: &mut Batch,
        end: u64,
    ) -> Result<u64, FileError> {
        let mut n = batch.rows() as u64;
        if n > 0 {
            match self.insert(batch.body()).await {
                Ok(()) => {}
                Err(FileError::Skip(e)) if n == 1 => {
                    let (_, span) = batch.each().next().expect("one row");
                    self.refused_alone(state, src, span, e).await?;
                    n = 0;
                }
                Err(FileError::Skip(e)) => {
                    tracing::info!(
                        "{}: a batch of {n} rows was refused ({e}); sending its rows one by one",
                        src.path.display()
                    );
                    n = 0;
                    for (row, span) in batch.each() {
                        match self.insert(row.to_vec()).await {
                            Ok(()) => n += 1,
                            Err(FileError::Skip(e)) => {
                                self.refused_alone(state, src, span, e).await?
                            }
                            Err(pass) => return Err(pass),
                        }
                        self.save(state, src.rel, span.end)?;
                    }
                }
                Err(pass) => return Err(pass),
            }
            tracing::debug!("shipped {n} rows from {} to {}", src.rel, self.destination);
        }
        batch.clear();
        self.save(state, src.rel, end)?;
        Ok(n)
    }

    /// One insert: `Skip` when the store refuses these rows (`refuses_the_batch`), `Pass` when
    /// it cannot be reached or refuses us.
    async fn insert(&mut self, body: Vec<u8>) -> Result<(), FileError> {
        let query = format!(
            "INSERT INTO {} ({}) FORMAT JSONEachRow",
            self.table(),
            row::COLUMNS
        );
        match self
            .client
            .execute_status(&query, body, self.insert_settings)
            .await
        {
            Ok(_) => {
                self.pass.accepted = true;
                Ok(())
            }
            Err((Some(status), e)) if refuses_the_batch(status) => Err(FileError::Skip(e)),
            Err((_, e)) => Err(FileError::Pass(e)),
        }
    }

    /// Whether the store takes inserts at all in this pass: it took one already, or it takes
    /// an insert of no rows. A row refused alone by a store that takes inserts is the row's
    /// fault; refused by one that takes none, it is the store's (and nothing is set aside).
    async fn store_takes_inserts(&mut self) -> Result<bool, FileError> {
        if self.pass.accepted {
            return Ok(true);
        }
        match self.insert(Vec::new()).await {
            Ok(()) => Ok(true),
            Err(FileError::Skip(_)) => Ok(false),
            Err(pass) => Err(pass),
        }
    }

    /// A row the store refused alone: set aside (warned about, counted, remembered, progress
    /// moved past it) when the store takes other inserts; otherwise the file waits for the
    /// next pass, as for any refusal.
    async fn refused_alone(
        &mut self,
        state: &mut State,
        src: &Source<'_>,
        span: Span,
        why: ShipError,
    ) -> Result<(), FileError> {
        if !self.store_takes_inserts().await? {
            return Err(FileError::Skip(why));
        }
        let line = line_number(src.path, span.at).unwrap_or(0);
        let reason: String = why.0.split_whitespace().collect::<Vec<_>>().join(" ");
        let reason: String = reason.chars().take(300).collect();
        tracing::warn!(
            "{}:{line}: set aside, never to be shipped ({} bytes at byte {}; the store refused \
             it even alone): {reason}",
            src.path.display(),
            span.end - span.at,
            span.at
        );
        state.set_aside(
            &self.destination,
            SetAsideLine {
                file: src.rel.to_string(),
                line,
                offset: span.at,
                bytes: span.end - span.at,
                reason,
                at: unix_now(),
            },
        );
        self.pass.set_aside += 1;
        self.save(state, src.rel, span.end)
    }

    /// Records `end` as shipped from `rel`, durably.
    fn save(&self, state: &mut State, rel: &str, end: u64) -> Result<(), FileError> {
        state.set(&self.destination, rel, end);
        state.save(&self.results).map_err(|e| {
            FileError::Pass(ShipError(format!(
                "cannot save the shipping state in {}: {e}",
                self.results.display()
            )))
        })
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
                r = self.try_ship_once() => r,
                _ = stop.wait_for(|s| *s) => break,
            };
            let wait = match pass {
                Ok(None) => {
                    tracing::debug!(
                        "another shipper holds {}; skipping this pass",
                        self.results.join(LOCK_FILE).display()
                    );
                    self.poll
                }
                Ok(Some(p)) => {
                    if p.rows > 0 || p.set_aside > 0 {
                        tracing::info!("{}", p.describe(&self.destination, &self.results));
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
        match tokio::time::timeout(LAST_PASS, self.try_ship_once()).await {
            Ok(Ok(None)) => tracing::info!(
                "another shipper holds {}; leaving the last pass to it",
                self.results.join(LOCK_FILE).display()
            ),
            Ok(Ok(Some(p))) => {
                if p.rows > 0 || p.set_aside > 0 {
                    tracing::info!("{}", p.describe(&self.destination, &self.results));
                }
            }
            Ok(Err(e)) => tracing::warn!("last shipping pass failed (the next start resumes): {e}"),
            Err(_) => tracing::warn!("last shipping pass timed out (the next start resumes)"),
        }
    }
}

/// The 1-based number of the line starting at byte `at` of `path` (read again: only for the
/// rare line set aside).
fn line_number(path: &Path, at: u64) -> std::io::Result<u64> {
    let mut r = BufReader::new(File::open(path)?.take(at));
    let mut n = 1;
    loop {
        let buf = r.fill_buf()?;
        if buf.is_empty() {
            return Ok(n);
        }
        n += buf.iter().filter(|b| **b == b'\n').count() as u64;
        let len = buf.len();
        r.consume(len);
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// `path` relative to `dir`, `/`-separated (the key of its progress in the state).
fn relative(dir: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(dir).unwrap_or(path);
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
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
    /// ClickHouse user (password from VANTAGE_CLICKHOUSE_PASSWORD), as for `report`.
    // `--user`, its old name, still works (hidden).
    #[arg(long = "clickhouse-user", alias = "user", value_name = "USER")]
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
    let pass = rt.block_on(shipper.ship_once()).map_err(fatal)?;
    println!("{}", pass.describe(shipper.destination(), &shipper.results));
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
        let rel: Vec<String> = crate::sink::jsonl_files(dir.path())
            .iter()
            .map(|p| relative(dir.path(), p))
            .collect();
        assert_eq!(rel, ["2026-11-23/a.jsonl", "2026-11-23/b.jsonl"]);
    }

    /// A fake ClickHouse on loopback: answers each request with `answer(query, body)`'s status
    /// and records the INSERT bodies it accepted.
    struct Fake {
        url: String,
        inserted: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    }

    fn fake(answer: fn(&str, &str) -> u16) -> Fake {
        use std::io::Write;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        let inserted = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = inserted.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { return };
                let mut r = BufReader::new(conn);
                let mut head = String::new();
                let mut len = 0usize;
                loop {
                    let mut l = String::new();
                    if r.read_line(&mut l).unwrap_or(0) == 0 {
                        break;
                    }
                    if let Some(v) = l.to_ascii_lowercase().strip_prefix("content-length:") {
                        len = v.trim().parse().unwrap();
                    }
                    if l == "\r\n" {
                        break;
                    }
                    head.push_str(&l);
                }
                let mut body = vec![0u8; len];
                let _ = r.read_exact(&mut body);
                let body = String::from_utf8_lossy(&body).into_owned();
                let target = head.split(' ').nth(1).unwrap_or("").to_string();
                let query = url::Url::parse(&format!("http://x{target}"))
                    .unwrap()
                    .query_pairs()
                    .find(|(k, _)| k == "query")
                    .map(|(_, v)| v.into_owned())
                    .unwrap_or_default();
                let status = answer(&query, &body);
                if status == 200 && query.starts_with("INSERT") {
                    seen.lock().unwrap().push(body);
                }
                let _ = write!(
                    r.get_mut(),
                    "HTTP/1.1 {status} X\r\nContent-Length: 2\r\nConnection: close\r\n\r\nno"
                );
            }
        });
        Fake { url, inserted }
    }

    fn record(uid: &str) -> String {
        format!(
            "{{\"measurement_uid\":\"{uid}\",\"report_id\":\"r\",\"input\":\"https://a/\",\
             \"measurement_start_time\":\"2026-11-23 10:00:00\",\
             \"test_keys\":{{\"x_verdict\":{{\"status\":\"accessible\"}}}}}}\n"
        )
    }

    fn results(files: &[(&str, String)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("2026-11-23")).unwrap();
        for (name, text) in files {
            std::fs::write(dir.path().join("2026-11-23").join(name), text).unwrap();
        }
        dir
    }

    fn uids(f: &Fake) -> Vec<String> {
        f.inserted
            .lock()
            .unwrap()
            .iter()
            .flat_map(|b| b.lines().map(String::from).collect::<Vec<_>>())
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(&l).unwrap()["measurement_uid"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect()
    }

    #[tokio::test]
    async fn a_line_refused_alone_is_set_aside_and_the_rest_ships() {
        let f = fake(|q, body| {
            if q.starts_with("INSERT") && body.contains("poison") {
                400
            } else {
                200
            }
        });
        let a = record("a1") + &record("poison") + &record("a2");
        let dir = results(&[("a.jsonl", a.clone()), ("b.jsonl", record("b1"))]);
        let mut s = Shipper::new(config(&f.url), dir.path().into(), "vp".into()).unwrap();
        let pass = s.ship_once().await.unwrap();
        assert_eq!((pass.rows, pass.set_aside), (3, 1));
        // The batch [a1, poison, a2] was refused, then its rows went one by one.
        assert_eq!(uids(&f), ["a1", "a2", "b1"]);
        let state = State::load(dir.path()).unwrap();
        let rel = "2026-11-23/a.jsonl";
        assert_eq!(state.offset(s.destination(), rel), a.len() as u64);
        assert_eq!(state.set_aside_count(s.destination()), 1);
        let line = &state.set_aside[s.destination()].lines[0];
        assert_eq!((line.file.as_str(), line.line), (rel, 2));
        assert_eq!(line.offset, record("a1").len() as u64);
        assert!(line.reason.contains("400"), "{}", line.reason);
        // Not retried.
        let again = s.ship_once().await.unwrap();
        assert_eq!((again.rows, again.set_aside), (0, 0));
        assert_eq!(uids(&f).len(), 3);
        assert!(again
            .describe("d", dir.path())
            .ends_with("shipped 0 rows to d"));
        assert!(pass.describe("d", dir.path()).contains("1 line set aside"));
    }

    #[tokio::test]
    async fn a_store_that_takes_no_insert_sets_nothing_aside() {
        // Every insert refused, even one of no rows (the statement in the body): the store's
        // fault, not the lines'. The files wait for the next pass.
        let f = fake(|q, body| {
            if q.starts_with("INSERT") || body.starts_with("INSERT") {
                400
            } else {
                200
            }
        });
        let dir = results(&[
            ("a.jsonl", record("a1")),
            ("b.jsonl", record("b1") + &record("b2")),
        ]);
        let mut s = Shipper::new(config(&f.url), dir.path().into(), "vp".into()).unwrap();
        let pass = s.ship_once().await.unwrap();
        assert_eq!((pass.rows, pass.set_aside), (0, 0));
        let state = State::load(dir.path()).unwrap();
        assert_eq!(state.offset(s.destination(), "2026-11-23/a.jsonl"), 0);
        assert_eq!(state.offset(s.destination(), "2026-11-23/b.jsonl"), 0);
        assert_eq!(state.set_aside_count(s.destination()), 0);
    }

    #[tokio::test]
    async fn a_server_error_on_one_line_is_transient_not_set_aside() {
        let f = fake(|q, body| {
            if q.starts_with("INSERT") && body.contains("poison") {
                503
            } else {
                200
            }
        });
        let dir = results(&[("a.jsonl", record("a1") + &record("poison"))]);
        let mut s = Shipper::new(config(&f.url), dir.path().into(), "vp".into()).unwrap();
        let e = s.ship_once().await.unwrap_err();
        assert!(e.0.contains("503"), "{e}");
        let state = State::load(dir.path()).unwrap();
        assert_eq!(state.offset(s.destination(), "2026-11-23/a.jsonl"), 0);
        assert_eq!(state.set_aside_count(s.destination()), 0);
    }

    #[tokio::test]
    async fn a_server_error_or_refused_login_fails_the_pass() {
        for status in [500u16, 401, 403] {
            let f = fake(match status {
                500 => |q, _| if q.starts_with("INSERT") { 500 } else { 200 },
                401 => |q, _| if q.starts_with("INSERT") { 401 } else { 200 },
                _ => |q, _| if q.starts_with("INSERT") { 403 } else { 200 },
            });
            let dir = results(&[("a.jsonl", record("a1"))]);
            let mut s = Shipper::new(config(&f.url), dir.path().into(), "vp".into()).unwrap();
            let e = s.ship_once().await.unwrap_err();
            assert!(e.0.contains(&status.to_string()), "{e}");
        }
    }

    #[test]
    fn batches_fit_an_nginx_front() {
        const { assert!(BATCH_BYTES <= 512 * 1024 && BATCH_ROWS <= 500) };
    }

    #[tokio::test]
    async fn a_file_cut_and_written_again_is_shipped_again_from_its_start() {
        let f = fake(|_, _| 200);
        let dir = results(&[("a.jsonl", record("a1") + &record("a2"))]);
        let mut s = Shipper::new(config(&f.url), dir.path().into(), "vp".into()).unwrap();
        assert_eq!(s.ship_once().await.unwrap().rows, 2);
        // Cut inside the second line and written again past the old offset: the saved offset
        // no longer ends a line.
        let path = dir.path().join("2026-11-23/a.jsonl");
        let first = record("a1").len();
        let mut text = record("a1");
        text.push_str(&record("a3x"));
        text.push_str(&record("a4"));
        assert_ne!(text.as_bytes()[2 * first - 1], b'\n');
        std::fs::write(&path, &text).unwrap();
        assert_eq!(s.ship_once().await.unwrap().rows, 3);
        assert_eq!(uids(&f), ["a1", "a2", "a1", "a3x", "a4"]);
        let state = State::load(dir.path()).unwrap();
        assert_eq!(
            state.offset(s.destination(), "2026-11-23/a.jsonl"),
            text.len() as u64
        );
    }

    #[tokio::test]
    async fn a_second_shipper_on_the_same_directory_waits_its_turn() {
        let f = fake(|_, _| 200);
        let dir = results(&[("a.jsonl", record("a1"))]);
        let held = File::create(dir.path().join(LOCK_FILE)).unwrap();
        held.lock().unwrap();
        let mut s = Shipper::new(config(&f.url), dir.path().into(), "vp".into()).unwrap();
        let e = s.ship_once().await.unwrap_err();
        assert!(e.0.contains("another shipper"), "{e}");
        assert_eq!(s.try_ship_once().await.unwrap(), None);
        assert!(uids(&f).is_empty());
        drop(held);
        assert_eq!(s.ship_once().await.unwrap().rows, 1);
        // The lock is free again once a pass is over.
        let again = File::open(dir.path().join(LOCK_FILE)).unwrap();
        again.try_lock().unwrap();
    }
}
