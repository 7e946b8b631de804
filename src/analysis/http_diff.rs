//! The HTTP comparison with the control (OONI web_connectivity 0.5's http-diff rules), the body
//! transfer rate (throttling), and the server-side challenges that are not censorship.

use std::collections::BTreeSet;

use super::index::Index;
use crate::control::ControlHttp;
use crate::failure::Failure;
use crate::observation::{HttpResponse, HttpTransaction, TransferSample};

/// OONI's common header names: sharing one of them says nothing about who answered.
pub const COMMON_HEADERS: [&str; 25] = [
    "date",
    "content-type",
    "server",
    "cache-control",
    "vary",
    "set-cookie",
    "location",
    "expires",
    "x-powered-by",
    "content-encoding",
    "last-modified",
    "accept-ranges",
    "pragma",
    "x-frame-options",
    "etag",
    "x-content-type-options",
    "age",
    "via",
    "p3p",
    "x-xss-protection",
    "content-language",
    "cf-ray",
    "strict-transport-security",
    "link",
    "x-varnish",
];

/// HTTP/1.1 framing headers, ignored as well by vantage's own comparison (`x_verdict`): every
/// HTTP/1.1 server sends them, so sharing them would make any two pages "match". OONI's
/// `headers_match` counts them (its common list has neither), and so does vantage's.
const FRAMING_HEADERS: [&str; 4] = [
    "content-length",
    "connection",
    "keep-alive",
    "transfer-encoding",
];

/// Throttling: the probe's rate must be below the control's divided by this...
pub const THROTTLE_RATIO: f64 = 10.0;
/// ...and below this many bytes per second (128 kbit/s): a slow access line, or a slow
/// international link, is not throttling.
pub const THROTTLE_MAX_RATE: f64 = 16.0 * 1024.0;
/// ...measured over at least this long...
pub const THROTTLE_MIN_SECONDS: f64 = 2.0;
/// ...and taking this many times longer than the connect's round trip explains (TCP's slow
/// start from `INITIAL_WINDOW`: a 12 KB answer is one round trip, a MiB seven), so a small
/// page can show throttling and a slow link (a long round trip) cannot.
pub const THROTTLE_RTT_FACTOR: f64 = 10.0;
/// Without a connect time to judge by (a reused connection), an expected size of at least this
/// many bytes (received, or the control's body length when the transfer was cut off) instead.
pub const THROTTLE_MIN_BYTES: u64 = 64 * 1024;
/// TCP's initial congestion window (RFC 6928: 10 segments of 1460 bytes).
pub const INITIAL_WINDOW: u64 = 10 * 1460;
/// A transfer cut off by the timeout was still going when its last bytes arrived this close to
/// the cut (samples come at least every 100 ms while bytes arrive); otherwise it had stalled.
pub const STALL_SECONDS: f64 = 1.0;

/// OONI's HTTP comparison keys; null when not computable.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HttpDiff {
    pub body_proportion: Option<f64>,
    pub body_length_match: Option<bool>,
    pub status_code_match: Option<bool>,
    /// OONI's: an uncommon header (outside `COMMON_HEADERS`) in both responses.
    pub headers_match: Option<bool>,
    /// vantage's: the same, the framing headers ignored too (`x_verdict` weighs this one).
    pub x_headers_match: Option<bool>,
    pub title_match: Option<bool>,
    /// One of the titles has no word of 5 bytes or more: OONI's `title_match` then compares
    /// empty sets, which says nothing.
    pub title_words_empty: bool,
}

impl HttpDiff {
    /// The comparison as `x_verdict` weighs it: a title without words is no title evidence,
    /// and shared framing headers are no header evidence.
    pub fn for_verdict(&self) -> HttpDiff {
        let mut d = self.clone();
        d.headers_match = d.x_headers_match;
        if d.title_words_empty {
            d.title_match = None;
        }
        d
    }

    /// OONI: `!(status_code_match && (body_length_match || headers_match || title_match))`.
    pub fn is_diff(&self) -> bool {
        !(self.status_code_match == Some(true)
            && (self.body_length_match == Some(true)
                || self.headers_match == Some(true)
                || self.title_match == Some(true)))
    }

    /// What agrees, for reasons ("body length, title").
    pub fn agreeing(&self) -> String {
        let mut parts = Vec::new();
        if self.body_length_match == Some(true) {
            parts.push("body length");
        }
        if self.headers_match == Some(true) {
            parts.push("uncommon headers");
        }
        if self.title_match == Some(true) {
            parts.push("title");
        }
        parts.join(", ")
    }
}

/// The comparison of the chain's final response with the control's, when both exist.
pub fn final_diff(ix: &Index<'_>) -> Option<HttpDiff> {
    let tx = ix.final_response()?;
    let control = ix.control.as_ref()?;
    Some(compare(tx.response.as_ref()?, &control.answer.http_request))
}

