//! vantage: a censorship-measurement probe.
//!
//! Data flows one way: `targets` -> `probe` (dns, tcp, tls, http) -> `observation` ->
//! `analysis` (pure) -> `record` -> `sink`. `runner` drives one pass over the target lists;
//! `config` merges flags, config file and defaults; `failure` is the closed vocabulary of
//! network failures.

pub mod analysis;
pub mod bogon;
pub mod budget;
pub mod config;
pub mod control;
pub mod daemon;
pub mod exit;
pub mod failure;
pub mod fingerprints;
pub mod helper;
pub mod limits;
pub mod observation;
pub mod probe;
pub mod progress;
pub mod rate;
pub mod record;
pub mod redact;
pub mod report;
pub mod runner;
pub(crate) mod screen;
pub mod scrub;
pub mod shed;
pub mod ship;
pub mod show;
pub mod sink;
pub mod stdout;
pub mod targets;
