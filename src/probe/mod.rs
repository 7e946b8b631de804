//! Probes: the network operations of one measurement. Each step (dns, tcp, tls, http) is its own
//! module that turns what happened into an observation; `web` chains them for one URL.
//! Failures come back as data, never as Rust errors.

pub mod counting;
pub mod dns;
mod dns_evidence;
pub mod getaddrinfo;
pub mod http;
pub mod tcp;
pub mod tls;
pub mod web;

pub use web::{Measured, ProbeSettings, Prober};
