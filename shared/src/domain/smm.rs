//! SMM domain: services, orders, their statuses and the money rules, as plain functions.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::domain::money::Kobo;

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
    let total = i128::from(rate_per_1000.as_i64()).checked_mul(i128::from(quantity))?;
    let kobo = (total + 999) / 1000;
    i64::try_from(kobo).ok().map(Kobo::new)
}

/// What a partial order gives back: the charge × remains / quantity, rounded **down**, so
/// a refund never exceeds what the undelivered part cost.
pub fn partial_refund(charge: Kobo, quantity: u64, remains: u64) -> Kobo {
    if quantity == 0 {
        return Kobo::ZERO;
    }
    let remains = remains.min(quantity);
    let r = i128::from(charge.as_i64()) * i128::from(remains) / i128::from(quantity);
    Kobo::new(i64::try_from(r).unwrap_or(0))
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

/// An SMM service of the catalog.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Service {
    /// Our service id (what resellers send as `service`).
    pub id: u64,
    /// Display name.
    pub name: String,
    /// API v2 type (`Default`, `Custom Comments`, ...).
    pub kind: String,
    /// Category.
    pub category: String,
    /// The upstream panel's service id.
    pub upstream_service: String,
    /// What upstream charges per 1000.
    pub cost_per_1000: Kobo,
    /// Our sell rate per 1000, before plan discounts.
    pub rate_per_1000: Kobo,
    /// Smallest quantity.
    pub min: u64,
    /// Largest quantity.
    pub max: u64,
    /// Whether refills are possible.
    pub refill: bool,
    /// Whether cancels are possible.
    pub cancel: bool,
    /// Whether resellers see and can order it.
    pub enabled: bool,
    /// Whether a Default service takes drip-feed `runs` and `interval`.
    pub dripfeed: bool,
}

/// Where an order stands with the upstream panel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UpstreamState {
    /// Not sent yet, or sent and certainly not received (connection refused): safe to send.
    Unsent,
    /// Claimed by one sender, which is sending it now.
    Sending,
    /// Upstream accepted it and gave an order id.
    Placed,
    /// Sent, but the answer was lost (timeout, 5xx): upstream may or may not have it.
    /// Never re-sent automatically; an operator resolves it.
    Unknown,
    /// Upstream refused it (its answer said so): refunded.
    Rejected,
}

impl UpstreamState {
    /// The stored word.
    pub const fn as_str(self) -> &'static str {
        match self {
            UpstreamState::Unsent => "unsent",
            UpstreamState::Sending => "sending",
            UpstreamState::Placed => "placed",
            UpstreamState::Unknown => "unknown",
            UpstreamState::Rejected => "rejected",
        }
    }

    /// The status a stored word names.
    pub fn parse(s: &str) -> Option<UpstreamState> {
        [
            UpstreamState::Unsent,
            UpstreamState::Sending,
            UpstreamState::Placed,
            UpstreamState::Unknown,
            UpstreamState::Rejected,
        ]
        .into_iter()
        .find(|x| x.as_str() == s)
    }
}

/// An SMM order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Order {
    /// Numeric id from the order counter.
    pub id: u64,
    /// Owner.
    pub account_id: String,
    /// Our service id.
    pub service_id: u64,
    /// Upstream service id at order time.
    pub upstream_service: String,
    /// The service's API v2 type at order time (`Default`, `Custom Comments`, ...).
    pub kind: String,
    /// The link to deliver to (a subscription's username).
    pub link: String,
    /// Quantity as API v2 knows it (stated, or derived from the lines given).
    pub quantity: u64,
    /// What the order is charged and refunded in: quantity × runs for drip-feed, max ×
    /// posts for a subscription, 1 for a package, else the quantity.
    pub units: u64,
    /// Drip-feed runs.
    pub runs: Option<u64>,
    /// Drip-feed interval, minutes.
    pub interval: Option<u64>,
    /// The type's own fields (comments, usernames, ...), as forwarded upstream.
    pub fields: std::collections::BTreeMap<String, String>,
    /// The plan rate per 1000 charged.
    pub rate_per_1000: Kobo,
    /// What was charged.
    pub charge: Kobo,
    /// What was refunded so far.
    pub refunded: Kobo,
    /// Our status.
    pub status: crate::domain::smm::OrderStatus,
    /// Start count reported upstream.
    pub start_count: u64,
    /// Remains reported upstream.
    pub remains: u64,
    /// Upstream state.
    pub upstream: UpstreamState,
    /// Upstream order id, once placed.
    pub upstream_order: Option<String>,
    /// RFC 3339 creation time.
    pub created_at: String,
    /// RFC 3339 last change.
    pub updated_at: String,
}

