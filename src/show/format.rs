//! One record as readable text: what was measured and where the verdict comes from, step by
//! step (DNS answers with their arrival time and source, TCP connects, TLS handshakes with the
//! certificate's names and validity, HTTP hops; each with its redirect depth), what the
//! control saw (`control`), OONI's keys, then the verdict and its reasons. Pure: a JSON value
//! in, lines out. A record missing fields or holding the wrong types is shown with `-` where
//! a value is missing, never a panic; every value is cut and escaped (`clean`).

use base64::Engine;
use rustls_pki_types::CertificateDer;
use serde_json::Value;

use crate::observation::CertInfo;
use crate::screen::{cell, line};

/// A record's listing row: `[start time, uid, status, input]`.
pub fn row(record: &Value) -> [String; 4] {
    [
        text(&record["measurement_start_time"]),
        text(&record["measurement_uid"]),
        text(&record["test_keys"]["x_verdict"]["status"]),
        text(&record["input"]),
    ]
}

/// The record's steps, section by section.
pub fn measurement(record: &Value) -> Vec<String> {
    let keys = &record["test_keys"];
    let mut out = header(record);
    section(&mut out, "DNS", dns(keys));
    section(&mut out, "TCP connect", tcp(keys));
    section(&mut out, "TLS handshake", tls(keys));
    section(&mut out, "HTTP", http(keys));
    section(&mut out, "Control", super::control::control(record));
    out.push(String::new());
    out.push(super::control::ooni(keys));
    out.extend(verdict(&keys["x_verdict"]));
    out
}

fn header(record: &Value) -> Vec<String> {
    let keys = &record["test_keys"];
    let mut rows = vec![
        ["measurement", &text(&record["measurement_uid"])].map(String::from),
        ["input", &text(&record["input"])].map(String::from),
    ];
    let normalized = &record["x_input_normalized"];
    if normalized.is_string() && normalized != &record["input"] {
        rows.push(["normalized", &text(normalized)].map(String::from));
    }
    rows.push([
        "started".into(),
        format!(
            "{} UTC, ran {} s",
            text(&record["measurement_start_time"]),
            seconds(&record["test_runtime"])
        ),
    ]);
    rows.push([
        "probe".into(),
        format!(
            "{} {}, resolver {}",
            text(&record["probe_cc"]),
            text(&record["probe_asn"]),
            resolver(record)
        ),
    ]);
    let helper = &record["test_helpers"]["backend"]["address"];
    let control = match (&keys["control_failure"], &keys["control"]) {
        (f, _) if !f.is_null() => format!("{} failed: {}", text(helper), text(f)),
        (_, c) if !c.is_null() => format!("{} answered", text(helper)),
        _ if helper.is_string() => format!("{} did not answer", text(helper)),
        _ => "none".into(),
    };
    rows.push(["control".into(), control]);
    table(&[], &rows.iter().map(|r| r.to_vec()).collect::<Vec<_>>())
}

/// The resolver the probe asked, with its port: the first DNS query's that names one
/// (`resolver_ip` has no port), else `resolver_ip`.
fn resolver(record: &Value) -> String {
    array(&record["test_keys"]["queries"])
        .iter()
        .filter(|q| q["engine"] != "getaddrinfo")
        .find_map(|q| q["resolver_address"].as_str().filter(|a| !a.is_empty()))
        .map(cell)
        .unwrap_or_else(|| text(&record["resolver_ip"]))
}

fn section(out: &mut Vec<String>, title: &str, lines: Vec<String>) {
    out.push(String::new());
    out.push(title.to_string());
    if lines.is_empty() {
        out.push("  (none)".into());
    } else {
        out.extend(lines.into_iter().map(|l| format!("  {l}")));
    }
}

/// Each DNS datagram's answers, in arrival order. `queries[]` holds every datagram that
/// arrived; one that answered a query after its first (`x_response_index` >= 1: an injector
/// racing the resolver) is marked `late`, one with another id, another question or that does
/// not decode says so. `x_dns_duplicate_responses` only copies the late ones: not shown twice.
/// getaddrinfo-style merged entries repeat what the datagrams said: left out, unless they are
/// all there is.
fn dns(keys: &Value) -> Vec<String> {
    let queries = array(&keys["queries"]);
    let raw: Vec<&Value> = queries.iter().filter(|q| !tagged(q, "classic")).collect();
    let queries = if raw.is_empty() {
        queries.iter().collect()
    } else {
        raw
    };
    let mut rows: Vec<(f64, Vec<Vec<String>>)> = Vec::new();
    for q in queries {
        let when = dns_note(q);
        let source = match &q["x_source_address"] {
            Value::String(s) => s.clone(),
            _ => text(&q["resolver_address"]),
        };
        let mut answers: Vec<String> = array(&q["answers"]).iter().map(answer).collect();
        let first = match (&q["failure"], answers.is_empty()) {
            (f, true) if !f.is_null() => text(f),
            (_, true) => "no answer".into(),
            (_, false) => answers.remove(0),
        };
        let t = q["t"].as_f64().unwrap_or(f64::NAN);
        let mut lines = vec![vec![
            depth(q),
            seconds(&q["t"]),
            source,
            text(&q["engine"]),
            text(&q["query_type"]),
            text(&q["hostname"]),
            first,
            when.to_string(),
        ]];
        // Each further answer of the datagram on a line of its own, under the first.
        let blank = || vec![String::new(); 6];
        lines.extend(answers.into_iter().map(|a| [blank(), vec![a]].concat()));
        rows.push((t, lines));
    }
    rows.sort_by(|a, b| a.0.total_cmp(&b.0));
    let header = ["depth", "t", "from", "engine", "type", "name", "answer", ""];
    table(
        &header,
        &rows.into_iter().flat_map(|(_, r)| r).collect::<Vec<_>>(),
    )
}

