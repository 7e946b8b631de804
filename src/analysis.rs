//! Analysis: from observations (and, later, the control's answer) to OONI's `dns_consistency`,
//! `blocking` and `accessible`, and vantage's `x_verdict`. Pure: no I/O, no clock.
//!
//! This version has no control comparison yet, so every verdict is `unknown`.

use serde::{Deserialize, Serialize};

use ipnet::IpNet;
use url::Url;

use crate::control::ControlAnswer;
use crate::fingerprints::Fingerprints;
use crate::observation::Observations;

/// `x_verdict.status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Accessible,
    Blocked,
    Down,
    Unknown,
}

impl Status {
    pub const ALL: [Status; 4] = [
        Status::Accessible,
        Status::Blocked,
        Status::Down,
        Status::Unknown,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Accessible => "accessible",
            Status::Blocked => "blocked",
            Status::Down => "down",
            Status::Unknown => "unknown",
        }
    }
}

/// `x_verdict`: the status, the blocking methods (non-empty exactly when blocked) and the
/// evidence in sentences.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    pub status: Status,
    pub methods: Vec<String>,
    pub reasons: Vec<String>,
}

/// Everything the analysis adds to a record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Analysis {
    pub dns_consistency: Option<String>,
    /// OONI's `blocking`: `false`, a string, or null.
    pub blocking: serde_json::Value,
    pub accessible: Option<bool>,
    pub x_verdict: Verdict,
}

/// What the analysis compares the observations with.
#[derive(Clone, Copy, Debug)]
pub struct Context<'a> {
    /// The control's answer, when one was asked for and came back.
    pub control: Option<&'a ControlAnswer>,
    /// Why the control could not answer, when it could not.
    pub control_failure: Option<&'a str>,
    /// Reserved ranges treated as routable (testbeds).
    pub testbed_nets: &'a [IpNet],
    pub fingerprints: &'a Fingerprints,
}

/// Analyses one measurement of `input`.
pub fn analyze(_input: &Url, _obs: &Observations, _ctx: &Context<'_>) -> Analysis {
    Analysis {
        dns_consistency: None,
        blocking: serde_json::Value::Null,
        accessible: None,
        x_verdict: Verdict {
            status: Status::Unknown,
            methods: vec![],
            reasons: vec!["no control comparison in this version".into()],
        },
    }
}
