//! The probe's own addresses never reach a record. A site that echoes the client address, a
//! DNS "whoami" answer, a redirect or a block page that carries it would otherwise publish the
//! vantage point with its data. As OONI does, every occurrence becomes `[scrubbed]` (and
//! `probe_ip` stays `127.0.0.1`); unlike OONI's plain substring replacement, addresses are
//! found in every spelling (see `text`) and inside raw bytes too:
//!
//! - every string of the record: bodies, titles, header names and values, URLs, verdict
//!   reasons, failures, DNS answers, the control's answer;
//! - base64 bodies are decoded, scrubbed like text and re-encoded; a body cut at the body cap
//!   that ends with the start of an address loses that start too; a body that changed gets
//!   `x_body_sha256: "[scrubbed]"` (a hash of a page that held the address would let anyone
//!   recover it by trying every address);
//! - other base64 bytes (raw DNS responses, certificates) must keep their length to stay
//!   decodable: a binary address (4 or 16 bytes, anywhere, so also inside an IPv4-mapped,
//!   6to4 or NAT64 address) becomes `192.0.2.0` or `2001:db8::` (documentation ranges, RFC 5737
//!   and RFC 3849: never on the wire), a written one is masked in place (`1.2.3.4` becomes
//!   `x.x.x.x`).
//!
//! `input` is left as listed (it is the researcher's choice and the key resume works by).

mod local;
mod text;

use std::borrow::Cow;
use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use base64::Engine as _;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::record::Record;

pub use local::{identifies_vantage, interface_addrs, ProbeAddrs};

/// What an address written in text becomes (OONI's marker).
pub const SCRUBBED: &str = "[scrubbed]";
/// What a binary IPv4 address in raw bytes becomes.
pub const SCRUBBED_V4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 0);
/// What a binary IPv6 address in raw bytes becomes.
pub const SCRUBBED_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0);

/// Replaces a set of addresses wherever a record holds them.
#[derive(Clone, Debug, Default)]
pub struct Scrubber {
    /// IPv4-mapped addresses are kept as IPv4.
    addrs: HashSet<IpAddr>,
    /// Lowercase spellings, for a body cut mid-address.
    spellings: Vec<String>,
    /// First octets of the IPv4 addresses and first groups of every IPv6 spelling of them.
    v4_first: Vec<u8>,
    v6_first: Vec<u16>,
    /// Last groups of the IPv6 addresses and of IPv4-mapped, NAT64 and Teredo spellings.
    v6_last: Vec<u16>,
}

