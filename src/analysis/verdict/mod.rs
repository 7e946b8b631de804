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
//! - Answers that differ from the control's are forged only on positive evidence: a bogon, a
//!   known forged answer, an injected answer, a certificate not valid for the name where the
//!   control's is, or a known blockpage served from them. With nothing for or against them
//!   (no shared address or ASN, no TLS evidence) a CDN's answers cannot be told from forged
//!   ones: `unknown`, and what failed or differed at them is not blamed either. Answers that
//!   accept no connection from the probe or the control, while the control's own addresses
//!   serve the site, are not the site's (`dead_ends`): a resolver poisoned upstream. A page that
//!   matches the control's makes them a CDN's. Answers for a name the control finds does not
//!   exist are a resolver rewriting NXDOMAIN: the site is `down`.
//! - Failures at a redirect hop (past the input's host) count only on the hosts the control's
//!   fetch went through (the input's, the one it ended on); pages are compared only when the
//!   probe's final URL is the control's, except that a cleartext redirect off the site that the
//!   control did not get, leading to another page, is evidence (`verdict::redirects`).
//! - Once a hop's page was fetched, failures on its other addresses are not evidence (one IPv6
//!   address unreachable from a v4-only network is normal).
//! - After a redirect to a known warning page, the hops that follow are the censor's page, not
//!   the site: what happens there is not evidence about the site.
//! - Without a control (none asked, or it failed) the verdict is `blocked` on self-evident signs
//!   and `unknown` otherwise (docs/RECORD.md), even for a page over validated TLS.

use std::collections::BTreeSet;
use std::net::IpAddr;

use super::dns::{list, Agreement, DnsState, Lookup, Standing};
use super::http_diff::HttpDiff;
use super::index::{depth_of, request_host, same_host, unreachable, ControlDns, Fetch, Index};
use super::{Method, Status, Verdict};
use crate::failure::{quote, Failure};

mod pages;
mod redirects;
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
    /// The addresses that served a known blockpage.
    blockpage_addrs: BTreeSet<IpAddr>,
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

