//! `vantage daemon` and `vantage status`: scheduled measurement for unattended vantage points.
//!
//! One task per schedule. A cycle is one pass over the schedule's lists (each target measured
//! `repeats` times, measurements of one host:port spaced) into its own file. Cycles run one at
//! a time across all schedules (one link, one rate cap); a cycle still running when the next is
//! due is reported ("overran its interval") and the next starts when it ends, never stacked.
//! The state (`state.rs`) records the cycle in progress, so after a crash the daemon resumes
//! it, measuring only the (input, repeat) pairs not yet in its file. SIGTERM or SIGINT: no new
//! work, in-flight measurements get `grace`, the file is flushed; only then is the shipper
//! stopped, so its last pass (at most another `grace`) carries those records too; exit 0.
//!
//! A cycle resumed after downtime counts as an overrun only for the time it spent measuring
//! (`Current::active`), not the time the daemon was down. A due time further ahead than the
//! schedule allows (the clock jumped back after it was computed) is reset to now. One state
//! directory, one daemon: an exclusive lock on `daemon.pid`, held for the daemon's life.
//!
//! Spacing survives a restart: the spacing memory (when each host:port was last measured) is
//! seeded at start from the records of each schedule's cycle in progress and last cycle.
//!
//! A measurement that keeps killing the process does not stall its cycle (`poison.rs`): the
//! measurements in flight are marked in a journal, and one the process died in
//! `poison::CRASHES_BEFORE_FAILED` times (the latest alone) is recorded as failed and skipped.
//!
//! The control is checked at start (and by each cycle's pass), and a cycle whose control failed
//! for some targets is a warning with the counts by cause, kept in the state for `status`.

pub mod config;
pub mod poison;
pub mod schedule;
mod spacing_wait;
pub mod state;

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use time::OffsetDateTime;
use tokio::sync::watch;

use crate::exit::{fatal, usage, Exit};
use crate::runner::{self, until_stopped, Pass, RunError, Spacer, Summary};
use crate::sink::{self, JsonlSink, SinkError};
use config::{DaemonConfig, Schedule, When};
use state::{Current, CycleRecord, ScheduleState};

/// Flags of `vantage daemon`.
#[derive(Args, Debug, Clone)]
pub struct DaemonArgs {
    /// TOML config of schedules, results, shipping.
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// Log format: human or json.
    #[arg(long = "log-format", value_name = "FORMAT", default_value = "human")]
    pub log_format: String,
}

/// Flags of `vantage status`.
#[derive(Args, Debug, Clone)]
pub struct StatusArgs {
    /// The daemon's TOML config.
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
}

/// Runs the daemon until SIGTERM or SIGINT.
pub fn daemon_main(args: DaemonArgs) -> Result<(), Exit> {
    if !matches!(args.log_format.as_str(), "human" | "json") {
        return Err(usage(format!(
            "invalid --log-format {:?}: want human or json",
            args.log_format
        )));
    }
    let config = config::load(&args.config, crate::config::system_resolver).map_err(usage)?;
    std::fs::create_dir_all(&config.state).map_err(|e| {
        fatal(format!(
            "cannot create state directory {}: {e}",
            config.state.display()
        ))
    })?;
    // Held (locked) for the daemon's whole life; the kernel drops it if the process dies.
    let claim = state::claim(&config.state).map_err(fatal)?;
    let rt = tokio::runtime::Runtime::new()
        .map_err(|e| fatal(format!("cannot start the async runtime: {e}")))?;
    let outcome = rt.block_on(serve(config));
    claim.release();
    outcome
}

