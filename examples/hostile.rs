//! A hostile network on 127.0.0.1, for `bench/hostile.sh`: a resolver that answers every query
//! with a flood of datagrams packed with thousands of answers, and a site that redirects every
//! request to a fresh name (so every hop adds a lookup). The servers are the integration tests'
//! own (`tests/integration/harness/hostile.rs`, included as is).
//!
//! Usage: `hostile TARGETS_FILE N [DATAGRAMS [ANSWERS [PACE_US [BODY_BYTES]]]]`. Writes N URLs, each
//! a fresh name, to TARGETS_FILE, prints `resolver 127.0.0.1:PORT` and serves until killed.
//! Defaults: 64 datagrams of 4,000 answers per query, 1,000 µs apart, 5-byte redirect bodies.

#[allow(dead_code)]
#[path = "../tests/integration/harness/hostile.rs"]
mod hostile;

use std::io::Write;
use std::time::Duration;

use hostile::{FloodDns, FloodSpec, Maze};

fn arg(args: &[String], i: usize, default: usize) -> usize {
    args.get(i).map_or(default, |a| {
        a.parse()
            .unwrap_or_else(|_| panic!("argument {i}: not a number: {a}"))
    })
}

// One thread: the hostile network must not take the cores the probe is measured on.
#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(file), Some(_)) = (args.first(), args.get(1)) else {
        eprintln!("usage: hostile TARGETS_FILE N [DATAGRAMS [ANSWERS [PACE_US [BODY_BYTES]]]]");
        std::process::exit(2);
    };
    let n = arg(&args, 1, 200);
    let flood = FloodDns::start(FloodSpec {
        datagrams: arg(&args, 2, 64),
        answers: arg(&args, 3, 4000),
        pace: Duration::from_micros(arg(&args, 4, 1000) as u64),
    })
    .await;
    // HOSTILE_FILL_BYTE: the byte the bodies are made of (1 escapes sixfold in JSON).
    let fill = std::env::var("HOSTILE_FILL_BYTE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(b'x');
    let body = vec![fill; arg(&args, 5, 5)];
    let maze = Maze::start("hostile.test", body).await;
    let urls: String = (0..n)
        .map(|i| maze.url(&format!("h0-t{i}")) + "\n")
        .collect();
    std::fs::write(file, urls).expect("the targets file is writable");
    println!("resolver {}", flood.addr);
    std::io::stdout().flush().expect("stdout");
    std::future::pending::<()>().await;
}
