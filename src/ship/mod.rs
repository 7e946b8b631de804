//! Shipping records from the local JSONL (the source of truth) to a ClickHouse fleet store,
//! exactly once through outages. (Being built: issue 5.)
//!
//! The seam the daemon uses: `ClickhouseConfig` (the `[clickhouse]` table of its config file)
//! and `Shipper::{new, ship_once, run}`.

use std::path::PathBuf;

use clap::Args;
use serde::Deserialize;

use crate::exit::{fatal, Exit};

/// Where and how to ship (the daemon config's `[clickhouse]` table).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClickhouseConfig {
    /// ClickHouse's HTTP interface, e.g. http://127.0.0.1:8123/
    pub url: String,
    #[serde(default = "default_database")]
    pub database: String,
    #[serde(default = "default_table")]
    pub table: String,
    pub user: Option<String>,
    /// Name of the environment variable holding the password (never the password itself).
    pub password_env: Option<String>,
}

fn default_database() -> String {
    "vantage".into()
}
fn default_table() -> String {
    "measurements".into()
}

/// A fault of the shipper (ClickHouse unreachable, a bad answer): retried by `Shipper::run`.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ShipError(pub String);

/// Ships one results directory as one vantage point.
pub struct Shipper {
    pub config: ClickhouseConfig,
    pub results: PathBuf,
    pub vantage_point: String,
}

impl Shipper {
    pub fn new(
        config: ClickhouseConfig,
        results: PathBuf,
        vantage_point: String,
    ) -> Result<Shipper, ShipError> {
        Ok(Shipper {
            config,
            results,
            vantage_point,
        })
    }

    /// Ships every record not shipped yet; returns how many rows went out.
    pub async fn ship_once(&mut self) -> Result<u64, ShipError> {
        Err(ShipError("shipping is not built yet".into()))
    }

    /// Ships until `stop` turns true, retrying with backoff while ClickHouse is unreachable,
    /// and makes a last pass before returning.
    pub async fn run(self, _stop: tokio::sync::watch::Receiver<bool>) {}
}

/// Flags of `vantage ship`.
#[derive(Args, Debug, Clone)]
pub struct ShipArgs {
    /// Results directory to ship.
    #[arg(long, value_name = "DIR", default_value = "results")]
    pub results: PathBuf,
    /// ClickHouse HTTP URL, e.g. http://127.0.0.1:8123/
    #[arg(long = "clickhouse", value_name = "URL")]
    pub clickhouse: String,
    #[arg(long, default_value = "vantage")]
    pub database: String,
    #[arg(long, default_value = "measurements")]
    pub table: String,
    /// ClickHouse user (password from VANTAGE_CLICKHOUSE_PASSWORD).
    #[arg(long)]
    pub user: Option<String>,
    /// Name of this vantage point in the fleet store.
    #[arg(long = "vantage-point", value_name = "NAME")]
    pub vantage_point: String,
}

/// Ships what is new once and exits.
pub fn ship_main(_args: ShipArgs) -> Result<(), Exit> {
    Err(fatal("vantage ship is not built yet"))
}
