//! Network failures as data: the closed list of ways a network step can fail, spelled with
//! OONI's failure strings (df-007), and the classification of io, rustls and hyper errors into it.
//!
//! A `Failure` is an observation, never a Rust error: the probe records it and goes on.

use std::error::Error as StdError;
use std::fmt;
use std::io;

use serde::{Serialize, Serializer};

/// How a network step failed. Serialized as OONI's failure string.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Failure {
    ConnectionRefused,
    ConnectionReset,
    ConnectionAborted,
    Eof,
    Timeout,
    HostUnreachable,
    NetworkUnreachable,
    DnsNxdomain,
    DnsNoAnswer,
    DnsRefused,
    DnsServfail,
    DnsServerMisbehaving,
    DnsWrongQueryId,
    SslInvalidHostname,
    SslUnknownAuthority,
    SslInvalidCertificate,
    SslFailedHandshake,
    /// Anything else, with a short description (`unknown_failure: ...` as OONI writes it).
    Unknown(String),
}

impl Failure {
    /// OONI's string for this failure.
    pub fn as_ooni(&self) -> std::borrow::Cow<'static, str> {
        use std::borrow::Cow::Borrowed;
        match self {
            Failure::ConnectionRefused => Borrowed("connection_refused"),
            Failure::ConnectionReset => Borrowed("connection_reset"),
            Failure::ConnectionAborted => Borrowed("connection_aborted"),
            Failure::Eof => Borrowed("eof_error"),
            Failure::Timeout => Borrowed("generic_timeout_error"),
            Failure::HostUnreachable => Borrowed("host_unreachable"),
            Failure::NetworkUnreachable => Borrowed("network_unreachable"),
            Failure::DnsNxdomain => Borrowed("dns_nxdomain_error"),
            Failure::DnsNoAnswer => Borrowed("dns_no_answer"),
            Failure::DnsRefused => Borrowed("dns_refused_error"),
            Failure::DnsServfail => Borrowed("dns_servfail_error"),
            Failure::DnsServerMisbehaving => Borrowed("dns_server_misbehaving"),
            Failure::DnsWrongQueryId => Borrowed("dns_reply_with_wrong_query_id"),
            Failure::SslInvalidHostname => Borrowed("ssl_invalid_hostname"),
            Failure::SslUnknownAuthority => Borrowed("ssl_unknown_authority"),
            Failure::SslInvalidCertificate => Borrowed("ssl_invalid_certificate"),
            Failure::SslFailedHandshake => Borrowed("ssl_failed_handshake"),
            Failure::Unknown(detail) => format!("unknown_failure: {}", quote(detail)).into(),
        }
    }

    /// Parses OONI's string back (used when reading records and control answers).
    pub fn from_ooni(s: &str) -> Failure {
        match s {
            "connection_refused" => Failure::ConnectionRefused,
            "connection_reset" => Failure::ConnectionReset,
            "connection_aborted" => Failure::ConnectionAborted,
            "eof_error" => Failure::Eof,
            "generic_timeout_error" => Failure::Timeout,
            "host_unreachable" => Failure::HostUnreachable,
            "network_unreachable" => Failure::NetworkUnreachable,
            "dns_nxdomain_error" | "dns_name_error" => Failure::DnsNxdomain,
            "dns_no_answer" => Failure::DnsNoAnswer,
            "dns_refused_error" => Failure::DnsRefused,
            "dns_servfail_error" | "dns_server_failure" => Failure::DnsServfail,
            "dns_server_misbehaving" => Failure::DnsServerMisbehaving,
            "dns_reply_with_wrong_query_id" => Failure::DnsWrongQueryId,
            "ssl_invalid_hostname" => Failure::SslInvalidHostname,
            "ssl_unknown_authority" => Failure::SslUnknownAuthority,
            "ssl_invalid_certificate" => Failure::SslInvalidCertificate,
            "ssl_failed_handshake" => Failure::SslFailedHandshake,
            other => Failure::Unknown(
                other
                    .strip_prefix("unknown_failure: ")
                    .unwrap_or(other)
                    .to_string(),
            ),
        }
    }

    /// True for the failures that mean "the certificate did not validate" (the handshake itself completed).
    pub fn is_certificate(&self) -> bool {
        matches!(
            self,
            Failure::SslInvalidHostname
                | Failure::SslUnknownAuthority
                | Failure::SslInvalidCertificate
        )
    }

    /// Classifies any error by walking its whole chain, looking through io errors that wrap
    /// rustls or io errors (their `source()` skips the wrapped error).
    pub fn classify(err: &(dyn StdError + 'static)) -> Failure {
        let mut current: Option<&(dyn StdError + 'static)> = Some(err);
        let mut fallback: Option<Failure> = None;
        while let Some(e) = current {
            if let Some(f) = classify_one(e) {
                return f;
            }
            if fallback.is_none() {
                if let Some(h) = e.downcast_ref::<hyper::Error>() {
                    if h.is_incomplete_message() {
                        fallback = Some(Failure::Eof);
                    } else if h.is_timeout() {
                        fallback = Some(Failure::Timeout);
                    }
                }
            }
            // An io::Error's source() skips its payload: look at the payload itself first.
            let inner = e
                .downcast_ref::<io::Error>()
                .and_then(|io| io.get_ref())
                .map(|inner| inner as &(dyn StdError + 'static));
            current = inner.or_else(|| e.source());
        }
        fallback.unwrap_or_else(|| Failure::Unknown(short(err)))
    }

    /// Classifies an io error (the common case: connect, read, write).
    pub fn from_io(err: &io::Error) -> Failure {
        Failure::classify(err)
    }
}

fn classify_one(e: &(dyn StdError + 'static)) -> Option<Failure> {
    if let Some(io) = e.downcast_ref::<io::Error>() {
        if io.get_ref().is_some() && io.kind() == io::ErrorKind::Other {
            return None; // look at the payload
        }
        return from_io_kind(io);
    }
    if let Some(tls) = e.downcast_ref::<rustls::Error>() {
        return Some(from_rustls(tls));
    }
    if e.downcast_ref::<tokio::time::error::Elapsed>().is_some() {
        return Some(Failure::Timeout);
    }
    None
}

fn from_io_kind(io: &io::Error) -> Option<Failure> {
    use io::ErrorKind as K;
    let f = match io.kind() {
        K::ConnectionRefused => Failure::ConnectionRefused,
        K::ConnectionReset => Failure::ConnectionReset,
        K::ConnectionAborted => Failure::ConnectionAborted,
        K::UnexpectedEof | K::BrokenPipe => Failure::Eof,
        K::TimedOut | K::WouldBlock => Failure::Timeout,
        K::HostUnreachable => Failure::HostUnreachable,
        K::NetworkUnreachable | K::AddrNotAvailable => Failure::NetworkUnreachable,
        _ => match io.raw_os_error() {
            Some(code) => Failure::Unknown(format!("os error {code}")),
            None => return None,
        },
    };
    Some(f)
}

fn from_rustls(e: &rustls::Error) -> Failure {
    use rustls::CertificateError as C;
    match e {
        rustls::Error::InvalidCertificate(c) => match c {
            C::NotValidForName | C::NotValidForNameContext { .. } => Failure::SslInvalidHostname,
            C::UnknownIssuer => Failure::SslUnknownAuthority,
            _ => Failure::SslInvalidCertificate,
        },
        _ => Failure::SslFailedHandshake,
    }
}

/// Longest network text quoted whole in a failure or a reason sentence, in bytes.
pub const QUOTE_MAX: usize = 256;
/// What is kept of a longer text (cut back to a char boundary).
const QUOTE_PREFIX: usize = 200;

/// Network-supplied text (a Location, a header value, a URL, a title, an error that echoes
/// one), ready to quote in a failure or a reason: whole if at most `QUOTE_MAX` bytes, else its
/// first 200 bytes or fewer, on a char boundary, then `… (N bytes)` with the full length.
/// Idempotent: a quoted text is short enough to be kept whole.
pub fn quote(s: &str) -> String {
    if s.len() <= QUOTE_MAX {
        return s.to_string();
    }
    format!("{}… ({} bytes)", prefix(s, QUOTE_PREFIX), s.len())
}

/// The longest start of `s` of at most `max` bytes that ends on a char boundary.
pub fn prefix(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn short(err: &dyn StdError) -> String {
    quote(&err.to_string())
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.as_ooni())
    }
}

impl Serialize for Failure {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.as_ooni())
    }
}

impl<'de> serde::Deserialize<'de> for Failure {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(Failure::from_ooni(&s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quote_keeps_short_text_and_cuts_long_text_on_a_char_boundary_with_its_length() {
        assert_eq!(quote("http://a.example/"), "http://a.example/");
        let edge = "x".repeat(QUOTE_MAX);
        assert_eq!(quote(&edge), edge);
        let long = format!("http://[{}", "\"".repeat(380_000));
        let q = quote(&long);
        assert!(q.starts_with("http://[\"\""), "{q}");
        assert!(q.ends_with("… (380008 bytes)"), "{q}");
        assert!(q.len() < QUOTE_MAX, "{} bytes", q.len());
        // 'é' is two bytes: byte 200 falls inside one, so the cut steps back to 199.
        let wide = format!("x{}", "é".repeat(1000));
        let q = quote(&wide);
        assert_eq!(q, format!("{}… (2001 bytes)", &wide[..199]));
        assert_eq!(quote(&q), q, "idempotent");
        let f = Failure::Unknown(long);
        assert!(f.as_ooni().len() < 300, "{}", f.as_ooni().len());
    }

    #[test]
    fn io_kinds_map_to_ooni_strings() {
        let cases = [
            (io::ErrorKind::ConnectionRefused, "connection_refused"),
            (io::ErrorKind::ConnectionReset, "connection_reset"),
            (io::ErrorKind::ConnectionAborted, "connection_aborted"),
            (io::ErrorKind::UnexpectedEof, "eof_error"),
            (io::ErrorKind::BrokenPipe, "eof_error"),
            (io::ErrorKind::TimedOut, "generic_timeout_error"),
            (io::ErrorKind::WouldBlock, "generic_timeout_error"),
            (io::ErrorKind::HostUnreachable, "host_unreachable"),
            (io::ErrorKind::NetworkUnreachable, "network_unreachable"),
            (io::ErrorKind::AddrNotAvailable, "network_unreachable"),
        ];
        for (kind, want) in cases {
            assert_eq!(Failure::from_io(&io::Error::from(kind)).as_ooni(), want);
            // The same kind carrying a message of its own: the kind decides, the text does not.
            let with_text = io::Error::new(kind, "said by the peer");
            assert_eq!(Failure::from_io(&with_text).as_ooni(), want, "{kind:?}");
        }
        // An OS error no kind names keeps its number (ENOPROTOOPT on Linux); an error with
        // neither is unknown by its text.
        if cfg!(target_os = "linux") {
            let raw = io::Error::from_raw_os_error(92);
            assert_eq!(
                Failure::from_io(&raw),
                Failure::Unknown("os error 92".into())
            );
        }
        let bare = io::Error::new(io::ErrorKind::InvalidData, "garbage");
        assert_eq!(Failure::from_io(&bare), Failure::Unknown("garbage".into()));
    }

    #[test]
    fn reset_wrapped_inside_io_errors_is_found() {
        // tokio-rustls and hyper wrap the socket error: the classifier must dig it out.
        let reset = io::Error::from(io::ErrorKind::ConnectionReset);
        let wrapped = io::Error::other(reset);
        let twice = io::Error::new(io::ErrorKind::InvalidData, wrapped);
        assert_eq!(Failure::from_io(&twice), Failure::ConnectionReset);
    }

    #[test]
    fn rustls_certificate_errors_are_named() {
        let cases = [
            (
                rustls::CertificateError::NotValidForName,
                "ssl_invalid_hostname",
            ),
            (
                rustls::CertificateError::UnknownIssuer,
                "ssl_unknown_authority",
            ),
            (rustls::CertificateError::Expired, "ssl_invalid_certificate"),
        ];
        for (c, want) in cases {
            let io = io::Error::new(
                io::ErrorKind::InvalidData,
                rustls::Error::InvalidCertificate(c),
            );
            assert_eq!(Failure::from_io(&io).as_ooni(), want);
        }
        let alert = io::Error::new(
            io::ErrorKind::InvalidData,
            rustls::Error::AlertReceived(rustls::AlertDescription::HandshakeFailure),
        );
        assert_eq!(Failure::from_io(&alert), Failure::SslFailedHandshake);
    }

    #[test]
    fn strings_round_trip() {
        for f in [
            Failure::ConnectionReset,
            Failure::DnsNxdomain,
            Failure::SslUnknownAuthority,
            Failure::Unknown("x".into()),
        ] {
            assert_eq!(Failure::from_ooni(&f.as_ooni()), f);
        }
        assert_eq!(Failure::from_ooni("dns_name_error"), Failure::DnsNxdomain);
    }
}
