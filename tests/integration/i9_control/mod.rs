//! Issue 9, the control: an OONI probe's exact request to a vantage helper (DNS failed:
//! `"tcp_connect": null`; its headers forwarded to the site, bounded), `input` kept verbatim, and
//! a probe that keeps its control requests within the helper's limit and retries a busy one.

mod busy;
mod input;
mod ooni_request;