async fn serve(config: DaemonConfig) -> Result<(), Exit> {
    use tokio::signal::unix::{signal, SignalKind};
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut term = signal(SignalKind::terminate()).map_err(fatal)?;
    let mut int = signal(SignalKind::interrupt()).map_err(fatal)?;
    tokio::spawn(async move {
        let name = tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        };
        tracing::info!("{name}: stopping (no new measurements, grace period for those in flight)");
        let _ = stop_tx.send(true);
    });
    tracing::info!(
        config = %config.path.display(),
        schedules = config.schedules.len(),
        "vantage daemon started"
    );
    start_checks(&config).await;

    // The shipper has its own stop, sent once the schedules have flushed what was in flight:
    // stopped with them, its last pass would run before their last records are written.
    let (ship_stop_tx, ship_stop_rx) = watch::channel(false);
    let shipper = match &config.clickhouse {
        Some(ch) => match crate::ship::Shipper::new(
            ch.clone(),
            config.results.clone(),
            config.vantage_point.clone(),
        ) {
            Ok(s) => Some(tokio::spawn(s.run(ship_stop_rx))),
            Err(e) => {
                return Err(usage(format!(
                    "{}: [clickhouse]: {e}",
                    config.path.display()
                )))
            }
        },
        None => None,
    };

    let config = Arc::new(config);
    let cycle_lock = Arc::new(tokio::sync::Mutex::new(()));
    // One memory of when each host:port was last measured, for every schedule, seeded from
    // what an earlier process measured recently.
    let spacer = Arc::new(Spacer::new());
    seed_spacer(&config, &spacer);
    let mut tasks = tokio::task::JoinSet::new();
    for (i, _) in config.schedules.iter().enumerate() {
        let (config, lock, stop) = (config.clone(), cycle_lock.clone(), stop_rx.clone());
        let spacer = spacer.clone();
        tasks.spawn(async move {
            let name = config.schedules[i].name.clone();
            schedule_loop(&config, &config.schedules[i], lock, spacer, stop)
                .await
                .map_err(|e| format!("schedule {name}: {e}"))
        });
    }
    let mut failed = None;
    while let Some(r) = tasks.join_next().await {
        match r {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::error!("{e}");
                failed.get_or_insert(e);
            }
            Err(e) => {
                failed.get_or_insert(format!("schedule task failed: {e}"));
            }
        }
        if failed.is_some() {
            break;
        }
    }
    if let Some(e) = failed {
        return Err(fatal(e));
    }
    // Every schedule has returned, its file flushed: now the shipper's last pass sees it all.
    let _ = ship_stop_tx.send(true);
    if let Some(s) = shipper {
        if tokio::time::timeout(config.grace, s).await.is_err() {
            tracing::warn!(
                "the shipper's last pass did not finish within the grace period (the next start \
                 ships the rest)"
            );
        }
    }
    tracing::info!("vantage daemon stopped");
    Ok(())
}

/// At start, once: the schedules whose records will say ZZ/AS0, and each control checked
/// (each cycle's pass checks its control again).
async fn start_checks(config: &DaemonConfig) {
    let mut notes: Vec<(String, Vec<&str>)> = Vec::new();
    for s in &config.schedules {
        let Some(note) =
            crate::control::preflight::attribution_note(&s.run.probe_cc, &s.run.probe_asn)
        else {
            continue;
        };
        match notes.iter_mut().find(|(n, _)| *n == note) {
            Some((_, names)) => names.push(&s.name),
            None => notes.push((note, vec![&s.name])),
        }
    }
    for (note, names) in notes {
        tracing::warn!(schedules = %names.join(","), "{note}");
    }
    let mut checked = HashSet::new();
    for s in &config.schedules {
        let Some(url) = &s.run.control else { continue };
        if !checked.insert((url.clone(), s.run.control_token.clone())) {
            continue;
        }
        let Ok(tls) = crate::probe::tls::TlsContext::new(s.run.ca_file.as_deref()) else {
            continue; // the cycle reports it
        };
        let Ok(client) =
            crate::control::ControlClient::new(url.clone(), s.run.control_token.clone(), &tls)
        else {
            continue;
        };
        let checked = crate::control::preflight::check(&client).await;
        match checked.problem() {
            Some(problem) => tracing::warn!("{problem}"),
            None => tracing::info!("control {} ready", crate::redact::url(url)),
        }
        // The first cycle takes this check rather than saying it again.
        crate::control::preflight::keep(checked, s.run.control_token.clone());
    }
}

/// Longest sleep before the wall clock is read again, in seconds.
const WAKE_EVERY: f64 = 30.0;

