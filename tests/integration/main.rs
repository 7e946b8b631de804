//! Integration tests: one binary, sharing one harness. Each test builds its own fake internet
//! on 127.0.0.1 and drives the real `vantage` binary.

mod harness;

mod bad_input;
mod budget;
mod cli;
mod control;
mod crash;
mod daemon;
mod engine;
mod helper_hardening;
mod i10_control;
mod i9_control;
mod netns;
mod one_record;
mod ooni_shape;
mod panics;
mod quoting;
mod report;
mod scrub;
mod ship;
mod verdicts;
