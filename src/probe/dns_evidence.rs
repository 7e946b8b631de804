//! What one DNS lookup keeps of what arrives. A datagram is matched to our queries (id, then
//! source and question) before any budget applies, so junk never crowds out the real answer;
//! then it is stored within the budgets of [`crate::budget`]: entries per lookup (fewer for
//! wrong-id datagrams), answers per entry, raw bytes per entry, JSON bytes per lookup and per
//! measurement. The answer a query uses (and a TCP answer) is always stored. Everything beyond a
//! budget is counted in the lookup's [`DnsTruncated`] summary, never stored and never lost
//! silently.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use hickory_proto::op::{Header, Message};
use hickory_proto::rr::RData;
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder};

use crate::budget::{
    json_len, DnsBudget, DNS_ANSWERS_PER_ENTRY, DNS_BYTES_PER_ENTRY, DNS_BYTES_PER_LOOKUP,
    DNS_ENTRIES_PER_LOOKUP, DNS_HOSTNAME_CHARS, DNS_RAW_BYTES_PER_ENTRY,
    DNS_WRONG_ID_ENTRIES_PER_LOOKUP,
};
use crate::observation::{DnsAnswer, DnsQuery, DnsTruncated};

/// Datagrams up to this size are decoded whole (EDNS included); larger ones only up to the
/// answer cap, so a 64 KiB datagram of 4,000 answers costs no more than a normal one.
const DECODE_WHOLE_UP_TO: usize = 4096;

/// A datagram decoded with at most [`DNS_ANSWERS_PER_ENTRY`] answers.
pub(crate) struct Decoded {
    pub msg: Message,
    /// Answers in the datagram beyond the cap.
    pub answers_dropped: u64,
    /// The A and AAAA addresses of every answer in the datagram, the ones beyond the cap
    /// included: what a query yields never depends on what the record stores.
    pub addrs: Vec<IpAddr>,
}

fn address(data: &RData) -> Option<IpAddr> {
    match data {
        RData::A(a) => Some(IpAddr::V4(a.0)),
        RData::AAAA(a) => Some(IpAddr::V6(a.0)),
        _ => None,
    }
}

/// The A/AAAA addresses of `count` resource records starting at `at`, read without decoding
/// them (names skipped, compressed or not); stops at the first malformed record.
fn scan_addresses(bytes: &[u8], mut at: usize, count: usize) -> Vec<IpAddr> {
    let mut out = Vec::new();
    for _ in 0..count {
        loop {
            let Some(&len) = bytes.get(at) else {
                return out;
            };
            match len & 0xC0 {
                0 if len == 0 => {
                    at += 1;
                    break;
                }
                0 => at += 1 + len as usize,
                0xC0 => {
                    at += 2;
                    break;
                }
                _ => return out,
            }
        }
        let Some(fixed) = bytes.get(at..at + 10) else {
            return out;
        };
        let rtype = u16::from_be_bytes([fixed[0], fixed[1]]);
        let rdlen = u16::from_be_bytes([fixed[8], fixed[9]]) as usize;
        at += 10;
        let Some(rdata) = bytes.get(at..at + rdlen) else {
            return out;
        };
        match (rtype, rdlen) {
            (1, 4) => out.push(IpAddr::V4(Ipv4Addr::new(
                rdata[0], rdata[1], rdata[2], rdata[3],
            ))),
            (28, 16) => {
                let octets: [u8; 16] = rdata.try_into().expect("16 bytes");
                out.push(IpAddr::V6(Ipv6Addr::from(octets)));
            }
            _ => {}
        }
        at += rdlen;
    }
    out
}

