//! VTU actions: catalog (`vtu_*_plans`, `vtu_electric_discos`), verification
//! (`vtu_cable_verify`, `vtu_electricity_verify`), the seven purchases, and `vtu_status`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use kobo_shared::domain::idempotency;
use kobo_shared::domain::idempotency::IdemRecord;
use kobo_shared::domain::phone::NigerianPhone;
use kobo_shared::domain::pin;
use kobo_shared::domain::time::now_rfc3339;
use kobo_shared::domain::vtu as rules;
use kobo_shared::domain::vtu::VtuCategory;
use kobo_shared::domain::vtu::{
    FaceProduct, MeterNumber, MeterType, SmartcardNumber, Trx, VtuCatalog, VtuStatus, VtuTx,
};
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
use crate::render::{self, DiscoRow, PlanRow, Verified, VtuAnswer};
use crate::request::{ApiRequest, Params};
use crate::App;

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

/// What a catalog action asks for.
pub enum CatalogQuery {
    /// The fixed-price plans of one service (`service_id` or `network`, as named by `by`).
    Plans {
        /// Data, SME or cable.
        category: VtuCategory,
        /// The field that named the service.
        by: &'static str,
        /// The service.
        service: String,
    },
    /// The electricity distributors.
    Discos,
}

impl TryFrom<(Action, &Params)> for CatalogQuery {
    type Error = ApiError;
    fn try_from((action, p): (Action, &Params)) -> Result<CatalogQuery, ApiError> {
        let plans = |category, by: &'static str| -> Result<CatalogQuery, ApiError> {
            Ok(CatalogQuery::Plans { category, by, service: p.require(by)?.to_string() })
        };
        match action {
            Action::VtuDataPlans => plans(VtuCategory::Data, "service_id"),
            Action::VtuSmePlans => plans(VtuCategory::Sme, "network"),
            Action::VtuCablePlans => plans(VtuCategory::Cable, "service_id"),
            _ => Ok(CatalogQuery::Discos),
        }
    }
}

