//! Target lists: Citizen Lab test-list CSV and plain lists (one URL or bare domain per line).
//!
//! Lists are read as a stream, one target at a time, so a list of any length costs the same
//! memory (plus 16 bytes per distinct URL for dropping duplicates). A bad line is reported as
//! `FILE:LINE: reason` and skipped; it never stops the run.
//!
//! A list is a file, text already in memory (`ListSource::Text`: a list read from stdin, read
//! once so every round of a pass sees it, or the default list built into the binary), or the
//! URLs given on the command line (`ListSource::Args`: each argument one entry, numbered by its
//! position, taken as written: an empty one is a bad line, `#` is no comment, no CSV sniffing).

use std::collections::HashSet;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Cursor, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest, Sha256};
use url::Url;

use crate::limits::MAX_URL_LEN;

/// Longest `category_code` a CSV row may carry (Citizen Lab's codes are 4 to 8 bytes): the
/// code is copied into every record of the URL, and records' annotations are never shed.
pub const MAX_CATEGORY_LEN: usize = 64;
/// Longest field of any other column of a CSV row (plain lists cap whole lines at 64 KiB).
pub const MAX_FIELD_LEN: usize = 64 * 1024;

/// One URL to measure, with where it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// The URL as the list spelled it (a bare domain `d` as `https://d/`): the record's `input`,
    /// as OONI keeps it, and what a pass's resume goes by.
    pub input: String,
    /// The normalized URL (IDN host in punycode, lower-case scheme and host, default path `/`):
    /// what is measured, the record's `x_input_normalized`, and what duplicates are found on.
    pub url: Url,
    /// Citizen Lab category code, when the list has one.
    pub category_code: Option<String>,
}

/// A line that could not be turned into a target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadLine {
    pub file: PathBuf,
    pub line: u64,
    pub reason: String,
}

impl std::fmt::Display for BadLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.file.display(), self.line, self.reason)
    }
}

/// A target list that cannot be read at all (the user named a file we cannot open).
#[derive(Debug, thiserror::Error)]
#[error("cannot read target list {path}: {source}")]
pub struct ListError {
    pub path: PathBuf,
    #[source]
    pub source: io::Error,
}

/// What the stream yields: a target, or a bad line to report.
#[derive(Debug)]
pub enum Entry {
    Target(Target),
    Bad(BadLine),
}

/// A list entry as a URL, spelled as the list spelled it: a bare domain `d` is `https://d/`.
pub fn spelled(raw: &str) -> String {
    let raw = raw.trim().trim_start_matches('\u{feff}');
    if raw.contains("://") {
        raw.to_string()
    } else {
        format!("https://{raw}/")
    }
}

/// Parses one list entry (a URL or bare domain) into a normalized URL.
pub fn parse_entry(raw: &str) -> Result<Url, String> {
    let raw = raw.trim().trim_start_matches('\u{feff}');
    if raw.is_empty() {
        return Err("empty URL".into());
    }
    if raw.chars().any(char::is_whitespace) {
        return Err(format!("URL contains white space: {raw:?}"));
    }
    let mut url = Url::parse(&spelled(raw)).map_err(|e| format!("invalid URL {raw:?}: {e}"))?;
    // A fragment is never sent: `…/#a` and `…/` are one target.
    url.set_fragment(None);
    match url.scheme() {
        "http" | "https" => {}
        other => {
            return Err(format!(
                "unsupported scheme {other:?} (only http and https)"
            ))
        }
    }
    match url.host() {
        None => return Err(format!("URL has no host: {raw:?}")),
        Some(url::Host::Domain(d)) if !d.contains('.') && d != "localhost" => {
            return Err(format!("host {d:?} is not a domain name"))
        }
        // DNS's limits (RFC 1035): such a name can never be asked.
        Some(url::Host::Domain(d)) if d.split('.').any(|l| l.len() > 63) => {
            return Err(format!(
                "host {} has a label longer than 63 bytes: no DNS query can carry it",
                crate::failure::quote(d)
            ))
        }
        Some(url::Host::Domain(d)) if d.trim_end_matches('.').len() > 253 => {
            return Err(format!(
                "host {} is longer than 253 bytes: no DNS query can carry it",
                crate::failure::quote(d)
            ))
        }
        Some(_) => {}
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("URL carries credentials".into());
    }
    let len = url.as_str().len();
    if len > MAX_URL_LEN {
        return Err(format!(
            "URL longer than {MAX_URL_LEN} bytes once percent-encoded ({len} bytes): no request can carry it"
        ));
    }
    Ok(url)
}

