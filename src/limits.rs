//! The hard limits on what a user may ask for, and time arithmetic that cannot overflow.
//!
//! Flags and config keys beyond a limit are refused when the configuration is read (exit 2,
//! the flag and the limit named), so no run starts that would panic later on a semaphore size
//! or an `Instant` overflow. Where the runtime adds a duration to an instant it saturates
//! anyway ([`after`]). The longest URL is the longest one an HTTP request can carry.

use std::time::Duration;

use tokio::time::Instant;

/// `--parallel`: targets measured at once.
pub const MAX_PARALLEL: usize = 10_000;
/// The helper's `--max-inflight` and `--max-connections`: requests measured, connections open.
pub const MAX_INFLIGHT: usize = 10_000;
/// `--max-addrs`: addresses tried per family per hop.
pub const MAX_ADDRS: usize = 64;
/// `--timeout` (each step) and `--dns-wait`, the helper's `--timeout` too.
pub const MAX_STEP: Duration = Duration::from_secs(3600);
/// `--deadline`: one target, redirects included.
pub const MAX_DEADLINE: Duration = Duration::from_secs(24 * 3600);
/// A daemon schedule's `spacing` between measurements of one host:port.
pub const MAX_SPACING: Duration = Duration::from_secs(24 * 3600);
/// A daemon schedule's `every` and `jitter`.
pub const MAX_INTERVAL: Duration = Duration::from_secs(366 * 24 * 3600);
/// The daemon's `grace` for in-flight measurements on stop.
pub const MAX_GRACE: Duration = Duration::from_secs(3600);
/// The longest URL, in bytes once encoded: the `http` crate refuses a longer request target
/// (65 534 bytes), and an HTTP/2 request carries the whole URL.
pub const MAX_URL_LEN: usize = u16::MAX as usize - 1;

/// Far enough ahead to mean "never" (what tokio uses, about 30 years).
const FAR: Duration = Duration::from_secs(86400 * 365 * 30);

/// `base + d`, saturating at about 30 years ahead instead of panicking on overflow.
pub fn after(base: Instant, d: Duration) -> Instant {
    base.checked_add(d.min(FAR))
        .or_else(|| base.checked_add(FAR))
        .unwrap_or(base)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adding_any_duration_never_panics() {
        let now = Instant::now();
        assert_eq!(
            after(now, Duration::from_secs(5)),
            now + Duration::from_secs(5)
        );
        assert!(after(now, Duration::MAX) > now + Duration::from_secs(86400 * 365));
        assert!(after(now, Duration::from_secs(u64::MAX / 2)) > now);
    }
}
