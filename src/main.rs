//! The `vantage` command: parses the command line, sets up logging, and maps outcomes to exit
//! statuses (0 the run finished, 2 bad usage or configuration, 1 the probe itself failed, 130
//! a run interrupted by Ctrl-C).

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::LazyLock;

use clap::{Args, CommandFactory, Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use vantage::config::{self, HelperArgs, RunArgs};
use vantage::daemon::{DaemonArgs, StatusArgs};
use vantage::exit::{fatal, usage, Exit};
use vantage::report::ReportArgs;
use vantage::ship::ShipArgs;
use vantage::show::ShowArgs;
use vantage::targets::{self, Entry};
use vantage::{daemon, helper, report, runner, ship, show};

/// `--version`: the crate's version and the record format's.
static VERSION: LazyLock<String> = LazyLock::new(|| {
    format!(
        "{} (record schema_version {})",
        env!("CARGO_PKG_VERSION"),
        vantage::record::SCHEMA_VERSION
    )
});

/// The exit status of a run stopped by Ctrl-C (128 + SIGINT, as shells report it).
const INTERRUPTED: u8 = 130;

/// Censorship-measurement probe: DNS, TCP, TLS and HTTP measurements with the raw evidence,
/// written as OONI-compatible JSON lines.
#[derive(Parser, Debug)]
#[command(name = "vantage", version = VERSION.as_str(), about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// `vantage run`: the run settings, and what to measure given on the command line.
#[derive(Args, Debug)]
struct RunCmd {
    /// URLs or domains to measure (as list lines: a bare domain is https://DOMAIN/), after
    /// the --targets lists; with these and no --targets, neither the config file's lists nor
    /// the default list is measured.
    #[arg(value_name = "URL")]
    urls: Vec<String>,
    /// Print the targets that would be measured (input, category) and exit; nothing is
    /// measured.
    #[arg(long = "list-targets")]
    list_targets: bool,
    #[command(flatten)]
    args: RunArgs,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Measure every target of the lists (or the URLs given) once and write one record per URL.
    Run(RunCmd),
    /// Serve as the control: measure what probes ask about from this (uncensored) host.
    Helper(HelperArgs),
    /// Measure on schedules until stopped, shipping records to the fleet store if configured.
    Daemon(DaemonArgs),
    /// Say what the daemon ran, when, and what is due.
    Status(StatusArgs),
    /// Summarize a results directory: what is blocked, what changed, optionally as HTML.
    Report(ReportArgs),
    /// Ship the records not shipped yet to a ClickHouse fleet store, once.
    Ship(ShipArgs),
    /// One measurement's steps and verdict as a table, or the list of measurements.
    Show(ShowArgs),
    /// Print a shell completion script (e.g. `vantage completions bash > /etc/bash_completion.d/vantage`).
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff) of vantage or of one subcommand (vantage-run(1) ...), e.g.
    /// `vantage man run | man -l -`.
    Man {
        /// The subcommand (run, helper, daemon, status, report, ship, show, completions).
        #[arg(value_parser = MAN_PAGES)]
        subcommand: Option<String>,
    },
}

