//! IP and domain whitelists of an API key. An empty list means "no restriction".

use std::net::IpAddr;

/// Whether `ip` is allowed by `list` (exact addresses or CIDR blocks such as `10.0.0.0/8`).
pub fn ip_allowed(list: &[String], ip: Option<IpAddr>) -> bool {
    if list.is_empty() {
        return true;
    }
    let Some(ip) = ip else { return false };
    list.iter().any(|entry| ip_matches(entry, ip))
}

/// Whether a whitelist entry (address or CIDR) is well formed.
pub fn is_valid_ip_entry(entry: &str) -> bool {
    parse_cidr(entry).is_some()
}

fn parse_cidr(entry: &str) -> Option<(IpAddr, u8)> {
    let (addr, len) = match entry.trim().split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (entry.trim(), None),
    };
    let addr: IpAddr = addr.parse().ok()?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let len = match len {
        Some(l) => l.parse::<u8>().ok().filter(|l| *l <= max)?,
        None => max,
    };
    Some((addr, len))
}

fn ip_matches(entry: &str, ip: IpAddr) -> bool {
    let Some((net, len)) = parse_cidr(entry) else {
        return false;
    };
    // Compare IPv4-mapped IPv6 callers as IPv4.
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    };
    match (net, ip) {
        (IpAddr::V4(n), IpAddr::V4(a)) => prefix_eq(&n.octets(), &a.octets(), len),
        (IpAddr::V6(n), IpAddr::V6(a)) => prefix_eq(&n.octets(), &a.octets(), len),
        _ => false,
    }
}

fn prefix_eq(a: &[u8], b: &[u8], bits: u8) -> bool {
    let full = usize::from(bits / 8);
    let rest = bits % 8;
    if a[..full] != b[..full] {
        return false;
    }
    if rest == 0 {
        return true;
    }
    let mask = 0xffu8 << (8 - rest);
    (a[full] & mask) == (b[full] & mask)
}

/// The host of an origin as a caller may send it: `https://Example.com:443/x`,
/// `example.com`, `www.example.com.` → lowercase host without port or trailing dot.
pub fn origin_host(origin: &str) -> Option<String> {
    let s = origin.trim();
    let s = s.split_once("://").map(|(_, rest)| rest).unwrap_or(s);
    let s = s.split(['/', '?', '#']).next().unwrap_or("");
    let s = s.rsplit_once('@').map(|(_, h)| h).unwrap_or(s);
    let host = if s.starts_with('[') {
        s.split_once(']').map(|(h, _)| &h[1..]).unwrap_or("")
    } else {
        s.split(':').next().unwrap_or("")
    };
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    if host.is_empty() || host.len() > 253 || !host.bytes().all(|b| b.is_ascii_alphanumeric() || b"-.:".contains(&b)) {
        return None;
    }
    Some(host)
}

/// Whether the origin's host is allowed by `list`. Entries are hosts (`example.com`,
/// which also allows `www.example.com`) or wildcards (`*.example.com`, subdomains only).
pub fn domain_allowed(list: &[String], origin: Option<&str>) -> bool {
    if list.is_empty() {
        return true;
    }
    let Some(host) = origin.and_then(origin_host) else {
        return false;
    };
    list.iter().filter_map(|e| normalize_domain_entry(e)).any(|entry| match entry.strip_prefix("*.") {
        Some(parent) => host.ends_with(&format!(".{parent}")),
        None => host == entry || host == format!("www.{entry}"),
    })
}

/// The stored form of a domain whitelist entry, or `None` if it is not a domain.
pub fn normalize_domain_entry(entry: &str) -> Option<String> {
    match entry.trim().strip_prefix("*.") {
        Some(rest) => origin_host(rest).map(|h| format!("*.{h}")),
        None => origin_host(entry),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn ip_lists() {
        let l = list(&["203.0.113.7", "10.1.0.0/16", "2001:db8::/32"]);
        let ip = |s: &str| s.parse::<IpAddr>().ok();
        assert!(ip_allowed(&[], ip("1.2.3.4")));
        assert!(ip_allowed(&l, ip("203.0.113.7")));
        assert!(!ip_allowed(&l, ip("203.0.113.8")));
        assert!(ip_allowed(&l, ip("10.1.255.3")));
        assert!(!ip_allowed(&l, ip("10.2.0.1")));
        assert!(ip_allowed(&l, ip("2001:db8::1")));
        assert!(ip_allowed(&l, ip("::ffff:203.0.113.7")));
        assert!(!ip_allowed(&l, None));
        assert!(ip_allowed(&list(&["0.0.0.0/0"]), ip("8.8.8.8")));
        assert!(ip_allowed(&list(&["10.0.0.0/9"]), ip("10.127.0.1")));
        assert!(!ip_allowed(&list(&["10.0.0.0/9"]), ip("10.128.0.1")));
        assert!(!is_valid_ip_entry("10.0.0.0/33"));
        assert!(!is_valid_ip_entry("example.com"));
    }

    #[test]
    fn origin_hosts() {
        assert_eq!(origin_host("https://Example.com:8443/path?q").as_deref(), Some("example.com"));
        assert_eq!(origin_host("example.com").as_deref(), Some("example.com"));
        assert_eq!(origin_host("example.com.").as_deref(), Some("example.com"));
        assert_eq!(origin_host("https://user@shop.example.com").as_deref(), Some("shop.example.com"));
        assert_eq!(origin_host("http://[::1]:80").as_deref(), Some("::1"));
        assert_eq!(origin_host(""), None);
        assert_eq!(origin_host("https://"), None);
        assert_eq!(origin_host("exa mple.com"), None);
    }

    #[test]
    fn domain_lists() {
        let l = list(&["example.com", "*.shop.ng"]);
        assert!(domain_allowed(&[], None));
        assert!(domain_allowed(&l, Some("https://example.com")));
        assert!(domain_allowed(&l, Some("www.example.com")));
        assert!(!domain_allowed(&l, Some("evil-example.com")));
        assert!(!domain_allowed(&l, Some("example.com.evil.io")));
        assert!(domain_allowed(&l, Some("https://a.shop.ng")));
        assert!(!domain_allowed(&l, Some("shop.ng")));
        assert!(!domain_allowed(&l, None));
    }
}
