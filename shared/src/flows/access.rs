//! API access plans: a reseller requests one (paid from the wallet), an operator
//! approves it (plan set, API access on) or rejects it (refunded exactly once).

use crate::db::accounts::entry;
use crate::db::portal::AccessRequestError;
use crate::db::Store;
use crate::domain::money::Kobo;
use crate::domain::portal::{new_access_request_id, AccessRequest, AccessStatus, Kyc};
use crate::domain::time::now_rfc3339;
use crate::error::StoreError;
use crate::flows::accounts::OpsError;

/// Why a request was not made.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    /// The plan is not offered.
    #[error("this plan is not offered")]
    NoSuchPlan,
    /// The plan needs KYC details and they are missing or wrong.
    #[error("{0} {1}")]
    Kyc(&'static str, &'static str),
    /// Another request is still pending.
    #[error("a request is already waiting for approval")]
    AlreadyPending,
    /// The wallet does not cover the price.
    #[error("insufficient balance: fund the wallet first")]
    InsufficientBalance,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Requests `plan_id` for `account_id`: charges the offer's price (ledger entry, one
/// transaction, above the account's `min_balance` as read) and records the request for
/// an operator.
pub async fn request(
    store: &Store,
    account_id: &str,
    plan_id: &str,
    kyc: Option<Kyc>,
    min_balance: Kobo,
) -> Result<AccessRequest, RequestError> {
    let offers = store.plan_offers().await?;
    let offer = offers.iter().find(|o| o.plan_id == plan_id).ok_or(RequestError::NoSuchPlan)?;
    let kyc = if offer.kyc_required {
        let k = kyc.unwrap_or_default();
        k.check().map_err(|(f, m)| RequestError::Kyc(f, m))?;
        Some(k)
    } else {
        None
    };
    let r = AccessRequest {
        id: new_access_request_id(),
        account_id: account_id.to_string(),
        plan_id: plan_id.to_string(),
        price: offer.price,
        status: AccessStatus::Pending,
        kyc,
        reason: None,
        created_at: now_rfc3339(),
    };
    let charge = entry(
        account_id,
        offer.price.negate(),
        "api_access",
        format!("API access plan {plan_id}"),
        Some(r.id.clone()),
        "portal",
    );
    match store.request_access(&r, &charge, min_balance).await {
        Ok(()) => Ok(r),
        Err(AccessRequestError::AlreadyPending) => Err(RequestError::AlreadyPending),
        Err(AccessRequestError::InsufficientBalance) => Err(RequestError::InsufficientBalance),
        Err(AccessRequestError::Store(StoreError::Unknown(e))) => settled(store, r, e).await,
        Err(AccessRequestError::Store(e)) => Err(RequestError::Store(e)),
    }
}

/// A request whose transaction may or may not have applied (every attempt answered a
/// 5xx): its own item, read back strongly consistent, says which. Made: the request as
/// made. Not made: nothing was committed (retry later). Unreadable: still unknown.
async fn settled(store: &Store, r: AccessRequest, unknown: String) -> Result<AccessRequest, RequestError> {
    match store.get_access_request(&r.account_id, &r.id).await {
        Ok(Some(made)) => Ok(made),
        Ok(None) => Err(RequestError::Store(StoreError::Throttled(format!("not applied: {unknown}")))),
        Err(e) => {
            tracing::warn!(error = %e, request_id = %r.id, "an access request's outcome could not be read back");
            Err(RequestError::Store(StoreError::Unknown(unknown)))
        }
    }
}

/// The pending request `id` of `account_id`, or a clear error.
async fn pending(store: &Store, account_id: &str, id: &str) -> Result<AccessRequest, OpsError> {
    let r = store
        .get_access_request(account_id, id)
        .await?
        .ok_or_else(|| OpsError::Invalid(format!("no access request {id} on account {account_id}")))?;
    if r.status != AccessStatus::Pending {
        return Err(OpsError::Invalid(format!("access request {id} is {} already", r.status.as_str())));
    }
    Ok(r)
}

/// Approves a pending request: `Ok(false)` when someone settled it first.
pub async fn approve(store: &Store, account_id: &str, id: &str) -> Result<bool, OpsError> {
    let r = pending(store, account_id, id).await?;
    Ok(store.approve_access(&r).await?)
}

/// Rejects a pending request and refunds its price, once: `Ok(false)` when someone
/// settled it first (nothing refunded by this call).
pub async fn reject(store: &Store, account_id: &str, id: &str, reason: &str) -> Result<bool, OpsError> {
    let r = pending(store, account_id, id).await?;
    let refund = entry(
        account_id,
        r.price,
        "api_access_refund",
        format!("API access plan {} rejected: {reason}", r.plan_id),
        Some(r.id.clone()),
        "operator",
    );
    Ok(store.reject_access(&r, reason, &refund).await?)
}
