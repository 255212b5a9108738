//! SMM order actions as SMM panel API v2 has them: `add`, `add_bulk`, `status` (one or
//! many), `refill`, `refill_status`, `cancel`.

use std::collections::BTreeMap;

use kobo_shared::domain::idempotency;
use kobo_shared::domain::idempotency::IdemRecord;
use kobo_shared::domain::smm;
use kobo_shared::domain::smm::OrderStatus;
use kobo_shared::domain::smm::{Order, UpstreamState};
use kobo_shared::domain::smm_types;
use kobo_shared::domain::time::now_rfc3339;
use kobo_shared::flows::orders;
use kobo_shared::flows::orders::SpendError;
use kobo_shared::upstream::SmmPanel;
use kobo_shared::{ApiError, Kobo};
use lambda_http::{Body, Response};
use serde_json::Value;

use super::Caller;
use crate::render::{
    self, BulkItem, CancelRow, Either, IdText, ItemError, OrderCreated, OrderStatusView, RefillCreated, RefillRow,
    RefillStatusRow, RefillStatusView,
};
use crate::request::{ApiRequest, Params};
use crate::App;

/// Most orders one `add_bulk` may carry.
pub const MAX_BULK: usize = 100;
/// Most ids one `status`, `refill`, `refill_status` or `cancel` may name.
pub const MAX_IDS: usize = 100;

const INCORRECT_ORDER: &str = "Incorrect order ID";

/// A requested order as it came: the service id, and every field as text (which of them
/// count depends on the service's type, known once the service is read).
#[derive(Debug, Clone)]
pub struct NewOrder {
    service_id: u64,
    fields: BTreeMap<String, String>,
}

fn service_id(raw: Option<&str>) -> Result<u64, ApiError> {
    match raw.map(str::trim) {
        Some(s) if !s.is_empty() => s.parse().map_err(|_| ApiError::Validation("Incorrect service ID".into())),
        _ => Err(ApiError::field("service", "is required")),
    }
}

impl TryFrom<&Params> for NewOrder {
    type Error = ApiError;
    fn try_from(p: &Params) -> Result<NewOrder, ApiError> {
        let service_id = service_id(p.get("service"))?;
        let fields = p.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Ok(NewOrder { service_id, fields })
    }
}

impl TryFrom<&Value> for NewOrder {
    type Error = ApiError;
    /// One `add_bulk` item: an object of fields; numbers are read as their text and a
    /// list (of comments, usernames, ...) as one item per line.
    fn try_from(item: &Value) -> Result<NewOrder, ApiError> {
        let Value::Object(map) = item else {
            return Err(ApiError::Validation("each order must be an object of order fields".into()));
        };
        let text = |v: &Value| match v {
            Value::String(s) => Some(s.clone()),
            Value::Null => None,
            Value::Array(list) => Some(
                list.iter()
                    .map(|x| x.as_str().map(str::to_string).unwrap_or_else(|| x.to_string()))
                    .collect::<Vec<_>>()
                    .join("\n"),
            ),
            other => Some(other.to_string()),
        };
        let fields: BTreeMap<String, String> = map.iter().filter_map(|(k, v)| Some((k.clone(), text(v)?))).collect();
        let service_id = service_id(fields.get("service").map(String::as_str))?;
        Ok(NewOrder { service_id, fields })
    }
}

/// What placing one order produced.
enum Placed {
    /// A new order, charged and recorded (not yet sent upstream).
    New(Box<Order>),
    /// A replay of an earlier answer for the same idempotency key.
    Replay(u16, String),
}

/// What one order is before it is recorded.
enum Prepared {
    /// Validated and priced, with the idempotency record its transaction writes.
    New(Box<Order>, Option<IdemRecord>),
    /// A replay of an earlier answer for the same idempotency key.
    Replay(u16, String),
}

