//! The pages: the chain's final response against the control's, and known blockpages and
//! redirects to warning pages on every response of the chain.

use std::net::SocketAddr;

use base64::Engine as _;

use super::Judge;
use crate::analysis::dns::Standing;
use crate::analysis::http_diff::{self, HttpDiff};
use crate::analysis::index::{location, request_host, Fetch};
use crate::analysis::Method;
use crate::failure::quote;
use crate::fingerprints::Fingerprint;
use crate::observation::{HttpResponse, HttpTransaction, MaybeBinary};

fn body_bytes(r: &HttpResponse) -> Vec<u8> {
    match &r.body {
        None => Vec::new(),
        Some(MaybeBinary::Text(s)) => s.as_bytes().to_vec(),
        Some(MaybeBinary::Binary { data, .. }) => base64::engine::general_purpose::STANDARD
            .decode(data)
            .unwrap_or_default(),
    }
}

pub(super) fn describe(r: &HttpResponse) -> String {
    match &r.x_title {
        Some(t) => format!(
            "{}, {} bytes, title \"{}\"",
            r.code,
            r.x_body_length,
            quote(t)
        ),
        None => format!("{}, {} bytes", r.code, r.x_body_length),
    }
}

fn word(b: Option<bool>) -> &'static str {
    match b {
        Some(true) => "match",
        Some(false) => "differ",
        None => "not comparable",
    }
}

fn blockpage_reason(tx: &HttpTransaction, r: &HttpResponse, fp: &Fingerprint) -> String {
    if fp.is_redirect() {
        format!(
            "{} redirected ({}) to {}, a known warning page ({}).",
            quote(&tx.request.url),
            r.code,
            quote(location(tx).unwrap_or("?")),
            fp.label()
        )
    } else {
        format!(
            "The response from {} ({}) matches a known blockpage ({}).",
            quote(&tx.request.url),
            describe(r),
            fp.label()
        )
    }
}

