//! Byte budgets: how much of what the network sends a record keeps. The network decides what
//! arrives; these limits decide what is stored. Whatever exceeds a budget is counted and
//! summarised under `x_` keys (`x_dns_truncated`, `x_answers_dropped`, `x_raw_bytes_dropped`,
//! `x_truncated`), never stored whole and never dropped silently.
//!
//! DNS evidence is bounded per lookup and per measurement, so that only page bodies (at most
//! 512 KiB each, as OONI keeps them) can make a record large; and the record as a whole has a hard
//! cap ([`RECORD_MAX_BYTES`]) that sheds the largest non-essential evidence first.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use serde::Serialize;

/// `queries[]` entries stored per lookup (both queries, A and AAAA, together).
pub const DNS_ENTRIES_PER_LOOKUP: usize = 32;
/// Of those, at most this many for datagrams whose id matches none of ours: junk can never take
/// the room of answers to our queries.
pub const DNS_WRONG_ID_ENTRIES_PER_LOOKUP: usize = 16;
/// Answer records decoded and stored per datagram; the rest are counted (`x_answers_dropped`).
pub const DNS_ANSWERS_PER_ENTRY: usize = 32;
/// Raw bytes stored per datagram (`raw_response` keeps the first ones; the rest are counted in
/// `x_raw_bytes_dropped`). 1232 is the UDP payload size the probe advertises (EDNS).
pub const DNS_RAW_BYTES_PER_ENTRY: usize = 1232;
/// JSON bytes of `queries[]` entries stored per lookup.
pub const DNS_BYTES_PER_LOOKUP: usize = 32 * 1024;
/// JSON bytes of `queries[]` entries stored per measurement, all lookups (redirect hops) together.
pub const DNS_BYTES_PER_MEASUREMENT: usize = 128 * 1024;
/// Body bytes kept of a redirect (3xx) response: its true length and SHA-256 are still measured.
/// Only the final page keeps up to 512 KiB, so a redirect chain cannot multiply the body budget.
pub const REDIRECT_BODY_BYTES: usize = 16 * 1024;
/// JSON bytes of one stored `queries[]` entry: answers beyond it are dropped (A/AAAA kept first,
/// counted in `x_answers_dropped`) and over-long hostnames cut.
pub const DNS_BYTES_PER_ENTRY: usize = 8 * 1024;
/// Characters of a hostname (CNAME target, answer name) kept in a stored entry.
pub const DNS_HOSTNAME_CHARS: usize = 256;
/// Records serialised into lines at once, all measurements of a run together: each can take
/// a few copies of up to [`RECORD_MAX_BYTES`] while it is built, shed and handed to the writer.
pub const RECORDS_SERIALISED_AT_ONCE: usize = 4;
/// The hard cap of one record line, newline included. A record above it sheds evidence
/// (`x_truncated` says what and how much) until it fits: 4 MiB leaves room for the final page's
/// body (512 KiB, up to 6 times that once JSON-escaped) and everything else.
pub const RECORD_MAX_BYTES: usize = 4 * 1024 * 1024;

/// The DNS evidence budget of one measurement, shared by its lookups (which run concurrently:
/// a lookup keeps listening for late answers while the next hop resolves).
#[derive(Clone, Debug)]
pub struct DnsBudget {
    left: Arc<AtomicUsize>,
}

impl DnsBudget {
    pub fn new(bytes: usize) -> DnsBudget {
        DnsBudget {
            left: Arc::new(AtomicUsize::new(bytes)),
        }
    }

    /// One measurement's budget: [`DNS_BYTES_PER_MEASUREMENT`].
    pub fn per_measurement() -> DnsBudget {
        DnsBudget::new(DNS_BYTES_PER_MEASUREMENT)
    }

    /// Whether anything is left.
    pub fn has_room(&self) -> bool {
        self.left.load(Ordering::Relaxed) > 0
    }

    /// Spends `bytes` (down to zero: an essential entry may be stored past the end).
    pub fn charge(&self, bytes: usize) {
        let _ = self
            .left
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |l| {
                Some(l.saturating_sub(bytes))
            });
    }
}

/// Bytes of `value`'s compact JSON, without building it.
pub fn json_len<T: Serialize + ?Sized>(value: &T) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut c = Count(0);
    serde_json::to_writer(&mut c, value).expect("observations always serialize");
    c.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_len_is_the_serialized_length() {
        let v = serde_json::json!({"a": "\u{1}", "b": [1, 2, 3]});
        assert_eq!(json_len(&v), serde_json::to_vec(&v).unwrap().len());
    }

    #[test]
    fn a_shared_budget_is_spent_by_every_holder_and_stops_at_zero() {
        let a = DnsBudget::new(100);
        let b = a.clone();
        a.charge(60);
        assert!(b.has_room());
        b.charge(60);
        assert!(!a.has_room());
        a.charge(10);
        assert!(!b.has_room());
    }
}