/// Records one order: [`prepare`], then one transaction (debit, ledger entry, order,
/// event, idempotency record). Nothing is sent upstream yet.
async fn commit(
    app: &App,
    caller: &Caller,
    v: NewOrder,
    idem: Option<(String, String)>,
    index: u64,
) -> Result<Placed, ApiError> {
    match prepare(app, caller, v, idem, index, Kobo::ZERO).await? {
        Prepared::Replay(status, body) => Ok(Placed::Replay(status, body)),
        Prepared::New(order, record) => record_one(app, caller, *order, record).await,
    }
}

/// One prepared order's transaction.
async fn record_one(app: &App, caller: &Caller, order: Order, record: Option<IdemRecord>) -> Result<Placed, ApiError> {
    match orders::create_order(&app.store, &order, caller.account.min_balance, record.as_ref()).await {
        Ok(()) => Ok(Placed::New(Box::new(order))),
        Err(SpendError::InsufficientBalance) => Err(ApiError::InsufficientBalance),
        Err(SpendError::Replay(rec)) => {
            let hash = record.as_ref().map(|r| r.request_hash.as_str()).unwrap_or_default();
            let (status, body) = rec.replay(hash)?;
            Ok(Placed::Replay(status, body))
        }
        Err(SpendError::Store(e)) => Err(e.into()),
    }
}

/// Validates and prices one order, reading what the authentication wave did not (the
/// services come from the container's cache). `spent` is what earlier items of the same
/// request will take from the balance.
/// `index` is the order's place in its request (0 for `add`): the authentication wave
/// took its id and read its idempotency record when it could.
async fn prepare(
    app: &App,
    caller: &Caller,
    v: NewOrder,
    idem: Option<(String, String)>,
    index: u64,
    spent: Kobo,
) -> Result<Prepared, ApiError> {
    let account = &caller.account;
    let pre = &caller.pre;
    // The services (cached while their version holds), a fresh id and any earlier
    // answer: from the authentication wave, or else in one round trip here.
    let idem_lookup = async {
        match &idem {
            Some((key_hash, _)) => match pre.idem(key_hash) {
                Some(found) => Ok(found),
                None => app.store.get_idem(&account.id, key_hash).await,
            },
            None => Ok(None),
        }
    };
    let fresh_id = async {
        match pre.id(index) {
            Some(id) => Ok(id),
            None => app.store.next_id("order").await,
        }
    };
    let (services, id, earlier) = tokio::join!(app.smm_catalog(pre), fresh_id, idem_lookup);
    if let (Some(rec), Some((_, request_hash))) = (earlier?, &idem) {
        let (status, body) = rec.replay(request_hash)?;
        return Ok(Prepared::Replay(status, body));
    }
    let service = match services?.iter().find(|s| s.id == v.service_id) {
        Some(s) if s.enabled => s.clone(),
        _ => return Err(ApiError::Validation("Incorrect service ID".into())),
    };
    let kind = smm_types::service_type(&service);
    let spec = smm_types::parse_order(&service, |name| v.fields.get(name).map(String::as_str))?;
    let discount = caller.plan.as_ref().map(|p| p.smm_discount_bp).unwrap_or(0);
    let rate = smm::plan_rate(service.rate_per_1000, discount);
    let charge = smm_types::price(kind, rate, spec.units).ok_or_else(|| ApiError::field("quantity", "is too large"))?;
    // The balance read at authentication may be stale (it only rules out what it cannot
    // pay); the transaction's condition is what decides.
    let available = account.balance.checked_sub(account.min_balance).unwrap_or(Kobo::ZERO);
    if charge > available.checked_sub(spent).unwrap_or(Kobo::ZERO) {
        return Err(ApiError::InsufficientBalance);
    }
    let id = id?;
    let now = now_rfc3339();
    let order = Order {
        id,
        account_id: account.id.clone(),
        service_id: service.id,
        upstream_service: service.upstream_service.clone(),
        kind: service.kind.clone(),
        link: spec.link,
        quantity: spec.quantity,
        units: spec.units,
        runs: spec.runs,
        interval: spec.interval,
        fields: spec.extras,
        rate_per_1000: rate,
        charge,
        refunded: Kobo::ZERO,
        status: OrderStatus::Pending,
        start_count: 0,
        remains: spec.units,
        upstream: UpstreamState::Sending,
        upstream_order: None,
        created_at: now.clone(),
        updated_at: now,
    };
    let answer = serde_json::to_string(&OrderCreated { order: id }).map_err(|_| ApiError::Internal)?;
    let record = idem.map(|(key_hash, request_hash)| IdemRecord {
        account_id: account.id.clone(),
        key_hash,
        request_hash,
        status: 200,
        body: answer,
    });
    Ok(Prepared::New(Box::new(order), record))
}

