//! A bare HTTP/1.1 server whose every answer a test computes from the request: a hostile
//! control (huge answers, redirects) that no well-behaved server library would be.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// One request as received.
#[derive(Clone, Debug)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub body: Vec<u8>,
}

/// One answer. `length: false` sends no Content-Length and ends the body by closing.
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub length: bool,
}

impl Response {
    pub fn json(body: Vec<u8>) -> Response {
        Response {
            status: 200,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body,
            length: true,
        }
    }
}

pub struct RawHttp {
    pub addr: SocketAddr,
    /// Every request received, in order.
    pub seen: Arc<Mutex<Vec<Request>>>,
}

impl RawHttp {
    pub async fn start(answer: impl Fn(&Request) -> Response + Send + Sync + 'static) -> RawHttp {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (answer, log) = (Arc::new(answer), seen.clone());
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let (answer, log) = (answer.clone(), log.clone());
                tokio::spawn(async move {
                    let Some(request) = read_request(&mut s).await else {
                        return;
                    };
                    log.lock().unwrap().push(request.clone());
                    let r = answer(&request);
                    let mut head = format!("HTTP/1.1 {} X\r\nConnection: close\r\n", r.status);
                    for (k, v) in &r.headers {
                        head.push_str(&format!("{k}: {v}\r\n"));
                    }
                    if r.length {
                        head.push_str(&format!("Content-Length: {}\r\n", r.body.len()));
                    }
                    head.push_str("\r\n");
                    if s.write_all(head.as_bytes()).await.is_ok() {
                        for chunk in r.body.chunks(64 * 1024) {
                            if s.write_all(chunk).await.is_err() {
                                return;
                            }
                        }
                    }
                    let _ = s.shutdown().await;
                });
            }
        });
        RawHttp { addr, seen }
    }

    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }
}

async fn read_request(s: &mut tokio::net::TcpStream) -> Option<Request> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let end = loop {
        let n = s.read(&mut chunk).await.ok().filter(|n| *n > 0)?;
        buf.extend_from_slice(&chunk[..n]);
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    let mut words = head.split_whitespace();
    let (method, path) = (words.next()?.to_string(), words.next()?.to_string());
    let length = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    let mut body = buf[end..].to_vec();
    while body.len() < length {
        let n = s.read(&mut chunk).await.ok().filter(|n| *n > 0)?;
        body.extend_from_slice(&chunk[..n]);
    }
    Some(Request { method, path, body })
}