/// `vtu_data_plans`, `vtu_sme_plans`, `vtu_cable_plans`, `vtu_electric_discos`.
pub async fn catalog(app: &App, caller: &Caller, action: Action, p: &Params) -> Result<Response<Body>, ApiError> {
    let query = CatalogQuery::try_from((action, p))?;
    let cat = app.vtu_catalog.get(app).await?;
    let CatalogQuery::Plans { category, by, service } = query else {
        let discos: Vec<DiscoRow> = cat
            .faces
            .iter()
            .filter(|f| f.category == VtuCategory::Electricity)
            .map(|f| DiscoRow {
                service_name: f.service.clone(),
                name: f.name.clone(),
                meter_types: ["prepaid", "postpaid"],
                min_amount: f.min.to_string(),
                max_amount: f.max.to_string(),
            })
            .collect();
        return Ok(render::ok(&discos));
    };
    let d = discount(caller, category);
    let rows: Vec<PlanRow> = cat
        .plans
        .iter()
        .filter(|p| p.category == category && p.service.eq_ignore_ascii_case(&service))
        .map(|p| PlanRow {
            plan_id: p.id,
            name: p.name.clone(),
            validity: p.validity.clone(),
            service_id: (by == "service_id").then(|| p.service.clone()),
            network: (by == "network").then(|| p.service.clone()),
            amount: rules::price(p.base, p.profit, d).to_string(),
            currency: "NGN",
        })
        .collect();
    if rows.is_empty() {
        return Err(ApiError::field(by, format!("{service:?} is not a known {category} service")));
    }
    Ok(render::ok(&rows))
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

/// A customer lookup.
pub enum VerifyRequest {
    /// A cable TV smartcard.
    Cable {
        /// The cable service (`dstv`, ...).
        service: String,
        /// The smartcard or IUC number.
        customer: SmartcardNumber,
    },
    /// An electricity meter.
    Meter {
        /// The distributor.
        service: String,
        /// Prepaid or postpaid.
        meter_type: MeterType,
        /// The meter number.
        meter: MeterNumber,
    },
}

fn smartcard(p: &Params) -> Result<SmartcardNumber, ApiError> {
    SmartcardNumber::parse(p.require("customer_id")?)
        .ok_or_else(|| ApiError::field("customer_id", "must be a 10 to 12 digit smartcard or IUC number"))
}

fn meter(p: &Params) -> Result<(MeterType, MeterNumber), ApiError> {
    let meter_type = MeterType::parse(p.require("meter_type")?)
        .ok_or_else(|| ApiError::field("meter_type", "must be prepaid or postpaid"))?;
    let meter = MeterNumber::parse(p.require("meter_number")?)
        .ok_or_else(|| ApiError::field("meter_number", "must be an 11 to 13 digit meter number"))?;
    Ok((meter_type, meter))
}

impl TryFrom<(Action, &Params)> for VerifyRequest {
    type Error = ApiError;
    fn try_from((action, p): (Action, &Params)) -> Result<VerifyRequest, ApiError> {
        if action == Action::VtuCableVerify {
            let service = p.require("service_id")?.to_ascii_lowercase();
            return Ok(VerifyRequest::Cable { service, customer: smartcard(p)? });
        }
        let service = p.require("service_name")?.to_ascii_lowercase();
        let (meter_type, meter) = meter(p)?;
        Ok(VerifyRequest::Meter { service, meter_type, meter })
    }
}

/// `vtu_cable_verify` and `vtu_electricity_verify`.
pub async fn verify(app: &App, action: Action, p: &Params) -> Result<Response<Body>, ApiError> {
    let request = VerifyRequest::try_from((action, p))?;
    let provider = app.providers.topup.get().await.map_err(|e| upstream_error(e, "provider"))?;
    let provider = &*provider;
    let catalog = app.vtu_catalog.get(app).await?;
    let customer = match request {
        VerifyRequest::Cable { service, customer } => {
            if !catalog.plans.iter().any(|x| x.category == VtuCategory::Cable && x.service == service) {
                return Err(ApiError::field("service_id", format!("{service:?} is not a known cable service")));
            }
            provider
                .verify_cable(&service, customer.as_str())
                .await
                .map_err(|e| upstream_error(e, "Invalid smartcard number"))?
        }
        VerifyRequest::Meter { service, meter_type, meter } => {
            if catalog.face(VtuCategory::Electricity, &service).is_none() {
                return Err(ApiError::field("service_name", format!("{service:?} is not a known disco")));
            }
            provider
                .verify_meter(&service, meter_type.as_str(), meter.as_str())
                .await
                .map_err(|e| upstream_error(e, "Invalid meter number"))?
        }
    };
    let details = customer
        .details
        .into_iter()
        .filter(|(k, _)| !matches!(k.as_str(), "valid" | "status" | "customer_name"))
        .collect();
    Ok(render::ok(&Verified { status: "success", customer_name: customer.customer_name, details }))
}

fn phone(p: &Params) -> Result<NigerianPhone, ApiError> {
    NigerianPhone::parse(p.require("phone")?).ok_or_else(|| {
        ApiError::field("phone", "must be a Nigerian mobile number such as 08012345678 or +2348012345678")
    })
}

fn naira(p: &Params, field: &str) -> Result<Kobo, ApiError> {
    Kobo::parse_naira(p.require(field)?).map_err(|e| ApiError::field(field, e))
}

/// One of the seven purchases, as asked (before the catalog is consulted).
pub enum PurchaseRequest {
    /// Data, SME data or cable: a plan from the plans list.
    Plan {
        /// Data, SME or cable.
        category: VtuCategory,
        /// The plan.
        plan_id: u64,
        /// Recipient.
        phone: NigerianPhone,
        /// Cable only: the smartcard.
        customer: Option<SmartcardNumber>,
    },
    /// Airtime of a network.
    Airtime {
        /// Network.
        service: String,
        /// Face value.
        amount: Kobo,
        /// Recipient.
        phone: NigerianPhone,
    },
    /// An electricity token or bill.
    Electricity {
        /// Distributor.
        service: String,
        /// Prepaid or postpaid.
        meter_type: MeterType,
        /// Meter.
        meter: MeterNumber,
        /// Face value.
        amount: Kobo,
        /// Customer phone.
        phone: NigerianPhone,
    },
    /// WAEC PINs: the amount buys whole PINs.
    Education {
        /// Face value.
        amount: Kobo,
        /// Customer phone.
        phone: NigerianPhone,
    },
    /// Printable recharge cards (no phone needed: they go to the reseller).
    RechargeCard {
        /// Network.
        network: String,
        /// Value of one card.
        value: Kobo,
        /// How many.
        quantity: u32,
        /// Optional phone.
        phone: Option<NigerianPhone>,
    },
}

impl TryFrom<(Action, &Params)> for PurchaseRequest {
    type Error = ApiError;
    fn try_from((action, p): (Action, &Params)) -> Result<PurchaseRequest, ApiError> {
        let plan = |category: VtuCategory| -> Result<PurchaseRequest, ApiError> {
            let plan_id = p
                .require("plan_id")?
                .parse()
                .map_err(|_| ApiError::field("plan_id", "must be a plan id from the plans list"))?;
            let phone = phone(p)?;
            let customer = if category == VtuCategory::Cable { Some(smartcard(p)?) } else { None };
            Ok(PurchaseRequest::Plan { category, plan_id, phone, customer })
        };
        match action {
            Action::VtuData => plan(VtuCategory::Data),
            Action::VtuSme => plan(VtuCategory::Sme),
            Action::VtuCable => plan(VtuCategory::Cable),
            Action::VtuAirtime => Ok(PurchaseRequest::Airtime {
                service: p.require("service_name")?.to_ascii_lowercase(),
                amount: naira(p, "amount")?,
                phone: phone(p)?,
            }),
            Action::VtuElectricity => {
                let service = p.require("service_name")?.to_ascii_lowercase();
                let (meter_type, meter) = meter(p)?;
                Ok(PurchaseRequest::Electricity {
                    service,
                    meter_type,
                    meter,
                    amount: naira(p, "amount")?,
                    phone: phone(p)?,
                })
            }
            Action::VtuEducation => Ok(PurchaseRequest::Education { amount: naira(p, "amount")?, phone: phone(p)? }),
            Action::VtuRechargeCard => {
                let network = p.require("card_network")?.to_ascii_lowercase();
                let value = naira(p, "value")?;
                let quantity: u64 = p
                    .require("quantity")?
                    .parse()
                    .map_err(|_| ApiError::field("quantity", "must be a whole number"))?;
                let quantity = u32::try_from(quantity)
                    .ok()
                    .filter(|q| (1..=MAX_CARDS).contains(&u64::from(*q)))
                    .ok_or_else(|| ApiError::field("quantity", format!("must be between 1 and {MAX_CARDS}")))?;
                let phone = match p.get("phone").map(str::trim).filter(|v| !v.is_empty()) {
                    Some(_) => Some(phone(p)?),
                    None => None,
                };
                Ok(PurchaseRequest::RechargeCard { network, value, quantity, phone })
            }
            _ => Err(ApiError::Internal),
        }
    }
}

/// What a purchase buys, priced from the catalog, before it is paid.
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

fn face_product<'c>(
    cat: &'c VtuCatalog,
    category: VtuCategory,
    service: &str,
    field: &str,
) -> Result<&'c FaceProduct, ApiError> {
    cat.face(category, service)
        .ok_or_else(|| ApiError::field(field, format!("{service:?} is not a known {category} service")))
}

