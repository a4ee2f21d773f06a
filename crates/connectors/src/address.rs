//! Which network addresses outgoing HTTP may reach. By default nothing internal: loopback,
//! private, link-local (the cloud metadata address 169.254.169.254 among them), unique-local
//! IPv6, CGNAT, multicast, unspecified, and the rest of IANA's special-purpose registries for
//! IPv4 and IPv6 (benchmarking, documentation, 6to4, Teredo, site-local, ...) are refused; an
//! IPv6 address that carries an IPv4 one (mapped, NAT64, ISATAP) is judged by that. The
//! check runs on every address a name resolves to, i.e. on the address actually connected, so a
//! name that re-resolves to an internal address (DNS rebinding) fails too. The operator can
//! allow hosts or ranges (`BATON_HTTP_ALLOW`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use ipnet::IpNet;

/// Allowed exceptions to the internal-address ban.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AddressPolicy {
    ranges: Vec<IpNet>,
    hosts: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is neither an address, a range (CIDR) nor a host name")]
pub struct PolicyError(pub String);

impl AddressPolicy {
    /// Parses a comma-separated list of addresses, CIDR ranges and host names.
    pub fn parse(text: &str) -> Result<Self, PolicyError> {
        let mut policy = Self::default();
        for entry in text
            .split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
        {
            if let Ok(range) = IpNet::from_str(entry) {
                policy.ranges.push(range);
            } else if let Ok(address) = IpAddr::from_str(entry) {
                policy.ranges.push(IpNet::from(address));
            } else if entry
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
                && entry.contains(|c: char| c.is_ascii_alphabetic())
            {
                policy.hosts.push(entry.to_ascii_lowercase());
            } else {
                return Err(PolicyError(entry.to_owned()));
            }
        }
        Ok(policy)
    }

    pub fn allows_host(&self, host: &str) -> bool {
        self.hosts
            .iter()
            .any(|allowed| allowed.eq_ignore_ascii_case(host.trim_end_matches('.')))
    }

    /// Of the addresses `host` resolved to, those a connection may be made to: all of them for
    /// a host the operator allowed by name, else the ones the ranges allow.
    pub fn keep_allowed(
        &self,
        host: &str,
        resolved: &[std::net::SocketAddr],
    ) -> Vec<std::net::SocketAddr> {
        if self.allows_host(host) {
            return resolved.to_vec();
        }
        resolved
            .iter()
            .copied()
            .filter(|socket| self.allows(socket.ip()))
            .collect()
    }

    /// Whether a connection to `address` may be made.
    pub fn allows(&self, address: IpAddr) -> bool {
        let address = canonical(address);
        !is_internal(address) || self.ranges.iter().any(|range| range.contains(&address))
    }
}

/// IPv4-mapped IPv6 (`::ffff:127.0.0.1`) is the IPv4 address it carries.
fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, IpAddr::V4),
        v4 => v4,
    }
}

fn is_internal(address: IpAddr) -> bool {
    match address {
        IpAddr::V4(v4) => is_internal_v4(v4),
        IpAddr::V6(v6) => is_internal_v6(v6),
    }
}

/// IANA's IPv4 special-purpose address registry, whole, and multicast.
const SPECIAL_V4: [(Ipv4Addr, u8); 19] = [
    (Ipv4Addr::new(0, 0, 0, 0), 8),
    (Ipv4Addr::new(10, 0, 0, 0), 8),
    (Ipv4Addr::new(100, 64, 0, 0), 10),
    (Ipv4Addr::new(127, 0, 0, 0), 8),
    (Ipv4Addr::new(169, 254, 0, 0), 16),
    (Ipv4Addr::new(172, 16, 0, 0), 12),
    (Ipv4Addr::new(192, 0, 0, 0), 24),
    (Ipv4Addr::new(192, 0, 2, 0), 24),
    (Ipv4Addr::new(192, 31, 196, 0), 24),
    (Ipv4Addr::new(192, 52, 193, 0), 24),
    (Ipv4Addr::new(192, 88, 99, 0), 24),
    (Ipv4Addr::new(192, 168, 0, 0), 16),
    (Ipv4Addr::new(192, 175, 48, 0), 24),
    (Ipv4Addr::new(198, 18, 0, 0), 15),
    (Ipv4Addr::new(198, 51, 100, 0), 24),
    (Ipv4Addr::new(203, 0, 113, 0), 24),
    (Ipv4Addr::new(224, 0, 0, 0), 4),
    (Ipv4Addr::new(240, 0, 0, 0), 4),
    (Ipv4Addr::new(255, 255, 255, 255), 32),
];

