//! One JSONL line turned into one row of the fleet store's table.

use serde::Serialize;
use serde_json::Value;

/// The table's columns, in the order of `COLUMNS` (`shipped_at` is the server's default).
#[derive(Debug, Serialize, PartialEq)]
pub struct Row<'a> {
    pub measurement_uid: String,
    pub vantage_point: &'a str,
    pub report_id: String,
    pub input: String,
    pub category_code: String,
    pub probe_cc: String,
    pub probe_asn: String,
    /// Seconds since the Unix epoch: a DateTime given as a number means the same instant
    /// whatever the server's time zone (the record's text is UTC).
    pub measurement_start_time: i64,
    pub status: String,
    pub methods: Vec<String>,
    /// The whole record, as it is in the JSONL (without the newline).
    pub record: &'a str,
}

/// The columns an insert names.
pub const COLUMNS: &str = "measurement_uid, vantage_point, report_id, input, category_code, \
     probe_cc, probe_asn, measurement_start_time, status, methods, record";

/// Why a line cannot become a row (it is skipped with a warning: it can never be shipped).
#[derive(Debug, PartialEq)]
pub struct BadLine(pub String);

impl<'a> Row<'a> {
    /// The row for one line (without its newline).
    pub fn from_line(line: &'a str, vantage_point: &'a str) -> Result<Row<'a>, BadLine> {
        let v: Value =
            serde_json::from_str(line).map_err(|e| BadLine(format!("not JSON ({e})")))?;
        let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
        let measurement_uid = text(&v["measurement_uid"]);
        if measurement_uid.is_empty() {
            return Err(BadLine("no measurement_uid".into()));
        }
        let verdict = &v["test_keys"]["x_verdict"];
        Ok(Row {
            measurement_uid,
            vantage_point,
            report_id: text(&v["report_id"]),
            input: text(&v["input"]),
            category_code: text(&v["annotations"]["category_code"]),
            probe_cc: text(&v["probe_cc"]),
            probe_asn: text(&v["probe_asn"]),
            measurement_start_time: v["measurement_start_time"]
                .as_str()
                .and_then(unix_time)
                .unwrap_or(0),
            status: text(&verdict["status"]),
            methods: verdict["methods"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|m| m.as_str())
                        .map(String::from)
                        .collect()
                })
                .unwrap_or_default(),
            record: line,
        })
    }
}

/// OONI's `YYYY-MM-DD hh:mm:ss` (UTC) as seconds since the epoch.
pub fn unix_time(s: &str) -> Option<i64> {
    let (date, clock) = s.trim().split_once(' ')?;
    let mut d = date.splitn(3, '-').map(|p| p.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let mut c = clock.splitn(3, ':').map(|p| p.parse::<i64>().ok());
    let (h, min, sec) = (c.next()??, c.next()??, c.next()??);
    let month = time::Month::try_from(u8::try_from(m).ok()?).ok()?;
    let date =
        time::Date::from_calendar_date(i32::try_from(y).ok()?, month, u8::try_from(day).ok()?)
            .ok()?;
    let t = time::Time::from_hms(
        u8::try_from(h).ok()?,
        u8::try_from(min).ok()?,
        u8::try_from(sec).ok()?,
    )
    .ok()?;
    Some(
        time::PrimitiveDateTime::new(date, t)
            .assume_utc()
            .unix_timestamp(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_becomes_a_row() {
        let line = r#"{"measurement_uid":"20261123100000.000000_CN_webconnectivity_ab","report_id":"r1","input":"https://x.example/","measurement_start_time":"2026-11-23 10:00:00","probe_cc":"CN","probe_asn":"AS4134","annotations":{"category_code":"NEWS"},"test_keys":{"x_verdict":{"status":"blocked","methods":["dns.bogon","tls.reset"],"reasons":["r"]}}}"#;
        let row = Row::from_line(line, "vp1").unwrap();
        assert_eq!(
            row.measurement_uid,
            "20261123100000.000000_CN_webconnectivity_ab"
        );
        assert_eq!(row.vantage_point, "vp1");
        assert_eq!(row.report_id, "r1");
        assert_eq!(row.input, "https://x.example/");
        assert_eq!(row.category_code, "NEWS");
        assert_eq!(row.probe_cc, "CN");
        assert_eq!(row.probe_asn, "AS4134");
        assert_eq!(row.measurement_start_time, 1_795_428_000);
        assert_eq!(row.status, "blocked");
        assert_eq!(row.methods, vec!["dns.bogon", "tls.reset"]);
        assert_eq!(row.record, line);
    }

    #[test]
    fn missing_keys_are_empty_and_bad_lines_are_refused() {
        let row = Row::from_line(r#"{"measurement_uid":"u"}"#, "vp").unwrap();
        assert_eq!(row.category_code, "");
        assert_eq!(row.status, "");
        assert!(row.methods.is_empty());
        assert_eq!(row.measurement_start_time, 0);
        assert!(Row::from_line("{not json", "vp").is_err());
        assert!(Row::from_line(r#"{"input":"x"}"#, "vp").is_err());
    }

    #[test]
    fn ooni_times_are_utc() {
        assert_eq!(unix_time("1970-01-01 00:00:00"), Some(0));
        assert_eq!(unix_time("2000-02-29 23:59:59"), Some(951_868_799));
        assert_eq!(unix_time("2026-13-01 00:00:00"), None);
        assert_eq!(unix_time("yesterday"), None);
    }
}