/// Wait before retrying a cycle whose file could not be readied.
const RETRY: Duration = Duration::from_secs(60);

/// Runs one schedule's cycles until stopped. Errors are faults of the daemon (state unwritable).
async fn schedule_loop(
    config: &DaemonConfig,
    sched: &Schedule,
    lock: Arc<tokio::sync::Mutex<()>>,
    spacer: Arc<Spacer>,
    mut stop: watch::Receiver<bool>,
) -> Result<(), String> {
    let dir = &config.state;
    let save = |st: &ScheduleState| {
        state::save(dir, st).map_err(|e| format!("cannot write state in {}: {e}", dir.display()))
    };
    let mut st = state::load(dir, &sched.name).map_err(|e| e.to_string())?;
    st.name = sched.name.clone();
    // A due time saved under an older, longer interval gives way to the configured one.
    if let (Some(due), Some(last)) = (st.next_due, st.history.last()) {
        let latest = schedule::next_due_base(sched, Some(last.started), last.ended)
            + sched.jitter.as_secs_f64();
        if due > latest {
            st.next_due = Some(latest);
        }
    }
    let log = &sched.name;
    loop {
        if *stop.borrow() {
            return Ok(());
        }
        let fingerprint = match state::fingerprint(&sched.run.targets, sched.repeats) {
            Ok(f) => f,
            Err(e) => {
                tracing::error!(schedule = %log, "cannot read its target lists: {e}; retrying in 60 s");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(60)) => continue,
                    _ = until_stopped(&mut stop) => return Ok(()),
                }
            }
        };
        let resume = match st.current.take() {
            Some(cur) if cur.fingerprint == fingerprint => Some(cur),
            Some(cur) => {
                tracing::warn!(
                    schedule = %log,
                    "its target lists changed since cycle {} was interrupted; starting a new cycle",
                    cur.run_id
                );
                let measured = state::written(&cur.file)
                    .map(|w| w.len() as u64)
                    .unwrap_or(0);
                push_history(
                    &mut st,
                    CycleRecord {
                        run_id: cur.run_id,
                        file: cur.file,
                        started: cur.started,
                        ended: state::now(),
                        measured,
                        overran: false,
                        control: None,
                    },
                );
                save(&st)?;
                None
            }
            None => None,
        };
        let resuming = resume.is_some();
        let (mut cur, guard) = match resume {
            Some(cur) => {
                let guard = tokio::select! {
                    g = lock.clone().lock_owned() => g,
                    _ = until_stopped(&mut stop) => { st.current = Some(cur); return Ok(()); }
                };
                (cur, guard)
            }
            None => {
                let mut due = match st.next_due {
                    Some(d) => d,
                    None => {
                        let last = st.history.last().map(|c| c.started);
                        let d = schedule::next_due_base(sched, last, state::now())
                            + schedule::jitter(sched.jitter);
                        st.next_due = Some(d);
                        save(&st)?;
                        d
                    }
                };
                let wait = (due - state::now()).max(0.0);
                if wait > 0.0 {
                    tracing::info!(schedule = %log, "next cycle due at {}", schedule::human(due));
                }
                // Sleep in short steps against the wall clock: a board without a real-time
                // clock boots with a stale time that NTP later corrects.
                loop {
                    let now = state::now();
                    if schedule::too_far(sched, due, now) {
                        tracing::warn!(
                            schedule = %log,
                            "next cycle was due at {}, further ahead than the schedule allows \
                             (the clock jumped back, or was ahead when it was computed); \
                             starting it now",
                            schedule::human(due)
                        );
                        due = now;
                        st.next_due = Some(due);
                        save(&st)?;
                    }
                    let left = due - now;
                    if left <= 0.0 {
                        break;
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_secs_f64(left.min(WAKE_EVERY))) => {}
                        _ = until_stopped(&mut stop) => return Ok(()),
                    }
                }
                let guard = tokio::select! {
                    g = lock.clone().lock_owned() => g,
                    _ = until_stopped(&mut stop) => return Ok(()),
                };
                let now = OffsetDateTime::now_utc();
                let run_id =
                    crate::record::report_id(now, &sched.run.probe_cc, &sched.run.probe_asn);
                let date = now
                    .format(time::macros::format_description!("[year]-[month]-[day]"))
                    .expect("dates format");
                let file = config.results.join(date).join(format!("{run_id}.jsonl"));
                let cur = Current {
                    run_id,
                    file,
                    started: state::now(),
                    fingerprint: fingerprint.clone(),
                    ..Current::default()
                };
                st.current = Some(cur.clone());
                save(&st)?;
                (cur, guard)
            }
        };

        // Resume: cut a torn tail, skip what is already written, and settle the measurements a
        // dead process was in. If any of it fails, do not start: appending after a torn
        // fragment corrupts a record, and an unknown skip set would measure the whole cycle
        // again. Keep the cycle and retry later.
        let prepared = prepare_file(&cur.file).and_then(|mut skip| {
            if resuming {
                cur.resumed += 1;
                tracing::info!(
                    schedule = %log,
                    run_id = %cur.run_id,
                    already = skip.len(),
                    "resuming an interrupted cycle"
                );
                settle_crashes(config, sched, &mut cur, &mut skip, &stop)?;
            } else {
                tracing::info!(schedule = %log, run_id = %cur.run_id, "cycle started");
            }
            Ok(skip)
        });
        let skip = match prepared {
            Ok(skip) => skip,
            Err(e) => {
                drop(guard);
                tracing::error!(
                    schedule = %log,
                    run_id = %cur.run_id,
                    "{e}; retrying in {} s",
                    RETRY.as_secs()
                );
                st.current = Some(cur);
                save(&st)?;
                tokio::select! {
                    _ = tokio::time::sleep(RETRY) => continue,
                    _ = until_stopped(&mut stop) => return Ok(()),
                }
            }
        };
        st.current = Some(cur.clone());
        save(&st)?;
        let already = skip.len() as u64;
        let run_started = state::now();
        // After the state above (with the crashes counted) is saved: the old journal goes.
        let marks = match poison::Marks::create(dir, &sched.name, cur.resumed) {
            Ok(m) => Some(Arc::new(m)),
            Err(e) => {
                tracing::error!(
                    schedule = %log,
                    "cannot start the in-flight journal {}: {e}; a measurement that kills the \
                     process will not be found in this run",
                    poison::journal_path(dir, &sched.name).display()
                );
                None
            }
        };
        let outcome = run_cycle(config, sched, &cur, skip, &spacer, &stop, marks).await;
        drop(guard);
        let ended = state::now();
        let measured = match &outcome {
            Ok(s) => {
                if s.interrupted {
                    tracing::info!(
                        schedule = %log,
                        run_id = %cur.run_id,
                        written = already + s.measured,
                        "cycle interrupted; it resumes at the next start"
                    );
                    cur.active += (state::now() - run_started).max(0.0);
                    st.current = Some(cur);
                    save(&st)?;
                    // What it abandoned did not kill it.
                    poison::clear(dir, &sched.name);
                    return Ok(());
                }
                already + s.measured
            }
            Err(e) => {
                tracing::error!(schedule = %log, run_id = %cur.run_id, "cycle failed: {e}");
                state::written(&cur.file)
                    .map(|w| w.len() as u64)
                    .unwrap_or(already)
            }
        };
        let control = match (&outcome, &sched.run.control) {
            (Ok(s), Some(_)) => Some(s.control_health.clone()),
            _ => None,
        };
        if let Some(failed) = control.as_ref().and_then(|h| h.failed_line()) {
            tracing::warn!(schedule = %log, run_id = %cur.run_id, "control {failed}");
        }
        let due_after = schedule::next_due_base(sched, Some(cur.started), cur.started);
        let ran = cur.active + (ended - run_started).max(0.0);
        let late = ended > due_after;
        let overran = is_overrun(cur.started, ran, due_after);
        if overran {
            st.overruns += 1;
            let every = match &sched.when {
                When::Every(d) => humantime::format_duration(*d).to_string(),
                When::Cron(c) => format!("cron {:?}", c.written),
            };
            tracing::warn!(
                schedule = %log,
                run_id = %cur.run_id,
                "cycle overran its interval ({every}): measured for {ran:.1} s, the next was \
                 due at {}; starting the next now instead of stacking",
                schedule::human(due_after)
            );
        } else if late {
            tracing::info!(
                schedule = %log,
                run_id = %cur.run_id,
                "the resumed cycle ended after the next was due (the daemon was not running \
                 for part of it; not an overrun)"
            );
        }
        let next = if late {
            match &sched.when {
                When::Every(_) => ended,
                // Cron: the next matching time after the end.
                When::Cron(_) => {
                    schedule::next_due_base(sched, None, ended) + schedule::jitter(sched.jitter)
                }
            }
        } else {
            due_after + schedule::jitter(sched.jitter)
        };
        tracing::info!(
            schedule = %log,
            run_id = %cur.run_id,
            measured,
            seconds = format!("{:.1}", ended - cur.started),
            file = %cur.file.display(),
            "cycle finished"
        );
        st.current = None;
        poison::clear(dir, &sched.name);
        st.cycles += 1;
        st.next_due = Some(next);
        push_history(
            &mut st,
            CycleRecord {
                run_id: cur.run_id,
                file: cur.file,
                started: cur.started,
                ended,
                measured,
                overran,
                control,
            },
        );
        save(&st)?;
    }
}

