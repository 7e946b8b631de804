//! Settings of `vantage run`: command-line flags override the TOML config file, which overrides
//! the defaults, merged into one validated `RunConfig`.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;
use ipnet::IpNet;
use serde::Deserialize;
use url::Url;

use crate::limits::{self, MAX_STEP};
use crate::targets::{ListSource, STDIN};

/// Bad usage or configuration: exit status 2.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("invalid {what} {value:?}: {reason}")]
    Invalid {
        what: &'static str,
        value: String,
        reason: String,
    },
    #[error("no resolver given and none found in the system configuration ({0}); pass --resolver")]
    NoResolver(String),
}

/// Flags of `vantage run`. Every one is optional here so the config file can supply it.
#[derive(Args, Debug, Default, Clone)]
pub struct RunArgs {
    /// Target list: Citizen Lab CSV or one URL/domain per line ('#' comments); `-` reads one
    /// from stdin. Repeatable. [default: the URLs given as arguments, else the built-in copy
    /// of targets/default.csv]
    #[arg(long = "targets", value_name = "FILE")]
    pub targets: Vec<PathBuf>,
    /// Results directory; records go to DIR/YYYY-MM-DD/<run_id>.jsonl. `-` writes them to
    /// stdout instead, one JSON line per record (the summary then goes to stderr).
    /// [default: results]
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// DNS resolver to ask over UDP, IP or IP:PORT (port 53 by default).
    /// [default: the first nameserver of /etc/resolv.conf]
    #[arg(long, value_name = "IP[:PORT]")]
    pub resolver: Option<String>,
    /// Base URL of a `vantage helper` to compare with (the control). Its bearer token, when
    /// the helper wants one, comes from VANTAGE_CONTROL_TOKEN or the config file's
    /// `control_token` (never a flag: flags show in `ps`).
    #[arg(long, value_name = "URL")]
    pub control: Option<String>,
    /// Extra trust anchors (PEM), added to the web PKI roots for TLS validation.
    #[arg(long = "ca-file", value_name = "PEM")]
    pub ca_file: Option<PathBuf>,
    /// Targets measured at once. [default: 64]
    #[arg(long, value_name = "N")]
    pub parallel: Option<usize>,
    /// Timeout of each step (DNS, TCP connect, TLS handshake, HTTP round trip), e.g. 10s, 500ms.
    /// [default: 10s]
    #[arg(long, value_name = "DURATION")]
    pub timeout: Option<String>,
    /// Overall time for one target, redirects included. [default: 60s]
    #[arg(long, value_name = "DURATION")]
    pub deadline: Option<String>,
    /// How long to keep listening for more DNS answers after the first (injected duplicates).
    /// [default: 500ms]
    #[arg(long = "dns-wait", value_name = "DURATION")]
    pub dns_wait: Option<String>,
    /// New connections (TCP connects and DNS lookups) per second at most, 0 for no cap. [default: 100]
    #[arg(long, value_name = "N")]
    pub rate: Option<u32>,
    /// Addresses tried per family (IPv4, IPv6) for each hop. [default: 4]
    #[arg(long = "max-addrs", value_name = "N")]
    pub max_addrs: Option<usize>,
    /// TOML config file; flags override it.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Country code written in records. [default: ZZ]
    #[arg(long = "probe-cc", value_name = "CC")]
    pub probe_cc: Option<String>,
    /// Autonomous system written in records, e.g. AS4134. [default: AS0]
    #[arg(long = "probe-asn", value_name = "ASN")]
    pub probe_asn: Option<String>,
    /// Address range treated as routable although reserved (testbeds); a bare address is one
    /// host (/32, /128). Repeatable.
    #[arg(long = "testbed-net", value_name = "CIDR")]
    pub testbed_net: Vec<String>,
    /// An address of this vantage point, replaced by [scrubbed] wherever a record would hold
    /// it (the globally routable interface addresses are scrubbed anyway). Repeatable.
    #[arg(long = "probe-ip", value_name = "IP")]
    pub probe_ip: Vec<String>,
}

