//! The TLS probe: a rustls handshake with SNI on a connection the probe opened, recording the
//! version, cipher, ALPN and the peer's whole chain, and whether that chain validates for the
//! name against the web PKI roots plus `--ca-file`.
//!
//! Validation is recorded, not enforced during the handshake: a censor's interception
//! certificate is the evidence, so the handshake is allowed to complete and the chain kept. The
//! caller must not send a request over a connection whose chain did not validate.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use crate::failure::Failure;
use crate::observation::{CertInfo, Clock, MaybeBinary, TlsHandshake};
use crate::probe::counting::Counters;

/// A fault in setting TLS up (a bad `--ca-file`): the probe's own error, not a network failure.
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    #[error("cannot read CA file {path}: {reason}")]
    CaFile { path: String, reason: String },
    #[error("TLS configuration: {0}")]
    Config(String),
}

/// Trust anchors and the crypto provider, built once per run.
#[derive(Clone, Debug)]
pub struct TlsContext {
    verifier: Arc<WebPkiServerVerifier>,
    provider: Arc<CryptoProvider>,
    roots: Arc<RootCertStore>,
}

impl TlsContext {
    /// Web PKI roots plus the certificates in `ca_file` (PEM), if any.
    pub fn new(ca_file: Option<&Path>) -> Result<TlsContext, TlsSetupError> {
        let mut roots = RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        if let Some(path) = ca_file {
            let err = |reason: String| TlsSetupError::CaFile {
                path: path.display().to_string(),
                reason,
            };
            let certs = CertificateDer::pem_file_iter(path)
                .map_err(|e| err(e.to_string()))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| err(e.to_string()))?;
            if certs.is_empty() {
                return Err(err("no PEM certificate in it".into()));
            }
            for cert in certs {
                roots.add(cert).map_err(|e| err(e.to_string()))?;
            }
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let roots = Arc::new(roots);
        let verifier = WebPkiServerVerifier::builder_with_provider(roots.clone(), provider.clone())
            .build()
            .map_err(|e| TlsSetupError::Config(e.to_string()))?;
        Ok(TlsContext {
            verifier,
            provider,
            roots,
        })
    }

    /// A validating client configuration with the same trust anchors, for talking to services
    /// (the control helper), where an invalid certificate must stop the connection.
    pub fn service_config(&self) -> Result<ClientConfig, TlsSetupError> {
        let mut c = ClientConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsSetupError::Config(e.to_string()))?
            .with_root_certificates(self.roots.clone())
            .with_no_client_auth();
        c.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(c)
    }

    /// Validates a chain for a name without a connection (used by tests and analysis tools).
    pub fn validate(&self, chain: &[CertificateDer<'_>], name: &str) -> Result<(), Failure> {
        let (leaf, rest) = chain.split_first().ok_or(Failure::SslInvalidCertificate)?;
        let name =
            ServerName::try_from(name.to_string()).map_err(|_| Failure::SslInvalidHostname)?;
        self.verifier
            .verify_server_cert(leaf, rest, &name, &[], UnixTime::now())
            .map(|_| ())
            .map_err(|e| Failure::classify(&e))
    }
}

/// Wraps the web PKI verifier: records its verdict and lets the handshake go on.
#[derive(Debug)]
struct RecordingVerifier {
    inner: Arc<WebPkiServerVerifier>,
    verdict: Mutex<Option<Result<(), rustls::Error>>>,
}

impl ServerCertVerifier for RecordingVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let r = self
            .inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
            .map(|_| ());
        *self.verdict.lock().expect("verdict lock") = Some(r);
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// What the handshake produced: the observation, and the stream when the chain validated.
pub struct Handshake<S> {
    pub observation: TlsHandshake,
    pub stream: Option<TlsStream<S>>,
}