/// The redirect depth of an entry (its `depth=N` tag), `-` without one.
fn depth(entry: &Value) -> String {
    array(&entry["tags"])
        .iter()
        .filter_map(Value::as_str)
        .find_map(|t| t.strip_prefix("depth="))
        .map(cell)
        .unwrap_or_else(|| "-".into())
}

/// What is notable about one datagram: late, another id or question, garbage.
fn dns_note(q: &Value) -> &'static str {
    if !q["x_decode_error"].is_null() {
        "does not decode"
    } else if q["x_id_match"] == Value::Bool(false) {
        "another query's id"
    } else if q["x_question_match"] == Value::Bool(false) {
        "another question"
    } else if q["x_response_index"].as_u64().unwrap_or(0) >= 1 {
        "late"
    } else {
        ""
    }
}

fn answer(a: &Value) -> String {
    let value = ["ipv4", "ipv6", "hostname"]
        .iter()
        .find_map(|k| a[*k].as_str())
        .unwrap_or("?");
    match a["answer_type"].as_str() {
        Some("A") | Some("AAAA") | None => value.to_string(),
        Some(kind) => format!("{kind} {value}"),
    }
}

fn tcp(keys: &Value) -> Vec<String> {
    let rows: Vec<Vec<String>> = array(&keys["tcp_connect"])
        .iter()
        .map(|c| {
            let result = match (&c["status"]["success"], &c["status"]["failure"]) {
                (Value::Bool(true), _) => "connected".to_string(),
                (_, f) if !f.is_null() => text(f),
                _ => "-".into(),
            };
            vec![
                depth(c),
                seconds(&c["t"]),
                endpoint(&c["ip"], &c["port"]),
                result,
            ]
        })
        .collect();
    table(&["depth", "t", "address", "result"], &rows)
}

fn endpoint(ip: &Value, port: &Value) -> String {
    let ip = text(ip);
    let port = text(port);
    if ip.contains(':') {
        format!("[{ip}]:{port}")
    } else {
        format!("{ip}:{port}")
    }
}

/// Each handshake, then its certificate's names and validity: parsed from the chain the
/// record carries (`peer_certificates`), else from the record's own summary of it (`x_chain`).
fn tls(keys: &Value) -> Vec<String> {
    let handshakes = array(&keys["tls_handshakes"]);
    let rows: Vec<Vec<String>> = handshakes
        .iter()
        .map(|h| {
            let result = match &h["failure"] {
                Value::Null => format!("{} {}", text(&h["tls_version"]), alpn(h)),
                f => text(f),
            };
            vec![
                depth(h),
                seconds(&h["t"]),
                text(&h["address"]),
                text(&h["server_name"]),
                result,
            ]
        })
        .collect();
    let lines = table(&["depth", "t", "address", "SNI", "result"], &rows);
    let mut lines = lines.into_iter();
    let mut out: Vec<String> = lines.next().into_iter().collect();
    for (h, row) in handshakes.iter().zip(lines) {
        out.push(row);
        out.extend(certificate(h));
    }
    out
}

/// The protocol ALPN settled on, or that none was.
fn alpn(handshake: &Value) -> String {
    match &handshake["negotiated_protocol"] {
        Value::String(p) if !p.is_empty() => cell(p),
        Value::Null | Value::String(_) => "no ALPN".into(),
        other => text(other),
    }
}

/// What a handshake's certificate says: valid for the name or not, its names and validity.
fn certificate(h: &Value) -> Vec<String> {
    let mut out = Vec::new();
    match &h["x_certificate_valid"] {
        Value::Bool(true) => out.push("    certificate valid for the name".into()),
        Value::Bool(false) => out.push("    certificate NOT valid for the name".into()),
        _ => {}
    }
    if let Some(leaf) = leaf(h) {
        out.push(format!("    subject  {}", line(&leaf.subject)));
        out.push(format!(
            "    names    {}",
            or_dash(&line(&leaf.san.join(", ")))
        ));
        out.push(format!(
            "    valid    {} to {}",
            or_dash(&line(&leaf.not_before)),
            or_dash(&line(&leaf.not_after))
        ));
        out.push(format!("    issuer   {}", or_dash(&line(&leaf.issuer))));
    }
    out
}

