//! What the control saw, beside what the probe saw: a researcher cannot check a verdict
//! without it. The control's own resolution (addresses or failure), each connect it made
//! (address → connected or its failure), each TLS handshake, its fetch of the URL
//! (status, title, body length or failure), a refusal by its own policy; or why the control
//! could not answer. Then OONI's own keys on one line (`OONI: blocking=…`). Pure: a record in,
//! lines out.

use serde_json::Value;

use super::format::{array, or_dash, table, text, title};

/// The "Control" section's lines (the section adds the title and indent).
pub fn control(record: &Value) -> Vec<String> {
    let keys = &record["test_keys"];
    let c = &keys["control"];
    match (&keys["control_failure"], c) {
        (f, _) if !f.is_null() => return vec![format!("failed: {}", text(f))],
        (_, Value::Null) if record["test_helpers"].is_object() => {
            return vec!["(no answer recorded)".into()]
        }
        (_, Value::Null) => return vec!["(none asked)".into()],
        _ => {}
    }
    let mut rows = dns(&c["dns"]);
    for (address, tcp) in entries(&c["tcp_connect"]) {
        rows.push(vec![
            "connect".into(),
            text(&address),
            outcome(tcp, "connected"),
        ]);
    }
    for (address, tls) in entries(&c["tls_handshake"]) {
        let mut result = outcome(tls, "ok");
        match &tls["x_certificate_valid"] {
            Value::Bool(true) => result.push_str(", certificate valid for the name"),
            Value::Bool(false) => result.push_str(", certificate NOT valid for the name"),
            _ => {}
        }
        let sni = format!("SNI {}", text(&tls["server_name"]));
        rows.push(vec!["TLS".into(), text(&address), sni, result]);
    }
    rows.push(http(&c["http_request"]));
    if !c["x_refused"].is_null() {
        rows.push(vec!["refused".into(), text(&c["x_refused"])]);
    }
    table(&[], &rows)
}

/// The control's resolution: one address a row, or its failure.
fn dns(d: &Value) -> Vec<Vec<String>> {
    let addrs = array(&d["addrs"]);
    match (&d["failure"], addrs.is_empty()) {
        (f, _) if !f.is_null() => vec![vec!["DNS".into(), text(f)]],
        (_, true) => vec![vec!["DNS".into(), "no addresses".into()]],
        (_, false) => addrs
            .iter()
            .enumerate()
            .map(|(i, a)| vec![if i == 0 { "DNS" } else { "" }.into(), text(a)])
            .collect(),
    }
}

/// The control's fetch: status, title, body length; or its failure (OONI writes -1 for a
/// code or length it does not have).
fn http(h: &Value) -> Vec<String> {
    let known = |v: &Value| match v.as_i64() {
        Some(-1) => Value::Null,
        _ => v.clone(),
    };
    let status = match (&h["failure"], known(&h["status_code"])) {
        (Value::Null, code) => text(&code),
        (f, _) => text(f),
    };
    let title = match h["title"].as_str() {
        Some("") | None => "-".into(),
        Some(_) => title(&h["title"]),
    };
    let length = match known(&h["body_length"]) {
        Value::Null => "-".to_string(),
        n => format!("{} bytes", text(&n)),
    };
    vec!["HTTP".into(), status, title, length]
}

/// `success` when OONI's `status` is true, else the failure.
fn outcome(entry: &Value, success: &str) -> String {
    match (&entry["status"], &entry["failure"]) {
        (Value::Bool(true), _) => success.into(),
        (_, f) if !f.is_null() => text(f),
        _ => "-".into(),
    }
}

/// An object's entries (address → result), in the record's order; nothing for another type.
fn entries(v: &Value) -> Vec<(Value, &Value)> {
    match v.as_object() {
        Some(map) => map
            .iter()
            .map(|(k, v)| (Value::from(k.as_str()), v))
            .collect(),
        None => vec![],
    }
}

/// OONI's own keys on one line, as its explorer reads them (null where OONI writes null).
pub fn ooni(keys: &Value) -> String {
    let key = |k: &str| match &keys[k] {
        Value::Null => "null".to_string(),
        v => or_dash(&text(v)),
    };
    format!(
        "OONI: blocking={}, accessible={}, dns_consistency={}",
        key("blocking"),
        key("accessible"),
        key("dns_consistency")
    )
}
