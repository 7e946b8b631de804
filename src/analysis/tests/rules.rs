//! One row per verdict rule that mutation testing (cargo-mutants, `bench/mutants.sh`) found no
//! row for: each fails when its rule changes, most of them by the reason they must give. Grouped
//! by the code that holds the rule.

use super::*;

/// A bogon the probe's resolver answered (no fingerprint names it).
const BOGON: &str = "10.1.2.3";
/// A known GFW answer (a `[[dns]]` fingerprint).
const GFW: &str = "8.7.198.45";

/// Which addresses the DNS evidence calls the site's (`dns::Lookup::standing`): a failure at an
/// address it calls forged is the DNS method's doing; one at the control's address is the site's.
#[test]
fn standing_of_an_address() {
    use Status::*;
    check(vec![
        row(
            "a bogon answer whose connection times out: the bogon explains the failure",
            HTTP,
            obs()
                .resolve(HOST, 0, &[BOGON])
                .connect("10.1.2.3:80", 0, Some(Failure::Timeout)),
            Some(site_ctl()),
        )
        .ooni(Some("inconsistent"), b("dns"), Some(false))
        .verdict(Blocked, &["dns.bogon"])
        .says("10.1.2.3 is not the site's address as far as the DNS evidence goes"),
        row(
            "a bogon answer whose connection times out, without a control",
            HTTP,
            obs()
                .resolve(HOST, 0, &[BOGON])
                .connect("10.1.2.3:80", 0, Some(Failure::Timeout)),
            None,
        )
        .verdict(Blocked, &["dns.bogon"])
        .says("10.1.2.3 is not the site's address as far as the DNS evidence goes"),
        row(
            "a known forged answer whose connection times out (the control never tried it)",
            HTTP,
            obs()
                .resolve(HOST, 0, &[GFW])
                .connect("8.7.198.45:80", 0, Some(Failure::Timeout)),
            Some(site_ctl()),
        )
        .ooni(Some("inconsistent"), b("dns"), Some(false))
        .verdict(Blocked, &["dns.forged"])
        .says("8.7.198.45 is not the site's address as far as the DNS evidence goes")
        .never_says("TLS does not vindicate them, and"),
        row(
            "an injected answer wins the race and its connection times out (the control never tried it)",
            HTTP,
            obs()
                .datagram(datagram(HOST, "A", 1, 0, 0.001, &[OTHER]))
                .datagram(datagram(HOST, "A", 1, 1, 0.101, &[SITE]))
                .datagram(datagram(HOST, "AAAA", 2, 0, 0.1, &[]))
                .connect("31.13.94.37:80", 0, Some(Failure::Timeout)),
            Some(site_ctl()),
        )
        .ooni(Some("inconsistent"), b("dns"), Some(false))
        .verdict(Blocked, &["dns.injection", "dns.forged"])
        .says("31.13.94.37 is not the site's address as far as the DNS evidence goes"),
        row(
            "the probe's resolver answered another address, but the page came from the control's address and differs",
            HTTP,
            obs()
                .resolve(HOST, 0, &[OTHER])
                .connect("93.184.215.14:80", 0, None)
                .get(HTTP, "93.184.215.14:80", 0, &plain(200, "Something else", "<html><title>Something else</title>Another page.</html>")),
            Some(site_ctl()),
        )
        .ooni(Some("inconsistent"), b("dns"), Some(false))
        .verdict(Blocked, &["http.diff"]),
        row(
            "a CDN's answer without evidence either way, the GET there times out: not blamed, not forged",
            HTTP,
            obs()
                .resolve(HOST, 0, &[CDN])
                .connect("151.101.1.67:80", 0, None)
                .get_fails(HTTP, "151.101.1.67:80", 0, Failure::Timeout),
            Some(site_ctl()),
        )
        .ooni(Some("inconsistent"), b("dns"), Some(false))
        .verdict(Unknown, &[])
        .says("151.101.1.67 is not among the control's addresses for www.example.com and nothing ties it to the site or against it")
        .never_says("is not the site's address as far as the DNS evidence goes"),
        row(
            "an answer whose certificate is for another name, the GET there is reset: the DNS method's doing",
            HTTP,
            obs()
                .resolve(HOST, 0, &[OTHER])
                .connect("31.13.94.37:80", 0, None)
                .get_fails(HTTP, "31.13.94.37:80", 0, Failure::ConnectionReset),
            Some(site_ctl().tls_fails("31.13.94.37:443", HOST, "ssl_invalid_hostname")),
        )
        .ooni(Some("inconsistent"), b("dns"), Some(false))
        .verdict(Blocked, &["dns.forged"])
        .says("31.13.94.37 is not the site's address as far as the DNS evidence goes"),
    ]);
}

/// Addresses that lead nowhere (`dead_ends`) are judged by failures that say whose address it
/// is: "no route" from the probe's network says nothing of the kind.
#[test]
fn dead_ends_need_a_failure_that_names_the_address() {
    use Status::*;
    check(vec![row(
        "the probe has no route to its answer, the control cannot connect to it either",
        HTTP,
        obs().resolve(HOST, 0, &[OTHER]).connect(
            "31.13.94.37:80",
            0,
            Some(Failure::HostUnreachable),
        ),
        Some(site_ctl().connect_fails("31.13.94.37:80", "generic_timeout_error")),
    )
    .ooni(Some("inconsistent"), b("dns"), Some(false))
    .verdict(Unknown, &[])
    .says("unreachable from the probe's network")
    .never_says("neither the probe nor the control")]);
}