/// Decodes the header, the question and the first answers of `bytes`.
pub(crate) fn decode(bytes: &[u8]) -> Result<Decoded, String> {
    if bytes.len() <= DECODE_WHOLE_UP_TO {
        let mut msg = Message::from_vec(bytes).map_err(|e| e.to_string())?;
        let addrs = msg
            .answers
            .iter()
            .filter_map(|r| address(&r.data))
            .collect();
        let dropped = msg.answers.len().saturating_sub(DNS_ANSWERS_PER_ENTRY);
        msg.answers.truncate(DNS_ANSWERS_PER_ENTRY);
        return Ok(Decoded {
            msg,
            answers_dropped: dropped as u64,
            addrs,
        });
    }
    let mut d = BinDecoder::new(bytes);
    let Header { metadata, counts } = Header::read(&mut d).map_err(|e| e.to_string())?;
    let queries =
        Message::read_queries(&mut d, counts.queries as usize).map_err(|e| e.to_string())?;
    let take = (counts.answers as usize).min(DNS_ANSWERS_PER_ENTRY);
    let (answers, _, _) =
        Message::read_records(&mut d, take, false, metadata.op_code).map_err(|e| e.to_string())?;
    let rest = counts.answers as usize - take;
    let mut addrs: Vec<IpAddr> = answers.iter().filter_map(|r| address(&r.data)).collect();
    addrs.extend(scan_addresses(bytes, d.index(), rest));
    let mut msg = Message::new(metadata.id, metadata.message_type, metadata.op_code);
    msg.metadata = metadata;
    msg.queries = queries;
    msg.answers = answers;
    Ok(Decoded {
        msg,
        answers_dropped: rest as u64,
        addrs,
    })
}

/// The first [`DNS_RAW_BYTES_PER_ENTRY`] bytes as `raw_response`, and how many were left out.
pub(crate) fn raw(bytes: &[u8]) -> (String, u64) {
    let kept = bytes.len().min(DNS_RAW_BYTES_PER_ENTRY);
    (
        crate::observation::base64_string(&bytes[..kept]),
        (bytes.len() - kept) as u64,
    )
}

/// Bounds `entry`'s JSON to [`DNS_BYTES_PER_ENTRY`]: hostnames cut to [`DNS_HOSTNAME_CHARS`],
/// then A/AAAA answers put first and answers dropped from the end (counted in
/// `x_answers_dropped`) until it fits.
pub(crate) fn fit_entry(entry: &mut DnsQuery) {
    for a in &mut entry.answers {
        if let Some(h) = a.hostname.as_mut() {
            if let Some((cut, _)) = h.char_indices().nth(DNS_HOSTNAME_CHARS) {
                h.truncate(cut);
                h.push('…');
            }
        }
    }
    let size = json_len(entry);
    if size <= DNS_BYTES_PER_ENTRY {
        return;
    }
    let is_address = |a: &DnsAnswer| a.ipv4.is_some() || a.ipv6.is_some();
    entry.answers.sort_by_key(|a| !is_address(a));
    let mut over = size - DNS_BYTES_PER_ENTRY;
    while over > 0 {
        let Some(last) = entry.answers.pop() else {
            break;
        };
        // An answer's JSON and its comma.
        over = over.saturating_sub(json_len(&last) + 1);
        entry.x_answers_dropped += 1;
    }
    // The count's own key appears once something is dropped: drop more while it does not fit.
    while json_len(entry) > DNS_BYTES_PER_ENTRY && entry.answers.pop().is_some() {
        entry.x_answers_dropped += 1;
    }
}

/// The entries one lookup stores, and the count of what it did not.
pub(crate) struct Evidence {
    measurement: DnsBudget,
    entries: Vec<DnsQuery>,
    bytes: usize,
    wrong_id: usize,
    summary: DnsTruncated,
}

impl Evidence {
    pub fn new(hostname: &str, transaction_id: u64, measurement: DnsBudget) -> Evidence {
        Evidence {
            measurement,
            entries: Vec::new(),
            bytes: 0,
            wrong_id: 0,
            summary: DnsTruncated {
                hostname: hostname.to_string(),
                transaction_id,
                ..DnsTruncated::default()
            },
        }
    }

    /// One more datagram arrived.
    pub fn received(&mut self) {
        self.summary.datagrams_received += 1;
    }

    /// Whether a datagram that is not essential would be stored now.
    pub fn has_room(&self, id_matched: bool) -> bool {
        self.entries.len() < DNS_ENTRIES_PER_LOOKUP
            && (id_matched || self.wrong_id < DNS_WRONG_ID_ENTRIES_PER_LOOKUP)
            && self.bytes < DNS_BYTES_PER_LOOKUP
            && self.measurement.has_room()
    }