/// Where a list comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ListSource {
    /// A file, opened (again) at each `open`.
    File(PathBuf),
    /// A list in memory, named `name` in bad-line reports.
    Text { name: PathBuf, text: Arc<[u8]> },
    /// Entries given one by one (command-line arguments), reported as `command line:N`.
    Args(Arc<[String]>),
}

/// What bad lines of the command line's URLs are reported as (`command line:2: ...`, the
/// second URL given).
pub const COMMAND_LINE: &str = "command line";
/// What bad lines of a list read from stdin are reported as.
pub const STDIN: &str = "stdin";
/// The default list's name in reports: the copy built into the binary.
pub const BUILTIN_NAME: &str = "targets/default.csv (built in)";
/// The default list (Citizen Lab CSV), built in so an installed binary needs no files;
/// `targets/default.csv` is its editable source.
pub const BUILTIN: &str = include_str!("../targets/default.csv");

impl ListSource {
    /// The name bad lines are reported under.
    pub fn name(&self) -> &Path {
        match self {
            ListSource::File(p) => p,
            ListSource::Text { name, .. } => name,
            ListSource::Args(_) => Path::new(COMMAND_LINE),
        }
    }

    /// The default list, as built into the binary.
    pub fn builtin() -> ListSource {
        ListSource::text(BUILTIN_NAME, BUILTIN.as_bytes())
    }

    /// URLs or domains given one by one (command-line arguments): line N is the N-th.
    pub fn entries(entries: &[String]) -> ListSource {
        ListSource::Args(Arc::from(entries))
    }

    /// A list read to its end from `reader` now (stdin, which can be read only once).
    pub fn read_all(name: &str, mut reader: impl Read) -> io::Result<ListSource> {
        let mut text = Vec::new();
        reader.read_to_end(&mut text)?;
        Ok(ListSource::text(name, &text))
    }

    fn text(name: &str, text: &[u8]) -> ListSource {
        ListSource::Text {
            name: PathBuf::from(name),
            text: Arc::from(text),
        }
    }
}

/// Opens every list file up front (so an unreadable file is a usage error before anything
/// runs) and returns a stream over their entries, duplicates dropped.
pub fn open(paths: &[PathBuf]) -> Result<TargetStream, ListError> {
    let sources: Vec<ListSource> = paths.iter().cloned().map(ListSource::File).collect();
    open_sources(&sources)
}

/// `open` for lists of any source.
pub fn open_sources(sources: &[ListSource]) -> Result<TargetStream, ListError> {
    let mut lists = Vec::with_capacity(sources.len());
    for source in sources {
        let input = match source {
            ListSource::File(path) => Opened::Bytes(Box::new(open_file(path)?)),
            ListSource::Text { text, .. } => Opened::Bytes(Box::new(Cursor::new(text.clone()))),
            ListSource::Args(args) => Opened::Args(args.clone()),
        };
        lists.push((source.name().to_path_buf(), input));
    }
    Ok(TargetStream {
        pending: lists.into_iter().rev().collect(),
        current: None,
        seen: HashSet::new(),
    })
}

/// How many distinct targets the lists hold (one pass over them; bad lines not counted).
pub fn count(sources: &[ListSource]) -> Result<u64, ListError> {
    Ok(open_sources(sources)?
        .filter(|e| matches!(e, Entry::Target(_)))
        .count() as u64)
}

fn open_file(path: &Path) -> Result<File, ListError> {
    let file = File::open(path).map_err(|source| ListError {
        path: path.to_path_buf(),
        source,
    })?;
    if let Ok(meta) = file.metadata() {
        if meta.is_dir() {
            return Err(ListError {
                path: path.to_path_buf(),
                source: io::Error::other("is a directory"),
            });
        }
    }
    Ok(file)
}

/// A list's bytes, from a file or from memory.
type Input = Box<dyn Read + Send>;

/// An opened list: bytes to parse, or entries given one by one.
enum Opened {
    Bytes(Input),
    Args(Arc<[String]>),
}

/// Iterator over the entries of several lists, in order.
pub struct TargetStream {
    pending: Vec<(PathBuf, Opened)>,
    current: Option<ListReader>,
    seen: HashSet<[u8; 16]>,
}

impl Iterator for TargetStream {
    type Item = Entry;

