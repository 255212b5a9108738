//! VTU after the wallet: paying (debit, ledger entry, transaction and events in one
//! transaction), and settling exactly once whatever reports the outcome — the provider's
//! answer, its signed callbacks or the reconciler's requeries.

use serde::Deserialize;

use crate::db::accounts::entry;
use crate::db::item::Record;
use crate::db::vtu::{settle_change, vtu_key};
use crate::db::{Floor, Store, Tx};
use crate::domain::event::EventType;
use crate::domain::idempotency::IdemRecord;
use crate::domain::money::Kobo;
use crate::domain::time::{now_rfc3339, now_unix};
use crate::domain::vtu::{is_trx, Outcome, VtuStatus, VtuTx};
use crate::error::StoreError;
use crate::flows::orders::{commit_spend, spend, SpendError};
use crate::upstream::topup::{TopupRequest, TopupResult, TopupState};
use crate::upstream::{TopupProvider, UpstreamError};

/// Debits, writes the ledger entry, the transaction, `vtu.processing` and
/// `vtu.status_changed` (and any idempotency record) in one transaction.
pub async fn pay(store: &Store, tx: &VtuTx, min_balance: Kobo, idem: Option<&IdemRecord>) -> Result<(), SpendError> {
    let debit = entry(
        &tx.account_id,
        tx.amount.negate(),
        "vtu",
        format!("{} {}", tx.category, tx.service_name),
        Some(format!("vtu:{}", tx.trx)),
        "api",
    );
    let object = tx.webhook_object();
    let t = spend(store, &debit, min_balance, idem)?
        .put_new("vtu", tx.to_item())?
        .event(&tx.account_id, EventType::VtuProcessing, "vtu", object.clone())?
        .event(&tx.account_id, EventType::VtuStatusChanged, "vtu", object)?;
    commit_spend(store, t, idem).await
}

/// Settles a processing transaction exactly once: the status moves from `processing`
/// (conditionally), with `vtu.success` or `vtu.failed` + `vtu.status_changed`, and for a
/// failure the refund (credit + ledger entry) in the same transaction. Returns the
/// settled transaction, or `None` when it was already settled (duplicate or late
/// callback, racing reconciler).
pub async fn settle(store: &Store, tx: &VtuTx, outcome: &Outcome, actor: &str) -> Result<Option<VtuTx>, StoreError> {
    if tx.status != VtuStatus::Processing {
        return Ok(None);
    }
    let after = tx.settled(outcome, now_rfc3339());
    let event = if after.status == VtuStatus::Failed { EventType::VtuFailed } else { EventType::VtuSuccess };
    let object = after.webhook_object();
    let mut t = Tx::new(store)
        .update("vtu", &vtu_key(&tx.account_id, &tx.trx), settle_change(&after))?
        .event(&tx.account_id, event, "vtu", object.clone())?
        .event(&tx.account_id, EventType::VtuStatusChanged, "vtu", object)?;
    if after.status == VtuStatus::Failed {
        let refund = entry(
            &tx.account_id,
            tx.amount,
            "refund",
            format!("VTU {} failed", tx.trx),
            Some(format!("vtu:{}", tx.trx)),
            actor,
        );
        t = t.balance(&refund, Floor::None)?;
    }
    Ok(t.commit_once().await?.then_some(after))
}

/// The passthrough object sent with every purchase and echoed by callbacks.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, Deserialize)]
pub struct Passthrough {
    /// Owner of the transaction.
    pub account: String,
    /// The transaction.
    pub trx: String,
}

/// The outcome a provider result maps to, if it is final.
pub fn outcome_of(r: &TopupResult) -> Option<Outcome> {
    match &r.state {
        TopupState::Success => {
            let mut meta = serde_json::Map::new();
            if let Some(t) = &r.token {
                meta.insert("token".into(), serde_json::json!(t));
            }
            if let Some(o) = &r.operator_ref {
                meta.insert("operator_ref".into(), serde_json::json!(o));
            }
            Some(Outcome::Success {
                provider_ref: r.recharge_id.clone(),
                meta: serde_json::Value::Object(meta),
                cards: r.cards.clone(),
            })
        }
        TopupState::Failed(reason) => Some(Outcome::Failed { reason: reason.clone() }),
        TopupState::Pending => None,
    }
}

/// Applies a purchase answer: final results settle the transaction; pending, timeouts and
/// unreachable providers leave it processing for a callback or the reconciler. Returns
/// the transaction as it now stands.
pub async fn apply_purchase(
    store: &Store,
    tx: &VtuTx,
    answer: &Result<TopupResult, UpstreamError>,
    actor: &str,
) -> Result<VtuTx, StoreError> {
    let outcome = match answer {
        Ok(r) => outcome_of(r),
        Err(UpstreamError::Rejected(reason)) => Some(Outcome::Failed { reason: reason.clone() }),
        Err(e) => {
            tracing::warn!(trx = %tx.trx, error = %e, "provider answer missing; left processing");
            None
        }
    };
    let Some(outcome) = outcome else { return Ok(tx.clone()) };
    match settle(store, tx, &outcome, actor).await? {
        Some(after) => Ok(after),
        // Settled meanwhile (a fast callback): read what won.
        None => Ok(store.get_vtu(&tx.account_id, &tx.trx).await?.unwrap_or_else(|| tx.clone())),
    }
}

/// What one requery pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RequeryReport {
    /// Processing transactions old enough to look at.
    pub examined: usize,
    /// Settled as success.
    pub succeeded: usize,
    /// Settled as failed (and refunded).
    pub failed: usize,
    /// Re-sent because the provider never received them.
    pub resent: usize,
}