/// The `[run]` table of the config file: the same settings as the flags.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunFile {
    pub targets: Option<Vec<PathBuf>>,
    pub out: Option<PathBuf>,
    pub resolver: Option<String>,
    pub control: Option<String>,
    pub control_token: Option<String>,
    pub ca_file: Option<PathBuf>,
    pub parallel: Option<usize>,
    pub timeout: Option<String>,
    pub deadline: Option<String>,
    pub dns_wait: Option<String>,
    pub rate: Option<u32>,
    pub max_addrs: Option<usize>,
    pub probe_cc: Option<String>,
    pub probe_asn: Option<String>,
    pub testbed_nets: Option<Vec<String>>,
    pub probe_ips: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    run: Option<RunFile>,
}

/// Validated settings of one run.
#[derive(Clone, Debug)]
pub struct RunConfig {
    /// The list files named (what the daemon's state is keyed on).
    pub targets: Vec<PathBuf>,
    /// Every list measured, in order: the files, stdin's list, the command line's URLs, or
    /// the built-in default list when none is given.
    pub lists: Vec<ListSource>,
    /// The results directory, or `-` for stdout (`to_stdout`).
    pub out: PathBuf,
    pub resolver: SocketAddr,
    pub control: Option<Url>,
    /// Bearer token for the control (from the config file or `VANTAGE_CONTROL_TOKEN`).
    pub control_token: Option<String>,
    pub ca_file: Option<PathBuf>,
    pub parallel: usize,
    pub timeout: Duration,
    pub deadline: Duration,
    pub dns_wait: Duration,
    pub rate: u32,
    pub max_addrs: usize,
    pub probe_cc: String,
    pub probe_asn: String,
    pub testbed_nets: Vec<IpNet>,
    /// Addresses of the vantage point to scrub, besides the interfaces' (`scrub`).
    pub probe_ips: Vec<IpAddr>,
}

/// Reads the `[run]` table of a config file.
pub fn read_file(path: &Path) -> Result<RunFile, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let parsed: FileConfig = toml::from_str(&text).map_err(|e| ConfigError::Parse {
        path: path.to_path_buf(),
        message: locate(&text, &e),
    })?;
    Ok(parsed.run.unwrap_or_default())
}

/// "line N: message" for a TOML error.
fn locate(text: &str, e: &toml::de::Error) -> String {
    let msg = e.message().to_string();
    match e.span() {
        Some(span) => {
            let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
            format!("line {line}: {msg}")
        }
        None => msg,
    }
}

impl RunConfig {
    /// Records go to stdout (`--out -`), not to a results directory.
    pub fn to_stdout(&self) -> bool {
        self.out == Path::new("-")
    }
}

/// The lists to measure: the files (`-` is stdin, read now, once), then the URLs given as
/// arguments; the built-in default list when there is neither.
fn lists(files: &[PathBuf], urls: &[String]) -> Result<Vec<ListSource>, ConfigError> {
    let mut lists = Vec::new();
    let mut stdin_read = false;
    for path in files {
        if path != Path::new("-") {
            lists.push(ListSource::File(path.clone()));
            continue;
        }
        if std::mem::replace(&mut stdin_read, true) {
            return Err(invalid("--targets", "-", "stdin can be read only once"));
        }
        let stdin = std::io::stdin();
        if std::io::IsTerminal::is_terminal(&stdin) {
            tracing::warn!("reading the target list from the terminal; end it with Ctrl-D");
        }
        let read = ListSource::read_all(STDIN, stdin.lock());
        lists.push(read.map_err(|source| ConfigError::Read {
            path: path.clone(),
            source,
        })?);
    }
    if !urls.is_empty() {
        lists.push(ListSource::entries(urls));
    }
    if lists.is_empty() {
        lists.push(ListSource::builtin());
    }
    Ok(lists)
}

/// A path from the config file at `config`: relative to the file's directory (`-`, stdin or
/// stdout, stays itself).
fn beside(config: Option<&Path>, path: PathBuf) -> PathBuf {
    match config.and_then(Path::parent) {
        Some(dir) if path.is_relative() && path != Path::new("-") => dir.join(path),
        _ => path,
    }
}

