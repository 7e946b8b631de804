//! A DNS server on 127.0.0.1 (UDP and TCP on one port) that answers per name as told: normally,
//! with NXDOMAIN or SERVFAIL, twice with different answers (an injector racing the resolver),
//! with garbage, not at all, or truncated over UDP and whole over TCP.
//!
//! hickory-server answers each query once, so this one is written by hand with hickory-proto.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA};
use hickory_proto::rr::{RData, Record, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};

/// How to answer for one name.
#[derive(Clone, Debug)]
pub enum Answer {
    Addrs(Vec<IpAddr>),
    NxDomain,
    ServFail,
    /// `first` at once, then `then` after `delay`, same id: what an on-path injector causes.
    Race {
        first: Vec<IpAddr>,
        then: Vec<IpAddr>,
        delay: Duration,
    },
    /// Bytes that do not decode as DNS.
    Garbage,
    /// Never answers.
    Silent,
    /// UDP answers are empty with TC set; TCP gives these addresses.
    Truncated(Vec<IpAddr>),
}

pub struct FakeDns {
    pub addr: SocketAddr,
}

impl FakeDns {
    /// Serves `zone` (names without trailing dot, lowercase). Unknown names get NXDOMAIN.
    pub async fn start(zone: HashMap<String, Answer>) -> FakeDns {
        let zone = Arc::new(zone);
        let (udp, tcp) = loop {
            let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            let addr = udp.local_addr().unwrap();
            if let Ok(tcp) = TcpListener::bind(addr).await {
                break (Arc::new(udp), tcp);
            }
        };
        let addr = udp.local_addr().unwrap();
        let z = zone.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            loop {
                let Ok((n, peer)) = udp.recv_from(&mut buf).await else {
                    continue;
                };
                let Ok(query) = Message::from_vec(&buf[..n]) else {
                    continue;
                };
                for (delay, bytes) in answers(&z, &query, false) {
                    let udp = udp.clone();
                    tokio::spawn(async move {
                        tokio::time::sleep(delay).await;
                        let _ = udp.send_to(&bytes, peer).await;
                    });
                }
            }
        });
        tokio::spawn(async move {
            loop {
                let Ok((mut s, _)) = tcp.accept().await else {
                    continue;
                };
                let z = zone.clone();
                tokio::spawn(async move {
                    let Ok(len) = s.read_u16().await else { return };
                    let mut q = vec![0u8; len as usize];
                    if s.read_exact(&mut q).await.is_err() {
                        return;
                    }
                    let Ok(query) = Message::from_vec(&q) else {
                        return;
                    };
                    if let Some((_, bytes)) = answers(&z, &query, true).into_iter().next() {
                        let mut framed = (bytes.len() as u16).to_be_bytes().to_vec();
                        framed.extend(bytes);
                        let _ = s.write_all(&framed).await;
                    }
                });
            }
        });
        FakeDns { addr }
    }
}

/// The lowercase name a query asks about, without the trailing dot.
pub fn query_name(query: &Message) -> Option<String> {
    let q = query.queries.first()?;
    Some(
        q.name()
            .to_ascii()
            .trim_end_matches('.')
            .to_ascii_lowercase(),
    )
}

/// A response to `query` with `rcode` and the addresses of the asked type among `addrs`.
pub fn reply(query: &Message, rcode: ResponseCode, addrs: &[IpAddr], tc: bool) -> Vec<u8> {
    let mut m = Message::new(query.metadata.id, MessageType::Response, OpCode::Query);
    m.metadata.recursion_desired = query.metadata.recursion_desired;
    m.metadata.recursion_available = true;
    m.metadata.response_code = rcode;
    m.metadata.truncation = tc;
    let Some(q) = query.queries.first() else {
        return m.to_vec().unwrap();
    };
    m.add_query(q.clone());
    for ip in addrs {
        let data = match (ip, q.query_type()) {
            (IpAddr::V4(v4), RecordType::A) => RData::A(A(*v4)),
            (IpAddr::V6(v6), RecordType::AAAA) => RData::AAAA(AAAA(*v6)),
            _ => continue,
        };
        m.answers
            .push(Record::from_rdata(q.name().clone(), 60, data));
    }
    m.to_vec().unwrap()
}

/// The datagrams to send for one query, each after its delay.
fn answers(
    zone: &HashMap<String, Answer>,
    query: &Message,
    over_tcp: bool,
) -> Vec<(Duration, Vec<u8>)> {
    let Some(name) = query_name(query) else {
        return vec![];
    };
    let reply = |rcode: ResponseCode, addrs: &[IpAddr], tc: bool| reply(query, rcode, addrs, tc);
    let now = Duration::ZERO;
    match zone.get(&name) {
        None | Some(Answer::NxDomain) => vec![(now, reply(ResponseCode::NXDomain, &[], false))],
        Some(Answer::ServFail) => vec![(now, reply(ResponseCode::ServFail, &[], false))],
        Some(Answer::Addrs(a)) => vec![(now, reply(ResponseCode::NoError, a, false))],
        Some(Answer::Race { first, then, delay }) => vec![
            (now, reply(ResponseCode::NoError, first, false)),
            (*delay, reply(ResponseCode::NoError, then, false)),
        ],
        Some(Answer::Garbage) => {
            let mut junk = query.metadata.id.to_be_bytes().to_vec();
            junk.extend_from_slice(b"\x81\x80\xff\xffthis is not DNS");
            vec![(now, junk)]
        }
        Some(Answer::Silent) => vec![],
        Some(Answer::Truncated(a)) if over_tcp => {
            vec![(now, reply(ResponseCode::NoError, a, false))]
        }
        Some(Answer::Truncated(_)) => vec![(now, reply(ResponseCode::NoError, &[], true))],
    }
}

/// A zone with every one of `names` at 127.0.0.1.
pub fn loopback_zone(names: &[&str]) -> HashMap<String, Answer> {
    names
        .iter()
        .map(|n| {
            (
                n.to_string(),
                Answer::Addrs(vec!["127.0.0.1".parse().unwrap()]),
            )
        })
        .collect()
}
