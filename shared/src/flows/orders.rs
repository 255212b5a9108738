//! SMM orders: placing them (one transaction for debit, ledger, order, event and
//! idempotency record), sending them upstream exactly once, and applying upstream
//! progress with refunds that happen exactly once.

use crate::db::accounts::entry;
use crate::db::item::Record;
use crate::db::orders::{order_key, progress_change};
use crate::db::{Floor, Store, Tx, TxError};
use crate::domain::event::EventType;
use crate::domain::idempotency::IdemRecord;
use crate::domain::money::Kobo;
use crate::domain::smm::{order_object, refund_due, Order, OrderStatus, Progress, UpstreamState};
use crate::domain::time::{now_rfc3339, now_unix};
use crate::error::StoreError;
use crate::upstream::{SmmPanel, UpstreamError};

/// Why a spend (an order, a purchase, a withdrawal hold) could not be recorded.
#[derive(Debug)]
pub enum SpendError {
    /// The balance (less the minimum balance) does not cover it.
    InsufficientBalance,
    /// The idempotency key was taken by a concurrent request; here is its record.
    Replay(IdemRecord),
    /// The store failed.
    Store(StoreError),
}

impl From<StoreError> for SpendError {
    fn from(e: StoreError) -> SpendError {
        SpendError::Store(e)
    }
}

/// Commits a spend built by `tx` (whose balance item is named `balance` and whose
/// idempotency record, if any, `idem`): a taken idempotency key answers its record, a
/// failed balance condition is insufficient balance.
pub async fn commit_spend(store: &Store, tx: Tx<'_>, idem: Option<&IdemRecord>) -> Result<(), SpendError> {
    match tx.commit().await {
        Ok(()) => Ok(()),
        Err(e) if e.failed("idem") => {
            let r = idem.ok_or_else(|| StoreError::Backend("idempotency condition without a record".into()))?;
            match store.get_idem(&r.account_id, &r.key_hash).await? {
                Some(rec) => Err(SpendError::Replay(rec)),
                None => Err(SpendError::Store(StoreError::Backend("idempotency record not readable".into()))),
            }
        }
        Err(e) if e.failed("balance") => Err(SpendError::InsufficientBalance),
        Err(TxError::ConditionFailed(failed)) => {
            Err(SpendError::Store(StoreError::Conflict(format!("spend conditions failed: {failed:?}"))))
        }
        Err(TxError::Store(StoreError::Conflict(_))) => Err(SpendError::InsufficientBalance),
        Err(TxError::Store(e)) => Err(SpendError::Store(e)),
    }
}

/// The start of a spend's transaction: the debit of `amount` (with its ledger entry)
/// that must leave `min_balance`, and the idempotency record when there is one.
pub fn spend<'a>(
    store: &'a Store,
    debit: &crate::domain::account::LedgerEntry,
    min_balance: Kobo,
    idem: Option<&IdemRecord>,
) -> Result<Tx<'a>, SpendError> {
    let need = debit.amount.negate().checked_add(min_balance).ok_or(SpendError::InsufficientBalance)?;
    let tx = Tx::new(store).balance(debit, Floor::Spend { need, min_balance })?;
    Ok(match idem {
        Some(r) => tx.put_new("idem", r.to_item())?,
        None => tx,
    })
}

/// Debits, writes the ledger entry, the order, `order.created` and the idempotency record
/// in one transaction.
pub async fn create_order(
    store: &Store,
    order: &Order,
    min_balance: Kobo,
    idem: Option<&IdemRecord>,
) -> Result<(), SpendError> {
    let debit = entry(
        &order.account_id,
        order.charge.negate(),
        "order",
        format!("SMM order {}", order.id),
        Some(format!("order:{}", order.id)),
        "api",
    );
    let tx = spend(store, &debit, min_balance, idem)?.put_new("order", order.to_item())?.event(
        &order.account_id,
        EventType::OrderCreated,
        "order",
        order_object(order),
    )?;
    commit_spend(store, tx, idem).await
}

/// Sends a freshly created order upstream and records the outcome. Never sends an order
/// twice: the order is created as `Sending`, and only `Unsent` orders are (re)sent by the
/// reconciler after claiming them.
pub async fn send_upstream(store: &Store, panel: &impl SmmPanel, order: &Order) -> Result<UpstreamState, StoreError> {
    let outcome = panel.add(&order.upstream_service, &order.link, order.quantity).await;
    let (to, upstream_id) = match &outcome {
        Ok(id) => (UpstreamState::Placed, Some(id.as_str())),
        Err(UpstreamError::NotSent(_)) => (UpstreamState::Unsent, None),
        Err(UpstreamError::Ambiguous(_)) => (UpstreamState::Unknown, None),
        Err(UpstreamError::Rejected(_)) => (UpstreamState::Rejected, None),
    };
    if let Err(e) = &outcome {
        tracing::warn!(order_id = order.id, error = %e, "upstream add did not succeed");
    }
    store.set_upstream(order, UpstreamState::Sending, to, upstream_id).await?;
    if to == UpstreamState::Rejected {
        let mut o = order.clone();
        o.upstream = UpstreamState::Rejected;
        let p = Progress { status: OrderStatus::Cancelled, start_count: 0, remains: order.quantity };
        apply_progress(store, &o, p, "upstream rejected the order").await?;
    }
    Ok(to)
}

