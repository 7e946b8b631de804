//! The control, checked once before the first target: one `GET /info`, bounded by
//! `PREFLIGHT_TIMEOUT`, says whether the control is reachable, takes the probe's token and
//! speaks this probe's protocol, and what it answers also tells the probe its public address
//! (scrubbed from records) and how many requests the control takes at once.
//!
//! A failed check does not stop the run: the probe measures anyway (its own observations are
//! worth keeping) and says, before the first target, what is wrong and that verdicts will be
//! `unknown` (`Preflight::problem`). The same module says when records will carry no country or
//! network (`attribution_note`).

use std::time::Duration;

use super::{ControlClient, HelperInfo, PROTOCOL};
use crate::scrub::ProbeAddrs;

/// How long the check waits for `/info`.
pub const PREFLIGHT_TIMEOUT: Duration = Duration::from_secs(5);

/// What the check found.
#[derive(Clone, Debug, PartialEq)]
pub enum Finding {
    /// A vantage helper of this protocol that took the token.
    Ready(HelperInfo),
    /// A vantage helper of another protocol.
    Protocol(HelperInfo),
    /// No `/info` (404): an OONI test helper, probably; nothing more can be checked.
    NoInfo,
    /// `/info` failed: the `control_failure` string it would be in a record.
    Failed(String),
    /// No answer within `PREFLIGHT_TIMEOUT`.
    Silent,
}

/// The check of one control.
#[derive(Clone, Debug)]
pub struct Preflight {
    pub url: url::Url,
    pub token_given: bool,
    pub finding: Finding,
}

/// Asks `client`'s control for `/info`, once, within `PREFLIGHT_TIMEOUT`.
pub async fn check(client: &ControlClient) -> Preflight {
    let finding = match tokio::time::timeout(PREFLIGHT_TIMEOUT, client.info()).await {
        Err(_) => Finding::Silent,
        Ok(Ok(info)) if info.protocol.is_some_and(|p| p != PROTOCOL) => Finding::Protocol(info),
        Ok(Ok(info)) => Finding::Ready(info),
        Ok(Err(f)) if f == "http_request_failed: control answered 404" => Finding::NoInfo,
        Ok(Err(f)) => Finding::Failed(f),
    };
    Preflight {
        url: client.url.clone(),
        token_given: client.token.is_some(),
        finding,
    }
}

/// The daemon's checks at start, each kept for the first pass that asks the same control
/// with the same token: that pass takes it (`take_kept`) instead of checking and warning
/// again, so one cycle says a control's problem once.
static KEPT: std::sync::Mutex<Vec<(Option<String>, Preflight)>> = std::sync::Mutex::new(Vec::new());

/// Keeps `checked` (asked with `token`) for the first pass that asks its control.
pub fn keep(checked: Preflight, token: Option<String>) {
    KEPT.lock().expect("never poisoned").push((token, checked));
}

/// The check kept for `url` asked with `token`, once.
pub fn take_kept(url: &url::Url, token: &Option<String>) -> Option<Preflight> {
    let mut kept = KEPT.lock().expect("never poisoned");
    let i = kept.iter().position(|(t, p)| t == token && p.url == *url)?;
    Some(kept.swap_remove(i).1)
}

impl Preflight {
    /// The control did not answer in time: each request would wait its whole timeout.
    pub fn found_silent(&self) -> bool {
        match &self.finding {
            Finding::Silent => true,
            Finding::Failed(f) => f.starts_with("generic_timeout_error"),
            _ => false,
        }
    }

    /// What the researcher must hear before the first target, when anything is wrong or
    /// unchecked (without the `vantage: ` prefix).
    pub fn problem(&self) -> Option<String> {
        let url = crate::redact::url(&self.url);
        const ANYWAY: &str = "measuring anyway; verdicts that need the control will be unknown";
        let said = match &self.finding {
            Finding::Ready(_) => return None,
            Finding::Protocol(info) => format!(
                "speaks protocol {}, this probe {PROTOCOL}: its answers may be misread",
                info.protocol.unwrap_or_default()
            ),
            Finding::NoInfo => "has no /info (an OONI test helper?): its token and protocol \
                                cannot be checked before measuring, and the probe's public \
                                address is scrubbed only if it is an interface's or given with \
                                --probe-ip"
                .to_string(),
            Finding::Silent => format!(
                "did not answer /info within {} s: measuring anyway; verdicts will be unknown \
                 while it stays silent",
                PREFLIGHT_TIMEOUT.as_secs()
            ),
            Finding::Failed(f) => match http_status(f) {
                Some(401) => {
                    let what = match self.token_given {
                        true => {
                            "is VANTAGE_CONTROL_TOKEN (or the config's control_token) the \
                                 helper's --token?"
                        }
                        false => "set VANTAGE_CONTROL_TOKEN or the config's control_token?",
                    };
                    format!("answered 401: token refused ({what}): {ANYWAY}")
                }
                Some(503) => "answered 503 (busy): measuring anyway; requests it is too busy \
                              for are asked again, then unknown"
                    .to_string(),
                Some(code) => format!("answered {code} at /info: {ANYWAY}"),
                None if is_transport(f) => format!("unreachable ({f}): {ANYWAY}"),
                None => format!("answered /info with no helper's info ({f}): {ANYWAY}"),
            },
        };
        Some(format!("control {url} {said}"))
    }