    /// Counts a datagram of `len` bytes that gets no entry.
    pub fn drop_datagram(&mut self, len: usize) {
        self.summary.datagrams_dropped += 1;
        self.summary.bytes_dropped += len as u64;
        if !self.measurement.has_room() {
            self.summary.measurement_budget_exhausted = true;
        }
    }

    /// Stores the entry of a datagram of `len` bytes: always when `essential` (the answer a
    /// query uses), otherwise when there is room; else only counts it.
    pub fn keep(&mut self, entry: DnsQuery, len: usize, essential: bool) {
        let id_matched = entry.x_id_match != Some(false);
        if !essential && !self.has_room(id_matched) {
            self.drop_datagram(len);
            return;
        }
        if !id_matched {
            self.wrong_id += 1;
        }
        self.store(entry);
    }

    /// Stores an entry that stands for no datagram (a query's failure): always.
    pub fn note(&mut self, entry: DnsQuery) {
        self.store(entry);
    }

    fn store(&mut self, mut entry: DnsQuery) {
        fit_entry(&mut entry);
        let size = json_len(&entry);
        self.bytes += size;
        self.measurement.charge(size);
        self.summary.answers_dropped += entry.x_answers_dropped;
        self.summary.raw_bytes_dropped += entry.x_raw_bytes_dropped;
        self.entries.push(entry);
    }