/// The subcommands with a man page of their own (`vantage man NAME`; shells complete them).
const MAN_PAGES: [&str; 8] = [
    "run",
    "helper",
    "daemon",
    "status",
    "report",
    "ship",
    "show",
    "completions",
];

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The daemon logs what it does and the helper each request (info); the one-shot commands
    // only warnings. JSON lines with `vantage daemon --log-format json` (for journald or a log
    // shipper).
    let (default_level, json) = match &cli.command {
        Command::Daemon(a) => ("info", a.log_format == "json"),
        Command::Helper(_) => ("warn,vantage=info", false),
        _ => ("warn", false),
    };
    let filter =
        EnvFilter::try_from_env("VANTAGE_LOG").unwrap_or_else(|_| EnvFilter::new(default_level));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    if json {
        logs.json().init();
    } else {
        logs.init();
    }
    let outcome = match cli.command {
        Command::Run(args) => run(args),
        Command::Helper(args) => serve_helper(args),
        Command::Daemon(args) => daemon::daemon_main(args),
        Command::Status(args) => daemon::status_main(args),
        Command::Report(args) => report::report_main(args),
        Command::Ship(args) => ship::ship_main(args),
        Command::Show(args) => show::show_main(args),
        Command::Completions { shell } => completions(shell),
        Command::Man { subcommand } => man_page(subcommand.as_deref()),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(Exit(code, message)) => {
            eprintln!("vantage: {message}");
            ExitCode::from(code)
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, Exit> {
    tokio::runtime::Runtime::new()
        .map_err(|e| fatal(format!("cannot start the async runtime: {e}")))
}

fn run(cmd: RunCmd) -> Result<(), Exit> {
    if cmd.list_targets {
        return list_targets(cmd);
    }
    let config = cmd
        .args
        .resolve_with(&cmd.urls, config::system_resolver)
        .map_err(usage)?;
    let to_stdout = config.to_stdout();
    let summary = runtime()?
        .block_on(runner::run(config))
        .map_err(|e| Exit(e.exit_code(), e.to_string()))?;
    // The summary goes to stdout, finished or interrupted, unless the records are there
    // (`--out -`): then to stderr, so stdout stays JSON lines for `jq`.
    if to_stdout {
        for line in summary.lines() {
            eprintln!("{line}");
        }
    } else {
        vantage::stdout::print_lines(summary.lines())
            .map_err(|e| fatal(format!("cannot write to stdout: {e}")))?;
    }
    if summary.interrupted {
        return Err(Exit(INTERRUPTED, "interrupted".into()));
    }
    Ok(())
}

/// `vantage run --list-targets`: what would be measured, one `input<TAB>category` per line;
/// bad lines on stderr. No network, so no resolver is needed.
fn list_targets(cmd: RunCmd) -> Result<(), Exit> {
    let unused = || Ok(SocketAddr::from(([127, 0, 0, 1], 53)));
    let config = cmd.args.resolve_with(&cmd.urls, unused).map_err(usage)?;
    let stream = targets::open_sources(&config.lists).map_err(usage)?;
    let (mut listed, mut bad) = (0u64, 0u64);
    let lines = stream.filter_map(|entry| match entry {
        Entry::Target(t) => {
            listed += 1;
            Some(format!(
                "{}\t{}",
                t.input,
                t.category_code.as_deref().unwrap_or("-")
            ))
        }
        Entry::Bad(b) => {
            bad += 1;
            eprintln!("{b}");
            None
        }
    });
    vantage::stdout::print_lines(lines)
        .map_err(|e| fatal(format!("cannot write to stdout: {e}")))?;
    // As `run` would end: a list with nothing to measure is exit 1.
    if listed == 0 {
        let e = vantage::runner::RunError::NoTargets(bad);
        return Err(Exit(e.exit_code(), e.to_string()));
    }
    Ok(())
}

fn completions(shell: clap_complete::Shell) -> Result<(), Exit> {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "vantage", &mut script);
    print_bytes(&script)
}

fn man_page(subcommand: Option<&str>) -> Result<(), Exit> {
    let mut cli = Cli::command();
    cli.build();
    let command = match subcommand {
        None => cli,
        Some(name) => cli
            .find_subcommand(name)
            .ok_or_else(|| usage(format!("no subcommand {name:?}")))?
            .clone()
            // clap names are 'static; the process prints one page and exits.
            .name(&*format!("vantage-{name}").leak())
            .version(VERSION.as_str()),
    };
    let mut page = Vec::new();
    clap_mangen::Man::new(command)
        .render(&mut page)
        .map_err(fatal)?;
    page.extend_from_slice(MAN_SECTIONS.as_bytes());
    print_bytes(&page)
}

/// The sections every man page ends with (roff), beyond what clap_mangen renders from the
/// flags: the environment variables read, and the exit statuses.
const MAN_SECTIONS: &str = r#".SH ENVIRONMENT
.TP
\fBVANTAGE_CONTROL_TOKEN\fR
Bearer token \fBrun\fR and \fBdaemon\fR send to the control (\fB\-\-control\fR); the config file's \fBcontrol_token\fR otherwise.
.TP
\fBVANTAGE_HELPER_TOKEN\fR
Token \fBhelper\fR requires of probes (as \fB\-\-token\fR).
.TP
\fBVANTAGE_CLICKHOUSE_PASSWORD\fR
Password for the ClickHouse fleet store (\fBship\fR, \fBreport \-\-clickhouse\fR, \fBdaemon\fR).
.TP
\fBVANTAGE_LOG\fR
Log filter for stderr (tracing's EnvFilter syntax, e.g. \fBwarn\fR, \fBvantage=debug\fR).
.SH "EXIT STATUS"
.TP
\fB0\fR
Done (a run that finished, whatever it found).
.TP
\fB1\fR
The command itself failed: cannot write results or read records, no targets at all, nothing to report.
.TP
\fB2\fR
Bad usage or configuration: a bad flag or value, an unreadable target list, CA or config file.
.TP
\fB130\fR
Interrupted by Ctrl\-C (\fBrun\fR prints the partial summary).
"#;

fn print_bytes(bytes: &[u8]) -> Result<(), Exit> {
    vantage::stdout::print_bytes(bytes).map_err(|e| fatal(format!("cannot write to stdout: {e}")))
}

fn serve_helper(args: HelperArgs) -> Result<(), Exit> {
    let config = args.resolve(config::system_resolver).map_err(usage)?;
    let tls = vantage::probe::tls::TlsContext::new(config.ca_file.as_deref()).map_err(usage)?;
    helper::server::raise_open_file_limit();
    let limits = helper::ServeLimits {
        max_connections: config
            .max_connections
            .unwrap_or_else(helper::server::default_max_connections),
        header_timeout: config.header_timeout,
        // The measurement's 25 s deadline, then the endpoint checks' own.
        request_timeout: std::time::Duration::from_secs(60),
    };
    runtime()?.block_on(async {
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|e| fatal(format!("cannot listen on {}: {e}", config.listen)))?;
        let addr = listener.local_addr().map_err(fatal)?;
        // Tests and scripts read this line to learn the port when listening on :0.
        println!("vantage helper listening on {addr}");
        tracing::info!(
            max_connections = limits.max_connections,
            max_inflight = config.max_inflight,
            "helper listening on {addr}"
        );
        let router = helper::router(
            helper::HelperConfig {
                probe: helper::probe_settings(
                    config.resolver,
                    config.timeout,
                    config.allow_private,
                    config.source,
                ),
                token: config.token,
                allow_private: config.allow_private,
                max_inflight: config.max_inflight,
            },
            tls,
        );
        helper::serve(listener, router, limits).await;
        Ok(())
    })
}
