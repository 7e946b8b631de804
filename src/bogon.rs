//! Reserved addresses ("bogons"): private, loopback, link-local, shared, benchmarking,
//! documentation, multicast, NAT64, 6to4, Teredo and other ranges no public site is served
//! from. A DNS answer in one is evidence of a lie; a helper refuses to connect to one (it must
//! not become a proxy into its own network), nor to any of its own interface addresses
//! (`own`). Testbeds built on such ranges declare them routable.

mod own;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::LazyLock;

use ipnet::{IpNet, Ipv6Net};

/// True when `ip` is in a range no public site is served from.
pub fn is_bogon(ip: IpAddr) -> bool {
    kind(ip).is_some()
}

/// Why a helper refuses to connect to `ip`: a reserved range or one of its own addresses.
pub fn helper_refusal(ip: IpAddr) -> Option<&'static str> {
    if is_bogon(ip) {
        Some("a private or reserved address")
    } else if own::is_own(ip) {
        Some("one of the helper's own addresses")
    } else {
        None
    }
}

/// `is_bogon`, except inside the `routable` ranges (testbeds).
pub fn is_bogon_except(ip: IpAddr, routable: &[IpNet]) -> bool {
    is_bogon(ip) && !routable.iter().any(|n| n.contains(&ip))
}

/// The name of the reserved range `ip` is in ("loopback", "private", ...), or `None` for an
/// address a public site may be served from. An IPv6 form that carries an IPv4 address
/// (IPv4-mapped, NAT64, 6to4, Teredo) is named by the embedded IPv4 address's range when that
/// is reserved, else by the form itself.
pub fn kind(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => v4_kind(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4_kind(v4),
            None => v6_kind(v6),
        },
    }
}

fn v4_kind(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    Some(match (a, b, c) {
        (0, ..) => "\"this network\"",
        (10, ..) | (192, 168, _) => "private",
        (172, 16..=31, _) => "private",
        (127, ..) => "loopback",
        (100, 64..=127, _) => "shared (CGNAT)",
        (169, 254, _) => "link-local",
        (192, 0, 0) => "IETF protocol assignment",
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => "documentation (TEST-NET)",
        (192, 88, 99) => "6to4 relay anycast",
        (198, 18..=19, _) => "benchmarking",
        (224..=239, ..) => "multicast",
        (240.., ..) => "reserved",
        _ => return None,
    })
}

/// Where an IPv6 form carries an IPv4 address.
#[derive(Clone, Copy)]
enum Embeds {
    Nothing,
    /// The last 32 bits (RFC 6052).
    Nat64,
    /// Bits 16..48 (RFC 3056).
    SixToFour,
    /// The server at bits 32..64, the client as the last 32 bits inverted (RFC 4380).
    Teredo,
}

/// IPv6 special-purpose ranges (IANA registry), first match wins. NAT64, 6to4 and Teredo are
/// all reserved: on a host with a NAT64 gateway or a 6to4/Teredo relay each reaches the IPv4
/// address it embeds, and no public site is published at one (a DNS64 answer is synthesized
/// by a resolver, never served). A helper is a public host and refuses all of them; the
/// embedded address only sharpens the name given.
const V6_RANGES: &[(&str, &str, Embeds)] = &[
    ("::/128", "unspecified", Embeds::Nothing),
    ("::1/128", "loopback", Embeds::Nothing),
    ("64:ff9b::/96", "NAT64", Embeds::Nat64),
    ("64:ff9b:1::/48", "NAT64 (local-use)", Embeds::Nat64),
    ("::/8", "reserved", Embeds::Nothing), // IPv4-compatible, SIIT and other ::/8 forms
    ("100::/64", "discard-only", Embeds::Nothing),
    ("2001::/32", "Teredo", Embeds::Teredo),
    ("2001::/23", "IETF protocol assignment", Embeds::Nothing),
    ("2001:db8::/32", "documentation", Embeds::Nothing),
    ("2002::/16", "6to4", Embeds::SixToFour),
    ("3fff::/20", "documentation", Embeds::Nothing),
    ("5f00::/16", "segment routing (SRv6 SID)", Embeds::Nothing),
    ("fc00::/7", "unique-local", Embeds::Nothing),
    ("fe80::/10", "link-local", Embeds::Nothing),
    ("fec0::/10", "site-local (deprecated)", Embeds::Nothing),
    ("ff00::/8", "multicast", Embeds::Nothing),
];

fn v6_ranges() -> &'static [(Ipv6Net, &'static str, Embeds)] {
    static PARSED: LazyLock<Vec<(Ipv6Net, &'static str, Embeds)>> = LazyLock::new(|| {
        V6_RANGES
            .iter()
            .map(|&(net, name, embeds)| (net.parse().expect("a valid range"), name, embeds))
            .collect()
    });
    &PARSED
}