    fn next(&mut self) -> Option<Entry> {
        loop {
            if self.current.is_none() {
                let (path, file) = self.pending.pop()?;
                self.current = Some(ListReader::new(path, file));
            }
            let reader = self.current.as_mut().expect("set above");
            match reader.next_raw() {
                None => self.current = None,
                Some(Err(bad)) => return Some(Entry::Bad(bad)),
                Some(Ok((line, raw, category_code))) => match parse_entry(&raw) {
                    Err(reason) => {
                        return Some(Entry::Bad(BadLine {
                            file: reader.path.clone(),
                            line,
                            reason,
                        }))
                    }
                    Ok(url) => {
                        let key: [u8; 16] = Sha256::digest(url.as_str().as_bytes())[..16]
                            .try_into()
                            .expect("16 bytes");
                        if self.seen.insert(key) {
                            return Some(Entry::Target(Target {
                                input: spelled(&raw),
                                url,
                                category_code,
                            }));
                        }
                        tracing::debug!(
                            "{}:{line}: duplicate of an earlier target",
                            reader.path.display()
                        );
                    }
                },
            }
        }
    }
}

enum Format {
    Csv(Box<csv::Reader<BufReader<Input>>>),
    Plain {
        reader: BufReader<Input>,
        line: u64,
    },
    /// Command-line arguments; `next` is the index of the next one.
    Args {
        args: Arc<[String]>,
        next: usize,
    },
    Done,
}

struct ListReader {
    path: PathBuf,
    format: Format,
}

type RawEntry = (u64, String, Option<String>);

impl ListReader {
    fn new(path: PathBuf, opened: Opened) -> ListReader {
        let file = match opened {
            Opened::Bytes(file) => file,
            Opened::Args(args) => {
                let format = Format::Args { args, next: 0 };
                return ListReader { path, format };
            }
        };
        let mut reader = BufReader::new(file);
        let format = match looks_like_csv(&mut reader) {
            Ok(true) => Format::Csv(Box::new(
                csv::ReaderBuilder::new()
                    .flexible(true)
                    .has_headers(true)
                    .from_reader(reader),
            )),
            Ok(false) => Format::Plain { reader, line: 0 },
            Err(_) => Format::Done,
        };
        ListReader { path, format }
    }

    fn bad(&self, line: u64, reason: impl Into<String>) -> BadLine {
        BadLine {
            file: self.path.clone(),
            line,
            reason: reason.into(),
        }
    }

    fn next_raw(&mut self) -> Option<Result<RawEntry, BadLine>> {
        loop {
            match &mut self.format {
                Format::Done => return None,
                Format::Args { args, next } => {
                    let arg = args.get(*next)?.trim().to_string();
                    *next += 1;
                    let n = *next as u64;
                    if arg.is_empty() {
                        return Some(Err(self.bad(n, "empty (no URL or domain)")));
                    }
                    return Some(Ok((n, arg, None)));
                }
                Format::Csv(csv) => {
                    let mut record = csv::StringRecord::new();
                    match csv.read_record(&mut record) {
                        Ok(false) => {
                            self.format = Format::Done;
                            return None;
                        }
                        Ok(true) => {
                            let line = record.position().map(|p| p.line()).unwrap_or(0);
                            let url = record.get(0).unwrap_or("").trim();
                            if url.is_empty() && record.iter().all(|f| f.trim().is_empty()) {
                                continue;
                            }
                            if let Err(why) = csv_fields_fit(&record) {
                                return Some(Err(self.bad(line, why)));
                            }
                            let category = record
                                .get(1)
                                .map(str::trim)
                                .filter(|c| !c.is_empty())
                                .map(str::to_string);
                            return Some(Ok((line, url.to_string(), category)));
                        }
                        Err(e) => {
                            let line = e.position().map(|p| p.line()).unwrap_or(0);
                            if let csv::ErrorKind::Io(_) = e.kind() {
                                self.format = Format::Done;
                            }
                            return Some(
                                Err(self.bad(line, format!("unreadable CSV record: {e}"))),
                            );
                        }
                    }
                }
                Format::Plain { reader, line } => {
                    let mut buf = Vec::new();
                    *line += 1;
                    let n = line.to_owned();
                    match reader.by_ref().take(64 * 1024).read_until(b'\n', &mut buf) {
                        Ok(0) => {
                            self.format = Format::Done;
                            return None;
                        }
                        Ok(_) => {
                            if !buf.ends_with(b"\n") && buf.len() >= 64 * 1024 {
                                // Skip the rest of an absurdly long line.
                                let _ = reader.skip_until(b'\n');
                                return Some(Err(self.bad(n, "line longer than 64 KiB")));
                            }
                            let Ok(text) = String::from_utf8(buf) else {
                                return Some(Err(self.bad(n, "line is not valid UTF-8")));
                            };
                            let text = text.split('#').next().unwrap_or("").trim();
                            if text.is_empty() {
                                continue;
                            }
                            return Some(Ok((n, text.to_string(), None)));
                        }
                        Err(e) => {
                            self.format = Format::Done;
                            return Some(Err(self.bad(n, format!("read error: {e}"))));
                        }
                    }
                }
            }
        }
    }
}

