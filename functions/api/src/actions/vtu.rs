//! VTU actions: catalog (`vtu_*_plans`, `vtu_electric_discos`), verification
//! (`vtu_cable_verify`, `vtu_electricity_verify`), the seven purchases, and `vtu_status`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use kobo_shared::domain::idempotency;
use kobo_shared::domain::idempotency::IdemRecord;
use kobo_shared::domain::phone;
use kobo_shared::domain::pin;
use kobo_shared::domain::time::{now_rfc3339, now_unix};
use kobo_shared::domain::vtu as rules;
use kobo_shared::domain::vtu::VtuCategory;
use kobo_shared::domain::vtu::{FaceProduct, VtuCatalog, VtuStatus, VtuTx};
use kobo_shared::flows::orders::SpendError;
use kobo_shared::flows::vtu;
use kobo_shared::flows::vtu::Passthrough;
use kobo_shared::upstream::topup::TopupRequest;
use kobo_shared::upstream::TopupProvider;
use kobo_shared::upstream::UpstreamError;
use kobo_shared::{Action, ApiError, Kobo};
use lambda_http::{Body, Response};
use serde_json::{json, Value};
use tokio::sync::RwLock;

use super::Caller;
use crate::request::{ApiRequest, Params};
use crate::{render, App};

/// Wrong PINs before purchases lock.
pub const PIN_LIMIT: u32 = 5;
/// How long they lock.
pub const PIN_LOCK_SECS: i64 = 30 * 60;
/// Most recharge cards in one purchase.
pub const MAX_CARDS: u64 = 100;

/// The VTU catalog, cached per container for a minute.
#[derive(Debug, Default)]
pub struct CatalogCache {
    inner: RwLock<Option<(Instant, Arc<VtuCatalog>)>>,
}

impl CatalogCache {
    /// The catalog (one Query when cold or stale).
    pub async fn get(&self, app: &App) -> Result<Arc<VtuCatalog>, ApiError> {
        if let Some((at, c)) = self.inner.read().await.as_ref() {
            if at.elapsed() < Duration::from_secs(60) {
                return Ok(c.clone());
            }
        }
        let c = Arc::new(app.store.vtu_catalog().await?);
        *self.inner.write().await = Some((Instant::now(), c.clone()));
        Ok(c)
    }
}

fn discount(caller: &Caller, cat: VtuCategory) -> u32 {
    caller.plan.as_ref().and_then(|p| p.vtu_discount_bp.get(&cat).copied()).unwrap_or(0)
}

fn plans_for(
    app_cat: &VtuCatalog,
    caller: &Caller,
    cat: VtuCategory,
    service: &str,
    field: &str,
) -> Result<Value, ApiError> {
    let d = discount(caller, cat);
    let rows: Vec<Value> = app_cat
        .plans
        .iter()
        .filter(|p| p.category == cat && p.service.eq_ignore_ascii_case(service))
        .map(|p| {
            json!({
                "plan_id": p.id,
                "name": p.name,
                "validity": p.validity,
                field: p.service,
                "amount": rules::price(p.base, p.profit, d).to_string(),
                "currency": "NGN",
            })
        })
        .collect();
    if rows.is_empty() {
        return Err(ApiError::field(field, format!("{service:?} is not a known {} service", cat)));
    }
    Ok(Value::Array(rows))
}

/// `vtu_data_plans`, `vtu_sme_plans`, `vtu_cable_plans`, `vtu_electric_discos`.
pub async fn catalog(app: &App, caller: &Caller, action: Action, p: &Params) -> Result<Response<Body>, ApiError> {
    let cat = app.vtu_catalog.get(app).await?;
    let body = match action {
        Action::VtuDataPlans => plans_for(&cat, caller, VtuCategory::Data, p.require("service_id")?, "service_id")?,
        Action::VtuSmePlans => plans_for(&cat, caller, VtuCategory::Sme, p.require("network")?, "network")?,
        Action::VtuCablePlans => plans_for(&cat, caller, VtuCategory::Cable, p.require("service_id")?, "service_id")?,
        _ => Value::Array(
            cat.faces
                .iter()
                .filter(|f| f.category == VtuCategory::Electricity)
                .map(|f| {
                    json!({
                        "service_name": f.service,
                        "name": f.name,
                        "meter_types": ["prepaid", "postpaid"],
                        "min_amount": f.min.to_string(),
                        "max_amount": f.max.to_string(),
                    })
                })
                .collect(),
        ),
    };
    Ok(render::ok(&body))
}

