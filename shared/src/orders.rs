//! SMM orders: placing them (one transaction for debit, ledger, order, event and
//! idempotency record), sending them upstream exactly once, and applying upstream
//! progress with refunds that happen exactly once.

use std::collections::HashMap;

use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{KeysAndAttributes, ReturnValue, TransactWriteItem, Update};

use crate::error::StoreError;
use crate::idempotency::IdemRecord;
use crate::item::{n, s, Item};
use crate::keys;
use crate::model::{now_rfc3339, LedgerEntry, Order, Service, UpstreamState};
use crate::money::Kobo;
use crate::outbox::{EventType, OutboxEvent};
use crate::smm::OrderStatus;
use crate::store::{build_err, key, put_new, sdk_err, Floor, Store};
use crate::upstream::smm::{SmmClient, UpstreamStatus};
use crate::upstream::UpstreamError;

/// Why a transaction was cancelled, item by item.
#[derive(Debug)]
pub enum TxError {
    /// The conditions of these item indexes failed.
    Conditions(Vec<usize>),
    /// Anything else.
    Store(StoreError),
}

/// Runs a transaction and reports which conditions failed.
pub async fn transact(store: &Store, items: Vec<TransactWriteItem>) -> Result<(), TxError> {
    let n_items = items.len();
    match store.client().transact_write_items().set_transact_items(Some(items)).send().await {
        Ok(_) => Ok(()),
        Err(e) => {
            let code = e.code().unwrap_or_default().to_string();
            if code == "TransactionCanceledException" {
                let from_reasons: Vec<usize> = e
                    .as_service_error()
                    .and_then(|se| match se {
                        aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(t) => Some(
                            t.cancellation_reasons()
                                .iter()
                                .enumerate()
                                .filter(|(_, r)| r.code() == Some("ConditionalCheckFailed"))
                                .map(|(i, _)| i)
                                .collect(),
                        ),
                        _ => None,
                    })
                    .unwrap_or_default();
                if !from_reasons.is_empty() {
                    return Err(TxError::Conditions(from_reasons));
                }
                // Some emulators only list the reasons in the message: "[None, ConditionalCheckFailed]".
                let msg = e.message().unwrap_or_default().to_string();
                if let Some(list) = msg.rsplit_once('[').and_then(|(_, rest)| rest.split_once(']')).map(|(l, _)| l) {
                    let failed: Vec<usize> = list
                        .split(',')
                        .enumerate()
                        .filter(|(_, r)| r.trim() == "ConditionalCheckFailed")
                        .map(|(i, _)| i)
                        .filter(|i| *i < n_items)
                        .collect();
                    if !failed.is_empty() {
                        return Err(TxError::Conditions(failed));
                    }
                }
            }
            Err(TxError::Store(sdk_err(e)))
        }
    }
}

fn update_item(u: Update) -> TransactWriteItem {
    TransactWriteItem::builder().update(u).build()
}

