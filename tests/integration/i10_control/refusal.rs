//! A helper that refuses a destination by its own policy (a private or reserved address without
//! `--allow-private`) has measured nothing: the probe's verdict is `unknown` with a control
//! failure naming the refusal, never "down: it fails from the control too".

use crate::harness::{dead_port, loopback_zone};
use crate::harness::{run_args, vantage, Ca, FakeDns, Helper, Workdir};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_destination_the_helper_refuses_is_unknown_not_down() {
    let ca = Ca::new("Vantage Test CA");
    let dns = FakeDns::start(loopback_zone(&["private.test"])).await;
    let resolver = dns.addr.to_string();
    // No --allow-private: the helper refuses 127.0.0.1, whether named or resolved.
    let helper = Helper::start(&["--resolver", &resolver, "--timeout", "3s"]).await;
    // Nothing listens there: the probe's own connect fails too.
    let port = dead_port().port();
    let by_name = format!("http://private.test:{port}/");
    let literal = format!("http://127.0.0.1:{port}/");
    let work = Workdir::new();
    let ca_file = work.write("ca.pem", &ca.pem);
    let list = work.write("list.txt", &format!("{by_name}\n{literal}\n"));
    let args = run_args(
        &work,
        &list,
        &dns,
        &ca_file,
        &["--testbed-net", "127.0.0.0/8", "--control", &helper.url()],
    );
    let out = vantage(&args, &work.out()).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    for input in [&by_name, &literal] {
        let r = out.record(input);
        let keys = &r["test_keys"];
        assert_eq!(keys["x_verdict"]["status"], "unknown", "{input}: {keys}");
        let failure = keys["control_failure"].as_str().unwrap_or_default();
        assert!(
            failure.starts_with("helper_refused: ")
                && failure.contains("127.0.0.1 is a private or reserved address")
                && failure.ends_with(
                    "(this helper measures such destinations only with --allow-private)"
                ),
            "{input}: {failure:?}"
        );
        let reasons = keys["x_verdict"]["reasons"].to_string();
        assert!(reasons.contains("helper_refused"), "{input}: {reasons}");
    }
    assert!(
        out.stdout.lines().any(|l| l
            == "vantage: control failed for 2/2 targets (helper_refused: the \
                           helper's policy refuses these destinations: private or reserved \
                           addresses are refused unless the helper runs with --allow-private)"),
        "{}",
        out.stdout
    );
}
