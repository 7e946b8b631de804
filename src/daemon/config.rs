//! The daemon's TOML config: where results and state go, run settings shared by every
//! schedule (`[run]`, the same keys as `vantage run`'s), the `[[schedule]]` tables, and an
//! optional `[clickhouse]` table for shipping. Every error names the file and, when it comes
//! from one key, its line.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::config::{self, ConfigError, RunArgs, RunConfig, RunFile};
use crate::limits;
use crate::ship::ClickhouseConfig;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DaemonFile {
    results: Option<Spanned<PathBuf>>,
    state: Option<PathBuf>,
    vantage_point: Option<String>,
    grace: Option<Spanned<String>>,
    run: Option<Spanned<RunFile>>,
    #[serde(default)]
    schedule: Vec<Spanned<ScheduleFile>>,
    clickhouse: Option<ClickhouseConfig>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScheduleFile {
    name: Spanned<String>,
    targets: Spanned<Vec<Spanned<PathBuf>>>,
    every: Option<Spanned<String>>,
    cron: Option<Spanned<String>>,
    jitter: Option<Spanned<String>>,
    repeats: Option<Spanned<u32>>,
    spacing: Option<Spanned<String>>,
    rate: Option<u32>,
}

/// When a schedule's cycles are due.
#[derive(Clone, Debug)]
pub enum When {
    Every(Duration),
    Cron(Box<Cron>),
}

/// A cron schedule and the expression as the config file wrote it (`status` shows that, not
/// the six-field form the `cron` crate is given).
#[derive(Clone, Debug)]
pub struct Cron {
    pub schedule: cron::Schedule,
    pub written: String,
}

/// One validated schedule.
#[derive(Clone, Debug)]
pub struct Schedule {
    pub name: String,
    pub when: When,
    pub jitter: Duration,
    pub repeats: u32,
    pub spacing: Duration,
    /// Run settings for its cycles (targets and rate are the schedule's).
    pub run: RunConfig,
}

/// The whole validated daemon config.
#[derive(Clone, Debug)]
pub struct DaemonConfig {
    pub path: PathBuf,
    pub results: PathBuf,
    pub state: PathBuf,
    pub vantage_point: String,
    pub grace: Duration,
    pub schedules: Vec<Schedule>,
    pub clickhouse: Option<ClickhouseConfig>,
}

/// Reads and validates `path`. `system_resolver` is asked only when `[run]` names no resolver.
pub fn load(
    path: &Path,
    system_resolver: impl Fn() -> Result<std::net::SocketAddr, String>,
) -> Result<DaemonConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let at = |span: std::ops::Range<usize>, message: String| ConfigError::Parse {
        path: path.to_path_buf(),
        message: format!("line {}: {message}", line_of(&text, span.start)),
    };
    let file: DaemonFile = toml::from_str(&text).map_err(|e| ConfigError::Parse {
        path: path.to_path_buf(),
        message: match e.span() {
            Some(s) => format!("line {}: {}", line_of(&text, s.start), e.message()),
            None => e.message().to_string(),
        },
    })?;
    // Relative paths in the file are relative to the file's directory.
    let base = path.parent().unwrap_or(Path::new("."));
    let rel = |p: &Path| {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            base.join(p)
        }
    };
    if let Some(r) = file
        .results
        .as_ref()
        .filter(|r| r.get_ref().as_os_str() == "-")
    {
        return Err(at(
            r.span(),
            "`results` must be a directory: `-` (stdout) is for `vantage run --out -`".into(),
        ));
    }
    let results = rel(&file
        .results
        .map(Spanned::into_inner)
        .unwrap_or_else(|| PathBuf::from("results")));
    let state = file
        .state
        .map(|p| rel(&p))
        .unwrap_or_else(|| results.join(".state"));
    let grace = match &file.grace {
        Some(g) => duration("grace", g, limits::MAX_GRACE).map_err(|m| at(g.span(), m))?,
        None => Duration::from_secs(10),
    };
    let (run_span, run) = match file.run {
        Some(r) => (r.span(), r.into_inner()),
        None => (0..0, RunFile::default()),
    };
    if run.targets.is_some() || run.out.is_some() {
        return Err(at(
            run_span,
            "[run] takes no `targets` or `out` in a daemon config: each [[schedule]] names its \
             targets, and `results` sets the directory"
                .into(),
        ));
    }
    if file.schedule.is_empty() {
        return Err(ConfigError::Parse {
            path: path.to_path_buf(),
            message: "no [[schedule]] table: nothing to run".into(),
        });
    }
    let control_token = run.control_token.clone();
    let mut schedules: Vec<Schedule> = Vec::new();
    for s in file.schedule {
        let span = s.span();
        let s = s.into_inner();
        let name = s.name.get_ref().clone();
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(at(
                s.name.span(),
                format!("schedule name {name:?}: use letters, digits, '-' and '_'"),
            ));
        }
        if schedules.iter().any(|o| o.name == name) {
            return Err(at(
                s.name.span(),
                format!("schedule {name:?} is defined twice"),
            ));
        }
        let when = match (&s.every, &s.cron) {
            (Some(e), None) => {
                let d = duration("every", e, limits::MAX_INTERVAL).map_err(|m| at(e.span(), m))?;
                if d.is_zero() {
                    return Err(at(e.span(), "`every` must be positive".into()));
                }
                When::Every(d)
            }
            (None, Some(c)) => When::Cron(Box::new(
                parse_cron(c.get_ref()).map_err(|m| at(c.span(), m))?,
            )),
            _ => {
                return Err(at(
                    span,
                    format!("schedule {name:?}: give exactly one of `every` or `cron`"),
                ))
            }
        };
        let jitter = match &s.jitter {
            Some(j) => duration("jitter", j, limits::MAX_INTERVAL).map_err(|m| at(j.span(), m))?,
            None => Duration::ZERO,
        };
        let spacing = match &s.spacing {
            Some(j) => duration("spacing", j, limits::MAX_SPACING).map_err(|m| at(j.span(), m))?,
            None => Duration::from_secs(180),
        };
        let repeats = match &s.repeats {
            Some(r) if *r.get_ref() == 0 => {
                return Err(at(r.span(), "`repeats` must be at least 1".into()))
            }
            Some(r) => *r.get_ref(),
            None => 1,
        };
        if s.targets.get_ref().is_empty() {
            return Err(at(s.targets.span(), "`targets` lists no file".into()));
        }
        let mut lists = Vec::new();
        for t in s.targets.get_ref() {
            let p = rel(t.get_ref());
            if let Err(e) = std::fs::File::open(&p) {
                return Err(at(
                    t.span(),
                    format!("cannot read target list {}: {e}", p.display()),
                ));
            }
            lists.push(p);
        }
        let args = RunArgs {
            targets: lists,
            out: Some(results.clone()),
            resolver: run.resolver.clone(),
            control: run.control.clone(),
            ca_file: run.ca_file.as_deref().map(rel),
            parallel: run.parallel,
            timeout: run.timeout.clone(),
            deadline: run.deadline.clone(),
            dns_wait: run.dns_wait.clone(),
            rate: s.rate.or(run.rate),
            max_addrs: run.max_addrs,
            config: None,
            probe_cc: run.probe_cc.clone(),
            probe_asn: run.probe_asn.clone(),
            testbed_net: run.testbed_nets.clone().unwrap_or_default(),
            probe_ip: run.probe_ips.clone().unwrap_or_default(),
        };
        let mut rc = args.resolve(&system_resolver).map_err(|e| match e {
            ConfigError::Invalid { .. } => at(run_span.clone(), e.to_string()),
            other => other,
        })?;
        if let Some(ca) = &rc.ca_file {
            if let Err(e) = std::fs::File::open(ca) {
                return Err(at(
                    run_span.clone(),
                    format!("cannot read CA file {}: {e}", ca.display()),
                ));
            }
        }
        rc.control_token = std::env::var("VANTAGE_CONTROL_TOKEN")
            .ok()
            .or(control_token.clone());
        schedules.push(Schedule {
            name,
            when,
            jitter,
            repeats,
            spacing,
            run: rc,
        });
    }
    Ok(DaemonConfig {
        path: path.to_path_buf(),
        results,
        state,
        vantage_point: file.vantage_point.unwrap_or_else(|| "vantage".to_string()),
        grace,
        schedules,
        clickhouse: file.clickhouse,
    })
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// The duration under `key`, at most `max`.
fn duration(key: &'static str, s: &Spanned<String>, max: Duration) -> Result<Duration, String> {
    config::duration_at_most(key, s.get_ref(), max).map_err(|e| e.to_string())
}

