//! Where webhooks may go. Production: https only, and never to an address in any of
//! IANA's special-purpose registries (loopback, private, link-local and cloud metadata,
//! shared, benchmarking, documentation, translation and 6to4 prefixes that embed IPv4,
//! site-local, multicast, reserved) — checked on the addresses the name resolves to at
//! send time (a resolver hook inside the HTTP client), not only when the URL is saved,
//! and never through a proxy from the environment. The local stack may allow loopback.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use ipnet::IpNet;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// The policy in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TargetPolicy {
    /// Allow `http://` (local stack only).
    pub allow_http: bool,
    /// Allow loopback addresses (local stack only).
    pub allow_loopback: bool,
}

impl TargetPolicy {
    /// Production: https, public addresses only.
    pub const PRODUCTION: TargetPolicy = TargetPolicy { allow_http: false, allow_loopback: false };
    /// The local stack: http and loopback allowed, other private ranges still refused.
    pub const LOCAL: TargetPolicy = TargetPolicy { allow_http: true, allow_loopback: true };
}

/// Every special-purpose block of IANA's IPv4 Special-Purpose Address Registry and its
/// multicast space (whether the registry calls it globally reachable or not: none of them
/// is a reseller's webhook server).
const SPECIAL_V4: &[&str] = &[
    "0.0.0.0/8",       // "this network"
    "10.0.0.0/8",      // private
    "100.64.0.0/10",   // shared address space (carrier-grade NAT)
    "127.0.0.0/8",     // loopback
    "169.254.0.0/16",  // link local, cloud metadata
    "172.16.0.0/12",   // private
    "192.0.0.0/24",    // IETF protocol assignments (DS-Lite, NAT64 discovery, ...)
    "192.0.2.0/24",    // documentation (TEST-NET-1)
    "192.31.196.0/24", // AS112
    "192.52.193.0/24", // AMT
    "192.88.99.0/24",  // 6to4 relay anycast (deprecated)
    "192.168.0.0/16",  // private
    "192.175.48.0/24", // AS112 direct delegation
    "198.18.0.0/15",   // benchmarking
    "198.51.100.0/24", // documentation (TEST-NET-2)
    "203.0.113.0/24",  // documentation (TEST-NET-3)
    "224.0.0.0/4",     // multicast
    "240.0.0.0/4",     // reserved, and the limited broadcast address
];

/// Every block of IANA's IPv6 Special-Purpose Address Registry, the deprecated ones it
/// lists elsewhere (site-local, IPv4-compatible), and multicast. Addresses outside
/// 2000::/3 (global unicast) are refused as well, so blocks IANA reserves later are too.
const SPECIAL_V6: &[&str] = &[
    "::/96",             // IPv4-compatible (deprecated), loopback and unspecified
    "::ffff:0:0/96",     // IPv4-mapped (checked as the IPv4 address first)
    "64:ff9b::/96",      // IPv4/IPv6 translation: reaches any IPv4, private included
    "64:ff9b:1::/48",    // local-use IPv4/IPv6 translation
    "100::/64",          // discard only
    "100:0:0:1::/64",    // dummy prefix
    "2001::/23",         // IETF protocol assignments (Teredo, benchmarking, ORCHID, ...)
    "2001:db8::/32",     // documentation
    "2002::/16",         // 6to4: embeds any IPv4, private included
    "2620:4f:8000::/48", // AS112 direct delegation
    "3fff::/20",         // documentation
    "5f00::/16",         // segment routing SIDs
    "fc00::/7",          // unique local (fd00:ec2::254 metadata included)
    "fe80::/10",         // link local
    "fec0::/10",         // site local (deprecated)
    "ff00::/8",          // multicast
];

fn in_any(ip: IpAddr, blocks: &[&str]) -> bool {
    blocks.iter().filter_map(|b| b.parse::<IpNet>().ok()).any(|net| net.contains(&ip))
}

/// Whether an address is one webhooks must never reach: any special-purpose address
/// (loopback only where the policy allows it).
pub fn forbidden(ip: IpAddr, policy: TargetPolicy) -> bool {
    if policy.allow_loopback && ip.is_loopback() {
        return false;
    }
    match ip {
        IpAddr::V4(_) => in_any(ip, SPECIAL_V4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return forbidden(IpAddr::V4(v4), policy);
            }
            let global_unicast = (v6.segments()[0] & 0xe000) == 0x2000;
            !global_unicast || in_any(ip, SPECIAL_V6)
        }
    }
}

