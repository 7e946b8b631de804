//! Reading the fleet store instead of a results directory: one `SELECT ... FINAL` over
//! ClickHouse's HTTP interface in `JSONEachRow`, streamed row by row into the same aggregation.
//! Only blocked rows bring their record (for the evidence); the others bring their columns and
//! what the record says of the control. With `--vantage-point` the server's version is asked
//! first: a server with query parameters (19.11+) gets the name as `{vp:String}` bound from
//! `param_vp`, an older one (Debian's 18.16) the checked name quoted into the statement.

use std::time::Duration;

use serde::Deserialize;

use super::load::{check, control, Warnings};
use super::summary::{Collector, Entry, Place};
use super::terminal::clean;
use crate::analysis::Status;
use crate::exit::{fatal, usage, Exit};

/// Where to read from.
pub struct Source {
    pub url: String,
    pub database: String,
    pub table: String,
    pub user: Option<String>,
    pub password: Option<String>,
    /// Only this vantage point's rows (`[A-Za-z0-9._-]+`); without it the rows must all come
    /// from one vantage point.
    pub vantage_point: Option<String>,
}

use crate::ship::clickhouse::valid_identifier as identifier;
use crate::ship::clickhouse::Version;

/// The URL without credentials, for messages (the shipper's rule).
pub fn display_url(url: &str) -> String {
    url::Url::parse(url)
        .map(|u| crate::redact::url(&u).to_string())
        .unwrap_or_else(|_| "(invalid URL)".into())
}

/// `[A-Za-z0-9._-]+`: a vantage point name `--vantage-point` accepts (safe to quote in SQL).
pub fn valid_vantage_point(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// How the statement names the vantage point it filters on.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Filter<'a> {
    All,
    /// Quoted into the statement (checked by `valid_vantage_point` first).
    Quoted(&'a str),
    /// `{vp:String}`, its value sent as `param_vp`.
    Parameter,
}

/// The statement; `database`, `table` (plain names) must be checked first. Times are
/// rendered in UTC, whatever the server's time zone.
pub fn query(database: &str, table: &str, filter: Filter<'_>) -> String {
    let filter = match filter {
        Filter::All => String::new(),
        Filter::Quoted(vp) => format!(" WHERE vantage_point = '{vp}'"),
        Filter::Parameter => " WHERE vantage_point = {vp:String}".to_string(),
    };
    format!(
        "SELECT vantage_point, report_id, input, category_code, measurement_uid, probe_cc, \
         probe_asn, toString(measurement_start_time, 'UTC') AS measurement_start_time, \
         status, methods, if(status = 'blocked', record, '') AS record, \
         visitParamExtractRaw(record, 'control_failure') AS control_failure, \
         visitParamHas(record, 'test_helpers') AS has_helpers \
         FROM `{database}`.`{table}` FINAL{filter} FORMAT JSONEachRow"
    )
}

/// Why a URL cannot be used (the shipper's rule: no credentials in it); the message never
/// holds the URL's userinfo or query.
fn check_url(raw: &str) -> Result<url::Url, Exit> {
    let url = url::Url::parse(raw)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
        .ok_or_else(|| usage("--clickhouse: not an http(s) URL with a host"))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(usage(
            "--clickhouse: the URL must not hold credentials: use --clickhouse-user and \
             VANTAGE_CLICKHOUSE_PASSWORD",
        ));
    }
    if url
        .query_pairs()
        .any(|(k, _)| k == "password" || k == "user")
    {
        return Err(usage(
            "--clickhouse: the URL must not hold credentials in its query: use \
             --clickhouse-user and VANTAGE_CLICKHOUSE_PASSWORD",
        ));
    }
    Ok(url)
}

#[derive(Deserialize)]
struct Row {
    #[serde(default)]
    vantage_point: String,
    report_id: String,
    input: String,
    #[serde(default)]
    category_code: String,
    measurement_start_time: String,
    status: Status,
    #[serde(default)]
    methods: Vec<String>,
    #[serde(default)]
    record: String,
    #[serde(default)]
    measurement_uid: String,
    #[serde(default)]
    probe_cc: String,
    #[serde(default)]
    probe_asn: String,
    /// The record's `control_failure` as JSON text (`null`, `"connection_refused"`); the first
    /// `"control_failure":` in the record is the real key, since quotes inside strings are
    /// escaped.
    #[serde(default)]
    control_failure: String,
    /// 1 when the record names a control (`test_helpers`).
    #[serde(default = "one")]
    has_helpers: u8,
}

fn one() -> u8 {
    1
}

#[derive(Deserialize)]
struct ReasonsOnly {
    test_keys: Keys,
}
#[derive(Deserialize)]
struct Keys {
    x_verdict: VerdictReasons,
}
#[derive(Deserialize)]
struct VerdictReasons {
    #[serde(default)]
    reasons: Vec<String>,
}

