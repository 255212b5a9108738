//! SMM order actions as SMM panel API v2 has them: `add`, `add_bulk`, `status` (one or
//! many), `refill`, `refill_status`, `cancel`.

use std::collections::BTreeMap;

use kobo_shared::domain::idempotency;
use kobo_shared::domain::idempotency::IdemRecord;
use kobo_shared::domain::smm;
use kobo_shared::domain::smm::OrderStatus;
use kobo_shared::domain::smm::{Order, UpstreamState};
use kobo_shared::domain::time::now_rfc3339;
use kobo_shared::flows::orders;
use kobo_shared::flows::orders::SpendError;
use kobo_shared::upstream::SmmPanel;
use kobo_shared::{ApiError, Kobo};
use lambda_http::{Body, Response};
use serde::Deserialize;
use serde_json::{json, Value};

use super::Caller;
use crate::request::ApiRequest;
use crate::{render, App};

/// Most orders one `add_bulk` may carry.
pub const MAX_BULK: usize = 100;
/// Most ids one `status`, `refill`, `refill_status` or `cancel` may name.
pub const MAX_IDS: usize = 100;

const INCORRECT_ORDER: &str = "Incorrect order ID";

/// The fields of one order, as text from the request.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct OrderFields {
    #[serde(default, deserialize_with = "as_text")]
    service: Option<String>,
    #[serde(default, deserialize_with = "as_text")]
    link: Option<String>,
    #[serde(default, deserialize_with = "as_text")]
    quantity: Option<String>,
}

fn as_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let v = Value::deserialize(d)?;
    Ok(match v {
        Value::Null => None,
        Value::String(s) => Some(s),
        other => Some(other.to_string()),
    })
}

/// A validated order request.
struct Valid {
    service_id: u64,
    link: String,
    quantity: u64,
}

fn required<'a>(v: &'a Option<String>, field: &str) -> Result<&'a str, ApiError> {
    match v.as_deref().map(str::trim) {
        Some(s) if !s.is_empty() => Ok(s),
        _ => Err(ApiError::field(field, "is required")),
    }
}

fn validate(f: &OrderFields) -> Result<Valid, ApiError> {
    let service = required(&f.service, "service")?;
    let service_id: u64 = service.parse().map_err(|_| ApiError::Validation("Incorrect service ID".into()))?;
    let link = required(&f.link, "link")?;
    if !smm::is_valid_link(link) {
        return Err(ApiError::field("link", "must be an http(s) URL"));
    }
    let quantity = required(&f.quantity, "quantity")?;
    let quantity: u64 = quantity.parse().map_err(|_| ApiError::field("quantity", "must be a whole number"))?;
    Ok(Valid { service_id, link: link.to_string(), quantity })
}

/// What placing one order produced.
enum Placed {
    /// A new order with this id.
    New(u64),
    /// A replay of an earlier answer for the same idempotency key.
    Replay(u16, String),
}