/// The server's certificate (the first of the chain).
fn leaf(handshake: &Value) -> Option<CertInfo> {
    let first = &handshake["peer_certificates"][0];
    let der = match first {
        Value::Object(_) if first["format"] == "base64" => first["data"]
            .as_str()
            .and_then(|d| base64::engine::general_purpose::STANDARD.decode(d).ok()),
        _ => None,
    };
    match der {
        Some(der) => Some(crate::probe::tls::describe(&CertificateDer::from(der))),
        None => serde_json::from_value(handshake["x_chain"][0].clone()).ok(),
    }
}

/// Each hop in the order it happened (the record lists the last first).
fn http(keys: &Value) -> Vec<String> {
    let mut rows = Vec::new();
    for (i, hop) in array(&keys["requests"]).iter().rev().enumerate() {
        let response = &hop["response"];
        let status = match (&hop["failure"], &response["code"]) {
            (Value::Null, code) => text(code),
            (f, Value::Null) => text(f),
            (f, code) => format!("{} then {}", text(code), text(f)),
        };
        let length = match &response["x_body_length"] {
            Value::Null => "-".to_string(),
            n => format!("{} bytes", text(n)),
        };
        let location = response["headers"]["Location"]
            .as_str()
            .map(|l| format!("-> {l}"))
            .unwrap_or_default();
        let depth = match depth(hop) {
            d if d == "-" => i.to_string(),
            d => d,
        };
        rows.push(vec![
            depth,
            seconds(&hop["t"]),
            text(&hop["request"]["url"]),
            status,
            title(&response["x_title"]),
            length,
            location,
        ]);
    }
    let header = ["depth", "t", "url", "status", "title", "body", ""];
    table(&header, &rows)
}

pub(super) fn title(t: &Value) -> String {
    match t.as_str() {
        Some(t) => {
            let cut: String = t.chars().take(60).collect();
            let more = if cut.len() < t.len() { "..." } else { "" };
            format!("{cut:?}{more}")
        }
        None => "-".into(),
    }
}

fn verdict(v: &Value) -> Vec<String> {
    let methods: Vec<String> = array(&v["methods"]).iter().map(text).collect();
    let mut out = vec![match methods.is_empty() {
        true => format!("verdict: {}", text(&v["status"])),
        false => format!("verdict: {} ({})", text(&v["status"]), methods.join(", ")),
    }];
    out.extend(
        array(&v["reasons"])
            .iter()
            .map(|r| format!("  - {}", reason(r))),
    );
    out
}

/// A reason, escaped, whole unless past `screen::LINE_MAX`.
fn reason(r: &Value) -> String {
    match r {
        Value::String(s) => line(s),
        other => text(other),
    }
}

fn tagged(v: &Value, tag: &str) -> bool {
    array(&v["tags"]).iter().any(|t| t == tag)
}

pub(super) fn array(v: &Value) -> &[Value] {
    v.as_array().map(Vec::as_slice).unwrap_or(&[])
}

/// A value as text: strings cut and escaped (`screen::cell`), `-` for null or missing, other
/// JSON compactly (cut and escaped too).
pub(super) fn text(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => cell(s),
        other => cell(&other.to_string()),
    }
}

pub(super) fn or_dash(s: &str) -> String {
    if s.is_empty() { "-" } else { s }.to_string()
}

/// Seconds since the measurement began, to the tenth of a millisecond.
fn seconds(v: &Value) -> String {
    match v.as_f64() {
        Some(t) => format!("{t:.4}"),
        None => "-".into(),
    }
}

/// Rows as left-aligned columns two spaces apart (a header row first when given), trailing
/// blanks trimmed. Every cell is cut and escaped (`screen::cell`) and padded by hand: no width
/// is too large.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> Vec<String> {
    if rows.is_empty() {
        return vec![];
    }
    let head: Vec<String> = header.iter().map(|h| cell(h)).collect();
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| r.iter().map(|s| cell(s)).collect())
        .collect();
    let all: Vec<&Vec<String>> = (!head.is_empty())
        .then_some(&head)
        .into_iter()
        .chain(&rows)
        .collect();
    let columns = all.iter().map(|r| r.len()).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            all.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    all.iter()
        .map(|r| {
            let cells: Vec<String> = r
                .iter()
                .enumerate()
                .map(|(c, s)| pad(s, widths[c]))
                .collect();
            cells.join("  ").trim_end().to_string()
        })
        .collect()
}

/// `s` followed by blanks up to `width` characters.
fn pad(s: &str, width: usize) -> String {
    let mut out = s.to_string();
    out.extend(std::iter::repeat_n(
        ' ',
        width.saturating_sub(s.chars().count()),
    ));
    out
}
