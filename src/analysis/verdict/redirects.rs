//! Redirects the site did not send. A censor on the path can answer a cleartext GET with a 302
//! to its warning page on another host; the site never sent it, and the control, which fetched
//! the same URL from outside, got the page there (or was sent on somewhere else). So a redirect
//! at a hop is evidence when all of these hold:
//!
//! - it came over cleartext HTTP (a response over TLS validated for its host is the site's);
//! - it came from an address the DNS evidence calls the site's;
//! - the hop is on the site's way (its host is the input's site or the control's final one);
//! - it leaves the site: its target is on neither the hop's nor the input's site (same last two
//!   labels, `index::same_site`), so a site's own geo-redirect (`de.example.com`, `example.com/de`)
//!   never counts;
//! - the control did not go there too: its fetch ended elsewhere than the target's site (the
//!   same redirect seen by the control is the site's);
//! - the probe's final page differs from the control's by OONI's rules (a geo-redirect to the
//!   site's page under another domain matches it) and is no CDN's challenge.
//!
//! Then the method is `http.blockpage` when the redirect or its page is known (fingerprints,
//! weighed in `pages`), else `http.diff`. The control must say where its fetch ended (vantage's
//! helpers do, OONI's do not): without that, nothing is concluded here.

use std::net::SocketAddr;

use super::pages::describe;
use super::Judge;
use crate::analysis::dns::Standing;
use crate::analysis::http_diff::{self, HttpDiff};
use crate::analysis::index::{host_of, redirect_target, request_host, same_site, Fetch};
use crate::analysis::Method;
use crate::failure::quote;

impl Judge<'_, '_> {
    /// A redirect at some hop that the control's fetch did not get there.
    pub(super) fn forged_redirects(&mut self, diff: Option<&HttpDiff>) {
        if self.ev.blockpage || !diff.is_some_and(HttpDiff::is_diff) {
            return;
        }
        let Some(c) = self.ix.control.as_ref() else {
            return;
        };
        let (Fetch::Ok { .. }, Some(theirs)) = (&c.fetch, c.final_url.as_ref()) else {
            return;
        };
        let Some(last) = self.ix.final_response() else {
            return;
        };
        let ch = &c.answer.http_request;
        if http_diff::control_challenge(ch).is_some()
            || last
                .response
                .as_ref()
                .is_some_and(|r| http_diff::server_side_challenge(r).is_some())
        {
            return;
        }
        let their_host = host_of(theirs).unwrap_or_default();
        for hop in &self.ix.hops {
            let Some(tx) = hop.request.filter(|tx| tx.failure.is_none()) else {
                continue;
            };
            let Some(target) = redirect_target(tx) else {
                continue;
            };
            let (Some(from), Some(to)) = (request_host(tx), host_of(&target)) else {
                continue;
            };
            let on_the_way = same_site(&from, &self.ix.host) || same_site(&from, &their_host);
            let leaves = !same_site(&to, &from) && !same_site(&to, &self.ix.host);
            if self.ix.over_valid_tls(tx) || !on_the_way || !leaves || same_site(&to, &their_host) {
                continue;
            }
            let standing = tx
                .address
                .parse::<SocketAddr>()
                .map_or(Standing::Genuine, |a| self.standing(&from, a.ip()));
            if standing != Standing::Genuine {
                continue;
            }
            let code = tx.response.as_ref().map_or(0, |r| r.code);
            let control = if self.ix.same_page_as_control(tx) == Some(true) {
                format!(
                    "where the control got the page at {}",
                    quote(&tx.request.url)
                )
            } else {
                format!(
                    "where the control's fetch went on to {}",
                    quote(theirs.as_str())
                )
            };
            let page = last.response.as_ref().map(describe).unwrap_or_default();
            self.ev.block(
                Method::HttpDiff,
                format!(
                    "{} redirected ({code}) to {} over cleartext HTTP, {control}: the site did not send that redirect, and the page it led to ({} from {}, {page}) differs from the control's ({}, {} bytes, title \"{}\").",
                    quote(&tx.request.url), quote(target.as_str()), quote(&last.request.url), last.address, ch.status_code, ch.body_length, quote(&ch.title)
                ),
            );
            return;
        }
    }
}
