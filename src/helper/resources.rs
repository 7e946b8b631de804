//! Failures that are the helper's own: it could not open a socket or buffer because it is out
//! of descriptors or memory (EMFILE, ENFILE, ENOBUFS, ENOMEM). They say nothing about the site,
//! so a measurement with one is never answered (503): otherwise anyone who can load the helper
//! could turn "blocked" into "down". Only the exact failures `Failure::from_io` makes of
//! those errnos on the steps that open sockets count: a site's text never does.

use crate::failure::Failure;
use crate::observation::{Observations, TcpConnect, TlsHandshake};

/// `os error N` codes of a local resource failure (Linux): ENOMEM, ENFILE, EMFILE, ENOBUFS.
const LOCAL_ERRNOS: [i32; 4] = [12, 23, 24, 105];

/// The failure is this host running out of something: exactly what `Failure::from_io` makes of
/// such an errno (`Unknown("os error 24")`), never a longer text that merely contains it.
pub fn is_local(failure: &Failure) -> bool {
    let Failure::Unknown(detail) = failure else {
        return false;
    };
    LOCAL_ERRNOS
        .iter()
        .any(|code| *detail == format!("os error {code}"))
}

/// The first local resource failure of a measurement and its endpoint checks. Only the steps
/// that open the helper's own sockets are looked at (the DNS socket's bind and send, TCP
/// connects): TLS and HTTP failures run on a socket already open and their text can carry the
/// site's data (a redirect's Location), which must never turn into the helper's 503.
pub fn local_failure<'a>(
    obs: &'a Observations,
    checks: &'a [(TcpConnect, Option<TlsHandshake>)],
) -> Option<&'a Failure> {
    let dns = obs.queries.iter().filter_map(|q| q.failure.as_ref());
    let tcp = obs
        .tcp_connect
        .iter()
        .chain(checks.iter().map(|c| &c.0))
        .filter_map(|t| t.status.failure.as_ref());
    dns.chain(tcp).find(|f| is_local(f))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_resource_failures_are_recognized() {
        let cases = [
            (Failure::Unknown("os error 24".into()), true),
            (
                Failure::Unknown("invalid redirect Location \"http://[os error 24\"".into()),
                false,
            ),
            (Failure::Unknown("os error 24 ".into()), false),
            (Failure::Unknown("os error 23".into()), true),
            (Failure::Unknown("os error 105".into()), true),
            (Failure::Unknown("os error 12".into()), true),
            (Failure::Unknown("os error 124".into()), false),
            (Failure::Unknown("os error 2".into()), false),
            (Failure::Unknown("os error 1".into()), false),
            (Failure::ConnectionRefused, false),
            (Failure::Timeout, false),
        ];
        for (f, want) in cases {
            assert_eq!(is_local(&f), want, "{f:?}");
        }
    }

    #[test]
    fn a_measurement_with_one_is_found() {
        let mut obs = Observations::default();
        assert!(local_failure(&obs, &[]).is_none());
        let mut t = TcpConnect {
            ip: "192.0.2.1".into(),
            port: 443,
            status: crate::observation::TcpStatus {
                success: false,
                failure: Some(Failure::ConnectionRefused),
            },
            t0: 0.0,
            t: 0.0,
            tags: vec![],
            transaction_id: 1,
        };
        obs.tcp_connect.push(t.clone());
        assert!(local_failure(&obs, &[]).is_none());
        t.status.failure = Some(Failure::Unknown("os error 24".into()));
        assert!(local_failure(&obs, &[(t, None)]).is_some());
    }
}
