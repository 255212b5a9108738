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

/// The fixed-price VTpass services kobo sells as plans: data per network, cable bouquets.
pub const VTPASS_PLAN_SERVICES: &[(crate::domain::vtu::VtuCategory, &str)] = &[
    (crate::domain::vtu::VtuCategory::Data, "mtn-data"),
    (crate::domain::vtu::VtuCategory::Data, "airtel-data"),
    (crate::domain::vtu::VtuCategory::Data, "glo-data"),
    (crate::domain::vtu::VtuCategory::Data, "9mobile-data"),
    (crate::domain::vtu::VtuCategory::Cable, "dstv"),
    (crate::domain::vtu::VtuCategory::Cable, "gotv"),
    (crate::domain::vtu::VtuCategory::Cable, "startimes"),
];

/// What a VTU catalog import did.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct VtuImport {
    /// New plans (their ids).
    pub added: Vec<u64>,
    /// Plans whose price or name changed.
    pub updated: Vec<u64>,
    /// Plans as they were.
    pub unchanged: usize,
    /// Services the provider did not list (with why): their plans are left as they were.
    pub skipped: Vec<String>,
}

/// The validity a VTpass variation name states after its dash (`"N1000 1.5GB - 30 days"`).
fn validity_of(name: &str) -> String {
    name.rsplit_once(" - ").map(|(_, v)| v.trim().to_string()).unwrap_or_default()
}

/// Imports or refreshes VTpass's fixed-price plans (`service-variations` of
/// [`VTPASS_PLAN_SERVICES`]): base = VTpass's `variation_amount`, profit = `profit_bp` of
/// it (rounded up to the kobo). A plan is matched by service and VTpass's variation code,
/// so a re-import keeps every plan id resellers use; new variations get new ids. A service
/// VTpass does not answer for is skipped and its plans kept as they are.
pub async fn import_vtpass_plans(
    store: &Store,
    vtpass: &crate::upstream::vtu::vtpass::VtpassClient,
    profit_bp: u32,
) -> Result<VtuImport, CatalogError> {
    use crate::domain::vtu::VtuPlan;
    if profit_bp > 10_000 {
        return Err(CatalogError::Invalid("the profit may be at most 100%".into()));
    }
    let existing = store.vtu_catalog().await?.plans;
    let mut next_id = existing.iter().map(|p| p.id).max().unwrap_or(0) + 1;
    let mut report = VtuImport::default();
    for (category, service) in VTPASS_PLAN_SERVICES {
        let variations = match vtpass.variations(service).await {
            Ok(v) => v,
            Err(e) => {
                report.skipped.push(format!("{service}: {e}"));
                continue;
            }
        };
        for v in variations.into_iter().filter(|v| v.fixed_price && v.amount.is_positive()) {
            let profit = with_markup(v.amount, profit_bp).checked_sub(v.amount).unwrap_or_default();
            let found = existing.iter().find(|p| p.service == *service && p.provider_code == v.code);
            let plan = VtuPlan {
                id: found.map_or(next_id, |p| p.id),
                category: *category,
                service: service.to_string(),
                name: v.name.clone(),
                validity: found.map_or_else(|| validity_of(&v.name), |p| p.validity.clone()),
                base: v.amount,
                profit,
                provider_code: v.code.clone(),
            };
            match found {
                Some(p) if *p == plan => report.unchanged += 1,
                Some(_) => {
                    store.put_vtu_plan(&plan).await?;
                    report.updated.push(plan.id);
                }
                None => {
                    store.put_vtu_plan(&plan).await?;
                    report.added.push(plan.id);
                    next_id += 1;
                }
            }
        }
    }
    Ok(report)
}