fn v6_kind(ip: Ipv6Addr) -> Option<&'static str> {
    let (_, name, embeds) = v6_ranges().iter().find(|(net, ..)| net.contains(&ip))?;
    let bits = ip.to_bits();
    let v4 = |shift: u32| Ipv4Addr::from_bits((bits >> shift) as u32);
    let embedded = match embeds {
        Embeds::Nothing => None,
        Embeds::Nat64 => v4_kind(v4(0)),
        Embeds::SixToFour => v4_kind(v4(80)),
        Embeds::Teredo => v4_kind(Ipv4Addr::from_bits(!(bits as u32))).or(v4_kind(v4(64))),
    };
    Some(embedded.unwrap_or(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        let cases = [
            ("127.0.0.1", true),
            ("10.1.2.3", true),
            ("172.16.0.1", true),
            ("172.32.0.1", false),
            ("192.168.1.1", true),
            ("100.64.0.1", true),
            ("100.128.0.1", false),
            ("169.254.1.1", true),
            ("198.18.0.5", true),
            ("198.20.0.5", false),
            ("0.1.2.3", true),
            ("224.0.0.1", true),
            ("243.185.187.39", true),
            ("8.7.198.45", false),
            ("93.184.215.14", false),
            ("::1", true),
            ("::", true),
            ("fd00::1", true),
            ("fe80::1", true),
            ("2001:db8::1", true),
            ("::ffff:10.0.0.1", true),
            ("::ffff:93.184.215.14", false),
            ("2606:4700::1111", false),
            // Every IPv6 special-purpose range, whatever it embeds.
            ("64:ff9b::a9fe:a9fe", true),
            ("64:ff9b::808:808", true),
            ("64:ff9b:1::1", true),
            ("64:ff9b:1:ffff::808:808", true),
            ("64:ff9a::1", true), // still ::/8
            ("2002:808:808::1", true),
            ("2002:a9fe:a9fe::1", true),
            ("2001:0:4136:e378:8000:63bf:3fff:fdd2", true),
            ("2001:0:ffff:ffff::1", true),
            ("2001:1::1", true),
            ("2001:200::1", false),
            ("2003::1", false),
            ("fec0::1", true),
            ("feff:ffff::1", true),
            ("3fff::1", true),
            ("3fff:fff:ffff::1", true),
            ("3fff:1000::1", false),
            ("5f00::1", true),
            ("5f00:ffff::1", true),
            ("5f01::1", false),
            ("100::1", true),
            ("100:0:0:1::1", false),
        ];
        for (ip, want) in cases {
            assert_eq!(is_bogon(ip.parse().unwrap()), want, "{ip}");
        }
    }

    #[test]
    fn kinds_name_the_range() {
        let cases = [
            ("127.0.0.1", Some("loopback")),
            ("192.168.1.1", Some("private")),
            ("100.64.0.1", Some("shared (CGNAT)")),
            ("198.18.0.5", Some("benchmarking")),
            ("243.185.187.39", Some("reserved")),
            ("::ffff:10.0.0.1", Some("private")),
            ("fd00::1", Some("unique-local")),
            ("93.184.215.14", None),
            // Every IPv4 range by its name.
            ("0.1.2.3", Some("\"this network\"")),
            ("10.1.2.3", Some("private")),
            ("172.31.255.1", Some("private")),
            ("169.254.1.1", Some("link-local")),
            ("192.0.0.8", Some("IETF protocol assignment")),
            ("192.0.2.1", Some("documentation (TEST-NET)")),
            ("198.51.100.1", Some("documentation (TEST-NET)")),
            ("203.0.113.1", Some("documentation (TEST-NET)")),
            ("192.88.99.1", Some("6to4 relay anycast")),
            ("224.0.0.251", Some("multicast")),
            ("255.255.255.255", Some("reserved")),
            // The IPv4 address embedded in NAT64, 6to4 and Teredo forms names the range.
            ("64:ff9b::a9fe:a9fe", Some("link-local")),
            ("64:ff9b::7f00:1", Some("loopback")),
            ("64:ff9b::808:808", Some("NAT64")),
            ("64:ff9b:1::a00:1", Some("private")),
            ("64:ff9b:1::808:808", Some("NAT64 (local-use)")),
            ("2002:a9fe:a9fe::1", Some("link-local")),
            ("2002:c0a8:101:1::1", Some("private")),
            ("2002:808:808::1", Some("6to4")),
            // Teredo: the client is the last 32 bits inverted (0x56fefefe = !169.1.1.1 ...).
            ("2001:0:808:808::5601:101", Some("link-local")), // client !0x5601_0101 = 169.254.254.254
            ("2001:0:7f00:1::f7f7:f7f7", Some("loopback")),   // server 127.0.0.1
            ("2001:0:808:808::f7f7:f7f7", Some("Teredo")),    // 8.8.8.8 both
            ("fec0::1", Some("site-local (deprecated)")),
            ("3fff::1", Some("documentation")),
            ("5f00::1", Some("segment routing (SRv6 SID)")),
        ];
        for (ip, want) in cases {
            assert_eq!(kind(ip.parse().unwrap()), want, "{ip}");
        }
    }

    #[test]
    fn a_helper_refuses_reserved_addresses_and_says_why() {
        let refusal = |ip: &str| helper_refusal(ip.parse().unwrap());
        assert_eq!(refusal("10.0.0.1"), Some("a private or reserved address"));
        assert_eq!(refusal("::1"), Some("a private or reserved address"));
        assert_eq!(refusal("93.184.215.14"), None);
    }

    #[test]
    fn testbed_ranges_are_routable() {
        let nets: Vec<IpNet> = vec!["198.18.0.0/15".parse().unwrap()];
        assert!(!is_bogon_except("198.18.1.1".parse().unwrap(), &nets));
        assert!(is_bogon_except("10.0.0.1".parse().unwrap(), &nets));
    }
}
