//! SMM orders: placing them (one transaction for debit, ledger, order, event and
//! idempotency record), sending them upstream exactly once, and applying upstream
//! progress with refunds that happen exactly once.

use crate::db::accounts::entry;
use crate::db::item::Record;
use crate::db::orders::{order_key, progress_change, upstream_change};
use crate::db::{Floor, Store, Tx, TxError};
use crate::domain::alert::{Alert, AlertKind};
use crate::domain::event::EventType;
use crate::domain::idempotency::IdemRecord;
use crate::domain::money::Kobo;
use crate::domain::smm::{order_object, Order, OrderStatus, Progress, UpstreamState};
use crate::domain::smm_types::{refund_due, Unreadable};
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
    spend_and(store, debit, min_balance, idem, crate::db::table::Change::new())
}

/// [`spend`], with `also` applied to the account item in the debit's own update (a right
/// PIN's attempts starting over).
pub fn spend_and<'a>(
    store: &'a Store,
    debit: &crate::domain::account::LedgerEntry,
    min_balance: Kobo,
    idem: Option<&IdemRecord>,
    also: crate::db::table::Change,
) -> Result<Tx<'a>, SpendError> {
    let need = debit.amount.negate().checked_add(min_balance).ok_or(SpendError::InsufficientBalance)?;
    let tx = Tx::new(store).balance_and(debit, Floor::Spend { need, min_balance }, also)?;
    Ok(match idem {
        Some(r) => tx.put_new_or_expired("idem", r.to_item(), now_unix())?,
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

/// Most orders in one bulk transaction: each is a ledger entry, the order, its event and
/// its idempotency record, with the one balance update (DynamoDB allows 100 items).
pub const ORDERS_PER_TRANSACTION: usize = 24;

/// Debits the sum of `orders` (one balance update, one ledger entry per order) and writes
/// every order, its `order.created` and its idempotency record, in one transaction. Any
/// condition failing fails them all: the caller then places them one by one.
pub async fn create_orders(
    store: &Store,
    orders: &[(Order, Option<IdemRecord>)],
    min_balance: Kobo,
) -> Result<(), SpendError> {
    let Some((first, _)) = orders.first() else { return Ok(()) };
    let entries: Vec<_> = orders
        .iter()
        .map(|(o, _)| {
            entry(
                &o.account_id,
                o.charge.negate(),
                "order",
                format!("SMM order {}", o.id),
                Some(format!("order:{}", o.id)),
                "api",
            )
        })
        .collect();
    let total = orders
        .iter()
        .try_fold(Kobo::ZERO, |s, (o, _)| s.checked_add(o.charge))
        .ok_or(SpendError::InsufficientBalance)?;
    let need = total.checked_add(min_balance).ok_or(SpendError::InsufficientBalance)?;
    let mut tx = Tx::new(store).balance_entries(&entries, Floor::Spend { need, min_balance })?;
    for (order, idem) in orders {
        tx = tx.put_new("order", order.to_item())?.event(
            &first.account_id,
            EventType::OrderCreated,
            "order",
            order_object(order),
        )?;
        if let Some(r) = idem {
            tx = tx.put_new_or_expired("idem", r.to_item(), now_unix())?;
        }
    }
    match tx.commit().await {
        Ok(()) => Ok(()),
        Err(e) if e.failed("balance") => Err(SpendError::InsufficientBalance),
        Err(TxError::Store(e)) => Err(SpendError::Store(e)),
        Err(TxError::ConditionFailed(failed)) => {
            Err(SpendError::Store(StoreError::Conflict(format!("bulk conditions failed: {failed:?}"))))
        }
    }
}

/// Sends a freshly created order upstream and records the outcome. Never sends an order
/// twice: the order is created as `Sending`, and only `Unsent` orders are (re)sent by the
/// reconciler after claiming them. An answer that leaves it unknown whether the panel took
/// the order (a timeout, a 502, an unreadable answer) is never sent again by itself: it
/// goes before an operator.
pub async fn send_upstream(store: &Store, panel: &impl SmmPanel, order: &Order) -> Result<UpstreamState, StoreError> {
    let outcome = panel.add(&order.upstream_service, &order.upstream_fields()).await;
    if let Err(e) = &outcome {
        tracing::warn!(order_id = order.id, error = %e, "upstream add did not succeed");
    }
    let (to, upstream_id) = match &outcome {
        Ok(id) => (UpstreamState::Placed, Some(id.as_str())),
        Err(UpstreamError::NotSent(_)) => (UpstreamState::Unsent, None),
        Err(UpstreamError::Ambiguous(_)) => (UpstreamState::Unknown, None),
        Err(UpstreamError::Rejected(reason)) => {
            if let Err(e) = reject(store, order, reason).await {
                // The refund did not commit: record the refusal alone, and the reconciler
                // finishes the rejection (refund included) on its next pass.
                tracing::warn!(order_id = order.id, error = %e, "rejection not committed; left for the reconciler");
                store.set_upstream(order, UpstreamState::Sending, UpstreamState::Rejected, None).await?;
            }
            return Ok(UpstreamState::Rejected);
        }
    };
    store.set_upstream(order, UpstreamState::Sending, to, upstream_id).await?;
    if to == UpstreamState::Unknown {
        alert_unknown(store, order).await?;
    }
    Ok(to)
}

/// Puts an order whose upstream outcome is unknown before an operator.
async fn alert_unknown(store: &Store, order: &Order) -> Result<(), StoreError> {
    let alert = Alert::new(
        &format!("order:{}", order.id),
        AlertKind::OrderUpstreamUnknown,
        &order.account_id,
        format!("SMM order {} may or may not have reached the panel (its answer was lost)", order.id),
        format!(
            "find it on the panel, then `kobo order resolve {acct} {id} --upstream-order <panel id>`, or `kobo order resolve {acct} {id} --not-placed` to send it again",
            acct = order.account_id,
            id = order.id
        ),
    );
    store.raise_alert(&alert).await.map(drop)
}

/// Puts an order whose final upstream status kobo cannot price before an operator.
async fn alert_unreadable(store: &Store, order: &Order, word: &str, why: Unreadable) -> Result<(), StoreError> {
    let (kind, what) = match why {
        Unreadable::PackageProportion { remains } => (
            AlertKind::OrderPartialPackage,
            format!("reported package order {} {word:?} with remains {remains}, and kobo knows no package size to refund by", order.id),
        ),
        _ => (
            AlertKind::OrderRemainsUnreadable,
            format!("reported order {} {word:?} without remains kobo can read", order.id),
        ),
    };
    let alert = Alert::new(
        &format!("order:{}", order.id),
        kind,
        &order.account_id,
        format!(
            "the panel {what} (panel order {}); it stays open and is asked about every pass",
            order.upstream_order.as_deref().unwrap_or("?")
        ),
        format!(
            "look the order up on the panel and what it refunded, then `kobo order settle-partial {acct} {id} --refund <naira, at most {charge}>`",
            acct = order.account_id,
            id = order.id,
            charge = order.charge
        ),
    );
    store.raise_alert(&alert).await.map(drop)
}

/// An order the panel refused: its upstream state, its status (cancelled) and its full
/// refund change in one transaction, guarded on the order still being `Sending` (or, for
/// an order a crashed older version left `Rejected` and open, still uncharged back), so
/// it happens exactly once whoever finishes it.
pub async fn reject(store: &Store, order: &Order, reason: &str) -> Result<bool, StoreError> {
    if order.status.is_final() {
        return Ok(false);
    }
    let p = Progress { status: OrderStatus::Cancelled, start_count: order.start_count, remains: order.units };
    let reason = format!("upstream rejected the order: {reason}");
    progress_tx(store, order, p, &reason, Some((order.upstream, UpstreamState::Rejected)), None)?.commit_once().await
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
    progress_tx(store, before, p, reason, None, None)?.commit_once().await
}

/// The operator's exit for an order the panel reported partial in no proportion kobo can
/// read (a package, unreadable remains): settles it `partial` with `refund` (what the
/// panel refunded, at most the charge), exactly once — guarded like every progress.
/// `false` when it was final already (or another writer moved first).
pub async fn settle_partial(store: &Store, order: &Order, refund: Kobo, reason: &str) -> Result<bool, StoreError> {
    if order.status.is_final() || refund < Kobo::ZERO || refund > order.charge {
        return Ok(false);
    }
    let p = Progress { status: OrderStatus::Partial, start_count: order.start_count, remains: order.remains };
    progress_tx(store, order, p, reason, None, Some(refund))?.commit_once().await
}

/// The transaction that applies `p` to `before`: the guarded update (with the upstream
/// state's move `from → to` in the same update, when given), its events, and the refund
/// due (credit + ledger entry + `order.refunded`) — `refund` when the operator gave it.
fn progress_tx<'a>(
    store: &'a Store,
    before: &Order,
    p: Progress,
    reason: &str,
    upstream: Option<(UpstreamState, UpstreamState)>,
    refund: Option<Kobo>,
) -> Result<Tx<'a>, StoreError> {
    let refund = match refund {
        Some(r) => r,
        None if p.status.is_final() => refund_due(before, &p),
        None => Kobo::ZERO,
    };
    let mut after = before.clone();
    after.status = p.status;
    after.start_count = p.start_count;
    after.remains = p.remains;
    after.refunded = refund;
    after.updated_at = now_rfc3339();

    let object = order_object(&after);
    let mut change = progress_change(before, &after);
    if let Some((from, to)) = upstream {
        change = upstream_change(change, from, to);
    }
    let mut tx = Tx::new(store).update("order", &order_key(&before.account_id, before.id), change)?;
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
    Ok(tx)
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
    /// Not reached before the pass's deadline (the next pass takes them).
    pub deferred: usize,
    /// Final at the panel in a way kobo cannot price (unreadable remains, a package's
    /// partial): left open, asked again, put before an operator.
    pub unreadable: usize,
}

