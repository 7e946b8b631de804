//! docs/RECORD.md stays true: every key of every record a test reads must be named there by its
//! full path (`test_keys.queries[].x_flags.tc`), so a new key cannot land undocumented.
//! Network-chosen names (header names, the control's `ip:port` and address keys) are `*`.

use std::collections::BTreeSet;
use std::sync::OnceLock;

use serde_json::Value;

/// The objects whose keys come from the network, not from vantage.
const MAPS: &[&str] = &[
    "test_keys.requests[].request.headers",
    "test_keys.requests[].response.headers",
    "test_keys.x_control_request.http_request_headers",
    "test_keys.control.http_request.headers",
    "test_keys.control.tcp_connect",
    "test_keys.control.tls_handshake",
    "test_keys.control.ip_info",
];

fn doc() -> &'static str {
    static DOC: OnceLock<String> = OnceLock::new();
    DOC.get_or_init(|| {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/RECORD.md");
        std::fs::read_to_string(path).expect("docs/RECORD.md is in the repository")
    })
}

/// Every key path of `v` (lists as `[]`, network-chosen keys as `*`).
pub fn key_paths(v: &Value) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    walk(v, "", &mut out);
    out
}

fn walk(v: &Value, path: &str, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(map) => {
            for (k, x) in map {
                let name = if MAPS.contains(&path) { "*" } else { k };
                let p = if path.is_empty() {
                    name.to_string()
                } else {
                    format!("{path}.{name}")
                };
                out.insert(p.clone());
                walk(x, &p, out);
            }
        }
        Value::Array(items) => {
            for x in items {
                walk(x, &format!("{path}[]"), out);
            }
        }
        _ => {}
    }
}

/// Lists whose entries have the shape of another list's (the doc describes them once).
const SAME_SHAPE: &[(&str, &str)] = &[(
    "test_keys.x_dns_duplicate_responses[]",
    "test_keys.queries[]",
)];

/// `path` as the doc names it.
fn as_documented(path: &str) -> String {
    for (alias, of) in SAME_SHAPE {
        if let Some(rest) = path.strip_prefix(alias).filter(|r| r.starts_with('.')) {
            return format!("{of}{rest}");
        }
    }
    path.to_string()
}

/// The paths of `keys` that docs/RECORD.md does not name: a path is named when it appears in
/// backquotes, as a list (`p[]`), or as the prefix of a named path (`p.` or `p[].`).
pub fn undocumented<'k>(keys: impl IntoIterator<Item = &'k String>, doc: &str) -> Vec<String> {
    keys.into_iter()
        .filter(|p| {
            let p = as_documented(p);
            ![
                format!("`{p}`"),
                format!("`{p}[]`"),
                format!("`{p}."),
                format!("`{p}[]."),
            ]
            .iter()
            .any(|form| doc.contains(form.as_str()))
        })
        .cloned()
        .collect()
}

/// Panics naming every key of `records` that docs/RECORD.md does not describe.
pub fn assert_documented(records: &[Value]) {
    let mut keys = BTreeSet::new();
    for r in records {
        keys.extend(key_paths(r));
    }
    let missing = undocumented(&keys, doc());
    assert!(
        missing.is_empty(),
        "record keys not described in docs/RECORD.md: {missing:?}"
    );
}

#[test]
fn paths_name_lists_and_network_keys_and_the_doc_check_reads_them() {
    let r = serde_json::json!({
        "test_keys": {
            "queries": [{"x_flags": {"tc": false}}],
            "x_dns_duplicate_responses": [{"x_flags": {"tc": true}}],
            "requests": [{"request": {"headers": {"X-Whatever": "1"}}}],
            "control": {"tcp_connect": {"127.0.0.1:443": {"status": true}}},
        }
    });
    let keys = key_paths(&r);
    for p in [
        "test_keys.queries",
        "test_keys.queries[].x_flags.tc",
        "test_keys.x_dns_duplicate_responses[].x_flags.tc",
        "test_keys.requests[].request.headers.*",
        "test_keys.control.tcp_connect.*.status",
    ] {
        assert!(keys.contains(p), "{p} in {keys:?}");
    }
    let doc = "`test_keys.queries[].x_flags.tc` `test_keys.requests[].request.headers.*` \
               `test_keys.control.tcp_connect.*.status` `test_keys.x_dns_duplicate_responses[]`";
    assert_eq!(undocumented(&keys, doc), Vec::<String>::new());
    let less = "`test_keys.queries[].x_flags.tc`";
    assert_eq!(
        undocumented(&keys, less),
        [
            "test_keys.control",
            "test_keys.control.tcp_connect",
            "test_keys.control.tcp_connect.*",
            "test_keys.control.tcp_connect.*.status",
            "test_keys.requests",
            "test_keys.requests[].request",
            "test_keys.requests[].request.headers",
            "test_keys.requests[].request.headers.*",
            "test_keys.x_dns_duplicate_responses",
        ]
    );
}
