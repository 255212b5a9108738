//! Operator tasks over the SMM catalog: import from the upstream panel with a markup,
//! enable, disable, set a rate.

use crate::error::StoreError;
use crate::model::Service;
use crate::money::Kobo;
use crate::store::Store;
use crate::upstream::smm::SmmClient;
use crate::upstream::UpstreamError;

/// A catalog task failed.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// The upstream panel failed.
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Bad input.
    #[error("{0}")]
    Invalid(String),
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
    Some(Kobo(kobo))
}

/// Cost plus a markup in basis points, rounded up to the kobo.
pub fn with_markup(cost: Kobo, markup_bp: u32) -> Kobo {
    let v = i128::from(cost.0) * (10_000 + i128::from(markup_bp));
    Kobo(((v + 9_999) / 10_000) as i64)
}

/// Imports or refreshes every upstream service: cost from upstream, sell rate = cost plus
/// `markup_bp`. New services are enabled; existing ones keep their enabled flag. Our
/// service id is the upstream id.
pub async fn import_services(store: &Store, panel: &SmmClient, markup_bp: u32) -> Result<Vec<Service>, CatalogError> {
    let existing = store.services().await?;
    let mut out = Vec::new();
    for u in panel.services().await? {
        let Ok(id) = u.service.parse::<u64>() else {
            tracing::warn!(service = %u.service, "skipping upstream service with a non-numeric id");
            continue;
        };
        let Some(cost) = parse_rate_ceil(&u.rate) else {
            tracing::warn!(service = id, rate = %u.rate, "skipping upstream service with an unreadable rate");
            continue;
        };
        let enabled = existing.iter().find(|s| s.id == id).map(|s| s.enabled).unwrap_or(true);
        let service = Service {
            id,
            name: u.name,
            kind: u.kind,
            category: u.category,
            upstream_service: u.service,
            cost_per_1000: cost,
            rate_per_1000: with_markup(cost, markup_bp),
            min: u.min,
            max: u.max.max(u.min),
            refill: u.refill,
            cancel: u.cancel,
            enabled,
        };
        store.put_service(&service).await?;
        out.push(service);
    }
    Ok(out)
}

/// Changes one service with `f` and stores it.
pub async fn update_service(store: &Store, id: u64, f: impl FnOnce(&mut Service)) -> Result<Service, CatalogError> {
    let mut s = store.get_service(id).await?.ok_or_else(|| CatalogError::Invalid(format!("no service {id}")))?;
    f(&mut s);
    store.put_service(&s).await?;
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_round_up() {
        assert_eq!(parse_rate_ceil("1250.00"), Some(Kobo(125_000)));
        assert_eq!(parse_rate_ceil("0.0375"), Some(Kobo(4)));
        assert_eq!(parse_rate_ceil("12.7"), Some(Kobo(1270)));
        assert_eq!(parse_rate_ceil("3"), Some(Kobo(300)));
        assert_eq!(parse_rate_ceil("1.0000"), Some(Kobo(100)));
        assert_eq!(parse_rate_ceil("-1"), None);
        assert_eq!(parse_rate_ceil("abc"), None);
        assert_eq!(with_markup(Kobo(1000), 2000), Kobo(1200));
        assert_eq!(with_markup(Kobo(1), 1), Kobo(2));
    }
}
