//! Reserved addresses ("bogons"): private, loopback, link-local, shared, benchmarking,
//! documentation, multicast and other ranges no public site is served from. A DNS answer in
//! one is evidence of a lie; a helper refuses to connect to one (it must not become a proxy
//! into its own network). Testbeds built on such ranges declare them routable.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

/// True when `ip` is in a range no public site is served from.
pub fn is_bogon(ip: IpAddr) -> bool {
    kind(ip).is_some()
}

/// `is_bogon`, except inside the `routable` ranges (testbeds).
pub fn is_bogon_except(ip: IpAddr, routable: &[IpNet]) -> bool {
    is_bogon(ip) && !routable.iter().any(|n| n.contains(&ip))
}

/// The name of the reserved range `ip` is in ("loopback", "private", ...), or `None` for an
/// address a public site may be served from. An IPv4-mapped IPv6 address is named by its IPv4
/// address's range.
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

fn v6_kind(ip: Ipv6Addr) -> Option<&'static str> {
    let s = ip.segments();
    Some(if ip.is_unspecified() {
        "unspecified"
    } else if ip.is_loopback() {
        "loopback"
    } else if (s[0] & 0xfe00) == 0xfc00 {
        "unique-local"
    } else if (s[0] & 0xffc0) == 0xfe80 {
        "link-local"
    } else if (s[0] & 0xff00) == 0xff00 {
        "multicast"
    } else if s[0] == 0x2001 && s[1] == 0x0db8 {
        "documentation"
    } else if s[0] == 0x0100 && s[1] == 0 && s[2] == 0 && s[3] == 0 {
        "discard-only"
    } else if s[0] == 0x2001 && s[1] < 0x0200 && s[1] != 0 {
        "IETF protocol assignment" // (not Teredo)
    } else if s[0] == 0 {
        "reserved" // IPv4-compatible and other ::/8 forms
    } else {
        return None;
    })
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
        ];
        for (ip, want) in cases {
            assert_eq!(kind(ip.parse().unwrap()), want, "{ip}");
        }
    }

    #[test]
    fn testbed_ranges_are_routable() {
        let nets: Vec<IpNet> = vec!["198.18.0.0/15".parse().unwrap()];
        assert!(!is_bogon_except("198.18.1.1".parse().unwrap(), &nets));
        assert!(is_bogon_except("10.0.0.1".parse().unwrap(), &nets));
    }
}
