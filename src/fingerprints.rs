//! Known blocking fingerprints: addresses a censor's resolver gives instead of the real ones,
//! national blockpage texts and headers, and redirects to national warning pages.
//!
//! The set shipped with vantage is `fingerprints/default.toml` (vantage's own format, described
//! at the top of that file), embedded in the binary. Tests and tools build their own sets with
//! `str::parse::<Fingerprints>()`. Matching is exact and deterministic: entries are tried in file
//! order and the first match wins.

use std::collections::HashSet;
use std::net::IpAddr;
use std::str::FromStr;

use serde::Deserialize;

/// The set shipped with vantage.
const BUILTIN: &str = include_str!("../fingerprints/default.toml");

/// Bodies longer than this are never matched against body patterns: blockpages are small, and a
/// long page that quotes a blockpage's text (a news story about censorship) is not one.
pub const MAX_BLOCKPAGE_BODY: usize = 256 * 1024;

/// How a header value is compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeaderMode {
    Full,
    Prefix,
    Contains,
}

/// What a fingerprint matches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Matcher {
    /// An address in a DNS answer.
    DnsAddress(IpAddr),
    /// A host name in a DNS answer (a CNAME target), lowercase, without the final dot.
    DnsName(String),
    /// A substring of the response body (case-sensitive).
    Body(String),
    /// A response header (name compared case-insensitively) and its value.
    Header {
        name: String,
        value: String,
        mode: HeaderMode,
    },
}

/// One known blocking fingerprint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fingerprint {
    pub name: String,
    pub matcher: Matcher,
    /// Countries where it is seen (ISO 3166 codes).
    pub countries: Vec<String>,
    /// The operator's own domain: measuring a URL on it (or a redirect within it) is not evidence.
    pub own_domain: Option<String>,
    /// The corresponding entry in OONI's blocking-fingerprints, for reference.
    pub ooni: Option<String>,
}

impl Fingerprint {
    /// "RU blockpage `ru.rkn-federal-law`"-style label for verdict reasons.
    pub fn label(&self) -> String {
        if self.countries.is_empty() {
            format!("`{}`", self.name)
        } else {
            format!("{} `{}`", self.countries.join("/"), self.name)
        }
    }

    /// Whether `host` is the operator's own domain or one of its subdomains.
    pub fn is_own_host(&self, host: &str) -> bool {
        match &self.own_domain {
            Some(d) => within(host, d),
            None => false,
        }
    }

    /// Whether this fingerprint matches a redirect's `Location` header.
    pub fn is_redirect(&self) -> bool {
        matches!(&self.matcher, Matcher::Header { name, .. } if name.eq_ignore_ascii_case("location"))
    }

    /// Whether the entry applies to a probe in `cc` (`None`: the probe's country is unknown, and
    /// every entry applies).
    pub fn seen_in(&self, cc: Option<&str>) -> bool {
        cc.is_none_or(|cc| self.countries.iter().any(|c| c.eq_ignore_ascii_case(cc)))
    }
}

/// Whether a `Location` value that starts with `prefix` (followed by `rest`) stays on the
/// prefix's host: a prefix that ends inside the host ("http://warning.or.kr") must be followed
/// by the end of the URL or by a port, path, query or fragment, so that
/// "http://warning.or.kr.evil.net/" does not match it. A prefix with a path is past the host.
fn at_host_boundary(prefix: &str, rest: &str) -> bool {
    let after_scheme = prefix.split_once("://").map_or(prefix, |(_, r)| r);
    after_scheme.contains('/') || rest.is_empty() || rest.starts_with(['/', ':', '?', '#'])
}

/// `host` equals `domain` or is a subdomain of it (case-insensitive, final dots ignored).
pub fn within(host: &str, domain: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let domain = domain.trim_end_matches('.').to_ascii_lowercase();
    host == domain || host.ends_with(&format!(".{domain}"))
}

/// The set of fingerprints the analysis matches against.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Fingerprints {
    entries: Vec<Fingerprint>,
}

/// A fingerprint file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum FingerprintError {
    #[error("fingerprints: {0}")]
    Syntax(String),
    #[error("fingerprints: entry `{name}`: {reason}")]
    Entry { name: String, reason: String },
}

impl Fingerprints {
    /// The set shipped with vantage.
    pub fn builtin() -> Fingerprints {
        BUILTIN
            .parse()
            .expect("the built-in fingerprint file is checked by the tests")
    }

    /// A set made of these entries (no validation beyond what the types enforce).
    pub fn from_entries(entries: Vec<Fingerprint>) -> Fingerprints {
        Fingerprints { entries }
    }

