//! Reading a results directory: every `DIR/*/*.jsonl`, streamed line by line. Only whole lines
//! count (a file being written, or cut by a killed run, may end mid-line); a line that is not a
//! record the report can read is skipped with a warning naming `FILE:LINE`. Of each record only
//! what the report needs is decoded ([`Entry`]); the rest is skipped by the parser.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::summary::{Collector, Control, Entry, Place};
use crate::analysis::Status;
use crate::exit::{fatal, Exit};

/// Warnings about skipped lines: the first few are printed in full, all are counted.
pub struct Warnings {
    pub skipped: usize,
    shown: usize,
    limit: usize,
    out: Box<dyn FnMut(&str)>,
}

impl Warnings {
    /// Prints up to `limit` warnings through `out`.
    pub fn new(limit: usize, out: Box<dyn FnMut(&str)>) -> Warnings {
        Warnings {
            skipped: 0,
            shown: 0,
            limit,
            out,
        }
    }
    pub fn stderr() -> Warnings {
        Warnings::new(20, Box::new(|m| eprintln!("vantage: warning: {m}")))
    }
    pub fn skip(&mut self, place: &str, why: &str) {
        self.skipped += 1;
        if self.shown < self.limit {
            self.shown += 1;
            (self.out)(&format!("{place}: skipped: {why}"));
        }
    }
    /// Says how many were skipped in all, when some were not shown.
    pub fn finish(&mut self) {
        if self.skipped > self.shown {
            let m = format!(
                "skipped {} unreadable lines in all ({} not shown)",
                self.skipped,
                self.skipped - self.shown
            );
            (self.out)(&m);
        }
    }
}

#[derive(Deserialize)]
struct RawRecord {
    report_id: String,
    input: String,
    measurement_start_time: String,
    #[serde(default)]
    measurement_uid: String,
    #[serde(default)]
    probe_cc: String,
    #[serde(default)]
    probe_asn: String,
    #[serde(default)]
    annotations: Option<RawAnnotations>,
    /// Present when the run had a control (only whether it is there is read).
    #[serde(default)]
    test_helpers: Option<serde::de::IgnoredAny>,
    test_keys: RawKeys,
}

#[derive(Deserialize)]
struct RawAnnotations {
    #[serde(default)]
    category_code: Option<String>,
    /// Set by the daemon.
    #[serde(default)]
    vantage_point: Option<String>,
}

#[derive(Deserialize)]
struct RawKeys {
    x_verdict: RawVerdict,
    #[serde(default)]
    control_failure: Option<String>,
}

#[derive(Deserialize)]
struct RawVerdict {
    status: Status,
    #[serde(default)]
    methods: Vec<String>,
    #[serde(default)]
    reasons: Vec<String>,
}

/// `YYYY-MM-DD hh:mm:ss`, the only shape that sorts right as text.
pub fn valid_time(t: &str) -> bool {
    let b = t.as_bytes();
    b.len() == 19
        && b.iter().enumerate().all(|(i, &c)| match i {
            4 | 7 => c == b'-',
            10 => c == b' ',
            13 | 16 => c == b':',
            _ => c.is_ascii_digit(),
        })
}

/// What became of the control: failed when `control_failure` is set, none when the run named
/// no control (`test_helpers` absent, no `control_failure`).
pub fn control(has_helpers: bool, failure: Option<&str>) -> Control {
    match failure {
        Some(f) if !f.is_empty() => Control::Failed,
        _ if !has_helpers => Control::None,
        _ => Control::Answered,
    }
}

/// Decodes one record line into what the report reads.
pub fn parse_record(line: &[u8]) -> Result<Entry, String> {
    let r: RawRecord = serde_json::from_slice(line).map_err(|e| format!("not a record ({e})"))?;
    let (category, vantage_point) = r
        .annotations
        .map(|a| (a.category_code, a.vantage_point))
        .unwrap_or_default();
    let keys = r.test_keys;
    check(Entry {
        run: r.report_id,
        input: r.input,
        category,
        time: r.measurement_start_time,
        status: keys.x_verdict.status,
        methods: keys.x_verdict.methods,
        reasons: keys.x_verdict.reasons,
        measurement_uid: r.measurement_uid,
        place: Place {
            vantage_point: vantage_point.unwrap_or_default(),
            probe_cc: r.probe_cc,
            probe_asn: r.probe_asn,
        },
        control: control(r.test_helpers.is_some(), keys.control_failure.as_deref()),
    })
}

