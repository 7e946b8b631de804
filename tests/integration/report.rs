//! `vantage report` (issue 5; being built).
