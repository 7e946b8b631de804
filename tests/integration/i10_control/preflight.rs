//! `vantage run --control`: the control is checked once before the first target, and the end
//! summary counts the targets whose control failed, grouped by cause.

use std::time::Instant;

use serde_json::Value;

use crate::harness::fake_control::{json_response, mute_info, scripted};
use crate::harness::web::{page, serve};
use crate::harness::{
    binary, read_records, run_args, vantage, Ca, FakeDns, Helper, Outcome, Site, Tls, Workdir,
};
use crate::harness::{dead_port, loopback_zone};

const ZZ_NOTE: &str = "records will say ZZ/AS0";

/// One site on 127.0.0.1 and its resolver.
pub(super) struct World {
    _ca: Ca,
    pub(super) dns: FakeDns,
    /// `http://ok.test:PORT/`.
    pub(super) url: String,
}

pub(super) async fn world() -> World {
    let ca = Ca::new("Vantage Test CA");
    let site = Site::new("ok.test", Tls::Plain, page("OK", 500));
    let addr = serve(site.clone(), &ca, &ca).await;
    let dns = FakeDns::start(loopback_zone(&["ok.test"])).await;
    World {
        url: site.url(addr),
        dns,
        _ca: ca,
    }
}

impl World {
    /// Measures the site's `pages` with `extra`; the list starts with a bad line (reported
    /// when the list is read, so after anything said before the first target).
    pub(super) async fn run(&self, pages: &[&str], extra: &[&str]) -> Outcome {
        self.run_env(pages, extra, None).await
    }

    /// `run` with `VANTAGE_CONTROL_TOKEN=s3cret`.
    async fn run_with_token(&self, pages: &[&str], extra: &[&str]) -> Outcome {
        self.run_env(pages, extra, Some("s3cret")).await
    }

    async fn run_env(&self, pages: &[&str], extra: &[&str], token: Option<&str>) -> Outcome {
        let work = Workdir::new();
        let ca_file = work.write("ca.pem", &self._ca.pem);
        let lines: Vec<String> = pages.iter().map(|p| format!("{}{p}\n", self.url)).collect();
        let list = work.write("list.txt", &format!("not a url\n{}", lines.concat()));
        let mut args: Vec<&str> = vec!["--testbed-net", "127.0.0.0/8"];
        args.extend_from_slice(extra);
        let args = run_args(&work, &list, &self.dns, &ca_file, &args);
        let Some(token) = token else {
            return vantage(&args, &work.out()).await;
        };
        let output = tokio::process::Command::new(binary())
            .args(&args)
            .stdin(std::process::Stdio::null())
            .env("VANTAGE_LOG", "warn")
            .env("VANTAGE_CONTROL_TOKEN", token)
            .output()
            .await
            .unwrap();
        Outcome {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            records: read_records(&work.out()),
        }
    }
}

/// `line` is on stderr once, before the list's bad line is reported.
fn said_before_the_first_target(out: &Outcome, line: &str) {
    let at = out
        .stderr
        .find(line)
        .unwrap_or_else(|| panic!("no {line:?} on stderr:\n{}", out.stderr));
    let bad = out.stderr.find("list.txt:1:").expect("the bad line");
    assert!(at < bad, "said after the list was read:\n{}", out.stderr);
    assert_eq!(out.stderr.matches(line).count(), 1, "{}", out.stderr);
}

