//! SMM domain: services, orders, their statuses and the money rules, as plain functions.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::money::Kobo;

/// Status of an SMM order, with the seed's words and numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    /// Accepted, not started upstream yet (or not yet placed upstream).
    Pending,
    /// Being delivered.
    Processing,
    /// Delivered in full.
    Completed,
    /// Cancelled upstream; charge refunded in full.
    Cancelled,
    /// Refunded in full without a cancel (upstream refunded).
    Refunded,
    /// Delivered in part; the remains refunded.
    Partial,
}

impl OrderStatus {
    /// The seed's word.
    pub const fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Pending => "pending",
            OrderStatus::Processing => "processing",
            OrderStatus::Completed => "completed",
            OrderStatus::Cancelled => "cancelled",
            OrderStatus::Refunded => "refunded",
            OrderStatus::Partial => "partial",
        }
    }

    /// The seed's number: pending(0) … partial(5).
    pub const fn code(self) -> u8 {
        match self {
            OrderStatus::Pending => 0,
            OrderStatus::Processing => 1,
            OrderStatus::Completed => 2,
            OrderStatus::Cancelled => 3,
            OrderStatus::Refunded => 4,
            OrderStatus::Partial => 5,
        }
    }

    /// Whether no further change can happen.
    pub const fn is_final(self) -> bool {
        matches!(self, OrderStatus::Completed | OrderStatus::Cancelled | OrderStatus::Refunded | OrderStatus::Partial)
    }

    /// Parses the stored word.
    pub fn parse(s: &str) -> Option<OrderStatus> {
        [
            OrderStatus::Pending,
            OrderStatus::Processing,
            OrderStatus::Completed,
            OrderStatus::Cancelled,
            OrderStatus::Refunded,
            OrderStatus::Partial,
        ]
        .into_iter()
        .find(|st| st.as_str() == s)
    }

    /// Maps an SMM panel API v2 status ("Pending", "In progress", "Completed", "Partial",
    /// "Canceled", "Processing", "Refunded") to ours.
    pub fn from_upstream(s: &str) -> Option<OrderStatus> {
        match s.trim().to_ascii_lowercase().as_str() {
            "pending" => Some(OrderStatus::Pending),
            "in progress" | "inprogress" | "processing" | "in_progress" => Some(OrderStatus::Processing),
            "completed" | "complete" => Some(OrderStatus::Completed),
            "partial" => Some(OrderStatus::Partial),
            "canceled" | "cancelled" => Some(OrderStatus::Cancelled),
            "refunded" => Some(OrderStatus::Refunded),
            _ => None,
        }
    }
}

impl fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The rate a plan pays per 1000: the sell rate less the plan's SMM discount, rounded up
/// to the kobo. `services` shows it and `add` charges by it.
pub fn plan_rate(sell_rate_per_1000: Kobo, smm_discount_bp: u32) -> Kobo {
    sell_rate_per_1000.less_basis_points_ceil(smm_discount_bp)
}

/// rate × quantity / 1000, rounded up to the kobo. `None` on overflow.
pub fn charge(rate_per_1000: Kobo, quantity: u64) -> Option<Kobo> {
    let total = i128::from(rate_per_1000.0).checked_mul(i128::from(quantity))?;
    let kobo = (total + 999) / 1000;
    i64::try_from(kobo).ok().map(Kobo)
}

/// What a partial order gives back: the charge × remains / quantity, rounded **down**, so
/// a refund never exceeds what the undelivered part cost.
pub fn partial_refund(charge: Kobo, quantity: u64, remains: u64) -> Kobo {
    if quantity == 0 {
        return Kobo::ZERO;
    }
    let remains = remains.min(quantity);
    let r = i128::from(charge.0) * i128::from(remains) / i128::from(quantity);
    Kobo(r as i64)
}

/// Whether `link` is an http(s) URL with a host, no spaces, at most 2048 bytes.
pub fn is_valid_link(link: &str) -> bool {
    let l = link.trim();
    if l.len() > 2048 || l.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return false;
    }
    let rest = match l.split_once("://") {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https") => rest,
        _ => return false,
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = host.rsplit_once('@').map(|(_, h)| h).unwrap_or(host);
    let host = host.split(':').next().unwrap_or("");
    host.contains('.') && host.len() >= 3 && !host.starts_with('.') && !host.ends_with('.')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses() {
        assert_eq!(OrderStatus::Pending.code(), 0);
        assert_eq!(OrderStatus::Partial.code(), 5);
        assert_eq!(OrderStatus::from_upstream("In progress"), Some(OrderStatus::Processing));
        assert_eq!(OrderStatus::from_upstream("Canceled"), Some(OrderStatus::Cancelled));
        assert_eq!(OrderStatus::from_upstream("weird"), None);
        for s in ["pending", "processing", "completed", "cancelled", "refunded", "partial"] {
            assert_eq!(OrderStatus::parse(s).map(|x| x.as_str()), Some(s));
        }
        assert!(!OrderStatus::Processing.is_final());
        assert!(OrderStatus::Partial.is_final());
    }

    #[test]
    fn charges_round_up_and_refunds_round_down() {
        assert_eq!(charge(Kobo(125_000), 1000), Some(Kobo(125_000)));
        assert_eq!(charge(Kobo(125_000), 1), Some(Kobo(125)));
        assert_eq!(charge(Kobo(1), 1), Some(Kobo(1))); // 0.001 kobo -> 1
        assert_eq!(charge(Kobo(333), 10), Some(Kobo(4))); // 3.33 -> 4
        assert_eq!(charge(Kobo(i64::MAX), u64::MAX), None);
        assert_eq!(partial_refund(Kobo(1000), 1000, 250), Kobo(250));
        assert_eq!(partial_refund(Kobo(1001), 3, 1), Kobo(333));
        assert_eq!(partial_refund(Kobo(1000), 10, 50), Kobo(1000));
        assert_eq!(partial_refund(Kobo(1000), 0, 5), Kobo(0));
        assert_eq!(plan_rate(Kobo(10_000), 250), Kobo(9_750));
        assert_eq!(plan_rate(Kobo(999), 1000), Kobo(900));
    }

    #[test]
    fn links() {
        assert!(is_valid_link("https://instagram.com/p/abc"));
        assert!(is_valid_link("http://x.ng"));
        assert!(!is_valid_link("instagram.com/p/abc"));
        assert!(!is_valid_link("javascript:alert(1)"));
        assert!(!is_valid_link("https://"));
        assert!(!is_valid_link("https://exa mple.com"));
        assert!(!is_valid_link("ftp://x.ng"));
        assert!(!is_valid_link(&format!("https://x.ng/{}", "a".repeat(3000))));
    }
}