/// Requeries transactions processing for longer than `older_than_secs` and settles them;
/// one the provider never got is sent again (the provider deduplicates on our reference).
pub async fn requery_processing(
    store: &Store,
    provider: &impl TopupProvider,
    older_than_secs: i64,
    batch: usize,
) -> Result<RequeryReport, StoreError> {
    let mut report = RequeryReport::default();
    let now = now_unix();
    for tx in store.processing_vtu(batch).await? {
        let age = chrono::DateTime::parse_from_rfc3339(&tx.created_at).map(|t| now - t.timestamp()).unwrap_or(i64::MAX);
        if age < older_than_secs {
            continue;
        }
        report.examined += 1;
        let answer = match provider.requery(&tx.trx).await {
            Ok(Some(r)) => Ok(r),
            Ok(None) => {
                let request: TopupRequest = match serde_json::from_value::<serde_json::Value>(tx.request.clone()) {
                    Ok(v) => rebuild_request(&v),
                    Err(_) => continue,
                };
                report.resent += 1;
                provider.purchase(&request).await
            }
            Err(e) => Err(e),
        };
        let after = apply_purchase(store, &tx, &answer, "reconciler").await?;
        match after.status {
            VtuStatus::Success if tx.status == VtuStatus::Processing => report.succeeded += 1,
            VtuStatus::Failed if tx.status == VtuStatus::Processing => report.failed += 1,
            _ => {}
        }
    }
    Ok(report)
}

/// The stored request as a [`TopupRequest`].
pub fn rebuild_request(v: &serde_json::Value) -> TopupRequest {
    let s = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_string);
    TopupRequest {
        reference: s("reference").unwrap_or_default(),
        category: s("category").unwrap_or_default(),
        service: s("service").unwrap_or_default(),
        phone: s("phone").unwrap_or_default(),
        amount: s("amount"),
        product_code: s("product_code"),
        customer_id: s("customer_id"),
        meter_number: s("meter_number"),
        meter_type: s("meter_type"),
        quantity: v.get("quantity").and_then(|q| q.as_u64()).map(|q| q as u32),
        passthrough: s("passthrough").unwrap_or_default(),
    }
}

/// What a provider callback did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallbackResult {
    /// It settled the transaction.
    Applied,
    /// The transaction was already settled: nothing changed.
    AlreadySettled,
    /// No such transaction (logged, acknowledged).
    Unknown,
}

/// Why a callback was refused.
#[derive(Debug, thiserror::Error)]
pub enum CallbackError {
    /// Missing or wrong `X-Signature`.
    #[error("invalid signature")]
    BadSignature,
    /// Signed, but not a body the seed describes.
    #[error("malformed callback: {0}")]
    Malformed(String),
    /// The store failed; the provider should retry.
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CallbackBody {
    success: bool,
    #[serde(default)]
    error: Option<String>,
    passthrough: String,
    #[serde(default)]
    operator_transaction_id: Option<serde_json::Value>,
    #[serde(default)]
    operator: Option<String>,
    #[serde(default)]
    recharge_id: Option<serde_json::Value>,
    #[serde(default)]
    amount: Option<serde_json::Value>,
}

fn as_text(v: &Option<serde_json::Value>) -> Option<String> {
    match v.as_ref()? {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Handles a signed provider callback: verifies `X-Signature` (hex HMAC-SHA256 of the raw
/// body, constant-time), finds the transaction by passthrough, and settles it once.
pub async fn handle_callback(
    store: &Store,
    secret: &str,
    body: &[u8],
    signature: &str,
) -> Result<CallbackResult, CallbackError> {
    if secret.is_empty() || !crate::platform::crypto::verify_hmac_sha256_hex(secret.as_bytes(), body, signature) {
        return Err(CallbackError::BadSignature);
    }
    let cb: CallbackBody = serde_json::from_slice(body).map_err(|e| CallbackError::Malformed(e.to_string()))?;
    let pt: Passthrough =
        serde_json::from_str(&cb.passthrough).map_err(|e| CallbackError::Malformed(format!("passthrough: {e}")))?;
    if !crate::domain::apikey::is_account_id(&pt.account) || !is_trx(&pt.trx) {
        return Err(CallbackError::Malformed("passthrough names no kobo transaction".into()));
    }
    let Some(tx) = store.get_vtu(&pt.account, &pt.trx).await? else {
        tracing::warn!(trx = %pt.trx, "callback for an unknown transaction; acknowledged, nothing changed");
        return Ok(CallbackResult::Unknown);
    };
    let outcome = if cb.success {
        let mut meta = serde_json::Map::new();
        if let Some(o) = as_text(&cb.operator_transaction_id) {
            meta.insert("operator_ref".into(), serde_json::json!(o));
        }
        if let Some(o) = &cb.operator {
            meta.insert("operator".into(), serde_json::json!(o));
        }
        if let Some(a) = as_text(&cb.amount) {
            meta.insert("provider_amount".into(), serde_json::json!(a));
        }
        Outcome::Success {
            provider_ref: as_text(&cb.recharge_id),
            meta: serde_json::Value::Object(meta),
            cards: tx.cards.clone(),
        }
    } else {
        Outcome::Failed { reason: cb.error.unwrap_or_else(|| "failed at the provider".into()) }
    };
    match settle(store, &tx, &outcome, "callback").await? {
        Some(_) => Ok(CallbackResult::Applied),
        None => Ok(CallbackResult::AlreadySettled),
    }
}