    /// The stored entries, and the summary when anything was left out.
    pub fn finish(self) -> (Vec<DnsQuery>, Option<DnsTruncated>) {
        let s = &self.summary;
        let shed = s.datagrams_dropped > 0 || s.answers_dropped > 0 || s.raw_bytes_dropped > 0;
        (self.entries, shed.then_some(self.summary))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::{MessageType, OpCode, Query};
    use hickory_proto::rr::{rdata::A, Name, RData, Record, RecordType};

    fn answer_with(n: usize) -> Vec<u8> {
        let name = Name::from_ascii("big.test.").unwrap();
        let mut m = Message::new(7, MessageType::Response, OpCode::Query);
        m.add_query(Query::query(name.clone(), RecordType::A));
        for i in 0..n {
            let ip = std::net::Ipv4Addr::from(0x7f00_0000 + i as u32);
            m.answers
                .push(Record::from_rdata(name.clone(), 30, RData::A(A(ip))));
        }
        m.to_vec().unwrap()
    }

    #[test]
    fn a_huge_datagram_is_decoded_up_to_the_answer_cap_and_the_rest_counted() {
        for n in [3, 200, 2500] {
            let bytes = answer_with(n);
            assert_eq!(
                u16::from_be_bytes([bytes[6], bytes[7]]) as usize,
                n,
                "ANCOUNT"
            );
            assert!(
                bytes.len() > DECODE_WHOLE_UP_TO || n < 2500,
                "{n}: the partial path is tested"
            );
            let d = decode(&bytes).unwrap();
            assert_eq!(d.msg.metadata.id, 7);
            assert_eq!(d.msg.queries.len(), 1);
            assert_eq!(d.msg.answers.len(), n.min(DNS_ANSWERS_PER_ENTRY), "{n}");
            assert_eq!(
                d.answers_dropped as usize,
                n.saturating_sub(DNS_ANSWERS_PER_ENTRY)
            );
        }
    }

    /// `cnames` CNAMEs, each to a 250-byte name of \x01 bytes when `long` (a datagram over
    /// [`DECODE_WHOLE_UP_TO`]) or to a short one, then one A record.
    fn cnames_then_a(cnames: usize, long: bool) -> Vec<u8> {
        let name = Name::from_ascii("big.test.").unwrap();
        let label = [1u8; 62];
        let target = match long {
            true => Name::from_labels([&label[..], &label[..], &label[..], &label[..56]]),
            false => Name::from_ascii("c.test."),
        }
        .unwrap();
        let mut m = Message::new(7, MessageType::Response, OpCode::Query);
        m.add_query(Query::query(name.clone(), RecordType::A));
        for _ in 0..cnames {
            m.answers.push(Record::from_rdata(
                name.clone(),
                30,
                RData::CNAME(hickory_proto::rr::rdata::CNAME(target.clone())),
            ));
        }
        let ip = std::net::Ipv4Addr::new(127, 0, 0, 9);
        m.answers
            .push(Record::from_rdata(target.clone(), 30, RData::A(A(ip))));
        m.to_vec().unwrap()
    }

    #[test]
    fn addresses_come_from_every_answer_not_only_the_stored_ones() {
        // 40 CNAMEs: decoded whole; 400: partially (the A record is only scanned).
        for (cnames, long) in [(40, false), (40, true), (400, false)] {
            let bytes = cnames_then_a(cnames, long);
            assert_eq!(
                bytes.len() > DECODE_WHOLE_UP_TO,
                cnames == 400,
                "both paths"
            );
            let d = decode(&bytes).unwrap();
            assert_eq!(d.msg.answers.len(), DNS_ANSWERS_PER_ENTRY, "{cnames}");
            assert_eq!(d.answers_dropped, cnames as u64 + 1 - 32);
            let want: std::net::IpAddr = "127.0.0.9".parse().unwrap();
            assert_eq!(d.addrs, vec![want], "{cnames} CNAMEs, long names: {long}");
        }
    }

    fn entry_of(answers: Vec<DnsAnswer>) -> DnsQuery {
        let mut q = DnsQuery::fixture();
        q.raw_response = Some(crate::observation::base64_string(
            &[7u8; DNS_RAW_BYTES_PER_ENTRY],
        ));
        q.answers = answers;
        q.x_answers_dropped = 8;
        q
    }

    #[test]
    fn a_stored_entry_is_bounded_in_bytes_keeping_addresses_first() {
        let long = "\\001".repeat(250) + ".";
        let cname = DnsAnswer {
            answer_type: "CNAME".into(),
            ipv4: None,
            ipv6: None,
            hostname: Some(long),
            ttl: 30,
        };
        let a = DnsAnswer {
            answer_type: "A".into(),
            ipv4: Some("127.0.0.9".into()),
            ipv6: None,
            hostname: None,
            ttl: 30,
        };
        let mut answers = vec![cname; 32];
        answers.push(a.clone());
        let mut q = entry_of(answers);
        assert!(json_len(&q) > 32 * 1000, "{}", json_len(&q));
        fit_entry(&mut q);
        assert!(json_len(&q) <= DNS_BYTES_PER_ENTRY, "{}", json_len(&q));
        assert_eq!(q.answers[0], a, "the address is kept first");
        let kept = q.answers.len() as u64;
        assert!(kept > 1, "cut hostnames leave room for some CNAMEs");
        assert_eq!(q.x_answers_dropped, 8 + 33 - kept);
        for c in &q.answers[1..] {
            assert!(c.hostname.as_ref().unwrap().chars().count() <= DNS_HOSTNAME_CHARS + 1);
        }
        // Through the lookup's evidence: the measurement's summary counts the same.
        let mut ev = Evidence::new("h.test", 1, DnsBudget::per_measurement());
        let mut big = entry_of(vec![a.clone(); 600]);
        big.x_answers_dropped = 0;
        ev.keep(big, 10_000, true);
        let (entries, summary) = ev.finish();
        assert!(json_len(&entries[0]) <= DNS_BYTES_PER_ENTRY);
        let dropped = 600 - entries[0].answers.len() as u64;
        assert!(dropped > 0);
        assert_eq!(summary.unwrap().answers_dropped, dropped);
    }

    #[test]
    fn raw_bytes_keep_a_prefix_and_count_the_rest() {
        let bytes = answer_with(2500);
        let (kept, dropped) = raw(&bytes);
        use base64::Engine as _;
        let kept = base64::engine::general_purpose::STANDARD
            .decode(kept)
            .unwrap();
        assert_eq!(kept, bytes[..DNS_RAW_BYTES_PER_ENTRY]);
        assert_eq!(dropped as usize, bytes.len() - DNS_RAW_BYTES_PER_ENTRY);
    }
}