/// Adds one row; `points` collects the vantage points seen.
fn add_row(
    line: &[u8],
    into: &mut Collector,
    points: &mut std::collections::BTreeSet<String>,
) -> Result<(), String> {
    let row: Row = serde_json::from_slice(line).map_err(|e| format!("not a row ({e})"))?;
    if !points.contains(&row.vantage_point) {
        points.insert(row.vantage_point.clone());
    }
    let reasons = if row.status == Status::Blocked && !row.record.is_empty() {
        serde_json::from_str::<ReasonsOnly>(&row.record)
            .map(|r| r.test_keys.x_verdict.reasons)
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    let failure = serde_json::from_str::<Option<String>>(&row.control_failure)
        .ok()
        .flatten();
    into.add(check(Entry {
        run: row.report_id,
        input: row.input,
        category: Some(row.category_code),
        time: row.measurement_start_time,
        status: row.status,
        methods: row.methods,
        reasons,
        measurement_uid: row.measurement_uid,
        place: Place {
            vantage_point: row.vantage_point,
            probe_cc: row.probe_cc,
            probe_asn: row.probe_asn,
        },
        control: control(row.has_helpers != 0, failure.as_deref()),
    })?);
    Ok(())
}

/// Streams every row of the table into `into`.
pub fn load(src: &Source, into: &mut Collector, warn: &mut Warnings) -> Result<(), Exit> {
    if !identifier(&src.database) || !identifier(&src.table) {
        return Err(usage(
            "--database and --table take plain names (letters, digits, _)",
        ));
    }
    let url = check_url(&src.url)?;
    if let Some(vp) = &src.vantage_point {
        if !valid_vantage_point(vp) {
            return Err(usage(
                "--vantage-point takes a plain name (letters, digits, '.', '_', '-')",
            ));
        }
    }
    let _ = rustls::crypto::ring::default_provider().install_default();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| fatal(format!("cannot start the async runtime: {e}")))?;
    let shown = crate::redact::url(&url).to_string();
    rt.block_on(async {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .read_timeout(Duration::from_secs(120))
            .no_proxy()
            .build()
            .map_err(|e| {
                fatal(format!(
                    "cannot set up the HTTP client: {}",
                    e.without_url()
                ))
            })?;
        let ask = |url: url::Url, statement: String| send(&client, src, &shown, url, statement);
        let (filter, url) = match src.vantage_point.as_deref() {
            None => (Filter::All, url.clone()),
            Some(vp) => {
                let answer = ask(url.clone(), "SELECT version()".into()).await?;
                let version = Version::parse(&answer.text().await.unwrap_or_default());
                if version.is_some_and(Version::query_parameters) {
                    let mut url = url.clone();
                    url.query_pairs_mut().append_pair("param_vp", vp);
                    (Filter::Parameter, url)
                } else {
                    (Filter::Quoted(vp), url.clone())
                }
            }
        };
        let mut resp = ask(url, query(&src.database, &src.table, filter)).await?;
        let mut buf: Vec<u8> = Vec::new();
        let mut number = 0usize;
        let mut points = std::collections::BTreeSet::new();
        loop {
            let chunk = resp.chunk().await.map_err(|e| {
                fatal(format!(
                    "reading from ClickHouse at {shown}: {}",
                    chain(&e.without_url())
                ))
            })?;
            let Some(chunk) = chunk else { break };
            buf.extend_from_slice(&chunk);
            let mut start = 0;
            while let Some(nl) = buf[start..].iter().position(|&b| b == b'\n') {
                number += 1;
                let line = &buf[start..start + nl];
                if !line.iter().all(u8::is_ascii_whitespace) {
                    if let Err(why) = add_row(line, into, &mut points) {
                        warn.skip(&format!("ClickHouse row {number}"), &why);
                    }
                }
                start += nl + 1;
            }
            buf.drain(..start);
        }
        if !buf.iter().all(u8::is_ascii_whitespace) {
            warn.skip(
                &format!("ClickHouse row {}", number + 1),
                "partial last row (no newline)",
            );
        }
        if src.vantage_point.is_none() && points.len() > 1 {
            let names: Vec<String> = points.iter().take(10).map(|p| clean(p)).collect();
            return Err(usage(format!(
                "rows from {} vantage points ({}): pass --vantage-point",
                points.len(),
                names.join(", ")
            )));
        }
        Ok(())
    })
}

/// Posts one statement; an answer other than 2xx is an error quoting its start (never the
/// password).
async fn send(
    client: &reqwest::Client,
    src: &Source,
    shown: &str,
    url: url::Url,
    statement: String,
) -> Result<reqwest::Response, Exit> {
    let mut req = client.post(url).body(statement);
    // A password alone is the default user's (as for `ship`; 18.16 wants a user with a key).
    let user = src
        .user
        .as_deref()
        .or(src.password.as_ref().map(|_| "default"));
    if let Some(user) = user {
        req = req.header("X-ClickHouse-User", user);
    }
    if let Some(pw) = &src.password {
        req = req.header("X-ClickHouse-Key", pw);
    }
    let resp = req.send().await.map_err(|e| {
        fatal(format!(
            "cannot query ClickHouse at {shown}: {}",
            chain(&e.without_url())
        ))
    })?;
    if resp.status().is_success() {
        return Ok(resp);
    }
    let status = resp.status();
    let body = resp.text().await.unwrap_or_default();
    let mut body: String = body.chars().take(300).collect();
    if let Some(pw) = src.password.as_deref().filter(|p| !p.is_empty()) {
        body = body.replace(pw, "<hidden>");
    }
    Err(fatal(format!(
        "ClickHouse at {shown} answered {status}: {}",
        clean(body.trim())
    )))
}