/// A cron expression: the usual five fields (minute hour day month weekday), or six/seven
/// with seconds first (and a year last), as the `cron` crate reads them. Times are UTC.
pub fn parse_cron(expr: &str) -> Result<Cron, String> {
    let fields = expr.split_whitespace().count();
    let full = if fields == 5 {
        format!("0 {expr}")
    } else {
        expr.to_string()
    };
    let schedule = cron::Schedule::from_str(&full)
        .map_err(|e| format!("bad cron expression {expr:?}: {e}"))?;
    Ok(Cron {
        schedule,
        written: expr.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_system() -> Result<std::net::SocketAddr, String> {
        Err("not in tests".into())
    }

    fn load_text(dir: &Path, text: &str) -> Result<DaemonConfig, ConfigError> {
        let path = dir.join("daemon.toml");
        std::fs::write(&path, text).unwrap();
        load(&path, no_system)
    }

    #[test]
    fn a_full_config_loads_with_defaults() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.txt"), "example.org\n").unwrap();
        let c = load_text(
            dir.path(),
            "results = \"r\"\n[run]\nresolver = \"127.0.0.1\"\nrate = 20\n\
             [[schedule]]\nname = \"cn\"\ntargets = [\"a.txt\"]\nevery = \"6h\"\njitter = \"10m\"\n\
             repeats = 3\n[[schedule]]\nname = \"nightly\"\ntargets = [\"a.txt\"]\n\
             cron = \"30 2 * * *\"\nrate = 5\n",
        )
        .unwrap();
        assert_eq!(c.results, dir.path().join("r"));
        assert_eq!(c.state, dir.path().join("r/.state"));
        assert_eq!(c.schedules.len(), 2);
        assert_eq!(c.schedules[0].repeats, 3);
        assert_eq!(c.schedules[0].spacing, Duration::from_secs(180));
        assert_eq!(c.schedules[0].run.rate, 20);
        assert_eq!(c.schedules[1].run.rate, 5);
        assert!(matches!(c.schedules[1].when, When::Cron(_)));
    }

    #[test]
    fn the_contrib_example_loads() {
        let dir = tempfile::tempdir().unwrap();
        let list = dir.path().join("list.csv");
        std::fs::write(&list, "example.org\n").unwrap();
        let text = include_str!("../../contrib/daemon.toml")
            .replace("/etc/vantage/targets.csv", &list.display().to_string())
            .replace("/etc/vantage/global.csv", &list.display().to_string())
            .replace("# resolver =", "resolver =");
        let c = load_text(dir.path(), &text).unwrap();
        assert_eq!(c.schedules.len(), 2);
        assert_eq!(c.grace, Duration::from_secs(10));
        assert_eq!(c.schedules[0].repeats, 3);
    }

    #[test]
    fn errors_name_the_line() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.txt"), "example.org\n").unwrap();
        let head = "[run]\nresolver = \"127.0.0.1\"\n[[schedule]]\nname = \"x\"\n";
        let cases = [
            (
                "targets = [\"a.txt\"]\nevery = \"1h\"\nrepeat = 2\n",
                "line 7",
                "repeat",
            ),
            (
                "targets = [\"a.txt\"]\ncron = \"61 * * * *\"\n",
                "line 6",
                "cron",
            ),
            (
                "targets = [\"a.txt\", \"missing.txt\"]\nevery = \"1h\"\n",
                "line 5",
                "missing.txt",
            ),
            (
                "targets = [\"a.txt\"]\nevery = \"soon\"\n",
                "line 6",
                "soon",
            ),
            ("targets = [\"a.txt\"]\n", "line 3", "every"),
        ];
        for (tail, line, word) in cases {
            let err = load_text(dir.path(), &format!("{head}{tail}"))
                .unwrap_err()
                .to_string();
            assert!(err.contains("daemon.toml"), "{err}");
            assert!(err.contains(line), "{tail}: {err}");
            assert!(err.contains(word), "{err}");
        }
    }
}