/// Sends a committed order upstream. Failures leave the order for the reconciler (never
/// lost, never sent twice); the reseller has the order id either way.
async fn send(app: &App, order: &Order) {
    match app.smm().await {
        Ok(panel) => {
            if let Err(e) = orders::send_upstream(&app.store, &*panel, order).await {
                tracing::error!(order_id = order.id, error = %e, "recording the upstream outcome failed");
            }
        }
        Err(_) => {
            let _ = app.store.set_upstream(order, UpstreamState::Sending, UpstreamState::Unsent, None).await;
        }
    }
}

/// The idempotency key's hash and the request's fingerprint, each with `suffix` (bulk
/// items are remembered one by one).
fn idem_for(app_req: &ApiRequest, suffix: &str) -> Result<Option<(String, String)>, ApiError> {
    match &app_req.idempotency_key {
        None => Ok(None),
        Some(k) => {
            let k = idempotency::validate_key(k)?;
            let key_hash = kobo_shared::platform::crypto::sha256_hex(format!("{k}{suffix}").as_bytes());
            let fields: Vec<(&str, &str)> = app_req.params.iter().collect();
            let mut request_hash = idempotency::fingerprint(fields.into_iter());
            request_hash.push_str(suffix);
            Ok(Some((key_hash, request_hash)))
        }
    }
}

/// `add`: `{"order": id}`.
pub async fn add(app: &App, caller: &Caller, req: &ApiRequest) -> Result<Response<Body>, ApiError> {
    let order = NewOrder::try_from(&req.params)?;
    let idem = idem_for(req, "")?;
    match commit(app, caller, order, idem, 0).await? {
        Placed::New(order) => {
            super::low_balance_notice(
                app,
                caller,
                caller.account.balance.checked_sub(order.charge).unwrap_or_default(),
            )
            .await;
            send(app, &order).await;
            Ok(render::ok(&OrderCreated { order: order.id }))
        }
        Placed::Replay(status, body) => Ok(render::raw(status, body)),
    }
}

/// Orders of one `add_bulk` sent upstream at once at most.
const BULK_SEND_CONCURRENCY: usize = 10;

