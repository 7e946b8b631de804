//! Issue 10, section 1: trouble with the control is never silent. Before the first target, a
//! run says what is wrong with its control (unreachable, token refused, another protocol) and
//! that records without `--probe-cc`/`--probe-asn` say ZZ/AS0; the summary counts the targets
//! whose control failed, by cause; a helper's own refusal of a destination is a control failure
//! (`unknown`), never "down"; the daemon logs the counts per cycle and `vantage status` shows
//! them, a cron schedule as written and a cycle waiting on its spacing.

mod breaker;
mod daemon;
mod long_strings;
mod preflight;
mod refusal;
mod secrets;
mod shapes;
