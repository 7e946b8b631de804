//! Table tests of the matcher, the raw-bytes scrub and the record walk.

use std::net::IpAddr;

use base64::Engine as _;
use hickory_proto::op::{Message, MessageType, OpCode};
use hickory_proto::rr::rdata::{A, AAAA, TXT};
use hickory_proto::rr::{Name, RData, Record as DnsRecord};
use serde_json::json;

use super::*;

fn ours() -> Scrubber {
    Scrubber::new(
        ["1.2.3.4", "2001:db8:1::5", "127.0.0.1"]
            .iter()
            .map(|s| s.parse::<IpAddr>().unwrap()),
    )
}

#[test]
fn written_addresses_are_found_in_every_spelling_and_only_whole() {
    let s = ours();
    let cases = [
        ("1.2.3.4", "[scrubbed]"),
        ("ip=1.2.3.4;", "ip=[scrubbed];"),
        (
            "connect 1.2.3.4:443 failed",
            "connect [scrubbed]:443 failed",
        ),
        ("ip:1.2.3.4", "ip:[scrubbed]"),
        ("Your IP is 1.2.3.4.", "Your IP is [scrubbed]."),
        ("<b>1.2.3.4</b>", "<b>[scrubbed]</b>"),
        ("a 1.2.3.4 b 1.2.3.4", "a [scrubbed] b [scrubbed]"),
        ("001.002.003.004", "[scrubbed]"),
        ("1.2.3.4.nip.example", "[scrubbed].nip.example"),
        ("é1.2.3.4é", "é[scrubbed]é"),
        ("%31.2.3.4", "[scrubbed]"),
        (
            "ec2-1-2-3-4.compute.example",
            "ec2-[scrubbed].compute.example",
        ),
        ("ip-001-002-003-004", "ip-[scrubbed]"),
        ("11-2-3-45 and 2024-1-2-3", "11-2-3-45 and 2024-1-2-3"),
        ("1.2.3.4.1.2.3.4", "[scrubbed].[scrubbed]"),
        // Another address, or a longer token: untouched.
        ("11.2.3.45", "11.2.3.45"),
        ("1.2.3.45", "1.2.3.45"),
        ("21.2.3.4", "21.2.3.4"),
        ("cafe1.2.3.4", "cafe1.2.3.4"),
        ("1.2.3", "1.2.3"),
        ("127.0.0.10 and 127.0.0.2", "127.0.0.10 and 127.0.0.2"),
        ("v1.2.3.4.5", "v[scrubbed].5"),
        // IPv4 inside IPv6 forms.
        ("::ffff:1.2.3.4", "[scrubbed]"),
        ("::FFFF:1.2.3.4", "[scrubbed]"),
        ("::ffff:102:304", "[scrubbed]"),
        ("64:ff9b::1.2.3.4", "[scrubbed]"),
        ("64:ff9b::102:304", "[scrubbed]"),
        ("2002:102:304::1", "[scrubbed]"),
        ("%3A%3Affff%3A1.2.3.4", "[scrubbed]"),
        // IPv6 spellings.
        ("2001:db8:1::5", "[scrubbed]"),
        ("2001:DB8:1::5", "[scrubbed]"),
        ("2001:0db8:0001:0000:0000:0000:0000:0005", "[scrubbed]"),
        ("2001:db8:1:0:0:0:0:5", "[scrubbed]"),
        ("2001:db8:1::0.0.0.5", "[scrubbed]"),
        ("[2001:db8:1::5]:443", "[[scrubbed]]:443"),
        ("http://[2001:db8:1::5]/x", "http://[[scrubbed]]/x"),
        (
            "u=http%3A%2F%2F%5B2001%3Adb8%3A1%3A%3A5%5D%2F",
            "u=http%3A%2F%2F%5B[scrubbed]%5D%2F",
        ),
        ("IPv6:2001:db8:1::5", "IPv6:[scrubbed]"),
        ("2001:db8:1::55", "2001:db8:1::55"),
        ("2001:db8:1::50:0", "2001:db8:1::50:0"),
        ("12001:db8:1::5", "12001:db8:1::5"),
        ("2001:db8::5", "2001:db8::5"),
        ("nothing here", "nothing here"),
    ];
    for (input, want) in cases {
        assert_eq!(s.text(input), want, "{input}");
    }
}

#[test]
fn an_empty_scrubber_changes_nothing() {
    let s = Scrubber::default();
    assert!(s.is_empty());
    assert!(matches!(s.text("1.2.3.4"), Cow::Borrowed(_)));
    let mut v = json!({"a": "1.2.3.4"});
    assert!(!s.value(&mut v));
}

#[test]
fn tunnels_add_the_public_ipv4_they_carry() {
    let six_to_four = Scrubber::new(["2002:506:708::1".parse().unwrap()]);
    assert_eq!(six_to_four.text("from 5.6.7.8"), "from [scrubbed]");
    // Teredo: the client's address inverted in the last 32 bits.
    let teredo = Scrubber::new(["2001:0:4136:e378:8000:63bf:faf9:f8f7".parse().unwrap()]);
    assert_eq!(teredo.text("from 5.6.7.8"), "from [scrubbed]");
    let mapped = Scrubber::new(["::ffff:5.6.7.8".parse().unwrap()]);
    assert_eq!(
        mapped.addrs().collect::<Vec<_>>(),
        ["5.6.7.8".parse::<IpAddr>().unwrap()]
    );
}

