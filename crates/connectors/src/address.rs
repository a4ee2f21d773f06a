//! Which network addresses outgoing HTTP may reach. By default nothing internal: loopback,
//! private, link-local (the cloud metadata address 169.254.169.254 among them), unique-local
//! IPv6, CGNAT, multicast and unspecified addresses are refused, IPv4-mapped IPv6 included. The
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

fn is_internal_v4(address: Ipv4Addr) -> bool {
    let [a, b, ..] = address.octets();
    address.is_loopback()
        || address.is_private()
        || address.is_link_local()
        || address.is_unspecified()
        || address.is_broadcast()
        || address.is_multicast()
        || a == 0
        || (a == 100 && (64..128).contains(&b))
        || (a == 192 && b == 0 && address.octets()[2] == 0)
        || a >= 240
}

fn is_internal_v6(address: Ipv6Addr) -> bool {
    let first = address.segments()[0];
    address.is_loopback()
        || address.is_unspecified()
        || address.is_multicast()
        || (first & 0xfe00) == 0xfc00
        || (first & 0xffc0) == 0xfe80
        || address
            .to_ipv4()
            .is_some_and(|v4| address.segments()[..6].iter().all(|s| *s == 0) && is_internal_v4(v4))
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
        ] {
            assert!(!allowed(address), "{address} must be refused");
        }
        for address in [
            "93.184.216.34",
            "8.8.8.8",
            "2606:4700::1111",
            "::ffff:93.184.216.34",
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