fn upstream_error(e: UpstreamError, invalid: &str) -> ApiError {
    match e {
        UpstreamError::Rejected(m) => ApiError::Validation(format!("{invalid}: {m}")),
        other => {
            tracing::warn!(error = %other, "provider unavailable");
            ApiError::Unavailable
        }
    }
}

/// `vtu_cable_verify` and `vtu_electricity_verify`.
pub async fn verify(app: &App, action: Action, p: &Params) -> Result<Response<Body>, ApiError> {
    let provider = app.providers.topup.get().await.map_err(|e| upstream_error(e, "provider"))?;
    let catalog = app.vtu_catalog.get(app).await?;
    let customer = if action == Action::VtuCableVerify {
        let service = p.require("service_id")?.to_ascii_lowercase();
        let customer_id = p.require("customer_id")?;
        if !catalog.plans.iter().any(|x| x.category == VtuCategory::Cable && x.service == service) {
            return Err(ApiError::field("service_id", format!("{service:?} is not a known cable service")));
        }
        if !phone::is_digits(customer_id, 10, 12) {
            return Err(ApiError::field("customer_id", "must be a 10 to 12 digit smartcard or IUC number"));
        }
        provider.verify_cable(&service, customer_id).await.map_err(|e| upstream_error(e, "Invalid smartcard number"))?
    } else {
        let service = p.require("service_name")?.to_ascii_lowercase();
        let meter_type = meter_type(p)?;
        let meter = p.require("meter_number")?;
        if catalog.face(VtuCategory::Electricity, &service).is_none() {
            return Err(ApiError::field("service_name", format!("{service:?} is not a known disco")));
        }
        if !phone::is_digits(meter, 11, 13) {
            return Err(ApiError::field("meter_number", "must be an 11 to 13 digit meter number"));
        }
        provider
            .verify_meter(&service, meter_type, meter)
            .await
            .map_err(|e| upstream_error(e, "Invalid meter number"))?
    };
    let mut out = serde_json::Map::new();
    out.insert("status".into(), json!("success"));
    out.insert("customer_name".into(), json!(customer.customer_name));
    for (k, v) in customer.details {
        if k != "valid" {
            out.insert(k, v);
        }
    }
    Ok(render::ok(&Value::Object(out)))
}

fn meter_type(p: &Params) -> Result<&'static str, ApiError> {
    match p.require("meter_type")?.to_ascii_lowercase().as_str() {
        "prepaid" => Ok("prepaid"),
        "postpaid" => Ok("postpaid"),
        _ => Err(ApiError::field("meter_type", "must be prepaid or postpaid")),
    }
}

fn phone(p: &Params) -> Result<String, ApiError> {
    phone::normalize_phone(p.require("phone")?).ok_or_else(|| {
        ApiError::field("phone", "must be a Nigerian mobile number such as 08012345678 or +2348012345678")
    })
}

fn naira(p: &Params, field: &str) -> Result<Kobo, ApiError> {
    Kobo::parse_naira(p.require(field)?).map_err(|e| ApiError::field(field, e))
}

/// What a purchase buys, before it is paid.
struct Purchase {
    category: VtuCategory,
    service_name: String,
    phone: String,
    face: Kobo,
    base: Kobo,
    profit: Kobo,
    meta: Value,
    request: TopupRequest,
}

fn face_checked(f: &FaceProduct, face: Kobo, field: &str) -> Result<(), ApiError> {
    if face < f.min || face > f.max {
        return Err(ApiError::field(field, format!("must be between {} and {}", f.min, f.max)));
    }
    if f.step.is_positive() && face.as_i64() % f.step.as_i64() != 0 {
        return Err(ApiError::field(field, format!("must be a multiple of {}", f.step)));
    }
    Ok(())
}

