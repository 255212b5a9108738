//! VTU after the wallet: paying (debit, ledger entry, transaction and events in one
//! transaction), and settling exactly once whatever reports the outcome — the provider's
//! answer, its signed callbacks or the reconciler's requeries.

use serde::Deserialize;

use crate::db::accounts::entry;
use crate::db::item::Record;
use crate::db::vtu::{request_pointer, reverse_change, settle_change, vtu_key, Watched};
use crate::db::{Floor, Store, Tx};
use crate::domain::alert::{Alert, AlertKind};
use crate::domain::event::EventType;
use crate::domain::idempotency::IdemRecord;
use crate::domain::money::Kobo;
use crate::domain::time::{now_rfc3339, now_unix};
use crate::domain::vtu::{is_trx, Outcome, VtuCategory, VtuStatus, VtuTx, REVERSAL_CHECKS};
use crate::error::StoreError;
use crate::flows::orders::{commit_spend, spend_and, SpendError};
use crate::upstream::topup::{TopupRequest, TopupResult, TopupState};
use crate::upstream::vtu::VtuSource;
use crate::upstream::{TopupProvider, UpstreamError};

/// Debits, writes the ledger entry, the transaction, `vtu.processing` and
/// `vtu.status_changed` (and any idempotency record, with the pointer from its key to the
/// trx that `vtu_status request_id=` reads) in one transaction; with `pin_ok`, the right
/// PIN's attempts start over in the same write of the account.
pub async fn pay(
    store: &Store,
    tx: &VtuTx,
    min_balance: Kobo,
    idem: Option<&IdemRecord>,
    pin_ok: bool,
) -> Result<(), SpendError> {
    let debit = entry(
        &tx.account_id,
        tx.amount.negate(),
        "vtu",
        format!("{} {}", tx.category, tx.service_name),
        Some(format!("vtu:{}", tx.trx)),
        "api",
    );
    let object = tx.webhook_object();
    let also = if pin_ok {
        crate::db::accounts::pin_ok_change(crate::domain::pin::Guess::Pin)
    } else {
        crate::db::table::Change::new()
    };
    let mut t = spend_and(store, &debit, min_balance, idem, also)?
        .put_new("vtu", tx.to_item())?
        .put("trx", crate::db::vtu::trx_pointer(&tx.account_id, &tx.trx))?
        .event(&tx.account_id, EventType::VtuProcessing, "vtu", object.clone())?
        .event(&tx.account_id, EventType::VtuStatusChanged, "vtu", object)?;
    if let Some(r) = idem {
        t = t.put("request", request_pointer(&tx.account_id, &r.key_hash, &tx.trx))?;
    }
    commit_spend(store, t, idem).await
}

