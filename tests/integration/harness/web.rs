//! Web servers on 127.0.0.1, one listener per site, each misbehaving as told: a normal page,
//! a redirect, a reset or close after the request, a stall, an endless body; over TLS with a
//! valid, untrusted, wrong-name or expired certificate, or a handshake that is reset or stalls.
//! Also a blackhole: an address whose connects time out.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio_rustls::TlsAcceptor;

use super::Ca;

#[derive(Clone, Debug)]
pub enum Tls {
    Plain,
    Valid,
    /// Valid, and speaks only HTTP/2 (ALPN h2), served by hyper.
    ValidH2,
    /// Signed by a CA the probe does not trust.
    Untrusted,
    /// Valid chain, but for another name.
    WrongName,
    Expired,
    /// Reads the ClientHello, then resets.
    ResetOnHello,
    /// Reads the ClientHello, then never answers.
    StallHandshake,
}

#[derive(Clone, Debug)]
pub enum Reply {
    /// 200 with an HTML page of about `size` bytes titled `title`.
    Page {
        title: String,
        size: usize,
    },
    Redirect {
        code: u16,
        location: String,
    },
    /// Reads the request, then resets the connection.
    Reset,
    /// Reads the request, then closes without answering.
    Close,
    /// Reads the request, never answers.
    Stall,
    /// 200 with a chunked body that never ends.
    Endless,
    /// A short error page with this status.
    Error(u16),
    /// This exact HTTP response (another server's software, headers and all).
    Raw(String),
    /// 200 with `size` bytes sent `chunk` bytes at a time, one chunk every `every`.
    Slow {
        size: usize,
        chunk: usize,
        every: Duration,
    },
}

#[derive(Clone, Debug)]
pub struct Site {
    pub name: String,
    pub tls: Tls,
    pub reply: Reply,
}

impl Site {
    pub fn new(name: &str, tls: Tls, reply: Reply) -> Site {
        Site {
            name: name.to_string(),
            tls,
            reply,
        }
    }
    /// The URL of this site when served at `addr`.
    pub fn url(&self, addr: SocketAddr) -> String {
        let scheme = if matches!(self.tls, Tls::Plain) {
            "http"
        } else {
            "https"
        };
        format!("{scheme}://{}:{}/", self.name, addr.port())
    }
}

pub fn page(title: &str, size: usize) -> Reply {
    Reply::Page {
        title: title.to_string(),
        size,
    }
}

/// Starts serving `site` on 127.0.0.1; returns its address.
pub async fn serve(site: Site, trusted: &Ca, untrusted: &Ca) -> SocketAddr {
    serve_on("127.0.0.1:0".parse().unwrap(), site, trusted, untrusted).await
}

/// Starts serving `site` on `bind` (port 0 for any); returns its address.
pub async fn serve_on(bind: SocketAddr, site: Site, trusted: &Ca, untrusted: &Ca) -> SocketAddr {
    let listener = TcpListener::bind(bind).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let acceptor = match site.tls {
        Tls::Valid => Some(acceptor(trusted.issue(&[&site.name], false))),
        Tls::ValidH2 => {
            let mut a = acceptor(trusted.issue(&[&site.name], false));
            let mut config = (*a.config().clone()).clone();
            config.alpn_protocols = vec![b"h2".to_vec()];
            a = TlsAcceptor::from(Arc::new(config));
            Some(a)
        }
        Tls::Untrusted => Some(acceptor(untrusted.issue(&[&site.name], false))),
        Tls::WrongName => Some(acceptor(trusted.issue(&["other.test"], false))),
        Tls::Expired => Some(acceptor(trusted.issue(&[&site.name], true))),
        _ => None,
    };
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let (site, acceptor) = (site.clone(), acceptor.clone());
            tokio::spawn(async move { connection(stream, site, acceptor).await });
        }
    });
    addr
}

fn acceptor(
    (chain, key): (
        Vec<rustls_pki_types::CertificateDer<'static>>,
        rustls_pki_types::PrivateKeyDer<'static>,
    ),
) -> TlsAcceptor {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    TlsAcceptor::from(Arc::new(config))
}

