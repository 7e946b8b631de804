//! Finding written addresses in bytes. Text is cut into runs of `[0-9A-Fa-f:.]` (after
//! percent-decoding, so `%3A` is a colon and `%5B` a boundary); inside a run, every stretch
//! that starts at the run's start or just after a `.`/`:` and ends at the run's end or just
//! before one is parsed as an address. So `1.2.3.4` is found in `1.2.3.4:443`, `ip:1.2.3.4`,
//! `1.2.3.4.` and `1.2.3.4.nip.example`, never inside `11.2.3.45`; IPv6 is found in every
//! spelling the parser takes (compressed or not, any case, leading zeros, a dotted IPv4 tail).
//! Host names' dashed IPv4 form (`ec2-1-2-3-4`) is found too.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::ops::Range;

/// The longest spelling of an address: `0000:0000:0000:0000:0000:ffff:255.255.255.255`.
const MAX_SPELLING: usize = 45;

/// What the matcher looks for.
pub(super) trait Wanted {
    /// `ip` is one of the addresses looked for.
    fn ours(&self, ip: IpAddr) -> bool;
    /// An IPv4 spelling of one may begin with this octet.
    fn v4_start(&self, octet: u8) -> bool;
    /// An IPv6 spelling of one may begin with this group (0 also stands for a leading `::`).
    fn v6_start(&self, group: u16) -> bool;
    /// An IPv6 spelling of one beginning with group `first` may end with group `last` (0 also
    /// stands for a trailing `::`).
    fn v6_end(&self, first: u16, last: u16) -> bool;
}

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
    text.iter().any(|&b| matches!(b, b'.' | b':' | b'%' | b'-'))
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

/// Byte spans of `text` where a wanted address is written, sorted and merged (an
/// IPv4-mapped spelling and its dotted tail make one span).
pub(super) fn spans(text: &[u8], want: &dyn Wanted) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    runs(text, |run| in_run_spans(run, want, &mut out));
    if text.contains(&b'-') {
        dashed_spans(text, want, &mut out);
    }
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

fn in_run_spans(run: &[Ch], want: &dyn Wanted, out: &mut Vec<Range<usize>>) {
    if run.iter().filter(|ch| is_sep(ch.c)).take(2).count() < 2 {
        return; // an address has at least three dots or two colons
    }
    let chars: Vec<u8> = run.iter().map(|ch| ch.c).collect();
    for s in starts(&chars) {
        // What the stretches from here may be, judged by their first component.
        let first = &chars[s..chars.len().min(s + 5)];
        let first = &first[..first.iter().position(|c| is_sep(*c)).unwrap_or(first.len())];
        let v4 = octet(first).is_some_and(|o| want.v4_start(o));
        let group = hex_group(first).filter(|_| first.len() <= 4);
        let v6 = group.is_some_and(|g| want.v6_start(g));
        if !v4 && !v6 {
            continue;
        }
        let group = group.unwrap_or(0);
        // Stretches end just before a separator or at the run's end; the separators inside
        // are counted on the way, so only stretches shaped like an address are parsed.
        let (mut dots, mut colons, mut last) = (0, 0, s);
        for e in s + 1..=chars.len().min(s + MAX_SPELLING) {
            let sep = chars.get(e).copied().filter(|c| is_sep(*c));
            if sep.is_none() && e < chars.len() {
                continue;
            }
            let v6_shaped = || match dots {
                0 => hex_group(&chars[last..e]).is_some_and(|g| want.v6_end(group, g)),
                3 => true,
                _ => false,
            };
            let shaped = (v4 && colons == 0 && dots == 3) || (v6 && colons >= 2 && v6_shaped());
            if shaped && parse(&chars[s..e]).is_some_and(|ip| want.ours(ip)) {
                out.push(run[s].start..run[e - 1].end);
            }
            last = e + 1;
            match sep {
                Some(b'.') => dots += 1,
                _ => colons += 1,
            }
            if dots > 3 || colons > 8 || (!v6 && colons > 0) {
                break;
            }
        }
    }
}

/// A decimal octet of 1 to 3 digits (leading zeros allowed).
fn octet(part: &[u8]) -> Option<u8> {
    if part.is_empty() || part.len() > 3 || !part.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let v = part.iter().fold(0u32, |v, d| v * 10 + u32::from(d - b'0'));
    u8::try_from(v).ok()
}

/// A hex group of up to 4 digits; empty (a leading `::`) is 0.
fn hex_group(part: &[u8]) -> Option<u16> {
    part.iter().try_fold(0u16, |g, c| {
        let d = (*c as char).to_digit(16)?;
        Some(g.checked_mul(16)? | d as u16)
    })
}

/// The dashed IPv4 spelling of host names (`ec2-1-2-3-4`, `ip-1-2-3-4.isp.example`): four
/// dash-separated numbers in a run of digits and dashes.
fn dashed_spans(text: &[u8], want: &dyn Wanted, out: &mut Vec<Range<usize>>) {
    let mut i = 0;
    while i < text.len() {
        if !text[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let start = i;
        let mut dashes = 0;
        while i < text.len() && (text[i].is_ascii_digit() || text[i] == b'-') {
            dashes += usize::from(text[i] == b'-');
            i += 1;
        }
        if dashes < 3 {
            continue;
        }
        // Components and where each is, in the run text[start..i].
        let mut parts: Vec<Range<usize>> = Vec::new();
        let mut at = start;
        for piece in text[start..i].split(|c| *c == b'-') {
            parts.push(at..at + piece.len());
            at += piece.len() + 1;
        }
        for w in parts.windows(4) {
            let Some(o0) = octet(&text[w[0].clone()]).filter(|o| want.v4_start(*o)) else {
                continue;
            };
            let rest: Option<Vec<u8>> = w[1..].iter().map(|r| octet(&text[r.clone()])).collect();
            if let Some([o1, o2, o3]) = rest.as_deref() {
                if want.ours(IpAddr::V4(Ipv4Addr::new(o0, *o1, *o2, *o3))) {
                    out.push(w[0].start..w[3].end);
                }
            }
        }
    }
}

/// `text` ends with the start of one of `spellings` (a body cut mid-address): the span of
/// that start, when it holds a separator at least (`1.2.` of `1.2.3.4`; `1` alone tells nothing).
pub(super) fn cut_tail(text: &[u8], spellings: &[String]) -> Option<Range<usize>> {
    // The last MAX_SPELLING decoded characters take at most three bytes each.
    let from = text.len().saturating_sub(3 * MAX_SPELLING);
    let mut last: Option<Vec<Ch>> = None;
    runs(&text[from..], |run| last = Some(run.to_vec()));
    let run = last?;
    if run.last()?.end != text.len() - from {
        return None;
    }
    // A run that began before the window has no known start.
    let whole = from == 0 || run[0].start > 0;
    let chars: Vec<u8> = run.iter().map(|ch| ch.c.to_ascii_lowercase()).collect();
    let tail = starts(&chars)
        .filter(|&s| s > 0 || whole)
        .filter(|&s| chars.len() - s < MAX_SPELLING && chars[s..].iter().any(|c| is_sep(*c)))
        .find(|&s| {
            spellings
                .iter()
                .any(|sp| sp.len() > chars.len() - s && sp.as_bytes().starts_with(&chars[s..]))
        })
        .map(|s| from + run[s].start..text.len());
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