/// Sends a paid purchase along its `route`: to the provider its request names (recorded
/// in the payment's own transaction), and on to the next provider of the route only when
/// that one certainly did not take it ([`UpstreamError::NotSent`]: refused before
/// processing, low wallet balance, unreachable). Each move is recorded before the
/// purchase is sent on (a conditional write on the request still naming the provider it
/// leaves), so requeries, callbacks and reversals always ask the provider that may hold
/// it. An ambiguous answer stops the route: that provider's requery decides, and no other
/// is asked. A plan bought by the provider's own product code (data, SME, a bouquet
/// change) is not moved: the next provider's code for it is not known. When no provider
/// took it, the answer is a refusal, so the purchase is failed and refunded once.
///
/// `claim`: a re-send (the reconciler's, after the provider said it never got it) is
/// first recorded itself (`resends` + 1, conditional on the request as read), so a
/// re-send and a concurrent move never both happen. Returns the purchase as it now
/// stands and the last answer.
pub async fn send(
    store: &Store,
    src: &impl VtuSource,
    tx: &VtuTx,
    route: &[String],
    claim: bool,
) -> (VtuTx, Result<TopupResult, UpstreamError>) {
    let mut tx = tx.clone();
    if claim {
        let mut again = rebuild_request(&tx.request);
        again.resends += 1;
        match record_request(store, &tx, &again).await {
            Ok(t) => tx = t,
            Err(e) => return (tx, Err(e)),
        }
    }
    let mut tried: Vec<String> = Vec::new();
    loop {
        let request = rebuild_request(&tx.request);
        let (name, _) = provider_of(&tx);
        let provider = src.provider_for(&name).await;
        let answer = match provider {
            Ok(p) => p.purchase(&request).await,
            Err(e) => Err(e),
        };
        let Err(UpstreamError::NotSent(why)) = answer else { return (tx, answer) };
        tracing::warn!(trx = %tx.trx, provider = %name, why = %why, "provider did not take the purchase");
        if crate::upstream::vtu::is_low_balance(&why) {
            // Passed by from now on, until its float is read above its threshold again.
            if let Err(e) = store.set_provider_low(&name, true).await {
                tracing::warn!(provider = %name, error = %e, "low float not recorded; the next float read records it");
            }
        }
        tried.push(format!("{name}: {why}"));
        let at = route.iter().position(|p| *p == name);
        let next = at.and_then(|i| route.get(i + 1)).filter(|_| request.product_code.is_none());
        let Some(next) = next else {
            return (tx, Err(UpstreamError::Rejected(format!("no provider took it ({})", tried.join("; ")))));
        };
        let mut moved = request.clone();
        moved.provider = next.clone();
        moved.reference = crate::upstream::vtu::reference_for(next, &tx.trx, now_unix());
        match record_request(store, &tx, &moved).await {
            Ok(t) => tx = t,
            Err(e) => return (tx, Err(e)),
        }
    }
}

/// What reading a provider's float found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Float {
    /// At or above the threshold: routed to.
    Enough,
    /// Below it: passed by in routes, and an operator alert raised.
    Low,
}

/// Records provider `name`'s float `balance` read at `now`: below `threshold` it is
/// flagged low (routes pass it by) and an operator alert says so; at or above, the flag
/// is cleared (routes use it again) and any alert is left for the operator to close.
pub async fn check_float(
    store: &Store,
    name: &str,
    balance: Kobo,
    threshold: Kobo,
    now: i64,
) -> Result<Float, StoreError> {
    store.record_float(name, balance, now).await?;
    if balance >= threshold {
        if store.set_provider_low(name, false).await? {
            tracing::info!(provider = name, %balance, "provider float above its threshold again; routed to");
        }
        return Ok(Float::Enough);
    }
    store.set_provider_low(name, true).await?;
    let alert = Alert::new(
        &format!("provider:{name}"),
        AlertKind::ProviderLowFloat,
        "-",
        format!("{name}'s wallet holds {balance}, below the {threshold} threshold: routes pass it by"),
        format!("top up the {name} wallet; the next float read routes to it again"),
    );
    store.raise_alert(&alert).await?;
    Ok(Float::Low)
}

