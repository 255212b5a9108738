//! Where webhooks may go. Production: https only, and never to loopback, private,
//! link-local (cloud metadata included), shared, multicast or unspecified addresses —
//! checked on the addresses the name resolves to at send time (a resolver hook inside
//! the HTTP client), not only when the URL is saved. The local stack may allow loopback.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

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

/// Whether an address is one webhooks must never reach.
pub fn forbidden(ip: IpAddr, policy: TargetPolicy) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            (v4.is_loopback() && !policy.allow_loopback)
                || v4.is_private()
                || v4.is_link_local() // 169.254/16, cloud metadata
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || o[0] == 0
                || (o[0] == 100 && (o[1] & 0xc0) == 64) // 100.64/10 shared address space
                || (o[0] == 192 && o[1] == 0 && o[2] == 0) // 192.0.0/24 protocol assignments
                || o[0] >= 240 // reserved
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return forbidden(IpAddr::V4(v4), policy);
            }
            let seg = v6.segments();
            (v6.is_loopback() && !policy.allow_loopback)
                || v6.is_unspecified()
                || v6.is_multicast()
                || (seg[0] & 0xfe00) == 0xfc00 // unique local (fd00:ec2::254 metadata included)
                || (seg[0] & 0xffc0) == 0xfe80 // link local
                || (seg[0] == 0x64 && seg[1] == 0xff9b) // NAT64 can reach private v4
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
        ] {
            assert!(forbidden(ip(bad), p), "{bad}");
        }
        for good in ["8.8.8.8", "102.89.1.1", "172.32.0.1", "2001:4860:4860::8888"] {
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
