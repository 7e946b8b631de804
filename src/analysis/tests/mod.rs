//! Table tests over hand-made observations and control answers: one row per blocking method,
//! per trap (CDNs, down sites, failed controls, testbeds), and per family of OONI's
//! web_connectivity QA suite (OONI.md's golden outcomes), then property tests of the verdict's
//! invariants over random observations.

use std::collections::BTreeMap;

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::*;
use crate::control::{ControlDns, ControlHttp, ControlIpInfo, ControlTcp, ControlTls};
use crate::failure::Failure;
use crate::observation::{
    CertInfo, DnsAnswer, DnsQuery, HttpHeaders, HttpRequest, HttpResponse, HttpTransaction,
    MaybeBinary, TcpConnect, TcpStatus, TlsHandshake, TransferSample,
};

mod details;
mod fuzz;
mod methods;
mod no_control;
mod qa;
mod traps;

const RESOLVER: &str = "8.8.8.8:53";
/// The site's real address, a CDN's, a transparent proxy's, another service's.
const SITE: &str = "93.184.215.14";
const SITE6: &str = "2606:2800:21f:cb07:6820:80da:af6b:8b2c";
const CDN: &str = "151.101.1.67";
const PROXY: &str = "45.33.1.10";
const OTHER: &str = "31.13.94.37";

// ---------------------------------------------------------------------------------------------
// Builders.

fn depth_tag(depth: usize) -> Vec<String> {
    vec![format!("depth={depth}")]
}

fn datagram(host: &str, qtype: &str, id: u16, index: usize, t: f64, addrs: &[&str]) -> DnsQuery {
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
        raw_response: Some(MaybeBinary::Text("raw".into())),
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
    }
}

#[derive(Clone)]
struct Resp {
    code: u16,
    headers: Vec<(String, String)>,
    body: String,
    title: Option<String>,
    length: Option<u64>,
    complete: bool,
}