/// Records `to` as the purchase's request, only if it still is `tx.request` and the
/// purchase is processing: the purchase as it now stands, or an ambiguous error when
/// another writer changed it first or the write's outcome is unknown (nothing is sent on
/// a request not recorded).
async fn record_request(store: &Store, tx: &VtuTx, to: &TopupRequest) -> Result<VtuTx, UpstreamError> {
    let to = serde_json::to_value(to).unwrap_or_default();
    match store.move_vtu_provider(tx, &tx.request.to_string(), &to.to_string()).await {
        Ok(true) => Ok(VtuTx { request: to, ..tx.clone() }),
        Ok(false) => Err(UpstreamError::Ambiguous("its request was changed by another writer".into())),
        Err(e) => {
            tracing::error!(trx = %tx.trx, error = %e, "the purchase's next send not recorded; left processing");
            Err(UpstreamError::Ambiguous(format!("next send not recorded: {e}")))
        }
    }
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
        .update("vtu", &vtu_key(&tx.account_id, &tx.trx), settle_change(&after, now_unix()))?
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

/// Refunds a delivered purchase the provider reversed, exactly once whoever reports it
/// (callback, reconciler, operator): the status moves from `success` to `failed`
/// (conditionally) with a message that says it was reversed, the refund (credit + ledger
/// entry) and `vtu.failed` + `vtu.status_changed`, in one transaction. Returns the
/// reversed transaction, or `None` when it was not (or no longer) a success.
pub async fn reverse(store: &Store, tx: &VtuTx, reason: &str, actor: &str) -> Result<Option<VtuTx>, StoreError> {
    if tx.status != VtuStatus::Success {
        return Ok(None);
    }
    let after = tx.reversed(reason, now_rfc3339());
    let object = after.webhook_object();
    let refund = entry(
        &tx.account_id,
        tx.amount,
        "refund",
        format!("VTU {} reversed by the provider", tx.trx),
        Some(format!("vtu:{}", tx.trx)),
        actor,
    );
    let done = Tx::new(store)
        .update("vtu", &vtu_key(&tx.account_id, &tx.trx), reverse_change(&after))?
        .event(&tx.account_id, EventType::VtuFailed, "vtu", object.clone())?
        .event(&tx.account_id, EventType::VtuStatusChanged, "vtu", object)?
        .balance(&refund, Floor::None)?
        .commit_once()
        .await?;
    if done {
        tracing::warn!(trx = %tx.trx, actor, "delivered purchase reversed by the provider; refunded");
    }
    Ok(done.then_some(after))
}

/// What asking the provider about a reported reversal found.
#[derive(Debug, Clone, PartialEq)]
pub enum ReversalCheck {
    /// The provider's record says failed: refunded now (as it now stands).
    Reversed(VtuTx),
    /// Refunded already (by whoever reported it first).
    AlreadyReversed(VtuTx),
    /// The provider's record still says delivered: nothing changed.
    StillDelivered,
    /// The provider gave no usable answer: nothing changed; ask again later.
    Unconfirmed,
}

/// Asks the provider whether the delivered `tx` was reversed, and refunds it once when it
/// was. Only the provider's own record (a requery) is believed: a failure callback that
/// arrives after a success may be a stale or reordered one.
pub async fn confirm_reversal(
    store: &Store,
    src: &impl VtuSource,
    tx: &VtuTx,
    actor: &str,
) -> Result<ReversalCheck, StoreError> {
    let reason = match requery_of(src, tx).await {
        Ok(Some(r)) => match r.state {
            TopupState::Failed(reason) => reason,
            TopupState::Success | TopupState::Pending => return Ok(ReversalCheck::StillDelivered),
        },
        Ok(None) => {
            tracing::warn!(trx = %tx.trx, "the provider has no record of a delivered purchase; not reversed");
            return Ok(ReversalCheck::StillDelivered);
        }
        Err(e) => {
            tracing::warn!(trx = %tx.trx, error = %e, "reversal not confirmed: the requery answered nothing usable");
            return Ok(ReversalCheck::Unconfirmed);
        }
    };
    if let Some(after) = reverse(store, tx, &reason, actor).await? {
        return Ok(ReversalCheck::Reversed(after));
    }
    let now = store.get_vtu(&tx.account_id, &tx.trx).await?.unwrap_or_else(|| tx.clone());
    Ok(if now.is_reversed() { ReversalCheck::AlreadyReversed(now) } else { ReversalCheck::StillDelivered })
}

/// What one reversal-check pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ReversalReport {
    /// Delivered transactions whose check was due.
    pub checked: usize,
    /// Found reversed and refunded.
    pub reversed: usize,
    /// Still delivered (next check scheduled, or out of the watch after the last).
    pub delivered: usize,
    /// No usable answer: checked again next pass.
    pub unconfirmed: usize,
    /// Not reached before the pass's deadline.
    pub deferred: usize,
}

/// Most deliveries one pass asks about (the longest due first; a backlog takes passes).
const REVERSAL_BATCH: usize = 1_000;

/// How long past its last scheduled check a watched transaction whose requeries keep
/// failing is still asked about, before it leaves the watch (logged).
const WATCH_GIVE_UP_SECS: i64 = 24 * 3600;

