//! The DNS probe: A and AAAA queries over a raw UDP socket (hickory-proto for the wire format),
//! recording the datagrams that arrive within a listening window after the first answer.
//!
//! The GFW injects forged answers that race the resolver's real one; a stub resolver keeps the
//! first and drops the socket, which hides the race. Here each datagram becomes one `queries[]`
//! entry with its arrival time, source, id match, rcode, flags, answers and raw bytes. Garbage is
//! recorded as garbage. A truncated answer is retried over TCP.
//!
//! What is stored is bounded (`dns_evidence`, `crate::budget`): each datagram is matched to our
//! queries first, so a flood of junk can never crowd out the real answer; then entries, answers
//! and raw bytes are kept within per-lookup and per-measurement budgets, and the rest is counted
//! in the lookup's `x_dns_truncated` summary.
//!
//! The caller gets the first usable answers early (through a oneshot) so connections can start
//! while the socket keeps listening for late duplicates.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::dns_evidence::{self, Evidence};
use super::getaddrinfo::{self, MergedFrom};
use crate::budget::DnsBudget;
use crate::failure::Failure;
use crate::observation::{Clock, DnsAnswer, DnsFlags, DnsQuery, DnsTruncated};
use crate::rate::RateLimiter;

/// Where and how long to ask.
#[derive(Clone, Debug)]
pub struct DnsSettings {
    pub resolver: SocketAddr,
    /// How long to wait for an answer at all.
    pub timeout: Duration,
    /// How long to keep listening after each query's first answer, for late duplicates.
    pub wait: Duration,
    /// Local address to send from, when not the system's choice.
    pub source: Option<IpAddr>,
}

/// The first usable answer: addresses (A then AAAA) or why there are none.
#[derive(Clone, Debug, PartialEq)]
pub struct Resolved {
    pub addrs: Vec<IpAddr>,
    pub failure: Option<Failure>,
}

/// Everything one lookup recorded.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Lookup {
    pub queries: Vec<DnsQuery>,
    /// The lookup as getaddrinfo would have written it (`probe::getaddrinfo`).
    pub classic: Option<DnsQuery>,
    /// What arrived beyond the budgets, when anything did.
    pub truncated: Option<DnsTruncated>,
}

/// When an unanswered query is sent again (with a fresh id), counted from the first send: one
/// lost datagram must not read as a DNS failure.
const RETRANSMIT_AFTER: [Duration; 2] = [Duration::from_secs(1), Duration::from_secs(3)];

struct Pending {
    qtype: RecordType,
    /// The id of each transmission: the first, then each retransmission's.
    ids: Vec<u16>,
    bytes: Vec<u8>,
    sent_at: f64,
    /// Datagrams that arrived with one of our ids (stored or not).
    responses: usize,
    first: Option<Result<Vec<IpAddr>, Failure>>,
    first_at: Option<Instant>,
    /// The stored entry of the answer used (or of the query's failure).
    used: Option<MergedFrom>,
}

impl Pending {
    fn id(&self) -> u16 {
        self.ids[0]
    }
    /// The next retransmission, if one is still due.
    fn next_retry(&self, start: Instant, end: Instant) -> Option<Instant> {
        if self.first.is_some() {
            return None;
        }
        let at = start + *RETRANSMIT_AFTER.get(self.ids.len() - 1)?;
        (at < end).then_some(at)
    }
}

/// One lookup in progress: its queries, what it stores, where it asks.
struct Session<'a> {
    settings: &'a DnsSettings,
    host: &'a str,
    name: Name,
    clock: Clock,
    tags: &'a [String],
    transaction_id: u64,
    pending: Vec<Pending>,
    evidence: Evidence,
    /// Datagrams that arrived with none of our ids.
    unmatched: usize,
}

/// A `queries[]` entry with nothing observed yet.
fn blank(
    settings: &DnsSettings,
    host: &str,
    tags: &[String],
    transaction_id: u64,
    qtype: &str,
    t0: f64,
    id: u16,
) -> DnsQuery {
    DnsQuery {
        engine: "udp".into(),
        resolver_address: settings.resolver.to_string(),
        hostname: host.to_string(),
        query_type: qtype.to_string(),
        failure: None,
        answers: vec![],
        rcode: None,
        raw_response: None,
        t0,
        t: t0,
        tags: tags.to_vec(),
        transaction_id,
        x_source_address: None,
        x_query_id: id,
        x_id_match: None,
        x_question_match: None,
        x_response_index: 0,
        x_flags: None,
        x_decode_error: None,
        x_answers_dropped: 0,
        x_raw_bytes_dropped: 0,
        x_classic: None,
    }
}