/// Prices a request from the catalog and says what the provider is asked to deliver.
fn build(req: PurchaseRequest, cat: &VtuCatalog) -> Result<Purchase, ApiError> {
    let (category, f, face, quantity, phone, meta, mut request) = match req {
        PurchaseRequest::Plan { category, plan_id, phone, customer } => {
            let plan = cat
                .plan(plan_id)
                .filter(|x| x.category == category)
                .ok_or_else(|| ApiError::field("plan_id", format!("{plan_id} is not a {category} plan")))?;
            let mut meta = json!({"plan_id": plan.id, "plan": plan.name, "validity": plan.validity});
            if let Some(c) = &customer {
                meta["customer_id"] = json!(c.as_str());
            }
            let request = TopupRequest {
                category: category.as_str().into(),
                service: plan.service.clone(),
                phone: phone.local().to_string(),
                product_code: Some(plan.provider_code.clone()),
                customer_id: customer.map(|c| c.as_str().to_string()),
                ..Default::default()
            };
            return Ok(Purchase {
                category,
                service_name: plan.service.clone(),
                phone: phone.local().to_string(),
                face: plan.base.checked_add(plan.profit).unwrap_or(plan.base),
                base: plan.base,
                profit: plan.profit,
                meta,
                request,
            });
        }
        PurchaseRequest::Airtime { service, amount, phone } => {
            let f = face_product(cat, VtuCategory::Airtime, &service, "service_name")?;
            face_checked(f, amount, "amount")?;
            (VtuCategory::Airtime, f, amount, None, Some(phone), json!({}), TopupRequest::default())
        }
        PurchaseRequest::Electricity { service, meter_type, meter, amount, phone } => {
            let f = face_product(cat, VtuCategory::Electricity, &service, "service_name")?;
            face_checked(f, amount, "amount")?;
            let meta = json!({"meter_number": meter.as_str(), "meter_type": meter_type.as_str()});
            let request = TopupRequest {
                meter_number: Some(meter.as_str().into()),
                meter_type: Some(meter_type.as_str().into()),
                ..Default::default()
            };
            (VtuCategory::Electricity, f, amount, None, Some(phone), meta, request)
        }
        PurchaseRequest::Education { amount, phone } => {
            let f = face_product(cat, VtuCategory::Education, "waec", "amount")?;
            face_checked(f, amount, "amount")?;
            let pins = u32::try_from(amount.as_i64() / f.step.as_i64().max(1)).unwrap_or(0);
            (
                VtuCategory::Education,
                f,
                amount,
                Some(pins),
                Some(phone),
                json!({"exam": "WAEC", "pins": pins}),
                TopupRequest::default(),
            )
        }
        PurchaseRequest::RechargeCard { network, value, quantity, phone } => {
            let f = cat
                .face(VtuCategory::RechargeCard, &network)
                .ok_or_else(|| ApiError::field("card_network", format!("{network:?} is not a known network")))?;
            face_checked(f, value, "value")?;
            let face =
                value.checked_mul(i64::from(quantity)).ok_or_else(|| ApiError::field("quantity", "is too large"))?;
            let meta = json!({"value": value.to_string(), "quantity": quantity});
            (VtuCategory::RechargeCard, f, face, Some(quantity), phone, meta, TopupRequest::default())
        }
    };
    let (base, profit) = rules::face_split(face, f.base_bp, f.profit_bp);
    let phone = phone.map(|p| p.local().to_string()).unwrap_or_default();
    request.category = category.as_str().into();
    request.service = f.service.clone();
    request.phone = phone.clone();
    request.amount = Some(face.to_string());
    request.quantity = quantity;
    Ok(Purchase { category, service_name: f.service.clone(), phone, face, base, profit, meta, request })
}