/// Asks the provider about every delivered transaction whose reversal check is due at
/// `now` (all of them, [`REQUERY_CONCURRENCY`] at a time, so one slow answer holds up no
/// other), refunding once those it reversed, until `deadline`.
pub async fn check_reversals(
    store: &Store,
    src: &impl VtuSource,
    now: i64,
    deadline: std::time::Instant,
) -> Result<ReversalReport, StoreError> {
    use futures_util::stream::{self, StreamExt};
    let due = store.reversal_checks_due(now, REVERSAL_BATCH).await?;
    let results: Vec<Option<ReversalCheck>> = stream::iter(due)
        .map(|w| async move {
            if std::time::Instant::now() >= deadline {
                return None;
            }
            Some(check_one(store, src, &w, now).await.unwrap_or_else(|e| {
                tracing::warn!(trx = %w.tx.trx, error = %e, "reversal check failed; the next pass tries again");
                ReversalCheck::Unconfirmed
            }))
        })
        .buffer_unordered(REQUERY_CONCURRENCY)
        .collect()
        .await;
    let mut report = ReversalReport::default();
    for r in results {
        match r {
            None => report.deferred += 1,
            Some(r) => {
                report.checked += 1;
                match r {
                    ReversalCheck::Reversed(_) => report.reversed += 1,
                    ReversalCheck::AlreadyReversed(_) | ReversalCheck::StillDelivered => report.delivered += 1,
                    ReversalCheck::Unconfirmed => report.unconfirmed += 1,
                }
            }
        }
    }
    Ok(report)
}