/// Most ids in one upstream multi-status call (SMM panel API v2 takes 100).
pub const STATUS_CHUNK: usize = 100;

/// One reconciler pass over every open order (all pages): sends orders that never reached
/// upstream (claiming each first), finishes rejections, puts orders stuck sending for
/// longer than `sending_grace_secs` before an operator, then asks upstream for the status of placed ones, 100 per multi-status
/// call, and applies what changed. One order that fails holds up no other; past
/// `deadline` the rest wait for the next pass.
pub async fn sync_open_orders(
    store: &Store,
    panel: &impl SmmPanel,
    sending_grace_secs: i64,
    deadline: std::time::Instant,
) -> Result<SyncReport, StoreError> {
    let open = store.open_orders().await?;
    let mut report = SyncReport { examined: open.len(), ..SyncReport::default() };
    let mut placed: Vec<Order> = Vec::new();
    for o in open {
        if std::time::Instant::now() >= deadline {
            report.deferred += 1;
            continue;
        }
        match step(store, panel, &o, sending_grace_secs, &mut report).await {
            Ok(true) => placed.push(o),
            Ok(false) => {}
            Err(e) => tracing::warn!(order_id = o.id, error = %e, "order not advanced on this pass"),
        }
    }
    for chunk in placed.chunks(STATUS_CHUNK) {
        if std::time::Instant::now() >= deadline {
            report.deferred += chunk.len();
            continue;
        }
        let ids: Vec<String> = chunk.iter().filter_map(|o| o.upstream_order.clone()).collect();
        let statuses = match panel.statuses(&ids).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "upstream status failed; will retry next pass");
                continue;
            }
        };
        for o in chunk {
            let Some(Ok(u)) = o.upstream_order.as_ref().and_then(|id| statuses.get(id)) else {
                continue;
            };
            let p = match Progress::from_upstream(&u.status, u.start_count, u.remains, o) {
                Ok(p) => p,
                Err(Unreadable::Status) => {
                    tracing::warn!(order_id = o.id, status = %u.status, "unknown upstream status word");
                    continue;
                }
                Err(why) => {
                    // Not final, not "nothing to refund": asked again every pass, and an
                    // operator hears of it.
                    tracing::warn!(order_id = o.id, status = %u.status, ?why, "upstream status not applied");
                    if let Err(e) = alert_unreadable(store, o, &u.status, why).await {
                        tracing::warn!(order_id = o.id, error = %e, "alert not raised; the next pass tries again");
                    }
                    report.unreadable += 1;
                    continue;
                }
            };
            match apply_progress(store, o, p, "upstream status").await {
                Ok(true) => {
                    report.changed += 1;
                    if p.status.is_final() && refund_due(o, &p).is_positive() {
                        report.refunded += 1;
                    }
                }
                Ok(false) => {}
                Err(e) => tracing::warn!(order_id = o.id, error = %e, "progress not applied on this pass"),
            }
        }
    }
    Ok(report)
}

