//! `vantage run`: one pass over the target lists. Targets stream in from a reader thread,
//! `parallel` of them are measured at once, each finished record goes through a bounded channel
//! to the one writer thread, and the run ends with a summary per verdict.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use time::OffsetDateTime;
use tokio::sync::{mpsc, oneshot, Semaphore};
use tokio::task::JoinSet;

use crate::analysis::{self, Status};
use crate::config::RunConfig;
use crate::control::ControlClient;
use crate::fingerprints::Fingerprints;
use crate::probe::dns::DnsSettings;
use crate::probe::http::HttpSettings;
use crate::probe::tls::{TlsContext, TlsSetupError};
use crate::probe::{ProbeSettings, Prober};
use crate::rate::RateLimiter;
use crate::record::{self, Measurement, Record, RunInfo};
use crate::sink::{self, JsonlSink, Sink, SinkError};
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
    #[error("no targets to measure ({0} bad lines)")]
    NoTargets(u64),
}

impl RunError {
    /// 2 for bad usage or configuration, 1 when the probe itself failed (SPEC.md).
    pub fn exit_code(&self) -> u8 {
        match self {
            RunError::List(_) | RunError::Tls(_) => 2,
            RunError::Sink(_) | RunError::NoTargets(_) => 1,
        }
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
    /// Targets whose control answered.
    pub with_control: u64,
    pub control_asked: bool,
    pub seconds: f64,
}

/// What the writer learns from one record, for the summary.
struct Tally {
    input: String,
    status: Status,
    methods: Vec<String>,
    network: bool,
    control: bool,
}

impl Summary {
    /// The closing lines: where the records are, then one line per verdict.
    pub fn lines(&self) -> Vec<String> {
        let mut out = vec![format!(
            "vantage: {} measured in {:.1} s ({} bad lines skipped) -> {}",
            self.measured,
            self.seconds,
            self.bad_lines,
            self.path.display()
        )];
        if self.with_network == 0 && (!self.control_asked || self.with_control == 0) {
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

/// Runs one pass over the configured lists.
pub async fn run(config: RunConfig) -> Result<Summary, RunError> {
    let started = Instant::now();
    let list = targets::open(&config.targets)?;
    let tls = TlsContext::new(config.ca_file.as_deref())?;
    let tls_for_control = tls.clone();
    let now = OffsetDateTime::now_utc();
    let run_id = record::report_id(now, &config.probe_cc, &config.probe_asn);
    sink::repair_torn_tails(&config.out);
    let date = now
        .format(time::macros::format_description!("[year]-[month]-[day]"))
        .expect("dates format");
    let jsonl = JsonlSink::create(&config.out, &date, &run_id)?;
    let path = jsonl.path().to_path_buf();

    let run = Arc::new(RunInfo {
        report_id: run_id,
        test_start_time: now,
        probe_cc: config.probe_cc.clone(),
        probe_asn: config.probe_asn.clone(),
        resolver_ip: config.resolver.ip().to_string(),
        annotations: [
            ("engine_name", "vantage"),
            ("platform", std::env::consts::OS),
            ("architecture", std::env::consts::ARCH),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect(),
    });
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
            },
            refuse_reserved: false,
            source: None,
        },
        tls,
        Arc::new(RateLimiter::new(config.rate)),
    ));

    let progress = ProgressBar::new_spinner();
    progress.set_style(
        ProgressStyle::with_template("{spinner} {pos} measured ({per_sec}) {elapsed} {msg}")
            .expect("valid template"),
    );

    // Reader thread: streams targets, reports bad lines.
    let (target_tx, mut target_rx) = mpsc::channel::<Target>(config.parallel);
    let pb = progress.clone();
    let reader = std::thread::spawn(move || {
        let mut bad = 0u64;
        for entry in list {
            match entry {
                Entry::Target(t) => {
                    if target_tx.blocking_send(t).is_err() {
                        break;
                    }
                }
                Entry::Bad(b) => {
                    bad += 1;
                    pb.suspend(|| eprintln!("{b}"));
                }
            }
        }
        bad
    });