async fn check_one(store: &Store, src: &impl VtuSource, w: &Watched, now: i64) -> Result<ReversalCheck, StoreError> {
    let found = confirm_reversal(store, src, &w.tx, "reconciler").await?;
    let last_check = w.settled_at.saturating_add(REVERSAL_CHECKS.last().copied().unwrap_or(0));
    let give_up = now > last_check.saturating_add(WATCH_GIVE_UP_SECS);
    match &found {
        ReversalCheck::StillDelivered => {
            store.reversal_checked(w).await?;
        }
        ReversalCheck::Unconfirmed if give_up => {
            tracing::warn!(trx = %w.tx.trx, "no usable answer about a reversal for a day past the last check; no longer asked");
            store.reversal_checked(&Watched { checks: REVERSAL_CHECKS.len(), ..w.clone() }).await?;
        }
        _ => {}
    }
    Ok(found)
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
            for (k, v) in r.electricity.fields() {
                meta.insert(k.into(), serde_json::json!(v));
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

/// Applies a purchase answer: final results settle the transaction; pending, timeouts,
/// unreachable providers and successes that lack the cards or token leave it processing
/// for a callback or the reconciler; a result that contradicts a settled transaction
/// raises an operator alert. Returns the transaction as it now stands.
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
    Ok(settle_or_alert(store, tx, &outcome, actor).await?.now())
}

/// What reporting an outcome did.
#[derive(Debug, Clone, PartialEq)]
pub enum Reported {
    /// It settled the transaction (as it now stands).
    Settled(VtuTx),
    /// A success without the cards or token the purchase must deliver: left processing
    /// for a requery that brings them.
    Incomplete(VtuTx),
    /// The transaction was settled already, the same way.
    Already(VtuTx),
    /// The transaction was settled already, the other way: an operator alert was raised.
    Contradicted(VtuTx),
}

impl Reported {
    /// The transaction as it now stands.
    pub fn now(self) -> VtuTx {
        match self {
            Reported::Settled(t) | Reported::Incomplete(t) | Reported::Already(t) | Reported::Contradicted(t) => t,
        }
    }
}

/// Settles `tx` with `outcome` exactly once. A success lacking what the purchase must
/// deliver settles nothing. When the transaction was settled already (by a callback, a
/// requery or an operator), an outcome that contradicts it is never acknowledged as a
/// mere duplicate: it raises an operator alert with the command that settles it.
pub async fn settle_or_alert(
    store: &Store,
    tx: &VtuTx,
    outcome: &Outcome,
    actor: &str,
) -> Result<Reported, StoreError> {
    if tx.status == VtuStatus::Processing {
        if let Some(missing) = tx.missing_delivery(outcome) {
            tracing::warn!(trx = %tx.trx, missing, "success reported without what the purchase delivers; left processing for a requery");
            return Ok(Reported::Incomplete(tx.clone()));
        }
        if let Some(after) = settle(store, tx, outcome, actor).await? {
            return Ok(Reported::Settled(after));
        }
    }
    // Settled meanwhile (or before): read what won.
    let now = store.get_vtu(&tx.account_id, &tx.trx).await?.unwrap_or_else(|| tx.clone());
    let Some(why) = now.contradiction(outcome) else { return Ok(Reported::Already(now)) };
    // The one contradiction: a delivery reported for a purchase kobo failed and refunded.
    let command = format!(
        "confirm the delivery with the provider, then either `kobo wallet debit {acct} {amount} --reason \"VTU {trx} delivered after refund\"` or absorb it",
        acct = now.account_id, amount = now.amount, trx = now.trx
    );
    let alert = Alert::new(
        &format!("vtu:{}", now.trx),
        AlertKind::VtuDeliveredAfterRefund,
        &now.account_id,
        format!("{why} (reported by {actor})"),
        command,
    );
    store.raise_alert(&alert).await?;
    Ok(Reported::Contradicted(now))
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
    /// Left processing: the provider's answer was missing, ambiguous or incomplete.
    pub unresolved: usize,
    /// Not reached before the pass's deadline (the next pass takes them).
    pub deferred: usize,
    /// Raised an operator alert (processing too long; contradictions).
    pub alerted: usize,
}

/// Requeries at once at most this many.
const REQUERY_CONCURRENCY: usize = 16;

/// A purchase processing longer than this is put before an operator (it stays
/// processing: only the provider's explicit answer or the operator settles it).
pub const PROCESSING_ALERT_SECS: i64 = 6 * 3600;

/// Requeries every transaction processing for longer than `older_than_secs` and settles
/// those with a final answer; one the provider never got is sent again (it deduplicates
/// on our reference). Every processing transaction is looked at (all pages,
/// `REQUERY_CONCURRENCY` at a time, so one slow or failing transaction holds up no
/// other), until `deadline` (the rest are counted `deferred`).
pub async fn requery_processing(
    store: &Store,
    src: &impl VtuSource,
    older_than_secs: i64,
    deadline: std::time::Instant,
) -> Result<RequeryReport, StoreError> {
    use futures_util::stream::{self, StreamExt};
    let now = now_unix();
    // Routes, for a purchase its provider never got: it goes on along its route.
    let catalog = store.vtu_catalog().await?;
    let catalog = &catalog;
    let due: Vec<VtuTx> = store
        .processing_vtu()
        .await?
        .into_iter()
        .filter(|tx| {
            let age =
                chrono::DateTime::parse_from_rfc3339(&tx.created_at).map(|t| now - t.timestamp()).unwrap_or(i64::MAX);
            age >= older_than_secs
        })
        .collect();
    let outcomes: Vec<Requeried> = stream::iter(due)
        .map(|tx| async move {
            if std::time::Instant::now() >= deadline {
                return Requeried::Deferred;
            }
            match requery_one(store, src, &tx, catalog).await {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!(trx = %tx.trx, error = %e, "requery failed; the next pass tries again");
                    Requeried::Unresolved
                }
            }
        })
        .buffer_unordered(REQUERY_CONCURRENCY)
        .collect()
        .await;
    let mut report = RequeryReport::default();
    for o in outcomes {
        if !matches!(o, Requeried::Deferred) {
            report.examined += 1;
        }
        match o {
            Requeried::Succeeded { resent } => {
                report.succeeded += 1;
                report.resent += usize::from(resent);
            }
            Requeried::Failed { resent } => {
                report.failed += 1;
                report.resent += usize::from(resent);
            }
            Requeried::Unresolved => report.unresolved += 1,
            Requeried::Alerted => report.alerted += 1,
            Requeried::Deferred => report.deferred += 1,
            Requeried::Other => {}
        }
    }
    Ok(report)
}

enum Requeried {
    Succeeded { resent: bool },
    Failed { resent: bool },
    Unresolved,
    Alerted,
    Deferred,
    Other,
}

