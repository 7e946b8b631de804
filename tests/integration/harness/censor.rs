//! An in-process censor on the probe's path. Its DNS side answers the probe's queries: it lies
//! for some names (a bogon, NXDOMAIN, a blockpage server's address), races a forged answer ahead
//! of the real one for others, and forwards the rest to the real resolver. Its middlebox sits in
//! front of the sites: it reads the TLS SNI or the HTTP Host of each connection and then passes
//! it through, resets, closes, stalls, injects a blockpage or redirect, throttles, or intercepts
//! TLS with its own CA. Connections from the control's source address go around it untouched, as
//! a censor on the probe's link would never see them.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use hickory_proto::op::{Message, ResponseCode};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream, UdpSocket};

use super::dns::{query_name, reply};
use super::Ca;

/// What the censor's DNS does for one name.
#[derive(Clone, Debug)]
pub enum DnsLie {
    /// Answers these addresses itself.
    Addrs(Vec<IpAddr>),
    NxDomain,
    /// Sends `forged` at once, then the real resolver's answer.
    Inject(Vec<IpAddr>),
}

/// Starts the censor's resolver; names without a lie are forwarded to `upstream`.
pub async fn dns(upstream: SocketAddr, lies: HashMap<String, DnsLie>) -> SocketAddr {
    let sock = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
    let addr = sock.local_addr().unwrap();
    let lies = Arc::new(lies);
    tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        loop {
            let Ok((n, peer)) = sock.recv_from(&mut buf).await else {
                continue;
            };
            let raw = buf[..n].to_vec();
            let Ok(query) = Message::from_vec(&raw) else {
                continue;
            };
            let (sock, lies) = (sock.clone(), lies.clone());
            tokio::spawn(async move {
                let name = query_name(&query).unwrap_or_default();
                match lies.get(&name) {
                    Some(DnsLie::Addrs(a)) => {
                        let _ = sock
                            .send_to(&reply(&query, ResponseCode::NoError, a, false), peer)
                            .await;
                    }
                    Some(DnsLie::NxDomain) => {
                        let _ = sock
                            .send_to(&reply(&query, ResponseCode::NXDomain, &[], false), peer)
                            .await;
                    }
                    Some(DnsLie::Inject(forged)) => {
                        let _ = sock
                            .send_to(&reply(&query, ResponseCode::NoError, forged, false), peer)
                            .await;
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        forward(&sock, &raw, upstream, peer).await;
                    }
                    None => forward(&sock, &raw, upstream, peer).await,
                }
            });
        }
    });
    addr
}

async fn forward(sock: &UdpSocket, raw: &[u8], upstream: SocketAddr, peer: SocketAddr) {
    let up = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let _ = up.send_to(raw, upstream).await;
    let mut buf = vec![0u8; 4096];
    if let Ok(Ok((n, _))) =
        tokio::time::timeout(Duration::from_secs(2), up.recv_from(&mut buf)).await
    {
        let _ = sock.send_to(&buf[..n], peer).await;
    }
}

/// What the middlebox does to a connection whose SNI or Host contains a rule's keyword.
#[derive(Clone, Debug)]
pub enum Action {
    Reset,
    Close,
    Stall,
    /// Answers the HTTP request itself with this page (status 200).
    Blockpage(String),
    /// Answers the HTTP request with a 302 to this location.
    Redirect(String),
    /// Relays, but the site's bytes at most this many per second.
    Throttle(usize),
    /// Terminates TLS with a certificate from the censor's CA and serves its own page.
    Intercept,
}

/// One middlebox in front of one site port.
pub struct Middlebox {
    pub rules: Vec<(String, Action)>,
    /// Connections from this source address are passed through untouched (the control).
    pub exempt: IpAddr,
}

/// Serves `mb` on `listen`, relaying to `upstream`.
pub async fn middlebox(
    listen: SocketAddr,
    upstream: SocketAddr,
    mb: Middlebox,
    censor_ca: &Ca,
) -> SocketAddr {
    let listener = TcpListener::bind(listen).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mb = Arc::new(mb);
    let mut certs = HashMap::new();
    for (keyword, action) in &mb.rules {
        if matches!(action, Action::Intercept) {
            certs.insert(keyword.clone(), censor_ca.issue(&[keyword], false));
        }
    }
    let certs = Arc::new(certs);
    tokio::spawn(async move {
        loop {
            let Ok((client, peer)) = listener.accept().await else {
                continue;
            };
            let (mb, certs) = (mb.clone(), certs.clone());
            tokio::spawn(async move { handle(client, peer, upstream, &mb, &certs).await });
        }
    });
    addr
}

type Certs = HashMap<
    String,
    (
        Vec<rustls_pki_types::CertificateDer<'static>>,
        rustls_pki_types::PrivateKeyDer<'static>,
    ),
>;

