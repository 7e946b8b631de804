//! Builders of hand-made observations and control answers for the table tests.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use super::RESOLVER;
use crate::analysis::index;
use crate::control::{
    ControlAnswer, ControlDns, ControlHttp, ControlIpInfo, ControlTcp, ControlTls,
};
use crate::failure::Failure;
use crate::observation::{
    CertInfo, DnsAnswer, DnsQuery, HttpHeaders, HttpRequest, HttpResponse, HttpTransaction,
    MaybeBinary, Observations, TcpConnect, TcpStatus, TlsHandshake, TransferSample,
};

pub(super) fn depth_tag(depth: usize) -> Vec<String> {
    vec![format!("depth={depth}")]
}

pub(super) fn datagram(
    host: &str,
    qtype: &str,
    id: u16,
    index: usize,
    t: f64,
    addrs: &[&str],
) -> DnsQuery {
    DnsQuery {
        engine: "udp".into(),
        resolver_address: RESOLVER.into(),
        hostname: host.into(),
        query_type: qtype.into(),
        failure: addrs.is_empty().then_some(Failure::DnsNoAnswer),
        answers: addrs
            .iter()
            .map(|a| {
                let v6 = a.contains(':');
                DnsAnswer {
                    answer_type: if v6 { "AAAA" } else { "A" }.into(),
                    ipv4: (!v6).then(|| a.to_string()),
                    ipv6: v6.then(|| a.to_string()),
                    hostname: None,
                    ttl: 60,
                }
            })
            .collect(),
        rcode: Some(0),
        raw_response: Some("cmF3".into()),
        t0: 0.0,
        t,
        tags: depth_tag(0),
        transaction_id: 1,
        x_source_address: Some(RESOLVER.into()),
        x_query_id: id,
        x_id_match: Some(true),
        x_question_match: Some(true),
        x_response_index: index,
        x_flags: None,
        x_decode_error: None,
        x_answers_dropped: 0,
        x_raw_bytes_dropped: 0,
        x_classic: None,
    }
}

#[derive(Clone)]
pub(super) struct Resp {
    pub(super) code: u16,
    pub(super) headers: Vec<(String, String)>,
    pub(super) body: String,
    pub(super) title: Option<String>,
    pub(super) length: Option<u64>,
    pub(super) complete: bool,
}

pub(super) fn page(title: &str, size: usize) -> Resp {
    let mut body = format!("<html><head><title>{title}</title></head><body>");
    while body.len() < size {
        body.push_str("Lorem ipsum dolor sit amet. ");
    }
    Resp {
        code: 200,
        headers: vec![
            ("Content-Type".into(), "text/html".into()),
            ("X-Site".into(), "real".into()),
            ("Content-Length".into(), body.len().to_string()),
        ],
        title: Some(title.into()),
        body,
        length: None,
        complete: true,
    }
}

pub(super) fn plain(code: u16, title: &str, body: &str) -> Resp {
    Resp {
        code,
        headers: vec![
            ("Content-Type".into(), "text/html".into()),
            ("Content-Length".into(), body.len().to_string()),
        ],
        body: body.into(),
        title: Some(title.into()),
        length: None,
        complete: true,
    }
}

pub(super) fn redirect(code: u16, location: &str) -> Resp {
    Resp {
        code,
        headers: vec![
            ("Location".into(), location.into()),
            ("Content-Length".into(), "0".into()),
        ],
        body: String::new(),
        title: None,
        length: None,
        complete: true,
    }
}

impl Resp {
    pub(super) fn header(mut self, k: &str, v: &str) -> Resp {
        self.headers.push((k.into(), v.into()));
        self
    }
    pub(super) fn len(&self) -> u64 {
        self.length.unwrap_or(self.body.len() as u64)
    }
    pub(super) fn sha(&self) -> String {
        hex::encode(Sha256::digest(self.body.as_bytes()))
    }
    pub(super) fn response(&self) -> HttpResponse {
        HttpResponse {
            code: self.code,
            headers: HttpHeaders {
                headers: self.headers.iter().cloned().collect(),
                headers_list: self.headers.clone(),
            },
            body: Some(MaybeBinary::Text(self.body.clone())),
            body_is_truncated: !self.complete,
            x_body_length: self.len(),
            x_body_complete: self.complete,
            x_body_sha256: self.sha(),
            x_title: self.title.clone(),
        }
    }
}

