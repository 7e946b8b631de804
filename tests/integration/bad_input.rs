//! Bad input of every kind: malformed target lines, empty or unreadable lists, an unwritable
//! results directory, bad flags and files. Each gets a clear error naming where it was, and the
//! exit status SPEC.md gives; good targets next to bad lines are still measured.

use std::collections::HashMap;

use crate::harness::web::{page, serve};
use crate::harness::{run_args, vantage, Answer, Ca, FakeDns, Site, Tls, Workdir};

async fn one_site() -> (Ca, FakeDns, String) {
    let ca = Ca::new("Vantage Test CA");
    let site = Site::new("ok.test", Tls::Plain, page("OK", 100));
    let addr = serve(site.clone(), &ca, &ca).await;
    let dns = FakeDns::start(HashMap::from([(
        "ok.test".to_string(),
        Answer::Addrs(vec!["127.0.0.1".parse().unwrap()]),
    )]))
    .await;
    (ca, dns, site.url(addr))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_lines_are_named_and_skipped_and_the_rest_is_measured() {
    let (ca, dns, url) = one_site().await;
    let work = Workdir::new();
    let ca_file = work.write("ca.pem", &ca.pem);
    let list = work.write(
        "list.txt",
        &format!("# list\nftp://files.example/\n{url}\nnot a url\nhttps://\n{url}\nhttps://user:pw@x.example/\n"),
    );
    let out = vantage(&run_args(&work, &list, &dns, &ca_file, &[]), &work.out()).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let name = list.display().to_string();
    for (line, reason) in [
        (2, "unsupported scheme"),
        (4, "white space"),
        (5, "invalid URL"),
        (7, "credentials"),
    ] {
        let want = format!("{name}:{line}: ");
        let hit = out.stderr.lines().find(|l| l.starts_with(&want));
        assert!(
            hit.is_some_and(|l| l.contains(reason)),
            "want {want}{reason} in:\n{}",
            out.stderr
        );
    }
    assert_eq!(
        out.records.len(),
        1,
        "the duplicate is dropped, the good URL measured once"
    );
    assert_eq!(
        out.records[0]["test_keys"]["requests"][0]["response"]["code"],
        200
    );
    assert!(out.stdout.contains("4 bad lines skipped"), "{}", out.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_csv_row_is_named_with_its_line() {
    let (ca, dns, url) = one_site().await;
    let work = Workdir::new();
    let ca_file = work.write("ca.pem", &ca.pem);
    let list = work.write(
        "list.csv",
        &format!("url,category_code,category_description,date_added,source,notes\n{url},NEWS,News,2026-01-01,x,\"a\nb\"\nmailto:someone,GRP,,,,\n{url}?big,{},,,,\n", "C".repeat(5_000_000)),
    );
    let out = vantage(&run_args(&work, &list, &dns, &ca_file, &[]), &work.out()).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr.contains(&format!("{}:4: ", list.display())),
        "{}",
        out.stderr
    );
    // A 5 MB category_code would be copied into a record no cap sheds: line 5 is refused.
    let five = format!("{}:5: category_code longer than 64 bytes", list.display());
    assert!(out.stderr.contains(&five), "{:.2000}", out.stderr);
    assert_eq!(out.records.len(), 1);
    assert_eq!(out.records[0]["annotations"]["category_code"], "NEWS");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_that_cannot_happen_exit_with_the_specified_status() {
    let (ca, dns, url) = one_site().await;
    let work = Workdir::new();
    let ca_file = work.write("ca.pem", &ca.pem);
    let good = work.write("good.txt", &format!("{url}\n"));
    let empty = work.write("empty.txt", "# nothing\n\n");
    let not_pem = work.write("bad.pem", "this is not a certificate\n");
    let a_file = work.write("file-not-dir", "x");

    // No targets at all: the probe has nothing to do (1).
    let out = vantage(&run_args(&work, &empty, &dns, &ca_file, &[]), &work.out()).await;
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stderr.contains("no targets"), "{}", out.stderr);

    // An unreadable list is bad usage (2) and names the file.
    let missing = work.path("missing.txt");
    let out = vantage(&run_args(&work, &missing, &dns, &ca_file, &[]), &work.out()).await;
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains(&missing.display().to_string()),
        "{}",
        out.stderr
    );

    // Results cannot be written (1), and the message names the path.
    let mut args = run_args(&work, &good, &dns, &ca_file, &[]);
    let i = args.iter().position(|a| a == "--out").unwrap();
    args[i + 1] = a_file.join("results").display().to_string();
    let out = vantage(&args, &work.out()).await;
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("cannot write results"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("file-not-dir"), "{}", out.stderr);

    // Bad flags and files are bad usage (2).
    for extra in [
        vec!["--parallel", "0"],
        vec!["--timeout", "soon"],
        vec!["--resolver", "resolver.example"],
        vec!["--no-such-flag"],
    ] {
        let out = vantage(&run_args(&work, &good, &dns, &ca_file, &extra), &work.out()).await;
        assert_eq!(out.code, 2, "{extra:?}: {}", out.stderr);
    }
    let out = vantage(&run_args(&work, &good, &dns, &not_pem, &[]), &work.out()).await;
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("bad.pem"), "{}", out.stderr);
    let config = work.write("vantage.toml", "[run]\nparalel = 3\n");
    let out = vantage(
        &run_args(
            &work,
            &good,
            &dns,
            &ca_file,
            &["--config", &config.display().to_string()],
        ),
        &work.out(),
    )
    .await;
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("vantage.toml") && out.stderr.contains("line 2"),
        "{}",
        out.stderr
    );

    // None of these wrote a record.
    assert!(out.records.is_empty());
}