/// The webhook object of an order.
pub fn order_object(o: &Order) -> serde_json::Value {
    serde_json::json!({
        "id": o.id,
        "service": o.service_id,
        "link": o.link,
        "type": o.kind,
        "quantity": o.quantity,
        "charge": o.charge.to_string(),
        "refunded": o.refunded.to_string(),
        "start_count": o.start_count,
        "remains": o.remains,
        "status": o.status.as_str(),
        "status_code": o.status.code(),
        "currency": "NGN",
        "created_at": o.created_at,
        "updated_at": o.updated_at,
    })
}

/// A new upstream state of an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Our status.
    pub status: OrderStatus,
    /// Start count.
    pub start_count: u64,
    /// Remains.
    pub remains: u64,
}

/// Parses an upstream rate ("1250", "0.0375") into kobo, rounding **up** any fraction of
/// a kobo so kobo never sells below cost.
pub fn parse_rate_ceil(rate: &str) -> Option<Kobo> {
    let rate = rate.trim();
    let (whole, frac) = rate.split_once('.').unwrap_or((rate, ""));
    if whole.is_empty() && frac.is_empty() {
        return None;
    }
    if !whole.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) || whole.len() > 12 {
        return None;
    }
    let naira: i64 = if whole.is_empty() { 0 } else { whole.parse().ok()? };
    let mut digits: Vec<u8> = frac.bytes().map(|b| b - b'0').collect();
    let extra_nonzero = digits.len() > 2 && digits[2..].iter().any(|d| *d != 0);
    digits.resize(2, 0);
    let mut kobo = naira.checked_mul(100)? + i64::from(digits[0]) * 10 + i64::from(digits[1]);
    if extra_nonzero {
        kobo += 1;
    }
    Some(Kobo::new(kobo))
}

/// Cost plus a markup in basis points, rounded up to the kobo.
pub fn with_markup(cost: Kobo, markup_bp: u32) -> Kobo {
    let v = i128::from(cost.as_i64()) * (10_000 + i128::from(markup_bp));
    Kobo::new(i64::try_from((v + 9_999) / 10_000).unwrap_or(i64::MAX))
}

/// The link an SMM order delivers to: an http(s) URL with a host, no spaces, at most
/// 2048 bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link(String);

impl Link {
    /// Reads a link.
    pub fn parse(raw: &str) -> Option<Link> {
        is_valid_link(raw).then(|| Link(raw.trim().to_string()))
    }

    /// The URL.
    pub fn as_str(&self) -> &str {
        &self.0
    }
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
        assert_eq!(charge(Kobo::new(125_000), 1000), Some(Kobo::new(125_000)));
        assert_eq!(charge(Kobo::new(125_000), 1), Some(Kobo::new(125)));
        assert_eq!(charge(Kobo::new(1), 1), Some(Kobo::new(1))); // 0.001 kobo -> 1
        assert_eq!(charge(Kobo::new(333), 10), Some(Kobo::new(4))); // 3.33 -> 4
        assert_eq!(charge(Kobo::new(i64::MAX), u64::MAX), None);
        assert_eq!(partial_refund(Kobo::new(1000), 1000, 250), Kobo::new(250));
        assert_eq!(partial_refund(Kobo::new(1001), 3, 1), Kobo::new(333));
        assert_eq!(partial_refund(Kobo::new(1000), 10, 50), Kobo::new(1000));
        assert_eq!(partial_refund(Kobo::new(1000), 0, 5), Kobo::new(0));
        assert_eq!(plan_rate(Kobo::new(10_000), 250), Kobo::new(9_750));
        assert_eq!(plan_rate(Kobo::new(999), 1000), Kobo::new(900));
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

    #[test]
    fn rates_round_up() {
        assert_eq!(parse_rate_ceil("1250.00"), Some(Kobo::new(125_000)));
        assert_eq!(parse_rate_ceil("0.0375"), Some(Kobo::new(4)));
        assert_eq!(parse_rate_ceil("12.7"), Some(Kobo::new(1270)));
        assert_eq!(parse_rate_ceil("3"), Some(Kobo::new(300)));
        assert_eq!(parse_rate_ceil("1.0000"), Some(Kobo::new(100)));
        assert_eq!(parse_rate_ceil("-1"), None);
        assert_eq!(parse_rate_ceil("abc"), None);
        assert_eq!(with_markup(Kobo::new(1000), 2000), Kobo::new(1200));
        assert_eq!(with_markup(Kobo::new(1), 1), Kobo::new(2));
    }
}
