//! A national firewall in network namespaces, built from real software (tests/netns/firewall.sh:
//! the kernel's routing, nftables, iptables string matches, tc, unbound, nginx and an NFQUEUE
//! injector). The real `vantage helper` runs in an uncensored control host, the real `vantage
//! run` in the censored vantage host, and every scenario's `x_verdict` must match what the
//! censor did. Traps (a site down from everywhere, a CDN that answers differently inside) must
//! never come out blocked. Afterwards nothing of ours may remain: no namespace, no process.
//!
//! Needs root, iproute2, nftables, iptables, unbound, nginx, openssl and a python with
//! netfilterqueue (`VANTAGE_NETNS_PYTHON`, else target/netns-venv/bin/python); `.ci/run` installs
//! them. Without them the test says so loudly and is skipped, unless `CI` is set: then it fails.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::{binary, keep_records, read_records};

const NETNS_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/netns");
const FINGERPRINTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fingerprints/default.toml");
/// Every namespace of ours carries this prefix (firewall.sh).
const PREFIX: &str = "vtn-";
/// Tools firewall.sh runs.
const TOOLS: &[&str] = &[
    "ip", "nft", "iptables", "tc", "ss", "unbound", "nginx", "openssl",
];

/// One invocation of `vantage run` in the vantage host.
struct RunSpec {
    name: &'static str,
    /// Key in topology.env of the resolver it asks.
    resolver: &'static str,
    timeout: &'static str,
}

const RUNS: &[RunSpec] = &[
    // The ISP's resolver, as a user in the censored network has it.
    RunSpec {
        name: "isp",
        resolver: "ISP_RESOLVER",
        timeout: "3s",
    },
    // The throttled page takes ~12 s: the step timeout must not cut it.
    RunSpec {
        name: "throttle",
        resolver: "ISP_RESOLVER",
        timeout: "30s",
    },
    // A resolver across the border: the on-path injector races it.
    RunSpec {
        name: "inject",
        resolver: "NET_RESOLVER",
        timeout: "3s",
    },
    // An address across the border that runs no resolver: only the forged answer arrives.
    RunSpec {
        name: "inject-nores",
        resolver: "NET_NO_RESOLVER",
        timeout: "3s",
    },
    // Residual blocking: the trigger, then (within the censor's 30 s) an innocent URL on the
    // same server and port.
    RunSpec {
        name: "residual-1",
        resolver: "ISP_RESOLVER",
        timeout: "3s",
    },
    RunSpec {
        name: "residual-2",
        resolver: "ISP_RESOLVER",
        timeout: "3s",
    },
];

struct Scenario {
    url: &'static str,
    run: &'static str,
    /// What the firewall does (for the table).
    censor: &'static str,
    status: &'static str,
    /// Methods that must all be present.
    methods: &'static [&'static str],
    /// Methods that may appear as well: further evidence the same interference leaves.
    extra: &'static [&'static str],
}

const fn sc(
    url: &'static str,
    run: &'static str,
    censor: &'static str,
    status: &'static str,
    methods: &'static [&'static str],
) -> Scenario {
    Scenario {
        url,
        run,
        censor,
        status,
        methods,
        extra: &[],
    }
}

/// The forged answer is also an answer the control does not share, at an address whose
/// certificate is for another name: dns.forged is true of it as well.
const FORGED_TOO: &[&str] = &["dns.forged"];