impl Store {
    /// Next value of a named counter (one atomic ADD).
    pub async fn next_id(&self, name: &str) -> Result<u64, StoreError> {
        let out = self
            .client()
            .update_item()
            .table_name(self.table())
            .set_key(Some(key(keys::COUNTER_PK.into(), name)))
            .update_expression("ADD #v :one")
            .expression_attribute_names("#v", "value")
            .expression_attribute_values(":one", n(1))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(sdk_err)?;
        out.attributes
            .as_ref()
            .and_then(|a| a.get("value"))
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| StoreError::Corrupt(format!("COUNTER/{name}"), "value".into()))
    }

    /// Creates or replaces a service.
    pub async fn put_service(&self, service: &Service) -> Result<(), StoreError> {
        self.client()
            .put_item()
            .table_name(self.table())
            .set_item(Some(service.to_item()))
            .send()
            .await
            .map_err(sdk_err)?;
        Ok(())
    }

    /// One service.
    pub async fn get_service(&self, id: u64) -> Result<Option<Service>, StoreError> {
        let out = self
            .client()
            .get_item()
            .table_name(self.table())
            .set_key(Some(key(keys::SERVICE_PK.into(), keys::service_sk(id))))
            .send()
            .await
            .map_err(sdk_err)?;
        out.item.as_ref().map(Service::from_item).transpose()
    }

    /// The whole catalog, by id.
    pub async fn services(&self) -> Result<Vec<Service>, StoreError> {
        let mut out = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let page = self
                .client()
                .query()
                .table_name(self.table())
                .key_condition_expression("PK = :pk")
                .expression_attribute_values(":pk", s(keys::SERVICE_PK))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(sdk_err)?;
            for item in page.items() {
                out.push(Service::from_item(item)?);
            }
            match page.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return Ok(out),
            }
        }
    }

    /// One order of an account (strongly consistent).
    pub async fn get_order(&self, account_id: &str, order_id: u64) -> Result<Option<Order>, StoreError> {
        let out = self
            .client()
            .get_item()
            .table_name(self.table())
            .set_key(Some(key(keys::account_pk(account_id), keys::order_sk(order_id))))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk_err)?;
        out.item.as_ref().map(Order::from_item).transpose()
    }

    /// Up to 100 orders of an account in one `BatchGetItem`; missing ids are absent.
    pub async fn get_orders(&self, account_id: &str, ids: &[u64]) -> Result<HashMap<u64, Order>, StoreError> {
        let mut found = HashMap::new();
        if ids.is_empty() {
            return Ok(found);
        }
        let mut wanted = KeysAndAttributes::builder().consistent_read(true);
        for id in ids {
            wanted = wanted.keys(key(keys::account_pk(account_id), keys::order_sk(*id)));
        }
        let mut wanted = wanted.build().map_err(build_err)?;
        for attempt in 0..5 {
            let out = self
                .client()
                .batch_get_item()
                .request_items(self.table(), wanted.clone())
                .send()
                .await
                .map_err(sdk_err)?;
            for item in out.responses.and_then(|mut r| r.remove(self.table())).unwrap_or_default() {
                let o = Order::from_item(&item)?;
                found.insert(o.id, o);
            }
            match out.unprocessed_keys.and_then(|mut u| u.remove(self.table())) {
                Some(rest) if !rest.keys.is_empty() => {
                    wanted = rest;
                    tokio::time::sleep(std::time::Duration::from_millis(10 << attempt)).await;
                }
                _ => break,
            }
        }
        Ok(found)
    }

    /// Orders that are not final, oldest update first (sparse GSI1).
    pub async fn open_orders(&self, limit: i32) -> Result<Vec<Order>, StoreError> {
        self.gsi1_page(keys::OPEN_ORDERS_GSI1PK, limit).await?.iter().map(Order::from_item).collect()
    }

    /// Records a refill of an order (owner only).
    pub async fn put_refill(
        &self,
        account_id: &str,
        refill_id: u64,
        order_id: u64,
        upstream_refill: &str,
    ) -> Result<(), StoreError> {
        let item: Item = HashMap::from([
            ("PK".to_string(), s(keys::account_pk(account_id))),
            ("SK".to_string(), s(keys::refill_sk(refill_id))),
            ("type".to_string(), s("refill")),
            ("refill_id".to_string(), n(refill_id)),
            ("order_id".to_string(), n(order_id)),
            ("upstream_refill".to_string(), s(upstream_refill)),
            ("created_at".to_string(), s(now_rfc3339())),
        ]);
        self.client()
            .put_item()
            .table_name(self.table())
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(PK)")
            .send()
            .await
            .map_err(sdk_err)?;
        Ok(())
    }

    /// The upstream refill id of one of the account's refills.
    pub async fn get_refill(&self, account_id: &str, refill_id: u64) -> Result<Option<String>, StoreError> {
        let out = self
            .client()
            .get_item()
            .table_name(self.table())
            .set_key(Some(key(keys::account_pk(account_id), keys::refill_sk(refill_id))))
            .send()
            .await
            .map_err(sdk_err)?;
        Ok(out.item.and_then(|i| i.get("upstream_refill").and_then(|v| v.as_s().ok()).cloned()))
    }

    /// Moves an order's upstream state from `from` to `to` (and records the upstream id);
    /// `Conflict` when another writer moved it first. This claim is what makes sending
    /// upstream happen once.
    pub async fn set_upstream(
        &self,
        order: &Order,
        from: UpstreamState,
        to: UpstreamState,
        upstream_order: Option<&str>,
    ) -> Result<(), StoreError> {
        let mut req = self
            .client()
            .update_item()
            .table_name(self.table())
            .set_key(Some(key(keys::account_pk(&order.account_id), keys::order_sk(order.id))))
            .condition_expression("upstream_state = :from")
            .expression_attribute_values(":from", s(from.as_str()))
            .expression_attribute_values(":to", s(to.as_str()));
        req = match upstream_order {
            Some(u) => req
                .update_expression("SET upstream_state = :to, upstream_order = :u")
                .expression_attribute_values(":u", s(u)),
            None => req.update_expression("SET upstream_state = :to"),
        };
        req.send().await.map_err(sdk_err)?;
        Ok(())
    }
}