/// A `--testbed-net`: a CIDR range, or a bare address meaning that one host.
pub fn parse_testbed_net(s: &str) -> Result<IpNet, ConfigError> {
    s.parse::<IpNet>().or_else(|e| {
        s.trim_matches(|c| c == '[' || c == ']')
            .parse::<IpAddr>()
            .map(IpNet::from)
            .map_err(|_| invalid("--testbed-net", s, &e.to_string()))
    })
}

impl RunArgs {
    /// Merges flags over the config file over defaults. `system_resolver` is asked only when
    /// neither names a resolver.
    pub fn resolve(
        self,
        system_resolver: impl FnOnce() -> Result<SocketAddr, String>,
    ) -> Result<RunConfig, ConfigError> {
        self.resolve_with(&[], system_resolver)
    }

    /// `resolve` with URLs or domains given as arguments (`vantage run URL...`): measured after
    /// the lists named, and instead of the config file's or the default list.
    pub fn resolve_with(
        self,
        urls: &[String],
        system_resolver: impl FnOnce() -> Result<SocketAddr, String>,
    ) -> Result<RunConfig, ConfigError> {
        let file = match &self.config {
            Some(p) => read_file(p)?,
            None => RunFile::default(),
        };
        let at_file = |p: PathBuf| beside(self.config.as_deref(), p);
        let targets: Vec<PathBuf> = if !self.targets.is_empty() {
            self.targets
        } else if !urls.is_empty() {
            Vec::new()
        } else {
            let named = file.targets.unwrap_or_default();
            named.into_iter().map(at_file).collect()
        };
        let lists = lists(&targets, urls)?;
        let targets = targets
            .into_iter()
            .filter(|p| p != Path::new("-"))
            .collect();
        let resolver = match self.resolver.or(file.resolver) {
            Some(r) => parse_resolver(&r)?,
            None => system_resolver().map_err(ConfigError::NoResolver)?,
        };
        let control = match self.control.or(file.control) {
            Some(c) => Some(parse_control(&c)?),
            None => None,
        };
        let parallel = self.parallel.or(file.parallel).unwrap_or(64);
        let parallel = count_in("--parallel", parallel, limits::MAX_PARALLEL)?;
        let max_addrs = self.max_addrs.or(file.max_addrs).unwrap_or(4);
        let max_addrs = count_in("--max-addrs", max_addrs, limits::MAX_ADDRS)?;
        let duration = |what, flag: Option<String>, file: Option<String>, default: &str, max| {
            let v = flag.or(file).unwrap_or_else(|| default.to_string());
            duration_at_most(what, &v, max)
        };
        let timeout = duration("--timeout", self.timeout, file.timeout, "10s", MAX_STEP)?;
        let deadline = duration(
            "--deadline",
            self.deadline,
            file.deadline,
            "60s",
            limits::MAX_DEADLINE,
        )?;
        let dns_wait = duration(
            "--dns-wait",
            self.dns_wait,
            file.dns_wait,
            "500ms",
            MAX_STEP,
        )?;
        if timeout.is_zero() || deadline.is_zero() {
            return Err(invalid("--timeout/--deadline", "0", "must be positive"));
        }
        let probe_cc = self
            .probe_cc
            .or(file.probe_cc)
            .unwrap_or_else(|| "ZZ".into());
        // Two ASCII letters, written upper case as OONI does (`cn` is CN).
        if probe_cc.len() != 2 || !probe_cc.chars().all(|c| c.is_ascii_alphabetic()) {
            return Err(invalid(
                "--probe-cc",
                &probe_cc,
                "want two letters, e.g. CN",
            ));
        }
        let probe_cc = probe_cc.to_ascii_uppercase();
        let probe_asn = self
            .probe_asn
            .or(file.probe_asn)
            .unwrap_or_else(|| "AS0".into());
        let asn_digits = match probe_asn.get(..2) {
            Some(prefix) if prefix.eq_ignore_ascii_case("AS") => &probe_asn[2..],
            _ => &probe_asn,
        };
        if asn_digits.is_empty() || !asn_digits.chars().all(|c| c.is_ascii_digit()) {
            return Err(invalid(
                "--probe-asn",
                &probe_asn,
                "want AS followed by digits, e.g. AS4134",
            ));
        }
        let nets = if self.testbed_net.is_empty() {
            file.testbed_nets.unwrap_or_default()
        } else {
            self.testbed_net
        };
        let testbed_nets = nets
            .iter()
            .map(|n| parse_testbed_net(n))
            .collect::<Result<_, _>>()?;
        let probe_ips = parse_probe_ips(if self.probe_ip.is_empty() {
            file.probe_ips.unwrap_or_default()
        } else {
            self.probe_ip
        })?;
        Ok(RunConfig {
            targets,
            lists,
            out: self
                .out
                .or(file.out.map(at_file))
                .unwrap_or_else(|| PathBuf::from("results")),
            resolver,
            control,
            control_token: std::env::var("VANTAGE_CONTROL_TOKEN")
                .ok()
                .or(file.control_token),
            ca_file: self.ca_file.or(file.ca_file.map(at_file)),
            parallel,
            timeout,
            deadline,
            dns_wait,
            rate: self.rate.or(file.rate).unwrap_or(100),
            max_addrs,
            probe_cc,
            probe_asn: format!("AS{asn_digits}"),
            testbed_nets,
            probe_ips,
        })
    }
}