/// Runs a TLS handshake on `stream` with SNI `server_name`.
#[allow(clippy::too_many_arguments)]
pub async fn handshake<S: AsyncRead + AsyncWrite + Unpin>(
    ctx: &TlsContext,
    stream: S,
    counters: &Counters,
    server_name: &str,
    addr: SocketAddr,
    timeout: Duration,
    clock: Clock,
    tags: &[String],
    transaction_id: u64,
) -> Handshake<S> {
    let t0 = clock.now();
    let parsed = server_name_of(server_name);
    let mut obs = TlsHandshake {
        network: "tcp".into(),
        address: addr.to_string(),
        server_name: match &parsed {
            Ok(ServerName::IpAddress(ip)) => std::net::IpAddr::from(*ip).to_string(),
            _ => server_name.to_string(),
        },
        cipher_suite: None,
        tls_version: None,
        negotiated_protocol: None,
        no_tls_verify: false,
        peer_certificates: vec![],
        failure: None,
        t0,
        t: t0,
        tags: tags.to_vec(),
        transaction_id,
        x_handshake_completed: false,
        x_certificate_valid: None,
        x_chain: vec![],
        x_bytes_sent: 0,
        x_bytes_received: 0,
    };
    let name = match parsed {
        Ok(n) => n,
        Err(e) => {
            obs.failure = Some(Failure::Unknown(format!("invalid server name: {e}")));
            return Handshake {
                observation: obs,
                stream: None,
            };
        }
    };
    let verifier = Arc::new(RecordingVerifier {
        inner: ctx.verifier.clone(),
        verdict: Mutex::new(None),
    });
    let config = ClientConfig::builder_with_provider(ctx.provider.clone())
        .with_safe_default_protocol_versions()
        .map(|b| {
            b.dangerous()
                .with_custom_certificate_verifier(verifier.clone())
                .with_no_client_auth()
        });
    let mut config = match config {
        Ok(c) => c,
        Err(e) => {
            obs.failure = Some(Failure::Unknown(format!("tls config: {e}")));
            return Handshake {
                observation: obs,
                stream: None,
            };
        }
    };
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let connector = TlsConnector::from(Arc::new(config));
    let result = tokio::time::timeout(timeout, connector.connect(name, stream)).await;
    obs.t = clock.now();
    obs.x_bytes_sent = counters.written();
    obs.x_bytes_received = counters.read();
    let stream = match result {
        Err(_) => {
            obs.failure = Some(Failure::Timeout);
            return Handshake {
                observation: obs,
                stream: None,
            };
        }
        Ok(Err(e)) => {
            obs.failure = Some(Failure::from_io(&e));
            return Handshake {
                observation: obs,
                stream: None,
            };
        }
        Ok(Ok(s)) => s,
    };
    obs.x_handshake_completed = true;
    let conn = stream.get_ref().1;
    obs.tls_version = conn.protocol_version().map(version_name);
    obs.cipher_suite = conn
        .negotiated_cipher_suite()
        .and_then(|s| s.suite().as_str())
        .map(|s| s.replacen("TLS13_", "TLS_", 1));
    obs.negotiated_protocol = conn
        .alpn_protocol()
        .map(|p| String::from_utf8_lossy(p).into_owned());
    if let Some(chain) = conn.peer_certificates() {
        obs.peer_certificates = chain.iter().map(|c| MaybeBinary::base64(c)).collect();
        obs.x_chain = chain.iter().map(|c| describe(c)).collect();
    }
    let verdict = verifier.verdict.lock().expect("verdict lock").take();
    match verdict {
        Some(Ok(())) => obs.x_certificate_valid = Some(true),
        Some(Err(e)) => {
            obs.x_certificate_valid = Some(false);
            obs.failure = Some(Failure::classify(&e));
        }
        None => {
            obs.x_certificate_valid = Some(false);
            obs.failure = Some(Failure::SslInvalidCertificate);
        }
    }
    let valid = obs.x_certificate_valid == Some(true);
    Handshake {
        observation: obs,
        stream: valid.then_some(stream),
    }
}

/// The server name for a URL's host (`host_str`): a domain is a DNS name (sent as SNI); an IP
/// literal, IPv6 in brackets included, is an IP address (no SNI; the certificate must name the
/// address).
fn server_name_of(host: &str) -> Result<ServerName<'static>, String> {
    match url::Host::parse(host).map_err(|e| e.to_string())? {
        url::Host::Domain(d) => ServerName::try_from(d).map_err(|e| e.to_string()),
        url::Host::Ipv4(ip) => Ok(ServerName::IpAddress(std::net::IpAddr::V4(ip).into())),
        url::Host::Ipv6(ip) => Ok(ServerName::IpAddress(std::net::IpAddr::V6(ip).into())),
    }
}

fn version_name(v: rustls::ProtocolVersion) -> String {
    match v {
        rustls::ProtocolVersion::TLSv1_3 => "TLSv1.3".into(),
        rustls::ProtocolVersion::TLSv1_2 => "TLSv1.2".into(),
        other => format!("{other:?}"),
    }
}

/// Decodes one certificate for the record; an undecodable one is described as such.
pub fn describe(der: &CertificateDer<'_>) -> CertInfo {
    let sha256 = hex::encode(Sha256::digest(der.as_ref()));
    match x509_parser::parse_x509_certificate(der.as_ref()) {
        Ok((_, cert)) => {
            let mut san = Vec::new();
            if let Ok(Some(ext)) = cert.subject_alternative_name() {
                for name in &ext.value.general_names {
                    match name {
                        x509_parser::extensions::GeneralName::DNSName(d) => san.push(d.to_string()),
                        x509_parser::extensions::GeneralName::IPAddress(b) => {
                            san.push(ip_from_bytes(b))
                        }
                        _ => {}
                    }
                }
            }
            let v = cert.validity();
            CertInfo {
                subject: cert.subject().to_string(),
                issuer: cert.issuer().to_string(),
                san,
                not_before: rfc3339(v.not_before.to_datetime()),
                not_after: rfc3339(v.not_after.to_datetime()),
                serial: cert.raw_serial_as_string(),
                sha256,
            }
        }
        Err(e) => CertInfo {
            subject: format!("(undecodable certificate: {e})"),
            issuer: String::new(),
            san: vec![],
            not_before: String::new(),
            not_after: String::new(),
            serial: String::new(),
            sha256,
        },
    }
}

fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn ip_from_bytes(b: &[u8]) -> String {
    match b.len() {
        4 => std::net::Ipv4Addr::from(<[u8; 4]>::try_from(b).expect("4")).to_string(),
        16 => std::net::Ipv6Addr::from(<[u8; 16]>::try_from(b).expect("16")).to_string(),
        _ => hex::encode(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_hosts_become_server_names() {
        let ip = |s: &str| ServerName::IpAddress(s.parse::<std::net::IpAddr>().unwrap().into());
        assert_eq!(server_name_of("[::1]").unwrap(), ip("::1"));
        assert_eq!(server_name_of("[2001:db8::5]").unwrap(), ip("2001:db8::5"));
        assert_eq!(server_name_of("192.0.2.7").unwrap(), ip("192.0.2.7"));
        assert_eq!(
            server_name_of("example.org").unwrap(),
            ServerName::try_from("example.org").unwrap()
        );
        assert!(server_name_of("[::1").is_err());
    }
}