/// The webhook object of an order.
pub fn order_object(o: &Order) -> serde_json::Value {
    serde_json::json!({
        "id": o.id,
        "service": o.service_id,
        "link": o.link,
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

/// Why an order could not be created.
#[derive(Debug)]
pub enum CreateError {
    /// The balance (less the minimum balance) does not cover the charge.
    InsufficientBalance,
    /// The idempotency key was taken by a concurrent request; here is its record.
    Replay(IdemRecord),
    /// The key was taken but its record is not readable yet (should not happen).
    IdemRace,
    /// The store failed.
    Store(StoreError),
}

/// Debits, writes the ledger entry, the order, `order.created` and the idempotency record
/// in one transaction.
pub async fn create_order(
    store: &Store,
    order: &Order,
    min_balance: Kobo,
    idem: Option<&IdemRecord>,
) -> Result<(), CreateError> {
    let need = order.charge.checked_add(min_balance).ok_or(CreateError::InsufficientBalance)?;
    let entry = LedgerEntry {
        id: uuid::Uuid::now_v7().to_string(),
        account_id: order.account_id.clone(),
        amount: order.charge.negate(),
        kind: "order".into(),
        reason: format!("SMM order {}", order.id),
        reference: Some(format!("order:{}", order.id)),
        actor: "api".into(),
        created_at: order.created_at.clone(),
    };
    let event = OutboxEvent::new(&order.account_id, EventType::OrderCreated, "order", order_object(order));
    let mut items: Vec<TransactWriteItem> =
        store.balance_change(&entry, Floor::Spend { need, min_balance }).map_err(CreateError::Store)?.to_vec();
    items.push(put_new(store.table(), order.to_item()).map_err(CreateError::Store)?);
    items.push(put_new(store.table(), event.to_item()).map_err(CreateError::Store)?);
    if let Some(r) = idem {
        items.push(r.put(store.table()).map_err(CreateError::Store)?);
    }
    match transact(store, items).await {
        Ok(()) => Ok(()),
        Err(TxError::Conditions(failed)) if idem.is_some() && failed.contains(&4) => {
            let r = idem.ok_or(CreateError::IdemRace)?;
            match store.get_idem(&r.account_id, &r.key_hash).await {
                Ok(Some(rec)) => Err(CreateError::Replay(rec)),
                Ok(None) => Err(CreateError::IdemRace),
                Err(e) => Err(CreateError::Store(e)),
            }
        }
        Err(TxError::Conditions(failed)) if failed.contains(&0) => Err(CreateError::InsufficientBalance),
        Err(TxError::Conditions(failed)) => {
            Err(CreateError::Store(StoreError::Conflict(format!("order transaction conditions failed: {failed:?}"))))
        }
        Err(TxError::Store(StoreError::Conflict(_))) => Err(CreateError::InsufficientBalance),
        Err(TxError::Store(e)) => Err(CreateError::Store(e)),
    }
}

/// Sends a freshly created order upstream and records the outcome. Never sends an order
/// twice: the order is created as `Sending`, and only `Unsent` orders are (re)sent by the
/// reconciler after claiming them.
pub async fn send_upstream(store: &Store, panel: &SmmClient, order: &Order) -> Result<UpstreamState, StoreError> {
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
        apply_progress(
            store,
            &o,
            Progress { status: OrderStatus::Cancelled, start_count: 0, remains: order.quantity },
            "upstream rejected the order",
        )
        .await?;
    }
    Ok(to)
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

impl Progress {
    /// From an upstream status line; `None` for unknown words.
    pub fn from_upstream(u: &UpstreamStatus, quantity: u64) -> Option<Progress> {
        let status = OrderStatus::from_upstream(&u.status)?;
        let remains = match status {
            OrderStatus::Completed => 0,
            OrderStatus::Cancelled | OrderStatus::Refunded => quantity,
            _ => u.remains.min(quantity),
        };
        Some(Progress { status, start_count: u.start_count, remains })
    }
}

/// What an order's refund should be at a final status: cancelled or refunded → all of
/// it; partial → the undelivered part; otherwise nothing.
pub fn refund_due(order: &Order, p: &Progress) -> Kobo {
    match p.status {
        OrderStatus::Cancelled | OrderStatus::Refunded => order.charge,
        OrderStatus::Partial => crate::smm::partial_refund(order.charge, order.quantity, p.remains),
        _ => Kobo::ZERO,
    }
}

/// Applies upstream progress to an order, exactly once: the update is conditional on the
/// status and refund the caller read, and a refund (credit + ledger entry +
/// `order.refunded`) rides in the same transaction. Returns whether anything changed;
/// `false` when nothing was new or another writer got there first.
pub async fn apply_progress(store: &Store, before: &Order, p: Progress, reason: &str) -> Result<bool, StoreError> {
    if before.status.is_final() {
        return Ok(false);
    }
    let unchanged = p.status == before.status && p.start_count == before.start_count && p.remains == before.remains;
    if unchanged {
        return Ok(false);
    }
    let now = now_rfc3339();
    let refund = if p.status.is_final() { refund_due(before, &p) } else { Kobo::ZERO };
    let mut after = before.clone();
    after.status = p.status;
    after.start_count = p.start_count;
    after.remains = p.remains;
    after.refunded = refund;
    after.updated_at = now.clone();

    let mut upd = Update::builder()
        .table_name(store.table())
        .set_key(Some(key(keys::account_pk(&before.account_id), keys::order_sk(before.id))))
        .condition_expression("#st = :old AND refunded = :zero AND start_count = :osc AND remains = :orem")
        .expression_attribute_names("#st", "status")
        .expression_attribute_values(":old", s(before.status.as_str()))
        .expression_attribute_values(":zero", n(0))
        .expression_attribute_values(":osc", n(before.start_count))
        .expression_attribute_values(":orem", n(before.remains))
        .expression_attribute_values(":new", s(p.status.as_str()))
        .expression_attribute_values(":sc", n(p.start_count))
        .expression_attribute_values(":rem", n(p.remains))
        .expression_attribute_values(":ref", n(refund.0))
        .expression_attribute_values(":now", s(&now));
    upd = if p.status.is_final() {
        upd.update_expression(
            "SET #st = :new, start_count = :sc, remains = :rem, refunded = :ref, updated_at = :now REMOVE GSI1PK, GSI1SK",
        )
    } else {
        upd.update_expression(
            "SET #st = :new, start_count = :sc, remains = :rem, refunded = :ref, updated_at = :now, GSI1SK = :gsk",
        )
        .expression_attribute_values(":gsk", s(keys::open_order_gsi1sk(&now, before.id)))
    };
    let mut items = vec![update_item(upd.build().map_err(build_err)?)];
    let object = order_object(&after);
    if p.status != before.status {
        items.push(
            OutboxEvent::new(&before.account_id, EventType::OrderStatusChanged, "order", object.clone())
                .put(store.table())?,
        );
    }
    if refund.0 > 0 {
        let entry = LedgerEntry {
            id: uuid::Uuid::now_v7().to_string(),
            account_id: before.account_id.clone(),
            amount: refund,
            kind: "refund".into(),
            reason: format!("SMM order {} {}: {reason}", before.id, p.status),
            reference: Some(format!("order:{}", before.id)),
            actor: "reconciler".into(),
            created_at: now.clone(),
        };
        items.extend(store.balance_change(&entry, Floor::None)?);
        items.push(OutboxEvent::new(&before.account_id, EventType::OrderRefunded, "order", object).put(store.table())?);
    }
    match transact(store, items).await {
        Ok(()) => Ok(true),
        Err(TxError::Conditions(_)) => Ok(false),
        Err(TxError::Store(StoreError::Conflict(_))) => Ok(false),
        Err(TxError::Store(e)) => Err(e),
    }
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
pub async fn sync_open_orders(store: &Store, panel: &SmmClient, batch: i32) -> Result<SyncReport, StoreError> {
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
                    .map(|t| crate::model::now_unix() - t.timestamp())
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
        let Some(p) = Progress::from_upstream(u, o.quantity) else {
            tracing::warn!(order_id = o.id, status = %u.status, "unknown upstream status word");
            continue;
        };
        if apply_progress(store, o, p, "upstream status").await? {
            report.changed += 1;
            if p.status.is_final() && refund_due(o, &p).0 > 0 {
                report.refunded += 1;
            }
        }
    }
    Ok(report)
}
