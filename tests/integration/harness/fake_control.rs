//! A control on 127.0.0.1 that answers every request with the same bytes, whatever they are:
//! garbage, JSON of the wrong shape, a huge or lying answer. It reads the whole request first
//! (head and `Content-Length` body), so the answer is not lost to a reset of unread data. And
//! one that holds each POST a while and counts how many it holds at once (`holding`). And one
//! whose answer a script picks from each request (`scripted`).

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Starts a control answering `response` (a whole HTTP response) to every request.
pub async fn answering(response: Vec<u8>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let response = Arc::new(response);
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let response = response.clone();
            tokio::spawn(async move { answer(stream, &response).await });
        }
    });
    addr
}

/// The smallest answer in OONI's shape (all of `tcp_connect`, `http_request` and `dns`): a
/// control whose fetch failed (an answer with neither a status nor a failure is refused).
pub const EMPTY_ANSWER: &[u8] = br#"{"tcp_connect":{},"http_request":{"body_length":-1,
"failure":"connection_refused","title":"","headers":{},"status_code":-1},
"dns":{"failure":null,"addrs":[]}}"#;

/// A whole response: `status`, a JSON content type and `body`.
pub fn json_response(status: u16, body: &[u8]) -> Vec<u8> {
    let mut r = format!(
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    r.extend_from_slice(body);
    r
}

async fn answer(s: TcpStream, response: &[u8]) {
    answer_with(s, |_, _| response.to_vec()).await
}

/// Starts a control answering each request with what `script` returns for its head (the
/// request line and headers, lowercased) and body: a whole HTTP response.
pub async fn scripted(
    script: impl Fn(&str, &[u8]) -> Vec<u8> + Send + Sync + 'static,
) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let script = Arc::new(script);
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let script = script.clone();
            tokio::spawn(async move { answer_with(stream, |h, b| script(h, b)).await });
        }
    });
    addr
}

async fn answer_with(mut s: TcpStream, respond: impl FnOnce(&str, &[u8]) -> Vec<u8>) {
    let mut req = Vec::new();
    let mut buf = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = req.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => req.extend_from_slice(&buf[..n]),
        }
        if req.len() > 1 << 20 {
            return;
        }
    };
    let head = String::from_utf8_lossy(&req[..head_end]).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    while req.len() - head_end < length {
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => req.extend_from_slice(&buf[..n]),
        }
        if req.len() > 1 << 20 {
            return;
        }
    }
    let response = respond(&head, &req[head_end..]);
    let _ = s.write_all(&response).await;
    let _ = s.shutdown().await;
}

/// What a [`holding`] control saw: POSTs answered, and the most in flight at once.
#[derive(Debug, Default)]
pub struct Load {
    pub posts: usize,
    pub in_flight: usize,
    pub most_in_flight: usize,
}

/// A control like OONI's helper as a probe sees it: no `/info` (404), and every POST answered
/// with `response` (a whole HTTP response) after holding it for `hold`, counting how many it
/// holds at once.
pub async fn holding(
    response: Vec<u8>,
    hold: std::time::Duration,
) -> (SocketAddr, Arc<std::sync::Mutex<Load>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let load: Arc<std::sync::Mutex<Load>> = Arc::default();
    let (reply, seen) = (Arc::new(response), load.clone());
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let (reply, seen) = (reply.clone(), seen.clone());
            tokio::spawn(async move {
                let mut first = [0u8; 4];
                if stream.peek(&mut first).await.is_err() {
                    return;
                }
                if &first != b"POST" {
                    return answer(stream, &json_response(404, b"{}")).await;
                }
                {
                    let mut l = seen.lock().unwrap();
                    l.posts += 1;
                    l.in_flight += 1;
                    l.most_in_flight = l.most_in_flight.max(l.in_flight);
                }
                tokio::time::sleep(hold).await;
                // Out of flight before the answer leaves: the probe cannot send its next
                // request earlier, so `most_in_flight` is never above the probe's cap.
                seen.lock().unwrap().in_flight -= 1;
                answer(stream, &reply).await;
            });
        }
    });
    (addr, load)
}

/// A control that never answers `GET /info` (it holds the connection open) and answers every
/// other request with `response`: a control whose path drops what the probe sends first.
pub async fn mute_info(response: Vec<u8>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let response = Arc::new(response);
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let response = response.clone();
            tokio::spawn(async move {
                let mut first = [0u8; 4];
                if stream.peek(&mut first).await.is_err() {
                    return;
                }
                if &first == b"GET " {
                    tokio::time::sleep(std::time::Duration::from_secs(120)).await;
                    return;
                }
                answer(stream, &response).await
            });
        }
    });
    addr
}

/// A control that accepts every connection and never answers anything (`/info` included):
/// a control whose path drops all the probe sends.
pub async fn silent() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    addr
}
