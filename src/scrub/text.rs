//! Finding written addresses in bytes. Text is cut into runs of `[0-9A-Fa-f:.]` (after
//! percent-decoding, so `%3A` is a colon and `%5B` a boundary); inside a run, every stretch
//! that starts at the run's start or just after a `.`/`:` and ends at the run's end or just
//! before one is parsed as an address. So `1.2.3.4` is found in `1.2.3.4:443`, `ip:1.2.3.4`,
//! `1.2.3.4.` and `1.2.3.4.nip.example`, never inside `11.2.3.45`; IPv6 is found in every
//! spelling the parser takes (compressed or not, any case, leading zeros, a dotted IPv4 tail).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::ops::Range;

/// The longest spelling of an address: `0000:0000:0000:0000:0000:ffff:255.255.255.255`.
const MAX_SPELLING: usize = 45;

/// One character of the percent-decoded view and the bytes it came from.
#[derive(Clone, Copy)]
struct Ch {
    c: u8,
    start: usize,
    end: usize,
}

fn in_run(c: u8) -> bool {
    c.is_ascii_hexdigit() || c == b':' || c == b'.'
}

fn is_sep(c: u8) -> bool {
    c == b':' || c == b'.'
}

/// True when `text` may hold a written address at all (the cheap test before the scan).
pub(super) fn may_hold(text: &[u8]) -> bool {
    text.iter().any(|&b| b == b'.' || b == b':' || b == b'%')
}

/// The decoded character at `i` and how many bytes it takes (3 for `%XX`).
fn decoded(text: &[u8], i: usize) -> (u8, usize) {
    if text[i] == b'%' && i + 2 < text.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if let (Some(h), Some(l)) = (hex(text[i + 1]), hex(text[i + 2])) {
            return ((h * 16 + l) as u8, 3);
        }
    }
    (text[i], 1)
}

/// The runs of `text` as decoded characters, each handed to `f`.
fn runs(text: &[u8], mut f: impl FnMut(&[Ch])) {
    let mut run: Vec<Ch> = Vec::new();
    let mut i = 0;
    while i < text.len() {
        let (c, len) = decoded(text, i);
        if in_run(c) {
            run.push(Ch {
                c,
                start: i,
                end: i + len,
            });
        } else if !run.is_empty() {
            f(&run);
            run.clear();
        }
        i += len;
    }
    if !run.is_empty() {
        f(&run);
    }
}

/// Byte spans of `text` where an address for which `ours` holds is written, sorted and
/// merged (an IPv4-mapped spelling and its dotted tail make one span).
pub(super) fn spans(text: &[u8], ours: &dyn Fn(IpAddr) -> bool) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    runs(text, |run| in_run_spans(run, ours, &mut out));
    merge(out)
}

/// Where a stretch of the run may start: the run's start and just after each separator.
fn starts(chars: &[u8]) -> impl Iterator<Item = usize> + '_ {
    std::iter::once(0).chain(
        chars
            .iter()
            .enumerate()
            .filter(|(i, c)| is_sep(**c) && i + 1 < chars.len())
            .map(|(i, _)| i + 1),
    )
}

fn in_run_spans(run: &[Ch], ours: &dyn Fn(IpAddr) -> bool, out: &mut Vec<Range<usize>>) {
    let chars: Vec<u8> = run.iter().map(|ch| ch.c).collect();
    let seps = chars.iter().filter(|c| is_sep(**c)).count();
    if seps < 2 {
        return; // an address has at least three dots or two colons
    }
    for s in starts(&chars) {
        let limit = chars.len().min(s + MAX_SPELLING);
        // Stretches end just before a separator or at the run's end.
        let ends = (s + 1..limit)
            .filter(|&e| is_sep(chars[e]))
            .chain((limit == chars.len()).then_some(limit));
        for e in ends {
            if let Some(ip) = parse(&chars[s..e]) {
                if ours(ip) {
                    out.push(run[s].start..run[e - 1].end);
                }
            }
        }
    }
}

/// `text` ends with the start of one of `spellings` (a body cut mid-address): the span of
/// that start, when it holds a separator at least (`1.2.` of `1.2.3.4`; `1` alone tells nothing).
pub(super) fn cut_tail(text: &[u8], spellings: &[String]) -> Option<Range<usize>> {
    let mut last: Option<Vec<Ch>> = None;
    runs(text, |run| last = Some(run.to_vec()));
    let run = last?;
    if run.last()?.end != text.len() {
        return None;
    }
    let chars: Vec<u8> = run.iter().map(|ch| ch.c.to_ascii_lowercase()).collect();
    let tail = starts(&chars)
        .filter(|&s| chars.len() - s < MAX_SPELLING && chars[s..].iter().any(|c| is_sep(*c)))
        .find(|&s| {
            spellings
                .iter()
                .any(|sp| sp.len() > chars.len() - s && sp.as_bytes().starts_with(&chars[s..]))
        })
        .map(|s| run[s].start..text.len());
    tail
}

/// An address written as `chars`: IPv4 dotted quad (leading zeros allowed) or any IPv6
/// spelling.
fn parse(chars: &[u8]) -> Option<IpAddr> {
    if chars.len() < 2 {
        return None;
    }
    if chars.contains(&b':') {
        let s = std::str::from_utf8(chars).ok()?;
        return s.parse::<Ipv6Addr>().ok().map(IpAddr::V6);
    }
    parse_v4(chars).map(IpAddr::V4)
}

fn parse_v4(chars: &[u8]) -> Option<Ipv4Addr> {
    let mut octets = [0u8; 4];
    let mut parts = chars.split(|c| *c == b'.');
    for o in &mut octets {
        let part = parts.next()?;
        if part.is_empty() || part.len() > 3 || !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let v = part.iter().fold(0u32, |v, d| v * 10 + u32::from(d - b'0'));
        *o = u8::try_from(v).ok()?;
    }
    parts.next().is_none().then_some(Ipv4Addr::from(octets))
}

pub(super) fn merge(mut spans: Vec<Range<usize>>) -> Vec<Range<usize>> {
    spans.sort_by_key(|r| (r.start, std::cmp::Reverse(r.end)));
    let mut out: Vec<Range<usize>> = Vec::with_capacity(spans.len());
    for r in spans {
        match out.last_mut() {
            Some(last) if r.start < last.end => last.end = last.end.max(r.end),
            _ => out.push(r),
        }
    }
    out
}

/// `text` with each span replaced by `with(span bytes)`.
pub(super) fn replace(
    text: &[u8],
    spans: &[Range<usize>],
    with: impl Fn(&[u8]) -> Vec<u8>,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() + spans.len() * 4);
    let mut at = 0;
    for r in spans {
        out.extend_from_slice(&text[at..r.start]);
        out.extend(with(&text[r.clone()]));
        at = r.end;
    }
    out.extend_from_slice(&text[at..]);
    out
}
