//! Operator tasks over the SMM catalog: import from the upstream panel with a markup,
//! enable, disable, set a rate.

use crate::db::Store;
use crate::domain::smm::{parse_rate_ceil, with_markup, Service};
use crate::error::StoreError;
use crate::upstream::SmmPanel;
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

/// Imports or refreshes every upstream service: cost from upstream, sell rate = cost plus
/// `markup_bp`. New services of a type kobo knows are enabled, those of any other type
/// are imported disabled until an operator enables them; existing ones keep their
/// enabled flag. Our service id is the upstream id.
pub async fn import_services(
    store: &Store,
    panel: &impl SmmPanel,
    markup_bp: u32,
) -> Result<Vec<Service>, CatalogError> {
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
        let known = crate::domain::smm_types::ServiceType::parse(&u.kind).is_some();
        if !known {
            tracing::warn!(service = id, kind = %u.kind, "upstream service of an unknown type imported disabled");
        }
        let enabled = existing.iter().find(|s| s.id == id).map(|s| s.enabled).unwrap_or(known);
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
            dripfeed: u.dripfeed,
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