async fn requery_one(
    store: &Store,
    src: &impl VtuSource,
    tx: &VtuTx,
    catalog: &crate::domain::vtu::VtuCatalog,
) -> Result<Requeried, StoreError> {
    let mut resent = false;
    let answer = match requery_of(src, tx).await {
        Ok(Some(r)) => Ok(r),
        Ok(None) => {
            // The provider it records never got it: sent again along its route, from that
            // provider (which deduplicates on the reference) on, the re-send claimed
            // first on the purchase as it stands now (read again: the list it came from
            // may be behind a move the API just made); a provider that refuses passes it
            // to the next; none taking it fails it (refunded once).
            let Some(now) = store.get_vtu(&tx.account_id, &tx.trx).await? else { return Ok(Requeried::Other) };
            if now.status != VtuStatus::Processing || provider_of(&now) != provider_of(tx) {
                return Ok(Requeried::Other);
            }
            resent = true;
            send(store, src, &now, &catalog.route(now.category, &now.service_name), true).await.1
        }
        Err(e) => Err(e),
    };
    let reported = match answer {
        // Only an explicit answer from the provider settles; anything else (4xx, 5xx,
        // timeouts) says nothing about the purchase.
        Ok(ref r) => match outcome_of(r) {
            Some(outcome) => settle_or_alert(store, tx, &outcome, "reconciler").await?,
            None => Reported::Incomplete(tx.clone()),
        },
        Err(UpstreamError::Rejected(reason)) if resent => {
            settle_or_alert(store, tx, &Outcome::Failed { reason }, "reconciler").await?
        }
        Err(e) => {
            tracing::warn!(trx = %tx.trx, error = %e, "requery answered nothing final; left processing");
            Reported::Incomplete(tx.clone())
        }
    };
    Ok(match reported {
        Reported::Settled(after) if after.status == VtuStatus::Success => Requeried::Succeeded { resent },
        Reported::Settled(_) => Requeried::Failed { resent },
        Reported::Contradicted(_) => Requeried::Alerted,
        Reported::Incomplete(now) => {
            let age = chrono::DateTime::parse_from_rfc3339(&now.created_at)
                .map(|t| now_unix() - t.timestamp())
                .unwrap_or(i64::MAX);
            if age >= PROCESSING_ALERT_SECS {
                let alert = Alert::new(
                    &format!("vtu:{}", now.trx),
                    AlertKind::VtuProcessingLong,
                    &now.account_id,
                    format!("processing for {} h without a final answer from the provider", age / 3600),
                    format!(
                        "check {trx} with the provider; when it failed, `kobo vtu settle {acct} {trx} --failed`; when it was delivered, `kobo vtu settle {acct} {trx} --delivered`",
                        trx = now.trx, acct = now.account_id
                    ),
                );
                if store.raise_alert(&alert).await? {
                    return Ok(Requeried::Alerted);
                }
            }
            Requeried::Unresolved
        }
        Reported::Already(_) => Requeried::Other,
    })
}

/// The provider a purchase went to, and the reference that provider knows it by. A
/// purchase recorded before routing names neither: the top-up provider, its trx.
pub fn provider_of(tx: &VtuTx) -> (String, String) {
    let field = |k: &str| tx.request.get(k).and_then(serde_json::Value::as_str).filter(|v| !v.is_empty());
    (
        field("provider").unwrap_or(crate::upstream::vtu::DEFAULT_PROVIDER).to_string(),
        field("reference").unwrap_or(&tx.trx).to_string(),
    )
}

/// The record of the provider a purchase went to, under the reference it knows.
async fn requery_of(src: &impl VtuSource, tx: &VtuTx) -> Result<Option<TopupResult>, UpstreamError> {
    let (name, reference) = provider_of(tx);
    let provider = src.provider_for(&name).await?;
    let record = provider.requery(&reference).await;
    record
}

/// The stored request as a [`TopupRequest`] (fields it lacks are left empty).
pub fn rebuild_request(v: &serde_json::Value) -> TopupRequest {
    serde_json::from_value(v.clone()).unwrap_or_default()
}