/// `add_bulk`: `orders` is a JSON array of `{service, link, quantity}`; each is charged on
/// its own and the answer lists, in order, `{"order": id}` or `{"error": "..."}`. Every
/// item is committed first (each its own transaction), then the new orders go upstream
/// together, so no item waits on the panel for another. Once one item is committed the
/// answer is the list, whatever failed after: a failure is that item's error.
pub async fn add_bulk(app: &App, caller: &Caller, req: &ApiRequest) -> Result<Response<Body>, ApiError> {
    use futures_util::stream::{self, StreamExt};
    let BulkOrders(items) = BulkOrders::try_from(&req.params)?;
    // Every item validated and priced first (nothing is committed yet, so a refusal of
    // the whole request is still possible), then the good ones recorded together.
    let mut results: Vec<Option<BulkItem>> = vec![None; items.len()];
    let mut batch: Vec<(usize, Order, Option<IdemRecord>)> = Vec::new();
    let mut spent = Kobo::ZERO;
    for (i, item) in items.iter().enumerate() {
        let outcome = match (NewOrder::try_from(item), idem_for(req, &format!("#{i}"))) {
            (Ok(order), Ok(idem)) => prepare(app, caller, order, idem, i as u64, spent).await,
            (Err(e), _) | (_, Err(e)) => Err(e),
        };
        results[i] = match outcome {
            Ok(Prepared::New(order, record)) => {
                spent = spent.checked_add(order.charge).unwrap_or(spent);
                batch.push((i, *order, record));
                None
            }
            Ok(Prepared::Replay(_, body)) => Some(replayed(&body)),
            // Nothing of this request is committed yet: the whole request fails.
            Err(e @ ApiError::IdempotencyMismatch) => return Err(e),
            Err(e) if e.status() >= 500 => return Err(e),
            Err(e) => Some(BulkItem::Refused(ItemError::new(e.to_string()))),
        };
    }
    let mut created: Vec<Order> = Vec::new();
    let mut unavailable: Option<ApiError> = None;
    for chunk in batch.chunks(orders::ORDERS_PER_TRANSACTION) {
        let pairs: Vec<(Order, Option<IdemRecord>)> = chunk.iter().map(|(_, o, r)| (o.clone(), r.clone())).collect();
        // Recorded together; on a condition that failed for the chunk (a balance that
        // moved, a key replayed meanwhile) each order goes alone, so each answers for
        // itself; on a store failure, the orders are there if it applied, else none is.
        let (together, failed) = match orders::create_orders(&app.store, &pairs, caller.account.min_balance).await {
            Ok(()) => (true, None),
            Err(SpendError::Store(e)) => {
                let first = chunk.first().map(|(_, o, _)| o.id).unwrap_or_default();
                match app.store.get_order(&caller.account.id, first).await {
                    Ok(Some(_)) => (true, None),
                    _ => {
                        tracing::warn!(error = %e, "bulk transaction not applied");
                        (false, Some(ApiError::from(e)))
                    }
                }
            }
            Err(_) => (false, None),
        };
        for (i, order, record) in chunk.iter().cloned() {
            let placed = match (&failed, together) {
                (Some(e), _) => Err(e.clone()),
                (None, true) => Ok(Placed::New(Box::new(order))),
                (None, false) => record_one(app, caller, order, record).await,
            };
            results[i] = Some(match placed {
                Ok(Placed::New(order)) => {
                    let item = BulkItem::Created(OrderCreated { order: order.id });
                    created.push(*order);
                    item
                }
                Ok(Placed::Replay(_, body)) => replayed(&body),
                Err(e) => {
                    let item = BulkItem::Refused(ItemError::new(e.to_string()));
                    if e.status() >= 500 {
                        unavailable = Some(e);
                    }
                    item
                }
            });
        }
    }
    // The store failed and nothing was recorded: the request as a whole may be retried.
    if let (Some(e), true) = (unavailable, created.is_empty()) {
        if !results.iter().any(|r| matches!(r, Some(BulkItem::Replayed(_)))) {
            return Err(e);
        }
    }
    let results: Vec<BulkItem> =
        results.into_iter().map(|r| r.unwrap_or_else(|| BulkItem::Refused(ItemError::new("not placed")))).collect();
    let charged = created.iter().try_fold(Kobo::ZERO, |sum, o| sum.checked_add(o.charge)).unwrap_or_default();
    if !created.is_empty() {
        super::low_balance_notice(app, caller, caller.account.balance.checked_sub(charged).unwrap_or_default()).await;
    }
    stream::iter(created.iter()).for_each_concurrent(BULK_SEND_CONCURRENCY, |o| send(app, o)).await;
    Ok(render::ok(&results))
}

/// A bulk item answered by its key's first answer.
fn replayed(body: &str) -> BulkItem {
    match serde_json::from_str(body) {
        Ok(v) => BulkItem::Replayed(v),
        Err(_) => BulkItem::Refused(ItemError::new("replay unreadable")),
    }
}