/// Places one order: validate, price, one transaction, then upstream.
async fn place(
    app: &App,
    caller: &Caller,
    fields: &OrderFields,
    idem: Option<(String, String)>,
) -> Result<Placed, ApiError> {
    let v = validate(fields)?;
    let account = &caller.account;
    // Service, a fresh id and any earlier answer: one round trip.
    let idem_lookup = async {
        match &idem {
            Some((key_hash, _)) => app.store.get_idem(&account.id, key_hash).await,
            None => Ok(None),
        }
    };
    let (service, id, earlier) =
        tokio::join!(app.store.get_service(v.service_id), app.store.next_id("order"), idem_lookup);
    if let (Some(rec), Some((_, request_hash))) = (earlier?, &idem) {
        let (status, body) = rec.replay(request_hash)?;
        return Ok(Placed::Replay(status, body));
    }
    let service = match service? {
        Some(s) if s.enabled => s,
        _ => return Err(ApiError::Validation("Incorrect service ID".into())),
    };
    if v.quantity < service.min || v.quantity > service.max {
        return Err(ApiError::Validation("Please follow the limit".into()));
    }
    let discount = caller.plan.as_ref().map(|p| p.smm_discount_bp).unwrap_or(0);
    let rate = smm::plan_rate(service.rate_per_1000, discount);
    let charge = smm::charge(rate, v.quantity).ok_or_else(|| ApiError::field("quantity", "is too large"))?;
    let available = account.balance.checked_sub(account.min_balance).unwrap_or(Kobo::ZERO);
    if charge > available {
        return Err(ApiError::InsufficientBalance);
    }
    let id = id?;
    let now = now_rfc3339();
    let order = Order {
        id,
        account_id: account.id.clone(),
        service_id: service.id,
        upstream_service: service.upstream_service.clone(),
        link: v.link,
        quantity: v.quantity,
        rate_per_1000: rate,
        charge,
        refunded: Kobo::ZERO,
        status: OrderStatus::Pending,
        start_count: 0,
        remains: v.quantity,
        upstream: UpstreamState::Sending,
        upstream_order: None,
        created_at: now.clone(),
        updated_at: now,
    };
    let answer = json!({ "order": id }).to_string();
    let record = idem.map(|(key_hash, request_hash)| IdemRecord {
        account_id: account.id.clone(),
        key_hash,
        request_hash,
        status: 200,
        body: answer,
    });
    match orders::create_order(&app.store, &order, account.min_balance, record.as_ref()).await {
        Ok(()) => {}
        Err(SpendError::InsufficientBalance) => return Err(ApiError::InsufficientBalance),
        Err(SpendError::Replay(rec)) => {
            let hash = record.as_ref().map(|r| r.request_hash.as_str()).unwrap_or_default();
            let (status, body) = rec.replay(hash)?;
            return Ok(Placed::Replay(status, body));
        }
        Err(SpendError::Store(e)) => return Err(e.into()),
    }
    super::low_balance_notice(app, caller, account.balance.checked_sub(charge).unwrap_or_default()).await;
    // Money and order are committed; upstream now. Failures leave the order for the
    // reconciler (never lost, never sent twice) and the reseller still gets the order id.
    match app.smm().await {
        Ok(panel) => {
            if let Err(e) = orders::send_upstream(&app.store, panel, &order).await {
                tracing::error!(order_id = id, error = %e, "recording the upstream outcome failed");
            }
        }
        Err(_) => {
            let _ = app.store.set_upstream(&order, UpstreamState::Sending, UpstreamState::Unsent, None).await;
        }
    }
    Ok(Placed::New(id))
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
    let p = &req.params;
    let fields = OrderFields {
        service: p.get("service").map(str::to_string),
        link: p.get("link").map(str::to_string),
        quantity: p.get("quantity").map(str::to_string),
    };
    let idem = idem_for(req, "")?;
    match place(app, caller, &fields, idem).await? {
        Placed::New(id) => Ok(render::ok(&json!({ "order": id }))),
        Placed::Replay(status, body) => Ok(render::raw(status, body)),
    }
}

/// `add_bulk`: `orders` is a JSON array of `{service, link, quantity}`; each is charged on
/// its own and the answer lists, in order, `{"order": id}` or `{"error": "..."}`.
pub async fn add_bulk(app: &App, caller: &Caller, req: &ApiRequest) -> Result<Response<Body>, ApiError> {
    let raw = req.params.require("orders")?;
    let items: Vec<Value> =
        serde_json::from_str(raw).map_err(|_| ApiError::field("orders", "must be a JSON array of orders"))?;
    if items.is_empty() {
        return Err(ApiError::field("orders", "must not be empty"));
    }
    if items.len() > MAX_BULK {
        return Err(ApiError::field("orders", format!("may hold at most {MAX_BULK} orders")));
    }
    let mut results = Vec::with_capacity(items.len());
    // A fresh view of the balance for each item: the auth read is stale after a spend.
    let mut caller = caller.clone();
    for (i, item) in items.iter().enumerate() {
        let fields: Result<OrderFields, _> = serde_json::from_value(item.clone());
        let outcome = match fields {
            Err(_) => Err(ApiError::Validation("each order must be an object with service, link and quantity".into())),
            Ok(f) => {
                let idem = idem_for(req, &format!("#{i}"))?;
                place(app, &caller, &f, idem).await
            }
        };
        results.push(match outcome {
            Ok(Placed::New(id)) => {
                if let Some(o) = app.store.get_account(&caller.account.id).await? {
                    caller.account = o;
                }
                json!({ "order": id })
            }
            Ok(Placed::Replay(_, body)) => {
                serde_json::from_str(&body).unwrap_or_else(|_| json!({ "error": "replay unreadable" }))
            }
            Err(ApiError::IdempotencyMismatch) => return Err(ApiError::IdempotencyMismatch),
            Err(e) if e.status() >= 500 => return Err(e),
            Err(e) => json!({ "error": e.to_string() }),
        });
    }
    Ok(render::ok(&results))
}

