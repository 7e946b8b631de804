//! Record text made safe to print on a terminal (`vantage show`, `vantage report`): what a
//! record holds came from the network (a blockpage's `<title>`, a `Location`, a resolver's
//! answer), so before it reaches a terminal every control
//! character (C0, DEL, C1) and every bidi override or isolate (U+202A-U+202E, U+2066-U+2069,
//! and the marks U+200E, U+200F, U+061C) is written as a Rust escape (`\u{1b}`), and a cell is
//! cut to a bounded length with its size named (`failure::quote`): one huge value can neither
//! repaint the terminal nor panic the table.

/// `s` with every character a terminal would act on escaped (see the module doc).
/// Idempotent: what it returns has nothing left to escape.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if acts_on_terminal(c) {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    out
}

/// One table cell or free value: cut to `failure::QUOTE_MAX` bytes (`… (N bytes)` naming the
/// original size), then escaped.
pub fn cell(s: &str) -> String {
    escape(&crate::failure::quote(s))
}

/// A free line's value (a verdict's reason, a certificate's names): escaped, cut past
/// `LINE_MAX` bytes (on a char boundary, its size named), so a long one is whole.
pub fn line(s: &str) -> String {
    if s.len() <= LINE_MAX {
        return escape(s);
    }
    let kept = crate::failure::prefix(s, LINE_MAX);
    format!("{}… ({} bytes)", escape(kept), s.len())
}

/// The most of one free value `line` prints.
pub const LINE_MAX: usize = 4096;

fn acts_on_terminal(c: char) -> bool {
    c.is_control()
        || ('\u{202a}'..='\u{202e}').contains(&c)
        || ('\u{2066}'..='\u{2069}').contains(&c)
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{061c}')
}
