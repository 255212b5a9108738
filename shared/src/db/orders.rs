//! SMM orders and refills in the table.

use std::collections::HashMap;

use super::item::{n, s, Key, Reader, Record, Writer};
use super::keys;
use super::table::{Change, Query};
use super::Store;
use crate::domain::smm::{Order, OrderStatus, UpstreamState};
use crate::domain::time::now_rfc3339;
use crate::error::StoreError;

/// The key of an order.
pub fn order_key(account_id: &str, order_id: u64) -> Key {
    Key::new(keys::account_pk(account_id), keys::order_sk(order_id))
}

fn refill_key(account_id: &str, refill_id: u64) -> Key {
    Key::new(keys::account_pk(account_id), keys::refill_sk(refill_id))
}

impl Record for Order {
    const TYPE: &'static str = "order";
    fn key(&self) -> Key {
        order_key(&self.account_id, self.id)
    }
    fn gsi1(&self) -> Option<(String, String)> {
        (!self.status.is_final())
            .then(|| (keys::OPEN_ORDERS_GSI1PK.into(), keys::open_order_gsi1sk(&self.updated_at, self.id)))
    }
    fn write(&self, w: Writer) -> Writer {
        let w = w
            .n("order_id", self.id)
            .s("account_id", &self.account_id)
            .n("service_id", self.service_id)
            .s("upstream_service", &self.upstream_service)
            .s("kind", &self.kind)
            .s("link", &self.link)
            .n("quantity", self.quantity)
            .n("units", self.units)
            .kobo("rate_per_1000", self.rate_per_1000)
            .kobo("charge", self.charge)
            .kobo("refunded", self.refunded)
            .s("status", self.status.as_str())
            .n("start_count", self.start_count)
            .n("remains", self.remains)
            .s("upstream_state", self.upstream.as_str())
            .s("created_at", &self.created_at)
            .s("updated_at", &self.updated_at)
            .opt_s("upstream_order", self.upstream_order.as_ref());
        let fields = (!self.fields.is_empty()).then(|| serde_json::to_string(&self.fields).unwrap_or_default());
        let w = w.opt_s("fields", fields.as_ref());
        match (self.runs, self.interval) {
            (Some(runs), Some(interval)) => w.n("runs", runs).n("interval", interval),
            _ => w,
        }
    }
    fn read(r: &Reader<'_>) -> Result<Order, StoreError> {
        Ok(Order {
            id: r.u64("order_id")?,
            account_id: r.s("account_id")?,
            service_id: r.u64("service_id")?,
            upstream_service: r.s("upstream_service")?,
            kind: r.opt_s("kind")?.unwrap_or_else(|| "Default".into()),
            link: r.s("link")?,
            quantity: r.u64("quantity")?,
            units: match r.opt_i64("units")? {
                Some(_) => r.u64("units")?,
                None => r.u64("quantity")?,
            },
            runs: r.opt_i64("runs")?.and_then(|v| u64::try_from(v).ok()),
            interval: r.opt_i64("interval")?.and_then(|v| u64::try_from(v).ok()),
            fields: r.json("fields", Default::default())?,
            rate_per_1000: r.kobo("rate_per_1000")?,
            charge: r.kobo("charge")?,
            refunded: r.kobo("refunded")?,
            status: r.word("status", OrderStatus::parse)?,
            start_count: r.u64("start_count")?,
            remains: r.u64("remains")?,
            upstream: r.word("upstream_state", UpstreamState::parse)?,
            upstream_order: r.opt_s("upstream_order")?,
            created_at: r.s("created_at")?,
            updated_at: r.s("updated_at")?,
        })
    }
}

