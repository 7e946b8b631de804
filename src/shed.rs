//! Fitting a record under its hard cap ([`crate::budget::RECORD_MAX_BYTES`]). A record over the
//! cap sheds evidence, least essential and largest first, until it fits: raw DNS bytes, then the
//! bodies of intermediate redirect hops (largest first), their headers, transfer samples, raw
//! certificates, the control's answer, the final hop's body and headers, and only then the step
//! lists and verdict reasons. Every shed item is listed under `test_keys.x_truncated` with the
//! JSON bytes it took; the analysis (computed before) is kept, so the verdict never changes; the
//! line stays whole JSON.

use serde::Serialize;

use crate::budget::json_len;
use crate::observation::{HttpHeaders, HttpTransaction};
use crate::record::Record;

/// What the cap shed from one record (`test_keys.x_truncated`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Truncated {
    /// The cap: a record line (newline included) is never longer.
    pub limit_bytes: usize,
    /// The line's length before shedding.
    pub original_bytes: usize,
    pub shed: Vec<Shed>,
}

/// One piece of evidence taken out.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Shed {
    /// `dns_raw_responses`, `response_body`, `headers`, `transfer_samples`,
    /// `peer_certificates`, `control`, `observations`, `verdict_reasons`, `input`.
    pub what: &'static str,
    /// The HTTP transaction it belonged to, for a body or headers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transaction_id: Option<u64>,
    /// How many items (entries, samples, certificates) were taken out.
    pub items: usize,
    /// JSON bytes they took.
    pub bytes: usize,
}

/// What to shed next, in order.
#[derive(Clone, Copy, Debug)]
enum Step {
    DnsRaw,
    /// One intermediate hop's body at a time, largest first.
    IntermediateBody,
    IntermediateHeaders,
    Transfer,
    Certificates,
    Control,
    FinalBody,
    FinalHeaders,
    Observations,
    Reasons,
    Input,
}

const STEPS: [Step; 11] = [
    Step::DnsRaw,
    Step::IntermediateBody,
    Step::IntermediateHeaders,
    Step::Transfer,
    Step::Certificates,
    Step::Control,
    Step::FinalBody,
    Step::FinalHeaders,
    Step::Observations,
    Step::Reasons,
    Step::Input,
];

/// Reasons kept, and characters per reason, when even the step lists did not make room.
const REASONS_KEPT: usize = 16;
const REASON_CHARS: usize = 1024;
/// Characters of the input kept as a very last resort.
const INPUT_CHARS: usize = 2048;

/// The record as one line (newline included) of at most `limit` bytes.
pub fn line(record: &Record, limit: usize) -> Vec<u8> {
    match capped_line(record, limit) {
        Some(line) => line,
        None => shed_to_fit(record.clone(), limit),
    }
}

/// [`line`] for a record the caller gives up: shedding works on it in place, no copy.
pub fn into_line(record: Record, limit: usize) -> Vec<u8> {
    match capped_line(&record, limit) {
        Some(line) => line,
        None => shed_to_fit(record, limit),
    }
}

