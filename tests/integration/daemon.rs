//! `vantage daemon` (issue 5; being built).