    // Writer thread: the only one that touches the results file.
    let (record_tx, mut record_rx) = mpsc::channel::<(Vec<u8>, Tally)>(config.parallel * 2);
    let pb = progress.clone();
    let writer = std::thread::spawn(move || -> Result<Summary, SinkError> {
        let mut sink: Box<dyn Sink> = Box::new(jsonl);
        let mut summary = Summary::default();
        while let Some((line, tally)) = record_rx.blocking_recv() {
            sink.write_line(&line)?;
            summary.measured += 1;
            *summary.by_status.entry(tally.status).or_insert(0) += 1;
            for m in &tally.methods {
                *summary.by_method.entry(m.clone()).or_insert(0) += 1;
            }
            if tally.status == Status::Blocked {
                summary.blocked.push((tally.input, tally.methods));
            }
            summary.with_network += tally.network as u64;
            summary.with_control += tally.control as u64;
            pb.inc(1);
        }
        sink.finish()?;
        Ok(summary)
    });
    let control = match &config.control {
        Some(url) => Some(Arc::new(ControlClient::new(
            url.clone(),
            config.control_token.clone(),
            &tls_for_control,
        )?)),
        None => None,
    };

    let fingerprints = Arc::new(Fingerprints::builtin());
    let testbed_nets = Arc::new(config.testbed_nets.clone());
    let slots = Arc::new(Semaphore::new(config.parallel));
    let listeners = Arc::new(Semaphore::new(config.parallel * LISTENERS_PER_SLOT));
    let mut tasks = JoinSet::new();
    while let Some(target) = target_rx.recv().await {
        if record_tx.is_closed() {
            break; // the writer failed: measuring more would lose the results
        }
        // A target holds a listener slot from start to record (its DNS sockets may outlive its
        // network work), and a work slot only while it connects and fetches.
        let listening = listeners
            .clone()
            .acquire_owned()
            .await
            .expect("never closed");
        let permit = slots.clone().acquire_owned().await.expect("never closed");
        while tasks.try_join_next().is_some() {}
        let (prober, run, record_tx) = (prober.clone(), run.clone(), record_tx.clone());
        let (fingerprints, testbed_nets) = (fingerprints.clone(), testbed_nets.clone());
        let control = control.clone();
        tasks.spawn(async move {
            let start = OffsetDateTime::now_utc();
            let (endpoints_tx, endpoints_rx) = oneshot::channel::<Vec<std::net::SocketAddr>>();
            let ask = async {
                let client = control?;
                let endpoints = endpoints_rx.await.unwrap_or_default();
                let request = ControlClient::request_for(target.url.as_str(), &endpoints);
                Some(client.ask(&request).await)
            };
            let (measured, answer) =
                tokio::join!(prober.measure_with(&target.url, Some(endpoints_tx)), ask);
            drop(permit);
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
                testbed_nets: &testbed_nets,
                fingerprints: &fingerprints,
                probe_cc: Some(run.probe_cc.as_str()).filter(|cc| *cc != "ZZ"),
            };
            let analysis = analysis::analyze(&target.url, &observations, &ctx);
            let tally = Tally {
                input: target.url.to_string(),
                status: analysis.x_verdict.status,
                methods: analysis.x_verdict.methods.clone(),
                network: observations
                    .queries
                    .iter()
                    .any(|q| q.raw_response.is_some())
                    || observations.tcp_connect.iter().any(|t| t.status.success),
                control: control_answer.is_some(),
            };
            let record = Record::new(
                &run,
                Measurement {
                    input: target.url.as_str(),
                    category_code: target.category_code.as_deref(),
                    start,
                    runtime: clock.now(),
                    observations,
                    control: control_answer
                        .map(|a| serde_json::to_value(a).expect("answers serialize")),
                    control_failure,
                    analysis,
                },
            );
            // A closed channel means the writer failed; its error is reported below.
            let _ = record_tx.send((record.to_line(), tally)).await;
            drop(listening);
        });
    }
    while let Some(r) = tasks.join_next().await {
        if let Err(e) = r {
            tracing::error!("measurement task failed: {e}");
        }
    }
    drop(record_tx);
    let bad_lines = reader.join().unwrap_or(0);
    let mut summary = writer.join().expect("writer thread panicked")?;
    progress.finish_and_clear();
    if summary.measured == 0 {
        let _ = std::fs::remove_file(&path);
        return Err(RunError::NoTargets(bad_lines));
    }
    summary.path = path;
    summary.bad_lines = bad_lines;
    summary.control_asked = config.control.is_some();
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}