/// The pass of a cycle's run: the schedule's settings, skipping `skip`.
fn pass_for(
    config: &DaemonConfig,
    sched: &Schedule,
    cur: &Current,
    stop: &watch::Receiver<bool>,
    spacer: Option<Arc<Spacer>>,
    skip: HashSet<(String, u32)>,
    in_flight: Option<Arc<dyn runner::InFlight>>,
) -> Pass {
    Pass {
        run_id: cur.run_id.clone(),
        started: OffsetDateTime::from_unix_timestamp(cur.started as i64)
            .unwrap_or_else(|_| OffsetDateTime::now_utc()),
        stop: Some(stop.clone()),
        grace: config.grace,
        repeats: sched.repeats,
        spacing: sched.spacing,
        spacer,
        skip,
        annotations: [
            ("schedule".to_string(), sched.name.clone()),
            ("vantage_point".to_string(), config.vantage_point.clone()),
        ]
        .into_iter()
        .collect(),
        annotate_repeat: true,
        progress: false,
        in_flight,
        preflight: None,
    }
}

/// At a resume: counts the measurements the last process died in, and records as failed (and
/// skips) those that have killed it often enough (`poison`). The state is saved by the caller.
fn settle_crashes(
    config: &DaemonConfig,
    sched: &Schedule,
    cur: &mut Current,
    skip: &mut HashSet<(String, u32)>,
    stop: &watch::Receiver<bool>,
) -> Result<(), String> {
    // The dead run wrote its journal under the count before this resume's.
    let marks = poison::read_marks(&config.state, &sched.name, cur.resumed - 1);
    let died_in = poison::count_crashes(cur, marks, skip);
    if died_in > 0 {
        tracing::warn!(
            schedule = %sched.name,
            run_id = %cur.run_id,
            "the last run of this cycle died with {died_in} measurement(s) in flight"
        );
    }
    let condemned = poison::condemned(cur);
    if condemned.is_empty() {
        return Ok(());
    }
    let run = runner::run_info(
        &sched.run,
        &pass_for(config, sched, cur, stop, None, HashSet::new(), None),
    );
    if let Err(e) = poison::write_failed(&cur.file, &run, &condemned) {
        cur.crashed.extend(condemned);
        return Err(format!("cannot record failed measurements: {e}"));
    }
    for c in condemned {
        tracing::warn!(
            schedule = %sched.name,
            run_id = %cur.run_id,
            input = %c.input,
            repeat = c.repeat,
            "recorded as a failed measurement and skipped: {}",
            poison::failure(&c).as_ooni()
        );
        skip.insert((c.input, c.repeat));
    }
    Ok(())
}

