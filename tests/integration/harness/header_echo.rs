//! A plain-HTTP site on 127.0.0.1 that tells what request headers it got: each answer carries
//! `X-Echo-User-Agent`, `X-Echo-Accept`, `X-Echo-Accept-Language` (the values received, joined
//! by `" | "`; `-` when absent) and `X-Echo-Names` (every header name received, lowercase,
//! comma-separated), and the test can read every request head it received.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The received request heads, as (lowercase name, value) pairs in order.
pub type Heads = Arc<Mutex<Vec<Vec<(String, String)>>>>;

/// Starts the site; returns its address and what it has received so far.
pub async fn header_echo() -> (SocketAddr, Heads) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let heads: Heads = Arc::default();
    let seen = heads.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let seen = seen.clone();
            tokio::spawn(async move { answer(stream, &seen).await });
        }
    });
    (addr, heads)
}

async fn answer(mut s: TcpStream, seen: &Heads) {
    let mut req = Vec::new();
    let mut buf = [0u8; 4096];
    while !req.windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => req.extend_from_slice(&buf[..n]),
        }
        if req.len() > 1 << 20 {
            return;
        }
    }
    let text = String::from_utf8_lossy(&req).into_owned();
    let head: Vec<(String, String)> = text
        .split("\r\n\r\n")
        .next()
        .unwrap_or("")
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let values = |name: &str| {
        let v: Vec<&str> = head
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect();
        if v.is_empty() {
            "-".to_string()
        } else {
            v.join(" | ")
        }
    };
    let names: Vec<&str> = head.iter().map(|(k, _)| k.as_str()).collect();
    let body = "<html><head><title>Header echo</title></head><body>echo</body></html>";
    let resp = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nX-Echo-User-Agent: {}\r\n\
         X-Echo-Accept: {}\r\nX-Echo-Accept-Language: {}\r\nX-Echo-Names: {}\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        values("user-agent"),
        values("accept"),
        values("accept-language"),
        names.join(","),
        body.len()
    );
    seen.lock().unwrap().push(head);
    let _ = s.write_all(resp.as_bytes()).await;
    let _ = s.shutdown().await;
}
