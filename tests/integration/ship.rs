//! `vantage ship` (issue 5; being built).