/// Measures what the cycle still lacks into its file: first, one at a time, the measurements
/// that were in flight at repeated deaths of the process (so the blame of the next is
/// certain), then the rest. `measured` counts both.
async fn run_cycle(
    config: &DaemonConfig,
    sched: &Schedule,
    cur: &Current,
    mut skip: HashSet<(String, u32)>,
    spacer: &Arc<Spacer>,
    stop: &watch::Receiver<bool>,
    marks: Option<Arc<poison::Marks>>,
) -> Result<Summary, RunError> {
    let sink_err = |e| {
        RunError::Sink(SinkError {
            path: cur.file.clone(),
            source: e,
        })
    };
    let pass = |skip, marks: &Option<Arc<poison::Marks>>| {
        let marks = marks.clone().map(|m| m as Arc<dyn runner::InFlight>);
        let mut pass = pass_for(config, sched, cur, stop, Some(spacer.clone()), skip, marks);
        // The check made at start serves the first pass that asks its control; later passes
        // check again.
        pass.preflight =
            sched.run.control.as_ref().and_then(|url| {
                crate::control::preflight::take_kept(url, &sched.run.control_token)
            });
        pass
    };
    let offenders: HashSet<_> = poison::offenders(cur).difference(&skip).cloned().collect();
    let mut before = 0;
    let mut health = crate::control::health::ControlHealth::default();
    if !offenders.is_empty() {
        tracing::warn!(
            schedule = %sched.name,
            run_id = %cur.run_id,
            "measuring {} measurement(s) in flight at {} deaths of the process one at a time,              before the rest",
            offenders.len(),
            poison::CRASHES_BEFORE_FAILED
        );
        let all = poison::all_pairs(&sched.run.targets, sched.repeats)?;
        let mut one_at_a_time = sched.run.clone();
        one_at_a_time.parallel = 1;
        let mut offenders: Vec<_> = offenders.into_iter().collect();
        offenders.sort();
        // One pass each: the next starts only once the last one's record is written.
        for pair in offenders {
            let mut others = all.clone();
            others.remove(&pair);
            let jsonl = JsonlSink::append(&cur.file)?;
            let s = runner::run_pass(&one_at_a_time, jsonl, pass(others, &marks)).await?;
            before += s.measured;
            health.merge(&s.control_health);
            if s.interrupted {
                return Ok(Summary {
                    measured: before,
                    ..s
                });
            }
        }
        skip = state::written(&cur.file).map_err(sink_err)?;
    }
    let jsonl = JsonlSink::append(&cur.file)?;
    let mut s = runner::run_pass(&sched.run, jsonl, pass(skip, &marks)).await?;
    s.measured += before;
    s.control_health.merge(&health);
    Ok(s)
}