/// `add_bulk`'s `orders`: a JSON array of 1 to [`MAX_BULK`] order objects (each is read
/// on its own, so one bad item fails alone).
pub struct BulkOrders(Vec<Value>);

impl TryFrom<&Params> for BulkOrders {
    type Error = ApiError;
    fn try_from(p: &Params) -> Result<BulkOrders, ApiError> {
        let items: Vec<Value> = serde_json::from_str(p.require("orders")?)
            .map_err(|_| ApiError::field("orders", "must be a JSON array of orders"))?;
        if items.is_empty() {
            return Err(ApiError::field("orders", "must not be empty"));
        }
        if items.len() > MAX_BULK {
            return Err(ApiError::field("orders", format!("may hold at most {MAX_BULK} orders")));
        }
        Ok(BulkOrders(items))
    }
}

/// Ids as the caller named them (each with its number when it is one), and whether the
/// request named a list (`orders=1,2`) or one id (`order=1`).
#[derive(Debug, Clone)]
pub struct Refs {
    ids: Vec<(String, Option<u64>)>,
    many: bool,
}

impl Refs {
    /// `list_field=1,2,3` (at most [`MAX_IDS`] ids, in order, duplicates dropped) or
    /// `one_field=id` (an id that is not a number names nothing).
    fn parse(p: &Params, list_field: &str, one_field: &str) -> Result<Refs, ApiError> {
        if let Some(raw) = p.get(list_field) {
            return Ok(Refs { ids: id_list(raw, list_field)?, many: true });
        }
        let one = p
            .get(one_field)
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| ApiError::field(one_field, "is required"))?;
        Ok(Refs { ids: vec![(one.to_string(), one.parse().ok())], many: false })
    }

    fn numbers(&self) -> Vec<u64> {
        self.ids.iter().filter_map(|(_, n)| *n).collect()
    }
}

/// The orders of `status` and `refill`: `orders=1,2` or `order=1`.
pub struct OrderRefs(Refs);

impl TryFrom<&Params> for OrderRefs {
    type Error = ApiError;
    fn try_from(p: &Params) -> Result<OrderRefs, ApiError> {
        Refs::parse(p, "orders", "order").map(OrderRefs)
    }
}

/// The refills of `refill_status`: `refills=1,2` or `refill=1`.
pub struct RefillRefs(Refs);

impl TryFrom<&Params> for RefillRefs {
    type Error = ApiError;
    fn try_from(p: &Params) -> Result<RefillRefs, ApiError> {
        Refs::parse(p, "refills", "refill").map(RefillRefs)
    }
}

/// The orders of `cancel`: a list, given as `orders=` or `order=`.
pub struct CancelRefs(Vec<(String, Option<u64>)>);

impl TryFrom<&Params> for CancelRefs {
    type Error = ApiError;
    fn try_from(p: &Params) -> Result<CancelRefs, ApiError> {
        let raw = p.get("orders").or_else(|| p.get("order")).ok_or_else(|| ApiError::field("orders", "is required"))?;
        Ok(CancelRefs(id_list(raw, "orders")?))
    }
}

const REFILL_NOT_FOUND: &str = "Refill not found";

/// Parses `orders=1,2,3` (or `refills=`): at most [`MAX_IDS`] ids, in order, no duplicates.
fn id_list(raw: &str, field: &str) -> Result<Vec<(String, Option<u64>)>, ApiError> {
    let mut out: Vec<(String, Option<u64>)> = Vec::new();
    for part in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let number = part.parse::<u64>().ok();
        // `1` and `01` name one order: the first spelling answers for it.
        if out.iter().any(|(p, n)| p == part || (number.is_some() && *n == number)) {
            continue;
        }
        out.push((part.to_string(), number));
    }
    if out.is_empty() {
        return Err(ApiError::field(field, "must list at least one id"));
    }
    if out.len() > MAX_IDS {
        return Err(ApiError::field(field, format!("may list at most {MAX_IDS} ids")));
    }
    Ok(out)
}

