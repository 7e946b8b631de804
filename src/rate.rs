//! The rate cap: at most N new connections (TCP connects and DNS queries) per second across
//! the whole run, so a probe in a censored network never floods it.
//!
//! Each caller is given the next free slot in a fixed schedule and sleeps until it; slots are
//! spaced `1/N` s apart, so bursts are smoothed rather than allowed and then punished.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// Spaces events at least `interval` apart. `None` interval: no cap.
#[derive(Debug)]
pub struct RateLimiter {
    interval: Option<Duration>,
    next: Mutex<Option<Instant>>,
}

impl RateLimiter {
    /// `per_second == 0` means unlimited.
    pub fn new(per_second: u32) -> RateLimiter {
        RateLimiter {
            interval: (per_second > 0).then(|| Duration::from_secs_f64(1.0 / per_second as f64)),
            next: Mutex::new(None),
        }
    }

    /// Waits for this caller's slot.
    pub async fn acquire(&self) {
        let Some(interval) = self.interval else {
            return;
        };
        let slot = {
            let mut next = self.next.lock().expect("rate limiter lock");
            let now = Instant::now();
            let slot = match *next {
                Some(n) if n > now => n,
                _ => now,
            };
            *next = Some(slot + interval);
            slot
        };
        tokio::time::sleep_until(slot).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn slots_are_spaced_by_the_rate() {
        let limiter = RateLimiter::new(10);
        let start = Instant::now();
        for _ in 0..11 {
            limiter.acquire().await;
        }
        // 11 events at 10/s: the first is immediate, the last 1 s later (virtual clock).
        assert_eq!(start.elapsed(), Duration::from_secs(1));
    }

    #[tokio::test(start_paused = true)]
    async fn zero_means_unlimited() {
        let limiter = RateLimiter::new(0);
        let start = Instant::now();
        for _ in 0..1000 {
            limiter.acquire().await;
        }
        assert_eq!(start.elapsed(), Duration::ZERO);
    }
}