fn push_history(st: &mut ScheduleState, c: CycleRecord) {
    st.history.push(c);
    if st.history.len() > state::HISTORY {
        let extra = st.history.len() - state::HISTORY;
        st.history.drain(..extra);
    }
}

/// Prints what ran, when, and what is due.
pub fn status_main(args: StatusArgs) -> Result<(), Exit> {
    // The resolver does not matter here; don't fail on a host without one.
    let config = config::load(&args.config, || Ok(([127, 0, 0, 1], 53).into())).map_err(usage)?;
    let lines = status_lines(&config, state::now()).map_err(fatal)?;
    crate::stdout::print_lines(lines).map_err(|e| fatal(format!("cannot write to stdout: {e}")))
}

fn status_lines(config: &DaemonConfig, now: f64) -> Result<Vec<String>, String> {
    let mut out = vec![format!(
        "vantage daemon: {} schedule(s), results in {}, state in {}",
        config.schedules.len(),
        config.results.display(),
        config.state.display()
    )];
    let running = state::running_daemon(&config.state);
    out.push(match running {
        Some(pid) => format!("daemon: running (pid {pid})"),
        None => "daemon: not running".into(),
    });
    let ends = recent_ends_of_all(config);
    for s in &config.schedules {
        let st = state::load(&config.state, &s.name).map_err(|e| e.to_string())?;
        let when = match &s.when {
            When::Every(d) => format!("every {}", humantime::format_duration(*d)),
            When::Cron(c) => format!("cron {:?}", c.written),
        };
        out.push(format!(
            "schedule {} ({when}, jitter {}, repeats {}, spacing {}, rate {}/s)",
            s.name,
            humantime::format_duration(s.jitter),
            s.repeats,
            humantime::format_duration(s.spacing),
            s.run.rate
        ));
        match st.history.last() {
            Some(c) => out.push(format!(
                "  last cycle: {} to {} ({:.0} s), {} measured{} -> {}",
                schedule::human(c.started),
                schedule::human(c.ended),
                c.ended - c.started,
                c.measured,
                if c.overran {
                    ", overran its interval"
                } else {
                    ""
                },
                c.file.display()
            )),
            None => out.push("  last cycle: none yet".into()),
        }
        out.extend(control_status(&st));
        out.push(format!(
            "  cycles: {}, overruns: {}",
            st.cycles, st.overruns
        ));
        match &st.current {
            Some(c) => {
                let written = state::written(&c.file).map(|w| w.len()).unwrap_or(0);
                out.push(format!(
                    "  {}: {} since {}, {written} written so far -> {}",
                    if running.is_some() {
                        "in progress"
                    } else {
                        "unfinished (resumes when the daemon starts)"
                    },
                    c.run_id,
                    schedule::human(c.started),
                    c.file.display()
                ))
            }
            None => out.push("  in progress: nothing".into()),
        }
        out.extend(spacing_status(s, &st, now, &ends));
        out.push(match st.next_due {
            _ if st.current.is_some() => "  next due: when the cycle in progress ends".into(),
            Some(d) if d <= now && running.is_none() => format!(
                "  next due: overdue since {} (the daemon is not running: it runs when started)",
                schedule::human(d)
            ),
            Some(d) if d <= now => format!("  next due: now (was due {})", schedule::human(d)),
            Some(d) => format!(
                "  next due: {} (in {})",
                schedule::human(d),
                humantime::format_duration(Duration::from_secs((d - now) as u64))
            ),
            None => "  next due: at the daemon's next start".into(),
        });
    }
    Ok(out)
}