/// An IPv4-mapped IPv6 address as its IPv4 address.
fn normal(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The IPv4 address a 6to4 (2002::/16) or Teredo (2001::/32, the client's, inverted) address
/// carries: it is the host's public IPv4 address.
fn tunnelled_v4(v6: Ipv6Addr) -> Option<Ipv4Addr> {
    let o = v6.octets();
    match v6.segments() {
        [0x2002, ..] => Some(Ipv4Addr::new(o[2], o[3], o[4], o[5])),
        [0x2001, 0, ..] => Some(Ipv4Addr::new(!o[12], !o[13], !o[14], !o[15])),
        _ => None,
    }
}

/// The IPv4 address a NAT64 (64:ff9b::/96) address translates to.
fn nat64_v4(v6: Ipv6Addr) -> Option<Ipv4Addr> {
    let o = v6.octets();
    (v6.segments()[..6] == [0x64, 0xff9b, 0, 0, 0, 0])
        .then(|| Ipv4Addr::new(o[12], o[13], o[14], o[15]))
}

impl Scrubber {
    pub fn new(addrs: impl IntoIterator<Item = IpAddr>) -> Scrubber {
        let mut s = Scrubber::default();
        for ip in addrs {
            s.add(ip);
        }
        s
    }

    /// Scrubs `ip` too (and the public IPv4 address a 6to4 or Teredo address carries).
    pub fn add(&mut self, ip: IpAddr) {
        let ip = normal(ip);
        if !self.addrs.insert(ip) {
            return;
        }
        match ip {
            IpAddr::V4(v4) => {
                self.spellings.push(v4.to_string());
                self.spellings.push(format!("::ffff:{v4}"));
                let [a, _, c, d] = v4.octets();
                self.v4_first.push(a);
                // `::ffff:a.b.c.d` (0), NAT64, 6to4 and Teredo.
                self.v6_first.extend([0, 0x64, 0x2002, 0x2001]);
                let low = u16::from_be_bytes([c, d]);
                self.v6_last.extend([low, !low]);
            }
            IpAddr::V6(v6) => {
                self.spellings.push(v6.to_string());
                self.v6_first.push(v6.segments()[0]);
                self.v6_last.push(v6.segments()[7]);
                let full: Vec<String> = v6.segments().iter().map(|g| format!("{g:04x}")).collect();
                self.spellings.push(full.join(":"));
                if let Some(v4) = tunnelled_v4(v6) {
                    self.add(IpAddr::V4(v4));
                }
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.addrs.is_empty()
    }

    /// The addresses scrubbed (IPv4-mapped ones as IPv4).
    pub fn addrs(&self) -> impl Iterator<Item = IpAddr> + '_ {
        self.addrs.iter().copied()
    }

    /// `ip` is one of ours, in any form (IPv4-mapped, NAT64, 6to4, Teredo).
    fn is_ours(&self, ip: IpAddr) -> bool {
        let ip = normal(ip);
        if self.addrs.contains(&ip) {
            return true;
        }
        match ip {
            IpAddr::V6(v6) => tunnelled_v4(v6)
                .or_else(|| nat64_v4(v6))
                .is_some_and(|v4| self.addrs.contains(&IpAddr::V4(v4))),
            IpAddr::V4(_) => false,
        }
    }

    /// `text` with each written address of ours replaced by `[scrubbed]`.
    pub fn text<'a>(&self, text: &'a str) -> Cow<'a, str> {
        match self.text_bytes(text.as_bytes(), false) {
            // Spans are ASCII, so cutting them out keeps the text UTF-8.
            Some(b) => Cow::Owned(String::from_utf8(b).expect("spans are ASCII")),
            None => Cow::Borrowed(text),
        }
    }

    /// Scrubbed text, or `None` when it holds none of ours. `cut`: the text was cut short, so a
    /// trailing start of an address is scrubbed too.
    fn text_bytes(&self, text: &[u8], cut: bool) -> Option<Vec<u8>> {
        if self.is_empty() || !text::may_hold(text) {
            return None;
        }
        let mut spans = text::spans(text, self);
        if cut {
            spans.extend(text::cut_tail(text, &self.spellings));
            spans = text::merge(spans);
        }
        (!spans.is_empty()).then(|| text::replace(text, &spans, |_| SCRUBBED.as_bytes().to_vec()))
    }

    /// Scrubs raw bytes in place, keeping their length: binary addresses become `SCRUBBED_V4`
    /// or `SCRUBBED_V6`, written ones are masked (`x.x.x.x`). True when anything changed.
    pub fn raw(&self, bytes: &mut [u8]) -> bool {
        let mut changed = false;
        for ip in &self.addrs {
            changed |= match ip {
                IpAddr::V4(v4) => replace_all(bytes, &v4.octets(), &SCRUBBED_V4.octets()),
                IpAddr::V6(v6) => replace_all(bytes, &v6.octets(), &SCRUBBED_V6.octets()),
            };
        }
        if !text::may_hold(bytes) {
            return changed;
        }
        for span in text::spans(bytes, self) {
            for b in &mut bytes[span] {
                if b.is_ascii_alphanumeric() {
                    *b = b'x';
                }
            }
            changed = true;
        }
        changed
    }

    /// Scrubs a JSON value in place (see the module doc). True when anything changed.
    pub fn value(&self, v: &mut Value) -> bool {
        !self.is_empty() && self.walk(v, None)
    }

    /// Scrubs a whole record (all but `input` and the fixed `probe_ip`).
    pub fn record(&self, r: &mut Record) {
        if self.is_empty() {
            return;
        }
        self.typed(&mut r.test_keys.observations);
        self.typed(&mut r.test_keys.analysis);
        let values = [
            r.test_keys.control.as_mut(),
            r.test_keys.x_control_request.as_mut(),
            r.test_helpers.as_mut(),
        ];
        for v in values.into_iter().flatten() {
            self.value(v);
        }
        let strings = [
            r.test_keys.control_failure.as_mut(),
            Some(&mut r.test_keys.client_resolver),
            Some(&mut r.resolver_ip),
        ];
        for s in strings
            .into_iter()
            .flatten()
            .chain(r.annotations.values_mut())
        {
            if let Cow::Owned(n) = self.text(s) {
                *s = n;
            }
        }
    }

    /// Scrubs a typed part of a record through its JSON form (every field, present or future).
    fn typed<T: Serialize + DeserializeOwned>(&self, part: &mut T) {
        let mut v = serde_json::to_value(&*part).expect("record parts serialize");
        if self.walk(&mut v, None) {
            // Only string contents and map keys changed, so the shape still deserializes.
            *part = serde_json::from_value(v).expect("scrubbing keeps the shape");
        }
    }

    /// `body`: this value is a body (`Some(cut)`), whose base64 form is scrubbed as text.
    fn walk(&self, v: &mut Value, body: Option<bool>) -> bool {
        match v {
            Value::String(s) => match self.text_bytes(s.as_bytes(), body.unwrap_or(false)) {
                Some(b) => {
                    *s = String::from_utf8(b).expect("spans are ASCII");
                    true
                }
                None => false,
            },
            Value::Array(items) => items
                .iter_mut()
                .fold(false, |changed, x| self.walk(x, None) | changed),
            Value::Object(map) => match self.blob(map, body) {
                Some(changed) => changed,
                None => self.object(map),
            },
            _ => false,
        }
    }

    fn object(&self, map: &mut Map<String, Value>) -> bool {
        let cut = map.get("body_is_truncated") == Some(&Value::Bool(true));
        let (mut changed, mut body_changed) = (false, false);
        for (k, v) in map.iter_mut() {
            let c = match v {
                // df-002's raw DNS bytes: a plain base64 string, scrubbed as raw bytes.
                Value::String(s) if k == "raw_response" => self.raw_base64(s),
                _ => self.walk(v, (k == "body").then_some(cut)),
            };
            body_changed |= c && k == "body";
            changed |= c;
        }
        if body_changed {
            if let Some(h @ Value::String(_)) = map.get_mut("x_body_sha256") {
                *h = SCRUBBED.into();
            }
        }
        if map
            .keys()
            .any(|k| self.text_bytes(k.as_bytes(), false).is_some())
        {
            let old = std::mem::take(map);
            *map = old
                .into_iter()
                .map(|(k, v)| (self.text(&k).into_owned(), v))
                .collect();
            changed = true;
        }
        changed
    }

    /// A plain base64 string of raw bytes (`raw_response`), scrubbed in place keeping its
    /// length; a string that is not base64 is scrubbed as text. True when anything changed.
    fn raw_base64(&self, text: &mut String) -> bool {
        let b64 = base64::engine::general_purpose::STANDARD;
        let Ok(mut bytes) = b64.decode(text.as_bytes()) else {
            let mut v = Value::String(std::mem::take(text));
            let changed = self.walk(&mut v, None);
            *text = v.as_str().unwrap_or_default().to_string();
            return changed;
        };
        let changed = self.raw(&mut bytes);
        if changed {
            *text = b64.encode(bytes);
        }
        changed
    }

    /// A base64 blob (`{"format":"base64","data":...}`): `Some(changed)`; `None` for any other
    /// object.
    fn blob(&self, map: &mut Map<String, Value>, body: Option<bool>) -> Option<bool> {
        if map.len() != 2 || map.get("format")?.as_str()? != "base64" {
            return None;
        }
        let data = map.get_mut("data")?;
        let Value::String(text) = data else {
            return None;
        };
        let b64 = base64::engine::general_purpose::STANDARD;
        let Ok(mut bytes) = b64.decode(text.as_bytes()) else {
            return Some(self.walk(data, None)); // not base64 after all: text
        };
        let scrubbed = match body {
            Some(cut) => self.text_bytes(&bytes, cut),
            None => self.raw(&mut bytes).then_some(bytes),
        };
        let changed = scrubbed.is_some();
        if let Some(bytes) = scrubbed {
            *text = b64.encode(bytes);
        }
        Some(changed)
    }
}

impl text::Wanted for Scrubber {
    fn ours(&self, ip: IpAddr) -> bool {
        self.is_ours(ip)
    }

    fn v4_start(&self, octet: u8) -> bool {
        self.v4_first.contains(&octet)
    }

    fn v6_start(&self, group: u16) -> bool {
        self.v6_first.contains(&group)
    }

    fn v6_end(&self, first: u16, last: u16) -> bool {
        // A 6to4 address ends with any host part.
        (first == 0x2002 && !self.v4_first.is_empty()) || self.v6_last.contains(&last)
    }
}

/// Replaces every occurrence of `from` in `bytes` with `to` (same length). True when any.
fn replace_all(bytes: &mut [u8], from: &[u8], to: &[u8]) -> bool {
    let mut found = false;
    let mut i = 0;
    while i + from.len() <= bytes.len() {
        if &bytes[i..i + from.len()] == from {
            bytes[i..i + from.len()].copy_from_slice(to);
            found = true;
            i += from.len();
        } else {
            i += 1;
        }
    }
    found
}

#[cfg(test)]
mod tests;