/// A single-id answer from the one row of a per-id result: the value, a 404 for an id
/// that names nothing, else a 400 with the reason.
fn single<T>(rows: Vec<(String, Result<T, String>)>, not_found: &str) -> Result<T, ApiError> {
    match rows.into_iter().next() {
        Some((_, Ok(v))) => Ok(v),
        Some((_, Err(e))) if e == not_found => Err(ApiError::NotFound(e)),
        Some((_, Err(e))) => Err(ApiError::Validation(e)),
        None => Err(ApiError::Internal),
    }
}

/// `status`: `order=id` → one status; `orders=1,2` → a map of id → status or error.
pub async fn status(app: &App, caller: &Caller, req: &ApiRequest) -> Result<Response<Body>, ApiError> {
    let OrderRefs(refs) = OrderRefs::try_from(&req.params)?;
    let found = app.store.get_orders(&caller.account.id, &refs.numbers()).await?;
    let rows: Vec<(String, Result<OrderStatusView, String>)> = refs
        .ids
        .into_iter()
        .map(|(text, n)| {
            let view =
                n.and_then(|n| found.get(&n)).map(OrderStatusView::from).ok_or_else(|| INCORRECT_ORDER.to_string());
            (text, view)
        })
        .collect();
    if !refs.many {
        return single(rows, INCORRECT_ORDER).map(|v| render::ok(&v));
    }
    let map: BTreeMap<String, Either<OrderStatusView>> = rows.into_iter().map(|(t, r)| (t, r.into())).collect();
    Ok(render::ok(&map))
}

/// `refill`: `order=id` → `{"refill": "<id>"}`; `orders=1,2` → a list per order.
pub async fn refill(app: &App, caller: &Caller, req: &ApiRequest) -> Result<Response<Body>, ApiError> {
    let OrderRefs(refs) = OrderRefs::try_from(&req.params)?;
    let found = app.store.get_orders(&caller.account.id, &refs.numbers()).await?;
    let mut rows = Vec::new();
    for (text, n) in refs.ids {
        let result: Result<u64, String> = async {
            let o = n.and_then(|n| found.get(&n)).ok_or_else(|| INCORRECT_ORDER.to_string())?;
            let service =
                app.store.get_service(o.service_id).await.map_err(|_| "Refill unavailable, retry later".to_string())?;
            if !service.is_some_and(|s| s.refill) {
                return Err("Refill is not available for this service".into());
            }
            if o.status != OrderStatus::Completed {
                return Err("Only completed orders can be refilled".into());
            }
            let upstream = o.upstream_order.clone().ok_or_else(|| "Refill is not available yet".to_string())?;
            let panel = app.smm().await.map_err(|e| e.to_string())?;
            let upstream_refill =
                panel.refill(&upstream).await.map_err(|e| upstream_words(e, "Refill unavailable, retry later"))?;
            let refill_id =
                app.store.next_id("refill").await.map_err(|_| "Refill unavailable, retry later".to_string())?;
            app.store
                .put_refill(&caller.account.id, refill_id, o.id, &upstream_refill)
                .await
                .map_err(|_| "Refill unavailable, retry later".to_string())?;
            Ok(refill_id)
        }
        .await;
        rows.push((text, result));
    }
    if !refs.many {
        return single(rows, INCORRECT_ORDER).map(|id| render::ok(&RefillCreated { refill: id.to_string() }));
    }
    let list: Vec<RefillRow> =
        rows.into_iter().map(|(text, r)| RefillRow { order: IdText::of(&text), refill: r.into() }).collect();
    Ok(render::ok(&list))
}

/// What a reseller reads when upstream refused (its words) or failed (`unavailable`).
fn upstream_words(e: kobo_shared::upstream::UpstreamError, unavailable: &str) -> String {
    match e {
        kobo_shared::upstream::UpstreamError::Rejected(m) => m,
        _ => unavailable.to_string(),
    }
}