const SCENARIOS: &[Scenario] = &[
    sc("http://ok.test/", "isp", "nothing", "accessible", &[]),
    sc("https://ok.test/", "isp", "nothing", "accessible", &[]),
    sc(
        "http://isp-bogon.test/",
        "isp",
        "ISP resolver: 127.0.0.1",
        "blocked",
        &["dns.bogon"],
    ),
    sc(
        "http://isp-nx.test/",
        "isp",
        "ISP resolver: NXDOMAIN",
        "blocked",
        &["dns.nxdomain"],
    ),
    sc(
        "http://isp-page.test/",
        "isp",
        "ISP resolver: its blockpage server (RU text)",
        "blocked",
        &["dns.forged", "http.blockpage"],
    ),
    Scenario {
        extra: FORGED_TOO,
        ..sc(
            "http://inject.test/",
            "inject",
            "on-path forged A, real answer 50 ms later",
            "blocked",
            &["dns.injection"],
        )
    },
    // Only the forged answer arrives, so no duplicate shows the injection; the forged address
    // serves another name's certificate (the helper's E001 check) where the control's address
    // validates: dns.forged. Recognising "an address that runs no resolver answered" needs a
    // query to a known non-resolver, which is a GFW-specific probe, not web_connectivity.
    sc(
        "http://inject.test/",
        "inject-nores",
        "on-path forged A, no resolver there",
        "blocked",
        &["dns.forged"],
    ),
    sc(
        "https://blackhole.test/",
        "isp",
        "nft drop of the address",
        "blocked",
        &["tcp.timeout"],
    ),
    sc(
        "http://host-rst.test/",
        "isp",
        "Host keyword: RST to both ends",
        "blocked",
        &["http.reset"],
    ),
    sc(
        "http://host-reject.test/",
        "isp",
        "Host keyword: RST to the client (REJECT)",
        "blocked",
        &["http.reset"],
    ),
    sc(
        "https://sni-rst.test/",
        "isp",
        "SNI keyword: RST to both ends",
        "blocked",
        &["tls.reset"],
    ),
    sc(
        "http://residual-trigger.test/",
        "residual-1",
        "Host keyword: RST, tuple blocked 30 s",
        "blocked",
        &["http.reset"],
    ),
    // The kernel answers the SYN of a blocked tuple with a RST: connect() is refused.
    sc(
        "http://residual.test/",
        "residual-2",
        "same server:port after the trigger",
        "blocked",
        &["tcp.refused"],
    ),
    sc(
        "http://inject-page.test/",
        "isp",
        "Host keyword: injected blockpage (TR text)",
        "blocked",
        &["http.blockpage"],
    ),
    sc(
        "http://inject-redirect.test/",
        "isp",
        "Host keyword: injected 302 to warning.or.kr",
        "blocked",
        &["http.blockpage"],
    ),
    sc(
        "https://mitm.test/",
        "isp",
        "TLS interception, censor's CA",
        "blocked",
        &["tls.mitm"],
    ),
    sc(
        "http://throttle.test/",
        "throttle",
        "tc htb 64 kbit/s, 96 KiB page",
        "blocked",
        &["throttling"],
    ),
    // Issue 9: the ISP's resolver forwards across the border, where the injector's forged
    // answer wins the race and stays in its cache: one answer per query, no duplicate, and an
    // address that accepts no connection from the probe or the control.
    sc(
        "http://poisoned.test/",
        "isp",
        "upstream poisoned: ISP caches a dead forged A",
        "blocked",
        &["dns.forged"],
    ),
    sc(
        "https://poisoned.test/",
        "isp",
        "upstream poisoned: ISP caches a dead forged A",
        "blocked",
        &["dns.forged"],
    ),
    sc(
        "http://notice-redirect.test/",
        "isp",
        "Host keyword: injected 302 to an unknown page",
        "blocked",
        &["http.diff"],
    ),
    sc(
        "http://throttle-small.test/",
        "throttle",
        "tc htb 24 kbit/s, 12 KiB page",
        "blocked",
        &["throttling"],
    ),
    sc(
        "http://poisoned-down.test/",
        "isp",
        "trap: upstream poisoned, site down everywhere",
        "down",
        &[],
    ),
    sc(
        "http://www.geo.test/",
        "isp",
        "trap: the site's geo-redirect to de.geo.test",
        "unknown",
        &[],
    ),
    sc(
        "http://far.test/",
        "throttle",
        "trap: 12 KiB at 24 kbit/s, 700 ms away",
        "accessible",
        &[],
    ),
    sc(
        "https://down.test/",
        "isp",
        "trap: nothing listens, anywhere",
        "down",
        &[],
    ),
    sc(
        "https://gone.test/",
        "isp",
        "trap: NXDOMAIN everywhere",
        "down",
        &[],
    ),
    sc(
        "https://cdn.test/",
        "isp",
        "trap: other address inside, valid cert",
        "accessible",
        &[],
    ),
];