fn parse_probe_ips(ips: Vec<String>) -> Result<Vec<IpAddr>, ConfigError> {
    ips.iter()
        .map(|s| {
            s.trim_matches(|c| c == '[' || c == ']')
                .parse()
                .map_err(|_| invalid("--probe-ip", s, "want an IP address"))
        })
        .collect()
}

fn invalid(what: &'static str, value: &str, reason: &str) -> ConfigError {
    ConfigError::Invalid {
        what,
        value: value.to_string(),
        reason: reason.to_string(),
    }
}

/// `IP`, `IP:PORT` or `[IPv6]:PORT`; port 53 when none is given.
pub fn parse_resolver(s: &str) -> Result<SocketAddr, ConfigError> {
    if let Ok(sa) = s.parse::<SocketAddr>() {
        return Ok(sa);
    }
    s.trim_matches(|c| c == '[' || c == ']')
        .parse::<IpAddr>()
        .map(|ip| SocketAddr::new(ip, 53))
        .map_err(|_| invalid("--resolver", s, "want IP or IP:PORT"))
}

pub fn parse_duration(what: &'static str, s: &str) -> Result<Duration, ConfigError> {
    humantime::parse_duration(s).map_err(|e| invalid(what, s, &e.to_string()))
}

/// A duration of at most `max` (the limit is named in the error).
pub fn duration_at_most(
    what: &'static str,
    s: &str,
    max: Duration,
) -> Result<Duration, ConfigError> {
    let d = parse_duration(what, s)?;
    if d > max {
        let limit = format!("at most {}", humantime::format_duration(max));
        return Err(invalid(what, s, &limit));
    }
    Ok(d)
}

/// A count from 1 to `max`.
pub fn count_in(what: &'static str, n: usize, max: usize) -> Result<usize, ConfigError> {
    match n {
        0 => Err(invalid(what, "0", "must be at least 1")),
        n if n > max => Err(invalid(what, &n.to_string(), &format!("at most {max}"))),
        n => Ok(n),
    }
}

fn parse_control(s: &str) -> Result<Url, ConfigError> {
    let url = Url::parse(s).map_err(|e| invalid("--control", s, &e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid("--control", s, "want an http or https URL"));
    }
    Ok(url)
}