/// Parses `orders=1,2,3` (or `refills=`): at most [`MAX_IDS`] ids, in order, no duplicates.
fn id_list(raw: &str, field: &str) -> Result<Vec<(String, Option<u64>)>, ApiError> {
    let mut out: Vec<(String, Option<u64>)> = Vec::new();
    for part in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        if out.iter().any(|(p, _)| p == part) {
            continue;
        }
        out.push((part.to_string(), part.parse::<u64>().ok()));
    }
    if out.is_empty() {
        return Err(ApiError::field(field, "must list at least one id"));
    }
    if out.len() > MAX_IDS {
        return Err(ApiError::field(field, format!("may list at most {MAX_IDS} ids")));
    }
    Ok(out)
}

fn status_object(o: &Order) -> Value {
    json!({
        "order": o.id,
        "charge": o.charge.to_string(),
        "start_count": o.start_count.to_string(),
        "status": o.status.as_str(),
        "status_code": o.status.code(),
        "remains": o.remains.to_string(),
        "refunded": o.refunded.to_string(),
        "currency": "NGN",
    })
}

/// `status`: `order=id` → one status; `orders=1,2` → a map of id → status or error.
pub async fn status(app: &App, caller: &Caller, req: &ApiRequest) -> Result<Response<Body>, ApiError> {
    let p = &req.params;
    if let Some(list) = p.get("orders") {
        let ids = id_list(list, "orders")?;
        let numeric: Vec<u64> = ids.iter().filter_map(|(_, n)| *n).collect();
        let found = app.store.get_orders(&caller.account.id, &numeric).await?;
        let mut out = serde_json::Map::new();
        for (text, n) in ids {
            let v =
                n.and_then(|n| found.get(&n)).map(status_object).unwrap_or_else(|| json!({ "error": INCORRECT_ORDER }));
            out.insert(text, v);
        }
        return Ok(render::ok(&out));
    }
    let id = order_id(p.get("order"))?;
    match app.store.get_order(&caller.account.id, id).await? {
        Some(o) => Ok(render::ok(&status_object(&o))),
        None => Err(ApiError::NotFound(INCORRECT_ORDER.into())),
    }
}

fn order_id(v: Option<&str>) -> Result<u64, ApiError> {
    let v = v.map(str::trim).filter(|v| !v.is_empty()).ok_or_else(|| ApiError::field("order", "is required"))?;
    v.parse().map_err(|_| ApiError::NotFound(INCORRECT_ORDER.into()))
}

