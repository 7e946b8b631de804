//! Table tests over hand-made observations and control answers: one row per blocking method,
//! per trap (CDNs, down sites, failed controls, testbeds), and per family of OONI's
//! web_connectivity QA suite (OONI.md's golden outcomes), then property tests of the verdict's
//! invariants over random observations.

use serde_json::Value;

use super::*;
use crate::control::ControlHttp;
use crate::failure::Failure;
use build::*;

mod build;
mod censors;
mod classic_rows;
mod details;
mod fuzz;
mod methods;
mod no_control;
mod ooni_keys;
mod qa;
mod reasons;
mod review;
mod rules;
mod transfer;
mod traps;

const RESOLVER: &str = "8.8.8.8:53";
/// The site's real address, a CDN's, a transparent proxy's, another service's.
const SITE: &str = "93.184.215.14";
const SITE6: &str = "2606:2800:21f:cb07:6820:80da:af6b:8b2c";
const CDN: &str = "151.101.1.67";
const PROXY: &str = "45.33.1.10";
const OTHER: &str = "31.13.94.37";

/// One row: a measurement and what must come out of it.
struct Row {
    name: &'static str,
    url: &'static str,
    obs: Obs,
    control: Option<Ctl>,
    control_failure: Option<&'static str>,
    testbed: Vec<ipnet::IpNet>,
    probe_cc: Option<&'static str>,
    dns_consistency: Option<&'static str>,
    blocking: Value,
    accessible: Option<bool>,
    status: Status,
    methods: &'static [&'static str],
    /// Texts the reasons must contain, and texts they must not.
    said: Vec<&'static str>,
    unsaid: Vec<&'static str>,
}

fn row(name: &'static str, url: &'static str, obs: Obs, control: Option<Ctl>) -> Row {
    Row {
        name,
        url,
        obs,
        control,
        control_failure: None,
        testbed: vec![],
        probe_cc: None,
        dns_consistency: None,
        blocking: Value::Null,
        accessible: None,
        status: Status::Unknown,
        methods: &[],
        said: vec![],
        unsaid: vec![],
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
    /// The reasons must say `text`.
    fn says(mut self, text: &'static str) -> Row {
        self.said.push(text);
        self
    }
    /// The reasons must not say `text`.
    fn never_says(mut self, text: &'static str) -> Row {
        self.unsaid.push(text);
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
    fn cc(mut self, cc: &'static str) -> Row {
        self.probe_cc = Some(cc);
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
            probe_cc: self.probe_cc,
        };
        analyze(&Url::parse(self.url).unwrap(), &self.obs.0, &ctx)
    }
}

/// Runs every row, checks OONI's keys, the verdict and its reasons (against the row's own texts
/// and the file's pinned reasons, `reasons::Pinned`), and reports all mismatches at once.
#[track_caller]
fn check(rows: Vec<Row>) {
    let pinned = reasons::Pinned::of(std::panic::Location::caller().file());
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
        let text = a.x_verdict.reasons.join(" ");
        let missing: Vec<&str> = r
            .said
            .iter()
            .copied()
            .filter(|t| !text.contains(t))
            .collect();
        let extra: Vec<&str> = r
            .unsaid
            .iter()
            .copied()
            .filter(|t| text.contains(t))
            .collect();
        if !missing.is_empty() || !extra.is_empty() {
            wrong.push(format!(
                "{}:\n  reasons lack {missing:?}, or say {extra:?}:\n  {:#?}",
                r.name, a.x_verdict.reasons
            ));
        }
        if let Err(e) = pinned.check(r.name, &a.x_verdict.reasons) {
            wrong.push(e);
        }
        if got != want {
            wrong.push(format!(
                "{}:\n  want {want:?}\n  got  {got:?}\n  reasons {:#?}",
                r.name, a.x_verdict.reasons
            ));
        }
    }
    pinned.bless();
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