/// The line when it fits in `limit`; `None` as soon as it would not (never more than `limit`
/// bytes are held, whatever the record's size).
fn capped_line(record: &Record, limit: usize) -> Option<Vec<u8>> {
    struct Capped {
        buf: Vec<u8>,
        limit: usize,
    }
    impl std::io::Write for Capped {
        fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
            if self.buf.len() + data.len() >= self.limit {
                return Err(std::io::Error::other("over the cap"));
            }
            self.buf.extend_from_slice(data);
            Ok(data.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut w = Capped {
        buf: Vec::new(),
        limit,
    };
    serde_json::to_writer(&mut w, record).ok()?;
    w.buf.push(b'\n');
    Some(w.buf)
}

/// Sheds evidence from `r` (over `limit`) until its line fits.
fn shed_to_fit(mut r: Record, limit: usize) -> Vec<u8> {
    let mut truncated = Truncated {
        limit_bytes: limit,
        original_bytes: json_len(&r) + 1,
        shed: Vec::new(),
    };
    'steps: for step in STEPS {
        while let Some(shed) = apply(step, &mut r) {
            truncated.shed.push(shed);
            r.test_keys.x_truncated = Some(truncated.clone());
            if json_len(&r) < limit {
                break 'steps;
            }
            if !matches!(step, Step::IntermediateBody) {
                break;
            }
        }
    }
    let mut line = serde_json::to_vec(&r).expect("records always serialize");
    line.push(b'\n');
    if line.len() > limit {
        tracing::error!(
            "{}: record of {} bytes even after shedding (cap {limit})",
            r.input,
            line.len()
        );
    }
    line
}

/// Sheds one step's evidence; `None` when it has nothing left to shed.
fn apply(step: Step, r: &mut Record) -> Option<Shed> {
    let tk = &mut r.test_keys;
    let obs = &mut tk.observations;
    let shed = |what, transaction_id, items, bytes| Shed {
        what,
        transaction_id,
        items,
        bytes,
    };
    match step {
        Step::DnsRaw => {
            let with_raw: Vec<_> = (obs.queries.iter_mut())
                .chain(obs.x_dns_duplicate_responses.iter_mut())
                .filter(|q| q.raw_response.is_some())
                .collect();
            let bytes = with_raw.iter().map(|q| json_len(&q.raw_response) - 4).sum();
            let items = with_raw.len();
            for q in with_raw {
                q.raw_response = None;
            }
            (items > 0).then(|| shed("dns_raw_responses", None, items, bytes))
        }
        Step::IntermediateBody => {
            let hops = obs.requests.iter_mut().skip(1);
            let largest = hops
                .max_by_key(|t| body_len(t))
                .filter(|t| body_len(t) > 0)?;
            Some(shed_body(largest))
        }
        Step::FinalBody => obs
            .requests
            .first_mut()
            .filter(|t| body_len(t) > 0)
            .map(shed_body),
        Step::IntermediateHeaders => {
            let hops: Vec<_> = obs.requests.iter_mut().skip(1).collect();
            shed_headers(hops, None)
        }
        Step::FinalHeaders => {
            let tx = obs.requests.first().map(|t| t.transaction_id);
            shed_headers(obs.requests.iter_mut().take(1).collect(), tx)
        }
        Step::Transfer => {
            let (mut items, mut bytes) = (0, 0);
            for t in obs.requests.iter_mut().filter(|t| t.x_transfer.len() > 2) {
                let before = json_len(&t.x_transfer);
                let last = t.x_transfer.pop();
                items += t.x_transfer.len() - 1;
                t.x_transfer.truncate(1);
                t.x_transfer.extend(last);
                bytes += before - json_len(&t.x_transfer);
            }
            (items > 0).then(|| shed("transfer_samples", None, items, bytes))
        }
        Step::Certificates => {
            let (mut items, mut bytes) = (0, 0);
            for h in obs.tls_handshakes.iter_mut() {
                items += h.peer_certificates.len();
                bytes += json_len(&h.peer_certificates) - 2;
                h.peer_certificates.clear();
            }
            (items > 0).then(|| shed("peer_certificates", None, items, bytes))
        }
        Step::Control => {
            let control = tk.control.take()?;
            Some(shed("control", None, 1, json_len(&control)))
        }
        Step::Observations => {
            let items = obs.queries.len()
                + obs.tcp_connect.len()
                + obs.tls_handshakes.len()
                + obs.requests.len();
            let bytes = json_len(obs);
            *obs = Default::default();
            (items > 0).then(|| shed("observations", None, items, bytes - json_len(obs)))
        }
        Step::Reasons => {
            let reasons = &mut tk.analysis.x_verdict.reasons;
            let before = json_len(reasons);
            let items = reasons.len().saturating_sub(REASONS_KEPT);
            reasons.truncate(REASONS_KEPT);
            for reason in reasons.iter_mut() {
                if let Some((cut, _)) = reason.char_indices().nth(REASON_CHARS) {
                    reason.truncate(cut);
                    reason.push('…');
                }
            }
            let bytes = before.saturating_sub(json_len(reasons));
            (bytes > 0).then(|| shed("verdict_reasons", None, items, bytes))
        }
        Step::Input => {
            let (cut, _) = r.input.char_indices().nth(INPUT_CHARS)?;
            let bytes = json_len(&r.input[cut..]);
            r.input.truncate(cut);
            Some(shed("input", None, 1, bytes))
        }
    }
}

fn body_len(t: &HttpTransaction) -> usize {
    match t.response.as_ref().and_then(|r| r.body.as_ref()) {
        Some(b) => json_len(b),
        None => 0,
    }
}

/// Takes out a hop's body; its length, hash and title stay.
fn shed_body(t: &mut HttpTransaction) -> Shed {
    let bytes = body_len(t);
    let response = t.response.as_mut().expect("a body has a response");
    response.body = None;
    response.body_is_truncated = true;
    Shed {
        what: "response_body",
        transaction_id: Some(t.transaction_id),
        items: 1,
        bytes,
    }
}

/// Takes out the request and response headers of `hops`.
fn shed_headers(hops: Vec<&mut HttpTransaction>, transaction_id: Option<u64>) -> Option<Shed> {
    let (mut items, mut bytes) = (0, 0);
    let empty = json_len(&HttpHeaders::default());
    let mut take = |h: &mut HttpHeaders| {
        if !h.headers_list.is_empty() {
            items += h.headers_list.len();
            bytes += json_len(h) - empty;
            *h = HttpHeaders::default();
        }
    };
    for t in hops {
        take(&mut t.request.headers);
        if let Some(r) = t.response.as_mut() {
            take(&mut r.headers);
        }
    }
    (items > 0).then_some(Shed {
        what: "headers",
        transaction_id,
        items,
        bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::{self, Context};
    use crate::fingerprints::Fingerprints;
    use crate::observation::{
        DnsQuery, HttpRequest, HttpResponse, MaybeBinary, Observations, TransferSample,
    };
    use crate::record::{Measurement, RunInfo};
    use time::OffsetDateTime;

    fn hop(tx: u64, body: &str) -> HttpTransaction {
        let headers = HttpHeaders {
            headers: [("Location".to_string(), "http://next.test/".to_string())].into(),
            headers_list: vec![("Location".into(), "http://next.test/".into())],
        };
        HttpTransaction {
            network: "tcp".into(),
            address: "127.0.0.1:80".into(),
            alpn: None,
            failure: None,
            request: HttpRequest {
                url: format!("http://h{tx}.test/"),
                method: "GET".into(),
                headers: headers.clone(),
                body: String::new(),
                body_is_truncated: false,
                x_transport: "tcp".into(),
            },
            response: Some(HttpResponse {
                code: if tx == 0 { 200 } else { 302 },
                headers,
                body: Some(MaybeBinary::Text(body.to_string())),
                body_is_truncated: false,
                x_body_length: body.len() as u64,
                x_body_complete: true,
                x_body_sha256: "0".repeat(64),
                x_title: None,
            }),
            t0: 0.0,
            t: 1.0,
            tags: vec![],
            transaction_id: tx,
            x_t_response_headers: Some(0.1),
            x_transfer: (0..50)
                .map(|i| TransferSample {
                    t: i as f64,
                    bytes: i,
                })
                .collect(),
        }
    }

    fn dns_entry(raw: usize) -> DnsQuery {
        let mut q = DnsQuery::fixture();
        q.raw_response = Some(crate::observation::base64_string(&vec![7u8; raw]));
        q
    }

    /// A record of 11 hops, each with a body that escapes sixfold, and 40 DNS entries.
    fn record(body_bytes: usize) -> Record {
        let body = "\u{1}".repeat(body_bytes);
        let obs = Observations {
            queries: (0..40).map(|_| dns_entry(1000)).collect(),
            requests: (0..11).map(|tx| hop(tx, &body)).collect(),
            ..Observations::default()
        };
        let url = url::Url::parse("http://h10.test/").unwrap();
        let fingerprints = Fingerprints::from_entries(vec![]);
        let ctx = Context {
            control: None,
            control_failure: None,
            testbed_nets: &[],
            fingerprints: &fingerprints,
            probe_cc: None,
        };
        let analysis = analysis::analyze(&url, &obs, &ctx);
        let run = RunInfo::for_tests("127.0.0.1");
        Record::new(
            &run,
            Measurement {
                input: url.as_str(),
                category_code: None,
                start: OffsetDateTime::UNIX_EPOCH,
                runtime: 1.0,
                observations: obs,
                control: Some(serde_json::json!({"big": "x".repeat(50_000)})),
                control_failure: None,
                control_request: None,
                analysis,
            },
        )
    }

    fn parse(line: &[u8]) -> serde_json::Value {
        assert_eq!(line.last(), Some(&b'\n'));
        serde_json::from_slice(line).expect("whole JSON")
    }

    #[test]
    fn a_record_under_the_cap_is_written_as_is() {
        let r = record(1000);
        let line = line(&r, 1 << 20);
        let mut plain = serde_json::to_vec(&r).unwrap();
        plain.push(b'\n');
        assert_eq!(line, plain);
        assert!(parse(&line)["test_keys"].get("x_truncated").is_none());
    }

    #[test]
    fn raw_dns_goes_first_then_intermediate_bodies_largest_first_keeping_the_verdict() {
        // 11 x 64 KiB bodies, 384 KiB each once escaped: about 4.3 MB; the cap is 1 MiB.
        let r = record(64 * 1024);
        let full = serde_json::to_vec(&r).unwrap().len() + 1;
        let limit = 1 << 20;
        let line = line(&r, limit);
        assert!(line.len() <= limit, "{}", line.len());
        let v = parse(&line);
        let tk = &v["test_keys"];
        assert_eq!(
            tk["x_verdict"],
            serde_json::to_value(&r.test_keys.analysis.x_verdict).unwrap()
        );
        assert_eq!(tk["blocking"], r.test_keys.analysis.blocking);
        let x = &tk["x_truncated"];
        assert_eq!(x["limit_bytes"], limit);
        assert_eq!(x["original_bytes"], full);
        let shed = x["shed"].as_array().unwrap();
        assert_eq!(shed[0]["what"], "dns_raw_responses");
        assert_eq!(shed[0]["items"], 40);
        let raw = json_len(&dns_entry(1000).raw_response) - json_len(&None::<()>);
        assert_eq!(shed[0]["bytes"], 40 * raw);
        assert!(shed[1..].iter().all(|s| s["what"] == "response_body"));
        // The final hop keeps its body; the shed ones keep length and hash.
        let requests = tk["requests"].as_array().unwrap();
        assert_eq!(
            requests[0]["response"]["body"].as_str().unwrap().len(),
            64 * 1024
        );
        let gone: Vec<_> = requests
            .iter()
            .filter(|t| t["response"]["body"].is_null())
            .collect();
        assert_eq!(gone.len(), shed.len() - 1);
        for t in gone {
            assert_eq!(t["response"]["body_is_truncated"], true);
            assert_eq!(t["response"]["x_body_length"], 64 * 1024);
        }
        // Only as much as needed: one body fewer shed would not have fit.
        assert!(shed.len() - 1 < 10);
        assert!(tk["queries"].as_array().unwrap().len() == 40);
        assert!(!tk["control"].is_null(), "the control was not needed");
    }

    #[test]
    fn any_record_fits_even_a_tiny_cap() {
        let r = record(64 * 1024);
        for limit in [64 * 1024, 8 * 1024] {
            let line = line(&r, limit);
            assert!(line.len() <= limit, "{limit}: {}", line.len());
            let v = parse(&line);
            let tk = &v["test_keys"];
            assert_eq!(
                tk["x_verdict"]["status"],
                serde_json::to_value(r.test_keys.analysis.x_verdict.status).unwrap()
            );
            let whats: Vec<_> = tk["x_truncated"]["shed"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["what"].as_str().unwrap().to_string())
                .collect();
            assert!(whats.contains(&"control".to_string()), "{whats:?}");
            // 11 bodies: the final one too. Only the smallest cap needs the step lists gone.
            assert_eq!(whats.iter().filter(|w| *w == "response_body").count(), 11);
            assert_eq!(
                whats.contains(&"observations".to_string()),
                limit < 16 * 1024
            );
        }
    }

    #[test]
    fn the_raw_bytes_of_duplicate_answers_are_shed_with_the_others() {
        let mut r = record(64 * 1024);
        let dups: Vec<DnsQuery> = (0..5).map(|_| dns_entry(1000)).collect();
        r.test_keys.observations.x_dns_duplicate_responses = dups;
        let v = parse(&line(&r, 1 << 20));
        let tk = &v["test_keys"];
        assert_eq!(tk["x_truncated"]["shed"][0]["items"], 45);
        let dups = tk["x_dns_duplicate_responses"].as_array().unwrap();
        assert_eq!(dups.len(), 5, "the entries stay");
        assert!(dups.iter().all(|q| q["raw_response"].is_null()));
    }
}
