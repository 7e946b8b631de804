//! The `vantage` command: parses the command line, sets up logging, and maps outcomes to exit
//! statuses (0 the run finished, 2 bad usage or configuration, 1 the probe itself failed).

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use vantage::config::{self, HelperArgs, RunArgs};
use vantage::daemon::{DaemonArgs, StatusArgs};
use vantage::exit::{fatal, usage, Exit};
use vantage::report::ReportArgs;
use vantage::ship::ShipArgs;
use vantage::{daemon, helper, report, runner, ship};

/// Censorship-measurement probe: DNS, TCP, TLS and HTTP measurements with the raw evidence,
/// written as OONI-compatible JSON lines.
#[derive(Parser, Debug)]
#[command(name = "vantage", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Measure every target of the lists once and write one record per URL.
    Run(RunArgs),
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
}

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

fn run(args: RunArgs) -> Result<(), Exit> {
    let config = args.resolve(config::system_resolver).map_err(usage)?;
    let summary = runtime()?
        .block_on(runner::run(config))
        .map_err(|e| Exit(e.exit_code(), e.to_string()))?;
    vantage::stdout::print_lines(summary.lines())
        .map_err(|e| fatal(format!("cannot write to stdout: {e}")))
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