fn dns_answer() -> Vec<u8> {
    let name = Name::from_ascii("whoami.test.").unwrap();
    let mut m = Message::new(7, MessageType::Response, OpCode::Query);
    for data in [
        RData::A(A::new(1, 2, 3, 4)),
        RData::A(A::new(5, 6, 7, 8)),
        RData::AAAA(AAAA("2001:db8:1::5".parse().unwrap())),
        RData::AAAA(AAAA("::ffff:1.2.3.4".parse().unwrap())),
        RData::TXT(TXT::new(vec!["client 1.2.3.4 via 9.9.9.9".into()])),
    ] {
        m.answers
            .push(DnsRecord::from_rdata(name.clone(), 60, data));
    }
    m.to_vec().unwrap()
}

#[test]
fn raw_dns_keeps_its_length_and_decodes() {
    let s = ours();
    let original = dns_answer();
    let mut raw = original.clone();
    assert!(s.raw(&mut raw));
    assert_eq!(raw.len(), original.len());
    let m = Message::from_vec(&raw).expect("still a DNS message");
    let data: Vec<String> = m.answers.iter().map(|r| r.data.to_string()).collect();
    assert_eq!(
        data,
        [
            "192.0.2.0",
            "5.6.7.8",
            "2001:db8::",
            "::ffff:192.0.2.0",
            "client x.x.x.x via 9.9.9.9"
        ]
    );
    let mut clean = Message::new(1, MessageType::Response, OpCode::Query)
        .to_vec()
        .unwrap();
    assert!(!s.raw(&mut clean), "nothing to scrub");
}

#[test]
fn base64_blobs_are_decoded_scrubbed_and_reencoded() {
    let s = ours();
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut body = b"\xff\xfe binary then 1.2.3.4 and 5.6.7.8".to_vec();
    let mut v = json!({
        "response": {
            "body": {"format": "base64", "data": b64.encode(&body)},
            "body_is_truncated": false,
            "x_body_sha256": "ab12",
            "headers": {"X-Seen-1.2.3.4": "yes", "Set-Cookie": "ip=1.2.3.4; Path=/"},
        },
        "queries": [{"raw_response": b64.encode(dns_answer())}],
        "control": {"format": "base64", "data": "not base64: 1.2.3.4"},
    });
    assert!(s.value(&mut v));
    let r = &v["response"];
    body.truncate(2);
    body.extend_from_slice(b" binary then [scrubbed] and 5.6.7.8");
    assert_eq!(
        b64.decode(r["body"]["data"].as_str().unwrap()).unwrap(),
        body
    );
    assert_eq!(
        r["x_body_sha256"], SCRUBBED,
        "a hash would give the address away"
    );
    assert_eq!(r["headers"]["X-Seen-[scrubbed]"], "yes");
    assert_eq!(r["headers"]["Set-Cookie"], "ip=[scrubbed]; Path=/");
    let raw = b64
        .decode(v["queries"][0]["raw_response"].as_str().unwrap())
        .unwrap();
    assert!(!raw.windows(4).any(|w| w == [1, 2, 3, 4]));
    assert_eq!(v["control"]["data"], "not base64: [scrubbed]");
}

#[test]
fn a_body_cut_mid_address_loses_the_start_too() {
    let s = ours();
    for (body, cut, want) in [
        ("page ... 1.2.3", true, "page ... [scrubbed]"),
        ("page ... 1.2.", true, "page ... [scrubbed]"),
        ("page ... 2001:db8:1:", true, "page ... [scrubbed]"),
        ("page ... 1.2.3", false, "page ... 1.2.3"),
        ("page ... 1", true, "page ... 1"),
        ("page ... 7.7.", true, "page ... 7.7."),
        ("page ... 11.2.3", true, "page ... 11.2.3"),
    ] {
        let mut v = json!({"body": body, "body_is_truncated": cut});
        s.value(&mut v);
        assert_eq!(v["body"], want, "{body} cut={cut}");
    }
}