/// Advances one open order by its upstream state; `true` when it is placed (its status
/// is asked for in the multi-status call).
async fn step(
    store: &Store,
    panel: &impl SmmPanel,
    o: &Order,
    sending_grace_secs: i64,
    report: &mut SyncReport,
) -> Result<bool, StoreError> {
    match o.upstream {
        UpstreamState::Placed => return Ok(true),
        UpstreamState::Unsent => {
            // Claim it; a concurrent reconciler that loses the claim skips it.
            if store.set_upstream(o, UpstreamState::Unsent, UpstreamState::Sending, None).await.is_err() {
                return Ok(false);
            }
            let mut claimed = o.clone();
            claimed.upstream = UpstreamState::Sending;
            match send_upstream(store, panel, &claimed).await? {
                UpstreamState::Placed => report.sent += 1,
                UpstreamState::Rejected => report.refunded += 1,
                _ => {}
            }
        }
        UpstreamState::Sending => {
            let age = chrono::DateTime::parse_from_rfc3339(&o.updated_at)
                .map(|t| now_unix() - t.timestamp())
                .unwrap_or(i64::MAX);
            if age > sending_grace_secs
                && store.set_upstream(o, UpstreamState::Sending, UpstreamState::Unknown, None).await.is_ok()
            {
                alert_unknown(store, o).await?;
                report.unknown += 1;
            }
        }
        UpstreamState::Unknown => {
            // Raised when it became unknown; again here in case that write failed (the
            // alert is one per order, so this adds nothing once it exists).
            alert_unknown(store, o).await?;
            report.unknown += 1;
        }
        // Refused upstream but still open: a rejection an older version left half done.
        UpstreamState::Rejected => {
            if reject(store, o, "finished by the reconciler").await? {
                report.refunded += 1;
            }
        }
    }
    Ok(false)
}