/// What a provider callback did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallbackResult {
    /// It settled the transaction.
    Applied,
    /// The transaction was already settled the same way: nothing changed.
    AlreadySettled,
    /// A success whose cards or token could not be fetched yet: left processing for the
    /// reconciler's requery.
    Awaiting,
    /// It contradicts how the transaction was settled: an operator alert was raised.
    Contradicted,
    /// A failure reported for a delivered purchase, confirmed by the provider's record:
    /// the purchase was reversed and refunded.
    Reversed,
    /// A failure reported for a delivered purchase the provider's record still shows as
    /// delivered (a stale or reordered callback): nothing changed.
    Superseded,
    /// No such transaction (logged, acknowledged).
    Unknown,
    /// The purchase went to another provider: this one's report about it changes nothing
    /// (logged, acknowledged); the requery of the provider it went to settles it.
    OtherProvider,
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
    /// A reported failure or reversal the provider's record could not confirm yet (no
    /// usable requery answer): nothing changed; the provider should retry, and the
    /// reconciler decides meanwhile.
    #[error("failure not confirmed by the provider yet")]
    Unconfirmed,
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
/// body, constant-time), finds the transaction by passthrough, and settles it once. A
/// callback is only a hint: a failure is believed only when a requery of the provider
/// confirms it (failed → refunded once; pending → nothing; delivered → settled as a
/// success; no usable answer → [`CallbackError::Unconfirmed`], so the provider retries).
pub async fn handle_callback(
    store: &Store,
    src: &impl VtuSource,
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
    let (went_to, _) = provider_of(&tx);
    if went_to != crate::upstream::vtu::DEFAULT_PROVIDER {
        tracing::warn!(trx = %tx.trx, went_to = %went_to, "top-up provider callback for a purchase routed to another provider; acknowledged, nothing changed");
        return Ok(CallbackResult::OtherProvider);
    }
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
        let reported = Outcome::Success {
            provider_ref: as_text(&cb.recharge_id),
            meta: serde_json::Value::Object(meta),
            cards: tx.cards.clone(),
        };
        // A success callback carries no cards, token or meter details: fetch them before
        // settling (electricity always: units, customer and tariff come only this way).
        let fetch = tx.missing_delivery(&reported).is_some() || tx.category == VtuCategory::Electricity;
        if fetch && tx.status == VtuStatus::Processing {
            match requery_of(src, &tx).await {
                Ok(Some(r)) if r.state == TopupState::Success => {
                    outcome_of(&r).map(|o| merge(o, &reported)).unwrap_or(reported)
                }
                Ok(_) | Err(_) => reported,
            }
        } else {
            reported
        }
    } else if tx.status == VtuStatus::Processing {
        // A failure callback is a hint, and may be stale or reordered (a pending purchase
        // that later succeeded): only the provider's own record refunds.
        match confirm_failure(src, &tx).await {
            Confirmed::Outcome(o) => o,
            Confirmed::StillPending => return Ok(CallbackResult::Awaiting),
            Confirmed::Unusable => return Err(CallbackError::Unconfirmed),
        }
    } else {
        // Settled already: a failure after a success is a reversal claim (confirmed by a
        // requery below); after a failure, a duplicate.
        Outcome::Failed { reason: cb.error.unwrap_or_else(|| "failed at the provider".into()) }
    };
    let reported = settle_or_alert(store, &tx, &outcome, "callback").await?;
    if let Reported::Already(now) = &reported {
        if now.reversal_claim(&outcome).is_some() {
            return match confirm_reversal(store, src, now, "callback").await? {
                ReversalCheck::Reversed(_) => Ok(CallbackResult::Reversed),
                ReversalCheck::AlreadyReversed(_) => Ok(CallbackResult::AlreadySettled),
                ReversalCheck::StillDelivered => Ok(CallbackResult::Superseded),
                ReversalCheck::Unconfirmed => Err(CallbackError::Unconfirmed),
            };
        }
    }
    Ok(match reported {
        Reported::Settled(_) => CallbackResult::Applied,
        Reported::Already(_) => CallbackResult::AlreadySettled,
        Reported::Incomplete(_) => CallbackResult::Awaiting,
        Reported::Contradicted(_) => CallbackResult::Contradicted,
    })
}