/// Looks up `host`. Sends the first usable answer on `early` as soon as it is known, then keeps
/// listening and returns what it recorded, within its own budgets and the measurement's `budget`.
#[allow(clippy::too_many_arguments)]
pub async fn lookup(
    settings: &DnsSettings,
    host: &str,
    clock: Clock,
    tags: &[String],
    transaction_id: u64,
    rate: &RateLimiter,
    budget: &DnsBudget,
    early: oneshot::Sender<Resolved>,
) -> Lookup {
    let mut early = Some(early);
    let failed = |f: Failure, early: &mut Option<oneshot::Sender<Resolved>>| {
        let mut q = blank(settings, host, tags, transaction_id, "A", clock.now(), 0);
        q.failure = Some(f);
        send_early(early, Vec::new(), q.failure.clone());
        let queries = vec![q];
        Lookup {
            classic: getaddrinfo::merged(&queries, &[MergedFrom::of(&queries[0])]),
            queries,
            truncated: None,
        }
    };
    let name = match Name::from_ascii(format!("{}.", host.trim_end_matches('.'))) {
        Ok(n) => n,
        Err(e) => {
            let f = Failure::Unknown(format!("invalid DNS name: {e}"));
            return failed(f, &mut early);
        }
    };
    let bind: SocketAddr = match settings.source {
        Some(ip) => SocketAddr::new(ip, 0),
        None if settings.resolver.is_ipv4() => "0.0.0.0:0".parse().expect("literal"),
        None => "[::]:0".parse().expect("literal"),
    };
    let socket = match UdpSocket::bind(bind).await {
        Ok(s) => s,
        Err(e) => return failed(Failure::from_io(&e), &mut early),
    };
    let pending = [RecordType::A, RecordType::AAAA]
        .into_iter()
        .map(|qtype| {
            let id = rand::random::<u16>();
            Pending {
                qtype,
                ids: vec![id],
                bytes: query_bytes(id, &name, qtype),
                sent_at: 0.0,
                responses: 0,
                first: None,
                first_at: None,
                used: None,
            }
        })
        .collect();
    let mut s = Session {
        settings,
        host,
        name,
        clock,
        tags,
        transaction_id,
        pending,
        evidence: Evidence::new(host, transaction_id, budget.clone()),
        unmatched: 0,
    };
    rate.acquire().await;
    let start = Instant::now();
    s.send_all(&socket).await;
    s.listen(&socket, start, rate, &mut early).await;
    s.finish(&mut early)
}

