//! Addresses that lead nowhere: answers the control does not share, at which neither the probe
//! nor the control could open a connection (a timeout, a refusal, a reset; never "no route",
//! which says where a network reaches, not whose address it is), while the control connected to
//! one of its own addresses for the name and fetched the page. A resolver poisoned upstream (the
//! censor's injected answer won the race across the border and sits in the cache) gives exactly
//! this: one answer per query, no duplicate to show the race, an address that is nobody's site.
//!
//! Every address of the probe's answer that it tried must have failed: one dead node next to a
//! working one is a CDN's trouble, not a forged answer.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

use super::index::{tcp_addr, unreachable, Index};
use crate::failure::Failure;

/// The probe's addresses (`addrs`, none of them the control's) that lead nowhere, each with the
/// sentence that says so.
pub fn dead_ends(
    ix: &Index<'_>,
    addrs: &[IpAddr],
    control_addrs: &[IpAddr],
) -> BTreeMap<IpAddr, String> {
    let mut dead = BTreeMap::new();
    let Some(c) = ix.control.as_ref().filter(|c| c.fetch_ok()) else {
        return dead;
    };
    let Some(theirs) = c.connected(control_addrs) else {
        return dead;
    };
    let tried: Vec<(SocketAddr, Failure)> = ix
        .obs
        .tcp_connect
        .iter()
        .filter_map(|t| {
            let a = tcp_addr(t)?;
            addrs.contains(&a.ip()).then(|| {
                let f = match (&t.status.failure, t.status.success) {
                    (_, true) => None,
                    (Some(f), false) => Some(f.clone()),
                    (None, false) => Some(Failure::Unknown("no failure recorded".into())),
                };
                (a, f)
            })
        })
        .map(|(a, f)| f.map(|f| (a, f)))
        .collect::<Option<Vec<_>>>()
        .unwrap_or_default();
    for (a, f) in tried {
        if unreachable(&f) || control_addrs.contains(&a.ip()) {
            continue;
        }
        let Some(Err(cf)) = c.tcp(a) else { continue };
        if unreachable(&Failure::from_ooni(&cf)) {
            continue;
        }
        dead.entry(a.ip()).or_insert_with(|| {
            format!(
                "neither the probe nor the control could connect to {a} (the probe: {f}; the control: {cf}), while the control connected to {theirs}, its own address for {}, and fetched the page",
                ix.host
            )
        });
    }
    dead
}