/// Blockpage texts the firewall serves, each with the fingerprint pattern it must carry.
const BLOCKPAGES: &[(&str, &str)] = &[
    (
        "blockpage-ru.html",
        "Доступ к сайту ограничен в соответствии с Федеральными законами",
    ),
    (
        "blockpage-tr.html",
        "After technical analysis and legal consideration based on the law nr. 5651",
    ),
];
/// The injected redirect's target must match a Location fingerprint.
const WARNING_PREFIX: &str = "prefix = \"http://warning.or.kr\"";

fn topology() -> HashMap<String, String> {
    let text = std::fs::read_to_string(format!("{NETNS_DIR}/topology.env")).unwrap();
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

/// PATH with the sbin directories, where iproute2, nft and friends live.
fn path_env() -> String {
    let path = std::env::var("PATH").unwrap_or_default();
    format!("{path}:/usr/local/sbin:/usr/sbin:/sbin:/usr/bin:/bin")
}

fn on_path(tool: &str) -> bool {
    path_env()
        .split(':')
        .any(|d| !d.is_empty() && Path::new(d).join(tool).is_file())
}

fn quiet(cmd: &mut Command) -> bool {
    cmd.env("PATH", path_env())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The python to run the injector with, or why the test cannot run here.
fn prerequisites() -> Result<PathBuf, String> {
    let status = std::fs::read_to_string("/proc/self/status").map_err(|e| e.to_string())?;
    let uid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap_or("?");
    if uid != "0" {
        return Err(format!(
            "not root (uid {uid}): network namespaces need root"
        ));
    }
    let missing: Vec<&str> = TOOLS.iter().copied().filter(|t| !on_path(t)).collect();
    if !missing.is_empty() {
        return Err(format!("missing tools: {}", missing.join(", ")));
    }
    let python = std::env::var_os("VANTAGE_NETNS_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("target/netns-venv/bin/python")
        });
    if !quiet(Command::new(&python).args(["-c", "import netfilterqueue"])) {
        return Err(format!(
            "{} cannot import netfilterqueue (set VANTAGE_NETNS_PYTHON)",
            python.display()
        ));
    }
    let probe = format!("{PREFIX}check");
    let ok = quiet(Command::new("ip").args(["netns", "add", &probe]));
    quiet(Command::new("ip").args(["netns", "del", &probe]));
    if !ok {
        return Err("cannot create a network namespace".into());
    }
    Ok(python)
}

/// CI must run this test: there a missing prerequisite is a failure, not a skip.
fn required() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false")
}

/// The firewall: `firewall.sh serve DIR` as a child; it tears everything down when its stdin
/// closes (also when this process dies), and `down()` waits for that.
struct Firewall {
    child: Option<Child>,
    stdin: Option<ChildStdin>,
    log: PathBuf,
}

impl Firewall {
    fn up(dir: &Path, python: &Path) -> Firewall {
        std::fs::create_dir_all(dir).unwrap();
        let log = dir.join("firewall.log");
        let mut child = Command::new("bash")
            .arg(format!("{NETNS_DIR}/firewall.sh"))
            .arg("serve")
            .arg(dir)
            .env("PATH", path_env())
            .env("VANTAGE_NETNS_PYTHON", python)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(File::create(&log).unwrap())
            .spawn()
            .expect("bash runs firewall.sh");
        let stdin = child.stdin.take();
        let ready = first_line(child.stdout.take().unwrap(), Duration::from_secs(60));
        let mut fw = Firewall {
            child: Some(child),
            stdin,
            log,
        };
        if !ready.as_deref().is_some_and(|l| l.starts_with("ready")) {
            fw.down();
            panic!(
                "the firewall did not come up ({ready:?}):\n{}",
                std::fs::read_to_string(&fw.log).unwrap_or_default()
            );
        }
        fw
    }