impl Session<'_> {
    fn entry(&self, qtype: &str, t0: f64, id: u16) -> DnsQuery {
        blank(
            self.settings,
            self.host,
            self.tags,
            self.transaction_id,
            qtype,
            t0,
            id,
        )
    }

    /// Sends both queries; a send that fails is that query's answer.
    async fn send_all(&mut self, socket: &UdpSocket) {
        for i in 0..self.pending.len() {
            self.pending[i].sent_at = self.clock.now();
            let sent = socket
                .send_to(&self.pending[i].bytes, self.settings.resolver)
                .await;
            if let Err(e) = sent {
                let p = &self.pending[i];
                let mut q = self.entry(&p.qtype.to_string(), p.sent_at, p.id());
                q.failure = Some(Failure::from_io(&e));
                q.t = self.clock.now();
                self.pending[i].used = Some(MergedFrom::of(&q));
                self.evidence.note(q);
                self.pending[i].first = Some(Err(Failure::from_io(&e)));
                self.pending[i].first_at = Some(Instant::now());
            }
        }
    }

    /// Receives until the listening window closes, retransmitting unanswered queries on time.
    async fn listen(
        &mut self,
        socket: &UdpSocket,
        start: Instant,
        rate: &RateLimiter,
        early: &mut Option<oneshot::Sender<Resolved>>,
    ) {
        let hard_end = start + self.settings.timeout;
        let wait = self.settings.wait;
        let mut buf = vec![0u8; 65_536];
        loop {
            maybe_send_early(early, &self.pending, wait);
            let pending = &self.pending;
            let listen_end = if pending.iter().all(|p| p.first.is_some()) {
                pending
                    .iter()
                    .filter_map(|p| p.first_at)
                    .max()
                    .map(|t| t + wait)
                    .unwrap_or(hard_end)
            } else {
                hard_end
            };
            // Wake up in time to hand out an early answer, or to retransmit, even if nothing
            // arrives.
            let early_at = pending
                .iter()
                .filter_map(|p| p.first_at)
                .min()
                .map(|t| t + wait)
                .filter(|_| early.is_some());
            let retry_at = pending
                .iter()
                .filter_map(|p| p.next_retry(start, hard_end))
                .min();
            let wake = [early_at, retry_at]
                .into_iter()
                .flatten()
                .fold(listen_end, Instant::min);
            match tokio::time::timeout_at(wake, socket.recv_from(&mut buf)).await {
                Err(_) if wake < listen_end => self.retransmit(socket, start, hard_end).await,
                Err(_) => break,
                Ok(Err(e)) => tracing::debug!("dns recv error for {}: {e}", self.host),
                Ok(Ok((n, source))) => {
                    self.on_datagram(&buf[..n], source, rate, hard_end).await;
                }
            }
        }
    }

    async fn retransmit(&mut self, socket: &UdpSocket, start: Instant, hard_end: Instant) {
        for p in &mut self.pending {
            if p.next_retry(start, hard_end)
                .is_some_and(|t| t <= Instant::now())
            {
                let id = rand::random::<u16>();
                p.ids.push(id);
                p.bytes = query_bytes(id, &self.name, p.qtype);
                let _ = socket.send_to(&p.bytes, self.settings.resolver).await;
            }
        }
    }

    /// One datagram: matched to a query first, then decoded and stored within the budgets.
    async fn on_datagram(
        &mut self,
        datagram: &[u8],
        source: SocketAddr,
        rate: &RateLimiter,
        hard_end: Instant,
    ) {
        self.evidence.received();
        let arrival = self.clock.now();
        let n = datagram.len();
        let peek_id = (n >= 2).then(|| u16::from_be_bytes([datagram[0], datagram[1]]));
        let slot = peek_id.and_then(|id| self.pending.iter().position(|p| p.ids.contains(&id)));
        let index = match slot {
            Some(i) => {
                self.pending[i].responses += 1;
                self.pending[i].responses - 1
            }
            None => {
                self.unmatched += 1;
                self.unmatched - 1
            }
        };
        // A datagram that may be the answer a query still waits for is always read.
        let awaited = slot.is_some_and(|i| self.pending[i].first.is_none());
        if !awaited && !self.evidence.has_room(slot.is_some()) {
            self.evidence.drop_datagram(n);
            return;
        }
        let (qtype, query_id, t0) = match slot {
            Some(i) => (
                self.pending[i].qtype.to_string(),
                peek_id.unwrap_or_default(),
                self.pending[i].sent_at,
            ),
            None => ("?".to_string(), 0, arrival),
        };
        let mut q = self.entry(&qtype, t0, query_id);
        q.t = arrival;
        let (raw, raw_dropped) = dns_evidence::raw(datagram);
        q.raw_response = Some(raw);
        q.x_raw_bytes_dropped = raw_dropped;
        q.x_source_address = Some(source.to_string());
        q.x_id_match = Some(slot.is_some());
        q.x_response_index = index;
        let decoded = match dns_evidence::decode(datagram) {
            Ok(d) => d,
            Err(e) => {
                q.failure = Some(Failure::DnsServerMisbehaving);
                q.x_decode_error = Some(e);
                self.evidence.keep(q, n, false);
                return;
            }
        };
        let msg = &decoded.msg;
        fill_from_message(&mut q, msg);
        q.x_answers_dropped = decoded.answers_dropped;
        let Some(i) = slot else {
            if let Some(first) = msg.queries.first() {
                q.query_type = first.query_type().to_string();
            }
            q.failure = Some(Failure::DnsWrongQueryId);
            self.evidence.keep(q, n, false);
            return;
        };
        let question_ok = match msg.queries.as_slice() {
            [only] => {
                only.query_type() == self.pending[i].qtype
                    && only
                        .name()
                        .to_ascii()
                        .eq_ignore_ascii_case(&self.name.to_ascii())
            }
            _ => false,
        };
        q.x_question_match = Some(question_ok);
        let usable = question_ok
            && source == self.settings.resolver
            && msg.metadata.message_type == MessageType::Response;
        let result = outcome(msg, &decoded.addrs);
        q.failure = result.as_ref().err().cloned();
        let essential = usable && self.pending[i].first.is_none();
        let truncated = msg.metadata.truncation;
        if essential {
            self.pending[i].used = Some(MergedFrom::of(&q));
        }
        self.evidence.keep(q, n, essential);
        if !essential {
            return;
        }
        let result = if truncated {
            self.answer_over_tcp(i, rate, hard_end).await
        } else {
            result
        };
        self.pending[i].first = Some(result);
        self.pending[i].first_at = Some(Instant::now());
    }

    /// Asks query `i` again over TCP (its UDP answer was truncated) and stores the answer.
    async fn answer_over_tcp(
        &mut self,
        i: usize,
        rate: &RateLimiter,
        hard_end: Instant,
    ) -> Result<Vec<IpAddr>, Failure> {
        let time_left = hard_end.saturating_duration_since(Instant::now());
        let p = &self.pending[i];
        let id = *p.ids.last().expect("one id at least");
        let mut tcp = self.entry(&p.qtype.to_string(), self.clock.now(), id);
        tcp.engine = "tcp".into();
        let r = over_tcp(self.settings.resolver, &p.bytes, time_left, rate).await;
        tcp.t = self.clock.now();
        self.pending[i].used = Some(MergedFrom::of(&tcp));
        let bytes = match r {
            Ok(bytes) => bytes,
            Err(f) => {
                tcp.failure = Some(f.clone());
                self.evidence.note(tcp);
                return Err(f);
            }
        };
        self.evidence.received();
        let (raw, raw_dropped) = dns_evidence::raw(&bytes);
        tcp.raw_response = Some(raw);
        tcp.x_raw_bytes_dropped = raw_dropped;
        tcp.x_source_address = Some(self.settings.resolver.to_string());
        let res = match dns_evidence::decode(&bytes) {
            Ok(d) => {
                tcp.x_id_match = Some(d.msg.metadata.id == tcp.x_query_id);
                fill_from_message(&mut tcp, &d.msg);
                tcp.x_answers_dropped = d.answers_dropped;
                outcome(&d.msg, &d.addrs)
            }
            Err(e) => {
                tcp.x_decode_error = Some(e);
                Err(Failure::DnsServerMisbehaving)
            }
        };
        tcp.failure = res.as_ref().err().cloned();
        self.evidence.keep(tcp, bytes.len(), true);
        res
    }

    /// Records the queries never answered, hands out the early answer if still owed.
    fn finish(mut self, early: &mut Option<oneshot::Sender<Resolved>>) -> Lookup {
        for i in 0..self.pending.len() {
            let p = &self.pending[i];
            if p.first.is_some() {
                continue;
            }
            let mut q = self.entry(&p.qtype.to_string(), p.sent_at, p.id());
            q.t = self.clock.now();
            q.failure = Some(if p.responses > 0 {
                Failure::DnsServerMisbehaving
            } else {
                Failure::Timeout
            });
            self.pending[i].used = Some(MergedFrom::of(&q));
            self.evidence.note(q);
        }
        if early.is_some() {
            let (addrs, failure) = combine(&self.pending);
            send_early(early, addrs, failure);
        }
        let (queries, truncated) = self.evidence.finish();
        let picks: Vec<MergedFrom> = self.pending.iter().filter_map(|p| p.used.clone()).collect();
        let classic = getaddrinfo::merged(&queries, &picks);
        if let Some(t) = &truncated {
            tracing::warn!(
                "{}: DNS budget: {} of {} datagrams not stored, {} answers and {} raw bytes cut",
                self.host,
                t.datagrams_dropped,
                t.datagrams_received,
                t.answers_dropped,
                t.raw_bytes_dropped
            );
        }
        Lookup {
            queries,
            classic,
            truncated,
        }
    }
}