/// How the control fared in the last cycle, when it had one.
fn control_status(st: &ScheduleState) -> Option<String> {
    let h = st.history.last()?.control.as_ref()?;
    Some(match h.failed_line() {
        Some(failed) => format!("  control: {failed}"),
        None => format!("  control: answered for all {} targets", h.asked),
    })
}

/// (host:port, end) of the measurements in every schedule's cycle in progress and last cycle:
/// what the daemon's spacing waits on.
fn recent_ends_of_all(config: &DaemonConfig) -> Vec<(String, chrono::NaiveDateTime)> {
    let mut ends = Vec::new();
    for s in &config.schedules {
        let Ok(st) = state::load(&config.state, &s.name) else {
            continue;
        };
        let files = (st.current.iter().map(|c| c.file.clone()))
            .chain(st.history.last().map(|h| h.file.clone()));
        for file in files {
            ends.extend(recent_ends(&file));
        }
    }
    ends
}

/// That the cycle in progress waits on its spacing, and until when.
fn spacing_status(
    s: &Schedule,
    st: &ScheduleState,
    now: f64,
    ends: &[(String, chrono::NaiveDateTime)],
) -> Option<String> {
    let w = spacing_wait::next(s, st.current.as_ref()?, now, ends)?;
    Some(format!(
        "  waiting on spacing ({}): the next measurement of {} may start at {} (in {})",
        humantime::format_duration(s.spacing),
        w.key,
        schedule::human(w.at),
        humantime::format_duration(Duration::from_secs((w.at - now).max(0.0) as u64))
    ))
}

/// Whether a cycle that started at `started` and measured for `ran` seconds (downtime between
/// its runs excluded) overran the next due time.
fn is_overrun(started: f64, ran: f64, due_after: f64) -> bool {
    started + ran > due_after
}