/// OONI's comparison of a final response with the control's.
pub fn compare(r: &HttpResponse, c: &ControlHttp) -> HttpDiff {
    let mut d = HttpDiff::default();
    if r.x_body_complete && r.x_body_length > 0 && c.body_length > 0 {
        let (p, t) = (r.x_body_length as f64, c.body_length as f64);
        let proportion = p.min(t) / p.max(t);
        d.body_proportion = Some(proportion);
        d.body_length_match = Some(proportion > 0.7);
    }
    if c.status_code > 0 {
        let code = i64::from(r.code);
        if code == c.status_code {
            d.status_code_match = Some(true);
        } else if c.status_code / 100 == 2 {
            d.status_code_match = Some(false);
        }
        let uncommon = |name: &str| {
            let n = name.to_ascii_lowercase();
            (!COMMON_HEADERS.contains(&n.as_str())).then_some(n)
        };
        // OONI reads the `headers` map of the response (the list has the same names).
        let ours: BTreeSet<String> = r
            .headers
            .headers
            .keys()
            .map(String::as_str)
            .chain(r.headers.headers_list.iter().map(|(k, _)| k.as_str()))
            .filter_map(uncommon)
            .collect();
        let shared: Vec<String> = c
            .headers
            .keys()
            .filter_map(|k| uncommon(k))
            .filter(|k| ours.contains(k))
            .collect();
        d.headers_match = Some(!shared.is_empty());
        d.x_headers_match = Some(
            shared
                .iter()
                .any(|k| !FRAMING_HEADERS.contains(&k.as_str())),
        );
        let words = |title: &str| -> BTreeSet<String> {
            title
                .split(' ')
                .filter(|w| w.len() >= 5)
                .map(|w| w.to_lowercase())
                .collect()
        };
        let (ours, theirs) = (words(r.x_title.as_deref().unwrap_or("")), words(&c.title));
        d.title_words_empty = ours.is_empty() || theirs.is_empty();
        // A title the control cut has lost words: not comparable. (Header values are never
        // compared, only names, so a cut value changes nothing there.)
        d.title_match = (!crate::control::was_cut(&c.title)).then_some(ours == theirs);
    }
    d
}

/// A response header's first value (name compared case-insensitively).
pub fn header<'r>(r: &'r HttpResponse, name: &str) -> Option<&'r str> {
    r.headers
        .headers_list
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
        .or_else(|| {
            r.headers
                .headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        })
}

/// The headers as a list (the ordered list, or the map when a record has only the map).
pub fn header_list(r: &HttpResponse) -> Vec<(String, String)> {
    if r.headers.headers_list.is_empty() {
        r.headers
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    } else {
        r.headers.headers_list.clone()
    }
}

/// A challenge the site's own CDN serves (a CAPTCHA, a bot check): a server-side difference,
/// not interference on the path.
pub fn server_side_challenge(r: &HttpResponse) -> Option<&'static str> {
    challenge(i64::from(r.code), |name| header(r, name))
}

/// The same for the control's response: a control that got a challenge has no page to
/// compare with.
pub fn control_challenge(c: &ControlHttp) -> Option<&'static str> {
    challenge(c.status_code, |name| {
        c.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    })
}

fn challenge<'h>(code: i64, header: impl Fn(&str) -> Option<&'h str>) -> Option<&'static str> {
    if header("cf-mitigated").is_some() {
        return Some("Cloudflare");
    }
    let cloudflare = header("server").is_some_and(|s| s.trim().eq_ignore_ascii_case("cloudflare"));
    if cloudflare && header("cf-ray").is_some() && matches!(code, 403 | 429 | 503) {
        return Some("Cloudflare");
    }
    None
}

/// How a response body arrived.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Transfer {
    pub bytes: u64,
    pub seconds: f64,
    /// Cut off by the step's timeout.
    pub cut: bool,
    /// Seconds between the last bytes and the end (the cut, or the last sample).
    pub idle: f64,
}

impl Transfer {
    pub fn rate(&self) -> f64 {
        self.bytes as f64 / self.seconds
    }

    /// A transfer cut off while its bytes were still arriving: slow, not stalled. (`transfer`
    /// makes one only when bytes arrived.)
    pub fn still_arriving(&self) -> bool {
        self.cut && self.idle <= STALL_SECONDS
    }
}

/// The body transfer of a round trip, from its samples (to the timeout when it was cut off).
pub fn transfer(tx: &HttpTransaction) -> Option<Transfer> {
    let r = tx.response.as_ref()?;
    let first = tx.x_transfer.first()?;
    let by_time = |a: &&TransferSample, b: &&TransferSample| {
        a.t.partial_cmp(&b.t).unwrap_or(std::cmp::Ordering::Equal)
    };
    let last = tx.x_transfer.iter().max_by(by_time)?;
    // The first sample that carried the final byte count: when the last bytes arrived.
    let last_bytes = tx
        .x_transfer
        .iter()
        .filter(|s| s.bytes >= last.bytes)
        .min_by(by_time)?;
    let cut = tx.failure == Some(Failure::Timeout);
    let end = if cut { last.t.max(tx.t) } else { last.t };
    let bytes = last.bytes.max(r.x_body_length).saturating_sub(first.bytes);
    let seconds = end - first.t;
    (seconds > 0.0 && bytes > 0).then_some(Transfer {
        bytes,
        seconds,
        cut,
        idle: end - last_bytes.t,
    })
}

