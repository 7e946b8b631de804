//! The `vantage` command: parses the command line, sets up logging, and maps outcomes to exit
//! statuses (0 the run finished, 2 bad usage or configuration, 1 the probe itself failed).

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use vantage::config::{self, HelperArgs, RunArgs};
use vantage::{helper, runner};

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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("VANTAGE_LOG").unwrap_or_else(|_| EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    match cli.command {
        Command::Run(args) => run(args),
        Command::Helper(args) => serve_helper(args),
    }
}

fn serve_helper(args: HelperArgs) -> ExitCode {
    let config = match args.resolve(config::system_resolver) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("vantage: {e}");
            return ExitCode::from(2);
        }
    };
    let tls = match vantage::probe::tls::TlsContext::new(config.ca_file.as_deref()) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("vantage: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("vantage: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    runtime.block_on(async {
        let listener = match tokio::net::TcpListener::bind(config.listen).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("vantage: cannot listen on {}: {e}", config.listen);
                return ExitCode::from(1);
            }
        };
        let addr = listener
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_default();
        // Tests and scripts read this line to learn the port when listening on :0.
        println!("vantage helper listening on {addr}");
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
        match helper::serve(listener, router).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("vantage: helper stopped: {e}");
                ExitCode::from(1)
            }
        }
    })
}

fn run(args: RunArgs) -> ExitCode {
    let config = match args.resolve(config::system_resolver) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("vantage: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("vantage: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(runner::run(config)) {
        Ok(summary) => {
            for line in summary.lines() {
                println!("{line}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("vantage: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