fn send_early(
    early: &mut Option<oneshot::Sender<Resolved>>,
    addrs: Vec<IpAddr>,
    failure: Option<Failure>,
) {
    if let Some(tx) = early.take() {
        let _ = tx.send(Resolved { addrs, failure });
    }
}

/// The early answer is ready when every query is answered, or when one answered with
/// addresses and `wait` has passed since (a missing AAAA must not hold up the connections).
fn maybe_send_early(
    early: &mut Option<oneshot::Sender<Resolved>>,
    pending: &[Pending],
    wait: Duration,
) {
    if early.is_none() {
        return;
    }
    let all = pending.iter().all(|p| p.first.is_some());
    let some_addrs_waited = pending.iter().any(|p| {
        matches!(&p.first, Some(Ok(a)) if !a.is_empty())
            && p.first_at.is_some_and(|t| t + wait <= Instant::now())
    });
    if all || some_addrs_waited {
        let (addrs, failure) = combine(pending);
        send_early(early, addrs, failure);
    }
}

fn combine(pending: &[Pending]) -> (Vec<IpAddr>, Option<Failure>) {
    let mut addrs: Vec<IpAddr> = Vec::new();
    for p in pending {
        if let Some(Ok(a)) = &p.first {
            for ip in a {
                if !addrs.contains(ip) {
                    addrs.push(*ip);
                }
            }
        }
    }
    if !addrs.is_empty() {
        return (addrs, None);
    }
    // No addresses: the A query's failure speaks for the name (AAAA's no-answer is normal).
    let failure = pending
        .iter()
        .find_map(|p| match &p.first {
            Some(Err(f)) if p.qtype == RecordType::A => Some(f.clone()),
            _ => None,
        })
        .or_else(|| {
            pending.iter().find_map(|p| match &p.first {
                Some(Err(f)) => Some(f.clone()),
                _ => None,
            })
        })
        .unwrap_or(if pending.iter().any(|p| p.first.is_some()) {
            Failure::DnsNoAnswer
        } else {
            Failure::Timeout
        });
    (addrs, Some(failure))
}