#[test]
fn a_whole_record_is_scrubbed_and_keeps_its_shape() {
    use crate::analysis;
    use crate::fingerprints::Fingerprints;
    use crate::observation::*;
    use crate::record::{Measurement, Record, RunInfo};

    let b64 = base64::engine::general_purpose::STANDARD;
    let url = url::Url::parse("http://echo.test/").unwrap();
    let body = "<title>You are 1.2.3.4</title>".to_string();
    let mut obs = Observations::default();
    obs.queries.push(DnsQuery {
        engine: "udp".into(),
        resolver_address: "9.9.9.9:53".into(),
        hostname: "echo.test".into(),
        query_type: "A".into(),
        failure: None,
        answers: vec![DnsAnswer {
            answer_type: "A".into(),
            ipv4: Some("1.2.3.4".into()),
            ipv6: None,
            hostname: None,
            ttl: 60,
        }],
        rcode: Some(0),
        raw_response: Some(b64.encode(dns_answer())),
        t0: 0.0,
        t: 0.1,
        tags: vec![],
        transaction_id: 1,
        x_source_address: Some("9.9.9.9:53".into()),
        x_query_id: 7,
        x_id_match: Some(true),
        x_question_match: Some(true),
        x_answers_dropped: 0,
        x_raw_bytes_dropped: 0,
        x_classic: None,
        x_response_index: 0,
        x_flags: Some(DnsFlags::default()),
        x_decode_error: None,
    });
    obs.requests.push(HttpTransaction {
        network: "tcp".into(),
        address: "1.2.3.4:80".into(),
        alpn: None,
        failure: Some(crate::failure::Failure::Unknown("reset by 1.2.3.4".into())),
        request: HttpRequest {
            url: "http://echo.test/?ip=1.2.3.4".into(),
            method: "GET".into(),
            headers: HttpHeaders::default(),
            body: String::new(),
            body_is_truncated: false,
            x_transport: "tcp".into(),
        },
        response: Some(HttpResponse {
            code: 200,
            headers: HttpHeaders::default(),
            body: Some(MaybeBinary::Text(body.clone())),
            body_is_truncated: false,
            x_body_length: body.len() as u64,
            x_body_complete: true,
            x_body_sha256: "ab".into(),
            x_title: Some("You are 1.2.3.4".into()),
        }),
        t0: 0.0,
        t: 0.2,
        tags: vec![],
        transaction_id: 2,
        x_t_response_headers: None,
        x_transfer: vec![],
    });
    let fingerprints = Fingerprints::builtin();
    let ctx = analysis::Context {
        control: None,
        control_failure: None,
        testbed_nets: &[],
        fingerprints: &fingerprints,
        probe_cc: None,
    };
    let analysis = analysis::analyze(&url, &obs, &ctx);
    let run = RunInfo {
        annotations: [("note".to_string(), "from 1.2.3.4".to_string())].into(),
        test_helpers: Some(json!({"backend": {"address": "https://1.2.3.4/", "type": "https"}})),
        ..RunInfo::for_tests("9.9.9.9")
    };
    let mut record = Record::new(
        &run,
        Measurement {
            input: url.as_str(),
            category_code: None,
            start: time::OffsetDateTime::UNIX_EPOCH,
            runtime: 0.3,
            observations: obs,
            control: Some(json!({"seen": "1.2.3.4"})),
            control_failure: Some("from 1.2.3.4".into()),
            control_request: Some(json!({"tcp_connect": ["1.2.3.4:80"]})),
            analysis,
        },
    );
    let before = String::from_utf8(record.to_line()).unwrap();
    assert!(before.matches("1.2.3.4").count() >= 8, "{before}");
    ours().record(&mut record);
    let after = String::from_utf8(record.to_line()).unwrap();
    assert_eq!(after.matches("1.2.3.4").count(), 0, "{after}");
    assert!(after.matches(SCRUBBED).count() >= 8, "{after}");
    assert!(
        after.contains("\"probe_ip\":\"127.0.0.1\""),
        "probe_ip is fixed"
    );
    assert!(after.contains("9.9.9.9"), "other addresses stay");
    let failure = &record.test_keys.observations.requests[0].failure;
    assert_eq!(
        failure
            .as_ref()
            .map(|f| f.as_ooni().into_owned())
            .as_deref(),
        Some("unknown_failure: reset by [scrubbed]")
    );
}

#[test]
fn only_globally_routable_addresses_identify_the_vantage_point() {
    for (ip, want) in [
        ("8.8.8.8", true),
        ("2a00:1450::1", true),
        ("2002:506:708::1", true),
        ("::ffff:8.8.8.8", true),
        ("127.0.0.1", false),
        ("::1", false),
        ("10.1.2.3", false),
        ("192.168.1.1", false),
        ("172.16.0.1", false),
        ("100.64.0.1", false),
        ("169.254.1.1", false),
        ("fe80::1", false),
        ("fd00::1", false),
        ("0.0.0.0", false),
        ("::", false),
        ("192.0.2.1", false),
        ("2001:db8::1", false),
        ("224.0.0.1", false),
    ] {
        assert_eq!(identifies_vantage(ip.parse().unwrap()), want, "{ip}");
    }
}

#[test]
fn probe_addrs_learn_more_addresses_later() {
    let addrs = ProbeAddrs::only(&["1.2.3.4".parse().unwrap()]);
    assert_eq!(addrs.scrubber().text("5.6.7.8"), "5.6.7.8");
    addrs.add("5.6.7.8".parse().unwrap());
    assert_eq!(
        addrs.scrubber().text("1.2.3.4 5.6.7.8"),
        "[scrubbed] [scrubbed]"
    );
    let none = ProbeAddrs::only(&[]);
    assert!(none.scrubber().is_empty());
}
