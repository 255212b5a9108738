//! Catalog actions: `services`.

use kobo_shared::domain::smm::plan_rate;
use kobo_shared::ApiError;
use lambda_http::{Body, Response};
use serde::Serialize;

use super::Caller;
use crate::{render, App};

/// One service as API v2 lists it, with the caller's plan rate.
#[derive(Debug, Serialize)]
pub struct ServiceRow {
    /// Service id.
    pub service: u64,
    /// Name.
    pub name: String,
    /// Type.
    #[serde(rename = "type")]
    pub kind: String,
    /// Category.
    pub category: String,
    /// Naira per 1000 after the plan's SMM discount, two decimals (for a package type,
    /// the price of the package).
    pub rate: String,
    /// Minimum quantity.
    pub min: String,
    /// Maximum quantity.
    pub max: String,
    /// Refill supported.
    pub refill: bool,
    /// Cancel supported.
    pub cancel: bool,
    /// Drip-feed (`runs` and `interval`) supported.
    pub dripfeed: bool,
}

/// `services`: enabled services, rates after the caller's plan discount (one Query).
pub async fn services(app: &App, caller: &Caller) -> Result<Response<Body>, ApiError> {
    let discount = caller.plan.as_ref().map(|p| p.smm_discount_bp).unwrap_or(0);
    let rows: Vec<ServiceRow> = app
        .smm_catalog(&caller.pre)
        .await?
        .iter()
        .filter(|s| s.enabled)
        .cloned()
        .map(|s| ServiceRow {
            service: s.id,
            name: s.name,
            kind: s.kind,
            category: s.category,
            rate: plan_rate(s.rate_per_1000, discount).to_string(),
            min: s.min.to_string(),
            max: s.max.to_string(),
            refill: s.refill,
            cancel: s.cancel,
            dripfeed: s.dripfeed,
        })
        .collect();
    Ok(render::ok(&rows))
}
