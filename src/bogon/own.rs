//! The host's own interface addresses, re-read every few seconds (addresses come and go under a
//! long-running helper). A service bound to every interface but firewalled from outside answers
//! at any of them, so a helper that fetched its own public address would be a proxy into it.

use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long the interface addresses read are trusted.
const REFRESH: Duration = Duration::from_secs(5);

struct Cache {
    read_at: Instant,
    addrs: Arc<Vec<IpAddr>>,
}

static CACHE: Mutex<Option<Cache>> = Mutex::new(None);

/// True when `ip` (or the IPv4 address an IPv4-mapped `ip` carries) is an address of one of
/// this host's interfaces.
pub fn is_own(ip: IpAddr) -> bool {
    let ip = ip.to_canonical();
    addrs().iter().any(|a| a.to_canonical() == ip)
}

fn addrs() -> Arc<Vec<IpAddr>> {
    let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    match &*cache {
        Some(c) if c.read_at.elapsed() < REFRESH => c.addrs.clone(),
        _ => {
            let addrs = Arc::new(read());
            *cache = Some(Cache {
                read_at: Instant::now(),
                addrs: addrs.clone(),
            });
            addrs
        }
    }
}

fn read() -> Vec<IpAddr> {
    match if_addrs::get_if_addrs() {
        Ok(list) => list.into_iter().map(|i| i.ip()).collect(),
        Err(e) => {
            tracing::warn!("cannot read the interface addresses: {e}");
            Vec::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_and_its_mapped_form_are_own() {
        assert!(is_own("127.0.0.1".parse().unwrap()));
        assert!(is_own("::ffff:127.0.0.1".parse().unwrap()));
        assert!(!is_own("192.0.2.77".parse().unwrap()));
    }
}