/// Refuses a CSV row with a field no record should carry: a URL over `MAX_URL_LEN`, a
/// category code over `MAX_CATEGORY_LEN`, or any field over `MAX_FIELD_LEN` bytes.
fn csv_fields_fit(record: &csv::StringRecord) -> Result<(), String> {
    let url = record.get(0).unwrap_or("").trim().len();
    if url > MAX_URL_LEN {
        return Err(format!(
            "URL longer than {MAX_URL_LEN} bytes ({url} bytes): no request can carry it"
        ));
    }
    let category = record.get(1).unwrap_or("").trim().len();
    if category > MAX_CATEGORY_LEN {
        return Err(format!(
            "category_code longer than {MAX_CATEGORY_LEN} bytes ({category} bytes)"
        ));
    }
    match record.iter().position(|f| f.len() > MAX_FIELD_LEN) {
        Some(i) => Err(format!(
            "field {} longer than {MAX_FIELD_LEN} bytes ({} bytes)",
            i + 1,
            record[i].len()
        )),
        None => Ok(()),
    }
}

/// A Citizen Lab list starts with the header `url,category_code,...`.
fn looks_like_csv(reader: &mut BufReader<Input>) -> io::Result<bool> {
    let head = reader.fill_buf()?;
    let head = head
        .strip_prefix(b"\xef\xbb\xbf".as_slice())
        .unwrap_or(head);
    let first = head.split(|b| *b == b'\n').next().unwrap_or(&[]);
    let first = String::from_utf8_lossy(first).to_ascii_lowercase();
    Ok(first.trim_start().starts_with("url,"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn entries_parse_as_researchers_expect() {
        // 30 000 bytes that percent-encode to 90 000; and a URL exactly at the limit.
        let long_encoded = format!("https://a.example/{}", "\"".repeat(30_000));
        let longest = format!("https://a.example/{}", "x".repeat(MAX_URL_LEN - 18));
        let over_long_label = format!("http://{}.test/", "a".repeat(64));
        let over_long_name = format!("http://{}test/", format!("{}.", "b".repeat(60)).repeat(5));
        let cases: &[(&str, Result<&str, &str>)] = &[
            ("example.org", Ok("https://example.org/")),
            ("http://Example.ORG", Ok("http://example.org/")),
            (
                "https://bücher.example/path?q=1",
                Ok("https://xn--bcher-kva.example/path?q=1"),
            ),
            (
                "https://例え.テスト/",
                Ok("https://xn--r8jz45g.xn--zckzah/"),
            ),
            ("https://10.0.0.1:8443/x", Ok("https://10.0.0.1:8443/x")),
            ("ftp://example.org/", Err("unsupported scheme")),
            ("https://", Err("invalid URL")),
            ("not a url", Err("white space")),
            ("https://user:pw@example.org/", Err("credentials")),
            ("intranet", Err("not a domain name")),
            (
                &long_encoded,
                Err("longer than 65534 bytes once percent-encoded"),
            ),
            (&longest, Ok(&longest)),
            ("", Err("empty")),
            // A UTF-8 byte-order mark (a list saved by an editor that writes one) is no part of
            // the entry.
            ("\u{feff}http://c.test/", Ok("http://c.test/")),
            // A fragment is never sent: `#frag` is the same target.
            ("http://x.lab/#frag", Ok("http://x.lab/")),
            (&over_long_label, Err("a label longer than 63 bytes")),
            (&over_long_name, Err("longer than 253 bytes")),
        ];
        for (input, want) in cases {
            let got = parse_entry(input);
            match (want, &got) {
                (Ok(w), Ok(u)) => assert_eq!(u.as_str(), *w, "{input}"),
                (Err(w), Err(e)) => assert!(e.contains(w), "{input}: {e}"),
                _ => panic!("{input}: got {got:?}, want {want:?}"),
            }
        }
    }

    fn list(content: &[u8]) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(content).unwrap();
        f
    }

    fn collect(paths: &[PathBuf]) -> (Vec<String>, Vec<String>) {
        let (mut ok, mut bad) = (vec![], vec![]);
        for e in open(paths).unwrap() {
            match e {
                Entry::Target(t) => ok.push(t.url.to_string()),
                Entry::Bad(b) => bad.push(format!("{}: {}", b.line, b.reason)),
            }
        }
        (ok, bad)
    }

    #[test]
    fn plain_list_reports_bad_lines_and_drops_duplicates() {
        let f = list(b"# comment\nexample.org\n\nhttp://a.example/ # trailing\nftp://x.example/\nexample.org\n\xff\xfe\nb.example\n");
        let (ok, bad) = collect(&[f.path().to_path_buf()]);
        assert_eq!(
            ok,
            [
                "https://example.org/",
                "http://a.example/",
                "https://b.example/"
            ]
        );
        assert_eq!(bad.len(), 2, "{bad:?}");
        assert!(bad[0].starts_with("5: unsupported scheme"), "{bad:?}");
        assert!(bad[1].starts_with("7: line is not valid UTF-8"), "{bad:?}");
    }

    #[test]
    fn inputs_keep_the_lists_spelling_and_duplicates_are_found_normalized() {
        let f = list("Яндекс.lab\nhttps://Bücher.example/x\nHTTPS://bücher.EXAMPLE/x\nhttps://яндекс.LAB\nhttp://a.example\n".as_bytes());
        let got: Vec<(String, String)> = open(&[f.path().to_path_buf()])
            .unwrap()
            .map(|e| match e {
                Entry::Target(t) => (t.input, t.url.to_string()),
                Entry::Bad(b) => panic!("{b}"),
            })
            .collect();
        let want = [
            ("https://Яндекс.lab/", "https://xn--d1acpjx3f.lab/"),
            (
                "https://Bücher.example/x",
                "https://xn--bcher-kva.example/x",
            ),
            ("http://a.example", "http://a.example/"),
        ];
        let want: Vec<(String, String)> = want
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn citizen_lab_csv_keeps_categories_and_line_numbers() {
        let f = list(b"url,category_code,category_description,date_added,source,notes\nhttps://a.example/,NEWS,News Media,2020-01-01,x,\"multi\nline note\"\nmailto:x,GRP,,,,\nhttp://b.example/,HUMR,,,,\n");
        let paths = [f.path().to_path_buf()];
        let mut targets = vec![];
        let mut bad = vec![];
        for e in open(&paths).unwrap() {
            match e {
                Entry::Target(t) => targets.push(t),
                Entry::Bad(b) => bad.push(b),
            }
        }
        assert_eq!(targets.len(), 2);
        assert_eq!(targets[0].category_code.as_deref(), Some("NEWS"));
        assert_eq!(targets[1].url.as_str(), "http://b.example/");
        assert_eq!(bad.len(), 1);
        assert_eq!(bad[0].line, 4, "the multi-line note shifts the line count");
        assert!(bad[0].to_string().contains(":4: "), "{}", bad[0]);
    }

    #[test]
    fn csv_rows_with_oversized_fields_are_bad_lines() {
        let head = "url,category_code,category_description,date_added,source,notes\n";
        let cases: [(String, Option<&str>); 5] = [
            (",NEWS,,,,\n".into(), None),
            (format!(",{},,,,\n", "C".repeat(MAX_CATEGORY_LEN)), None),
            (
                format!(",{},,,,\n", "C".repeat(MAX_CATEGORY_LEN + 1)),
                Some("category_code longer than 64 bytes (65 bytes)"),
            ),
            (
                format!(",NEWS,,,,{}\n", "n".repeat(MAX_FIELD_LEN + 1)),
                Some("field 6 longer than 65536 bytes (65537 bytes)"),
            ),
            (
                format!("{},NEWS,,,,\n", "x".repeat(5_000_000)),
                Some("URL longer than"),
            ),
        ];
        for (row, want) in cases {
            let url = if row.starts_with(',') {
                "http://a.example/"
            } else {
                ""
            };
            let f = list(format!("{head}{url}{row}http://b.example/,HUMR,,,,\n").as_bytes());
            let (ok, bad) = collect(&[f.path().to_path_buf()]);
            let shown = format!("{bad:.300?}");
            match want {
                None => assert_eq!((ok.len(), bad.len()), (2, 0), "{shown}"),
                Some(w) => {
                    assert_eq!(ok, ["http://b.example/"], "{shown}");
                    assert_eq!(bad.len(), 1, "{shown}");
                    assert!(bad[0].starts_with(&format!("2: {w}")), "{shown}");
                }
            }
        }
    }

    #[test]
    fn real_test_lists_load_without_crashing() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/citizenlab-test-lists");
        let (ok, bad) = collect(&[dir.join("global.csv"), dir.join("cn.csv")]);
        assert!(ok.len() > 2000, "{}", ok.len());
        assert!(bad.len() < 20, "{bad:?}");
    }

    #[test]
    fn the_built_in_list_is_the_file_and_parses() {
        let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("targets/default.csv");
        assert_eq!(BUILTIN, std::fs::read_to_string(&file).unwrap());
        let from_file = collect(std::slice::from_ref(&file));
        let mut built_in = (vec![], vec![]);
        for e in open_sources(&[ListSource::builtin()]).unwrap() {
            match e {
                Entry::Target(t) => built_in.0.push(t.url.to_string()),
                Entry::Bad(b) => built_in.1.push(b.to_string()),
            }
        }
        assert!(built_in.0.len() > 10, "{built_in:?}");
        assert_eq!(
            built_in.1,
            Vec::<String>::new(),
            "no bad line in the default list"
        );
        assert_eq!(built_in.0, from_file.0);
    }

    #[test]
    fn command_line_entries_are_numbered_by_argument_and_read_like_list_lines() {
        let args: Vec<String> = ["Example.ORG", "ftp://x.example/", "http://a.example"]
            .map(String::from)
            .to_vec();
        let got: Vec<String> = open_sources(&[ListSource::entries(&args)])
            .unwrap()
            .map(|e| match e {
                Entry::Target(t) => format!("{} {}", t.input, t.url),
                Entry::Bad(b) => b.to_string(),
            })
            .collect();
        assert_eq!(
            got,
            [
                "https://Example.ORG/ https://example.org/",
                "command line:2: unsupported scheme \"ftp\" (only http and https)",
                "http://a.example http://a.example/",
            ]
        );
        let stdin = ListSource::read_all(STDIN, &b"b.example\nb.example\nc.example\n"[..]).unwrap();
        assert_eq!(
            count(&[stdin.clone(), stdin]).unwrap(),
            2,
            "duplicates dropped"
        );
    }

    #[test]
    fn unreadable_list_is_an_error_naming_the_file() {
        let err = match open(&[PathBuf::from("/nonexistent/list.txt")]) {
            Err(e) => e,
            Ok(_) => panic!("opened a missing file"),
        };
        assert!(err.to_string().contains("/nonexistent/list.txt"));
    }
}

#[cfg(test)]
mod fuzz {
    use super::*;
    use proptest::prelude::*;
    use std::io::Write;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Any text: no panic; an accepted entry is an http(s) URL with a host that parses
        /// back to itself (normalization is idempotent).
        #[test]
        fn any_entry_parses_or_is_refused(raw in ".{0,200}") {
            if let Ok(url) = parse_entry(&raw) {
                prop_assert!(matches!(url.scheme(), "http" | "https"));
                prop_assert!(url.host().is_some());
                let again = parse_entry(url.as_str()).expect("a normalized URL parses");
                prop_assert_eq!(again.as_str(), url.as_str());
            }
        }

        /// Any bytes as a list file, CSV or plain: no panic, and every entry is a target or a
        /// bad line naming a line that exists.
        #[test]
        fn any_list_file_streams(body in proptest::collection::vec(any::<u8>(), 0..4000), csv in any::<bool>()) {
            let mut f = tempfile::NamedTempFile::new().unwrap();
            if csv {
                f.write_all(b"url,category_code,category_description,date_added,source,notes\n").unwrap();
            }
            f.write_all(&body).unwrap();
            let lines = body.iter().filter(|b| **b == b'\n').count() as u64 + 2;
            for e in open(&[f.path().to_path_buf()]).unwrap() {
                if let Entry::Bad(b) = e {
                    prop_assert!(b.line <= lines, "{} > {}", b.line, lines);
                }
            }
        }
    }
}
