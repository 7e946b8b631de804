//! The vantage point's addresses: those the researcher names (`--probe-ip`), those learned
//! later (the address the control saw), and the local interface addresses that identify the
//! vantage point, re-read every minute (DHCP leases and IPv6 temporary addresses change under a
//! long-running daemon).
//!
//! An interface address is scrubbed when it is globally routable. Loopback, unspecified,
//! link-local, private (RFC 1918), shared (CGNAT, 100.64.0.0/10), unique-local (fc00::/7),
//! site-local, multicast, documentation and other reserved addresses are not: sites on the
//! Internet never see them, they do not tell where the probe is, and the loopback addresses
//! are those of every fake server in a testbed. Name one with `--probe-ip` to scrub it anyway.

use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::Scrubber;

/// How long the interface addresses read are trusted.
const REFRESH: Duration = Duration::from_secs(60);

/// True when `ip`, seen by a site, tells where the probe is: a globally routable address.
pub fn identifies_vantage(ip: IpAddr) -> bool {
    match super::normal(ip) {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_unspecified()
                || v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_multicast()
                || v4.is_broadcast()
                || v4.is_documentation()
                || a == 0
                || a >= 240
                || (a == 100 && (64..128).contains(&b))
                || (a == 192 && b == 0 && v4.octets()[2] == 0)
                || (a == 198 && (18..20).contains(&b)))
        }
        IpAddr::V6(v6) => {
            let s0 = v6.segments()[0];
            !(v6.is_unspecified()
                || v6.is_loopback()
                || v6.is_multicast()
                || (s0 & 0xfe00) == 0xfc00
                || (s0 & 0xffc0) == 0xfe80
                || (s0 & 0xffc0) == 0xfec0
                || (s0 == 0x2001 && v6.segments()[1] == 0x0db8)
                || s0 == 0)
        }
    }
}

/// The globally routable addresses of the local interfaces (none when they cannot be read).
pub fn interface_addrs() -> Vec<IpAddr> {
    match if_addrs::get_if_addrs() {
        Ok(list) => list
            .into_iter()
            .map(|i| i.ip())
            .filter(|ip| identifies_vantage(*ip))
            .collect(),
        Err(e) => {
            tracing::warn!("cannot list the interface addresses to scrub: {e}");
            Vec::new()
        }
    }
}

/// Where a run learns the addresses to scrub. Shared by every measurement of a pass.
#[derive(Debug)]
pub struct ProbeAddrs {
    named: Mutex<Vec<IpAddr>>,
    interfaces: bool,
    current: Mutex<Option<(Instant, Arc<Scrubber>)>>,
}

impl ProbeAddrs {
    /// `named` plus the interface addresses.
    pub fn new(named: &[IpAddr]) -> ProbeAddrs {
        ProbeAddrs {
            named: Mutex::new(named.to_vec()),
            interfaces: true,
            current: Mutex::new(None),
        }
    }

    /// `named` only (tests, and hosts whose interfaces must not be read).
    pub fn only(named: &[IpAddr]) -> ProbeAddrs {
        ProbeAddrs {
            interfaces: false,
            ..ProbeAddrs::new(named)
        }
    }

    /// Scrubs `ip` too from now on (e.g. the address the control saw).
    pub fn add(&self, ip: IpAddr) {
        self.named.lock().expect("addrs lock").push(ip);
        *self.current.lock().expect("addrs lock") = None;
    }

    /// The scrubber for the addresses known now.
    pub fn scrubber(&self) -> Arc<Scrubber> {
        let mut current = self.current.lock().expect("addrs lock");
        if let Some((read, s)) = current.as_ref() {
            if read.elapsed() < REFRESH {
                return s.clone();
            }
        }
        let mut s = Scrubber::new(self.named.lock().expect("addrs lock").iter().copied());
        if self.interfaces {
            for ip in interface_addrs() {
                s.add(ip);
            }
        }
        let s = Arc::new(s);
        *current = Some((Instant::now(), s.clone()));
        s
    }
}