/// The change that moves an order from the progress it had to `after`'s, conditional on
/// the status, start count and remains the caller read and on no refund yet: a refund
/// rides in the same transaction, so it happens once.
pub fn progress_change(before: &Order, after: &Order) -> Change {
    let change = Change::new()
        .set("status", s(after.status.as_str()))
        .set("start_count", n(after.start_count))
        .set("remains", n(after.remains))
        .set("refunded", n(after.refunded.as_i64()))
        .set("updated_at", s(&after.updated_at))
        .if_eq("status", s(before.status.as_str()))
        .if_eq("refunded", n(0))
        .if_eq("start_count", n(before.start_count))
        .if_eq("remains", n(before.remains));
    if after.status.is_final() {
        change.leave_gsi1()
    } else {
        change.set("GSI1SK", s(keys::open_order_gsi1sk(&after.updated_at, after.id)))
    }
}

/// The change of an order's upstream state from `from` to `to`, only while it is `from`.
pub fn upstream_change(change: Change, from: UpstreamState, to: UpstreamState) -> Change {
    change.set("upstream_state", s(to.as_str())).if_eq("upstream_state", s(from.as_str()))
}

impl Store {
    /// One order of an account (strongly consistent).
    pub async fn get_order(&self, account_id: &str, order_id: u64) -> Result<Option<Order>, StoreError> {
        self.get(&order_key(account_id, order_id)).await
    }

    /// Orders of an account in one `BatchGetItem` per 100 ids; missing ids are absent.
    pub async fn get_orders(&self, account_id: &str, ids: &[u64]) -> Result<HashMap<u64, Order>, StoreError> {
        // BatchGetItem refuses a key named twice.
        let unique: std::collections::BTreeSet<u64> = ids.iter().copied().collect();
        let keys: Vec<Key> = unique.iter().map(|id| order_key(account_id, *id)).collect();
        let mut found = HashMap::new();
        for item in self.batch_get(&keys).await? {
            let o = Order::from_item(&item)?;
            found.insert(o.id, o);
        }
        Ok(found)
    }

    /// Every order that is not final, oldest update first (sparse GSI1, all pages).
    pub async fn open_orders(&self) -> Result<Vec<Order>, StoreError> {
        self.query_records(&Query::gsi1(keys::OPEN_ORDERS_GSI1PK)).await
    }

    /// Records a refill of an order (owner only).
    pub async fn put_refill(
        &self,
        account_id: &str,
        refill_id: u64,
        order_id: u64,
        upstream_refill: &str,
    ) -> Result<(), StoreError> {
        let w = Writer(refill_key(account_id, refill_id).item())
            .s("type", "refill")
            .n("refill_id", refill_id)
            .n("order_id", order_id)
            .s("upstream_refill", upstream_refill)
            .s("created_at", now_rfc3339());
        self.put_new(w.0).await
    }

    /// The upstream refill ids of the account's refills `ids` (one batch read; ids that
    /// name nothing are absent).
    pub async fn get_refills(&self, account_id: &str, ids: &[u64]) -> Result<HashMap<u64, String>, StoreError> {
        let unique: std::collections::BTreeSet<u64> = ids.iter().copied().collect();
        let keys: Vec<Key> = unique.iter().map(|id| refill_key(account_id, *id)).collect();
        let mut found = HashMap::new();
        for item in self.batch_get(&keys).await? {
            let r = Reader::new(&item);
            if let Some(upstream) = r.opt_s("upstream_refill")? {
                found.insert(r.u64("refill_id")?, upstream);
            }
        }
        Ok(found)
    }

    /// The upstream refill id of one of the account's refills.
    pub async fn get_refill(&self, account_id: &str, refill_id: u64) -> Result<Option<String>, StoreError> {
        match self.get_item(&refill_key(account_id, refill_id), false).await? {
            Some(item) => Reader::new(&item).opt_s("upstream_refill"),
            None => Ok(None),
        }
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
        let mut change = upstream_change(Change::new(), from, to);
        if let Some(u) = upstream_order {
            change = change.set("upstream_order", s(u));
        }
        self.update(&order_key(&order.account_id, order.id), change).await.map(drop)
    }
}