fn page(title: &str, size: usize) -> Resp {
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

fn plain(code: u16, title: &str, body: &str) -> Resp {
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

fn redirect(code: u16, location: &str) -> Resp {
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
    fn header(mut self, k: &str, v: &str) -> Resp {
        self.headers.push((k.into(), v.into()));
        self
    }
    fn len(&self) -> u64 {
        self.length.unwrap_or(self.body.len() as u64)
    }
    fn sha(&self) -> String {
        hex::encode(Sha256::digest(self.body.as_bytes()))
    }
    fn response(&self) -> HttpResponse {
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
struct Obs(Observations);

fn obs() -> Obs {
    Obs::default()
}

fn ep(addr: &str) -> std::net::SocketAddr {
    addr.parse().unwrap()
}

impl Obs {
    fn tagged(mut q: DnsQuery, depth: usize) -> DnsQuery {
        q.tags = depth_tag(depth);
        q.transaction_id = 100 + depth as u64;
        q
    }
    /// A and AAAA answered by the resolver (no AAAA records when no IPv6 address is given).
    fn resolve(mut self, host: &str, depth: usize, addrs: &[&str]) -> Obs {
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
    fn dns_fails(mut self, host: &str, depth: usize, f: Failure) -> Obs {
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
    fn datagram(mut self, q: DnsQuery) -> Obs {
        self.0.queries.push(q);
        self
    }
    fn connect(mut self, addr: &str, depth: usize, failure: Option<Failure>) -> Obs {
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
    /// A TLS handshake: `None` validated; a certificate failure completed; anything else broke.
    fn handshake(mut self, addr: &str, sni: &str, depth: usize, failure: Option<Failure>) -> Obs {
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
    fn push_request(&mut self, tx: HttpTransaction) {
        self.0.requests.push(tx);
        self.0
            .requests
            .sort_by_key(|r| std::cmp::Reverse(index::depth_of(&r.tags)));
    }
    fn transaction(url: &str, addr: &str, depth: usize) -> HttpTransaction {
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
    fn get(mut self, url: &str, addr: &str, depth: usize, r: &Resp) -> Obs {
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
    fn get_fails(mut self, url: &str, addr: &str, depth: usize, f: Failure) -> Obs {
        let mut tx = Obs::transaction(url, addr, depth);
        tx.failure = Some(f);
        tx.t = 10.3;
        self.push_request(tx);
        self
    }
    /// A body that arrives at `rate` bytes/s until the 10 s timeout cuts it off.
    fn get_slow(mut self, url: &str, addr: &str, r: &Resp, rate: u64) -> Obs {
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
    fn deadline(mut self) -> Obs {
        self.0.x_deadline_exceeded = true;
        self
    }
    fn redirect_limit(mut self) -> Obs {
        self.0.x_redirect_limit_reached = true;
        self
    }
}

/// A control answer under construction.
#[derive(Clone)]
struct Ctl(ControlAnswer);

fn ctl() -> Ctl {
    Ctl(ControlAnswer::default())
}

impl Ctl {
    fn resolves(mut self, addrs: &[&str]) -> Ctl {
        self.0.dns = ControlDns {
            failure: None,
            addrs: addrs.iter().map(|a| a.to_string()).collect(),
        };
        self
    }
    fn dns_fails(mut self, f: &str) -> Ctl {
        self.0.dns = ControlDns {
            failure: Some(f.into()),
            addrs: vec![],
        };
        self
    }
    fn connects(mut self, addr: &str) -> Ctl {
        self.0.tcp_connect.insert(
            addr.into(),
            ControlTcp {
                status: true,
                failure: None,
            },
        );
        self
    }
    fn connect_fails(mut self, addr: &str, f: &str) -> Ctl {
        self.0.tcp_connect.insert(
            addr.into(),
            ControlTcp {
                status: false,
                failure: Some(f.into()),
            },
        );
        self
    }
    fn tls_ok(mut self, addr: &str, sni: &str) -> Ctl {
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
    fn tls_fails(mut self, addr: &str, sni: &str, f: &str) -> Ctl {
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
    fn fetched(mut self, r: &Resp) -> Ctl {
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
    fn fetch_fails(mut self, f: &str) -> Ctl {
        self.0.http_request = ControlHttp {
            failure: Some(f.into()),
            ..ControlHttp::default()
        };
        self
    }
    fn rate(mut self, r: Option<f64>) -> Ctl {
        self.0.http_request.x_transfer_rate = r;
        self
    }
    fn asn(mut self, ip: &str, asn: u32, flags: u32) -> Ctl {
        self.0
            .ip_info
            .insert(ip.into(), ControlIpInfo { asn, flags });
        self
    }
}

/// One row: a measurement and what must come out of it.
struct Row {
    name: &'static str,
    url: &'static str,
    obs: Obs,
    control: Option<Ctl>,
    control_failure: Option<&'static str>,
    testbed: Vec<ipnet::IpNet>,
    dns_consistency: Option<&'static str>,
    blocking: Value,
    accessible: Option<bool>,
    status: Status,
    methods: &'static [&'static str],
}

fn row(name: &'static str, url: &'static str, obs: Obs, control: Option<Ctl>) -> Row {
    Row {
        name,
        url,
        obs,
        control,
        control_failure: None,
        testbed: vec![],
        dns_consistency: None,
        blocking: Value::Null,
        accessible: None,
        status: Status::Unknown,
        methods: &[],
    }
}

fn b(s: &str) -> Value {
    Value::String(s.into())
}

impl Row {
    /// OONI's classic keys.
    fn ooni(mut self, dns: Option<&'static str>, blocking: Value, accessible: Option<bool>) -> Row {
        self.dns_consistency = dns;
        self.blocking = blocking;
        self.accessible = accessible;
        self
    }
    fn verdict(mut self, status: Status, methods: &'static [&'static str]) -> Row {
        self.status = status;
        self.methods = methods;
        self
    }
    fn control_failed(mut self, f: &'static str) -> Row {
        self.control = None;
        self.control_failure = Some(f);
        self
    }
    fn testbed(mut self, net: &str) -> Row {
        self.testbed.push(net.parse().unwrap());
        self
    }
    fn run(&self) -> Analysis {
        let fp = Fingerprints::builtin();
        let control = self.control.as_ref().map(|c| c.0.clone());
        let ctx = Context {
            control: control.as_ref(),
            control_failure: self.control_failure,
            testbed_nets: &self.testbed,
            fingerprints: &fp,
        };
        analyze(&Url::parse(self.url).unwrap(), &self.obs.0, &ctx)
    }
}

/// Runs every row, checks OONI's keys and the verdict, and reports all mismatches at once.
fn check(rows: Vec<Row>) {
    let mut wrong = Vec::new();
    let show = std::env::var_os("VANTAGE_SHOW_REASONS").is_some();
    for r in &rows {
        let a = r.run();
        if show {
            println!(
                "{}: {:?} {:?}",
                r.name, a.x_verdict.status, a.x_verdict.methods
            );
            for reason in &a.x_verdict.reasons {
                println!("    {reason}");
            }
        }
        check_invariants(&a, r.control.is_some());
        let got = (
            a.dns_consistency.as_deref(),
            &a.blocking,
            a.accessible,
            a.x_verdict.status,
            a.x_verdict.methods.clone(),
        );
        let want = (
            r.dns_consistency,
            &r.blocking,
            r.accessible,
            r.status,
            r.methods.iter().map(|m| m.to_string()).collect::<Vec<_>>(),
        );
        if got != want {
            wrong.push(format!(
                "{}:\n  want {want:?}\n  got  {got:?}\n  reasons {:#?}",
                r.name, a.x_verdict.reasons
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} rows wrong:\n{}",
        wrong.len(),
        rows.len(),
        wrong.join("\n")
    );
}

/// What must hold for any analysis.
fn check_invariants(a: &Analysis, has_control: bool) {
    let v = &a.x_verdict;
    let all: Vec<&str> = Method::ALL.iter().map(|m| m.as_str()).collect();
    for m in &v.methods {
        assert!(all.contains(&m.as_str()), "{m} is not in SPEC's list");
    }
    let positions: Vec<usize> = v
        .methods
        .iter()
        .map(|m| all.iter().position(|x| x == m).unwrap())
        .collect();
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "methods in SPEC order, once each: {:?}",
        v.methods
    );
    assert_eq!(v.methods.is_empty(), v.status != Status::Blocked, "{v:?}");
    assert!(!v.reasons.is_empty(), "a verdict always has reasons");
    if !has_control {
        let self_evident = [
            "dns.bogon",
            "dns.injection",
            "dns.forged",
            "tls.mitm",
            "http.blockpage",
        ];
        for m in &v.methods {
            assert!(self_evident.contains(&m.as_str()), "{m} needs a control");
        }
        assert!(a.dns_consistency.is_none());
    }
    match &a.blocking {
        Value::Null | Value::Bool(false) => {}
        Value::String(s) => assert!(
            ["dns", "tcp_ip", "http-failure", "http-diff"].contains(&s.as_str()),
            "{s}"
        ),
        other => panic!("blocking {other}"),
    }
    if a.accessible == Some(true) {
        assert_eq!(a.blocking, Value::Bool(false));
    }
}

// Shorthands for the common site.
const HOST: &str = "www.example.com";
const HTTP: &str = "http://www.example.com/";
const HTTPS: &str = "https://www.example.com/";

fn real() -> Resp {
    page("Example Domain Homepage", 5000)
}

fn site_ctl() -> Ctl {
    ctl()
        .resolves(&[SITE])
        .connects("93.184.215.14:80")
        .connects("93.184.215.14:443")
        .tls_ok("93.184.215.14:443", HOST)
        .fetched(&real())
}

fn http_ok() -> Obs {
    obs()
        .resolve(HOST, 0, &[SITE])
        .connect("93.184.215.14:80", 0, None)
        .get(HTTP, "93.184.215.14:80", 0, &real())
}

fn https_ok() -> Obs {
    obs()
        .resolve(HOST, 0, &[SITE])
        .connect("93.184.215.14:443", 0, None)
        .handshake("93.184.215.14:443", HOST, 0, None)
        .get(HTTPS, "93.184.215.14:443", 0, &real())
}

fn captcha() -> Resp {
    plain(
        503,
        "Just a moment...",
        "<html><title>Just a moment...</title>checking your browser</html>",
    )
    .header("Server", "cloudflare")
    .header("Cf-Ray", "8a1b2c3d4e5f-AMS")
}

/// www.example.com redirects to www.example.org, which resolves to a CDN address.
fn redirected_to_org() -> Obs {
    obs()
        .resolve(HOST, 0, &[SITE])
        .connect("93.184.215.14:80", 0, None)
        .get(
            HTTP,
            "93.184.215.14:80",
            0,
            &redirect(302, "http://www.example.org/"),
        )
        .resolve("www.example.org", 1, &[CDN])
}

fn about_korea() -> Resp {
    plain(
        200,
        "Censorship in South Korea",
        "<html><title>Censorship in South Korea</title>Blocked sites redirect to http://warning.or.kr today.</html>",
    )
}
