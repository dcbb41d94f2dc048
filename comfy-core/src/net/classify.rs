//! Which IP addresses a URL fetched on someone else's behalf may not reach: loopback, private
//! networks, link-local (with the cloud metadata address 169.254.169.254), carrier-grade NAT,
//! unique-local IPv6, unspecified, multicast, broadcast and reserved ranges, also when written
//! as an IPv4-mapped, IPv4-compatible, NAT64 or 6to4 IPv6 address.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Why `ip` is refused as the target of a guarded fetch, or `None` for a public address.
pub fn refusal(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => refusal_v4(v4),
        IpAddr::V6(v6) => refusal_v6(v6),
    }
}

fn in_v4(ip: Ipv4Addr, net: [u8; 4], prefix: u32) -> bool {
    let mask = if prefix == 0 { 0 } else { u32::MAX << (32 - prefix) };
    u32::from(ip) & mask == u32::from(Ipv4Addr::from(net)) & mask
}

fn refusal_v4(ip: Ipv4Addr) -> Option<&'static str> {
    const TABLE: &[([u8; 4], u32, &str)] = &[
        ([0, 0, 0, 0], 8, "an unspecified (\"this network\") address"),
        ([127, 0, 0, 0], 8, "a loopback address"),
        ([10, 0, 0, 0], 8, "a private address"),
        ([172, 16, 0, 0], 12, "a private address"),
        ([192, 168, 0, 0], 16, "a private address"),
        ([169, 254, 0, 0], 16, "a link-local address (cloud metadata lives here)"),
        ([100, 64, 0, 0], 10, "a carrier-grade NAT (shared) address"),
        ([192, 0, 0, 0], 24, "an IETF protocol address"),
        ([198, 18, 0, 0], 15, "a benchmarking address"),
        ([224, 0, 0, 0], 4, "a multicast address"),
        ([255, 255, 255, 255], 32, "the broadcast address"),
        ([240, 0, 0, 0], 4, "a reserved address"),
    ];
    TABLE.iter().find(|(net, prefix, _)| in_v4(ip, *net, *prefix)).map(|(_, _, why)| *why)
}

fn refusal_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let s = ip.segments();
    if ip.is_unspecified() {
        return Some("an unspecified address");
    }
    if ip.is_loopback() {
        return Some("a loopback address");
    }
    // IPv4 written in IPv6: mapped (::ffff:a.b.c.d), compatible (::a.b.c.d), NAT64 (64:ff9b::/96).
    let embedded = |hi: u16, lo: u16| Ipv4Addr::from(((hi as u32) << 16) | lo as u32);
    if s[0..5] == [0, 0, 0, 0, 0] && (s[5] == 0xffff || s[5] == 0) {
        return refusal_v4(embedded(s[6], s[7]));
    }
    if s[0..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return refusal_v4(embedded(s[6], s[7]));
    }
    // 6to4 (2002:a.b.c.d::/48) reaches the embedded IPv4 address.
    if s[0] == 0x2002 {
        return refusal_v4(embedded(s[1], s[2]));
    }
    match s[0] {
        x if x & 0xffc0 == 0xfe80 => Some("a link-local address"),
        x if x & 0xffc0 == 0xfec0 => Some("a site-local address"),
        x if x & 0xfe00 == 0xfc00 => Some("a unique-local (private) address"),
        x if x & 0xff00 == 0xff00 => Some("a multicast address"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_classified() {
        let refused = [
            "127.0.0.1",
            "127.255.255.254",
            "0.0.0.0",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.100.100.200",
            "224.0.0.1",
            "255.255.255.255",
            "240.0.0.1",
            "::",
            "::1",
            "fe80::1",
            "fc00::1",
            "fd00:ec2::254",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:10.0.0.1",
            "::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::",
            "2002:c0a8:0101::1",
        ];
        for ip in refused {
            let parsed: IpAddr = ip.parse().unwrap();
            assert!(refusal(parsed).is_some(), "{ip} must be refused");
        }
        let allowed = [
            "8.8.8.8",
            "1.1.1.1",
            "172.15.255.255",
            "172.32.0.1",
            "100.63.255.255",
            "100.128.0.1",
            "169.253.0.1",
            "192.169.0.1",
            "2606:4700:4700::1111",
            "2001:4860:4860::8888",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:0808:0808::1",
        ];
        for ip in allowed {
            let parsed: IpAddr = ip.parse().unwrap();
            assert_eq!(refusal(parsed), None, "{ip} is public");
        }
        assert!(refusal("169.254.169.254".parse().unwrap()).unwrap().contains("metadata"));
    }
}