/// Checks an entry (from a file's record or a database row): a run, an input and a time the
/// report can sort; an empty category is none.
pub fn check(mut e: Entry) -> Result<Entry, String> {
    if e.run.is_empty() || e.input.is_empty() {
        return Err("empty report_id or input".into());
    }
    if !valid_time(&e.time) {
        return Err("measurement_start_time is not YYYY-MM-DD hh:mm:ss".into());
    }
    e.category = e.category.filter(|c| !c.is_empty());
    Ok(e)
}

/// `DIR/*/*.jsonl`, sorted (`sink::jsonl_files`); an unreadable directory is an error.
pub fn jsonl_files(dir: &Path) -> Result<Vec<PathBuf>, Exit> {
    std::fs::read_dir(dir).map_err(|e| {
        fatal(format!(
            "cannot read results directory {}: {e}",
            dir.display()
        ))
    })?;
    Ok(crate::sink::jsonl_files(dir))
}

/// Streams every record of `dir` into `into`.
pub fn load_dir(dir: &Path, into: &mut Collector, warn: &mut Warnings) -> Result<usize, Exit> {
    let files = jsonl_files(dir)?;
    for file in &files {
        let f = match File::open(file) {
            Ok(f) => f,
            Err(e) => {
                warn.skip(&file.display().to_string(), &format!("cannot open ({e})"));
                continue;
            }
        };
        load_file(file, BufReader::with_capacity(1 << 16, f), into, warn);
    }
    Ok(files.len())
}

fn load_file(name: &Path, mut r: impl BufRead, into: &mut Collector, warn: &mut Warnings) {
    let mut line = Vec::new();
    let mut number = 0usize;
    loop {
        line.clear();
        number += 1;
        let place = || format!("{}:{number}", name.display());
        match r.read_until(b'\n', &mut line) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) => {
                warn.skip(&place(), &format!("read error ({e})"));
                return;
            }
        }
        if line.last() != Some(&b'\n') {
            warn.skip(&place(), "partial last line (no newline)");
            return;
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match parse_record(&line) {
            Ok(e) => into.add(e),
            Err(why) => warn.skip(&place(), &why),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        assert!(valid_time("2026-11-23 10:00:00"));
        assert!(!valid_time("2026-11-23T10:00:00"));
        assert!(!valid_time("2026-11-23 10:00"));
    }

    #[test]
    fn parses_what_the_report_reads() {
        let line = br#"{"report_id":"r","input":"https://a/","measurement_start_time":"2026-11-23 10:00:00","annotations":{"category_code":"NEWS","repeat":"2"},"test_keys":{"queries":[{"x":1}],"x_verdict":{"status":"blocked","methods":["dns.bogon"],"reasons":["why"]}}}"#;
        let e = parse_record(line).unwrap();
        assert_eq!(e.status, Status::Blocked);
        assert_eq!(e.category.as_deref(), Some("NEWS"));
        assert_eq!(e.reasons, ["why"]);
        assert!(parse_record(br#"{"report_id":"r"}"#).is_err());
        assert!(parse_record(br#"{"report_id":"r","input":"x","measurement_start_time":"2026-11-23 10:00:00","test_keys":{"x_verdict":{"status":"weird"}}}"#).is_err());
    }

    #[test]
    fn torn_and_malformed_lines_are_skipped_and_counted() {
        let good = r#"{"report_id":"r","input":"https://a/","measurement_start_time":"2026-11-23 10:00:00","test_keys":{"x_verdict":{"status":"accessible"}}}"#;
        let text = format!("{good}\nnot json\n\n{good}\n{{\"report_id\":\"r\",\"inp");
        let mut c = Collector::default();
        let seen = std::rc::Rc::new(std::cell::RefCell::new(Vec::<String>::new()));
        let s2 = seen.clone();
        let mut w = Warnings::new(10, Box::new(move |m| s2.borrow_mut().push(m.to_string())));
        load_file(Path::new("f.jsonl"), text.as_bytes(), &mut c, &mut w);
        assert_eq!(c.measurements, 2);
        assert_eq!(w.skipped, 2);
        let seen = seen.borrow();
        assert!(
            seen[0].starts_with("f.jsonl:2: skipped: not a record"),
            "{seen:?}"
        );
        assert!(
            seen[1].starts_with("f.jsonl:5: skipped: partial"),
            "{seen:?}"
        );
    }
}