/// Round trips TCP's slow start needs for `bytes` (the window doubling from `INITIAL_WINDOW`).
pub fn slow_start_rounds(bytes: u64) -> u32 {
    let mut rounds = 1;
    let mut sent = INITIAL_WINDOW;
    let mut window = INITIAL_WINDOW;
    while sent < bytes {
        window = window.saturating_mul(2);
        sent = sent.saturating_add(window);
        rounds += 1;
    }
    rounds
}

/// Whether the bytes kept coming: no pause between samples holds half the transfer's time (a
/// server that stops to think, then sends the rest at once, is not a path that trickles).
fn steady(tx: &HttpTransaction, t: &Transfer) -> bool {
    let mut times: Vec<f64> = tx.x_transfer.iter().map(|s| s.t).collect();
    times.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    let gap = times.windows(2).map(|w| w[1] - w[0]).fold(t.idle, f64::max);
    gap <= t.seconds / 2.0
}

/// Why the transfer of `tx` counts as throttled against the control's, if it does: a steady
/// rate below a tenth of the control's and below `THROTTLE_MAX_RATE`, over at least
/// `THROTTLE_MIN_SECONDS`, and `THROTTLE_RTT_FACTOR` times longer than slow start at the
/// connect's round trip `rtt` explains (without `rtt`, over an expected size of at least
/// `THROTTLE_MIN_BYTES`). A transfer cut off after it stalled is a timeout, not a slow transfer.
pub fn throttled(tx: &HttpTransaction, c: &ControlHttp, rtt: Option<f64>) -> Option<String> {
    // A zero or negative control rate judges nothing below: no rate is under a tenth of it.
    let control_rate = c.x_transfer_rate.filter(|r| r.is_finite())?;
    let t = transfer(tx)?;
    if t.cut && !t.still_arriving() {
        return None;
    }
    let r = tx.response.as_ref()?;
    let expected = if r.x_body_complete {
        r.x_body_length
    } else {
        r.x_body_length
            .max(u64::try_from(c.body_length).unwrap_or(0))
    };
    let rate = t.rate();
    if t.seconds < THROTTLE_MIN_SECONDS
        || rate >= control_rate / THROTTLE_RATIO
        || rate >= THROTTLE_MAX_RATE
        || !steady(tx, &t)
    {
        return None;
    }
    let rtt = rtt.filter(|r| r.is_finite() && *r > 0.0);
    let against = match rtt {
        Some(rtt) => {
            let rounds = slow_start_rounds(t.bytes);
            let explained = f64::from(rounds) * rtt;
            if t.seconds < THROTTLE_RTT_FACTOR * explained {
                return None;
            }
            format!(
                "; a {rtt:.3} s round trip explains about {explained:.2} s for {} bytes ({rounds} round trip{} of TCP slow start)",
                t.bytes,
                if rounds == 1 { "" } else { "s" }
            )
        }
        None if expected < THROTTLE_MIN_BYTES => return None,
        None => String::new(),
    };
    Some(format!(
        "The body of {} arrived at {:.0} bytes/s ({} bytes in {:.1} s{}) where the control's arrived at {:.0} bytes/s{against}.",
        tx.request.url,
        rate,
        t.bytes,
        t.seconds,
        if t.cut {
            format!(" of {expected} expected, cut off by the timeout while still arriving")
        } else {
            String::new()
        },
        control_rate
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_challenge_is_cloudflare_s_own_refusal_and_nothing_else() {
        let ctl = |code: i64, headers: &[(&str, &str)]| ControlHttp {
            status_code: code,
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Default::default()
        };
        let cf = [("Server", "cloudflare"), ("CF-RAY", "8a1b2c3d4e5f-FRA")];
        for code in [403, 429, 503] {
            assert_eq!(
                control_challenge(&ctl(code, &cf)),
                Some("Cloudflare"),
                "{code}"
            );
        }
        // A page Cloudflare serves normally, a refusal without Cloudflare's ray, and a ray
        // behind another server are no challenge; `cf-mitigated` always is.
        assert_eq!(control_challenge(&ctl(200, &cf)), None);
        assert_eq!(control_challenge(&ctl(403, &cf[..1])), None);
        assert_eq!(
            control_challenge(&ctl(403, &[("Server", "nginx"), cf[1]])),
            None
        );
        assert_eq!(
            control_challenge(&ctl(200, &[("cf-mitigated", "challenge")])),
            Some("Cloudflare")
        );
    }
}