/// Observations under construction.
#[derive(Clone, Default)]
pub(super) struct Obs(pub(super) Observations);

pub(super) fn obs() -> Obs {
    Obs::default()
}

pub(super) fn ep(addr: &str) -> std::net::SocketAddr {
    addr.parse().unwrap()
}

impl Obs {
    pub(super) fn tagged(mut q: DnsQuery, depth: usize) -> DnsQuery {
        q.tags = depth_tag(depth);
        q.transaction_id = 100 + depth as u64;
        q
    }
    /// A and AAAA answered by the resolver (no AAAA records when no IPv6 address is given).
    pub(super) fn resolve(mut self, host: &str, depth: usize, addrs: &[&str]) -> Obs {
        let v4: Vec<&str> = addrs.iter().copied().filter(|a| !a.contains(':')).collect();
        let v6: Vec<&str> = addrs.iter().copied().filter(|a| a.contains(':')).collect();
        let id = 10 * depth as u16;
        self.0.queries.push(Obs::tagged(
            datagram(host, "A", id + 1, 0, 0.02, &v4),
            depth,
        ));
        self.0.queries.push(Obs::tagged(
            datagram(host, "AAAA", id + 2, 0, 0.021, &v6),
            depth,
        ));
        self
    }
    /// Both queries failed the same way.
    pub(super) fn dns_fails(mut self, host: &str, depth: usize, f: Failure) -> Obs {
        let id = 10 * depth as u16;
        for (i, qtype) in ["A", "AAAA"].iter().enumerate() {
            let mut q = datagram(host, qtype, id + 1 + i as u16, 0, 0.03, &[]);
            q.failure = Some(f.clone());
            q.rcode = match f {
                Failure::DnsNxdomain => Some(3),
                Failure::DnsServfail => Some(2),
                Failure::DnsRefused => Some(5),
                _ => None,
            };
            if q.rcode.is_none() {
                q.raw_response = None;
                q.x_source_address = None;
                q.x_id_match = None;
                q.x_question_match = None;
            }
            self.0.queries.push(Obs::tagged(q, depth));
        }
        self
    }
    pub(super) fn datagram(mut self, q: DnsQuery) -> Obs {
        self.0.queries.push(q);
        self
    }
    pub(super) fn connect(mut self, addr: &str, depth: usize, failure: Option<Failure>) -> Obs {
        let a = ep(addr);
        self.0.tcp_connect.push(TcpConnect {
            ip: a.ip().to_string(),
            port: a.port(),
            status: TcpStatus {
                success: failure.is_none(),
                failure: failure.clone(),
            },
            t0: 0.05,
            t: if failure == Some(Failure::Timeout) {
                10.05
            } else {
                0.09
            },
            tags: depth_tag(depth),
            transaction_id: 200,
        });
        self
    }
    /// A connect that succeeded after `rtt` seconds (the round trip to the address).
    pub(super) fn connect_rtt(mut self, addr: &str, depth: usize, rtt: f64) -> Obs {
        self = self.connect(addr, depth, None);
        let c = self.0.tcp_connect.last_mut().unwrap();
        c.t = c.t0 + rtt;
        self
    }
    /// A TLS handshake: `None` validated; a certificate failure completed; anything else broke.
    pub(super) fn handshake(
        mut self,
        addr: &str,
        sni: &str,
        depth: usize,
        failure: Option<Failure>,
    ) -> Obs {
        let completed = failure.as_ref().is_none_or(|f| f.is_certificate());
        self.0.tls_handshakes.push(TlsHandshake {
            network: "tcp".into(),
            address: addr.into(),
            server_name: sni.into(),
            cipher_suite: completed.then(|| "TLS_AES_128_GCM_SHA256".into()),
            tls_version: completed.then(|| "TLSv1.3".into()),
            negotiated_protocol: None,
            no_tls_verify: false,
            peer_certificates: vec![],
            failure: failure.clone(),
            t0: 0.1,
            t: 0.2,
            tags: depth_tag(depth),
            transaction_id: 200,
            x_handshake_completed: completed,
            x_certificate_valid: completed.then_some(failure.is_none()),
            x_chain: if completed {
                vec![CertInfo {
                    subject: format!("CN={sni}"),
                    issuer: "CN=Some CA".into(),
                    san: vec![sni.into()],
                    not_before: String::new(),
                    not_after: String::new(),
                    serial: "01".into(),
                    sha256: "00".into(),
                }]
            } else {
                vec![]
            },
            x_bytes_sent: 0,
            x_bytes_received: 0,
        });
        self
    }
    pub(super) fn push_request(&mut self, tx: HttpTransaction) {
        self.0.requests.push(tx);
        self.0
            .requests
            .sort_by_key(|r| std::cmp::Reverse(index::depth_of(&r.tags)));
    }
    pub(super) fn transaction(url: &str, addr: &str, depth: usize) -> HttpTransaction {
        HttpTransaction {
            network: "tcp".into(),
            address: addr.into(),
            alpn: Some("http/1.1".into()),
            failure: None,
            request: HttpRequest {
                url: url.into(),
                method: "GET".into(),
                headers: HttpHeaders::default(),
                body: String::new(),
                body_is_truncated: false,
                x_transport: "tcp".into(),
            },
            response: None,
            t0: 0.3,
            t: 0.4,
            tags: depth_tag(depth),
            transaction_id: 200,
            x_t_response_headers: None,
            x_transfer: vec![],
        }
    }
    pub(super) fn get(mut self, url: &str, addr: &str, depth: usize, r: &Resp) -> Obs {
        let mut tx = Obs::transaction(url, addr, depth);
        tx.response = Some(r.response());
        tx.x_transfer = vec![
            TransferSample { t: 0.35, bytes: 0 },
            TransferSample {
                t: 0.4,
                bytes: r.len(),
            },
        ];
        self.push_request(tx);
        self
    }
    pub(super) fn get_fails(mut self, url: &str, addr: &str, depth: usize, f: Failure) -> Obs {
        let mut tx = Obs::transaction(url, addr, depth);
        tx.failure = Some(f);
        tx.t = 10.3;
        self.push_request(tx);
        self
    }
    /// A body that arrives at `rate` bytes/s until the 10 s timeout cuts it off.
    pub(super) fn get_slow(mut self, url: &str, addr: &str, r: &Resp, rate: u64) -> Obs {
        let mut tx = Obs::transaction(url, addr, 0);
        let got = rate * 10;
        let mut resp = r.response();
        resp.x_body_length = got;
        resp.x_body_complete = false;
        resp.body_is_truncated = true;
        tx.response = Some(resp);
        tx.failure = Some(Failure::Timeout);
        tx.t = 10.3;
        tx.x_transfer = (0..=10)
            .map(|s| TransferSample {
                t: 0.3 + s as f64,
                bytes: rate * s,
            })
            .collect();
        self.push_request(tx);
        self
    }
    /// A whole body that arrives steadily over `seconds` (a sample every 100 ms).
    pub(super) fn get_paced(mut self, url: &str, addr: &str, r: &Resp, seconds: f64) -> Obs {
        let mut tx = Obs::transaction(url, addr, 0);
        tx.response = Some(r.response());
        let steps = (seconds * 10.0).round() as u64;
        tx.x_transfer = (0..=steps)
            .map(|s| TransferSample {
                t: 0.35 + s as f64 / 10.0,
                bytes: r.len() * s / steps,
            })
            .collect();
        tx.t = 0.35 + seconds;
        self.push_request(tx);
        self
    }
    /// A whole body whose first `first` bytes arrive at once and the rest `pause` seconds
    /// later (a server that stops to think, not a path that trickles).
    pub(super) fn get_paused(
        mut self,
        url: &str,
        addr: &str,
        r: &Resp,
        first: u64,
        pause: f64,
    ) -> Obs {
        let mut tx = Obs::transaction(url, addr, 0);
        tx.response = Some(r.response());
        tx.x_transfer = vec![
            TransferSample { t: 0.35, bytes: 0 },
            TransferSample {
                t: 0.36,
                bytes: first,
            },
            TransferSample {
                t: 0.36 + pause,
                bytes: r.len(),
            },
        ];
        tx.t = 0.36 + pause;
        self.push_request(tx);
        self
    }
    /// A body that arrives at `rate` bytes/s for `flowing` seconds, then stalls until the 10 s
    /// timeout cuts it off.
    pub(super) fn get_stalled(
        mut self,
        url: &str,
        addr: &str,
        r: &Resp,
        rate: u64,
        flowing: u64,
    ) -> Obs {
        self = self.get_slow(url, addr, r, rate);
        let tx = self
            .0
            .requests
            .iter_mut()
            .find(|t| t.request.url == url)
            .unwrap();
        for s in &mut tx.x_transfer {
            s.bytes = s.bytes.min(rate * flowing);
        }
        tx.x_transfer.dedup_by_key(|s| s.bytes);
        tx.response.as_mut().unwrap().x_body_length = rate * flowing;
        self
    }
    pub(super) fn deadline(mut self) -> Obs {
        self.0.x_deadline_exceeded = true;
        self
    }
    pub(super) fn redirect_limit(mut self) -> Obs {
        self.0.x_redirect_limit_reached = true;
        self
    }
}