    /// Takes what `/info` said: the probe's address as the control saw it (behind a NAT, the
    /// vantage point's public address, scrubbed from every record; like an interface's, one
    /// that is not globally routable identifies nothing and is not scrubbed) and the requests
    /// in flight the control accepts, when it says. Without `/info`, the interface addresses
    /// and `--probe-ip` are all there is to scrub.
    pub fn apply(&self, probe_addrs: &ProbeAddrs) -> Option<usize> {
        let info = match &self.finding {
            Finding::Ready(info) | Finding::Protocol(info) => info,
            other => {
                let why = match other {
                    Finding::Failed(f) => {
                        let cause = super::health::cause(f);
                        match super::health::hint(&cause) {
                            Some(h) => format!("the control's /info failed ({cause}: {h})"),
                            None => format!("the control's /info failed ({cause})"),
                        }
                    }
                    Finding::Silent => "the control did not answer /info".to_string(),
                    _ => "no /info from the control".to_string(),
                };
                tracing::info!(
                    "{why}: the probe's public address is scrubbed only if it is an interface's \
                     or given with --probe-ip"
                );
                return None;
            }
        };
        match info.client_address {
            Some(ip) if crate::scrub::identifies_vantage(ip) => probe_addrs.add(ip),
            Some(ip) => tracing::debug!("the control sees the probe as {ip}: not public"),
            None => tracing::warn!("the control did not say the probe's address"),
        }
        info.max_inflight
    }
}

/// The status of a `http_request_failed: control answered N` failure.
fn http_status(failure: &str) -> Option<u16> {
    let rest = failure.strip_prefix("http_request_failed: control answered ")?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// A failure of the connection itself (not of what came over it).
fn is_transport(failure: &str) -> bool {
    ![
        "json_parse_error",
        "control_answer_too_large",
        "http_request_failed",
    ]
    .iter()
    .any(|p| failure.starts_with(p))
}

/// Said once at start when records will carry OONI's "unknown" country or network (`ZZ`,
/// `AS0`), which OONI's pipeline discards.
pub fn attribution_note(probe_cc: &str, probe_asn: &str) -> Option<String> {
    let (cc, asn) = (probe_cc == "ZZ", probe_asn == "AS0");
    let (flags, keys, values) = match (cc, asn) {
        (true, true) => ("--probe-cc/--probe-asn", "probe_cc/probe_asn", "ZZ/AS0"),
        (true, false) => ("--probe-cc", "probe_cc", "ZZ"),
        (false, true) => ("--probe-asn", "probe_asn", "AS0"),
        (false, false) => return None,
    };
    Some(format!(
        "records will say {values} (no {flags}, nor {keys} in the config), and OONI's \
         pipeline discards such records; give the vantage point's country and network, e.g. \
         --probe-cc DE --probe-asn AS3320"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn said(finding: Finding, token_given: bool) -> Option<String> {
        Preflight {
            url: url::Url::parse("http://127.0.0.1:9/").unwrap(),
            token_given,
            finding,
        }
        .problem()
    }

    #[test]
    fn each_finding_is_said_plainly() {
        let info = |p| HelperInfo {
            protocol: Some(p),
            ..HelperInfo::default()
        };
        let failed = |f: &str| Finding::Failed(f.into());
        let cases = [
            (Finding::Ready(info(PROTOCOL)), false, None),
            (
                failed("connection_refused"),
                false,
                Some("unreachable (connection_refused): measuring anyway; verdicts that need the control will be unknown"),
            ),
            (
                failed("http_request_failed: control answered 401"),
                false,
                Some("answered 401: token refused (set VANTAGE_CONTROL_TOKEN or the config's control_token?): measuring anyway; verdicts that need the control will be unknown"),
            ),
            (
                failed("http_request_failed: control answered 401"),
                true,
                Some("answered 401: token refused (is VANTAGE_CONTROL_TOKEN (or the config's control_token) the helper's --token?): measuring anyway; verdicts that need the control will be unknown"),
            ),
            (
                Finding::Protocol(info(7)),
                false,
                Some("speaks protocol 7, this probe 1: its answers may be misread"),
            ),
            (
                failed("json_parse_error: expected value"),
                false,
                Some("answered /info with no helper's info (json_parse_error: expected value): measuring anyway; verdicts that need the control will be unknown"),
            ),
            (
                failed("http_request_failed: control answered 500"),
                false,
                Some("answered 500 at /info: measuring anyway; verdicts that need the control will be unknown"),
            ),
        ];
        for (finding, token, want) in cases {
            let want = want.map(|w| format!("control http://127.0.0.1:9/ {w}"));
            assert_eq!(said(finding.clone(), token), want, "{finding:?}");
        }
        assert!(said(Finding::Silent, false).unwrap().contains("within 5 s"));
        assert!(said(Finding::NoInfo, false)
            .unwrap()
            .contains("OONI test helper"));
    }

    #[test]
    fn zz_and_as0_are_named() {
        let note = |cc, asn| attribution_note(cc, asn);
        assert!(note("ZZ", "AS0")
            .unwrap()
            .contains("records will say ZZ/AS0"));
        assert!(note("ZZ", "AS3320")
            .unwrap()
            .starts_with("records will say ZZ (no --probe-cc, nor probe_cc in the config)"));
        assert!(note("DE", "AS0")
            .unwrap()
            .contains("say AS0 (no --probe-asn,"));
        assert_eq!(note("DE", "AS3320"), None);
    }
}
