//! How a command ends early: its exit status (README: 2 bad usage or configuration, 1 the
//! probe itself failed) and what to tell the user.

use std::fmt::Display;

/// An exit status and the message printed with it.
#[derive(Debug)]
pub struct Exit(pub u8, pub String);

/// Bad usage or configuration (exit 2).
pub fn usage(e: impl Display) -> Exit {
    Exit(2, e.to_string())
}

/// The probe itself failed (exit 1).
pub fn fatal(e: impl Display) -> Exit {
    Exit(1, e.to_string())
}