/// The first nameserver of the system configuration (`/etc/resolv.conf`), read with hickory.
pub fn system_resolver() -> Result<SocketAddr, String> {
    let (config, _) =
        hickory_resolver::system_conf::read_system_conf().map_err(|e| e.to_string())?;
    let ns = config
        .name_servers()
        .first()
        .ok_or_else(|| "no nameserver listed".to_string())?;
    let port = ns.connections.first().map(|c| c.port).unwrap_or(53);
    Ok(SocketAddr::new(ns.ip, port))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn no_system() -> Result<SocketAddr, String> {
        Err("not in tests".into())
    }

    #[test]
    fn resolver_forms() {
        let cases = [
            ("127.0.0.1", Some("127.0.0.1:53")),
            ("127.0.0.1:5353", Some("127.0.0.1:5353")),
            ("::1", Some("[::1]:53")),
            ("[::1]:5353", Some("[::1]:5353")),
            ("dns.example", None),
        ];
        for (input, want) in cases {
            let got = parse_resolver(input).ok().map(|s| s.to_string());
            assert_eq!(got.as_deref(), want, "{input}");
        }
    }

    #[test]
    fn flags_override_file_which_overrides_defaults() {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        writeln!(f, "[run]\nresolver = \"127.0.0.2:5300\"\nparallel = 8\ntimeout = \"3s\"\nprobe_cc = \"CN\"").unwrap();
        let args = RunArgs {
            config: Some(f.path().to_path_buf()),
            parallel: Some(16),
            ..Default::default()
        };
        let c = args.resolve(no_system).unwrap();
        assert_eq!(c.resolver.to_string(), "127.0.0.2:5300");
        assert_eq!(c.parallel, 16, "flag wins");
        assert_eq!(c.timeout, Duration::from_secs(3), "file wins over default");
        assert_eq!(c.probe_cc, "CN");
        assert_eq!(c.dns_wait, Duration::from_millis(500), "default");
        assert_eq!(c.rate, 100);
    }

    #[test]
    fn bad_config_names_file_and_line() {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        writeln!(f, "[run]\nresolver = \"127.0.0.1\"\nparalel = 3").unwrap();
        let args = RunArgs {
            config: Some(f.path().to_path_buf()),
            ..Default::default()
        };
        let err = args.resolve(no_system).unwrap_err().to_string();
        assert!(err.contains(&f.path().display().to_string()), "{err}");
        assert!(err.contains("line 3"), "{err}");
        assert!(err.contains("paralel"), "{err}");
    }

    #[test]
    fn invalid_values_are_refused() {
        let cases: [(RunArgs, &str); 5] = [
            (
                RunArgs {
                    parallel: Some(0),
                    ..Default::default()
                },
                "--parallel",
            ),
            (
                RunArgs {
                    timeout: Some("soon".into()),
                    ..Default::default()
                },
                "--timeout",
            ),
            (
                RunArgs {
                    probe_cc: Some("China".into()),
                    ..Default::default()
                },
                "--probe-cc",
            ),
            (
                RunArgs {
                    testbed_net: vec!["198.18.0.0/33".into()],
                    ..Default::default()
                },
                "--testbed-net",
            ),
            (
                RunArgs {
                    control: Some("ftp://x".into()),
                    ..Default::default()
                },
                "--control",
            ),
        ];
        for (mut args, what) in cases {
            args.resolver = Some("127.0.0.1".into());
            let err = args.resolve(no_system).unwrap_err().to_string();
            assert!(err.contains(what), "{err}");
        }
        let err = RunArgs::default().resolve(no_system).unwrap_err();
        assert!(matches!(err, ConfigError::NoResolver(_)));
    }

    #[test]
    fn a_bare_testbed_address_is_one_host() {
        let cases = [
            ("127.0.0.1", Some("127.0.0.1/32")),
            ("::1", Some("::1/128")),
            ("[::1]", Some("::1/128")),
            ("198.18.0.0/15", Some("198.18.0.0/15")),
            ("127.0.0.1/33", None),
            ("lo", None),
        ];
        for (input, want) in cases {
            let got = parse_testbed_net(input).ok().map(|n| n.to_string());
            assert_eq!(got.as_deref(), want, "{input}");
        }
    }

    #[test]
    fn probe_ips_come_from_flags_or_file() {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        writeln!(
            f,
            "[run]\nresolver = \"127.0.0.1\"\nprobe_ips = [\"192.0.2.7\", \"[2001:db8::7]\"]"
        )
        .unwrap();
        let file = RunArgs {
            config: Some(f.path().to_path_buf()),
            ..Default::default()
        };
        let c = file.clone().resolve(no_system).unwrap();
        let want: Vec<IpAddr> = vec!["192.0.2.7".parse().unwrap(), "2001:db8::7".parse().unwrap()];
        assert_eq!(c.probe_ips, want);
        let flag = RunArgs {
            probe_ip: vec!["198.51.100.1".into()],
            ..file.clone()
        };
        assert_eq!(
            flag.resolve(no_system).unwrap().probe_ips,
            ["198.51.100.1".parse::<IpAddr>().unwrap()]
        );
        let bad = RunArgs {
            probe_ip: vec!["my.host".into()],
            ..file
        };
        let err = bad.resolve(no_system).unwrap_err().to_string();
        assert!(err.contains("--probe-ip"), "{err}");
    }
}

