//! What one DNS lookup keeps of what arrives. A datagram is matched to our queries (id, then
//! source and question) before any budget applies, so junk never crowds out the real answer;
//! then it is stored within the budgets of [`crate::budget`]: entries per lookup (fewer for
//! wrong-id datagrams), answers per entry, raw bytes per entry, JSON bytes per lookup and per
//! measurement. The answer a query uses (and a TCP answer) is always stored. Everything beyond a
//! budget is counted in the lookup's [`DnsTruncated`] summary, never stored and never lost
//! silently.

use hickory_proto::op::{Header, Message};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder};

use crate::budget::{
    json_len, DnsBudget, DNS_ANSWERS_PER_ENTRY, DNS_BYTES_PER_LOOKUP, DNS_ENTRIES_PER_LOOKUP,
    DNS_RAW_BYTES_PER_ENTRY, DNS_WRONG_ID_ENTRIES_PER_LOOKUP,
};
use crate::observation::{DnsQuery, DnsTruncated, MaybeBinary};

/// Datagrams up to this size are decoded whole (EDNS included); larger ones only up to the
/// answer cap, so a 64 KiB datagram of 4,000 answers costs no more than a normal one.
const DECODE_WHOLE_UP_TO: usize = 4096;

/// A datagram decoded with at most [`DNS_ANSWERS_PER_ENTRY`] answers.
pub(crate) struct Decoded {
    pub msg: Message,
    /// Answers in the datagram beyond the cap.
    pub answers_dropped: u64,
}

/// Decodes the header, the question and the first answers of `bytes`.
pub(crate) fn decode(bytes: &[u8]) -> Result<Decoded, String> {
    if bytes.len() <= DECODE_WHOLE_UP_TO {
        let mut msg = Message::from_vec(bytes).map_err(|e| e.to_string())?;
        let dropped = msg.answers.len().saturating_sub(DNS_ANSWERS_PER_ENTRY);
        msg.answers.truncate(DNS_ANSWERS_PER_ENTRY);
        return Ok(Decoded {
            msg,
            answers_dropped: dropped as u64,
        });
    }
    let mut d = BinDecoder::new(bytes);
    let Header { metadata, counts } = Header::read(&mut d).map_err(|e| e.to_string())?;
    let queries =
        Message::read_queries(&mut d, counts.queries as usize).map_err(|e| e.to_string())?;
    let take = (counts.answers as usize).min(DNS_ANSWERS_PER_ENTRY);
    let (answers, _, _) =
        Message::read_records(&mut d, take, false, metadata.op_code).map_err(|e| e.to_string())?;
    let mut msg = Message::new(metadata.id, metadata.message_type, metadata.op_code);
    msg.metadata = metadata;
    msg.queries = queries;
    msg.answers = answers;
    Ok(Decoded {
        msg,
        answers_dropped: (counts.answers as usize - take) as u64,
    })
}

/// The first [`DNS_RAW_BYTES_PER_ENTRY`] bytes as `raw_response`, and how many were left out.
pub(crate) fn raw(bytes: &[u8]) -> (MaybeBinary, u64) {
    let kept = bytes.len().min(DNS_RAW_BYTES_PER_ENTRY);
    (
        MaybeBinary::base64(&bytes[..kept]),
        (bytes.len() - kept) as u64,
    )
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

    fn store(&mut self, entry: DnsQuery) {
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

    #[test]
    fn raw_bytes_keep_a_prefix_and_count_the_rest() {
        let bytes = answer_with(2500);
        let (kept, dropped) = raw(&bytes);
        let MaybeBinary::Binary { data, .. } = kept else {
            panic!("base64 expected")
        };
        use base64::Engine as _;
        let kept = base64::engine::general_purpose::STANDARD
            .decode(data)
            .unwrap();
        assert_eq!(kept, bytes[..DNS_RAW_BYTES_PER_ENTRY]);
        assert_eq!(dropped as usize, bytes.len() - DNS_RAW_BYTES_PER_ENTRY);
    }
}
