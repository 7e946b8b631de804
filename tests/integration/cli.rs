//! Quick work from the command line, the way zdns and miniooni users work: URLs as arguments,
//! a list on stdin, records on stdout for `jq`, `vantage show` of one measurement, Ctrl-C, a
//! bare `--testbed-net` address, config files' relative paths, completions, the man page, and
//! an installed binary that needs no files beside it. Every address is loopback.

use std::collections::HashMap;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};

use crate::harness::web::{page, serve};
use crate::harness::{
    binary, read_records, Answer, Ca, FakeDns, Helper, Outcome, Reply, Site, Tls, Workdir,
};

/// A fake internet of `sites` (each named in the DNS as 127.0.0.1); their URLs in order.
async fn world(ca: &Ca, sites: Vec<Site>) -> (FakeDns, Vec<String>) {
    let mut zone = HashMap::new();
    let mut urls = Vec::new();
    for site in sites {
        let addr = serve(site.clone(), ca, ca).await;
        zone.insert(
            site.name.clone(),
            Answer::Addrs(vec!["127.0.0.1".parse().unwrap()]),
        );
        urls.push(site.url(addr));
    }
    (FakeDns::start(zone).await, urls)
}

/// `run` with the fake resolver and CA, no list, no results dir: the test adds them.
fn run_flags(work: &Workdir, dns: &FakeDns, ca: &Ca) -> Vec<String> {
    let ca_file = work.write("ca.pem", &ca.pem);
    [
        "run",
        "--resolver",
        &dns.addr.to_string(),
        "--ca-file",
        &ca_file.display().to_string(),
        "--rate",
        "0",
        "--timeout",
        "2s",
    ]
    .map(String::from)
    .to_vec()
}

