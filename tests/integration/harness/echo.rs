//! Servers that tell the client its own address, as "what is my IP" sites, block pages and
//! whoami resolvers do: a web site that echoes the peer address in a redirect, headers,
//! cookies, title and body, and a DNS server that answers a whoami name with it. Both bind to
//! a loopback address other than 127.0.0.1 (the probe's source), so the address echoed and
//! the servers' own differ.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use hickory_proto::op::{Message, ResponseCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};

use super::dns::{query_name, reply};

/// The name the whoami resolver answers with the asker's address (and `also`).
pub const WHOAMI: &str = "whoami.test";

/// Serves plain HTTP on `ip` for `host`: `/` redirects to `/landing?client=PEER`, and
/// `/landing` is a page about the peer address, both with the address in headers and cookies.
pub async fn echo_site(ip: IpAddr, host: &str) -> SocketAddr {
    let listener = TcpListener::bind(SocketAddr::new(ip, 0)).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let host = host.to_string();
    tokio::spawn(async move {
        loop {
            let Ok((stream, peer)) = listener.accept().await else {
                continue;
            };
            let host = host.clone();
            tokio::spawn(async move { echo(stream, peer.ip(), addr, &host).await });
        }
    });
    addr
}

async fn echo(mut s: TcpStream, peer: IpAddr, local: SocketAddr, host: &str) {
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
    let path = String::from_utf8_lossy(&req)
        .split(' ')
        .nth(1)
        .unwrap_or("/")
        .to_string();
    let common =
        format!("X-Client-Ip: {peer}\r\nSet-Cookie: seen={peer}; Path=/\r\nConnection: close\r\n");
    let resp = if path.starts_with("/landing") {
        let body = format!(
            "<html><head><title>Your address is {peer}</title></head><body>\
             <p>You connect from {peer} (as IPv6: ::ffff:{peer}, ::FFFF:{peer}; \
             in a link: /go?from=%3A%3Affff%3A{peer}).</p>\
             <p>This server is {ip}; a neighbour is 127.0.0.10.</p></body></html>",
            ip = local.ip()
        );
        format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n{common}Content-Length: {}\r\n\r\n{body}",
            body.len()
        )
    } else {
        let port = local.port();
        format!(
            "HTTP/1.1 302 Found\r\nLocation: http://{host}:{port}/landing?client={peer}\r\n{common}Content-Length: 0\r\n\r\n"
        )
    };
    let _ = s.write_all(resp.as_bytes()).await;
    let _ = s.shutdown().await;
}

/// A UDP DNS server on `ip`: `WHOAMI` gets the asker's address plus `also` (A queries; AAAA
/// gets `also`'s IPv6 ones, i.e. none here), other names get `zone`'s addresses or NXDOMAIN.
pub async fn whoami_dns(
    ip: IpAddr,
    zone: HashMap<String, Vec<IpAddr>>,
    also: Vec<IpAddr>,
) -> SocketAddr {
    let udp = Arc::new(UdpSocket::bind(SocketAddr::new(ip, 0)).await.unwrap());
    let addr = udp.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        loop {
            let Ok((n, peer)) = udp.recv_from(&mut buf).await else {
                continue;
            };
            let Ok(query) = Message::from_vec(&buf[..n]) else {
                continue;
            };
            let name = query_name(&query).unwrap_or_default();
            let bytes = if name == WHOAMI {
                let mut addrs = vec![peer.ip()];
                addrs.extend(&also);
                reply(&query, ResponseCode::NoError, &addrs, false)
            } else if let Some(addrs) = zone.get(&name) {
                reply(&query, ResponseCode::NoError, addrs, false)
            } else {
                reply(&query, ResponseCode::NXDomain, &[], false)
            };
            let _ = udp.send_to(&bytes, peer).await;
        }
    });
    addr
}