/// Checks a URL before any connection: scheme, host present, and an IP-literal host
/// against the policy (names are checked when they resolve).
pub fn check_url(url: &str, policy: TargetPolicy) -> Result<reqwest::Url, String> {
    let u = reqwest::Url::parse(url.trim()).map_err(|e| format!("not a URL: {e}"))?;
    match u.scheme() {
        "https" => {}
        "http" if policy.allow_http => {}
        s => return Err(format!("scheme {s} is not allowed: use https")),
    }
    if !u.username().is_empty() || u.password().is_some() {
        return Err("URLs with credentials are not allowed".into());
    }
    match u.host() {
        None => return Err("URL has no host".into()),
        Some(url::Host::Ipv4(ip)) if forbidden(IpAddr::V4(ip), policy) => {
            return Err(format!("address {ip} is not allowed"))
        }
        Some(url::Host::Ipv6(ip)) if forbidden(IpAddr::V6(ip), policy) => {
            return Err(format!("address {ip} is not allowed"))
        }
        Some(url::Host::Domain(d)) if d.eq_ignore_ascii_case("localhost") && !policy.allow_loopback => {
            return Err("localhost is not allowed".into())
        }
        _ => {}
    }
    Ok(u)
}

/// A resolver that refuses names resolving to forbidden addresses (all of them must be
/// allowed, so a name cannot mix a public and a private address).
#[derive(Debug, Clone)]
pub struct GuardedResolver {
    policy: TargetPolicy,
}

impl GuardedResolver {
    /// For `policy`.
    pub fn new(policy: TargetPolicy) -> Arc<GuardedResolver> {
        Arc::new(GuardedResolver { policy })
    }
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy;
        let host = name.as_str().to_string();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if addrs.is_empty() {
                return Err(format!("{host} does not resolve").into());
            }
            if let Some(bad) = addrs.iter().find(|a| forbidden(a.ip(), policy)) {
                return Err(format!("{host} resolves to {} which webhooks may not reach", bad.ip()).into());
            }
            let it: Addrs = Box::new(addrs.into_iter());
            Ok(it)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))
    }

    #[test]
    fn forbidden_ranges() {
        let p = TargetPolicy::PRODUCTION;
        for bad in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "fd00:ec2::254",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a00:1",
            "::",
            "::7f00:1",
            "::a9fe:a9fe",
            "2002:7f00:1::",
            "2002:a9fe:a9fe::1",
            "64:ff9b::7f00:1",
            "64:ff9b:1::a00:1",
            "fec0::1",
            "100.64.0.1",
            "100.127.255.254",
            "198.18.0.1",
            "198.19.255.255",
            "192.0.2.1",
            "198.51.100.7",
            "203.0.113.9",
            "192.88.99.1",
            "2001:db8::1",
            "2001::1",
            "3fff::1",
            "100::1",
            "ff02::1",
            "4000::1",
        ] {
            assert!(forbidden(ip(bad), p), "{bad}");
        }
        for good in
            ["8.8.8.8", "102.89.1.1", "172.32.0.1", "100.128.0.1", "198.20.0.1", "2001:4860:4860::8888", "2c0f:f248::1"]
        {
            assert!(!forbidden(ip(good), p), "{good}");
        }
        assert!(!forbidden(ip("127.0.0.1"), TargetPolicy::LOCAL));
        assert!(forbidden(ip("10.0.0.1"), TargetPolicy::LOCAL));
    }

    #[test]
    fn urls() {
        let p = TargetPolicy::PRODUCTION;
        assert!(check_url("https://hooks.example.com/kobo", p).is_ok());
        assert!(check_url("http://hooks.example.com/kobo", p).is_err());
        assert!(check_url("https://127.0.0.1/x", p).is_err());
        assert!(check_url("https://[::1]/x", p).is_err());
        assert!(check_url("https://169.254.169.254/latest/meta-data", p).is_err());
        assert!(check_url("https://localhost/x", p).is_err());
        assert!(check_url("https://user:pw@example.com/x", p).is_err());
        assert!(check_url("ftp://example.com", p).is_err());
        assert!(check_url("nonsense", p).is_err());
        assert!(check_url("http://127.0.0.1:9000/hook", TargetPolicy::LOCAL).is_ok());
        // Other spellings of the same addresses (the URL parser normalizes them).
        for bad in [
            "https://2130706433/x",
            "https://0x7f.1/x",
            "https://017700000001/x",
            "https://[::ffff:7f00:1]/x",
            "https://[::127.0.0.1]/x",
            "https://[2002:7f00:1::]/x",
            "https://[64:ff9b::a9fe:a9fe]/x",
            "https://[64:ff9b:1::a00:1]/x",
            "https://[fec0::1]/x",
            "https://100.64.0.1/x",
            "https://198.18.0.1/x",
        ] {
            assert!(check_url(bad, p).is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn names_are_checked_when_they_resolve() {
        let r = GuardedResolver::new(TargetPolicy::PRODUCTION);
        let name: Name = "localhost".parse().unwrap_or_else(|_| panic!("name"));
        assert!(r.resolve(name).await.is_err());
        let r = GuardedResolver::new(TargetPolicy::LOCAL);
        let name: Name = "localhost".parse().unwrap_or_else(|_| panic!("name"));
        assert!(r.resolve(name).await.is_ok());
    }
}