/// Readies a cycle's file for appending: cuts a torn last line, then reads the (input,
/// repeat) pairs already in it. Any failure means the cycle must not start now.
fn prepare_file(file: &std::path::Path) -> Result<HashSet<(String, u32)>, String> {
    sink::repair_file(file)
        .map_err(|e| format!("{}: cannot check its last line: {e}", file.display()))?;
    state::written(file).map_err(|e| format!("{}: cannot read what it holds: {e}", file.display()))
}

/// Seeds `spacer` with the host:ports measured within the longest spacing before now, read from
/// each schedule's cycle in progress and its last finished cycle.
fn seed_spacer(config: &DaemonConfig, spacer: &Spacer) {
    let window = config
        .schedules
        .iter()
        .map(|s| s.spacing)
        .max()
        .unwrap_or_default();
    if window.is_zero() {
        return;
    }
    let wall_now = chrono::Utc::now().naive_utc();
    let now = tokio::time::Instant::now();
    let mut seeded = 0usize;
    for sched in &config.schedules {
        let Ok(st) = state::load(&config.state, &sched.name) else {
            continue;
        };
        let files = st
            .current
            .iter()
            .map(|c| c.file.clone())
            .chain(st.history.last().map(|h| h.file.clone()));
        for file in files {
            for (key, ended) in recent_ends(&file) {
                // `ended` may lie a moment ahead of the clock (it is rounded up).
                let at = match (ended - wall_now).to_std() {
                    Ok(ahead) => now + ahead,
                    Err(_) => match (wall_now - ended).to_std() {
                        Ok(ago) if ago < window => now.checked_sub(ago).unwrap_or(now),
                        _ => continue,
                    },
                };
                spacer.seed(&key, at);
                seeded += 1;
            }
        }
    }
    if seeded > 0 {
        tracing::info!("spacing: {seeded} recent measurements of earlier runs remembered");
    }
}

/// (host:port, end of measurement) for every whole record in `file`.
fn recent_ends(file: &std::path::Path) -> Vec<(String, chrono::NaiveDateTime)> {
    let Ok(text) = std::fs::read(file) else {
        return Vec::new();
    };
    text.split(|b| *b == b'\n')
        .filter_map(|line| {
            let r: serde_json::Value = serde_json::from_slice(line).ok()?;
            let url = url::Url::parse(r["input"].as_str()?).ok()?;
            let start = chrono::NaiveDateTime::parse_from_str(
                r["measurement_start_time"].as_str()?,
                "%Y-%m-%d %H:%M:%S",
            )
            .ok()?;
            let runtime =
                chrono::Duration::milliseconds((r["test_runtime"].as_f64()? * 1000.0) as i64);
            // The start time has whole seconds (OONI's format): round the end up, never down.
            Some((
                crate::runner::host_port(&url),
                start + runtime + chrono::Duration::seconds(1),
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn downtime_is_not_an_overrun() {
        // Hourly; started at 0, measured 600 s, down for 2 h, resumed and measured 600 s more.
        let due_after = 3600.0;
        assert!(!is_overrun(0.0, 1200.0, due_after));
        // Measured longer than the interval while running: an overrun.
        assert!(is_overrun(0.0, 3700.0, due_after));
    }

    #[test]
    fn a_file_that_cannot_be_read_or_repaired_does_not_resume() {
        let dir = tempfile::tempdir().unwrap();
        // A directory where the file should be: neither repairable nor readable.
        let bad = dir.path().join("cycle.jsonl");
        std::fs::create_dir(&bad).unwrap();
        let e = prepare_file(&bad).unwrap_err();
        assert!(e.contains("cycle.jsonl"), "{e}");

        // A torn tail is cut and the whole lines are skipped.
        let ok = dir.path().join("ok.jsonl");
        std::fs::write(&ok, b"{\"input\":\"https://a/\"}\n{\"input\":\"https://b").unwrap();
        let skip = prepare_file(&ok).unwrap();
        assert_eq!(skip.len(), 1);
        assert!(std::fs::read(&ok).unwrap().ends_with(b"}\n"));
        // A missing file (a new cycle) is nothing written.
        assert!(prepare_file(&dir.path().join("new.jsonl"))
            .unwrap()
            .is_empty());
    }
}