/// `refill_status`: `refill=id` → `{"status": "..."}`; `refills=1,2` → a list.
pub async fn refill_status(app: &App, caller: &Caller, req: &ApiRequest) -> Result<Response<Body>, ApiError> {
    use futures_util::stream::{self, StreamExt};
    let RefillRefs(refs) = RefillRefs::try_from(&req.params)?;
    // Every refill in one batch read, then the panel asked for each at once.
    let found = app.store.get_refills(&caller.account.id, &refs.numbers()).await?;
    let panel = app.smm().await;
    let rows: Vec<(String, Result<String, String>)> = stream::iter(refs.ids)
        .map(|(text, n)| {
            let upstream = n.and_then(|n| found.get(&n)).cloned();
            let panel = &panel;
            async move {
                let result = match (upstream, panel) {
                    (None, _) => Err(REFILL_NOT_FOUND.to_string()),
                    (Some(_), Err(e)) => Err(e.to_string()),
                    (Some(u), Ok(panel)) => panel
                        .refill_status(&u)
                        .await
                        .map_err(|e| upstream_words(e, "Refill status unavailable, retry later")),
                };
                (text, result)
            }
        })
        .buffered(BULK_SEND_CONCURRENCY)
        .collect()
        .await;
    if !refs.many {
        return single(rows, REFILL_NOT_FOUND).map(|status| render::ok(&RefillStatusView { status }));
    }
    let list: Vec<RefillStatusRow> =
        rows.into_iter().map(|(text, r)| RefillStatusRow { refill: IdText::of(&text), status: r.into() }).collect();
    Ok(render::ok(&list))
}

/// `cancel`: `orders=1,2` (or `order=1`) → `[{"order": 1, "cancel": 1}, {"order": 2,
/// "cancel": {"error": "..."}}]`. The refund follows when upstream reports the cancel.
pub async fn cancel(app: &App, caller: &Caller, req: &ApiRequest) -> Result<Response<Body>, ApiError> {
    let CancelRefs(ids) = CancelRefs::try_from(&req.params)?;
    let numeric: Vec<u64> = ids.iter().filter_map(|(_, n)| *n).collect();
    let found = app.store.get_orders(&caller.account.id, &numeric).await?;
    let mut services = BTreeMap::new();
    let mut verdicts: Vec<(String, Result<String, String>)> = Vec::new();
    for (text, n) in &ids {
        let Some(o) = n.and_then(|n| found.get(&n)) else {
            verdicts.push((text.clone(), Err(INCORRECT_ORDER.into())));
            continue;
        };
        let cancellable = match services.get(&o.service_id) {
            Some(c) => *c,
            None => {
                let c = app.store.get_service(o.service_id).await?.is_some_and(|s| s.cancel);
                services.insert(o.service_id, c);
                c
            }
        };
        let verdict = if !cancellable {
            Err("Cancel is not available for this service".to_string())
        } else if o.status.is_final() {
            Err(format!("Order is already {}", o.status))
        } else {
            o.upstream_order.clone().ok_or_else(|| "Order cannot be cancelled yet, retry later".to_string())
        };
        verdicts.push((text.clone(), verdict));
    }
    let upstream_ids: Vec<String> = verdicts.iter().filter_map(|(_, v)| v.as_ref().ok().cloned()).collect();
    let answers = if upstream_ids.is_empty() {
        Default::default()
    } else {
        match app.smm().await?.cancel(&upstream_ids).await {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(error = %e, "upstream cancel failed");
                return Err(ApiError::Unavailable);
            }
        }
    };
    let list: Vec<CancelRow> = verdicts
        .into_iter()
        .map(|(text, v)| {
            let cancel = v.and_then(|u| match answers.get(&u) {
                Some(Ok(())) => Ok(1),
                Some(Err(e)) => Err(e.clone()),
                None => Err("Cancel not confirmed, retry later".to_string()),
            });
            CancelRow { order: IdText::of(&text), cancel: cancel.into() }
        })
        .collect();
    Ok(render::ok(&list))
}
