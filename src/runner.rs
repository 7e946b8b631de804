//! `vantage run`: one pass over the target lists. Targets stream in from a reader thread,
//! `parallel` of them are measured at once, each finished record goes through a bounded channel
//! to the one writer thread, and the run ends with a summary per verdict.
//!
//! `run_pass` is the reusable core (the daemon calls it): it can be stopped (no new targets,
//! in-flight ones get a grace period and are then abandoned, so nothing is half-written),
//! measures each target `repeats` times (round after round over the lists, the round number in
//! `annotations.repeat`), keeps measurements of one host:port apart by `spacing`, and skips
//! (input, repeat) pairs already written (resuming a cycle after a crash).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use time::OffsetDateTime;
use tokio::sync::{mpsc, oneshot, watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;

use crate::analysis::{self, Status};
use crate::config::RunConfig;
use crate::control::health::ControlHealth;
use crate::control::preflight::{self, Preflight};
use crate::control::ControlClient;
use crate::fingerprints::Fingerprints;
use crate::limits;
use crate::probe::dns::DnsSettings;
use crate::probe::http::HttpSettings;
use crate::probe::tls::{TlsContext, TlsSetupError};
use crate::probe::{ProbeSettings, Prober};
use crate::progress::Progress;
use crate::rate::RateLimiter;
use crate::record::{self, Measurement, Record, RunInfo};
use crate::scrub::{ProbeAddrs, Scrubber};
use crate::sink::{self, JsonlSink, Sink, SinkError, StdoutSink};
use crate::targets::{self, Entry, ListError, Target};

/// Body bytes kept per response (OONI's cap).
pub const BODY_CAP: usize = 512 * 1024;
/// Targets whose DNS sockets may still be listening, per `--parallel` slot: bounds the open
/// sockets and memory of targets that have finished their network work.
pub const LISTENERS_PER_SLOT: usize = 4;
/// Body bytes read at most per response.
pub const READ_CAP: u64 = 8 * 1024 * 1024;

/// Why a run could not happen or finish. The variants decide the exit status.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    List(#[from] ListError),
    #[error(transparent)]
    Tls(#[from] TlsSetupError),
    #[error(transparent)]
    Sink(#[from] SinkError),
    #[error("no targets to measure ({})", bad_lines(*.0))]
    NoTargets(u64),
}

impl RunError {
    /// 2 for bad usage or configuration, 1 when the probe itself failed (README, "Exit status").
    pub fn exit_code(&self) -> u8 {
        match self {
            RunError::List(_) | RunError::Tls(_) => 2,
            RunError::Sink(_) | RunError::NoTargets(_) => 1,
        }
    }
}

/// "1 bad line", "N bad lines".
pub fn bad_lines(n: u64) -> String {
    match n {
        1 => "1 bad line".into(),
        n => format!("{n} bad lines"),
    }
}

/// What a run did.
#[derive(Debug, Default)]
pub struct Summary {
    pub path: PathBuf,
    pub measured: u64,
    pub bad_lines: u64,
    pub by_status: BTreeMap<Status, u64>,
    pub by_method: BTreeMap<String, u64>,
    /// Blocked targets with their methods, in the order they finished.
    pub blocked: Vec<(String, Vec<String>)>,
    /// Targets where the probe saw any network at all (a DNS datagram, a connection).
    pub with_network: u64,
    pub control_asked: bool,
    /// How the control fared, by target.
    pub control_health: ControlHealth,
    pub seconds: f64,
    /// The pass was stopped before every target was measured (its in-flight work finished
    /// within the grace period or was abandoned).
    pub interrupted: bool,
    /// The reader of stdout went away (`--out -`): the pass stopped there.
    pub output_closed: bool,
}

/// What the writer learns from one record, for the summary.
struct Tally {
    input: String,
    status: Status,
    methods: Vec<String>,
    network: bool,
    /// The control's outcome (`None`: not asked, or not known): its failure, if any.
    control_outcome: Option<Option<String>>,
}

impl Summary {
    /// The closing lines: where the records are, then one line per verdict.
    pub fn lines(&self) -> Vec<String> {
        let to = match self.path.to_str() {
            Some("-") => "-> stdout".into(),
            // A run that measured nothing leaves no file behind.
            _ if self.measured == 0 => "(nothing written)".into(),
            _ => format!("-> {}", self.path.display()),
        };
        let mut out = vec![format!(
            "vantage: {} measured in {:.1} s ({} skipped) {to}",
            self.measured,
            self.seconds,
            bad_lines(self.bad_lines),
        )];
        if let Some(failed) = self.control_health.failed_line() {
            out.push(format!("vantage: control {failed}"));
        }
        if self.output_closed {
            out.push("vantage: stdout was closed by its reader: stopped measuring".into());
        } else if self.interrupted {
            let written = match self.measured {
                0 => "nothing was written".to_string(),
                1 => "the 1 record written is whole".to_string(),
                n => format!("the {n} records written are whole"),
            };
            out.push(format!(
                "vantage: interrupted before every target was measured; {written}"
            ));
        }
        // Only a finished pass can tell: an interrupted one abandoned work in flight whose DNS
        // answers and connections no record carries.
        let finished = !self.interrupted && !self.output_closed;
        let answered = self.control_health.answered();
        if finished && self.with_network == 0 && (!self.control_asked || answered == 0) {
            out.push(
                "vantage: the probe seems to have no working network: no DNS answer arrived and no \
                 connection succeeded for any target; verdicts are unknown, not blocked"
                    .to_string(),
            );
        }
        for s in Status::ALL {
            let n = self.by_status.get(&s).copied().unwrap_or(0);
            out.push(format!("{}: {n}", s.as_str()));
        }
        for (method, n) in &self.by_method {
            out.push(format!("  {method}: {n}"));
        }
        for (input, methods) in &self.blocked {
            out.push(format!("blocked {input} ({})", methods.join(", ")));
        }
        out
    }
}

/// How long measurements in flight at Ctrl-C may take to finish before they are abandoned.
pub const INTERRUPT_GRACE: Duration = Duration::from_secs(3);

/// Runs one pass over the configured lists, into a new results file or to stdout. Ctrl-C
/// stops it: no new targets, those in flight get `INTERRUPT_GRACE`, and the summary says it
/// was interrupted.
pub async fn run(config: RunConfig) -> Result<Summary, RunError> {
    let now = OffsetDateTime::now_utc();
    let run_id = record::report_id(now, &config.probe_cc, &config.probe_asn);
    // Open the lists before creating the file, so a bad list leaves no empty file behind.
    targets::open_sources(&config.lists)?;
    let tls = TlsContext::new(config.ca_file.as_deref())?;
    // Armed before anything is said or asked: Ctrl-C during the control's check (up to its
    // timeout) ends the run with its (empty) summary too.
    let began = Instant::now();
    let stop = on_ctrl_c();
    attribution(&config);
    let mut watching = stop.clone();
    let checked = tokio::select! {
        biased;
        _ = until_stopped(&mut watching) => {
            return Ok(Summary {
                path: config.out.clone(),
                control_asked: config.control.is_some(),
                seconds: began.elapsed().as_secs_f64(),
                interrupted: true,
                ..Summary::default()
            });
        }
        checked = check_control(&config, &tls) => checked?,
    };
    let pass = Pass {
        run_id: run_id.clone(),
        started: now,
        progress: true,
        stop: Some(stop),
        grace: INTERRUPT_GRACE,
        preflight: checked,
        ..Pass::default()
    };
    if config.to_stdout() {
        // No results directory: nothing to repair, no file to remove.
        let mut summary = run_pass(&config, StdoutSink::new(), pass).await?;
        summary.seconds = began.elapsed().as_secs_f64();
        if summary.measured == 0 && !summary.output_closed && !summary.interrupted {
            return Err(RunError::NoTargets(summary.bad_lines));
        }
        return Ok(summary);
    }
    sink::repair_torn_tails(&config.out);
    let date = now
        .format(time::macros::format_description!("[year]-[month]-[day]"))
        .expect("dates format");
    let jsonl = JsonlSink::create(&config.out, &date, &run_id)?;
    let path = jsonl.path().to_path_buf();
    let mut summary = run_pass(&config, jsonl, pass).await?;
    // The run's time, the control's check included.
    summary.seconds = began.elapsed().as_secs_f64();
    if summary.measured == 0 {
        let _ = std::fs::remove_file(&path);
        if !summary.interrupted {
            return Err(RunError::NoTargets(summary.bad_lines));
        }
    }
    Ok(summary)
}

/// Arms Ctrl-C handling now and returns the signal it turns true. Registered before it
/// returns (not at a task's first poll), so a Ctrl-C right after is never the default kill.
fn on_ctrl_c() -> watch::Receiver<bool> {
    let (stop_tx, stop) = watch::channel(false);
    #[cfg(unix)]
    let sigint = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt());
    tokio::spawn(async move {
        #[cfg(unix)]
        let got = match sigint {
            Ok(mut s) => s.recv().await.is_some(),
            Err(e) => {
                tracing::warn!("cannot catch Ctrl-C: {e}");
                false
            }
        };
        #[cfg(not(unix))]
        let got = tokio::signal::ctrl_c().await.is_ok();
        if got {
            tracing::warn!(
                "interrupted: measuring no more targets; those in flight get {INTERRUPT_GRACE:?}"
            );
            let _ = stop_tx.send(true);
        } else {
            std::future::pending::<()>().await; // keep the sender: the stop never fires
        }
    });
    stop
}

/// What `run` says on stderr before the first target: that records will say ZZ/AS0.
fn attribution(config: &RunConfig) {
    if let Some(note) = preflight::attribution_note(&config.probe_cc, &config.probe_asn) {
        eprintln!("vantage: {note}");
    }
}

/// The control's one bounded check before the first target, and what is wrong with it on
/// stderr (handed to the pass so `/info` is asked once).
async fn check_control(
    config: &RunConfig,
    tls: &TlsContext,
) -> Result<Option<Preflight>, RunError> {
    let Some(url) = &config.control else {
        return Ok(None);
    };
    let client = ControlClient::new(url.clone(), config.control_token.clone(), tls)?;
    let checked = preflight::check(&client).await;
    if let Some(problem) = checked.problem() {
        eprintln!("vantage: {problem}");
    }
    Ok(Some(checked))
}

/// Spawned targets waiting for their host:port's spacing, per listener slot (bounds memory
/// when a list holds many URLs of one host).
pub const QUEUED_PER_LISTENER: usize = 4;

/// When each host:port was last measured, to keep measurements of one host:port apart: the
/// next may start only `spacing` after the previous one ended (a censor that saw a trigger may
/// keep blocking the client/server/port tuple for minutes, which would poison the next
/// measurement). Measurements of one host:port are therefore serialized. The daemon shares one
/// across all passes, so consecutive cycles and different schedules are spaced too.
#[derive(Debug, Default)]
pub struct Spacer {
    keys: Mutex<HashMap<String, SpacerKey>>,
}

type SpacerKey = Arc<tokio::sync::Mutex<Option<tokio::time::Instant>>>;

impl Spacer {
    pub fn new() -> Spacer {
        Spacer::default()
    }

    /// Remembers that `key` was last measured until `ended` (by an earlier process: spacing
    /// must survive a restart, or a restarted daemon would poison its first measurements).
    pub fn seed(&self, key: &str, ended: tokio::time::Instant) {
        let lock = self
            .keys
            .lock()
            .expect("spacer lock")
            .entry(key.to_string())
            .or_default()
            .clone();
        let Ok(mut end) = lock.try_lock() else { return };
        if end.is_none_or(|e| e < ended) {
            *end = Some(ended);
        }
    }

    fn key_lock(&self, key: &str, spacing: Duration) -> SpacerKey {
        let mut keys = self.keys.lock().expect("spacer lock");
        // Forget keys nobody holds whose spacing has passed, so the map stays small.
        if keys.len() > 4096 {
            let now = tokio::time::Instant::now();
            keys.retain(|_, v| {
                Arc::strong_count(v) > 1
                    || match v.try_lock() {
                        Ok(end) => end.is_some_and(|e| limits::after(e, spacing) > now),
                        Err(_) => true,
                    }
            });
        }
        keys.entry(key.to_string()).or_default().clone()
    }
}

/// Told when a measurement starts: the daemon marks it "in flight" (until its record is in
/// the file), to find a measurement that kills the process.
pub trait InFlight: Send + Sync + std::fmt::Debug {
    /// Before (`input`, `repeat`) starts being measured; may block on the disk.
    fn started(&self, input: &str, category_code: Option<&str>, repeat: u32);
}

/// Options of one pass beyond the run settings. `Pass::default()` is `vantage run`'s pass.
#[derive(Debug)]
pub struct Pass {
    pub run_id: String,
    pub started: OffsetDateTime,
    /// When it turns true: take no new targets; in-flight ones get `grace`, then are abandoned.
    pub stop: Option<watch::Receiver<bool>>,
    pub grace: Duration,
    /// Measurements of each target in this pass (rounds over the lists). 0 is taken as 1.
    pub repeats: u32,
    /// Time between the end of one measurement of a host:port and the start of the next;
    /// zero for none.
    pub spacing: Duration,
    /// Where last measurements are remembered (a fresh one when `None`).
    pub spacer: Option<Arc<Spacer>>,
    /// (input, repeat) pairs already written: not measured again.
    pub skip: HashSet<(String, u32)>,
    /// Extra run-wide annotations (e.g. the schedule's name).
    pub annotations: BTreeMap<String, String>,
    /// Write `annotations.repeat` in each record.
    pub annotate_repeat: bool,
    /// Show progress on a terminal.
    pub progress: bool,
    /// Told of each measurement's start.
    pub in_flight: Option<Arc<dyn InFlight>>,
    /// The control's check, when the caller made it (and told the user); else the pass makes
    /// it and logs what is wrong.
    pub preflight: Option<Preflight>,
}

impl Default for Pass {
    fn default() -> Pass {
        Pass {
            run_id: String::new(),
            started: OffsetDateTime::UNIX_EPOCH,
            stop: None,
            grace: Duration::from_secs(10),
            repeats: 1,
            spacing: Duration::ZERO,
            spacer: None,
            skip: HashSet::new(),
            annotations: BTreeMap::new(),
            annotate_repeat: false,
            progress: false,
            in_flight: None,
            preflight: None,
        }
    }
}

/// Waits until `stop` turns true (forever once its sender is gone).
pub async fn until_stopped(stop: &mut watch::Receiver<bool>) {
    if stop.wait_for(|s| *s).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// `until_stopped`, forever when there is no stop signal.
async fn stopped(stop: &mut Option<watch::Receiver<bool>>) {
    match stop {
        Some(rx) => until_stopped(rx).await,
        None => std::future::pending::<()>().await,
    }
}

/// The host:port a URL connects to first (the spacing key).
pub fn host_port(url: &url::Url) -> String {
    format!(
        "{}:{}",
        url.host_str().unwrap_or(""),
        url.port_or_known_default().unwrap_or(0)
    )
}

/// What every record of this pass shares.
pub fn run_info(config: &RunConfig, pass: &Pass) -> RunInfo {
    let mut annotations: BTreeMap<String, String> = [
        ("engine_name", "vantage"),
        ("platform", std::env::consts::OS),
        (
            "architecture",
            crate::record::goarch(std::env::consts::ARCH),
        ),
        ("engine_version", env!("CARGO_PKG_VERSION")),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    annotations.extend(pass.annotations.clone());
    if !config.testbed_nets.is_empty() {
        // What the analysis treated as routable: a check of the records with OONI's code
        // (which calls these ranges bogons) must map exactly these to routable addresses.
        let nets: Vec<String> = config.testbed_nets.iter().map(|n| n.to_string()).collect();
        annotations.insert("testbed_nets".into(), nets.join(","));
    }
    RunInfo {
        report_id: pass.run_id.clone(),
        test_start_time: pass.started,
        probe_cc: config.probe_cc.clone(),
        probe_asn: config.probe_asn.clone(),
        resolver_ip: config.resolver.ip().to_string(),
        annotations,
        test_helpers: config.control.as_ref().map(crate::record::test_helpers),
    }
}

/// One pass over the configured lists into `sink` (a JSONL file, new or opened for append, or
/// stdout).
pub async fn run_pass(
    config: &RunConfig,
    sink: impl Sink + 'static,
    pass: Pass,
) -> Result<Summary, RunError> {
    let started = Instant::now();
    let repeats = pass.repeats.max(1);
    targets::open_sources(&config.lists)?;
    let tls = TlsContext::new(config.ca_file.as_deref())?;
    let tls_for_control = tls.clone();
    let path = sink.path().to_path_buf();
    let run = Arc::new(run_info(config, &pass));
    let prober = Arc::new(Prober::new(
        ProbeSettings {
            dns: DnsSettings {
                resolver: config.resolver,
                timeout: config.timeout,
                wait: config.dns_wait,
                source: None,
            },
            step_timeout: config.timeout,
            deadline: config.deadline,
            max_addrs_per_family: config.max_addrs,
            max_redirects: 10,
            http: HttpSettings {
                body_cap: BODY_CAP,
                read_cap: READ_CAP,
                timeout: config.timeout,
                headers: Default::default(),
            },
            refuse_reserved: false,
            source: None,
        },
        tls,
        Arc::new(RateLimiter::new(config.rate)),
    ));

    let progress = Progress::new(pass.progress);
    if progress.shown() {
        let lists = config.lists.clone();
        let counted = tokio::task::spawn_blocking(move || targets::count(&lists)).await;
        let per_round = counted.expect("counting does not panic")?;
        let total = (per_round * u64::from(repeats)).saturating_sub(pass.skip.len() as u64);
        progress.set_total(total);
    }

    // Reader thread: streams targets round after round, reports bad lines (first round only).
    let (target_tx, mut target_rx) = mpsc::channel::<(Target, u32)>(config.parallel);
    let pb = progress.clone();
    let lists = config.lists.clone();
    let reader = std::thread::spawn(move || {
        let mut bad = 0u64;
        'rounds: for round in 1..=repeats {
            let Ok(list) = targets::open_sources(&lists) else {
                break;
            };
            for entry in list {
                match entry {
                    Entry::Target(t) => {
                        if target_tx.blocking_send((t, round)).is_err() {
                            break 'rounds;
                        }
                    }
                    Entry::Bad(b) => {
                        if round == 1 {
                            bad += 1;
                            pb.suspend(|| eprintln!("{b}"));
                        }
                    }
                }
            }
        }
        bad
    });

    // Writer thread: the only one that touches the results file.
    // Few lines wait for the writer: each may be up to `RECORD_MAX_BYTES`.
    let (record_tx, mut record_rx) =
        mpsc::channel::<(Vec<u8>, Tally)>(crate::budget::RECORDS_SERIALISED_AT_ONCE);
    let pb = progress.clone();
    let writer = std::thread::spawn(move || -> Result<Summary, SinkError> {
        let mut sink = sink;
        let mut summary = Summary::default();
        while let Some((line, tally)) = record_rx.blocking_recv() {
            match sink.write_line(&line) {
                Err(e) if e.closed() => {
                    summary.output_closed = true;
                    return Ok(summary);
                }
                written => written?,
            }
            pb.recorded(tally.status == Status::Blocked);
            summary.measured += 1;
            *summary.by_status.entry(tally.status).or_insert(0) += 1;
            for m in &tally.methods {
                *summary.by_method.entry(m.clone()).or_insert(0) += 1;
            }
            if tally.status == Status::Blocked {
                summary.blocked.push((tally.input, tally.methods));
            }
            summary.with_network += tally.network as u64;
            if let Some(outcome) = &tally.control_outcome {
                summary.control_health.record(outcome.as_deref());
            }
        }
        sink.finish()?;
        Ok(summary)
    });
    let probe_addrs = ProbeAddrs::new(&config.probe_ips);
    let control = match &config.control {
        Some(url) => {
            let mut client =
                ControlClient::new(url.clone(), config.control_token.clone(), &tls_for_control)?;
            let checked = match pass.preflight.clone() {
                Some(checked) => checked,
                None => {
                    let checked = preflight::check(&client).await;
                    if let Some(problem) = checked.problem() {
                        tracing::warn!("{problem}");
                    }
                    checked
                }
            };
            client.heed(&checked);
            let limit = checked.apply(&probe_addrs);
            let limit = limit.unwrap_or(crate::control::DEFAULT_MAX_INFLIGHT);
            tracing::info!("at most {limit} control requests in flight");
            client.limit_inflight(limit);
            Some(Arc::new(client))
        }
        None => None,
    };
    let shared = Arc::new(Shared {
        prober,
        run,
        control,
        fingerprints: Fingerprints::builtin(),
        testbed_nets: config.testbed_nets.clone(),
        annotate_repeat: pass.annotate_repeat,
        probe_addrs,
        lines: Arc::new(Semaphore::new(crate::budget::RECORDS_SERIALISED_AT_ONCE)),
    });
    let slots = Arc::new(Semaphore::new(config.parallel));
    let listeners = Arc::new(Semaphore::new(config.parallel * LISTENERS_PER_SLOT));
    let spacing = pass.spacing;
    let spacer = (!spacing.is_zero()).then(|| pass.spacer.clone().unwrap_or_default());
    let queued = Arc::new(Semaphore::new(
        config.parallel * LISTENERS_PER_SLOT * QUEUED_PER_LISTENER,
    ));
    let mut tasks = JoinSet::new();
    // Measurements past their waits (spacing, slots): what a stop's grace period waits for.
    let mut stop = pass.stop.clone();
    let mut interrupted = false;
    loop {
        let next = tokio::select! {
            biased;
            _ = stopped(&mut stop) => None,
            t = target_rx.recv() => Some(t),
        };
        let (target, repeat) = match next {
            None => {
                interrupted = true;
                break;
            }
            Some(None) => break,
            Some(Some(t)) => t,
        };
        if record_tx.is_closed() {
            break; // the writer failed: measuring more would lose the results
        }
        if pass.skip.contains(&(target.input.clone(), repeat)) {
            continue;
        }
        // A target holds a listener slot from start to record (its DNS sockets may outlive its
        // network work), and a work slot only while it connects and fetches. Without spacing
        // both are taken here, in list order; with spacing the task takes them once its
        // host:port may be measured, so a target waiting for its spacing holds neither.
        type Permits = (OwnedSemaphorePermit, OwnedSemaphorePermit);
        let (admitted, queue_slot): (Option<Permits>, Option<OwnedSemaphorePermit>) =
            if spacer.is_some() {
                let q = tokio::select! {
                    biased;
                    _ = stopped(&mut stop) => {
                        interrupted = true;
                        break;
                    }
                    p = queued.clone().acquire_owned() => p.expect("never closed"),
                };
                (None, Some(q))
            } else {
                let both = async {
                    let l = listeners.clone().acquire_owned().await;
                    let w = slots.clone().acquire_owned().await;
                    (l.expect("never closed"), w.expect("never closed"))
                };
                let p = tokio::select! {
                    biased;
                    _ = stopped(&mut stop) => {
                        interrupted = true;
                        break;
                    }
                    p = both => p,
                };
                (Some(p), None)
            };
        while tasks.try_join_next().is_some() {}
        let (shared, record_tx) = (shared.clone(), record_tx.clone());
        let spacer = spacer.clone();
        let (slots, listeners) = (slots.clone(), listeners.clone());
        let mut task_stop = pass.stop.clone();
        let in_flight = pass.in_flight.clone();
        let progress = progress.clone();
        tasks.spawn(async move {
            // Spacing: hold this host:port's lock for the whole measurement.
            let mut spaced = None;
            let (listening, permit) = match admitted {
                Some(p) => p,
                None => {
                    let wait = async {
                        let spacer = spacer.expect("spacing without a spacer");
                        let lock = spacer.key_lock(&host_port(&target.url), spacing);
                        let guard = lock.lock_owned().await;
                        if let Some(end) = *guard {
                            tokio::time::sleep_until(limits::after(end, spacing)).await;
                        }
                        let l = listeners.acquire_owned().await.expect("never closed");
                        let w = slots.acquire_owned().await.expect("never closed");
                        (guard, l, w)
                    };
                    tokio::select! {
                        biased;
                        _ = stopped(&mut task_stop) => return, // never started: nothing lost
                        (guard, l, w) = wait => {
                            spaced = Some(guard);
                            (l, w)
                        }
                    }
                }
            };
            if let Some(marks) = in_flight {
                let (input, category) = (target.input.clone(), target.category_code.clone());
                let mark = move || marks.started(&input, category.as_deref(), repeat);
                let _ = tokio::task::spawn_blocking(mark).await;
            }
            progress.started();
            let (line, tally, serialising) =
                record_for(&shared, &target, repeat, permit, spaced).await;
            // A closed channel means the writer failed; its error is reported below. The line
            // keeps its serialising permit until the channel holds it.
            let _ = record_tx.send((line, tally)).await;
            progress.ended();
            drop(serialising);
            drop(listening);
            drop(queue_slot);
        });
    }
    // Stop reading: the reader thread ends at its next send.
    drop(target_rx);
    if !interrupted {
        // Every target is dispatched; a stop now still cuts the wait for those in flight, and
        // a writer gone (stdout closed, a write failed) leaves nothing worth waiting for.
        tokio::select! {
            _ = drain(&mut tasks) => {}
            _ = stopped(&mut stop) => interrupted = true,
            _ = record_tx.closed() => {
                tasks.abort_all();
                while tasks.join_next().await.is_some() {}
            }
        }
    }
    if interrupted {
        // Those still waiting on spacing or a slot return at the stop, measuring nothing.
        let n = progress.in_flight();
        let finished = tokio::time::timeout(pass.grace, drain(&mut tasks)).await;
        if finished.is_err() {
            tracing::warn!(
                "abandoning {} measurement(s) still in flight after the {:?} grace period",
                tasks.len(),
                pass.grace
            );
            tasks.abort_all();
            while tasks.join_next().await.is_some() {}
        } else if n > 0 {
            tracing::info!("{n} in-flight measurement(s) finished within the grace period");
        }
    }
    drop(record_tx);
    let bad_lines = reader.join().unwrap_or(0);
    let mut summary = writer.join().expect("writer thread panicked")?;
    progress.finish();
    summary.path = path;
    summary.bad_lines = bad_lines;
    summary.control_asked = config.control.is_some();
    summary.seconds = started.elapsed().as_secs_f64();
    summary.interrupted = interrupted;
    Ok(summary)
}

/// What every measurement of a pass shares.
struct Shared {
    prober: Arc<Prober>,
    run: Arc<RunInfo>,
    control: Option<Arc<ControlClient>>,
    fingerprints: Fingerprints,
    testbed_nets: Vec<ipnet::IpNet>,
    annotate_repeat: bool,
    /// The vantage point's own addresses, scrubbed from every record.
    probe_addrs: ProbeAddrs,
    /// Records being turned into lines (or waiting to hand one to the writer): bounds the
    /// memory of serialising, whatever `--parallel` says.
    lines: Arc<Semaphore>,
}

/// A finished record's line, its tally, and the permit it was serialised under (held until the
/// writer's channel takes the line).
type Done = (Vec<u8>, Tally, Option<OwnedSemaphorePermit>);

/// A host:port's spacing lock, held for the whole measurement.
type Spaced = tokio::sync::OwnedMutexGuard<Option<tokio::time::Instant>>;

/// Measures one target into its record line. Whatever happens inside, a record comes out: a
/// panic becomes a record of the failed measurement (logged at error level), never a target
/// without a record.
async fn record_for(
    shared: &Shared,
    target: &Target,
    repeat: u32,
    permit: OwnedSemaphorePermit,
    spaced: Option<Spaced>,
) -> Done {
    let start = OffsetDateTime::now_utc();
    let annotate = shared.annotate_repeat.then_some(repeat);
    let measurement = measure(shared, target, annotate, start, permit, spaced);
    let scrubber = shared.probe_addrs.scrubber();
    guarded(&shared.run, &scrubber, target, annotate, start, measurement).await
}

/// Runs `measurement`; when it panics, the record of a measurement that ended in an internal
/// error stands for it.
async fn guarded(
    run: &RunInfo,
    scrubber: &Scrubber,
    target: &Target,
    repeat: Option<u32>,
    start: OffsetDateTime,
    measurement: impl std::future::Future<Output = Done>,
) -> Done {
    let began = Instant::now();
    match AssertUnwindSafe(measurement).catch_unwind().await {
        Ok(done) => done,
        Err(payload) => {
            let message = panic_message(payload.as_ref());
            tracing::error!(input = %target.input, "internal error while measuring: {message}");
            let runtime = began.elapsed().as_secs_f64();
            let record = internal_error(run, target, start, runtime, &message);
            let tally = Tally {
                input: target.input.clone(),
                status: Status::Unknown,
                methods: vec![],
                network: false,
                control_outcome: None,
            };
            // A small record (no observations): no permit needed.
            (finish_record(record, scrubber, repeat), tally, None)
        }
    }
}

/// The measurement proper: network, control, analysis, record.
async fn measure(
    shared: &Shared,
    target: &Target,
    repeat: Option<u32>,
    start: OffsetDateTime,
    permit: OwnedSemaphorePermit,
    spaced: Option<Spaced>,
) -> Done {
    let (endpoints_tx, endpoints_rx) = oneshot::channel::<Vec<std::net::SocketAddr>>();
    let ask = async {
        let client = shared.control.as_ref()?;
        let endpoints = endpoints_rx.await.unwrap_or_default();
        let request = ControlClient::request_for(target.url.as_str(), &endpoints);
        let sent = serde_json::to_value(&request).expect("requests serialize");
        Some((sent, client.ask(&request).await))
    };
    let (measured, answer) = tokio::join!(
        shared.prober.measure_with(&target.url, Some(endpoints_tx)),
        ask
    );
    drop(permit);
    if let Some(mut guard) = spaced {
        *guard = Some(tokio::time::Instant::now());
    }
    let (control_request, answer) = answer.unzip();
    let (control_answer, control_failure) = match answer {
        None => (None, None),
        Some(Ok(a)) => (Some(a), None),
        Some(Err(f)) => (None, Some(f)),
    };
    let clock = measured.clock;
    let observations = measured.finish().await;
    let ctx = analysis::Context {
        control: control_answer.as_ref(),
        control_failure: control_failure.as_deref(),
        testbed_nets: &shared.testbed_nets,
        fingerprints: &shared.fingerprints,
        probe_cc: Some(shared.run.probe_cc.as_str()).filter(|cc| *cc != "ZZ"),
    };
    let analysis = analysis::analyze(&target.url, &observations, &ctx);
    let tally = Tally {
        input: target.input.clone(),
        status: analysis.x_verdict.status,
        methods: analysis.x_verdict.methods.clone(),
        network: observations
            .queries
            .iter()
            .any(|q| q.raw_response.is_some())
            || observations.tcp_connect.iter().any(|t| t.status.success),
        control_outcome: shared.control.as_ref().map(|_| control_failure.clone()),
    };
    let control = control_answer.map(|a| serde_json::to_value(a).expect("answers serialize"));
    let record = Record::new(
        &shared.run,
        Measurement {
            input: &target.input,
            category_code: target.category_code.as_deref(),
            start,
            runtime: clock.now(),
            observations,
            control,
            control_failure,
            control_request,
            analysis,
        },
    );
    let scrubber = shared.probe_addrs.scrubber();
    let serialising = shared.lines.clone().acquire_owned().await;
    let line = finish_record(record, &scrubber, repeat);
    (line, tally, serialising.ok())
}

/// The record of a measurement that ended in an internal error: no observations, verdict
/// unknown, and the error as its `failure`.
fn internal_error(
    run: &RunInfo,
    target: &Target,
    start: OffsetDateTime,
    runtime: f64,
    message: &str,
) -> Record {
    let reason = format!("internal error: {message}");
    Record::failed(
        run,
        &target.input,
        target.category_code.as_deref(),
        (start, runtime),
        &crate::failure::Failure::Unknown(reason.clone()),
        reason,
    )
}

/// The record's line, scrubbed of the probe's own addresses, with `annotations.repeat` when
/// given.
fn finish_record(mut record: Record, scrubber: &Scrubber, repeat: Option<u32>) -> Vec<u8> {
    scrubber.record(&mut record);
    if let Some(repeat) = repeat {
        record
            .annotations
            .insert("repeat".into(), repeat.to_string());
    }
    record.into_line()
}

/// A panic's message, cut to a readable length.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    let text = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into());
    match text.char_indices().nth(300) {
        Some((i, _)) => format!("{}...", &text[..i]),
        None => text,
    }
}

async fn drain(tasks: &mut JoinSet<()>) {
    while let Some(r) = tasks.join_next().await {
        if let Err(e) = r {
            tracing::error!("measurement task failed: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panicking_measurement_still_yields_its_record() {
        let run = RunInfo::for_tests("127.0.0.1");
        let target = Target {
            input: "https://example.org/".into(),
            url: url::Url::parse("https://example.org/").unwrap(),
            category_code: Some("NEWS".into()),
        };
        let boom = async { panic!("boom {}", 7) };
        let (line, tally, _) = guarded(
            &run,
            &Scrubber::default(),
            &target,
            Some(2),
            OffsetDateTime::now_utc(),
            boom,
        )
        .await;
        let r: serde_json::Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(r["input"], "https://example.org/");
        let keys = &r["test_keys"];
        assert_eq!(keys["failure"], "unknown_failure: internal error: boom 7");
        assert_eq!(keys["x_verdict"]["status"], "unknown");
        assert_eq!(keys["x_verdict"]["reasons"][0], "internal error: boom 7");
        assert_eq!(r["annotations"]["repeat"], "2");
        assert_eq!(r["annotations"]["category_code"], "NEWS");
        assert_eq!(tally.status, Status::Unknown);
        assert_eq!(tally.input, "https://example.org/");
    }
}