async fn connection(mut stream: TcpStream, site: Site, acceptor: Option<TlsAcceptor>) {
    if matches!(site.reply, Reply::Reset) || matches!(site.tls, Tls::ResetOnHello) {
        // Closing with zero linger sends RST instead of FIN.
        let _ = stream.set_zero_linger();
    }
    match site.tls {
        Tls::ResetOnHello => {
            let mut buf = [0u8; 512];
            let _ = stream.read(&mut buf).await;
        }
        Tls::StallHandshake => {
            let mut buf = [0u8; 512];
            let _ = stream.read(&mut buf).await;
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
        Tls::Plain => http(stream, &site.reply).await,
        Tls::ValidH2 => {
            if let Some(acceptor) = acceptor {
                if let Ok(tls) = acceptor.accept(stream).await {
                    h2(tls, site.reply.clone()).await;
                }
            }
        }
        _ => {
            if let Some(acceptor) = acceptor {
                if let Ok(tls) = acceptor.accept(stream).await {
                    http(tls, &site.reply).await;
                }
            }
        }
    }
}

async fn http<S: AsyncRead + AsyncWrite + Unpin>(mut s: S, reply: &Reply) {
    let mut req = Vec::new();
    let mut buf = [0u8; 4096];
    while !req.windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => req.extend_from_slice(&buf[..n]),
        }
        if req.len() > 65536 {
            return;
        }
    }
    match reply {
        Reply::Page { title, size } => {
            let head = format!("<html><head><title>{title}</title></head><body>");
            let pad = size.saturating_sub(head.len() + 14);
            let body = format!("{head}{}</body></html>", "x".repeat(pad));
            let resp = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nX-Site: fake\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = s.write_all(resp.as_bytes()).await;
            let _ = s.shutdown().await;
        }
        Reply::Redirect { code, location } => {
            let resp = format!("HTTP/1.1 {code} Redirect\r\nLocation: {location}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            let _ = s.write_all(resp.as_bytes()).await;
            let _ = s.shutdown().await;
        }
        Reply::Error(code) => {
            let body = format!("<html><title>Error {code}</title></html>");
            let resp = format!(
                "HTTP/1.1 {code} Error\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = s.write_all(resp.as_bytes()).await;
            let _ = s.shutdown().await;
        }
        Reply::Raw(response) => {
            let _ = s.write_all(response.as_bytes()).await;
            let _ = s.shutdown().await;
        }
        Reply::Reset => {}
        Reply::Close => {
            let _ = s.shutdown().await;
        }
        Reply::Stall => tokio::time::sleep(Duration::from_secs(3600)).await,
        Reply::Slow { size, chunk, every } => {
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {size}\r\n\r\n"
            );
            let _ = s.write_all(head.as_bytes()).await;
            let mut sent = 0;
            while sent < *size {
                let n = (*chunk).min(size - sent);
                if s.write_all(&vec![b'z'; n]).await.is_err() {
                    return;
                }
                sent += n;
                tokio::time::sleep(*every).await;
            }
            let _ = s.shutdown().await;
        }
        Reply::Endless => {
            let _ = s
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\n\r\n")
                .await;
            let chunk = format!("4000\r\n{}\r\n", "y".repeat(0x4000));
            while s.write_all(chunk.as_bytes()).await.is_ok() {}
        }
    }
}

/// Serves one HTTP/2 connection with hyper; only `Reply::Page` is supported.
async fn h2<S: AsyncRead + AsyncWrite + Unpin + Send + 'static>(s: S, reply: Reply) {
    let service = hyper::service::service_fn(move |_req: hyper::Request<hyper::body::Incoming>| {
        let reply = reply.clone();
        async move {
            let Reply::Page { title, size } = reply else {
                panic!("the HTTP/2 fake serves pages only");
            };
            let head = format!("<html><head><title>{title}</title></head><body>");
            let body = format!(
                "{head}{}</body></html>",
                "x".repeat(size.saturating_sub(head.len() + 14))
            );
            Ok::<_, std::convert::Infallible>(
                hyper::Response::builder()
                    .header("content-type", "text/html")
                    .body(http_body_util::Full::new(hyper::body::Bytes::from(body)))
                    .unwrap(),
            )
        }
    });
    let _ = hyper::server::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
        .serve_connection(hyper_util::rt::TokioIo::new(s), service)
        .await;
}

/// An address on which connects time out: a listener with a full accept queue (backlog 0,
/// filled by connections nobody accepts). Kept alive for the life of the test process.
pub async fn blackhole() -> SocketAddr {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(0).unwrap();
    let addr = listener.local_addr().unwrap();
    let mut fillers = Vec::new();
    for _ in 0..2 {
        if let Ok(Ok(s)) =
            tokio::time::timeout(Duration::from_millis(300), TcpStream::connect(addr)).await
        {
            fillers.push(s);
        }
    }
    Box::leak(Box::new((listener, fillers)));
    addr
}
