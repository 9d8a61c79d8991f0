//! Where deliveries may go: the special-purpose address ranges an endpoint must never
//! reach, and the optional port allow-list, decided for every connection.
//!
//! A partner chooses the URL, so the URL is attacker input: without this, an endpoint
//! pointing at `169.254.169.254` or `localhost:5432` turns Sluice into a proxy into
//! the platform's own network. The check runs twice: on IP literals before sending,
//! and in the resolver on every address a name resolves to (so DNS rebinding, a name
//! that resolves to a public address when saved and a private one later, gains
//! nothing).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Addresses a partner's endpoint must not reach: this machine, private networks,
/// link-local (cloud metadata lives at 169.254.169.254), multicast, and every IPv6
/// form that embeds or tunnels to an IPv4 address (which could be a private one).
pub fn is_blocked(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_blocked_v4(v4),
        IpAddr::V6(v6) => is_blocked_v6(v6),
    }
}

fn is_blocked_v4(v4: Ipv4Addr) -> bool {
    let o = v4.octets();
    v4.is_loopback()
        || v4.is_private()
        || v4.is_link_local()
        || v4.is_unspecified()
        || v4.is_broadcast()
        || v4.is_multicast()
        || o[0] == 0 // 0.0.0.0/8, "this network"
        || (o[0] == 100 && (o[1] & 0xc0) == 64) // 100.64.0.0/10, carrier-grade NAT
        || (o[0] == 192 && o[1] == 0 && o[2] == 0) // 192.0.0.0/24, IETF protocol assignments
        || (o[0] == 192 && o[1] == 0 && o[2] == 2) // 192.0.2.0/24, documentation
        || (o[0] == 198 && o[1] == 51 && o[2] == 100) // 198.51.100.0/24, documentation
        || (o[0] == 203 && o[1] == 0 && o[2] == 113) // 203.0.113.0/24, documentation
        || (o[0] == 192 && o[1] == 88 && o[2] == 99) // 192.88.99.0/24, 6to4 relay anycast
        || (o[0] == 198 && (o[1] & 0xfe) == 18) // 198.18.0.0/15, benchmarking
        || o[0] >= 240 // 240.0.0.0/4, reserved
}

fn is_blocked_v6(v6: Ipv6Addr) -> bool {
    let seg = v6.segments();
    // ::ffff:a.b.c.d (IPv4-mapped) is the IPv4 address itself: judge that.
    if let Some(v4) = v6.to_ipv4_mapped() {
        return is_blocked_v4(v4);
    }
    // ::/96 holds ::, ::1 and the deprecated IPv4-compatible ::a.b.c.d, which some
    // stacks still route to the embedded IPv4 address; nothing public lives there.
    let ipv4_compatible = seg[..6].iter().all(|&s| s == 0);
    ipv4_compatible
        || v6.is_multicast() // ff00::/8
        || (seg[..4] == [0, 0, 0, 0] && seg[4] == 0xffff && seg[5] == 0) // ::ffff:0:a.b.c.d, IPv4-translated
        || (seg[0] == 0x64 && seg[1] == 0xff9b) // 64:ff9b::/32: NAT64 (well-known and local-use) reach IPv4
        || (seg[0] == 0x100 && seg[1..4] == [0, 0, 0]) // 100::/64, discard
        || (seg[0] == 0x2001 && seg[1] < 0x200) // 2001::/23, IETF protocol assignments: Teredo 2001::/32 included
        || (seg[0] == 0x2001 && seg[1] == 0x0db8) // 2001:db8::/32, documentation
        || seg[0] == 0x2002 // 2002::/16, 6to4 tunnels to an embedded IPv4 address
        || (seg[0] == 0x3fff && (seg[1] & 0xf000) == 0) // 3fff::/20, documentation
        || seg[0] == 0x5f00 // 5f00::/16, segment routing identifiers
        || (seg[0] & 0xfe00) == 0xfc00 // fc00::/7, unique local
        || (seg[0] & 0xffc0) == 0xfe80 // fe80::/10, link-local
        || (seg[0] & 0xffc0) == 0xfec0 // fec0::/10, deprecated site-local
}

/// The ports endpoints may use. Empty means any port; a platform that only lets
/// partners reach web servers sets `SLUICE_ALLOWED_PORTS=443,80`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowedPorts(Vec<u16>);

impl AllowedPorts {
    pub fn new(ports: Vec<u16>) -> Self {
        Self(ports)
    }

    pub fn allows(&self, port: u16) -> bool {
        self.0.is_empty() || self.0.contains(&port)
    }
}

/// Why a URL may not be sent to before any name is resolved: a blocked IP literal or
/// a port outside the allow-list. `None` when the URL may go ahead (its name is still
/// checked, address by address, in the resolver).
pub fn refusal(url: &str, allow_private: bool, ports: &AllowedPorts) -> Option<String> {
    let parsed = url::Url::parse(url).ok()?;
    if let Some(port) = parsed.port_or_known_default() {
        if !ports.allows(port) {
            return Some(format!("port {port} is not one this Sluice delivers to (SLUICE_ALLOWED_PORTS)"));
        }
    }
    if allow_private {
        return None;
    }
    let ip = match parsed.host()? {
        url::Host::Ipv4(v4) => IpAddr::V4(v4),
        url::Host::Ipv6(v6) => IpAddr::V6(v6),
        url::Host::Domain(_) => return None,
    };
    is_blocked(ip).then(|| format!("{ip} is a private, loopback or link-local address, which is not allowed"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_purpose_addresses_are_blocked() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "198.18.0.1",
            "192.0.2.1",
            "255.255.255.255",
            "::",
            "::1",
            "fe80::1",
            "fd00::1",
            "fc00::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::127.0.0.1",     // IPv4-compatible
            "::a9fe:a9fe",     // ::169.254.169.254
            "::ffff:0:7f00:1", // IPv4-translated
            "64:ff9b::a9fe:a9fe",
            "64:ff9b:1::1",
            "2002:7f00:1::",    // 6to4 of 127.0.0.1
            "2002:c0a8:101::1", // 6to4 of 192.168.1.1
            "2001::1",          // Teredo
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "2001:db8::1",
            "2001:10::1",
            "fec0::1",
            "100::1",
            "3fff::1",
            "5f00::1",
        ] {
            assert!(is_blocked(ip.parse().expect("ip")), "{ip} must be blocked");
        }
        for ip in ["93.184.216.34", "8.8.8.8", "1.1.1.1", "2606:4700::1111", "2a00:1450:4001::200e", "::ffff:8.8.8.8"] {
            assert!(!is_blocked(ip.parse().expect("ip")), "{ip} must be allowed");
        }
    }

    #[test]
    fn literals_and_ports_are_refused_before_sending() {
        let any = AllowedPorts::default();
        assert!(refusal("http://[::ffff:169.254.169.254]/", false, &any).is_some());
        assert!(refusal("http://[2002:a9fe:a9fe::]/", false, &any).is_some());
        assert!(refusal("https://example.com/hook", false, &any).is_none(), "names are judged by the resolver");
        assert!(refusal("http://127.0.0.1:4000/", true, &any).is_none(), "private allowed for development");

        let web = AllowedPorts::new(vec![443]);
        assert!(refusal("https://example.com/hook", false, &web).is_none());
        assert!(refusal("http://example.com/hook", false, &web).is_some(), "port 80 is implied and not allowed");
        assert!(refusal("https://example.com:6379/", true, &web).is_some(), "ports hold even for private targets");
    }
}