/// A control answer under construction.
#[derive(Clone)]
pub(super) struct Ctl(pub(super) ControlAnswer);

pub(super) fn ctl() -> Ctl {
    Ctl(ControlAnswer::default())
}

impl Ctl {
    pub(super) fn resolves(mut self, addrs: &[&str]) -> Ctl {
        self.0.dns = ControlDns {
            failure: None,
            addrs: addrs.iter().map(|a| a.to_string()).collect(),
        };
        self
    }
    pub(super) fn dns_fails(mut self, f: &str) -> Ctl {
        self.0.dns = ControlDns {
            failure: Some(f.into()),
            addrs: vec![],
        };
        self
    }
    pub(super) fn connects(mut self, addr: &str) -> Ctl {
        self.0.tcp_connect.insert(
            addr.into(),
            ControlTcp {
                status: true,
                failure: None,
            },
        );
        self
    }
    pub(super) fn connect_fails(mut self, addr: &str, f: &str) -> Ctl {
        self.0.tcp_connect.insert(
            addr.into(),
            ControlTcp {
                status: false,
                failure: Some(f.into()),
            },
        );
        self
    }
    pub(super) fn tls_ok(mut self, addr: &str, sni: &str) -> Ctl {
        self.0.tls_handshake.insert(
            addr.into(),
            ControlTls {
                server_name: sni.into(),
                status: true,
                failure: None,
                x_certificate_valid: Some(true),
            },
        );
        self
    }
    pub(super) fn tls_fails(mut self, addr: &str, sni: &str, f: &str) -> Ctl {
        self.0.tls_handshake.insert(
            addr.into(),
            ControlTls {
                server_name: sni.into(),
                status: false,
                failure: Some(f.into()),
                x_certificate_valid: f.starts_with("ssl_").then_some(false),
            },
        );
        self
    }
    pub(super) fn fetched(mut self, r: &Resp) -> Ctl {
        self.0.http_request = ControlHttp {
            body_length: r.len() as i64,
            failure: None,
            title: r.title.clone().unwrap_or_default(),
            headers: r.headers.iter().cloned().collect::<BTreeMap<_, _>>(),
            status_code: r.code as i64,
            discovered_h3_endpoint: String::new(),
            x_body_sha256: Some(r.sha()),
            x_body_complete: Some(true),
            x_transfer_rate: Some(5_000_000.0),
            x_final_url: None,
        };
        self
    }
    pub(super) fn fetch_fails(mut self, f: &str) -> Ctl {
        self.0.http_request = ControlHttp {
            failure: Some(f.into()),
            ..ControlHttp::default()
        };
        self
    }
    /// Where the control's fetch ended (vantage helpers say; OONI's do not).
    pub(super) fn final_url(mut self, u: &str) -> Ctl {
        self.0.http_request.x_final_url = Some(u.into());
        self
    }
    pub(super) fn rate(mut self, r: Option<f64>) -> Ctl {
        self.0.http_request.x_transfer_rate = r;
        self
    }
    pub(super) fn asn(mut self, ip: &str, asn: u32, flags: u32) -> Ctl {
        self.0
            .ip_info
            .insert(ip.into(), ControlIpInfo { asn, flags });
        self
    }
}