fn build(action: Action, p: &Params, cat: &VtuCatalog) -> Result<Purchase, ApiError> {
    let plan_purchase = |category: VtuCategory| -> Result<Purchase, ApiError> {
        let id: u64 = p
            .require("plan_id")?
            .parse()
            .map_err(|_| ApiError::field("plan_id", "must be a plan id from the plans list"))?;
        let plan = cat
            .plan(id)
            .filter(|x| x.category == category)
            .ok_or_else(|| ApiError::field("plan_id", format!("{id} is not a {category} plan")))?;
        let phone = phone(p)?;
        let mut request = TopupRequest {
            category: category.as_str().into(),
            service: plan.service.clone(),
            phone: phone.clone(),
            product_code: Some(plan.provider_code.clone()),
            ..Default::default()
        };
        let mut meta = json!({"plan_id": plan.id, "plan": plan.name, "validity": plan.validity});
        if category == VtuCategory::Cable {
            let customer = p.require("customer_id")?;
            if !phone::is_digits(customer, 10, 12) {
                return Err(ApiError::field("customer_id", "must be a 10 to 12 digit smartcard or IUC number"));
            }
            request.customer_id = Some(customer.to_string());
            meta["customer_id"] = json!(customer);
        }
        Ok(Purchase {
            category,
            service_name: plan.service.clone(),
            phone,
            face: plan.base.checked_add(plan.profit).unwrap_or(plan.base),
            base: plan.base,
            profit: plan.profit,
            meta,
            request,
        })
    };
    match action {
        Action::VtuData => plan_purchase(VtuCategory::Data),
        Action::VtuSme => plan_purchase(VtuCategory::Sme),
        Action::VtuCable => plan_purchase(VtuCategory::Cable),
        Action::VtuAirtime | Action::VtuElectricity | Action::VtuEducation | Action::VtuRechargeCard => {
            let (category, service, face, quantity, mut meta, mut request) = match action {
                Action::VtuAirtime => {
                    let service = p.require("service_name")?.to_ascii_lowercase();
                    let amount = naira(p, "amount")?;
                    (VtuCategory::Airtime, service, amount, None, json!({}), TopupRequest::default())
                }
                Action::VtuElectricity => {
                    let service = p.require("service_name")?.to_ascii_lowercase();
                    let mt = meter_type(p)?;
                    let meter = p.require("meter_number")?;
                    if !phone::is_digits(meter, 11, 13) {
                        return Err(ApiError::field("meter_number", "must be an 11 to 13 digit meter number"));
                    }
                    let amount = naira(p, "amount")?;
                    let req = TopupRequest {
                        meter_number: Some(meter.into()),
                        meter_type: Some(mt.into()),
                        ..Default::default()
                    };
                    (
                        VtuCategory::Electricity,
                        service,
                        amount,
                        None,
                        json!({"meter_number": meter, "meter_type": mt}),
                        req,
                    )
                }
                Action::VtuEducation => {
                    let amount = naira(p, "amount")?;
                    (
                        VtuCategory::Education,
                        "waec".to_string(),
                        amount,
                        None,
                        json!({"exam": "WAEC"}),
                        TopupRequest::default(),
                    )
                }
                _ => {
                    let network = p.require("card_network")?.to_ascii_lowercase();
                    let value = naira(p, "value")?;
                    let qty: u64 = p
                        .require("quantity")?
                        .parse()
                        .map_err(|_| ApiError::field("quantity", "must be a whole number"))?;
                    if qty == 0 || qty > MAX_CARDS {
                        return Err(ApiError::field("quantity", format!("must be between 1 and {MAX_CARDS}")));
                    }
                    let f = cat.face(VtuCategory::RechargeCard, &network).ok_or_else(|| {
                        ApiError::field("card_network", format!("{network:?} is not a known network"))
                    })?;
                    face_checked(f, value, "value")?;
                    let face = value
                        .checked_mul(i64::try_from(qty).unwrap_or(i64::MAX))
                        .ok_or_else(|| ApiError::field("quantity", "is too large"))?;
                    (
                        VtuCategory::RechargeCard,
                        network,
                        face,
                        Some(qty as u32),
                        json!({"value": value.to_string(), "quantity": qty}),
                        TopupRequest::default(),
                    )
                }
            };
            let field = if category == VtuCategory::RechargeCard {
                "card_network"
            } else if category == VtuCategory::Education {
                "amount"
            } else {
                "service_name"
            };
            let f = cat
                .face(category, &service)
                .ok_or_else(|| ApiError::field(field, format!("{service:?} is not a known {category} service")))?;
            let quantity = match category {
                VtuCategory::RechargeCard => quantity,
                _ => {
                    face_checked(f, face, "amount")?;
                    if category == VtuCategory::Education {
                        let n = u32::try_from(face.as_i64() / f.step.as_i64().max(1)).unwrap_or(0);
                        meta["pins"] = json!(n);
                        Some(n)
                    } else {
                        None
                    }
                }
            };
            let (base, profit) = rules::face_split(face, f.base_bp, f.profit_bp);
            // Printed recharge cards go to the reseller, not to a phone: phone is optional there.
            let phone = if category == VtuCategory::RechargeCard && p.get("phone").is_none_or(|v| v.trim().is_empty()) {
                String::new()
            } else {
                phone(p)?
            };
            request.category = category.as_str().into();
            request.service = f.service.clone();
            request.phone = phone.clone();
            request.amount = Some(face.to_string());
            request.quantity = quantity;
            Ok(Purchase { category, service_name: f.service.clone(), phone, face, base, profit, meta, request })
        }
        _ => Err(ApiError::Internal),
    }
}