/// Applies upstream progress to an order, exactly once: the update is conditional on the
/// status and refund the caller read, and a refund (credit + ledger entry +
/// `order.refunded`) rides in the same transaction. Returns whether anything changed;
/// `false` when nothing was new or another writer got there first.
pub async fn apply_progress(store: &Store, before: &Order, p: Progress, reason: &str) -> Result<bool, StoreError> {
    if before.status.is_final() {
        return Ok(false);
    }
    if p.status == before.status && p.start_count == before.start_count && p.remains == before.remains {
        return Ok(false);
    }
    let refund = if p.status.is_final() { refund_due(before, &p) } else { Kobo::ZERO };
    let mut after = before.clone();
    after.status = p.status;
    after.start_count = p.start_count;
    after.remains = p.remains;
    after.refunded = refund;
    after.updated_at = now_rfc3339();

    let object = order_object(&after);
    let mut tx =
        Tx::new(store).update("order", &order_key(&before.account_id, before.id), progress_change(before, &after))?;
    if p.status != before.status {
        tx = tx.event(&before.account_id, EventType::OrderStatusChanged, "order", object.clone())?;
    }
    if refund.is_positive() {
        let credit = entry(
            &before.account_id,
            refund,
            "refund",
            format!("SMM order {} {}: {reason}", before.id, p.status),
            Some(format!("order:{}", before.id)),
            "reconciler",
        );
        tx = tx.balance(&credit, Floor::None)?.event(&before.account_id, EventType::OrderRefunded, "order", object)?;
    }
    tx.commit_once().await
}

/// What one reconciler pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SyncReport {
    /// Open orders looked at.
    pub examined: usize,
    /// Orders sent upstream on this pass (they had never reached it).
    pub sent: usize,
    /// Orders whose status moved.
    pub changed: usize,
    /// Orders refunded (fully or in part).
    pub refunded: usize,
    /// Orders whose upstream outcome is unknown (left for an operator).
    pub unknown: usize,
}

/// Stuck `Sending` orders older than this are treated as unknown (seconds).
pub const SENDING_GRACE_SECS: i64 = 300;

/// One reconciler pass over up to `batch` open orders: sends orders that never reached
/// upstream (claiming each first), then asks upstream for the status of placed ones in
/// one multi-status call and applies what changed.
pub async fn sync_open_orders(store: &Store, panel: &impl SmmPanel, batch: usize) -> Result<SyncReport, StoreError> {
    let open = store.open_orders(batch).await?;
    let mut report = SyncReport { examined: open.len(), ..SyncReport::default() };
    let mut placed: Vec<Order> = Vec::new();
    for o in open {
        match o.upstream {
            UpstreamState::Placed => placed.push(o),
            UpstreamState::Unsent => {
                // Claim it; a concurrent reconciler that loses the claim skips it.
                if store.set_upstream(&o, UpstreamState::Unsent, UpstreamState::Sending, None).await.is_err() {
                    continue;
                }
                let mut claimed = o.clone();
                claimed.upstream = UpstreamState::Sending;
                if send_upstream(store, panel, &claimed).await? == UpstreamState::Placed {
                    report.sent += 1;
                }
            }
            UpstreamState::Sending => {
                let age = chrono::DateTime::parse_from_rfc3339(&o.updated_at)
                    .map(|t| now_unix() - t.timestamp())
                    .unwrap_or(i64::MAX);
                if age > SENDING_GRACE_SECS
                    && store.set_upstream(&o, UpstreamState::Sending, UpstreamState::Unknown, None).await.is_ok()
                {
                    report.unknown += 1;
                }
            }
            UpstreamState::Unknown => report.unknown += 1,
            UpstreamState::Rejected => {}
        }
    }
    let ids: Vec<String> = placed.iter().filter_map(|o| o.upstream_order.clone()).collect();
    if ids.is_empty() {
        return Ok(report);
    }
    let statuses = match panel.statuses(&ids).await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "upstream status failed; will retry next pass");
            return Ok(report);
        }
    };
    for o in &placed {
        let Some(Ok(u)) = o.upstream_order.as_ref().and_then(|id| statuses.get(id)) else {
            continue;
        };
        let Some(p) = Progress::from_upstream(&u.status, u.start_count, u.remains, o.quantity) else {
            tracing::warn!(order_id = o.id, status = %u.status, "unknown upstream status word");
            continue;
        };
        if apply_progress(store, o, p, "upstream status").await? {
            report.changed += 1;
            if p.status.is_final() && refund_due(o, &p).is_positive() {
                report.refunded += 1;
            }
        }
    }
    Ok(report)
}
