//! `x_verdict`: vantage's answer. Each piece of evidence is weighed where it happened, hop by
//! hop along the redirect chain:
//!
//! - Self-evident, no control needed: a bogon answer, duplicate answers that disagree (or an
//!   answer from an address that is not the resolver), a known forged answer or blockpage, a
//!   certificate for the wrong name.
//! - A failure counts as blocking only where the control succeeds: on the same endpoint when
//!   the control tried it, else when the control fetched the page. A failure the control shares
//!   makes the site `down`, never blocked; without a control it is `unknown`.
//! - A failure at an address the evidence already calls forged is the DNS method's doing, not a
//!   second method, unless the control reached that very endpoint.
//! - Answers that differ from the control's are forged only when nothing vindicates them (TLS
//!   validating the name at one of them) and they led to a failure or to another page; a page
//!   that matches the control's makes them a CDN's.
//! - Once a hop's page was fetched, failures on its other addresses are not evidence (one IPv6
//!   address unreachable from a v4-only network is normal).
//! - After a redirect to a known warning page, the hops that follow are the censor's page, not
//!   the site: what happens there is not evidence about the site.
//! - Without a control (none asked, or it failed) the verdict is `blocked` on self-evident signs
//!   and `unknown` otherwise (SPEC.md), even for a page over validated TLS.

use std::collections::BTreeSet;
use std::net::IpAddr;

use super::dns::{bogon_kind, list, DnsState, Lookup};
use super::http_diff::HttpDiff;
use super::index::{depth_of, request_host, same_host, ControlDns, Fetch, Index};
use super::{Method, Status, Verdict};
use crate::failure::Failure;

mod pages;
mod steps;

/// Evidence gathered along the way.
#[derive(Default)]
struct Evidence {
    methods: BTreeSet<Method>,
    blocked: Vec<String>,
    down: Vec<String>,
    unknown: Vec<String>,
    accessible: Vec<String>,
    notes: Vec<String>,
    /// The probe got the site's real content.
    content: bool,
    /// A response of the chain is a known blockpage (or a redirect to one).
    blockpage: bool,
}

fn push(list: &mut Vec<String>, s: String) {
    if !list.contains(&s) {
        list.push(s);
    }
}

impl Evidence {
    fn block(&mut self, m: Method, reason: String) {
        self.methods.insert(m);
        push(&mut self.blocked, reason);
    }
    fn down(&mut self, reason: String) {
        push(&mut self.down, reason);
    }
    fn unknown(&mut self, reason: String) {
        push(&mut self.unknown, reason);
    }
    fn note(&mut self, reason: String) {
        push(&mut self.notes, reason);
    }
}

struct Judge<'i, 'a> {
    ix: &'i Index<'a>,
    lookups: &'i [Lookup<'a>],
    ev: Evidence,
    /// The depth of the first redirect to a known warning page: the hops after it are the
    /// censor's page, not the site's, and say nothing about the site.
    detour: Option<usize>,
}

pub fn compute(ix: &Index<'_>, lookups: &[Lookup<'_>], diff: Option<&HttpDiff>) -> Verdict {
    let mut j = Judge {
        ix,
        lookups,
        ev: Evidence::default(),
        detour: None,
    };
    j.detour = ix
        .obs
        .requests
        .iter()
        .filter(|tx| j.fingerprint(tx).is_some_and(|f| f.is_redirect()))
        .map(|tx| depth_of(&tx.tags))
        .min();
    j.dns();
    j.hops();
    j.blockpages(diff);
    j.final_response(diff);
    j.dns_differences();
    j.finish()
}