impl<'i, 'a> Judge<'i, 'a> {
    /// The fingerprint a response of the chain matches, unless the match is no evidence: a
    /// response over TLS validated for its host (a censor cannot forge one), the operator's own
    /// site being measured, or a redirect within it.
    pub(super) fn fingerprint(&self, tx: &HttpTransaction) -> Option<&'i Fingerprint> {
        let r = tx.response.as_ref()?;
        if self.ix.over_valid_tls(tx) {
            return None;
        }
        let body = body_bytes(r);
        let headers = http_diff::header_list(r);
        let fp =
            self.ix
                .ctx
                .fingerprints
                .match_http(r.code, &headers, &body, self.ix.ctx.probe_cc)?;
        let hop_host = request_host(tx).unwrap_or_default();
        let own = fp.is_own_host(&self.ix.host) || (fp.is_redirect() && fp.is_own_host(&hop_host));
        (!own).then_some(fp)
    }

    /// The chain's final response against the control's.
    pub(super) fn final_response(&mut self, diff: Option<&HttpDiff>) {
        let Some(tx) = self.ix.final_response() else {
            return;
        };
        let r = tx.response.as_ref().expect("final responses have one");
        let host = request_host(tx).unwrap_or_default();
        let standing = tx
            .address
            .parse::<SocketAddr>()
            .map_or(Standing::Genuine, |a| self.standing(&host, a.ip()));
        if let Some(reason) = self.throttling(self.ix.last(), tx) {
            self.ev.block(Method::Throttling, reason);
        }
        if self.ev.blockpage {
            return; // a known blockpage says what the final page is
        }
        let page = format!(
            "The final response from {} ({})",
            quote(&tx.request.url),
            describe(r)
        );
        if self.ix.over_valid_tls(tx) {
            let what = format!("{page} came over TLS validated for {}", quote(&host));
            match (r.code >= 500, self.fetch()) {
                (true, Some(Fetch::Failed(cf))) => self
                    .ev
                    .down(format!("{what}, and the control's fetch failed too ({cf}).")),
                (_, None) => self.ev.unknown(format!(
                    "{what}; without a control vantage gives no verdict but self-evident interference."
                )),
                (true, Some(Fetch::Ok { code })) => {
                    self.ev.content = true;
                    self.ev.accessible.push(format!(
                        "{what}: the site itself answered with an error where the control got {code}, a server-side difference."
                    ));
                }
                (false, _) => {
                    self.ev.content = true;
                    self.ev.accessible.push(format!("{what}."));
                }
            }
            return;
        }
        let Some(c) = self.ix.control.as_ref() else {
            self.ev.unknown(format!(
                "{page} came over cleartext HTTP; without a control it cannot be checked against the site's."
            ));
            return;
        };
        if standing == Standing::Ghost {
            self.ev.note(format!(
                "{page} came from the rewriting resolver's answer for a name that does not exist."
            ));
            return;
        }
        let ch = &c.answer.http_request;
        let theirs = format!(
            "{}, {} bytes, title \"{}\"",
            ch.status_code,
            ch.body_length,
            quote(&ch.title)
        );
        if let Some(cdn) = http_diff::control_challenge(ch) {
            self.ev.unknown(format!(
                "{page} cannot be compared with the control's: the control got {cdn}'s challenge page ({theirs}) instead of the site's."
            ));
            return;
        }
        if let Fetch::Failed(cf) = &c.fetch {
            if r.code >= 500 {
                self.ev.down(format!(
                    "{page} is a server error, and the control's fetch failed too ({cf})."
                ));
            } else {
                self.ev.unknown(format!(
                    "{page}: the control's fetch failed ({cf}), nothing to compare with."
                ));
            }
            return;
        }
        if let Some(cdn) = http_diff::server_side_challenge(r) {
            self.ev.content = true;
            self.ev.accessible.push(format!(
                "{page} is {cdn}'s challenge page where the control got ({theirs}): the site's CDN answered, a server-side difference, not interference."
            ));
            return;
        }
        let d = diff.cloned().unwrap_or_default();
        if !d.is_diff() {
            self.ev.content = true;
            self.ev.accessible.push(format!(
                "{page} matches the control's ({theirs}): status code and {} agree.",
                d.agreeing()
            ));
            return;
        }
        let differs = format!("{page} differs from the control's ({theirs})");
        let not_comparable = match standing {
            // The DNS evidence explains why the page is another one.
            Standing::Forged => {
                self.ev.note(format!("{differs}."));
                return;
            }
            Standing::Unverified => Some(format!(
                "it came from an address that nothing ties to {} or against it",
                quote(&host)
            )),
            _ if d.status_code_match.is_none() => Some(format!(
                "the control's own answer is not a page to compare with (status {})",
                ch.status_code
            )),
            _ if r.code >= 500 => Some(format!(
                "a server error where the control got {} is the server's difference, not one a censor is known for",
                ch.status_code
            )),
            _ if self.ix.same_page_as_control(tx) == Some(false) => Some(format!(
                "the control's fetch ended on another page ({})",
                quote(c.final_url.as_ref().map_or("?", |u| u.as_str()))
            )),
            _ => None,
        };
        if let Some(why) = not_comparable {
            self.ev.unknown(format!(
                "{differs}, but {why}: the difference is not evidence of interference."
            ));
            return;
        }
        self.ev.block(
            Method::HttpDiff,
            format!(
                "{differs}: status code {}, body length {}, uncommon headers {} (HTTP/1.1 framing headers aside), title {}.",
                word(d.status_code_match),
                word(d.body_length_match),
                word(d.headers_match),
                word(d.title_match)
            ),
        );
    }

    /// Known blockpages and redirects to known warning pages, on every response of the chain.
    pub(super) fn blockpages(&mut self, diff: Option<&HttpDiff>) {
        let control = self.ix.control.as_ref();
        let control_sha = control
            .and_then(|c| c.answer.http_request.x_body_sha256.as_deref())
            .filter(|s| !s.is_empty());
        let final_tx = self.ix.final_response();
        // A final page that matches the control's is the site's, whatever it quotes.
        let final_matches_control = diff.is_some_and(|d| !d.is_diff());
        for tx in self.ix.obs.requests.iter().rev() {
            let Some(r) = &tx.response else { continue };
            let Some(fp) = self.fingerprint(tx) else {
                continue;
            };
            let is_final = final_tx.is_some_and(|f| std::ptr::eq(f, tx));
            if !fp.is_redirect()
                && ((is_final && final_matches_control)
                    || control_sha.is_some_and(|s| s == r.x_body_sha256))
            {
                continue;
            }
            self.ev.blockpage = true;
            if let Ok(a) = tx.address.parse::<SocketAddr>() {
                self.ev.blockpage_addrs.insert(a.ip());
            }
            self.ev
                .block(Method::HttpBlockpage, blockpage_reason(tx, r, fp));
        }
    }
}
