//! `input` is the URL exactly as the list gave it, as OONI keeps it (an IDN host stays in its
//! own script, the case as written); the normalised form vantage measured and de-duplicates on
//! is `x_input_normalized`.

use std::collections::HashMap;

use serde_json::Value;

use crate::harness::web::{page, serve};
use crate::harness::{run_args, vantage, Answer, Ca, FakeDns, Site, Tls, Workdir};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn input_is_verbatim_and_duplicates_are_found_on_the_normalised_form() {
    let ca = Ca::new("Vantage Test CA");
    let work = Workdir::new();
    let ca_file = work.write("ca.pem", &ca.pem);
    let verbatim_host = "Яндекс.lab";
    let puny = url::Url::parse(&format!("http://{verbatim_host}/"))
        .unwrap()
        .host_str()
        .unwrap()
        .to_string();
    assert!(puny.starts_with("xn--"), "{puny}");
    let site = Site::new(&puny, Tls::Plain, page("Yandex here", 1500));
    let addr = serve(site, &ca, &ca).await;
    let dns = FakeDns::start(HashMap::from([(
        puny.clone(),
        Answer::Addrs(vec!["127.0.0.1".parse().unwrap()]),
    )]))
    .await;
    let port = addr.port();
    let input = format!("http://{verbatim_host}:{port}/");
    let normalised = format!("http://{puny}:{port}/");
    // The same URL four ways: as written, in lower case with an upper-case TLD and no path,
    // with an upper-case scheme, and in punycode; across a plain list and a Citizen Lab CSV.
    let plain = work.write(
        "list.txt",
        &format!("{input}\nhttp://яндекс.LAB:{port}\nHTTP://{verbatim_host}:{port}/\n"),
    );
    let csv = work.write(
        "list.csv",
        &format!("url,category_code,category_description,date_added,source,notes\n{normalised},NEWS,,,,\n"),
    );
    let mut args = run_args(&work, &plain, &dns, &ca_file, &[]);
    args.extend(["--targets".to_string(), csv.display().to_string()]);
    let out = vantage(&args, &work.out()).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let inputs: Vec<&Value> = out.records.iter().map(|r| &r["input"]).collect();
    assert_eq!(
        inputs,
        [&Value::from(input.as_str())],
        "one record, input verbatim"
    );
    let r = out.record(&input);
    assert_eq!(r["x_input_normalized"], normalised, "{r:#}");
    let fetched = &r["test_keys"]["requests"][0];
    assert_eq!(fetched["request"]["url"], normalised);
    assert_eq!(fetched["response"]["code"], 200);
    assert!(out.stdout.contains("1 measured"), "{}", out.stdout);
}