/// Runs `vantage ARGS` in `cwd` with `stdin` as its input; the records are read from `out`.
async fn vantage_in(cwd: &Path, args: Vec<String>, stdin: &[u8], out: &Path) -> Outcome {
    let mut child = tokio::process::Command::new(binary())
        .args(&args)
        .current_dir(cwd)
        .env("VANTAGE_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin).await.unwrap();
    drop(input);
    let output = child.wait_with_output().await.unwrap();
    crate::harness::keep_records(out);
    Outcome {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        records: read_records(out),
    }
}

/// `--targets FILE` for a list of `urls` written in `work` (tests of other features use a
/// list file, so they ask only for what they test).
fn list_flag(work: &Workdir, urls: impl IntoIterator<Item = String>) -> Vec<String> {
    let text: String = urls.into_iter().map(|u| u + "\n").collect();
    let list = work.write("list.txt", &text);
    strings(&["--targets", &list.display().to_string()])
}

fn inputs(records: &[Value]) -> Vec<String> {
    let mut v: Vec<String> = records
        .iter()
        .map(|r| r["input"].as_str().unwrap().to_string())
        .collect();
    v.sort();
    v
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn urls_given_as_arguments_are_measured_and_no_default_list() {
    let ca = Ca::new("Vantage Test CA");
    let (dns, urls) = world(&ca, vec![Site::new("ok.test", Tls::Plain, page("OK", 100))]).await;
    let work = Workdir::new();
    let mut args = run_flags(&work, &dns, &ca);
    args.extend(strings(&[
        "--out",
        &work.out().display().to_string(),
        &urls[0],
    ]));
    // A bare domain is https://DOMAIN/ (nothing listens on 127.0.0.1:443: refused), and a
    // bad argument is named by its position like a bad list line.
    args.extend(strings(&["ok.test", "ftp://ok.test/"]));
    let out = vantage_in(work.dir.path(), args.clone(), b"", &work.out()).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let mut want = vec![urls[0].clone(), "https://ok.test/".into()];
    want.sort();
    assert_eq!(
        inputs(&out.records),
        want,
        "only the arguments: {}",
        out.stderr
    );
    assert!(
        out.stderr.contains("command line:3: unsupported scheme"),
        "{}",
        out.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_list_on_stdin_is_read_with_the_other_lists_and_records_go_to_stdout() {
    let ca = Ca::new("Vantage Test CA");
    let sites = vec![
        Site::new("a.test", Tls::Plain, page("A", 100)),
        Site::new("b.test", Tls::Plain, page("B", 100)),
        Site::new("c.test", Tls::Plain, page("C", 70_000)),
    ];
    let (dns, urls) = world(&ca, sites).await;
    let work = Workdir::new();
    let list = work.write("list.txt", &format!("{}\n", urls[0]));
    let mut args = run_flags(&work, &dns, &ca);
    let list = list.display().to_string();
    args.extend(strings(&[
        "--targets",
        &list,
        "--targets",
        "-",
        "--out",
        "-",
    ]));
    let stdin = format!("{}\nnot a url\n{}\n{}\n", urls[1], urls[0], urls[2]);
    let out = vantage_in(work.dir.path(), args.clone(), stdin.as_bytes(), &work.out()).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    // stdout holds the records, one whole JSON object per line, nothing else.
    let records: Vec<Value> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:.200}")))
        .collect();
    let mut want = urls.clone();
    want.sort();
    assert_eq!(
        inputs(&records),
        want,
        "the stdin list's duplicate is dropped"
    );
    assert!(records
        .iter()
        .all(|r| r["test_keys"]["requests"][0]["response"]["code"] == 200));
    // Bad lines, the summary: stderr. No directory named `-`, no results dir.
    assert!(out.stderr.contains("stdin:2: "), "{}", out.stderr);
    assert!(out.stderr.contains("3 measured"), "{}", out.stderr);
    assert!(out.stderr.contains("-> stdout"), "{}", out.stderr);
    assert!(!work.path("-").exists(), "a directory named -");
    assert!(
        !out.stderr.contains("in flight"),
        "no progress off a terminal"
    );
    assert!(!work.out().exists());
    // stdin holds one list: naming it twice is a usage error, not an empty second list.
    let mut twice = run_flags(&work, &dns, &ca);
    twice.extend(strings(&["--targets", "-", "--targets", "-", "--out", "-"]));
    let out = vantage_in(work.dir.path(), twice, stdin.as_bytes(), &work.out()).await;
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("stdin can be read only once"),
        "{}",
        out.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_stdout_ends_the_run_cleanly() {
    let ca = Ca::new("Vantage Test CA");
    let slow = Reply::Slow {
        size: 1000,
        chunk: 100,
        every: Duration::from_millis(100),
    };
    let (dns, urls) = world(&ca, vec![Site::new("slow.test", Tls::Plain, slow)]).await;
    let work = Workdir::new();
    let mut args = run_flags(&work, &dns, &ca);
    args.extend(strings(&["--out", "-", "--parallel", "2"]));
    args.extend(list_flag(
        &work,
        (0..40).map(|i| format!("{}?n={i}", urls[0])),
    ));
    let mut child = tokio::process::Command::new(binary())
        .args(&args)
        .current_dir(work.dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next_line().await.unwrap().expect("a first record");
    let _: Value = serde_json::from_str(&first).unwrap();
    drop(lines); // `| head -1`
    let closed = Instant::now();
    let output = tokio::time::timeout(Duration::from_secs(20), child.wait_with_output())
        .await
        .expect("the run ends once stdout is closed")
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("stdout was closed"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    // 40 targets 2 at a time take 20 s; a closed pipe stops it at once.
    assert!(
        closed.elapsed() < Duration::from_secs(5),
        "{:?}",
        closed.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn show_prints_one_measurement_step_by_step() {
    let ca = Ca::new("Vantage Test CA");
    let sites = vec![
        Site::new("secure.test", Tls::Valid, page("Secure page", 3000)),
        Site::new("plain.test", Tls::Plain, page("Plain", 100)),
    ];
    let (dns, urls) = world(&ca, sites).await;
    let work = Workdir::new();
    let mut args = run_flags(&work, &dns, &ca);
    let ca_file = work.path("ca.pem").display().to_string();
    let resolver = dns.addr.to_string();
    let helper = Helper::start(&[
        "--resolver",
        &resolver,
        "--ca-file",
        &ca_file,
        "--allow-private",
    ])
    .await;
    args.extend(strings(&["--control", &helper.url()]));
    args.extend(strings(&["--out", &work.out().display().to_string()]));
    args.extend(list_flag(&work, urls.clone()));
    let out = vantage_in(work.dir.path(), args.clone(), b"", &work.out()).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let results = work.out().display().to_string();
    let show = |extra: &[&str]| {
        let mut a = strings(&["show", &results]);
        a.extend(strings(extra));
        let none = work.path("none");
        async move { vantage_in(Path::new("/"), a, b"", &none).await }
    };
    // The listing: start time, uid, status, input of each.
    let listing = show(&[]).await;
    assert_eq!(listing.code, 0, "{}", listing.stderr);
    for r in &out.records {
        let uid = r["measurement_uid"].as_str().unwrap();
        let started = r["measurement_start_time"].as_str().unwrap();
        let line = (listing.stdout.lines()).find(|l| l.starts_with(&format!("{started}  {uid}")));
        let line = line.unwrap_or_else(|| panic!("{uid} not in\n{}", listing.stdout));
        assert!(line.ends_with(r["input"].as_str().unwrap()), "{line}");
    }
    // One measurement by its URL: every step, the certificate, the verdict.
    let secure = out.record(&urls[0]);
    let shown = show(&[&urls[0]]).await;
    assert_eq!(shown.code, 0, "{}", shown.stderr);
    let text = &shown.stdout;
    let uid = secure["measurement_uid"].as_str().unwrap();
    assert!(text.starts_with(&format!("measurement  {uid}\n")), "{text}");
    let port = urls[0].rsplit(':').next().unwrap().trim_end_matches('/');
    let dns_line = format!("{}  udp     A     secure.test  127.0.0.1", dns.addr);
    for want in [
        dns_line.as_str(),
        &format!("127.0.0.1:{port}  connected"),
        "secure.test  TLSv1.3",
        "names    secure.test",
        "certificate valid for the name",
        "200     \"Secure page\"",
        // What the control saw, and OONI's keys.
        "\nControl\n  DNS      127.0.0.1\n",
        &format!("  connect  127.0.0.1:{port}  connected"),
        "SNI secure.test     ok, certificate valid for the name",
        "\nOONI: blocking=false, accessible=true, dns_consistency=consistent\nverdict: ",
        "verdict: ",
    ] {
        assert!(text.contains(want), "{want:?} not in\n{text}");
    }
    let control_http = text.lines().find(|l| l.starts_with("  HTTP     200  "));
    let control_http = control_http.unwrap_or_else(|| panic!("no control HTTP in\n{text}"));
    assert!(
        control_http.contains("\"Secure page\"") && control_http.ends_with("  3000 bytes"),
        "{control_http}"
    );
    let verdict = secure["test_keys"]["x_verdict"]["status"].as_str().unwrap();
    assert!(text.contains(&format!("verdict: {verdict}")), "{text}");
    // By uid, in the one file; a bad line is named by file and line, never a panic.
    let file = crate::harness::jsonl_files(&work.out()).remove(0);
    let mut bytes = std::fs::read(&file).unwrap();
    bytes.extend_from_slice(b"{\"measurement_uid\": 7, \"torn\n");
    std::fs::write(&file, bytes).unwrap();
    let file_arg = file.display().to_string();
    let by_uid = vantage_in(
        Path::new("/"),
        strings(&["show", &file_arg, uid]),
        b"",
        &work.path("none"),
    )
    .await;
    assert_eq!(by_uid.code, 0, "{}", by_uid.stderr);
    assert_eq!(by_uid.stdout, shown.stdout);
    assert!(
        by_uid.stderr.contains(&format!("{file_arg}:3: skipped")),
        "{}",
        by_uid.stderr
    );
    let missing = show(&["https://nowhere.test/"]).await;
    assert_eq!(missing.code, 1);
    assert!(missing
        .stderr
        .contains("no measurement of https://nowhere.test/"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn show_of_a_file_of_no_records_says_so_and_reads_stdin() {
    let work = Workdir::new();
    // A file like /etc/passwd: twelve lines, none a record.
    let passwd: String = (0..12)
        .map(|i| format!("user{i}:x:{i}:{i}::/home/user{i}:/bin/sh\n"))
        .collect();
    let file = work.write("passwd", &passwd);
    let name = file.display().to_string();
    let none = work.path("none");
    let out = vantage_in(Path::new("/"), strings(&["show", &name]), b"", &none).await;
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert_eq!(out.stdout, "");
    let stderr: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(stderr.len(), 7, "{}", out.stderr);
    for (i, line) in stderr[..5].iter().enumerate() {
        assert!(
            line.starts_with(&format!("{name}:{}: skipped", i + 1)),
            "{line}"
        );
    }
    assert_eq!(stderr[5], "… 7 more lines skipped");
    assert_eq!(
        stderr[6],
        format!("vantage: {name}: no measurement records")
    );
    // `-` is stdin: listed, and shown by uid.
    let record = serde_json::json!({
        "measurement_uid": "20261201_stdin", "input": "http://127.0.0.1:9/",
        "measurement_start_time": "2026-12-01 10:00:00",
        "test_keys": {"x_verdict": {"status": "accessible", "reasons": []}},
    });
    let stdin = format!("{record}\n");
    let listed = vantage_in(
        Path::new("/"),
        strings(&["show", "-"]),
        stdin.as_bytes(),
        &none,
    )
    .await;
    assert_eq!(listed.code, 0, "{}", listed.stderr);
    assert!(
        listed
            .stdout
            .contains("2026-12-01 10:00:00  20261201_stdin   accessible  http://127.0.0.1:9/"),
        "{}",
        listed.stdout
    );
    let args = strings(&["show", "-", "20261201_stdin"]);
    let shown = vantage_in(Path::new("/"), args, stdin.as_bytes(), &none).await;
    assert_eq!(shown.code, 0, "{}", shown.stderr);
    assert!(
        shown.stdout.starts_with("measurement  20261201_stdin\n"),
        "{}",
        shown.stdout
    );
    assert!(
        shown.stdout.contains("verdict: accessible"),
        "{}",
        shown.stdout
    );
    let empty = vantage_in(Path::new("/"), strings(&["show", "-"]), b"", &none).await;
    assert_eq!(empty.code, 1);
    assert!(
        empty.stderr.contains("-: no measurement records"),
        "{}",
        empty.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_prints_the_partial_summary_and_exits_130() {
    let ca = Ca::new("Vantage Test CA");
    let sites = vec![
        Site::new("fast.test", Tls::Plain, page("Fast", 100)),
        Site::new("stall.test", Tls::Plain, Reply::Stall),
    ];
    let (dns, urls) = world(&ca, sites).await;
    let work = Workdir::new();
    let mut args = run_flags(&work, &dns, &ca);
    args.retain(|a| a != "2s");
    args.extend(strings(&[
        "30s",
        "--out",
        &work.out().display().to_string(),
        "--testbed-net",
        "127.0.0.1/32",
    ]));
    let stalled = (0..5).map(|i| format!("{}?n={i}", urls[1]));
    args.extend(list_flag(
        &work,
        std::iter::once(urls[0].clone()).chain(stalled),
    ));
    let child = tokio::process::Command::new(binary())
        .args(&args)
        .current_dir(work.dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for the fast target's record: the stalled ones are in flight.
    let began = Instant::now();
    while read_records(&work.out()).is_empty() {
        assert!(began.elapsed() < Duration::from_secs(20), "no first record");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let pid = rustix::process::Pid::from_raw(child.id().unwrap() as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::INT).unwrap();
    let sent = Instant::now();
    let output = tokio::time::timeout(Duration::from_secs(15), child.wait_with_output())
        .await
        .expect("the run ends after Ctrl-C")
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(130), "{stderr}");
    assert!(
        sent.elapsed() < Duration::from_secs(8),
        "{:?}",
        sent.elapsed()
    );
    // The summary goes where a finished run's goes (stdout, records being in a file); the
    // exit message on stderr.
    assert!(stdout.contains("1 measured in"), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("interrupted before every target"),
        "{stdout}"
    );
    assert!(stdout.contains("unknown: 1"), "{stdout}");
    assert!(stderr.contains("vantage: interrupted"), "{stderr}");
    // Every line of the file is whole JSON (read_records panics otherwise).
    let records = read_records(&work.out());
    assert_eq!(inputs(&records), [urls[0].clone()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bare_testbed_address_is_one_host_on_the_command_line_and_in_a_file() {
    let ca = Ca::new("Vantage Test CA");
    let (dns, urls) = world(&ca, vec![Site::new("ok.test", Tls::Plain, page("OK", 100))]).await;
    let work = Workdir::new();
    let mut args = run_flags(&work, &dns, &ca);
    args.extend(strings(&["--out", &work.out().display().to_string()]));
    let mut flag = args.clone();
    flag.extend(list_flag(&work, [urls[0].clone()]));
    flag.extend(strings(&["--testbed-net", "127.0.0.1"]));
    let out = vantage_in(work.dir.path(), flag.clone(), b"", &work.out()).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let r = out.record(&urls[0]);
    assert_eq!(r["annotations"]["testbed_nets"], "127.0.0.1/32");
    // 127.0.0.1 is routable here: the site is not called blocked by a bogon answer (without
    // a control, a cleartext page is unknown).
    assert_eq!(r["test_keys"]["x_verdict"]["status"], "unknown", "{r}");
    let config = work.write("v.toml", "[run]\ntestbed_nets = [\"127.0.0.1\", \"::1\"]\n");
    let mut file = args.clone();
    file.extend(strings(&[
        "--config",
        &config.display().to_string(),
        "--targets",
        &work.path("list.txt").display().to_string(),
    ]));
    let out = vantage_in(work.dir.path(), file.clone(), b"", &work.out()).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let nets: Vec<&Value> = out
        .records
        .iter()
        .map(|r| &r["annotations"]["testbed_nets"])
        .collect();
    assert_eq!(nets.len(), 2, "one record per run");
    assert!(
        nets.contains(&&Value::from("127.0.0.1/32,::1/128")),
        "{nets:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_config_files_relative_paths_are_relative_to_the_file() {
    let ca = Ca::new("Vantage Test CA");
    let (dns, urls) = world(&ca, vec![Site::new("ok.test", Tls::Plain, page("OK", 100))]).await;
    let work = Workdir::new();
    std::fs::create_dir(work.path("conf")).unwrap();
    work.write("conf/list.txt", &format!("{}\n", urls[0]));
    work.write("conf/ca.pem", &ca.pem);
    let config = work.write(
        "conf/vantage.toml",
        &format!(
            "[run]\ntargets = [\"list.txt\"]\nout = \"results\"\nca_file = \"ca.pem\"\nresolver = \"{}\"\nrate = 0\n",
            dns.addr
        ),
    );
    let elsewhere = tempfile::tempdir().unwrap();
    let args = strings(&["run", "--config", &config.display().to_string()]);
    let out = vantage_in(
        elsewhere.path(),
        args.clone(),
        b"",
        &work.path("conf/results"),
    )
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(inputs(&out.records), [urls[0].clone()]);
    assert!(std::fs::read_dir(elsewhere.path())
        .unwrap()
        .next()
        .is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_installed_binary_lists_its_built_in_targets_from_any_directory() {
    let elsewhere = tempfile::tempdir().unwrap();
    let none = elsewhere.path().join("no-results");
    let list = |args: &[&str]| vantage_in(elsewhere.path(), strings(args), b"", &none);
    // No network: listing needs no resolver and measures nothing.
    let built_in = list(&["run", "--list-targets"]).await;
    assert_eq!(built_in.code, 0, "{}", built_in.stderr);
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("targets/default.csv");
    let from_file = list(&[
        "run",
        "--list-targets",
        "--targets",
        source.to_str().unwrap(),
    ])
    .await;
    assert_eq!(from_file.code, 0, "{}", from_file.stderr);
    assert_eq!(built_in.stdout, from_file.stdout);
    let rows = std::fs::read_to_string(&source).unwrap().lines().count() - 1;
    assert_eq!(built_in.stdout.lines().count(), rows, "{}", built_in.stdout);
    assert!(built_in.stderr.is_empty(), "{}", built_in.stderr);
    assert!(std::fs::read_dir(elsewhere.path())
        .unwrap()
        .next()
        .is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completions_man_page_and_version_come_from_the_flags() {
    let here = tempfile::tempdir().unwrap();
    let none = here.path().join("none");
    let run = |args: &[&str]| vantage_in(here.path(), strings(args), b"", &none);
    for (shell, marker) in [
        ("bash", "_vantage()"),
        ("zsh", "#compdef vantage"),
        ("fish", "complete -c vantage"),
    ] {
        let out = run(&["completions", shell]).await;
        assert_eq!(out.code, 0, "{}", out.stderr);
        assert!(out.stdout.contains(marker), "{shell}: {:.300}", out.stdout);
        assert!(out.stdout.contains("list-targets"), "{shell}");
        // `vantage man <TAB>` offers the pages there are.
        assert!(
            out.stdout.contains("daemon") && out.stdout.contains("completions"),
            "{shell}"
        );
    }
    let bash = run(&["completions", "bash"]).await;
    assert!(
        bash.stdout
            .contains("opts=\"-h --help run helper daemon status report ship show completions\""),
        "the man page names are completed"
    );
    let man = run(&["man"]).await;
    assert_eq!(man.code, 0, "{}", man.stderr);
    assert!(
        man.stdout.starts_with(".ie \\n(.g .ds Aq") || man.stdout.contains(".TH vantage"),
        "{:.300}",
        man.stdout
    );
    assert!(man.stdout.contains("show"), "subcommands listed");
    let run_page = run(&["man", "run"]).await;
    assert_eq!(run_page.code, 0, "{}", run_page.stderr);
    assert!(
        run_page.stdout.contains(".TH vantage-run 1"),
        "{:.300}",
        run_page.stdout
    );
    assert!(
        run_page.stdout.contains("list\\-targets"),
        "{:.3000}",
        run_page.stdout
    );
    assert_eq!(run(&["man", "nope"]).await.code, 2);
    let version = run(&["--version"]).await;
    assert_eq!(
        version.stdout.trim(),
        format!(
            "vantage {} (record schema_version {})",
            env!("CARGO_PKG_VERSION"),
            vantage::record::SCHEMA_VERSION
        )
    );
}

/// Quotes `s` for `sh -c`.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_on_a_terminal_shows_done_of_total_in_flight_blocked_and_eta() {
    let ca = Ca::new("Vantage Test CA");
    let slow = Reply::Slow {
        size: 1000,
        chunk: 100,
        every: Duration::from_millis(100),
    };
    let (dns, urls) = world(&ca, vec![Site::new("slow.test", Tls::Plain, slow)]).await;
    let work = Workdir::new();
    let mut args = run_flags(&work, &dns, &ca);
    let out = work.out().display().to_string();
    args.extend(strings(&["--out", &out, "--parallel", "2"]));
    args.extend(list_flag(
        &work,
        (0..4).map(|i| format!("{}?n={i}", urls[0])),
    ));
    // `script` gives the binary a terminal; what it drew comes back on script's stdout.
    let command: Vec<String> = std::iter::once(binary().to_string())
        .chain(args.iter().cloned())
        .map(|a| sh_quote(&a))
        .collect();
    let output = tokio::process::Command::new("script")
        .args(["-qec", &command.join(" "), "/dev/null"])
        .env("VANTAGE_LOG", "warn")
        .stdin(Stdio::null())
        .output()
        .await
        .expect("script(1) runs");
    let drawn = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{drawn}");
    // 4 slow targets, 2 at a time: about 2 s, redrawn every 200 ms from the start.
    for want in [
        "0/4 done · 2 in flight · 0 blocked",
        "2/4 done",
        " elapsed · ETA ",
    ] {
        assert!(drawn.contains(want), "{want:?} not in {drawn:?}");
    }
    assert_eq!(read_records(&work.out()).len(), 4);
}

/// Spawns `vantage ARGS` in `work` (stdin closed, stdout and stderr piped).
fn spawn_in(work: &Workdir, args: &[String]) -> tokio::process::Child {
    tokio::process::Command::new(binary())
        .args(args)
        .current_dir(work.dir.path())
        .env("VANTAGE_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Sends SIGINT (Ctrl-C) to `child`; waits at most 10 s for it to end: (status, stdout, stderr).
async fn interrupt(child: tokio::process::Child) -> (Option<i32>, String, String) {
    let pid = rustix::process::Pid::from_raw(child.id().unwrap() as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::INT).unwrap();
    let output = tokio::time::timeout(Duration::from_secs(10), child.wait_with_output())
        .await
        .expect("the run ends soon after Ctrl-C")
        .unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_during_the_control_check_prints_the_summary_and_exits_130() {
    // A control that never answers /info: the check waits up to 5 s before the first target.
    let control = crate::harness::fake_control::mute_info(Vec::new()).await;
    let work = Workdir::new();
    let args = strings(&[
        "run",
        "--resolver",
        "127.0.0.1:9",
        "--control",
        &format!("http://{control}/"),
        "--out",
        &work.out().display().to_string(),
        "https://a.test/",
    ]);
    let mut child = spawn_in(&work, &args);
    // The ZZ/AS0 note comes just before the check.
    let mut stderr = tokio::io::BufReader::new(child.stderr.take().unwrap());
    let mut first = String::new();
    stderr.read_line(&mut first).await.unwrap();
    assert!(first.contains("records will say ZZ/AS0"), "{first}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let sent = Instant::now();
    let (code, stdout, _) = interrupt(child).await;
    let mut rest = String::new();
    tokio::io::AsyncReadExt::read_to_string(&mut stderr, &mut rest)
        .await
        .unwrap();
    assert_eq!(code, Some(130), "{stdout}\n{rest}");
    assert!(
        sent.elapsed() < Duration::from_secs(3),
        "{:?}",
        sent.elapsed()
    );
    // The partial summary, on stdout as a finished run's is.
    assert!(
        stdout.contains("vantage: 0 measured in"),
        "{stdout}\n{rest}"
    );
    assert!(stdout.contains("interrupted"), "{stdout}");
    assert!(!stdout.contains("no working network"), "{stdout}");
    assert!(rest.contains("interrupted"), "{rest}");
    assert!(read_records(&work.out()).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_run_does_not_claim_there_is_no_network() {
    // DNS answers and the site accepts, then stalls: Ctrl-C abandons the measurement.
    let ca = Ca::new("Vantage Test CA");
    let sites = vec![Site::new("stall.test", Tls::Plain, Reply::Stall)];
    let (dns, urls) = world(&ca, sites).await;
    let work = Workdir::new();
    let mut args = run_flags(&work, &dns, &ca);
    args.retain(|a| a != "2s");
    args.extend(strings(&[
        "30s",
        "--probe-cc",
        "DE",
        "--probe-asn",
        "AS3320",
        "--out",
        &work.out().display().to_string(),
    ]));
    args.push(urls[0].clone());
    let child = spawn_in(&work, &args);
    // Long enough for the DNS answer and the connection, far short of the 30 s timeout.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (code, stdout, stderr) = interrupt(child).await;
    assert_eq!(code, Some(130), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("vantage: 0 measured in"),
        "{stdout}\n{stderr}"
    );
    assert!(stdout.contains("interrupted"), "{stdout}");
    assert!(!stdout.contains("no working network"), "{stdout}");
    assert!(!stderr.contains("no working network"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_argument_is_a_bad_line_and_counts_are_singular_or_plural() {
    let work = Workdir::new();
    let none = work.out();
    let run = |urls: &[&str]| {
        let mut args = strings(&["run", "--resolver", "127.0.0.1:9", "--out"]);
        args.push(none.display().to_string());
        args.extend(strings(urls));
        vantage_in(work.dir.path(), args, b"", &none)
    };
    let empty = run(&[""]).await;
    assert_eq!(empty.code, 1, "{}", empty.stderr);
    assert!(
        empty.stderr.contains("command line:1: empty"),
        "{}",
        empty.stderr
    );
    assert!(
        empty.stderr.contains("no targets to measure (1 bad line)"),
        "{}",
        empty.stderr
    );
    let two = run(&["ftp://a.test/", "", "gopher://b.test/"]).await;
    assert_eq!(two.code, 1, "{}", two.stderr);
    assert!(
        two.stderr.contains("command line:2: empty"),
        "{}",
        two.stderr
    );
    assert!(
        two.stderr.contains("no targets to measure (3 bad lines)"),
        "{}",
        two.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lower_case_country_is_upper_cased_in_flags_and_config() {
    let ca = Ca::new("Vantage Test CA");
    let (dns, urls) = world(&ca, vec![Site::new("ok.test", Tls::Plain, page("OK", 100))]).await;
    let work = Workdir::new();
    let mut args = run_flags(&work, &dns, &ca);
    args.extend(strings(&["--out", "-", "--probe-asn", "as4134"]));
    args.push(urls[0].clone());
    let cc_of = |out: &Outcome| -> Value {
        let r: Value = serde_json::from_str(out.stdout.lines().next().unwrap()).unwrap();
        assert_eq!(r["probe_asn"], "AS4134");
        r["probe_cc"].clone()
    };
    let mut flag = args.clone();
    flag.extend(strings(&["--probe-cc", "cn"]));
    let none = work.path("none");
    let out = vantage_in(work.dir.path(), flag, b"", &none).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(cc_of(&out), "CN");
    let config = work.write("v.toml", "[run]\nprobe_cc = \"de\"\n");
    let mut file = args.clone();
    file.extend(strings(&["--config", &config.display().to_string()]));
    let out = vantage_in(work.dir.path(), file, b"", &none).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(cc_of(&out), "DE");
    // Still two ASCII letters.
    for bad in ["c", "cnn", "c1", "çn"] {
        let mut wrong = args.clone();
        wrong.extend(strings(&["--probe-cc", bad]));
        let out = vantage_in(work.dir.path(), wrong, b"", &none).await;
        assert_eq!(out.code, 2, "{bad}: {}", out.stderr);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn man_pages_carry_the_version_environment_and_exit_status() {
    let here = tempfile::tempdir().unwrap();
    let none = here.path().join("none");
    let run = |args: &[&str]| vantage_in(here.path(), strings(args), b"", &none);
    let version = env!("CARGO_PKG_VERSION");
    for (args, th) in [
        (vec!["man"], format!(".TH vantage 1  \"vantage {version}")),
        (
            vec!["man", "run"],
            format!(".TH vantage-run 1  \"vantage-run {version}"),
        ),
        (
            vec!["man", "report"],
            format!(".TH vantage-report 1  \"vantage-report {version}"),
        ),
    ] {
        let page = run(&args).await;
        assert_eq!(page.code, 0, "{}", page.stderr);
        assert!(
            page.stdout.contains(&th),
            "{th:?} not in {:.400}",
            page.stdout
        );
        for want in [
            ".SH ENVIRONMENT",
            "VANTAGE_CONTROL_TOKEN",
            "VANTAGE_HELPER_TOKEN",
            "VANTAGE_CLICKHOUSE_PASSWORD",
            "VANTAGE_LOG",
            ".SH \"EXIT STATUS\"",
            "130",
        ] {
            assert!(page.stdout.contains(want), "{args:?}: no {want:?}");
        }
    }
    let help = run(&["run", "--help"]).await;
    let control = help
        .stdout
        .split("--control <URL>")
        .nth(1)
        .unwrap()
        .split("\n      --")
        .next()
        .unwrap()
        .to_string();
    assert!(control.contains("VANTAGE_CONTROL_TOKEN"), "{control}");
    assert!(control.contains("control_token"), "{control}");
}

/// `--list-targets` reads lists as `run` does: a BOM, a fragment and an over-long DNS label are
/// handled as the measurement would (the label is a bad line: no query could carry it), and a
/// list with nothing to measure ends as `run` would, exit 1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_targets_reads_lists_as_a_run_would() {
    let work = Workdir::new();
    let long = format!("http://{}.test/", "a".repeat(300));
    let text = format!("\u{feff}http://c.test/\nhttp://c.test/#again\n{long}\n");
    let args = strings(&["run", "--list-targets", "--targets", "-"]);
    let out = vantage_in(&work.path("."), args.clone(), text.as_bytes(), &work.out()).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout, "http://c.test/\t-\n", "{}", out.stderr);
    assert!(
        out.stderr.contains("stdin:3: host ") && out.stderr.contains("longer than 63 bytes"),
        "{}",
        out.stderr
    );

    let out = vantage_in(&work.path("."), args, b"intranet\n", &work.out()).await;
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("no targets to measure (1 bad line)"),
        "{}",
        out.stderr
    );
}