/// Checks the transaction PIN: locked accounts and wrong PINs are refused; five wrong
/// PINs lock purchases for 30 minutes.
pub(crate) async fn check_pin(app: &App, caller: &Caller, p: &Params) -> Result<(), ApiError> {
    let given = p.require("pin")?;
    let account = &caller.account;
    let now = now_unix();
    if let Some(until) = account.pin_locked_until.filter(|u| *u > now) {
        return Err(ApiError::PinLocked(minutes_left(until, now)));
    }
    let Some(stored) = account.pin_digest.as_deref() else {
        return Err(ApiError::PinNotSet);
    };
    let pepper = app.secrets.get().await.map_err(|e| {
        tracing::error!(error = %e, "app secret unavailable");
        ApiError::Unavailable
    })?;
    if pin::is_valid_pin(given) && pin::verify(pepper.pin_pepper.as_bytes(), &account.id, given, stored) {
        if account.pin_failures > 0 {
            app.store.pin_ok(&account.id).await?;
        }
        return Ok(());
    }
    let failures = app.store.pin_failed(&account.id, PIN_LIMIT, now + PIN_LOCK_SECS).await?;
    if failures >= PIN_LIMIT {
        return Err(ApiError::PinLocked(minutes_left(now + PIN_LOCK_SECS, now)));
    }
    Err(ApiError::WrongPin(PIN_LIMIT - failures))
}

fn minutes_left(until: i64, now: i64) -> i64 {
    ((until - now) + 59) / 60
}

fn response(tx: &VtuTx, balance: Kobo) -> Value {
    let mut v = json!({
        "status": tx.status.as_str(),
        "category": tx.category.as_str(),
        "trx": tx.trx,
        "provider_ref": tx.provider_ref.clone().unwrap_or_default(),
        "amount": tx.amount.to_string(),
        "balance": balance.to_string(),
        "currency": "NGN",
        "message": tx.message.clone().unwrap_or_else(|| match tx.status {
            VtuStatus::Processing => "Transaction is processing".to_string(),
            VtuStatus::Success => "Transaction successful".to_string(),
            VtuStatus::Failed => "Transaction failed".to_string(),
        }),
        "cards": tx.cards,
    });
    // Electricity: the token the customer types into the meter.
    if let Some(token) = tx.meta.get("token").and_then(Value::as_str) {
        v["token"] = json!(token);
        v["message"] = json!(format!("Transaction successful. Token: {token}"));
    }
    v
}