/// Checks the transaction PIN. An attempt is reserved first, in one conditional write
/// that also reads the lock (so racing requests evaluate at most [`pin::PIN_LIMIT`]
/// PINs, and a lock set a moment ago holds); only then is the PIN compared. Every
/// refusal answers the same.
pub(crate) async fn check_pin(app: &App, caller: &Caller, p: &Params) -> Result<(), ApiError> {
    let given = p.require("pin")?;
    let account = &caller.account;
    let Some(stored) = account.pin_digest.as_deref() else {
        return Err(ApiError::PinNotSet);
    };
    let now = app.clock.now_unix();
    let attempt = reserve_attempt(app, &account.id, pin::Guess::Pin, now).await?;
    let check = match pin_check(app, &account.id, given, stored).await {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "PIN pepper unavailable");
            // Not evaluated: the attempt goes back.
            if let Err(e) = app.store.pin_release(&account.id).await {
                tracing::warn!(error = %e, "PIN attempt not released; it expires with the others");
            }
            return Err(ApiError::Unavailable);
        }
    };
    if check == pin::Check::Match {
        app.store.pin_ok(&account.id, pin::Guess::Pin).await?;
        return Ok(());
    }
    app.store.pin_wrong(&account.id, pin::Guess::Pin, attempt, now).await?;
    Err(ApiError::PinRefused)
}

/// How long a PIN check waits for checks already in flight on the same account (a shop
/// firing many purchases at once) before it answers 503 (nothing done; retry).
const PIN_QUEUE_WAIT: std::time::Duration = std::time::Duration::from_secs(4);

/// A waiting check asks again after this, then twice as long each time up to
/// [`PIN_QUEUE_MAX_PAUSE`]: about a dozen conditional writes per waiter over the whole
/// wait, so a burst of guesses does not turn into a storm of writes on the account item.
const PIN_QUEUE_FIRST_PAUSE: std::time::Duration = std::time::Duration::from_millis(25);

/// The longest pause between two asks of a waiting check.
const PIN_QUEUE_MAX_PAUSE: std::time::Duration = std::time::Duration::from_millis(400);

/// Reserves a PIN (or OTP code) attempt. When every attempt is taken by checks still in
/// flight, waits a little for them: right PINs free their attempts within milliseconds,
/// wrong ones never do, so a burst of honest purchases goes through and a burst of
/// guesses is refused once the fifth wrong one locks. A check still waiting at the end
/// is answered 503 with `Retry-After` (nothing was done, and nothing about the PIN is
/// said); a lock is answered with the one PIN refusal.
pub(crate) async fn reserve_attempt(
    app: &App,
    account_id: &str,
    guess: pin::Guess,
    now: i64,
) -> Result<pin::Attempt, ApiError> {
    let deadline = tokio::time::Instant::now() + PIN_QUEUE_WAIT;
    let mut pause = PIN_QUEUE_FIRST_PAUSE;
    loop {
        match app.store.reserve_attempt(account_id, guess, now).await? {
            pin::Attempt::Refused { locked: false, .. } if tokio::time::Instant::now() + pause < deadline => {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(PIN_QUEUE_MAX_PAUSE);
            }
            pin::Attempt::Refused { locked: false, .. } => return Err(ApiError::Unavailable),
            pin::Attempt::Refused { locked: true, .. } => return Err(ApiError::PinRefused),
            reserved => return Ok(reserved),
        }
    }
}

