//! One insert's worth of rows, each remembering where its line lies in the file, so a batch the
//! store refuses can be sent again one row at a time and each row's progress saved on its own.
//!
//! The byte limit is checked before a row joins: a row that would take the batch past
//! `BATCH_BYTES` goes into the next batch, and a row bigger than the limit goes alone.

use std::ops::Range;

use super::{BATCH_BYTES, BATCH_ROWS};

/// Where one row's line lies in its file: `[at, end)`, the newline included.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Span {
    pub at: u64,
    pub end: u64,
}

#[derive(Debug, Default)]
pub struct Batch {
    body: Vec<u8>,
    rows: Vec<(Range<usize>, Span)>,
}

impl Batch {
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    pub fn rows(&self) -> usize {
        self.rows.len()
    }

    /// Whether `row_len` more bytes would take a non-empty batch past the byte limit (then the
    /// batch goes out first).
    pub fn would_overflow(&self, row_len: usize) -> bool {
        !self.is_empty() && self.body.len() + row_len > BATCH_BYTES
    }

    /// Whether the batch must go out now: enough rows, or enough bytes (a single row bigger
    /// than the limit goes alone).
    pub fn full(&self) -> bool {
        self.rows.len() >= BATCH_ROWS || self.body.len() >= BATCH_BYTES
    }

    /// Adds a row (one JSONEachRow line, newline included) read from `span` of the file.
    pub fn push(&mut self, row: &[u8], span: Span) {
        let start = self.body.len();
        self.body.extend_from_slice(row);
        self.rows.push((start..self.body.len(), span));
    }

    /// Every row's line, for an insert.
    pub fn body(&self) -> Vec<u8> {
        self.body.clone()
    }

    /// The rows one by one: each one's line and where it lies in the file.
    pub fn each(&self) -> impl Iterator<Item = (&[u8], Span)> {
        self.rows.iter().map(|(r, s)| (&self.body[r.clone()], *s))
    }

    pub fn clear(&mut self) {
        self.body.clear();
        self.rows.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_that_would_overflow_waits_and_a_big_row_goes_alone() {
        let mut b = Batch::default();
        let small = vec![b'a'; 1000];
        let big = vec![b'b'; BATCH_BYTES + 1];
        assert!(
            !b.would_overflow(big.len()),
            "an empty batch takes anything"
        );
        b.push(&small, Span { at: 0, end: 1000 });
        assert!(b.would_overflow(big.len()));
        assert!(!b.full());
        b.clear();
        b.push(
            &big,
            Span {
                at: 1000,
                end: 2000,
            },
        );
        assert!(b.full(), "a row bigger than the limit goes alone");
        let rows: Vec<_> = b.each().map(|(r, s)| (r.len(), s.at)).collect();
        assert_eq!(rows, [(BATCH_BYTES + 1, 1000)]);
    }
}