/// One of the seven purchases.
pub async fn purchase(
    app: &App,
    caller: &Caller,
    action: Action,
    req: &ApiRequest,
) -> Result<Response<Body>, ApiError> {
    let p = &req.params;
    let catalog = app.vtu_catalog.get(app).await?;
    let what = build(action, p, &catalog)?;
    check_pin(app, caller, p).await?;
    let account = &caller.account;
    let amount = rules::price(what.base, what.profit, discount(caller, what.category));
    let available = account.balance.checked_sub(account.min_balance).unwrap_or(Kobo::ZERO);
    if amount > available {
        return Err(ApiError::InsufficientBalance);
    }
    let idem = match &req.idempotency_key {
        None => None,
        Some(k) => {
            let k = idempotency::validate_key(k)?;
            let fields = p.iter().filter(|(name, _)| *name != "pin");
            Some((kobo_shared::platform::crypto::sha256_hex(k.as_bytes()), idempotency::fingerprint(fields)))
        }
    };
    let idem_lookup = async {
        match &idem {
            Some((h, _)) => app.store.get_idem(&account.id, h).await,
            None => Ok(None),
        }
    };
    let (id, earlier) = tokio::join!(app.store.next_id("vtu"), idem_lookup);
    if let (Some(rec), Some((_, request_hash))) = (earlier?, &idem) {
        let (status, body) = rec.replay(request_hash)?;
        return replay(app, caller, status, body).await;
    }
    let trx = rules::new_trx();
    let now = now_rfc3339();
    let mut request = what.request;
    request.reference = trx.clone();
    request.passthrough =
        serde_json::to_string(&Passthrough { account: account.id.clone(), trx: trx.clone() }).unwrap_or_default();
    let tx = VtuTx {
        id: id?,
        trx: trx.clone(),
        account_id: account.id.clone(),
        category: what.category,
        service_name: what.service_name,
        phone: what.phone,
        amount,
        base_amount: what.base,
        profit_amount: amount.checked_sub(what.base).unwrap_or_default(),
        face_value: what.face,
        status: VtuStatus::Processing,
        provider_ref: None,
        message: None,
        meta: what.meta,
        cards: Vec::new(),
        request: serde_json::to_value(&request).unwrap_or_default(),
        created_at: now.clone(),
        updated_at: now,
    };
    // The idempotent answer is the transaction reference; its status is read by vtu_status.
    let first = response(&tx, account.balance.checked_sub(amount).unwrap_or_default());
    let record = idem.map(|(key_hash, request_hash)| IdemRecord {
        account_id: account.id.clone(),
        key_hash,
        request_hash,
        status: 200,
        body: first.to_string(),
    });
    match vtu::pay(&app.store, &tx, account.min_balance, record.as_ref()).await {
        Ok(()) => {}
        Err(SpendError::InsufficientBalance) => return Err(ApiError::InsufficientBalance),
        Err(SpendError::Replay(rec)) => {
            let (status, body) = rec.replay(record.as_ref().map(|r| r.request_hash.as_str()).unwrap_or_default())?;
            return replay(app, caller, status, body).await;
        }
        Err(SpendError::Store(e)) => return Err(e.into()),
    }
    let answer = match app.providers.topup.get().await {
        Ok(provider) => provider.purchase(&request).await,
        Err(e) => Err(e),
    };
    let after = match vtu::apply_purchase(&app.store, &tx, &answer, "api").await {
        Ok(t) => t,
        Err(e) => {
            tracing::error!(trx = %trx, error = %e, "recording the provider answer failed; the reconciler will settle it");
            tx.clone()
        }
    };
    let balance = app.store.balance(&account.id).await?.unwrap_or(account.balance);
    super::low_balance_notice(app, caller, balance).await;
    Ok(render::ok(&response(&after, balance)))
}

/// A retried purchase answers for the same transaction, as it stands now (it may have
/// settled since the first answer); it never buys again.
async fn replay(app: &App, caller: &Caller, status: u16, body: String) -> Result<Response<Body>, ApiError> {
    let trx = serde_json::from_str::<Value>(&body).ok().and_then(|v| v["trx"].as_str().map(str::to_string));
    if let Some(trx) = trx {
        if let Some(tx) = app.store.get_vtu(&caller.account.id, &trx).await? {
            let balance = app.store.balance(&caller.account.id).await?.unwrap_or(caller.account.balance);
            return Ok(render::ok(&response(&tx, balance)));
        }
    }
    Ok(render::raw(status, body))
}

/// `vtu_status`: the transaction by trx (owner only), same shape as a purchase answer.
pub async fn status(app: &App, caller: &Caller, p: &Params) -> Result<Response<Body>, ApiError> {
    let trx = p.require("trx")?;
    let not_found = || ApiError::NotFound("Transaction not found".into());
    if !rules::is_trx(trx) {
        return Err(not_found());
    }
    let tx = app.store.get_vtu(&caller.account.id, trx).await?.ok_or_else(not_found)?;
    Ok(render::ok(&response(&tx, caller.account.balance)))
}