/// `diff` is the comparison as the verdict weighs it (`HttpDiff::for_verdict`).
pub fn compute(ix: &Index<'_>, lookups: &[Lookup<'_>], diff: Option<HttpDiff>) -> Verdict {
    let diff = diff.as_ref();
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
    j.forged_redirects(diff);
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

    /// What the DNS evidence says about `ip` as an address of `host`.
    fn standing(&self, host: &str, ip: IpAddr) -> Standing {
        self.lookup(host)
            .map_or(Standing::Genuine, |l| l.standing(ip))
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
            for r in &l.foreign {
                self.ev.note(r.clone());
            }
            for ip in &l.bogons {
                self.ev.block(
                    Method::DnsBogon,
                    format!(
                        "The resolver {} answered {} with {ip}, a {} address.",
                        l.resolver,
                        quote(&l.host),
                        crate::bogon::kind(*ip).unwrap_or("reserved")
                    ),
                );
            }
            if let Some((value, f)) = &l.fingerprint {
                self.ev.block(
                    Method::DnsForged,
                    format!(
                        "The resolver {} answered {} with {value}, a known forged answer ({}).",
                        l.resolver,
                        quote(&l.host),
                        f.label()
                    ),
                );
            }
            if let Some(f) = &l.failure {
                if self.past_detour(l.depth) && !same_host(&l.host, &self.ix.host) {
                    self.ev.note(format!(
                        "The lookup of {} (past the redirect to a warning page) failed with {f}.",
                        quote(&l.host)
                    ));
                } else {
                    self.dns_failure(l, f);
                }
            }
        }
    }

    fn dns_failure(&mut self, l: &Lookup<'a>, f: &Failure) {
        let what = format!(
            "The lookup of {} at {} failed with {f}",
            quote(&l.host),
            l.resolver
        );
        if unreachable(f) || matches!(f, Failure::Unknown(_)) {
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
            (None, Some(Fetch::Ok { .. })) if self.ix.control_visited(&l.host) => self.ev.block(
                method,
                format!("{what} while the control fetched the page through the same redirects."),
            ),
            (None, Some(Fetch::Ok { .. })) => self.ev.unknown(format!(
                "{what}; the control's fetch never went to {}, so it says nothing about that host.",
                quote(&l.host)
            )),
            (None, Some(Fetch::Failed(cf))) => self.ev.down(format!(
                "{what}, and the control's fetch failed too ({cf})."
            )),
            (None, None) => self.ev.unknown(format!("{what}.")),
        }
    }

    /// Answers that differ from the control's, judged by the evidence for and against them.
    fn dns_differences(&mut self) {
        let final_host = self
            .ix
            .final_response()
            .and_then(request_host)
            .unwrap_or_default();
        for l in self.lookups {
            let theirs = &l.control_addrs;
            match &l.state {
                DnsState::Consistent(Agreement::Tls) if !theirs.is_empty() => {
                    let at: Vec<IpAddr> = (l.vindicated.iter().copied())
                        .filter(|a| l.addrs.contains(a))
                        .collect();
                    self.ev.note(format!(
                        "The answers for {} ({}) differ from the control's ({}), but TLS validated {} at {}: a CDN's or GeoDNS answers.",
                        quote(&l.host),
                        list(&l.addrs),
                        list(theirs),
                        quote(&l.host),
                        list(&at)
                    ));
                }
                DnsState::Ghost(cf) => self.ev.down(format!(
                    "The control finds no such name as {} ({cf}), but the resolver {} answered it with {}: the name does not exist, and the resolver rewrites NXDOMAIN (to a search or advertising page, as many ISPs' resolvers do).",
                    quote(&l.host),
                    l.resolver,
                    list(&l.addrs)
                )),
                DnsState::Inconsistent => self.inconsistent(l, &final_host),
                DnsState::ControlFailed(cf) => self.ev.note(format!(
                    "The control could not resolve {} ({cf}), so the probe's answers ({}) are unchecked.",
                    quote(&l.host),
                    list(&l.addrs)
                )),
                _ => {}
            }
        }
    }

    /// Answers the control does not share and no TLS handshake vindicates.
    fn inconsistent(&mut self, l: &Lookup<'a>, final_host: &str) {
        let base = format!(
            "The answers for {} ({}) differ from the control's ({}) and TLS does not vindicate them",
            quote(&l.host),
            list(&l.addrs),
            list(&l.control_addrs)
        );
        // Bogons and known forged answers are named by their own methods.
        if l.explained() {
            self.ev.note(format!("{base}."));
            return;
        }
        let mut against: Vec<String> = Vec::new();
        for ip in &l.addrs {
            if l.injected.contains(ip) {
                against.push(format!("{ip} came in an injected answer"));
            }
            if let Some(why) = l.contradicted.get(ip) {
                against.push(why.clone());
            }
            if self.ev.blockpage_addrs.contains(ip) {
                against.push(format!("{ip} served a known blockpage"));
            }
        }
        if !against.is_empty() {
            self.ev.block(
                Method::DnsForged,
                format!("{base}, and {}.", against.join("; ")),
            );
            return;
        }
        let hop_failed = self.ix.hops.iter().any(|h| {
            same_host(&h.host, &l.host) && h.request.is_none_or(|tx| tx.failure.is_some())
        });
        let led_elsewhere = same_host(final_host, &l.host) && !self.ev.content;
        if self.ev.content && !hop_failed {
            self.ev.note(format!(
                "{base}, but the page matched the control's: taken as a CDN's or GeoDNS answers."
            ));
        } else if (hop_failed || led_elsewhere)
            && self.ix.control.as_ref().is_some_and(|c| c.fetch_ok())
        {
            let led = if hop_failed {
                "a failure"
            } else {
                "another page"
            };
            self.ev.unknown(format!(
                "{base}; they led to {led}, but nothing contradicts them either (no bogon, no known forged answer, no injection, no certificate for another name, no blockpage): a CDN's or GeoDNS answers cannot be told from forged ones."
            ));
        } else {
            self.ev.note(format!("{base}."));
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
