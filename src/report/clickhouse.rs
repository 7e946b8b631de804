//! Reading the fleet store instead of a results directory: one `SELECT ... FINAL` over
//! ClickHouse's HTTP interface in `JSONEachRow`, streamed row by row into the same aggregation.
//! Only blocked rows bring their record (for the evidence); the others bring their columns.

use std::time::Duration;

use serde::Deserialize;

use super::load::{entry, Warnings};
use super::summary::Collector;
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
}

use crate::ship::clickhouse::valid_identifier as identifier;

/// The URL without credentials, for messages (the shipper's rule).
pub fn display_url(url: &str) -> String {
    url::Url::parse(url)
        .map(|u| crate::ship::clickhouse::display_url(&u))
        .unwrap_or_else(|_| "(invalid URL)".into())
}

pub fn query(database: &str, table: &str) -> String {
    format!(
        "SELECT report_id, input, category_code, toString(measurement_start_time) AS measurement_start_time, \
         status, methods, if(status = 'blocked', record, '') AS record FROM {database}.{table} FINAL FORMAT JSONEachRow"
    )
}

#[derive(Deserialize)]
struct Row {
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

fn add_row(line: &[u8], into: &mut Collector) -> Result<(), String> {
    let row: Row = serde_json::from_slice(line).map_err(|e| format!("not a row ({e})"))?;
    let reasons = if row.status == Status::Blocked && !row.record.is_empty() {
        serde_json::from_str::<ReasonsOnly>(&row.record)
            .map(|r| r.test_keys.x_verdict.reasons)
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    into.add(entry(
        row.report_id,
        row.input,
        Some(row.category_code),
        row.measurement_start_time,
        row.status,
        row.methods,
        reasons,
    )?);
    Ok(())
}

/// Streams every row of the table into `into`.
pub fn load(src: &Source, into: &mut Collector, warn: &mut Warnings) -> Result<(), Exit> {
    if !identifier(&src.database) || !identifier(&src.table) {
        return Err(usage(
            "--database and --table take plain names (letters, digits, _)",
        ));
    }
    let url = url::Url::parse(&src.url)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https"))
        .ok_or_else(|| {
            usage(format!(
                "--clickhouse: not an http(s) URL: {}",
                clean(&src.url)
            ))
        })?;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| fatal(format!("cannot start the async runtime: {e}")))?;
    let shown = crate::ship::clickhouse::display_url(&url);
    rt.block_on(async {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .read_timeout(Duration::from_secs(120))
            .build()
            .map_err(|e| fatal(format!("cannot set up the HTTP client: {e}")))?;
        let mut req = client
            .post(url.clone())
            .body(query(&src.database, &src.table));
        if let Some(user) = &src.user {
            req = req.header("X-ClickHouse-User", user);
        }
        if let Some(pw) = &src.password {
            req = req.header("X-ClickHouse-Key", pw);
        }
        let mut resp = req
            .send()
            .await
            .map_err(|e| fatal(format!("cannot query ClickHouse at {shown}: {e}")))?;
        if !resp.status().is_success() {
            let status = resp.status();
            let body = resp.text().await.unwrap_or_default();
            let body: String = body.chars().take(300).collect();
            return Err(fatal(format!(
                "ClickHouse at {shown} answered {status}: {}",
                clean(body.trim())
            )));
        }
        let mut buf: Vec<u8> = Vec::new();
        let mut number = 0usize;
        loop {
            let chunk = resp
                .chunk()
                .await
                .map_err(|e| fatal(format!("reading from ClickHouse at {shown}: {e}")))?;
            let Some(chunk) = chunk else { break };
            buf.extend_from_slice(&chunk);
            let mut start = 0;
            while let Some(nl) = buf[start..].iter().position(|&b| b == b'\n') {
                number += 1;
                let line = &buf[start..start + nl];
                if !line.iter().all(u8::is_ascii_whitespace) {
                    if let Err(why) = add_row(line, into) {
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
        Ok(())
    })
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
        add_row(line.to_string().as_bytes(), &mut c).unwrap();
        let s = c.finish();
        assert_eq!(s.targets[0].evidence.as_ref().unwrap().reasons, ["reset"]);
        assert_eq!(s.targets[0].category, None);
    }
}
