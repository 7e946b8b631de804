//! Writing a command's output to stdout when its reader may have gone away
//! (`vantage status | head`): a closed pipe ends the output quietly, it is not a crash.

use std::io::{ErrorKind, Write};

/// Writes `lines`, each ended by a newline. A reader that went away ends the output early and
/// is no error; any other write error is returned.
pub fn print_lines<S: AsRef<str>>(lines: impl IntoIterator<Item = S>) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    let written = lines
        .into_iter()
        .try_for_each(|line| writeln!(out, "{}", line.as_ref()))
        .and_then(|()| out.flush());
    match written {
        Err(e) if e.kind() == ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

/// Writes `bytes` as they are (a page, a man page), with the same rule: a reader that went
/// away is no error, any other write error is returned.
pub fn print_bytes(bytes: &[u8]) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Err(e) if e.kind() == ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}