impl<'i, 'a> Judge<'i, 'a> {
    fn fetch(&self) -> Option<&'i Fetch> {
        self.ix.control.as_ref().map(|c| &c.fetch)
    }

    fn lookup(&self, host: &str) -> Option<&'i Lookup<'a>> {
        self.lookups.iter().find(|l| same_host(&l.host, host))
    }

    fn control_addrs(&self, host: &str) -> &'i [IpAddr] {
        match self.ix.control_dns_for(host) {
            Some(ControlDns::Resolved(a)) => a,
            _ => &[],
        }
    }

    /// Whether the evidence already calls `ip` a wrong answer for `host`.
    fn suspect(&self, host: &str, ip: IpAddr) -> bool {
        self.lookup(host)
            .is_some_and(|l| l.suspect(ip, self.control_addrs(host)))
    }

    fn past_detour(&self, depth: usize) -> bool {
        self.detour.is_some_and(|d| depth > d)
    }

    /// DNS evidence per host: self-evident signs, then failures against the control.
    fn dns(&mut self) {
        if self.ix.control.is_none() {
            let why = match self.ix.ctx.control_failure {
                Some(f) => format!("The control could not answer ({f})."),
                None => "No control was asked.".to_string(),
            };
            self.ev.unknown(why);
        }
        for l in self.lookups {
            for r in &l.injection {
                self.ev.block(Method::DnsInjection, r.clone());
            }
            for ip in &l.bogons {
                self.ev.block(
                    Method::DnsBogon,
                    format!(
                        "The resolver {} answered {} with {ip}, a {} address.",
                        l.resolver,
                        l.host,
                        bogon_kind(*ip)
                    ),
                );
            }
            if let Some((value, f)) = &l.fingerprint {
                self.ev.block(
                    Method::DnsForged,
                    format!(
                        "The resolver {} answered {} with {value}, a known forged answer ({}).",
                        l.resolver,
                        l.host,
                        f.label()
                    ),
                );
            }
            if let Some(f) = &l.failure {
                if self.past_detour(l.depth) && !same_host(&l.host, &self.ix.host) {
                    self.ev.note(format!(
                        "The lookup of {} (past the redirect to a warning page) failed with {f}.",
                        l.host
                    ));
                } else {
                    self.dns_failure(l, f);
                }
            }
        }
    }

    fn dns_failure(&mut self, l: &Lookup<'a>, f: &Failure) {
        let what = format!("The lookup of {} at {} failed with {f}", l.host, l.resolver);
        if steps::unreachable(f) || matches!(f, Failure::Unknown(_)) {
            self.ev
                .unknown(format!("{what}: the probe's own network or setup failed."));
            return;
        }
        let method = match f {
            Failure::DnsNxdomain | Failure::DnsNoAnswer => Method::DnsNxdomain,
            _ => Method::DnsFailure,
        };
        match (self.ix.control_dns_for(&l.host), self.fetch()) {
            (Some(ControlDns::Resolved(a)), _) => self.ev.block(
                method,
                format!("{what} while the control resolves it to {}.", list(a)),
            ),
            (Some(ControlDns::NoSuchName(cf) | ControlDns::Failed(cf)), _) => self.ev.down(
                format!("{what}, and the control cannot resolve it either ({cf})."),
            ),
            (None, Some(Fetch::Ok { .. })) => self.ev.block(
                method,
                format!("{what} while the control fetched the page through the same redirects."),
            ),
            (None, Some(Fetch::Failed(cf))) => self.ev.down(format!(
                "{what}, and the control's fetch failed too ({cf})."
            )),
            (None, None) => self.ev.unknown(format!("{what}.")),
        }
    }

    /// Answers that differ from the control's, judged by where they led.
    fn dns_differences(&mut self) {
        let final_host = self
            .ix
            .final_response()
            .and_then(request_host)
            .unwrap_or_default();
        for l in self.lookups {
            let theirs = self.control_addrs(&l.host);
            match &l.state {
                DnsState::Consistent(super::dns::Agreement::Tls) if !theirs.is_empty() => {
                    self.ev.note(format!(
                        "The answers for {} ({}) differ from the control's ({}), but TLS validated {} at {}: a CDN's or GeoDNS answers.",
                        l.host,
                        list(&l.addrs),
                        list(theirs),
                        l.host,
                        list(&l.vindicated.iter().copied().filter(|a| l.addrs.contains(a)).collect::<Vec<_>>())
                    ));
                }
                DnsState::Ghost(cf) => self.ev.block(
                    Method::DnsForged,
                    format!(
                        "The resolver {} answered {} with {} although the control finds no such name ({cf}), and TLS does not vindicate them.",
                        l.resolver,
                        l.host,
                        list(&l.addrs)
                    ),
                ),
                DnsState::Inconsistent => {
                    let base = format!(
                        "The answers for {} ({}) differ from the control's ({}) and TLS does not vindicate them",
                        l.host,
                        list(&l.addrs),
                        list(theirs)
                    );
                    let hop_failed = self.ix.hops.iter().any(|h| {
                        same_host(&h.host, &l.host)
                            && h.request.is_none_or(|tx| tx.failure.is_some())
                    });
                    let led_elsewhere = same_host(&final_host, &l.host) && !self.ev.content;
                    // Bogons and known forged answers are named by their own methods.
                    let explained = l.addrs.iter().all(|a| {
                        l.bogons.contains(a)
                            || l.fingerprint.as_ref().is_some_and(|(v, _)| *v == a.to_string())
                    });
                    if explained {
                        self.ev.note(format!("{base}."));
                    } else if self.ev.content && !hop_failed {
                        self.ev.note(format!(
                            "{base}, but the page matched the control's: taken as a CDN's or GeoDNS answers."
                        ));
                    } else if (hop_failed || led_elsewhere)
                        && self.fetch().is_some_and(|f| matches!(f, Fetch::Ok { .. }))
                    {
                        let led = if hop_failed { "a failure" } else { "another page" };
                        self.ev
                            .block(Method::DnsForged, format!("{base}; they led to {led}."));
                    } else {
                        self.ev.note(format!("{base}."));
                    }
                }
                DnsState::ControlFailed(cf) => self.ev.note(format!(
                    "The control could not resolve {} ({cf}), so the probe's answers ({}) are unchecked.",
                    l.host,
                    list(&l.addrs)
                )),
                _ => {}
            }
        }
    }

    fn finish(self) -> Verdict {
        let ev = self.ev;
        let (status, mut reasons) = if !ev.methods.is_empty() {
            (Status::Blocked, ev.blocked)
        } else if ev.content {
            (Status::Accessible, ev.accessible)
        } else if !ev.down.is_empty() && ev.unknown.is_empty() {
            (Status::Down, ev.down)
        } else {
            let mut r = ev.unknown;
            r.extend(ev.down);
            if r.is_empty() {
                r.push("The observations allow no conclusion.".into());
            }
            (Status::Unknown, r)
        };
        for n in ev.notes {
            push(&mut reasons, n);
        }
        Verdict {
            status,
            methods: ev.methods.iter().map(|m| m.as_str().to_string()).collect(),
            reasons,
        }
    }
}