    /// Tears everything down (idempotent); returns how long it took.
    fn down(&mut self) -> Duration {
        let t0 = Instant::now();
        drop(self.stdin.take());
        if let Some(mut child) = self.child.take() {
            let deadline = Instant::now() + Duration::from_secs(30);
            while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            let _ = child.kill();
            let _ = child.wait();
            // In case the supervisor itself was cut short.
            quiet(
                Command::new("bash")
                    .arg(format!("{NETNS_DIR}/firewall.sh"))
                    .arg("down"),
            );
        }
        t0.elapsed()
    }
}

impl Drop for Firewall {
    fn drop(&mut self) {
        self.down();
    }
}

/// The first line `out` prints within `wait`; the rest is drained in the background.
fn first_line(out: impl std::io::Read + Send + 'static, wait: Duration) -> Option<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(out).lines();
        let _ = tx.send(lines.next().and_then(|l| l.ok()));
        for _ in lines {}
    });
    rx.recv_timeout(wait).ok().flatten()
}

/// `vantage helper` in the control host; killed and reaped when dropped.
struct Helper(Child);

impl Helper {
    fn start(topo: &HashMap<String, String>, ca: &Path, log: &Path) -> Helper {
        let listen = format!("{}:{}", topo["CONTROL"], topo["HELPER_PORT"]);
        let mut child = Command::new("ip")
            .args(["netns", "exec", &format!("{PREFIX}control"), binary()])
            .args([
                "helper",
                "--listen",
                &listen,
                "--resolver",
                &topo["NET_RESOLVER"],
            ])
            .arg("--ca-file")
            .arg(ca)
            .args(["--allow-private", "--timeout", "3s"])
            .env("PATH", path_env())
            .env("VANTAGE_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(File::create(log).unwrap())
            .spawn()
            .expect("the helper starts");
        let line = first_line(child.stdout.take().unwrap(), Duration::from_secs(20));
        let helper = Helper(child);
        assert!(
            line.as_deref().is_some_and(|l| l.ends_with(&listen)),
            "the helper did not start ({line:?}):\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        helper
    }
}

impl Drop for Helper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct Outcome {
    code: Option<i32>,
    stderr: String,
    records: Vec<Value>,
    took: Duration,
}

/// `vantage run` in the vantage host over `spec`'s scenarios.
fn run(
    spec: &RunSpec,
    topo: &HashMap<String, String>,
    dir: &Path,
    ca: &Path,
    control: &str,
) -> Outcome {
    let dir = dir.join("runs").join(spec.name);
    std::fs::create_dir_all(&dir).unwrap();
    let list: String = SCENARIOS
        .iter()
        .filter(|s| s.run == spec.name)
        .map(|s| format!("{}\n", s.url))
        .collect();
    let targets = dir.join("targets.txt");
    std::fs::write(&targets, list).unwrap();
    let out = dir.join("results");
    let t0 = Instant::now();
    let output = Command::new("ip")
        .args([
            "netns",
            "exec",
            &format!("{PREFIX}vantage"),
            binary(),
            "run",
        ])
        .arg("--targets")
        .arg(&targets)
        .arg("--out")
        .arg(&out)
        .args(["--resolver", &topo[spec.resolver], "--control", control])
        .arg("--ca-file")
        .arg(ca)
        .args(["--testbed-net", "198.18.0.0/15", "--timeout", spec.timeout])
        .args(["--rate", "0"])
        .current_dir(&dir)
        .env("PATH", path_env())
        .env("VANTAGE_LOG", "warn")
        .stdin(Stdio::null())
        .output()
        .expect("vantage runs");
    keep_records(&out);
    Outcome {
        code: output.status.code(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        records: read_records(&out),
        took: t0.elapsed(),
    }
}

/// What remains of ours after teardown: namespaces, and processes whose command line names the
/// test's directory, the firewall's scripts or a testbed address.
fn leftovers(dir: &Path) -> Vec<String> {
    let mut left = Vec::new();
    if let Ok(o) = Command::new("ip")
        .args(["netns", "list"])
        .env("PATH", path_env())
        .output()
    {
        left.extend(
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .filter(|l| l.starts_with(PREFIX))
                .map(|l| format!("namespace {l}")),
        );
    }
    let dir = dir.display().to_string();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(raw) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let cmd = String::from_utf8_lossy(&raw).replace('\0', " ");
        if cmd.contains(&dir) || cmd.contains(NETNS_DIR) || cmd.contains("198.18.") {
            left.push(format!("process {pid}: {cmd}"));
        }
    }
    left
}

fn methods(v: &Value) -> Vec<String> {
    v["methods"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|m| m.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// The evidence of a record whose verdict is wrong.
fn evidence(r: &Value) -> String {
    let tk = &r["test_keys"];
    let list = |key: &str, f: &dyn Fn(&Value) -> Value| -> Vec<Value> {
        tk[key]
            .as_array()
            .map(|a| a.iter().map(f).collect())
            .unwrap_or_default()
    };
    format!(
        "reasons {}\n    dns {:?}\n    tcp {:?}\n    tls {:?}\n    http {:?}\n    control: http {} {} / failure {}",
        tk["x_verdict"]["reasons"],
        list("queries", &|q| serde_json::json!([
            q["query_type"],
            q["x_source_address"],
            q["t"],
            q["failure"],
            q["answers"]
                .as_array()
                .map(|a| a.iter().map(|x| x["ipv4"].clone()).collect::<Vec<_>>())
        ])),
        list("tcp_connect", &|c| serde_json::json!([c["ip"], c["port"], c["status"]["failure"]])),
        list("tls_handshakes", &|t| serde_json::json!([t["address"], t["failure"]])),
        list("requests", &|q| serde_json::json!([
            q["request"]["url"],
            q["failure"],
            q["response"]["code"],
            q["response"]["x_body_length"]
        ])),
        tk["control"]["http_request"]["status_code"],
        tk["control"]["http_request"]["failure"],
        tk["control_failure"],
    )
}

#[test]
fn a_national_firewall_in_network_namespaces() {
    let python = match prerequisites() {
        Ok(p) => p,
        Err(why) if required() => panic!(
            "CI is set, so the network-namespace firewall test must run, but it cannot: {why}"
        ),
        Err(why) => {
            let bar = "!".repeat(78);
            let _ = writeln!(
                std::io::stderr(),
                "\n{bar}\n!! SKIPPED: the network-namespace firewall test (tests/netns): {why}.\n\
                 !! Run `bash .ci/run` as root to build the firewall and run it.\n{bar}\n"
            );
            return;
        }
    };
    // The pages and the redirect the censor serves must match shipped fingerprints, or the
    // expected http.blockpage verdicts mean nothing.
    let fingerprints = std::fs::read_to_string(FINGERPRINTS).unwrap();
    for (file, pattern) in BLOCKPAGES {
        let page = std::fs::read_to_string(format!("{NETNS_DIR}/{file}")).unwrap();
        assert!(page.contains(pattern), "{file} lacks {pattern:?}");
        assert!(
            fingerprints.contains(pattern),
            "fingerprints/default.toml no longer carries {pattern:?}, which tests/netns/{file} uses"
        );
    }
    assert!(
        fingerprints.contains(WARNING_PREFIX),
        "fingerprints/default.toml no longer carries {WARNING_PREFIX}, which the injected redirect uses"
    );

    let topo = topology();
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("netns");
    let _ = std::fs::remove_dir_all(&dir);
    let t0 = Instant::now();
    let mut fw = Firewall::up(&dir, &python);
    let setup = t0.elapsed();
    let ca = dir.join("pki/ca.pem");

    let t1 = Instant::now();
    let outcomes: HashMap<&str, Outcome> = {
        let _helper = Helper::start(&topo, &ca, &dir.join("helper.log"));
        let control = format!("http://{}:{}/", topo["CONTROL"], topo["HELPER_PORT"]);
        let spec = |name: &str| RUNS.iter().find(|r| r.name == name).unwrap();
        std::thread::scope(|s| {
            let parallel: Vec<_> = ["isp", "throttle", "inject", "inject-nores"]
                .into_iter()
                .map(|name| {
                    let (topo, dir, ca, control) = (&topo, &dir, &ca, &control);
                    s.spawn(move || (name, run(spec(name), topo, dir, ca, control)))
                })
                .collect();
            // Residual blocking needs order: the trigger, then the innocent URL.
            let residual = s.spawn(|| {
                let first = run(spec("residual-1"), &topo, &dir, &ca, &control);
                let second = run(spec("residual-2"), &topo, &dir, &ca, &control);
                [("residual-1", first), ("residual-2", second)]
            });
            let mut all: HashMap<&str, Outcome> =
                parallel.into_iter().map(|h| h.join().unwrap()).collect();
            all.extend(residual.join().unwrap());
            all
        })
    };
    let measured = t1.elapsed();
    let teardown = fw.down();
    let left = leftovers(&dir);

    let mut table = format!(
        "\n{:<31} {:<12} {:<44} {:<42} got\n",
        "scenario", "run", "censor", "want"
    );
    let mut wrong = Vec::new();
    for s in SCENARIOS {
        let o = &outcomes[s.run];
        let want = format!("{} {:?}", s.status, s.methods);
        let Some(r) = o.records.iter().find(|r| r["input"] == s.url) else {
            table.push_str(&format!(
                "{:<31} {:<12} {:<44} {:<42} NO RECORD\n",
                s.url, s.run, s.censor, want
            ));
            wrong.push(format!(
                "{} ({}): no record; exit {:?}, stderr:\n{}",
                s.url, s.run, o.code, o.stderr
            ));
            continue;
        };
        let v = &r["test_keys"]["x_verdict"];
        let got = methods(v);
        let status = v["status"].as_str().unwrap_or("?");
        let ok = status == s.status
            && s.methods.iter().all(|m| got.iter().any(|g| g == m))
            && got
                .iter()
                .all(|g| s.methods.contains(&g.as_str()) || s.extra.contains(&g.as_str()))
            && v["reasons"].as_array().is_some_and(|r| !r.is_empty());
        table.push_str(&format!(
            "{:<31} {:<12} {:<44} {:<42} {status} {got:?}{}\n",
            s.url,
            s.run,
            s.censor,
            want,
            if ok { "" } else { "   <== WRONG" }
        ));
        if !ok {
            wrong.push(format!("{} ({}): {}", s.url, s.run, evidence(r)));
        }
    }
    let runs: Vec<String> = RUNS
        .iter()
        .map(|r| format!("{} {:.1} s", r.name, outcomes[r.name].took.as_secs_f64()))
        .collect();
    let timings = format!(
        "setup {:.1} s, measuring {:.1} s ({}), teardown {:.2} s",
        setup.as_secs_f64(),
        measured.as_secs_f64(),
        runs.join(", "),
        teardown.as_secs_f64()
    );
    println!("{table}\n{timings}\nlogs and records: {}", dir.display());

    for spec in RUNS {
        let o = &outcomes[spec.name];
        assert_eq!(o.code, Some(0), "run {}: {}", spec.name, o.stderr);
    }
    assert!(
        wrong.is_empty(),
        "{table}\nwrong verdicts:\n{}\n(logs and records: {})",
        wrong.join("\n"),
        dir.display()
    );
    assert!(
        left.is_empty(),
        "left behind after teardown:\n{}",
        left.join("\n")
    );
}