/// IANA's IPv6 special-purpose address registry, whole, with site-local and multicast (the
/// well-known NAT64 prefix is judged by the IPv4 address it carries instead).
const SPECIAL_V6: [(Ipv6Addr, u8); 17] = [
    (Ipv6Addr::UNSPECIFIED, 128),
    (Ipv6Addr::LOCALHOST, 128),
    // IPv4-compatible (deprecated) and IPv4-mapped; mapped ones are made IPv4 before this.
    (Ipv6Addr::new(0, 0, 0, 0, 0, 0, 0, 0), 96),
    (Ipv6Addr::new(0, 0, 0, 0, 0, 0xffff, 0, 0), 96),
    // IPv4-translated (SIIT).
    (Ipv6Addr::new(0, 0, 0, 0, 0xffff, 0, 0, 0), 96),
    // Local-use NAT64.
    (Ipv6Addr::new(0x64, 0xff9b, 1, 0, 0, 0, 0, 0), 48),
    // Discard-only and dummy prefixes.
    (Ipv6Addr::new(0x100, 0, 0, 0, 0, 0, 0, 0), 64),
    (Ipv6Addr::new(0x100, 0, 0, 1, 0, 0, 0, 0), 64),
    // IETF protocol assignments: Teredo, benchmarking, ORCHID, AMT, ...
    (Ipv6Addr::new(0x2001, 0, 0, 0, 0, 0, 0, 0), 23),
    (Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0), 32),
    // 6to4.
    (Ipv6Addr::new(0x2002, 0, 0, 0, 0, 0, 0, 0), 16),
    (Ipv6Addr::new(0x2620, 0x4f, 0x8000, 0, 0, 0, 0, 0), 48),
    (Ipv6Addr::new(0x3fff, 0, 0, 0, 0, 0, 0, 0), 20),
    (Ipv6Addr::new(0x5f00, 0, 0, 0, 0, 0, 0, 0), 16),
    (Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0), 7),
    // Link-local and the deprecated site-local.
    (Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0), 9),
    (Ipv6Addr::new(0xff00, 0, 0, 0, 0, 0, 0, 0), 8),
];

fn is_internal_v4(address: Ipv4Addr) -> bool {
    SPECIAL_V4.iter().any(|(network, prefix)| {
        ipnet::Ipv4Net::new(*network, *prefix).is_ok_and(|range| range.contains(&address))
    })
}

fn is_internal_v6(address: Ipv6Addr) -> bool {
    let segments = address.segments();
    let carried = Ipv4Addr::from(((segments[6] as u32) << 16) | segments[7] as u32);
    // Well-known-prefix NAT64 reaches the IPv4 address it carries, and nothing else.
    if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return is_internal_v4(carried);
    }
    // An ISATAP interface id names the IPv4 tunnel end it reaches.
    let isatap = matches!(segments[4], 0 | 0x200) && segments[5] == 0x5efe;
    (isatap && is_internal_v4(carried))
        || SPECIAL_V6.iter().any(|(network, prefix)| {
            ipnet::Ipv6Net::new(*network, *prefix).is_ok_and(|range| range.contains(&address))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed(text: &str) -> bool {
        AddressPolicy::default().allows(text.parse().unwrap())
    }

    #[test]
    fn internal_addresses_are_refused_by_default() {
        for address in [
            "127.0.0.1",
            "127.8.9.10",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::127.0.0.1",
            // IPv6 forms that carry an IPv4 address, and reserved ranges.
            "64:ff9b::7f00:1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b:1::7f00:1",
            "2002:7f00:1::1",
            "2002:5db8:d822::1",
            "::ffff:0:7f00:1",
            "2001:0:4136:e378:8000:63bf:80ff:fffe",
            "2001:db8::1",
            "fe80::200:5efe:7f00:1",
            "fe80::200:5efe:5db8:d822",
            "2606:4700::200:5efe:a00:1",
            "fec0::1",
            "ff02::1",
            "198.18.0.1",
            "198.19.255.254",
            "192.0.2.1",
            "203.0.113.9",
        ] {
            assert!(!allowed(address), "{address} must be refused");
        }
        for address in [
            "93.184.216.34",
            "8.8.8.8",
            "2606:4700::1111",
            "::ffff:93.184.216.34",
            "64:ff9b::5db8:d822",
            "2a00:1450:4001::200e",
        ] {
            assert!(allowed(address), "{address} must be allowed");
        }
    }

    #[test]
    fn the_operator_can_allow_ranges_and_hosts() {
        let policy = AddressPolicy::parse("127.0.0.1, 10.0.0.0/8,intranet.example.com").unwrap();
        assert!(policy.allows("127.0.0.1".parse().unwrap()));
        assert!(policy.allows("::ffff:127.0.0.1".parse().unwrap()));
        assert!(!policy.allows("127.0.0.2".parse().unwrap()));
        assert!(policy.allows("10.9.8.7".parse().unwrap()));
        assert!(!policy.allows("192.168.0.1".parse().unwrap()));
        assert!(policy.allows_host("Intranet.Example.com"));
        assert_eq!(
            AddressPolicy::parse("not a host!"),
            Err(PolicyError("not a host!".into()))
        );
    }
}