/// What the provider's record says of a processing purchase a failure was reported for.
enum Confirmed {
    /// Final there (failed, or delivered after all): settle with it.
    Outcome(Outcome),
    /// Still pending there: nothing changes.
    StillPending,
    /// No usable answer (an error, no record): nothing changes; asked again later.
    Unusable,
}

/// Asks the provider that took `tx` how it stands, to confirm a reported failure.
async fn confirm_failure(src: &impl VtuSource, tx: &VtuTx) -> Confirmed {
    match requery_of(src, tx).await {
        Ok(Some(r)) => match outcome_of(&r) {
            Some(o) => {
                if matches!(o, Outcome::Success { .. }) {
                    tracing::warn!(trx = %tx.trx, "failure callback for a purchase the provider delivered (stale or reordered); settling as delivered");
                }
                Confirmed::Outcome(o)
            }
            None => {
                tracing::info!(trx = %tx.trx, "failure callback, but the provider's record is still pending; nothing refunded");
                Confirmed::StillPending
            }
        },
        Ok(None) => {
            tracing::warn!(trx = %tx.trx, "failure callback for a purchase the provider has no record of; nothing refunded, the reconciler decides");
            Confirmed::Unusable
        }
        Err(e) => {
            tracing::warn!(trx = %tx.trx, error = %e, "failure callback not confirmed: the requery answered nothing usable; nothing refunded");
            Confirmed::Unusable
        }
    }
}

/// Handles a provider's unsigned callback about `tx` (VTpass's `transaction-update`):
/// only a hint, so the provider the purchase records is asked, and only its answer moves
/// anything: a processing purchase is settled by it (a delivery, or a failure refunded
/// once), a delivered one is checked for a reversal. No usable answer is
/// [`CallbackError::Unconfirmed`] (the provider sends it again; the reconciler decides
/// meanwhile).
pub async fn handle_hint(store: &Store, src: &impl VtuSource, tx: &VtuTx) -> Result<CallbackResult, CallbackError> {
    match tx.status {
        VtuStatus::Processing => {
            let outcome = match requery_of(src, tx).await {
                Ok(Some(r)) => outcome_of(&r),
                Ok(None) | Err(_) => return Err(CallbackError::Unconfirmed),
            };
            let Some(outcome) = outcome else { return Ok(CallbackResult::Awaiting) };
            Ok(match settle_or_alert(store, tx, &outcome, "callback").await? {
                Reported::Settled(_) => CallbackResult::Applied,
                Reported::Already(_) => CallbackResult::AlreadySettled,
                Reported::Incomplete(_) => CallbackResult::Awaiting,
                Reported::Contradicted(_) => CallbackResult::Contradicted,
            })
        }
        VtuStatus::Success => match confirm_reversal(store, src, tx, "callback").await? {
            ReversalCheck::Reversed(_) => Ok(CallbackResult::Reversed),
            ReversalCheck::AlreadyReversed(_) => Ok(CallbackResult::AlreadySettled),
            ReversalCheck::StillDelivered => Ok(CallbackResult::Superseded),
            ReversalCheck::Unconfirmed => Err(CallbackError::Unconfirmed),
        },
        VtuStatus::Failed => Ok(CallbackResult::AlreadySettled),
    }
}

/// The requery's success, with what the callback reported that the requery lacks.
fn merge(requeried: Outcome, callback: &Outcome) -> Outcome {
    match (requeried, callback) {
        (
            Outcome::Success { provider_ref, meta, cards },
            Outcome::Success { provider_ref: cb_ref, meta: cb_meta, .. },
        ) => {
            let mut merged = cb_meta.as_object().cloned().unwrap_or_default();
            if let Some(m) = meta.as_object() {
                for (k, v) in m {
                    merged.insert(k.clone(), v.clone());
                }
            }
            Outcome::Success {
                provider_ref: provider_ref.or_else(|| cb_ref.clone()),
                meta: serde_json::Value::Object(merged),
                cards,
            }
        }
        (other, _) => other,
    }
}
