//! Hostile servers on 127.0.0.1, for the budget tests and `bench/hostile.sh`: a resolver that
//! answers every query with a flood of datagrams, each packed with thousands of answers, and a
//! web site that redirects every request to a fresh name (so every hop needs a new lookup), with
//! an optional body on each redirect.
//!
//! Standalone (std, tokio and rand only, no `super::`) so `examples/hostile.rs` includes this
//! same file with `#[path]`. Datagrams are built by hand: hickory's encoder does not compress
//! names, and 4,000 answers fit one datagram only with compression.

use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};

/// How the resolver floods.
#[derive(Clone, Debug)]
pub struct FloodSpec {
    /// Datagrams sent for each query (all with the query's id, question and answers).
    pub datagrams: usize,
    /// Answers per datagram (fewer if they would not fit 65,000 bytes).
    pub answers: usize,
    /// Pause between two datagrams of one query (zero: as fast as the socket takes them).
    pub pace: Duration,
}

/// What the resolver sent for one name (A and AAAA queries together).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Sent {
    pub datagrams: u64,
    pub bytes: u64,
}

/// A resolver answering every name: A with 127.0.0.1, AAAA with ::1, each answer repeated.
pub struct FloodDns {
    pub addr: SocketAddr,
    sent: Arc<Mutex<HashMap<String, Sent>>>,
}

impl FloodDns {
    pub async fn start(spec: FloodSpec) -> FloodDns {
        let sock = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
        let addr = sock.local_addr().unwrap();
        let sent: Arc<Mutex<HashMap<String, Sent>>> = Arc::default();
        let tally = sent.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 2048];
            loop {
                let Ok((n, peer)) = sock.recv_from(&mut buf).await else {
                    continue;
                };
                let Some((name, qtype, question)) = parse_query(&buf[..n]) else {
                    continue;
                };
                let reply = flood_reply(&buf[..2], question, qtype, spec.answers);
                let (sock, spec, tally) = (sock.clone(), spec.clone(), tally.clone());
                tokio::spawn(async move {
                    for _ in 0..spec.datagrams {
                        if sock.send_to(&reply, peer).await.is_ok() {
                            let mut t = tally.lock().unwrap();
                            let s = t.entry(name.clone()).or_default();
                            s.datagrams += 1;
                            s.bytes += reply.len() as u64;
                        }
                        if spec.pace.is_zero() {
                            tokio::task::yield_now().await;
                        } else {
                            tokio::time::sleep(spec.pace).await;
                        }
                    }
                });
            }
        });
        FloodDns { addr, sent }
    }

    /// What was sent for `name` so far.
    pub fn sent(&self, name: &str) -> Sent {
        self.sent
            .lock()
            .unwrap()
            .get(&name.to_ascii_lowercase())
            .copied()
            .unwrap_or_default()
    }
}

/// The lowercase name, the query type and the question section's bytes of a query.
fn parse_query(q: &[u8]) -> Option<(String, u16, &[u8])> {
    let mut i = 12;
    let mut labels = Vec::new();
    loop {
        let len = *q.get(i)? as usize;
        i += 1;
        if len == 0 {
            break;
        }
        labels.push(String::from_utf8_lossy(q.get(i..i + len)?).to_ascii_lowercase());
        i += len;
    }
    let qtype = u16::from_be_bytes([*q.get(i)?, *q.get(i + 1)?]);
    Some((labels.join("."), qtype, q.get(12..i + 4)?))
}

/// Answers in one flood datagram for `qtype` (1 A, 28 AAAA, else none), given the question size.
pub fn answers_that_fit(wanted: usize, qtype: u16, question_len: usize) -> usize {
    let record = match qtype {
        1 => 16,
        28 => 28,
        _ => return 0,
    };
    wanted.min((65_000 - 12 - question_len) / record)
}

/// A NOERROR response with `id`, the question, and `answers` records pointing (by compression)
/// at the question's name.
fn flood_reply(id: &[u8], question: &[u8], qtype: u16, answers: usize) -> Vec<u8> {
    let n = answers_that_fit(answers, qtype, question.len());
    let mut m = Vec::with_capacity(65_000);
    m.extend_from_slice(id);
    m.extend_from_slice(&[0x81, 0x80, 0, 1]);
    m.extend_from_slice(&(n as u16).to_be_bytes());
    m.extend_from_slice(&[0, 0, 0, 0]);
    m.extend_from_slice(question);
    for _ in 0..n {
        m.extend_from_slice(&[0xc0, 0x0c]);
        m.extend_from_slice(&qtype.to_be_bytes());
        m.extend_from_slice(&[0, 1, 0, 0, 0, 60]);
        if qtype == 1 {
            m.extend_from_slice(&[0, 4]);
            m.extend_from_slice(&Ipv4Addr::LOCALHOST.octets());
        } else {
            m.extend_from_slice(&[0, 16]);
            m.extend_from_slice(&Ipv6Addr::LOCALHOST.octets());
        }
    }
    m
}

/// A web site on 127.0.0.1 that answers every request with a 302 to a fresh name under `domain`
/// (`h<hop>-<random>.<domain>`), its body `body`.
pub struct Maze {
    pub addr: SocketAddr,
    pub domain: String,
    requests: Arc<AtomicU64>,
}

impl Maze {
    pub async fn start(domain: &str, body: Vec<u8>) -> Maze {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(AtomicU64::new(0));
        let (count, domain_owned, body) = (requests.clone(), domain.to_string(), Arc::new(body));
        tokio::spawn(async move {
            loop {
                let Ok((s, _)) = listener.accept().await else {
                    continue;
                };
                count.fetch_add(1, Ordering::Relaxed);
                let (domain, body) = (domain_owned.clone(), body.clone());
                tokio::spawn(redirect(s, addr.port(), domain, body));
            }
        });
        Maze {
            addr,
            domain: domain.to_string(),
            requests,
        }
    }

    /// The URL of a fresh entry point `label` (a name no one resolved yet).
    pub fn url(&self, label: &str) -> String {
        format!("http://{label}.{}:{}/", self.domain, self.addr.port())
    }

    /// Requests served so far.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }
}

async fn redirect(mut s: TcpStream, port: u16, domain: String, body: Arc<Vec<u8>>) {
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 65_536 {
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let text = String::from_utf8_lossy(&head);
    let host = text
        .lines()
        .find_map(|l| {
            l.strip_prefix("Host: ")
                .or_else(|| l.strip_prefix("host: "))
        })
        .unwrap_or("h0");
    let hop: u64 = host
        .strip_prefix('h')
        .and_then(|h| h.split(['-', '.']).next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let next = format!("h{}-{:08x}.{domain}", hop + 1, rand::random::<u32>());
    let mut reply = format!(
        "HTTP/1.1 302 Found\r\nLocation: http://{next}:{port}/\r\nContent-Type: text/html\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    reply.extend_from_slice(&body);
    let _ = s.write_all(&reply).await;
    let _ = s.shutdown().await;
}