pub(super) fn statuses(out: &Outcome) -> Vec<&str> {
    out.records
        .iter()
        .map(|r| r["test_keys"]["x_verdict"]["status"].as_str().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_control_is_named_before_the_first_target_and_counted_at_the_end() {
    let control = format!("http://{}/", dead_port());
    let started = Instant::now();
    let out = world()
        .await
        .run(&["a", "b"], &["--control", &control])
        .await;
    let took = started.elapsed().as_secs_f64();
    assert_eq!(
        out.code, 0,
        "a failed preflight measures anyway: {}",
        out.stderr
    );
    said_before_the_first_target(
        &out,
        &format!(
            "vantage: control {control} unreachable (connection_refused): measuring anyway; \
             verdicts that need the control will be unknown"
        ),
    );
    assert_eq!(statuses(&out), ["unknown", "unknown"]);
    for r in &out.records {
        assert_eq!(r["test_keys"]["control_failure"], "connection_refused");
    }
    assert!(
        out.stdout
            .lines()
            .any(|l| l == "vantage: control failed for 2/2 targets (connection_refused)"),
        "{}",
        out.stdout
    );
    // No --probe-cc/--probe-asn: said once, before the first target.
    said_before_the_first_target(&out, ZZ_NOTE);
    eprintln!("dead control, 2 targets: {took:.1} s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_token_is_named_and_a_set_country_is_not_nagged() {
    let w = world().await;
    let resolver = w.dns.addr.to_string();
    let helper = Helper::start(&[
        "--resolver",
        &resolver,
        "--token",
        "s3cret",
        "--allow-private",
    ])
    .await;
    let control = helper.url();
    let out = w
        .run(
            &["a", "b"],
            &[
                "--control",
                &control,
                "--probe-cc",
                "DE",
                "--probe-asn",
                "AS3320",
            ],
        )
        .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    said_before_the_first_target(
        &out,
        &format!(
            "vantage: control {control} answered 401: token refused (set \
             VANTAGE_CONTROL_TOKEN or the config's control_token?): measuring anyway; \
             verdicts that need the control will be unknown"
        ),
    );
    assert_eq!(statuses(&out), ["unknown", "unknown"]);
    assert!(
        out.stdout
            .lines()
            .any(|l| l == "vantage: control failed for 2/2 targets (HTTP 401: token refused)"),
        "{}",
        out.stdout
    );
    assert!(!out.stderr.contains(ZZ_NOTE), "{}", out.stderr);

    // With the token: nothing to say, nothing failed.
    let out = w
        .run_with_token(
            &["a", "b"],
            &[
                "--control",
                &control,
                "--probe-cc",
                "DE",
                "--probe-asn",
                "AS3320",
            ],
        )
        .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(!out.stderr.contains("vantage: control"), "{}", out.stderr);
    assert!(!out.stdout.contains("control failed"), "{}", out.stdout);
    assert_eq!(statuses(&out), ["accessible", "accessible"]);
}

/// A control that states another protocol at `/info`, and answers each POST by what its URL
/// says: 403 for `refuse`, 500 for `broken`.
async fn scripted_control(protocol: u32) -> String {
    let addr = scripted(move |head, body| {
        if head.starts_with("get /info") {
            let info = format!("{{\"software\":\"vantage\",\"protocol\":{protocol}}}");
            return json_response(200, info.as_bytes());
        }
        let request: Value = serde_json::from_slice(body).unwrap_or_default();
        let url = request["http_request"].as_str().unwrap_or_default();
        if url.contains("refuse") {
            json_response(403, b"{\"error\":\"no\"}")
        } else {
            json_response(500, b"{}")
        }
    })
    .await;
    format!("http://{addr}/")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_protocol_is_named_and_failures_are_grouped_by_cause() {
    let control = scripted_control(99).await;
    let out = world()
        .await
        .run(&["refuse1", "refuse2", "broken"], &["--control", &control])
        .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    said_before_the_first_target(
        &out,
        &format!(
            "vantage: control {control} speaks protocol 99, this probe 1: its answers may be \
             misread"
        ),
    );
    assert!(
        out.stdout
            .lines()
            .any(|l| l == "vantage: control failed for 3/3 targets (2 HTTP 403, 1 HTTP 500)"),
        "{}",
        out.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_control_is_waited_for_once_and_briefly() {
    let addr = mute_info(json_response(500, b"{}")).await;
    let control = format!("http://{addr}/");
    let started = Instant::now();
    let out = world().await.run(&["a"], &["--control", &control]).await;
    let took = started.elapsed().as_secs_f64();
    assert_eq!(out.code, 0, "{}", out.stderr);
    said_before_the_first_target(
        &out,
        &format!(
            "vantage: control {control} did not answer /info within 5 s: measuring anyway; \
             verdicts will be unknown while it stays silent"
        ),
    );
    // One bounded check (5 s), not the 10 s wait there was.
    assert!(took < 9.0, "took {took:.1} s");
    eprintln!("silent /info, 1 target: {took:.1} s");
}
