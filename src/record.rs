//! The record: one JSON object per measured URL, in OONI's data format (df-000 base keys,
//! web_connectivity test keys) plus vantage's `x_` keys; docs/RECORD.md describes every key.
//! A line is never longer than `budget::RECORD_MAX_BYTES`: `shed` makes it fit.

use std::collections::BTreeMap;

use serde::Serialize;
use time::OffsetDateTime;

use crate::analysis::Analysis;
use crate::observation::Observations;

/// Bumped whenever the record's shape changes (docs/RECORD.md).
pub const SCHEMA_VERSION: u32 = 3;
pub const TEST_NAME: &str = "web_connectivity";
/// Our web_connectivity implementation's version.
pub const TEST_VERSION: &str = "0.1.0";

/// What every record of one run shares.
#[derive(Clone, Debug)]
pub struct RunInfo {
    pub report_id: String,
    pub test_start_time: OffsetDateTime,
    pub probe_cc: String,
    pub probe_asn: String,
    pub resolver_ip: String,
    pub annotations: BTreeMap<String, String>,
    /// df-000's `test_helpers`: the control this run asks, in LTE's shape (`None`: no control).
    pub test_helpers: Option<serde_json::Value>,
}

/// df-000's `test_helpers` for a run whose control is `control`, as LTE writes it:
/// `{"backend": {"address": URL, "type": "https"}}` (`type` is the URL's scheme). The URL
/// keeps only scheme, host, port and path: never credentials or a query.
pub fn test_helpers(control: &url::Url) -> serde_json::Value {
    let address = crate::redact::url(control);
    serde_json::json!({"backend": {"address": address.as_str(), "type": control.scheme()}})
}

/// df-000's `annotations.architecture`: Go's GOARCH name of the machine (`amd64`, `arm64`,
/// `386`, `arm`, ...), from Rust's name for it.
pub fn goarch(rust_arch: &str) -> &str {
    match rust_arch {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64",
        "loongarch64" => "loong64",
        other => other, // arm, riscv64, s390x, mips, mips64: the same names
    }
}

#[cfg(test)]
impl RunInfo {
    /// A run's shared keys for unit tests: unknown country and network, no annotations.
    pub(crate) fn for_tests(resolver_ip: &str) -> RunInfo {
        RunInfo {
            report_id: "r".into(),
            test_start_time: OffsetDateTime::UNIX_EPOCH,
            probe_cc: "ZZ".into(),
            probe_asn: "AS0".into(),
            resolver_ip: resolver_ip.into(),
            annotations: BTreeMap::new(),
            test_helpers: None,
        }
    }
}

/// OONI's timestamp format: `YYYY-MM-DD hh:mm:ss`, UTC.
pub fn ooni_time(t: OffsetDateTime) -> String {
    let f = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    t.to_offset(time::UtcOffset::UTC)
        .format(&f)
        .expect("UTC time formats")
}

#[derive(Clone, Debug, Serialize)]
pub struct TestKeys {
    pub agent: &'static str,
    pub client_resolver: String,
    #[serde(flatten)]
    pub observations: Observations,
    pub control: Option<serde_json::Value>,
    pub control_failure: Option<String>,
    /// The request sent to the control (OONI's THRequest, as LTE writes it); null when no
    /// control was asked. OONI's analysis reads `control` only when this is present.
    pub x_control_request: Option<serde_json::Value>,
    /// Why the measurement itself could not be made (an internal error of the probe), as
    /// OONI writes a failure; absent when it was made.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    #[serde(flatten)]
    pub analysis: Analysis,
    /// What the record's hard cap shed (absent when nothing was).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub x_truncated: Option<crate::shed::Truncated>,
}

/// One line of the results file.
#[derive(Clone, Debug, Serialize)]
pub struct Record {
    pub schema_version: u32,
    pub data_format_version: &'static str,
    pub measurement_uid: String,
    pub report_id: String,
    pub software_name: &'static str,
    pub software_version: &'static str,
    pub test_name: &'static str,
    pub test_version: &'static str,
    pub input: String,
    /// `input` normalized as vantage measured it and found duplicates on (IDN host in
    /// punycode, lower-case scheme and host, default path); absent when `input` is no URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub x_input_normalized: Option<String>,
    pub measurement_start_time: String,
    pub test_start_time: String,
    pub test_runtime: f64,
    pub probe_cc: String,
    pub probe_asn: String,
    pub probe_ip: &'static str,
    pub resolver_ip: String,
    pub annotations: BTreeMap<String, String>,
    pub extensions: BTreeMap<&'static str, u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test_helpers: Option<serde_json::Value>,
    pub test_keys: TestKeys,
}

/// What one measurement contributes to its record.
pub struct Measurement<'a> {
    pub input: &'a str,
    pub category_code: Option<&'a str>,
    pub start: OffsetDateTime,
    pub runtime: f64,
    pub observations: Observations,
    pub control: Option<serde_json::Value>,
    pub control_failure: Option<String>,
    /// The request sent to the control, when one was asked.
    pub control_request: Option<serde_json::Value>,
    pub analysis: Analysis,
}