async fn handle(
    mut client: TcpStream,
    peer: SocketAddr,
    upstream: SocketAddr,
    mb: &Middlebox,
    certs: &Certs,
) {
    if peer.ip() == mb.exempt {
        return relay(client, Vec::new(), upstream, None).await;
    }
    let mut first = vec![0u8; 8192];
    let n = match tokio::time::timeout(Duration::from_secs(5), client.read(&mut first)).await {
        Ok(Ok(n)) if n > 0 => n,
        _ => return,
    };
    first.truncate(n);
    let name = sni(&first).or_else(|| host(&first)).unwrap_or_default();
    let action = mb
        .rules
        .iter()
        .find(|(k, _)| name.contains(k.as_str()))
        .map(|(_, a)| a.clone());
    match action {
        None => relay(client, first, upstream, None).await,
        Some(Action::Throttle(rate)) => relay(client, first, upstream, Some(rate)).await,
        Some(Action::Reset) => {
            let _ = client.set_zero_linger();
        }
        Some(Action::Close) => {
            let _ = client.shutdown().await;
        }
        Some(Action::Stall) => tokio::time::sleep(Duration::from_secs(3600)).await,
        Some(Action::Blockpage(body)) => {
            let resp = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = client.write_all(resp.as_bytes()).await;
            let _ = client.shutdown().await;
        }
        Some(Action::Redirect(location)) => {
            let resp = format!("HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            let _ = client.write_all(resp.as_bytes()).await;
            let _ = client.shutdown().await;
        }
        Some(Action::Intercept) => {
            let Some((chain, key)) = certs.get(&name).map(|(c, k)| (c.clone(), k.clone_key()))
            else {
                return;
            };
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let mut config = rustls::ServerConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_no_client_auth()
                .with_single_cert(chain, key)
                .unwrap();
            config.alpn_protocols = vec![b"http/1.1".to_vec()];
            let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
            if let Ok(mut tls) = acceptor
                .accept(Prefixed {
                    prefix: first,
                    inner: client,
                })
                .await
            {
                let body = "<html><title>Intercepted</title></html>";
                let resp = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                );
                let _ = tls.write_all(resp.as_bytes()).await;
                let _ = tls.shutdown().await;
            }
        }
    }
}

/// Relays `client` <-> `upstream`, `first` already read from the client; the site's bytes are
/// limited to `rate` per second when given.
async fn relay(client: TcpStream, first: Vec<u8>, upstream: SocketAddr, rate: Option<usize>) {
    let Ok(mut server) = TcpStream::connect(upstream).await else {
        return;
    };
    if server.write_all(&first).await.is_err() {
        return;
    }
    let Some(rate) = rate else {
        let mut client = client;
        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
        return;
    };
    let (mut cr, mut cw) = client.into_split();
    let (mut sr, mut sw) = server.into_split();
    let up = tokio::spawn(async move {
        let _ = tokio::io::copy(&mut cr, &mut sw).await;
    });
    let chunk = (rate / 10).max(1);
    let mut buf = vec![0u8; chunk];
    loop {
        match sr.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if cw.write_all(&buf[..n]).await.is_err() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    let _ = cw.shutdown().await;
    up.abort();
}

/// The server name of a TLS ClientHello, if `b` starts with one.
pub fn sni(b: &[u8]) -> Option<String> {
    if b.first() != Some(&0x16) || b.get(5) != Some(&0x01) {
        return None;
    }
    let mut i = 5 + 4 + 2 + 32; // handshake header, version, random
    let sid = *b.get(i)? as usize;
    i += 1 + sid;
    let suites = u16::from_be_bytes([*b.get(i)?, *b.get(i + 1)?]) as usize;
    i += 2 + suites;
    let comp = *b.get(i)? as usize;
    i += 1 + comp;
    let ext_end = i + 2 + u16::from_be_bytes([*b.get(i)?, *b.get(i + 1)?]) as usize;
    i += 2;
    while i + 4 <= ext_end.min(b.len()) {
        let typ = u16::from_be_bytes([b[i], b[i + 1]]);
        let len = u16::from_be_bytes([b[i + 2], b[i + 3]]) as usize;
        if typ == 0 {
            let name_len = u16::from_be_bytes([*b.get(i + 7)?, *b.get(i + 8)?]) as usize;
            let name = b.get(i + 9..i + 9 + name_len)?;
            return String::from_utf8(name.to_vec()).ok();
        }
        i += 4 + len;
    }
    None
}

/// The Host header of an HTTP request, without the port.
pub fn host(b: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(b).ok()?;
    let line = text
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("host:"))?;
    let value = line[5..].trim();
    Some(
        value
            .rsplit_once(':')
            .map(|(h, _)| h)
            .unwrap_or(value)
            .to_ascii_lowercase(),
    )
}

/// A stream that first yields bytes already read from it.
struct Prefixed {
    prefix: Vec<u8>,
    inner: TcpStream,
}

impl AsyncRead for Prefixed {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if !self.prefix.is_empty() {
            let n = self.prefix.len().min(buf.remaining());
            buf.put_slice(&self.prefix[..n]);
            self.prefix.drain(..n);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Prefixed {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