fn query_bytes(id: u16, name: &Name, qtype: RecordType) -> Vec<u8> {
    let mut msg = Message::new(id, MessageType::Query, OpCode::Query);
    msg.metadata.recursion_desired = true;
    msg.add_query(Query::query(name.clone(), qtype));
    let mut edns = Edns::new();
    edns.set_max_payload(1232);
    msg.edns = Some(edns);
    msg.to_vec().expect("a query always encodes")
}

fn fill_from_message(q: &mut DnsQuery, msg: &Message) {
    let m = &msg.metadata;
    q.rcode = Some(u16::from(m.response_code));
    q.x_flags = Some(DnsFlags {
        aa: m.authoritative,
        tc: m.truncation,
        rd: m.recursion_desired,
        ra: m.recursion_available,
        ad: m.authentic_data,
        cd: m.checking_disabled,
    });
    q.answers = msg
        .answers
        .iter()
        .filter_map(|r| {
            let (answer_type, ipv4, ipv6, hostname) = match &r.data {
                RData::A(a) => ("A", Some(a.0.to_string()), None, None),
                RData::AAAA(a) => ("AAAA", None, Some(a.0.to_string()), None),
                RData::CNAME(c) => ("CNAME", None, None, Some(c.0.to_ascii())),
                _ => return None,
            };
            Some(DnsAnswer {
                answer_type: answer_type.into(),
                ipv4,
                ipv6,
                hostname,
                ttl: r.ttl,
            })
        })
        .collect();
}

/// What a response means for its query; `addrs` are the addresses of all its answers (not
/// only the decoded ones, which are capped).
fn outcome(msg: &Message, addrs: &[IpAddr]) -> Result<Vec<IpAddr>, Failure> {
    match msg.metadata.response_code {
        ResponseCode::NoError => {}
        ResponseCode::NXDomain => return Err(Failure::DnsNxdomain),
        ResponseCode::ServFail => return Err(Failure::DnsServfail),
        ResponseCode::Refused => return Err(Failure::DnsRefused),
        _ => return Err(Failure::DnsServerMisbehaving),
    }
    if addrs.is_empty() {
        Err(Failure::DnsNoAnswer)
    } else {
        Ok(addrs.to_vec())
    }
}