impl Record {
    pub fn new(run: &RunInfo, m: Measurement<'_>) -> Record {
        let mut annotations = run.annotations.clone();
        if let Some(c) = m.category_code {
            annotations.insert("category_code".into(), c.to_string());
        }
        let mut observations = m.observations;
        // The lookups as OONI's classic view reads them go first: OONI's pipeline keeps the
        // first DNS entry of a transaction.
        let classic = std::mem::take(&mut observations.classic_lookups);
        observations.queries.splice(0..0, classic);
        Record {
            schema_version: SCHEMA_VERSION,
            data_format_version: "0.2.0",
            measurement_uid: measurement_uid(m.start, &run.probe_cc),
            report_id: run.report_id.clone(),
            software_name: "vantage",
            software_version: env!("CARGO_PKG_VERSION"),
            test_name: TEST_NAME,
            test_version: TEST_VERSION,
            input: m.input.to_string(),
            x_input_normalized: crate::targets::parse_entry(m.input).ok().map(String::from),
            measurement_start_time: ooni_time(m.start),
            test_start_time: ooni_time(run.test_start_time),
            test_runtime: (m.runtime * 1e6).round() / 1e6,
            probe_cc: run.probe_cc.clone(),
            probe_asn: run.probe_asn.clone(),
            probe_ip: "127.0.0.1",
            resolver_ip: run.resolver_ip.clone(),
            annotations,
            test_helpers: run.test_helpers.clone(),
            extensions: [
                ("dnst", 0),
                ("httpt", 0),
                ("tcpconnect", 0),
                ("tlshandshake", 0),
            ]
            .into_iter()
            .collect(),
            test_keys: TestKeys {
                agent: "redirect",
                client_resolver: run.resolver_ip.clone(),
                observations,
                control: m.control,
                control_failure: m.control_failure,
                x_control_request: m.control_request,
                failure: None,
                analysis: m.analysis,
                x_truncated: None,
            },
        }
    }

    /// The record of a measurement of `input` that could not be made (it crashed the probe, or
    /// the probe failed inside it): no observations, `test_keys.failure` set, verdict unknown
    /// with `reason` as its reason.
    pub fn failed(
        run: &RunInfo,
        input: &str,
        category_code: Option<&str>,
        (start, runtime): (OffsetDateTime, f64),
        failure: &crate::failure::Failure,
        reason: String,
    ) -> Record {
        let failure = failure.as_ooni().into_owned();
        let analysis = Analysis {
            dns_experiment_failure: None,
            http_experiment_failure: None,
            dns_consistency: None,
            body_length_match: None,
            body_proportion: None,
            status_code_match: None,
            headers_match: None,
            title_match: None,
            blocking: serde_json::Value::Null,
            accessible: None,
            x_dns_flags: None,
            x_verdict: crate::analysis::Verdict {
                status: crate::analysis::Status::Unknown,
                methods: Vec::new(),
                reasons: vec![reason],
            },
        };
        let mut r = Record::new(
            run,
            Measurement {
                input,
                category_code,
                start,
                runtime,
                observations: Observations::default(),
                control: None,
                control_failure: None,
                control_request: None,
                analysis,
            },
        );
        r.test_keys.failure = Some(failure);
        r
    }

    /// The whole line, newline included: at most `budget::RECORD_MAX_BYTES`, evidence shed
    /// (and listed in `x_truncated`) when the record is larger.
    pub fn to_line(&self) -> Vec<u8> {
        crate::shed::line(self, crate::budget::RECORD_MAX_BYTES)
    }

    /// [`Record::to_line`] for a record no longer needed: no copy of it is made to shed.
    pub fn into_line(self) -> Vec<u8> {
        crate::shed::into_line(self, crate::budget::RECORD_MAX_BYTES)
    }
}

/// OONI's measurement UID shape: `YYYYMMDDhhmmss.ffffff_CC_webconnectivity_<random hex>`.
pub fn measurement_uid(start: OffsetDateTime, cc: &str) -> String {
    let f = time::macros::format_description!(
        "[year][month][day][hour][minute][second].[subsecond digits:6]"
    );
    let stamp = start
        .to_offset(time::UtcOffset::UTC)
        .format(&f)
        .expect("UTC time formats");
    format!(
        "{stamp}_{cc}_webconnectivity_{:016x}",
        rand::random::<u64>()
    )
}

/// A run id in OONI's report-id shape: `YYYYMMDDThhmmssZ_webconnectivity_CC_ASN_n1_<random>`.
pub fn report_id(start: OffsetDateTime, cc: &str, asn: &str) -> String {
    let f = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    let stamp = start
        .to_offset(time::UtcOffset::UTC)
        .format(&f)
        .expect("UTC time formats");
    let asn = asn.trim_start_matches("AS");
    format!(
        "{stamp}_webconnectivity_{cc}_{asn}_n1_{:016x}",
        rand::random::<u64>()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn architecture_is_go_s_name() {
        // df-000 "Annotations": `architecture` is one of arm, arm64, 386, amd64.
        assert_eq!(goarch("x86_64"), "amd64");
        assert_eq!(goarch("aarch64"), "arm64");
        assert_eq!(goarch("x86"), "386");
        assert_eq!(goarch("arm"), "arm");
    }

    #[test]
    fn test_helpers_name_the_control_without_credentials() {
        let url = url::Url::parse("https://user:secret@th.example.org:8443/api?token=t#x").unwrap();
        assert_eq!(
            test_helpers(&url),
            serde_json::json!({"backend": {"address": "https://th.example.org:8443/api", "type": "https"}})
        );
    }
}