/// Compares a PIN under the pepper ring, fetching the ring again once when the digest
/// names a key the cached ring does not hold (a rotation newer than this container).
async fn pin_check(
    app: &App,
    account_id: &str,
    given: &str,
    stored: &str,
) -> Result<pin::Check, kobo_shared::platform::secrets::SecretsError> {
    if !pin::is_valid_pin(given) {
        return Ok(pin::Check::NoMatch);
    }
    let ring = app.keys.pin_pepper.get().await?;
    match pin::verify(&ring, account_id, given, stored) {
        pin::Check::UnknownKey => Ok(pin::verify(&*app.keys.pin_pepper.refresh().await?, account_id, given, stored)),
        found => Ok(found),
    }
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
    let what = build(PurchaseRequest::try_from((action, p))?, &catalog)?;
    let account = &caller.account;
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
    // A retry of a purchase already made answers that purchase, whatever the balance or
    // the PIN's lock say now: the key is looked up before either is checked.
    if let (Some(rec), Some((_, request_hash))) = (earlier?, &idem) {
        let (status, body) = rec.replay(request_hash)?;
        return replay(app, caller, status, body).await;
    }
    check_pin(app, caller, p).await?;
    let amount = rules::price(what.base, what.profit, discount(caller, what.category));
    let available = account.balance.checked_sub(account.min_balance).unwrap_or(Kobo::ZERO);
    if amount > available {
        return Err(ApiError::InsufficientBalance);
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
    let first = VtuAnswer::of(&tx, account.balance.checked_sub(amount).unwrap_or_default());
    let record = idem.map(|(key_hash, request_hash)| IdemRecord {
        account_id: account.id.clone(),
        key_hash,
        request_hash,
        status: 200,
        body: serde_json::to_string(&first).unwrap_or_default(),
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
    // Committed: from here on nothing may turn the answer into an error.
    let balance = match app.store.balance(&account.id).await {
        Ok(Some(b)) => b,
        Ok(None) | Err(_) => account.balance.checked_sub(amount).unwrap_or_default(),
    };
    super::low_balance_notice(app, caller, balance).await;
    Ok(render::ok(&VtuAnswer::of(&after, balance)))
}

/// A retried purchase answers for the same transaction, as it stands now (it may have
/// settled since the first answer); it never buys again.
async fn replay(app: &App, caller: &Caller, status: u16, body: String) -> Result<Response<Body>, ApiError> {
    let trx = serde_json::from_str::<Value>(&body).ok().and_then(|v| v["trx"].as_str().map(str::to_string));
    if let Some(trx) = trx {
        if let Some(tx) = app.store.get_vtu(&caller.account.id, &trx).await? {
            let balance = app.store.balance(&caller.account.id).await?.unwrap_or(caller.account.balance);
            return Ok(render::ok(&VtuAnswer::of(&tx, balance)));
        }
    }
    Ok(render::raw(status, body))
}

/// `vtu_status`'s transaction: one of kobo's references (anything else names nothing).
pub struct StatusRequest(Trx);

impl TryFrom<&Params> for StatusRequest {
    type Error = ApiError;
    fn try_from(p: &Params) -> Result<StatusRequest, ApiError> {
        let trx = Trx::parse(p.require("trx")?).ok_or_else(tx_not_found)?;
        Ok(StatusRequest(trx))
    }
}

fn tx_not_found() -> ApiError {
    ApiError::NotFound("Transaction not found".into())
}

/// `vtu_status`: the transaction by trx (owner only), same shape as a purchase answer.
pub async fn status(app: &App, caller: &Caller, p: &Params) -> Result<Response<Body>, ApiError> {
    let StatusRequest(trx) = StatusRequest::try_from(p)?;
    let tx = app.store.get_vtu(&caller.account.id, trx.as_str()).await?.ok_or_else(tx_not_found)?;
    Ok(render::ok(&VtuAnswer::of(&tx, caller.account.balance)))
}