    pub fn entries(&self) -> &[Fingerprint] {
        &self.entries
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The fingerprint a DNS answer value (an address, or a CNAME target) matches, among the
    /// entries seen in the probe's country `cc` (all of them when it is unknown).
    pub fn match_dns(&self, answer: &str, cc: Option<&str>) -> Option<&Fingerprint> {
        let answer = answer.trim();
        let ip: Option<IpAddr> = answer.parse().ok();
        let name = answer.trim_end_matches('.').to_ascii_lowercase();
        let mut entries = self.entries.iter().filter(|f| f.seen_in(cc));
        entries.find(|f| match (&f.matcher, ip) {
            (Matcher::DnsAddress(a), Some(ip)) => *a == ip,
            (Matcher::DnsName(n), None) => *n == name,
            _ => false,
        })
    }

    /// The fingerprint an HTTP response matches, among the entries seen in the probe's country
    /// `cc` (all of them when it is unknown): a header (`Location` only on redirects, 3xx, and
    /// only on the prefix's own host), or a body substring (bodies up to `MAX_BLOCKPAGE_BODY`).
    pub fn match_http(
        &self,
        status: u16,
        headers: &[(String, String)],
        body: &[u8],
        cc: Option<&str>,
    ) -> Option<&Fingerprint> {
        let text = std::str::from_utf8(body).ok();
        let mut entries = self.entries.iter().filter(|f| f.seen_in(cc));
        entries.find(|f| match &f.matcher {
            Matcher::Header { name, value, mode } => {
                let location = name.eq_ignore_ascii_case("location");
                if location && !(300..400).contains(&status) {
                    return false;
                }
                headers
                    .iter()
                    .filter(|(k, _)| k.eq_ignore_ascii_case(name))
                    .any(|(_, v)| {
                        let v = v.trim();
                        match mode {
                            HeaderMode::Full => v == value,
                            HeaderMode::Prefix => {
                                v.starts_with(value.as_str())
                                    && (!location || at_host_boundary(value, &v[value.len()..]))
                            }
                            HeaderMode::Contains => v.contains(value.as_str()),
                        }
                    })
            }
            Matcher::Body(pattern) => {
                body.len() <= MAX_BLOCKPAGE_BODY
                    && match text {
                        Some(t) => t.contains(pattern.as_str()),
                        None => contains_bytes(body, pattern.as_bytes()),
                    }
            }
            Matcher::DnsAddress(_) | Matcher::DnsName(_) => false,
        })
    }
}

fn contains_bytes(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

/// The file's shape.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    dns: Vec<DnsEntry>,
    #[serde(default)]
    body: Vec<BodyEntry>,
    #[serde(default)]
    header: Vec<HeaderEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DnsEntry {
    name: String,
    answer: String,
    #[serde(default)]
    countries: Vec<String>,
    own_domain: Option<String>,
    ooni: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BodyEntry {
    name: String,
    contains: String,
    #[serde(default)]
    countries: Vec<String>,
    own_domain: Option<String>,
    ooni: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HeaderEntry {
    name: String,
    header: String,
    full: Option<String>,
    prefix: Option<String>,
    contains: Option<String>,
    #[serde(default)]
    countries: Vec<String>,
    own_domain: Option<String>,
    ooni: Option<String>,
}

impl FromStr for Fingerprints {
    type Err = FingerprintError;

    /// Reads a fingerprint file (the format of `fingerprints/default.toml`).
    fn from_str(text: &str) -> Result<Fingerprints, FingerprintError> {
        let file: File =
            toml::from_str(text).map_err(|e| FingerprintError::Syntax(e.to_string()))?;
        let mut entries = Vec::new();
        for e in file.dns {
            let answer = e.answer.trim();
            let matcher = match answer.parse::<IpAddr>() {
                Ok(ip) => Matcher::DnsAddress(ip),
                Err(_) if is_host_name(answer) => {
                    Matcher::DnsName(answer.trim_end_matches('.').to_ascii_lowercase())
                }
                Err(_) => {
                    return Err(entry_error(
                        &e.name,
                        &format!("answer {answer:?} is neither an address nor a host name"),
                    ))
                }
            };
            entries.push(make(e.name, matcher, e.countries, e.own_domain, e.ooni)?);
        }
        for e in file.body {
            if e.contains.is_empty() {
                return Err(entry_error(&e.name, "`contains` is empty"));
            }
            let matcher = Matcher::Body(e.contains);
            entries.push(make(e.name, matcher, e.countries, e.own_domain, e.ooni)?);
        }
        for e in file.header {
            let (value, mode) = match (e.full, e.prefix, e.contains) {
                (Some(v), None, None) => (v, HeaderMode::Full),
                (None, Some(v), None) => (v, HeaderMode::Prefix),
                (None, None, Some(v)) => (v, HeaderMode::Contains),
                _ => {
                    return Err(entry_error(
                        &e.name,
                        "needs exactly one of `full`, `prefix`, `contains`",
                    ))
                }
            };
            if value.trim().is_empty() {
                return Err(entry_error(&e.name, "the header value is empty"));
            }
            if e.header.is_empty() || !e.header.bytes().all(is_token_byte) {
                return Err(entry_error(
                    &e.name,
                    &format!("{:?} is not a header name", e.header),
                ));
            }
            let mut own_domain = e.own_domain;
            if own_domain.is_none() && e.header.eq_ignore_ascii_case("location") {
                own_domain = url::Url::parse(&value).ok().and_then(|u| {
                    u.host_str()
                        .map(|h| h.trim_start_matches("www.").to_string())
                });
            }
            let matcher = Matcher::Header {
                name: e.header,
                value: value.trim().to_string(),
                mode,
            };
            entries.push(make(e.name, matcher, e.countries, own_domain, e.ooni)?);
        }
        let mut seen = HashSet::new();
        for f in &entries {
            if !seen.insert(f.name.as_str()) {
                return Err(entry_error(&f.name, "the name is used twice"));
            }
        }
        Ok(Fingerprints { entries })
    }
}

fn make(
    name: String,
    matcher: Matcher,
    countries: Vec<String>,
    own_domain: Option<String>,
    ooni: Option<String>,
) -> Result<Fingerprint, FingerprintError> {
    if name.trim().is_empty() {
        return Err(entry_error("", "the name is empty"));
    }
    if let Some(c) = countries
        .iter()
        .find(|c| c.len() != 2 || !c.bytes().all(|b| b.is_ascii_uppercase()))
    {
        return Err(entry_error(
            &name,
            &format!("{c:?} is not a two-letter country code"),
        ));
    }
    if let Some(d) = &own_domain {
        if !is_host_name(d) {
            return Err(entry_error(
                &name,
                &format!("own_domain {d:?} is not a domain"),
            ));
        }
    }
    Ok(Fingerprint {
        name,
        matcher,
        countries,
        own_domain: own_domain.map(|d| d.trim_end_matches('.').to_ascii_lowercase()),
        ooni,
    })
}

fn entry_error(name: &str, reason: &str) -> FingerprintError {
    FingerprintError::Entry {
        name: name.to_string(),
        reason: reason.to_string(),
    }
}

fn is_host_name(s: &str) -> bool {
    let s = s.trim_end_matches('.');
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn builtin_set_loads_and_carries_the_gfw_answers() {
        let f = Fingerprints::builtin();
        assert!(f.len() >= 60, "{} entries", f.len());
        for ip in [
            "8.7.198.45",
            "37.61.54.158",
            "46.82.174.68",
            "78.16.49.15",
            "93.46.8.89",
            "159.106.121.75",
            "203.98.7.65",
            "59.24.3.173",
            "243.185.187.39",
        ] {
            let m = f.match_dns(ip, None).unwrap_or_else(|| panic!("{ip}"));
            assert_eq!(m.countries, ["CN"], "{ip}");
        }
        assert!(f.match_dns("93.184.215.14", None).is_none());
        assert!(f.match_dns("127.0.0.1", None).is_none());
        // Every body and header entry is reachable, and countries are always named.
        for e in f.entries() {
            assert!(!e.countries.is_empty(), "{}", e.name);
        }
        let kinds =
            |pred: fn(&Matcher) -> bool| f.entries().iter().filter(|e| pred(&e.matcher)).count();
        assert!(kinds(|m| matches!(m, Matcher::Body(_))) >= 25);
        assert!(kinds(|m| matches!(m, Matcher::Header { .. })) >= 20);
    }

    #[test]
    fn dns_matching_normalises_addresses_and_names() {
        let f = Fingerprints::builtin();
        assert_eq!(
            f.match_dns("d0:0:0:0:0:0:0:11", None).unwrap().name,
            "ir.national-d0::11"
        );
        assert_eq!(
            f.match_dns("TrustPositif.Kominfo.go.id.", None)
                .unwrap()
                .name,
            "id.trustpositif-cname"
        );
        assert!(
            f.match_dns("kominfo.go.id", None).is_none(),
            "exact names only"
        );
        assert!(f.match_dns("", None).is_none());
    }

    #[test]
    fn http_matching_by_body_header_and_redirect() {
        let f = Fingerprints::builtin();
        let ru =
            "<html><body>Доступ к сайту ограничен в соответствии с Федеральными законами</body>";
        assert_eq!(
            f.match_http(200, &[], ru.as_bytes(), None).unwrap().name,
            "ru.rkn-federal-law"
        );
        assert!(f
            .match_http(200, &[], b"<html>hello</html>", None)
            .is_none());
        let server = headers(&[("server", "Protected by WireFilter 8000 (etisalat)")]);
        assert_eq!(
            f.match_http(403, &server, b"", None).unwrap().name,
            "ae.wirefilter"
        );
        let warn = headers(&[("Location", "http://warning.or.kr/i1.html")]);
        assert_eq!(
            f.match_http(302, &warn, b"", None).unwrap().name,
            "kr.warning-or-kr"
        );
        // A Location on a non-redirect means nothing.
        assert!(f.match_http(200, &warn, b"", None).is_none());
        // `full` means the whole value.
        let no = headers(&[("Location", "http://block-no.altibox.net/extra")]);
        assert!(f.match_http(302, &no, b"", None).is_none());
        let no = headers(&[("Location", "http://block-no.altibox.net/")]);
        assert_eq!(
            f.match_http(302, &no, b"", None).unwrap().name,
            "no.altibox"
        );
    }

    #[test]
    fn location_prefixes_end_at_the_host() {
        let f = Fingerprints::builtin();
        let kr = Some("kr.warning-or-kr");
        for (loc, want) in [
            ("http://warning.or.kr", kr),
            ("http://warning.or.kr/i1.html", kr),
            ("http://warning.or.kr:8080/i1.html", kr),
            ("http://warning.or.kr.evil.net/", None),
            ("http://warning.or.krx/", None),
            // A prefix with a path is past the host: ordinary prefix matching.
            (
                "http://www.emta.ee/et/juurdepaas-blokeeritud/x",
                Some("ee.emta"),
            ),
        ] {
            let got = f.match_http(302, &headers(&[("Location", loc)]), b"", None);
            assert_eq!(got.map(|m| m.name.as_str()), want, "{loc}");
        }
    }

    #[test]
    fn entries_apply_only_where_seen_and_over_broad_ones_are_gone() {
        let f = Fingerprints::builtin();
        let ru = "<body>Доступ к сайту ограничен в соответствии с Федеральными законами</body>";
        for (cc, hit) in [(Some("RU"), true), (None, true), (Some("DE"), false)] {
            assert_eq!(f.match_http(200, &[], ru.as_bytes(), cc).is_some(), hit);
        }
        assert!(f.match_dns("8.7.198.45", Some("CN")).is_some());
        assert!(f.match_dns("8.7.198.45", Some("DE")).is_none());
        for page in [
            "<p>Korean ISPs redirect blocked sites to warning.or.kr.</p>",
            "<p>Myndighederne har lagt at blokere for adgang til siden.</p>",
            "<a href=\"http://www.airtel.in/court-orders/\">court orders</a>",
            "<a href=\"https://www.gamingcommission.gov.gr/index.php/forbidden-access-black-list/\">",
            "<a href=\"http://peyvandha.ir/1-2.htm\">links</a>",
            "<p>The GdF Stop Page is shown for seized sites.</p>",
            "<div class=\"title\">国家反诈中心</div>",
        ] {
            assert!(f.match_http(200, &[], page.as_bytes(), None).is_none(), "{page}");
        }
    }

    #[test]
    fn a_set_made_of_entries_matches_as_those_entries_do() {
        let builtin = Fingerprints::builtin();
        assert!(!builtin.is_empty());
        let copy = Fingerprints::from_entries(builtin.entries().to_vec());
        assert_eq!(copy.len(), builtin.len());
        let page = b"<title>AGCOM Stop Page</title>";
        assert!(copy.match_http(200, &[], page, None).is_some());
        let none = Fingerprints::from_entries(vec![]);
        assert!(none.is_empty());
        assert!(none.match_http(200, &[], page, None).is_none());
    }

    #[test]
    fn long_bodies_and_binary_bodies() {
        let f = Fingerprints::builtin();
        let mut long = "x".repeat(MAX_BLOCKPAGE_BODY);
        long.push_str("<title>AGCOM Stop Page</title>");
        assert!(f.match_http(200, &[], long.as_bytes(), None).is_none());
        // A blockpage padded to exactly the limit (256 KiB) is still matched.
        let title = "<title>AGCOM Stop Page</title>";
        let at_limit = format!("{title}{}", "x".repeat(MAX_BLOCKPAGE_BODY - title.len()));
        assert_eq!(at_limit.len(), 256 * 1024);
        assert!(f.match_http(200, &[], at_limit.as_bytes(), None).is_some());
        let mut binary = vec![0xff, 0xfe, 0x00];
        binary.extend_from_slice(b"... <title>AGCOM Stop Page</title> ...");
        assert_eq!(
            f.match_http(200, &[], &binary, None).unwrap().name,
            "it.agcom-stop-page"
        );
    }

    #[test]
    fn own_domains() {
        let f = Fingerprints::builtin();
        let kr = f
            .entries()
            .iter()
            .find(|e| e.name == "kr.warning-or-kr")
            .unwrap();
        assert!(kr.is_redirect());
        assert!(kr.is_own_host("warning.or.kr"));
        assert!(kr.is_own_host("WWW.warning.or.kr."));
        assert!(!kr.is_own_host("notwarning.or.kr"));
        let own: Fingerprints = r#"
            [[header]]
            name = "x"
            header = "Location"
            prefix = "http://www.block.example/page"
        "#
        .parse()
        .unwrap();
        assert_eq!(
            own.entries()[0].own_domain.as_deref(),
            Some("block.example")
        );
        // A stated own_domain wins over the Location's host; another header's URL-like value
        // names no own domain.
        let stated: Fingerprints = r#"
            [[header]]
            name = "x"
            header = "Location"
            prefix = "http://www.block.example/page"
            own_domain = "operator.example"

            [[header]]
            name = "y"
            header = "Link"
            contains = "http://www.block.example/"
        "#
        .parse()
        .unwrap();
        assert_eq!(
            stated.entries()[0].own_domain.as_deref(),
            Some("operator.example")
        );
        assert_eq!(stated.entries()[1].own_domain, None);
        let link = headers(&[("Link", "<http://www.block.example/>; rel=x")]);
        assert_eq!(stated.match_http(200, &link, b"", None).unwrap().name, "y");
    }

    #[test]
    fn custom_sets_parse_and_bad_ones_are_refused_with_the_entry_named() {
        let ok: Fingerprints = r#"
            [[dns]]
            name = "test.forged"
            answer = "192.0.2.66"
            countries = ["ZZ"]

            [[body]]
            name = "test.page"
            contains = "Blocked by the test censor"

            [[header]]
            name = "test.via"
            header = "Via"
            full = "1.1 censor"
        "#
        .parse()
        .unwrap();
        assert_eq!(ok.len(), 3);
        assert_eq!(
            ok.match_dns("192.0.2.66", None).unwrap().name,
            "test.forged"
        );
        let via = headers(&[("VIA", "1.1 censor")]);
        assert_eq!(
            ok.match_http(200, &via, b"", None).unwrap().name,
            "test.via"
        );

        let bad = [
            ("[[dns]]\nname = \"a\"\nanswer = \"not an address!\"", "a"),
            ("[[body]]\nname = \"b\"\ncontains = \"\"", "b"),
            (
                "[[header]]\nname = \"c\"\nheader = \"Via\"\nfull = \"x\"\nprefix = \"y\"",
                "c",
            ),
            ("[[header]]\nname = \"d\"\nheader = \"Bad Name\"\nfull = \"x\"", "d"),
            (
                "[[body]]\nname = \"e\"\ncontains = \"x\"\ncountries = [\"china\"]",
                "e",
            ),
            (
                "[[body]]\nname = \"e3\"\ncontains = \"x\"\ncountries = [\"USA\"]",
                "e3",
            ),
            (
                "[[body]]\nname = \"e2\"\ncontains = \"x\"\ncountries = [\"cn\"]",
                "e2",
            ),
            (
                "[[body]]\nname = \"f\"\ncontains = \"x\"\n[[body]]\nname = \"f\"\ncontains = \"y\"",
                "f",
            ),
        ];
        for (text, name) in bad {
            let err = text.parse::<Fingerprints>().unwrap_err().to_string();
            assert!(err.contains(&format!("`{name}`")), "{err}");
        }
        let err = "[[dns]]\nname = \"x\"\nanswer = \"1.2.3.4\"\ncolour = 1"
            .parse::<Fingerprints>()
            .unwrap_err();
        assert!(matches!(err, FingerprintError::Syntax(_)), "{err}");
    }
}