/// An error and its sources, joined with ": " (reqwest's own text only names the kind).
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        cur = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_urls() {
        assert!(identifier("vantage"));
        assert!(identifier("measurements_v2"));
        assert!(!identifier("x; DROP TABLE y"));
        assert!(!identifier("db.t"));
        assert_eq!(
            display_url("http://u:secret@127.0.0.1:8123/"),
            "http://127.0.0.1:8123/"
        );
    }

    #[test]
    fn rows_feed_the_aggregation() {
        let mut c = Collector::default();
        let rec = r#"{"test_keys":{"x_verdict":{"status":"blocked","methods":["tcp.reset"],"reasons":["reset"]}}}"#;
        let line = serde_json::json!({"report_id":"r","input":"https://a/","category_code":"",
            "measurement_start_time":"2026-11-23 10:00:00","status":"blocked","methods":["tcp.reset"],"record":rec});
        let mut points = std::collections::BTreeSet::new();
        add_row(line.to_string().as_bytes(), &mut c, &mut points).unwrap();
        assert_eq!(points.len(), 1);
        let s = c.finish();
        assert_eq!(s.targets[0].evidence.as_ref().unwrap().reasons, ["reset"]);
        assert_eq!(s.targets[0].category, None);
    }

    #[test]
    fn the_query_reads_utc_quotes_names_and_filters_one_vantage_point() {
        let q = query("2024", "m", Filter::All);
        assert!(q.contains("toString(measurement_start_time, 'UTC')"), "{q}");
        assert!(q.contains("FROM `2024`.`m` FINAL FORMAT"), "{q}");
        let q = query("vantage", "measurements", Filter::Quoted("vp-1.a_b"));
        assert!(
            q.contains("FINAL WHERE vantage_point = 'vp-1.a_b' FORMAT"),
            "{q}"
        );
        let q = query("vantage", "measurements", Filter::Parameter);
        assert!(
            q.contains("FINAL WHERE vantage_point = {vp:String} FORMAT"),
            "{q}"
        );
        assert!(valid_vantage_point("vp-1.a_b"));
        for bad in ["", "a'b", "a b", "a;b", "тест", "a\\b"] {
            assert!(!valid_vantage_point(bad), "{bad}");
        }
    }

    fn source(url: &str) -> Source {
        Source {
            url: url.into(),
            database: "vantage".into(),
            table: "measurements".into(),
            user: None,
            password: None,
            vantage_point: None,
        }
    }

    fn message(r: Result<(), Exit>) -> String {
        format!("{:?}", r.expect_err("an error"))
    }

    #[test]
    fn credentials_in_the_url_are_refused_and_never_echoed() {
        for url in [
            "http://127.0.0.1:1/?password=s3cret",
            "http://127.0.0.1:1/?user=u&password=s3cret",
            "http://u:s3cret@127.0.0.1:1/",
        ] {
            let m = message(load(
                &source(url),
                &mut Collector::default(),
                &mut Warnings::new(0, Box::new(|_| {})),
            ));
            assert!(!m.contains("s3cret") && m.contains("credentials"), "{m}");
        }
    }

    #[test]
    fn errors_reaching_clickhouse_never_carry_the_urls_query() {
        // A port nothing listens on; the query holds a would-be secret that is not a credential
        // parameter, so the request is made and fails.
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let mut src = source(&format!("http://127.0.0.1:{port}/?quota_key=s3cret"));
        src.password = Some("hunter2".into());
        let m = message(load(
            &src,
            &mut Collector::default(),
            &mut Warnings::new(0, Box::new(|_| {})),
        ));
        assert!(m.contains("cannot query ClickHouse"), "{m}");
        assert!(!m.contains("s3cret") && !m.contains("hunter2"), "{m}");
    }

    /// The query finds `control_failure` and `test_helpers` by name anywhere in the record
    /// (18.16 has no path-exact JSON functions). Network-chosen names that become JSON keys are
    /// header names, which records write canonically (`Control_failure`), so a site's header can
    /// never be mistaken for either key.
    #[test]
    fn a_sites_header_cannot_pose_as_the_keys_the_query_reads() {
        for key in ["control_failure", "test_helpers"] {
            let as_written = crate::observation::canonical(key);
            assert_ne!(as_written, key);
            assert!(query("d", "t", Filter::All).contains(&format!("'{key}'")));
        }
    }

    #[test]
    fn rows_remember_their_vantage_point() {
        let mut c = Collector::default();
        let mut points = std::collections::BTreeSet::new();
        for vp in ["a", "b", "a"] {
            let line = serde_json::json!({"vantage_point":vp,"report_id":"r","input":"https://a/",
                "measurement_start_time":"2026-11-23 10:00:00","status":"accessible"});
            add_row(line.to_string().as_bytes(), &mut c, &mut points).unwrap();
        }
        assert_eq!(points.len(), 2);
    }
}
