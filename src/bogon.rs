//! Reserved addresses ("bogons"): private, loopback, link-local, shared, benchmarking,
//! documentation, multicast and other ranges no public site is served from. A DNS answer in
//! one is evidence of a lie; a helper refuses to connect to one (it must not become a proxy
//! into its own network). Testbeds built on such ranges declare them routable.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

/// True when `ip` is in a range no public site is served from.
pub fn is_bogon(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4_bogon(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4_bogon(v4),
            None => v6_bogon(v6),
        },
    }
}

/// `is_bogon`, except inside the `routable` ranges (testbeds).
pub fn is_bogon_except(ip: IpAddr, routable: &[IpNet]) -> bool {
    is_bogon(ip) && !routable.iter().any(|n| n.contains(&ip))
}

fn v4_bogon(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    a == 0                                   // "this network"
        || a == 10                           // private
        || a == 127                          // loopback
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || (a == 169 && b == 254)            // link-local
        || (a == 172 && (16..32).contains(&b)) // private
        || (a == 192 && b == 0 && c == 0)    // IETF protocol assignments
        || (a == 192 && b == 0 && c == 2)    // TEST-NET-1
        || (a == 192 && b == 88 && c == 99) // 6to4 relay anycast
        || (a == 192 && b == 168)            // private
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || (a == 198 && b == 51 && c == 100) // TEST-NET-2
        || (a == 203 && b == 0 && c == 113)  // TEST-NET-3
        || a >= 224 // multicast, reserved, broadcast
}

fn v6_bogon(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    ip.is_unspecified()
        || ip.is_loopback()
        || (s[0] & 0xfe00) == 0xfc00        // unique local
        || (s[0] & 0xffc0) == 0xfe80        // link-local
        || (s[0] & 0xff00) == 0xff00        // multicast
        || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
        || (s[0] == 0x0100 && s[1] == 0 && s[2] == 0 && s[3] == 0) // discard-only
        || (s[0] == 0x2001 && s[1] < 0x0200 && s[1] != 0) // IETF protocol assignments (not Teredo)
        || s[0] == 0 // IPv4-compatible and other reserved ::/8 forms
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
    fn testbed_ranges_are_routable() {
        let nets: Vec<IpNet> = vec!["198.18.0.0/15".parse().unwrap()];
        assert!(!is_bogon_except("198.18.1.1".parse().unwrap(), &nets));
        assert!(is_bogon_except("10.0.0.1".parse().unwrap(), &nets));
    }
}