/// Flags of `vantage helper`.
#[derive(Args, Debug, Clone)]
pub struct HelperArgs {
    /// Address to listen on, e.g. 0.0.0.0:8080.
    #[arg(long, value_name = "ADDR")]
    pub listen: String,
    /// DNS resolver the helper asks, IP or IP:PORT. [default: the first nameserver of /etc/resolv.conf]
    #[arg(long, value_name = "IP[:PORT]")]
    pub resolver: Option<String>,
    /// Extra trust anchors (PEM), added to the web PKI roots for TLS validation.
    #[arg(long = "ca-file", value_name = "PEM")]
    pub ca_file: Option<PathBuf>,
    /// Require `Authorization: Bearer SECRET` (also read from VANTAGE_HELPER_TOKEN).
    #[arg(
        long,
        value_name = "SECRET",
        env = "VANTAGE_HELPER_TOKEN",
        hide_env_values = true
    )]
    pub token: Option<String>,
    /// Measure private, loopback and reserved destinations too (testbeds only).
    #[arg(long = "allow-private")]
    pub allow_private: bool,
    /// Requests measured at once; beyond, the helper answers 503.
    #[arg(long = "max-inflight", value_name = "N", default_value_t = crate::control::DEFAULT_MAX_INFLIGHT)]
    pub max_inflight: usize,
    /// Timeout of each step.
    #[arg(long, value_name = "DURATION", default_value = "10s")]
    pub timeout: String,
    /// Local address to measure from, on a host with several.
    #[arg(long, value_name = "IP")]
    pub source: Option<IpAddr>,
    /// Connections open at once; at the cap a new one replaces the oldest idle one. [default: a
    /// quarter of the open-file limit, 8 to 1024]
    #[arg(long = "max-connections", value_name = "N")]
    pub max_connections: Option<usize>,
    /// Time a client has to send a request's headers, and its body; idle connections are
    /// closed after it too.
    #[arg(
        long = "header-timeout",
        value_name = "DURATION",
        default_value = "10s"
    )]
    pub header_timeout: String,
}

/// Validated settings of the helper.
#[derive(Clone, Debug)]
pub struct HelperConfig {
    pub listen: SocketAddr,
    pub resolver: SocketAddr,
    pub ca_file: Option<PathBuf>,
    pub token: Option<String>,
    pub allow_private: bool,
    pub max_inflight: usize,
    pub timeout: Duration,
    pub source: Option<IpAddr>,
    /// `None`: sized from the open-file limit when serving.
    pub max_connections: Option<usize>,
    pub header_timeout: Duration,
}

impl HelperArgs {
    pub fn resolve(
        self,
        system_resolver: impl FnOnce() -> Result<SocketAddr, String>,
    ) -> Result<HelperConfig, ConfigError> {
        let listen = self
            .listen
            .parse()
            .map_err(|_| invalid("--listen", &self.listen, "want IP:PORT"))?;
        let resolver = match self.resolver {
            Some(r) => parse_resolver(&r)?,
            None => system_resolver().map_err(ConfigError::NoResolver)?,
        };
        count_in("--max-inflight", self.max_inflight, limits::MAX_INFLIGHT)?;
        if let Some(n) = self.max_connections {
            count_in("--max-connections", n, limits::MAX_INFLIGHT)?;
        }
        let span = |what, s: &str| {
            let d = duration_at_most(what, s, MAX_STEP)?;
            if d.is_zero() {
                return Err(invalid(what, s, "must be more than 0s"));
            }
            Ok(d)
        };
        let timeout = span("--timeout", &self.timeout)?;
        let header_timeout = span("--header-timeout", &self.header_timeout)?;
        Ok(HelperConfig {
            listen,
            resolver,
            ca_file: self.ca_file,
            token: self.token.filter(|t| !t.is_empty()),
            allow_private: self.allow_private,
            max_inflight: self.max_inflight,
            timeout,
            source: self.source,
            max_connections: self.max_connections,
            header_timeout,
        })
    }
}