/// `refill`: `order=id` → `{"refill": "<id>"}`; `orders=1,2` → a list per order.
pub async fn refill(app: &App, caller: &Caller, req: &ApiRequest) -> Result<Response<Body>, ApiError> {
    let p = &req.params;
    let (ids, many) = match p.get("orders") {
        Some(list) => (id_list(list, "orders")?, true),
        None => {
            let id = order_id(p.get("order"))?;
            (vec![(id.to_string(), Some(id))], false)
        }
    };
    let numeric: Vec<u64> = ids.iter().filter_map(|(_, n)| *n).collect();
    let found = app.store.get_orders(&caller.account.id, &numeric).await?;
    let mut rows = Vec::new();
    for (text, n) in ids {
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
            let upstream_refill = panel.refill(&upstream).await.map_err(|e| match e {
                kobo_shared::upstream::UpstreamError::Rejected(m) => m,
                _ => "Refill unavailable, retry later".to_string(),
            })?;
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
    if !many {
        return match rows.pop() {
            Some((_, Ok(id))) => Ok(render::ok(&json!({ "refill": id.to_string() }))),
            Some((_, Err(e))) if e == INCORRECT_ORDER => Err(ApiError::NotFound(e)),
            Some((_, Err(e))) => Err(ApiError::Validation(e)),
            None => Err(ApiError::Internal),
        };
    }
    let list: Vec<Value> = rows
        .into_iter()
        .map(|(text, r)| {
            let order = text.parse::<u64>().map(Value::from).unwrap_or(Value::String(text));
            match r {
                Ok(id) => json!({ "order": order, "refill": id }),
                Err(e) => json!({ "order": order, "refill": { "error": e } }),
            }
        })
        .collect();
    Ok(render::ok(&list))
}

/// `refill_status`: `refill=id` → `{"status": "..."}`; `refills=1,2` → a list.
pub async fn refill_status(app: &App, caller: &Caller, req: &ApiRequest) -> Result<Response<Body>, ApiError> {
    let p = &req.params;
    let (ids, many) = match p.get("refills") {
        Some(list) => (id_list(list, "refills")?, true),
        None => {
            let raw = p
                .get("refill")
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .ok_or_else(|| ApiError::field("refill", "is required"))?;
            (vec![(raw.to_string(), raw.parse::<u64>().ok())], false)
        }
    };
    let mut rows = Vec::new();
    for (text, n) in ids {
        let result: Result<String, String> = async {
            let n = n.ok_or_else(|| "Refill not found".to_string())?;
            let upstream = app
                .store
                .get_refill(&caller.account.id, n)
                .await
                .map_err(|_| "Refill status unavailable, retry later".to_string())?
                .ok_or_else(|| "Refill not found".to_string())?;
            let panel = app.smm().await.map_err(|e| e.to_string())?;
            panel.refill_status(&upstream).await.map_err(|e| match e {
                kobo_shared::upstream::UpstreamError::Rejected(m) => m,
                _ => "Refill status unavailable, retry later".to_string(),
            })
        }
        .await;
        rows.push((text, result));
    }
    if !many {
        return match rows.pop() {
            Some((_, Ok(s))) => Ok(render::ok(&json!({ "status": s }))),
            Some((_, Err(e))) if e == "Refill not found" => Err(ApiError::NotFound(e)),
            Some((_, Err(e))) => Err(ApiError::Validation(e)),
            None => Err(ApiError::Internal),
        };
    }
    let list: Vec<Value> = rows
        .into_iter()
        .map(|(text, r)| {
            let refill = text.parse::<u64>().map(Value::from).unwrap_or(Value::String(text));
            match r {
                Ok(s) => json!({ "refill": refill, "status": s }),
                Err(e) => json!({ "refill": refill, "status": { "error": e } }),
            }
        })
        .collect();
    Ok(render::ok(&list))
}

/// `cancel`: `orders=1,2` (or `order=1`) → `[{"order": 1, "cancel": 1}, {"order": 2,
/// "cancel": {"error": "..."}}]`. The refund follows when upstream reports the cancel.
pub async fn cancel(app: &App, caller: &Caller, req: &ApiRequest) -> Result<Response<Body>, ApiError> {
    let p = &req.params;
    let raw = p.get("orders").or_else(|| p.get("order")).ok_or_else(|| ApiError::field("orders", "is required"))?;
    let ids = id_list(raw, "orders")?;
    let numeric: Vec<u64> = ids.iter().filter_map(|(_, n)| *n).collect();
    let found = app.store.get_orders(&caller.account.id, &numeric).await?;
    let mut services = BTreeMap::new();
    let mut verdicts: Vec<(String, Result<Option<String>, String>)> = Vec::new();
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
            match &o.upstream_order {
                Some(u) => Ok(Some(u.clone())),
                None => Err("Order cannot be cancelled yet, retry later".to_string()),
            }
        };
        verdicts.push((text.clone(), verdict));
    }
    let upstream_ids: Vec<String> = verdicts.iter().filter_map(|(_, v)| v.as_ref().ok().cloned().flatten()).collect();
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
    let list: Vec<Value> = verdicts
        .into_iter()
        .map(|(text, v)| {
            let order = text.parse::<u64>().map(Value::from).unwrap_or(Value::String(text));
            let cancel = match v {
                Ok(Some(u)) => match answers.get(&u) {
                    Some(Ok(())) => json!(1),
                    Some(Err(e)) => json!({ "error": e }),
                    None => json!({ "error": "Cancel not confirmed, retry later" }),
                },
                Ok(None) => json!({ "error": "Order cannot be cancelled yet, retry later" }),
                Err(e) => json!({ "error": e }),
            };
            json!({ "order": order, "cancel": cancel })
        })
        .collect();
    Ok(render::ok(&list))
}