/// Asks the same question over TCP (RFC 1035 length prefix), for truncated answers.
async fn over_tcp(
    resolver: SocketAddr,
    query: &[u8],
    budget: Duration,
    rate: &RateLimiter,
) -> Result<Vec<u8>, Failure> {
    rate.acquire().await;
    let work = async {
        let mut s = TcpStream::connect(resolver).await?;
        let mut framed = (query.len() as u16).to_be_bytes().to_vec();
        framed.extend_from_slice(query);
        s.write_all(&framed).await?;
        let len = s.read_u16().await? as usize;
        let mut body = vec![0u8; len];
        s.read_exact(&mut body).await?;
        Ok::<_, std::io::Error>(body)
    };
    match tokio::time::timeout(budget, work).await {
        Err(_) => Err(Failure::Timeout),
        Ok(Err(e)) => Err(Failure::from_io(&e)),
        Ok(Ok(b)) => Ok(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// The real answer to `query`: 127.0.0.7 for A, no answer for anything else.
    fn answer_7(query: &Message) -> Vec<u8> {
        let mut ok = Message::response(query.metadata.id, OpCode::Query);
        ok.add_query(query.queries[0].clone());
        if query.queries[0].query_type() == RecordType::A {
            ok.answers.push(hickory_proto::rr::Record::from_rdata(
                query.queries[0].name().clone(),
                30,
                RData::A(hickory_proto::rr::rdata::A("127.0.0.7".parse().unwrap())),
            ));
        }
        ok.to_vec().unwrap()
    }

    /// A resolver on loopback that answers each query with random datagrams (some carrying the
    /// query's id), then a valid answer, then more garbage.
    async fn garbage_resolver(seed: u64, junk: usize) -> SocketAddr {
        let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = sock.local_addr().unwrap();
        tokio::spawn(async move {
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
            let mut buf = [0u8; 2048];
            loop {
                let Ok((n, peer)) = sock.recv_from(&mut buf).await else {
                    return;
                };
                let query = Message::from_vec(&buf[..n]).unwrap();
                for i in 0..junk * 2 {
                    let len = rng.random_range(0..600);
                    let mut d: Vec<u8> = (0..len).map(|_| rng.random()).collect();
                    if len >= 2 && rng.random_bool(0.5) {
                        d[..2].copy_from_slice(&query.metadata.id.to_be_bytes());
                    }
                    let _ = sock.send_to(&d, peer).await;
                    if i == junk {
                        let _ = sock.send_to(&answer_7(&query), peer).await;
                    }
                }
            }
        });
        addr
    }

    #[tokio::test]
    async fn garbage_datagrams_are_recorded_never_fatal() {
        for seed in 0..40u64 {
            let resolver = garbage_resolver(seed, 5).await;
            let settings = DnsSettings {
                resolver,
                timeout: Duration::from_secs(2),
                wait: Duration::from_millis(100),
                source: None,
            };
            let (tx, rx) = oneshot::channel();
            let rate = RateLimiter::new(0);
            let out = lookup(
                &settings,
                "fuzz.test",
                Clock::start(),
                &[],
                1,
                &rate,
                &DnsBudget::per_measurement(),
                tx,
            )
            .await
            .queries;
            let early = rx.await.unwrap();
            // Random bytes with the right id can decode as a (bogus) valid answer before the
            // real one; the real answer must at least be recorded, and every datagram kept.
            assert!(
                out.iter()
                    .any(|q| q.addresses().any(|a| a.to_string() == "127.0.0.7")),
                "seed {seed}"
            );
            assert!(out.len() >= 20, "seed {seed}: {} entries", out.len());
            assert!(out
                .iter()
                .all(|q| q.raw_response.is_some() || q.failure.is_some()));
            assert!(
                early.failure.is_some() || !early.addrs.is_empty(),
                "seed {seed}"
            );
        }
    }

    #[tokio::test]
    async fn a_lost_query_is_sent_again_with_a_fresh_id() {
        // A resolver that ignores the first datagram of each query and answers the rest.
        let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let resolver = sock.local_addr().unwrap();
        tokio::spawn(async move {
            let mut seen = std::collections::HashSet::new();
            let mut buf = [0u8; 2048];
            loop {
                let Ok((n, peer)) = sock.recv_from(&mut buf).await else {
                    return;
                };
                let q = Message::from_vec(&buf[..n]).unwrap();
                if seen.insert(q.queries[0].query_type()) {
                    continue; // lost
                }
                let _ = sock.send_to(&answer_7(&q), peer).await;
            }
        });
        let settings = DnsSettings {
            resolver,
            timeout: Duration::from_secs(3),
            wait: Duration::from_millis(50),
            source: None,
        };
        let (tx, rx) = oneshot::channel();
        let out = lookup(
            &settings,
            "lossy.test",
            Clock::start(),
            &[],
            1,
            &RateLimiter::new(0),
            &DnsBudget::per_measurement(),
            tx,
        )
        .await
        .queries;
        let early = rx.await.unwrap();
        assert_eq!(early.addrs, vec!["127.0.0.7".parse::<IpAddr>().unwrap()]);
        let a: Vec<_> = out.iter().filter(|q| q.query_type == "A").collect();
        assert_eq!(a.len(), 1, "{a:?}");
        assert_eq!(a[0].failure, None);
        assert_eq!(a[0].x_id_match, Some(true));
        assert!(
            a[0].t >= 1.0,
            "answered after the retransmission at 1 s: {}",
            a[0].t
        );
    }

    /// A resolver that first sends `burst` datagrams with a wrong id for each query, then the
    /// real answer (right id, right source, our question).
    async fn burst_then_answer_resolver(burst: usize) -> SocketAddr {
        let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = sock.local_addr().unwrap();
        tokio::spawn(async move {
            let mut buf = [0u8; 2048];
            loop {
                let Ok((n, peer)) = sock.recv_from(&mut buf).await else {
                    return;
                };
                let q = Message::from_vec(&buf[..n]).unwrap();
                let wrong = q.metadata.id.wrapping_add(1);
                let mut junk = Message::response(wrong, OpCode::Query);
                junk.add_query(q.queries[0].clone());
                let junk = junk.to_vec().unwrap();
                for i in 0..burst {
                    let _ = sock.send_to(&junk, peer).await;
                    if i % 16 == 15 {
                        tokio::task::yield_now().await;
                    }
                }
                let _ = sock.send_to(&answer_7(&q), peer).await;
            }
        });
        addr
    }

    #[tokio::test]
    async fn a_burst_of_wrong_ids_never_crowds_out_the_real_answer() {
        let settings = DnsSettings {
            resolver: burst_then_answer_resolver(100).await,
            timeout: Duration::from_millis(1500),
            wait: Duration::from_millis(200),
            source: None,
        };
        let (tx, rx) = oneshot::channel();
        let lookup = lookup(
            &settings,
            "burst.test",
            Clock::start(),
            &[],
            1,
            &RateLimiter::new(0),
            &DnsBudget::per_measurement(),
            tx,
        )
        .await;
        let (out, truncated) = (&lookup.queries, lookup.truncated.as_ref().expect("shed"));
        let early = rx.await.unwrap();
        assert_eq!(early.failure, None, "{early:?}");
        assert_eq!(early.addrs, vec!["127.0.0.7".parse::<IpAddr>().unwrap()]);
        let real: Vec<_> = out
            .iter()
            .filter(|q| q.x_id_match == Some(true) && q.query_type == "A")
            .collect();
        assert_eq!(real.len(), 1, "the real A answer is recorded");
        assert_eq!(real[0].failure, None);
        assert!(out.iter().all(|q| q.failure != Some(Failure::Timeout)));
        // The junk beyond its quota is counted, not stored: 2 x 100 wrong-id datagrams and the
        // 2 answers arrived; every one is either an entry or counted as dropped.
        let wrong: Vec<_> = out.iter().filter(|q| q.x_id_match == Some(false)).collect();
        assert_eq!(wrong.len(), crate::budget::DNS_WRONG_ID_ENTRIES_PER_LOOKUP);
        let datagrams = out.iter().filter(|q| q.raw_response.is_some()).count() as u64;
        assert_eq!(truncated.datagrams_received, 202);
        assert_eq!(datagrams + truncated.datagrams_dropped, 202);
        assert_eq!(truncated.hostname, "burst.test");
    }

    #[tokio::test]
    async fn a_silent_resolver_times_out_both_queries() {
        let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let settings = DnsSettings {
            resolver: sock.local_addr().unwrap(),
            timeout: Duration::from_millis(300),
            wait: Duration::from_millis(50),
            source: None,
        };
        let (tx, rx) = oneshot::channel();
        let out = lookup(
            &settings,
            "quiet.test",
            Clock::start(),
            &[],
            1,
            &RateLimiter::new(0),
            &DnsBudget::per_measurement(),
            tx,
        )
        .await
        .queries;
        assert_eq!(rx.await.unwrap().failure, Some(Failure::Timeout));
        let types: Vec<_> = out
            .iter()
            .map(|q| (q.query_type.as_str(), q.failure.clone()))
            .collect();
        assert_eq!(
            types,
            [
                ("A", Some(Failure::Timeout)),
                ("AAAA", Some(Failure::Timeout))
            ]
        );
        drop(sock);
    }
}
