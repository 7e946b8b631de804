//! A probe keeps its control requests within what the helper accepts, and a busy control (503)
//! is asked again, not taken for an answer: `vantage run --parallel 16` against a helper with
//! `--max-inflight 2` gets every control answer; a control that is busy three times and then
//! answers keeps the verdict (Retry-After honoured, and bounded); one that stays busy is a
//! control failure (`unknown`) saying so, after a bounded number of attempts.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::harness::raw_http::{RawHttp, Response};
use crate::harness::web::{page, serve};
use crate::harness::{
    client, loopback_zone, run_args, vantage, Ca, FakeDns, Helper, Reply, Site, Tls, Workdir,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_16_against_a_helper_taking_2_gets_every_control_answer() {
    let ca = Ca::new("Vantage Test CA");
    let work = Workdir::new();
    let ca_file = work.write("ca.pem", &ca.pem);
    // A page that takes about 300 ms to send, to the probe and to the helper alike: each
    // control request keeps the helper busy long enough for 16 at once to overrun 2.
    let slow = Reply::Slow {
        size: 3000,
        chunk: 1000,
        every: Duration::from_millis(100),
    };
    let addr = serve(Site::new("slow.test", Tls::Plain, slow), &ca, &ca).await;
    let dns = FakeDns::start(loopback_zone(&["slow.test"])).await;
    let resolver = dns.addr.to_string();
    let helper = Helper::start(&[
        "--resolver",
        &resolver,
        "--allow-private",
        "--max-inflight",
        "2",
    ])
    .await;
    let urls: Vec<String> = (0..30)
        .map(|i| format!("http://slow.test:{}/page{i}", addr.port()))
        .collect();
    let list = work.write("list.txt", &(urls.join("\n") + "\n"));
    let args = run_args(
        &work,
        &list,
        &dns,
        &ca_file,
        &[
            "--control",
            &helper.url(),
            "--testbed-net",
            "127.0.0.0/8",
            "--parallel",
            "16",
        ],
    );
    let started = Instant::now();
    let out = vantage(&args, &work.out()).await;
    eprintln!(
        "30 targets, --parallel 16, helper --max-inflight 2: {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.records.len(), 30);
    for url in &urls {
        let r = out.record(url);
        let tk = &r["test_keys"];
        assert_eq!(tk["control_failure"], Value::Null, "{url}");
        assert_eq!(tk["control"]["http_request"]["status_code"], 200, "{url}");
        assert_eq!(
            tk["x_verdict"]["status"], "accessible",
            "{url}: {}",
            tk["x_verdict"]
        );
    }
}

/// A control that answers each POST with `script(n)` (n counts POSTs from 0) and 404 to
/// anything else (no `/info`, as OONI's helper), logging when each POST came.
async fn scripted(
    script: impl Fn(usize) -> Response + Send + Sync + 'static,
) -> (RawHttp, Arc<Mutex<Vec<Instant>>>) {
    let posts = Arc::new(Mutex::new(Vec::new()));
    let log = posts.clone();
    let count = AtomicUsize::new(0);
    let control = RawHttp::start(move |r| {
        if r.method != "POST" {
            return Response {
                status: 404,
                headers: vec![],
                body: vec![],
                length: true,
            };
        }
        log.lock().unwrap().push(Instant::now());
        script(count.fetch_add(1, Ordering::SeqCst))
    })
    .await;
    (control, posts)
}

fn busy(retry_after: Option<&str>) -> Response {
    Response {
        status: 503,
        headers: retry_after
            .map(|v| vec![("Retry-After".to_string(), v.to_string())])
            .unwrap_or_default(),
        body: vec![],
        length: true,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_control_is_asked_again_and_one_that_stays_busy_is_a_control_failure() {
    let ca = Ca::new("Vantage Test CA");
    let ca_file_work = Workdir::new();
    let ca_file = ca_file_work.write("ca.pem", &ca.pem);
    let addr = serve(
        Site::new("ok.test", Tls::Plain, page("Fine", 2000)),
        &ca,
        &ca,
    )
    .await;
    let dns = FakeDns::start(loopback_zone(&["ok.test"])).await;
    let url = format!("http://ok.test:{}/", addr.port());
    // The answer a real helper gives for this URL, replayed by the scripted control.
    let resolver = dns.addr.to_string();
    let helper = Helper::start(&["--resolver", &resolver, "--allow-private"]).await;
    let request = json!({
        "http_request": url,
        "http_request_headers": {},
        "tcp_connect": [format!("127.0.0.1:{}", addr.port())],
    });
    let answer = client()
        .post(helper.url())
        .json(&request)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap()
        .to_vec();
    drop(helper);

    // Busy three times (Retry-After 1 s, then 3600 s, then none), then the answer.
    let (control, posts) = scripted(move |n| match n {
        0 => busy(Some("1")),
        1 => busy(Some("3600")),
        2 => busy(None),
        _ => Response::json(answer.clone()),
    })
    .await;
    let work = Workdir::new();
    let list = work.write("list.txt", &format!("{url}\n"));
    let args = run_args(
        &work,
        &list,
        &dns,
        &ca_file,
        &["--control", &control.url(), "--testbed-net", "127.0.0.0/8"],
    );
    let out = vantage(&args, &work.out()).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let tk = &out.record(&url)["test_keys"];
    assert_eq!(tk["control_failure"], Value::Null, "{tk:#}");
    assert_eq!(tk["control"]["http_request"]["title"], "Fine");
    assert_eq!(
        tk["x_verdict"]["status"], "accessible",
        "{}",
        tk["x_verdict"]
    );
    let times = posts.lock().unwrap().clone();
    assert_eq!(times.len(), 4, "three busy answers, then the one kept");
    let gaps: Vec<Duration> = times.windows(2).map(|w| w[1] - w[0]).collect();
    eprintln!("gaps between attempts: {gaps:?}");
    assert!(
        gaps[0] >= Duration::from_secs(1),
        "Retry-After: 1 honoured: {gaps:?}"
    );
    let bound = vantage::control::MAX_RETRY_AFTER;
    assert!(
        gaps[1] >= bound && gaps[1] < bound + Duration::from_secs(2),
        "Retry-After: 3600 bounded: {gaps:?}"
    );

    // Always busy: a bounded number of attempts, then a control failure, never a verdict.
    let (control, posts) = scripted(|_| busy(None)).await;
    let work = Workdir::new();
    let list = work.write("list.txt", &format!("{url}\n"));
    let args = run_args(
        &work,
        &list,
        &dns,
        &ca_file,
        &["--control", &control.url(), "--testbed-net", "127.0.0.0/8"],
    );
    let started = Instant::now();
    let out = vantage(&args, &work.out()).await;
    let took = started.elapsed();
    assert_eq!(out.code, 0, "{}", out.stderr);
    let tk = &out.record(&url)["test_keys"];
    let failure = tk["control_failure"].as_str().unwrap_or_default();
    let attempts = vantage::control::MAX_ATTEMPTS;
    assert!(
        failure.starts_with(&format!(
            "http_request_failed: control answered 503 to {attempts} attempts"
        )),
        "{failure}"
    );
    assert_eq!(tk["control"], Value::Null);
    assert_eq!(tk["x_verdict"]["status"], "unknown", "{}", tk["x_verdict"]);
    assert_eq!(posts.lock().unwrap().len(), attempts);
    assert!(took < Duration::from_secs(20), "bounded: {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_control_without_info_gets_the_default_limit_at_once() {
    use crate::harness::fake_control::{holding, json_response};
    let ca = Ca::new("Vantage Test CA");
    let work = Workdir::new();
    let ca_file = work.write("ca.pem", &ca.pem);
    let addr = serve(
        Site::new("ok.test", Tls::Plain, page("Fine", 500)),
        &ca,
        &ca,
    )
    .await;
    let dns = FakeDns::start(loopback_zone(&["ok.test"])).await;
    // No /info (OONI's helper has none): the probe keeps to vantage helper's default.
    let (control, load) = holding(
        json_response(200, crate::harness::fake_control::EMPTY_ANSWER),
        Duration::from_millis(400),
    )
    .await;
    let urls: Vec<String> = (0..40)
        .map(|i| format!("http://ok.test:{}/p{i}", addr.port()))
        .collect();
    let list = work.write("list.txt", &(urls.join("\n") + "\n"));
    let control_url = format!("http://{control}/");
    let args = run_args(
        &work,
        &list,
        &dns,
        &ca_file,
        &["--control", &control_url, "--parallel", "40"],
    );
    let out = vantage(&args, &work.out()).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    for url in &urls {
        assert_eq!(
            out.record(url)["test_keys"]["control_failure"],
            Value::Null,
            "{url}"
        );
    }
    let load = load.lock().unwrap();
    assert_eq!(load.posts, 40);
    assert_eq!(
        load.most_in_flight,
        vantage::control::DEFAULT_MAX_INFLIGHT,
        "at most the default in flight, and that many: {load:?}"
    );
}
