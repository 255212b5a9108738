//! VTU actions: plans (`vtu_*_plans`, `vtu_electric_discos`; the other lists are in
//! `vtu_lists`), verification (`vtu_cable_verify`, `vtu_electricity_verify`,
//! `vtu_education_verify`), the seven purchases, and `vtu_status`.

use kobo_shared::domain::idempotency;
use kobo_shared::domain::idempotency::IdemRecord;
use kobo_shared::domain::phone::NigerianPhone;
use kobo_shared::domain::pin;
use kobo_shared::domain::time::now_rfc3339;
use kobo_shared::domain::vtu as rules;
use kobo_shared::domain::vtu::VtuCategory;
use kobo_shared::domain::vtu::{
    Exam, FaceProduct, MeterNumber, MeterType, ProfileId, SmartcardNumber, SubscriptionType, Trx, VtuCatalog,
    VtuStatus, VtuTx,
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

use super::Caller;
use crate::render::{self, DiscoRow, PlanRow, Verified, VtuAnswer};
use crate::request::{ApiRequest, Params};
use crate::App;

/// Most recharge cards in one purchase.
pub const MAX_CARDS: u32 = 100;

pub(crate) fn discount(caller: &Caller, cat: VtuCategory) -> u32 {
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
    let cat = app.vtu_catalog(&caller.pre).await?;
    let CatalogQuery::Plans { category, by, service } = query else {
        let quote = super::vtu_lists::quoted(p)?;
        let d = discount(caller, VtuCategory::Electricity);
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
                price_per_100: f.price(Kobo::naira(100), d).to_string(),
                amount: quote.map(|a| a.to_string()),
                price: quote.filter(|a| *a >= f.min && *a <= f.max).map(|a| f.price(a, d).to_string()),
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
    /// An exam candidate's profile (JAMB).
    Profile {
        /// The exam.
        exam: Exam,
        /// The profile code.
        profile: ProfileId,
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

fn exam(p: &Params) -> Result<Exam, ApiError> {
    match p.get("exam").map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(Exam::Waec),
        Some(raw) => Exam::parse(raw).ok_or_else(|| ApiError::field("exam", "must be waec, neco, nabteb or jamb")),
    }
}

fn profile_id(p: &Params) -> Result<ProfileId, ApiError> {
    ProfileId::parse(p.require("profile_id")?)
        .ok_or_else(|| ApiError::field("profile_id", "must be the candidate's 10 digit JAMB profile code"))
}

impl TryFrom<(Action, &Params)> for VerifyRequest {
    type Error = ApiError;
    fn try_from((action, p): (Action, &Params)) -> Result<VerifyRequest, ApiError> {
        match action {
            Action::VtuCableVerify => {
                let service = p.require("service_id")?.to_ascii_lowercase();
                Ok(VerifyRequest::Cable { service, customer: smartcard(p)? })
            }
            Action::VtuEducationVerify => {
                let exam = exam(p)?;
                if !exam.needs_profile() {
                    return Err(ApiError::field("exam", "only jamb has candidate profiles to verify"));
                }
                Ok(VerifyRequest::Profile { exam, profile: profile_id(p)? })
            }
            _ => {
                let service = p.require("service_name")?.to_ascii_lowercase();
                let (meter_type, meter) = meter(p)?;
                Ok(VerifyRequest::Meter { service, meter_type, meter })
            }
        }
    }
}

/// A provider's amount (naira, as a number or a string) in kobo.
fn provider_naira(v: Option<&Value>) -> Option<Kobo> {
    match v? {
        Value::String(s) => Kobo::parse_naira(s.trim()).ok(),
        Value::Number(n) => Kobo::parse_naira(&n.to_string()).ok(),
        _ => None,
    }
}

/// The renewal of a smartcard's current bouquet as kobo sells it: the product, and what
/// one month costs at the provider.
fn renewal<'c>(
    cat: &'c VtuCatalog,
    service: &str,
    details: &serde_json::Map<String, Value>,
) -> Result<(&'c FaceProduct, Kobo), ApiError> {
    let f = face_product(cat, VtuCategory::Cable, service, "service_id")?;
    let face = provider_naira(details.get("renewal_amount")).filter(|k| k.is_positive()).ok_or_else(|| {
        ApiError::field("customer_id", "this smartcard has no bouquet to renew; use subscription_type=change")
    })?;
    face_checked(f, face, "customer_id")?;
    Ok((f, face))
}

/// `vtu_cable_verify`, `vtu_electricity_verify` and `vtu_education_verify`. Cable shows
/// the current bouquet, its due date and the renewal amount as a `renew` purchase will
/// charge it; a meter shows the least it can be sold and any arrears; a verified JAMB
/// profile may be bought for (by this account) for a day.
pub async fn verify(app: &App, caller: &Caller, action: Action, p: &Params) -> Result<Response<Body>, ApiError> {
    let request = VerifyRequest::try_from((action, p))?;
    let provider = app.providers.topup.get().await.map_err(|e| upstream_error(e, "provider"))?;
    let provider = &*provider;
    let catalog = app.vtu_catalog(&caller.pre).await?;
    let mut extra = serde_json::Map::new();
    let customer = match request {
        VerifyRequest::Cable { service, customer } => {
            if !catalog.plans.iter().any(|x| x.category == VtuCategory::Cable && x.service == service) {
                return Err(ApiError::field("service_id", format!("{service:?} is not a known cable service")));
            }
            let found = provider
                .verify_cable(&service, customer.as_str())
                .await
                .map_err(|e| upstream_error(e, "Invalid smartcard number"))?;
            if let Ok((f, face)) = renewal(&catalog, &service, &found.details) {
                let (base, profit) = rules::face_split(face, f.base_bp, f.profit_bp);
                extra.insert(
                    "renewal_amount".into(),
                    json!(rules::price(base, profit, discount(caller, VtuCategory::Cable)).to_string()),
                );
            }
            found
        }
        VerifyRequest::Meter { service, meter_type, meter } => {
            let Some(f) = catalog.face(VtuCategory::Electricity, &service) else {
                return Err(ApiError::field("service_name", format!("{service:?} is not a known disco")));
            };
            let found = provider
                .verify_meter(&service, meter_type.as_str(), meter.as_str())
                .await
                .map_err(|e| upstream_error(e, "Invalid meter number"))?;
            let least = provider_naira(found.details.get("minimum_amount")).map_or(f.min, |m| m.max(f.min));
            extra.insert("min_purchase".into(), json!(least.to_string()));
            extra.insert(
                "arrears".into(),
                json!(provider_naira(found.details.get("arrears")).unwrap_or_default().to_string()),
            );
            found
        }
        VerifyRequest::Profile { exam, profile } => {
            let found = provider
                .verify_profile(exam.as_str(), profile.as_str())
                .await
                .map_err(|e| upstream_error(e, "Invalid profile_id"))?;
            let now = app.clock.now_unix();
            app.store
                .put_verified_profile(&caller.account.id, exam.as_str(), profile.as_str(), &found.customer_name, now)
                .await?;
            extra.insert("exam".into(), json!(exam.as_str()));
            extra.insert("profile_id".into(), json!(profile.as_str()));
            found
        }
    };
    let mut details: serde_json::Map<String, Value> = customer
        .details
        .into_iter()
        .filter(|(k, _)| {
            !matches!(
                k.as_str(),
                "valid" | "status" | "customer_name" | "renewal_amount" | "minimum_amount" | "arrears"
            )
        })
        .collect();
    details.extend(extra);
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

/// An optional whole number field in `1..=max`.
fn count(p: &Params, field: &str, max: u32) -> Result<Option<u32>, ApiError> {
    let Some(raw) = p.get(field).map(str::trim).filter(|v| !v.is_empty()) else { return Ok(None) };
    raw.parse::<u32>()
        .ok()
        .filter(|q| (1..=max).contains(q))
        .map(Some)
        .ok_or_else(|| ApiError::field(field, format!("must be a whole number between 1 and {max}")))
}

/// One of the seven purchases, as asked (before the catalog is consulted).
pub enum PurchaseRequest {
    /// Data or SME data: a plan from the plans list.
    Plan {
        /// Data or SME.
        category: VtuCategory,
        /// The plan.
        plan_id: u64,
        /// Recipient.
        phone: NigerianPhone,
    },
    /// A cable subscription: a change to a plan, or a renewal of the current bouquet.
    Cable {
        /// `change` (the seed's default) or `renew`.
        kind: SubscriptionType,
        /// The plan (change; for renew it may name the service).
        plan_id: Option<u64>,
        /// The service (renew without a plan).
        service: Option<String>,
        /// The smartcard.
        customer: SmartcardNumber,
        /// Months.
        months: u32,
        /// Customer phone.
        phone: NigerianPhone,
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
    /// Exam PINs: by `amount` (the seed's WAEC form: whole PINs) or by `quantity`.
    Education {
        /// The exam (WAEC by default).
        exam: Exam,
        /// Face value asked, if given.
        amount: Option<Kobo>,
        /// PINs asked, if given.
        quantity: Option<u32>,
        /// JAMB: the verified candidate profile.
        profile: Option<ProfileId>,
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
        let plan_id = |required: bool| -> Result<Option<u64>, ApiError> {
            let raw = if required {
                Some(p.require("plan_id")?)
            } else {
                p.get("plan_id").map(str::trim).filter(|v| !v.is_empty())
            };
            raw.map(|r| r.parse().map_err(|_| ApiError::field("plan_id", "must be a plan id from the plans list")))
                .transpose()
        };
        let plan = |category: VtuCategory| -> Result<PurchaseRequest, ApiError> {
            let plan_id = plan_id(true)?.ok_or_else(|| ApiError::field("plan_id", "is required"))?;
            Ok(PurchaseRequest::Plan { category, plan_id, phone: phone(p)? })
        };
        match action {
            Action::VtuData => plan(VtuCategory::Data),
            Action::VtuSme => plan(VtuCategory::Sme),
            Action::VtuCable => {
                let kind = match p.get("subscription_type").map(str::trim).filter(|v| !v.is_empty()) {
                    None => SubscriptionType::Change,
                    Some(raw) => SubscriptionType::parse(raw)
                        .ok_or_else(|| ApiError::field("subscription_type", "must be change or renew"))?,
                };
                let plan_id = plan_id(kind == SubscriptionType::Change)?;
                let service = p.get("service_id").map(|s| s.trim().to_ascii_lowercase()).filter(|v| !v.is_empty());
                if kind == SubscriptionType::Renew && plan_id.is_none() && service.is_none() {
                    return Err(ApiError::field("service_id", "is required to renew (or a plan_id of the service)"));
                }
                let months = count(p, "quantity", rules::MAX_CABLE_MONTHS)?.unwrap_or(1);
                Ok(PurchaseRequest::Cable { kind, plan_id, service, customer: smartcard(p)?, months, phone: phone(p)? })
            }
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
            Action::VtuEducation => {
                let exam = exam(p)?;
                let amount = match p.get("amount").map(str::trim).filter(|v| !v.is_empty()) {
                    Some(_) => Some(naira(p, "amount")?),
                    None => None,
                };
                let quantity = count(p, "quantity", exam.max_quantity())?;
                if amount.is_none() && quantity.is_none() {
                    return Err(ApiError::field("quantity", "is required (or amount, for whole PINs)"));
                }
                let profile = if exam.needs_profile() { Some(profile_id(p)?) } else { None };
                Ok(PurchaseRequest::Education { exam, amount, quantity, profile, phone: phone(p)? })
            }
            Action::VtuRechargeCard => {
                let network = p.require("card_network")?.to_ascii_lowercase();
                let value = naira(p, "value")?;
                p.require("quantity")?;
                let quantity = count(p, "quantity", MAX_CARDS)?.unwrap_or(1);
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

impl PurchaseRequest {
    /// The service whose renewal amount must be looked up before pricing (cable renew).
    fn renewal_lookup(&self, cat: &VtuCatalog) -> Option<(String, String)> {
        let PurchaseRequest::Cable { kind: SubscriptionType::Renew, plan_id, service, customer, .. } = self else {
            return None;
        };
        let service = service.clone().or_else(|| plan_id.and_then(|id| cat.plan(id)).map(|x| x.service.clone()))?;
        Some((service, customer.as_str().to_string()))
    }
}

/// What a purchase buys, priced from the catalog, before it is paid: `units` of one unit
/// costing `base` + `profit` (a plan, a month of cable, a card, a PIN, or a whole
/// face-value amount).
struct Purchase {
    category: VtuCategory,
    service_name: String,
    phone: String,
    face: Kobo,
    base: Kobo,
    profit: Kobo,
    units: u32,
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

/// How many PINs an education purchase buys: `quantity`, or the whole PINs `amount` pays
/// for (both given: they must agree).
fn exam_pins(f: &FaceProduct, exam: Exam, amount: Option<Kobo>, quantity: Option<u32>) -> Result<u32, ApiError> {
    let unit = f.step.as_i64().max(1);
    let by_amount = match amount {
        None => None,
        Some(a) => {
            if !a.is_positive() || a.as_i64() % unit != 0 {
                return Err(ApiError::field("amount", format!("must be a whole number of PINs at {} each", f.step)));
            }
            Some(u32::try_from(a.as_i64() / unit).unwrap_or(u32::MAX))
        }
    };
    let pins = match (by_amount, quantity) {
        (Some(a), Some(q)) if a != q => {
            return Err(ApiError::field("amount", format!("pays for {a} PINs but quantity asks for {q}")));
        }
        (Some(n), _) | (None, Some(n)) => n,
        (None, None) => return Err(ApiError::field("quantity", "is required")),
    };
    if pins == 0 || pins > exam.max_quantity() {
        return Err(ApiError::field("quantity", format!("must be between 1 and {} PINs", exam.max_quantity())));
    }
    Ok(pins)
}

/// Prices a request from the catalog and says what the provider is asked to deliver.
/// `renewal` is the provider's monthly renewal amount of a cable renew's smartcard.
fn build(req: PurchaseRequest, cat: &VtuCatalog, renewal_face: Option<Kobo>) -> Result<Purchase, ApiError> {
    let plan_of = |plan_id: u64, category: VtuCategory| {
        cat.plan(plan_id)
            .filter(|x| x.category == category)
            .ok_or_else(|| ApiError::field("plan_id", format!("{plan_id} is not a {category} plan")))
    };
    let (category, f, face, units, phone, meta, mut request) = match req {
        PurchaseRequest::Plan { category, plan_id, phone } => {
            let plan = plan_of(plan_id, category)?;
            let meta = json!({"plan_id": plan.id, "plan": plan.name, "validity": plan.validity});
            let request = TopupRequest {
                category: category.as_str().into(),
                service: plan.service.clone(),
                phone: phone.local().to_string(),
                product_code: Some(plan.provider_code.clone()),
                ..Default::default()
            };
            return Ok(Purchase {
                category,
                service_name: plan.service.clone(),
                phone: phone.local().to_string(),
                face: plan.base.checked_add(plan.profit).unwrap_or(plan.base),
                base: plan.base,
                profit: plan.profit,
                units: 1,
                meta,
                request,
            });
        }
        PurchaseRequest::Cable { kind: SubscriptionType::Change, plan_id, customer, months, phone, .. } => {
            let plan = plan_of(plan_id.unwrap_or_default(), VtuCategory::Cable)?;
            let meta = json!({"plan_id": plan.id, "plan": plan.name, "validity": plan.validity,
                              "customer_id": customer.as_str(), "subscription_type": "change", "months": months});
            let request = TopupRequest {
                category: VtuCategory::Cable.as_str().into(),
                service: plan.service.clone(),
                phone: phone.local().to_string(),
                product_code: Some(plan.provider_code.clone()),
                customer_id: Some(customer.as_str().to_string()),
                subscription_type: Some("change".into()),
                months: Some(months),
                ..Default::default()
            };
            let unit_face = plan.base.checked_add(plan.profit).unwrap_or(plan.base);
            return Ok(Purchase {
                category: VtuCategory::Cable,
                service_name: plan.service.clone(),
                phone: phone.local().to_string(),
                face: unit_face.checked_mul(i64::from(months)).unwrap_or(unit_face),
                base: plan.base,
                profit: plan.profit,
                units: months,
                meta,
                request,
            });
        }
        PurchaseRequest::Cable { kind: SubscriptionType::Renew, plan_id, service, customer, months, phone } => {
            let service =
                service.or_else(|| plan_id.and_then(|id| cat.plan(id)).map(|x| x.service.clone())).unwrap_or_default();
            let f = face_product(cat, VtuCategory::Cable, &service, "service_id")?;
            let face = renewal_face.ok_or(ApiError::Unavailable)?;
            face_checked(f, face, "customer_id")?;
            let meta = json!({"customer_id": customer.as_str(), "subscription_type": "renew", "months": months});
            let request = TopupRequest {
                customer_id: Some(customer.as_str().to_string()),
                subscription_type: Some("renew".into()),
                months: Some(months),
                ..Default::default()
            };
            (VtuCategory::Cable, f, face, months, Some(phone), meta, request)
        }
        PurchaseRequest::Airtime { service, amount, phone } => {
            let f = face_product(cat, VtuCategory::Airtime, &service, "service_name")?;
            face_checked(f, amount, "amount")?;
            (VtuCategory::Airtime, f, amount, 1, Some(phone), json!({}), TopupRequest::default())
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
            (VtuCategory::Electricity, f, amount, 1, Some(phone), meta, request)
        }
        PurchaseRequest::Education { exam, amount, quantity, profile, phone } => {
            let f = face_product(cat, VtuCategory::Education, exam.as_str(), "exam")?;
            let pins = exam_pins(f, exam, amount, quantity)?;
            let mut meta = json!({"exam": exam.as_str().to_ascii_uppercase(), "pins": pins});
            let mut request = TopupRequest { quantity: Some(pins), ..Default::default() };
            if let Some(profile) = profile {
                meta["profile_id"] = json!(profile.as_str());
                request.profile_id = Some(profile.as_str().to_string());
            }
            (VtuCategory::Education, f, f.step, pins, Some(phone), meta, request)
        }
        PurchaseRequest::RechargeCard { network, value, quantity, phone } => {
            let f = cat
                .face(VtuCategory::RechargeCard, &network)
                .ok_or_else(|| ApiError::field("card_network", format!("{network:?} is not a known network")))?;
            face_checked(f, value, "value")?;
            let meta = json!({"value": value.to_string(), "quantity": quantity});
            let request = TopupRequest { quantity: Some(quantity), ..Default::default() };
            (VtuCategory::RechargeCard, f, value, quantity, phone, meta, request)
        }
    };
    let (base, profit) = rules::face_split(face, f.base_bp, f.profit_bp);
    let phone = phone.map(|p| p.local().to_string()).unwrap_or_default();
    request.category = category.as_str().into();
    request.service = f.service.clone();
    request.phone = phone.clone();
    request.amount = Some(face.to_string());
    Ok(Purchase {
        category,
        service_name: f.service.clone(),
        phone,
        face: face.checked_mul(i64::from(units)).ok_or_else(|| ApiError::field("quantity", "is too large"))?,
        base,
        profit,
        units,
        meta,
        request,
    })
}

/// Checks the transaction PIN. An attempt is reserved first, in one conditional write
/// that also reads the lock (so racing requests evaluate at most [`pin::PIN_LIMIT`]
/// PINs, and a lock set a moment ago holds); only then is the PIN compared. Every
/// refusal answers the same.
pub(crate) async fn check_pin(app: &App, caller: &Caller, p: &Params) -> Result<(), ApiError> {
    check_pin_then(app, caller, p, PinOk::Write).await
}

/// What a right PIN's attempts starting over costs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PinOk {
    /// A write of its own, now.
    Write,
    /// Nothing now: the caller's spend applies it in its own transaction (and writes it
    /// itself on any path where that transaction is not made).
    InSpend,
}

/// [`check_pin`], using the attempt the authentication wave reserved when it did.
pub(crate) async fn check_pin_then(app: &App, caller: &Caller, p: &Params, ok: PinOk) -> Result<(), ApiError> {
    let given = p.require("pin")?;
    let account = &caller.account;
    let Some(stored) = account.pin_digest.as_deref() else {
        return Err(ApiError::PinNotSet);
    };
    let now = app.clock.now_unix();
    let attempt = match caller.pre.take_pin() {
        Some(a @ pin::Attempt::Reserved { .. }) => a,
        Some(pin::Attempt::Refused { locked: true, .. }) => return Err(ApiError::PinRefused),
        _ => reserve_attempt(app, &account.id, pin::Guess::Pin, now).await?,
    };
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
        if ok == PinOk::Write {
            app.store.pin_ok(&account.id, pin::Guess::Pin).await?;
        }
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

/// The provider's monthly renewal amount for a cable renew (looked up before anything is
/// charged: a smartcard it does not know is a 422, an unreachable provider a 503).
async fn renewal_face(app: &App, cat: &VtuCatalog, req: &PurchaseRequest) -> Result<Option<Kobo>, ApiError> {
    let Some((service, customer)) = req.renewal_lookup(cat) else { return Ok(None) };
    let provider = app.providers.topup.get().await.map_err(|e| upstream_error(e, "provider"))?;
    let found =
        provider.verify_cable(&service, &customer).await.map_err(|e| upstream_error(e, "Invalid smartcard number"))?;
    Ok(Some(renewal(cat, &service, &found.details)?.1))
}

/// One of the seven purchases.
pub async fn purchase(
    app: &App,
    caller: &Caller,
    action: Action,
    req: &ApiRequest,
) -> Result<Response<Body>, ApiError> {
    let p = &req.params;
    let catalog = app.vtu_catalog(&caller.pre).await?;
    let asked = PurchaseRequest::try_from((action, p))?;
    let profile = match &asked {
        PurchaseRequest::Education { exam, profile: Some(id), .. } => Some((*exam, id.clone())),
        _ => None,
    };
    let account = &caller.account;
    let idem = match &req.idempotency_key {
        None => None,
        Some(k) => {
            let k = idempotency::validate_key(k)?;
            let fields = p.iter().filter(|(name, _)| *name != "pin");
            Some((kobo_shared::platform::crypto::sha256_hex(k.as_bytes()), idempotency::fingerprint(fields)))
        }
    };
    // Read in the authentication wave when it could be; else here, in one round trip.
    let pre = &caller.pre;
    let idem_lookup = async {
        match &idem {
            Some((h, _)) => match pre.idem(h) {
                Some(found) => Ok(found),
                None => app.store.get_idem(&account.id, h).await,
            },
            None => Ok(None),
        }
    };
    let now_unix = app.clock.now_unix();
    let profile_lookup = async {
        match (&profile, &pre.profile) {
            (Some(_), Some(found)) => Ok(found.clone()),
            (Some((exam, id)), None) => {
                app.store.verified_profile(&account.id, exam.as_str(), id.as_str(), now_unix).await
            }
            (None, _) => Ok(None),
        }
    };
    let fresh_id = async {
        match pre.id(0) {
            Some(id) => Ok(id),
            None => app.store.next_id("vtu").await,
        }
    };
    let (id, earlier, verified) = tokio::join!(fresh_id, idem_lookup, profile_lookup);
    // A retry of a purchase already made answers that purchase, whatever the balance or
    // the PIN's lock say now: the key is looked up before either is checked.
    if let (Some(rec), Some((_, request_hash))) = (earlier?, &idem) {
        let (status, body) = rec.replay(request_hash)?;
        return replay(app, caller, status, body).await;
    }
    let renewal = renewal_face(app, &catalog, &asked).await?;
    let what = build(asked, &catalog, renewal)?;
    let mut meta = what.meta;
    if profile.is_some() {
        let name = verified?.ok_or_else(|| {
            ApiError::field("profile_id", "must be verified with vtu_education_verify (exam=jamb) before buying")
        })?;
        meta["candidate_name"] = json!(name);
    }
    let amount = rules::unit_charge(what.base, what.profit, discount(caller, what.category), what.units)
        .ok_or_else(|| ApiError::field("quantity", "is too large"))?;
    // A right PIN's attempts start over inside the payment's own transaction; on every
    // path that makes no payment, with a write of their own.
    check_pin_then(app, caller, p, PinOk::InSpend).await?;
    let pin_ok_alone = || async {
        if let Err(e) = app.store.pin_ok(&account.id, kobo_shared::domain::pin::Guess::Pin).await {
            tracing::warn!(error = %e, "PIN attempts not reset; they expire with the others");
        }
    };
    let base_amount = what.base.checked_mul(i64::from(what.units)).unwrap_or(amount);
    let available = account.balance.checked_sub(account.min_balance).unwrap_or(Kobo::ZERO);
    if amount > available {
        pin_ok_alone().await;
        return Err(ApiError::InsufficientBalance);
    }
    let trx = rules::new_trx();
    let now = now_rfc3339();
    // The first provider of the route is recorded with the payment; the others only if
    // it certainly did not take the purchase (`vtu::send`).
    let route = catalog.route(what.category, &what.service_name);
    let Some(first) = route.first().cloned() else {
        // Every provider of its route is disabled: nothing is charged.
        pin_ok_alone().await;
        tracing::warn!(category = %what.category, service = %what.service_name, "no enabled provider for this purchase");
        return Err(ApiError::Unavailable);
    };
    let mut request = what.request;
    request.reference = kobo_shared::upstream::vtu::reference_for(&first, &trx, kobo_shared::domain::time::now_unix());
    request.provider = first;
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
        base_amount,
        profit_amount: amount.checked_sub(base_amount).unwrap_or_default(),
        face_value: what.face,
        status: VtuStatus::Processing,
        provider_ref: None,
        message: None,
        meta,
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
    let paid = vtu::pay(&app.store, &tx, account.min_balance, record.as_ref(), true).await;
    if paid.is_err() {
        pin_ok_alone().await;
    }
    match paid {
        Ok(()) => {}
        Err(SpendError::InsufficientBalance) => return Err(ApiError::InsufficientBalance),
        Err(SpendError::Replay(rec)) => {
            let (status, body) = rec.replay(record.as_ref().map(|r| r.request_hash.as_str()).unwrap_or_default())?;
            return replay(app, caller, status, body).await;
        }
        Err(SpendError::Store(e)) => return Err(e.into()),
    }
    let (tx, answer) = vtu::send(&app.store, &app.providers, &tx, &route, false).await;
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

/// `vtu_status`'s transaction: by one of kobo's references (anything else names nothing),
/// or by the `request_id` (idempotency key) the caller bought it with.
pub enum StatusRequest {
    /// By trx.
    Trx(Trx),
    /// By the SHA-256 of the purchase's idempotency key.
    RequestId(String),
}

impl TryFrom<&Params> for StatusRequest {
    type Error = ApiError;
    fn try_from(p: &Params) -> Result<StatusRequest, ApiError> {
        if let Some(trx) = p.get("trx").map(str::trim).filter(|v| !v.is_empty()) {
            return Trx::parse(trx).map(StatusRequest::Trx).ok_or_else(tx_not_found);
        }
        match p.get("request_id").map(str::trim).filter(|v| !v.is_empty()) {
            Some(k) => Ok(StatusRequest::RequestId(kobo_shared::platform::crypto::sha256_hex(k.as_bytes()))),
            None => Err(ApiError::field("trx", "is required (or request_id, the purchase's idempotency key)")),
        }
    }
}

fn tx_not_found() -> ApiError {
    ApiError::NotFound("Transaction not found".into())
}

/// `vtu_status`: the transaction by trx or by its `request_id` (owner only: another
/// account's answers like a missing one), same shape as a purchase answer.
pub async fn status(app: &App, caller: &Caller, p: &Params) -> Result<Response<Body>, ApiError> {
    let account = &caller.account.id;
    let trx = match StatusRequest::try_from(p)? {
        StatusRequest::Trx(trx) => trx.as_str().to_string(),
        StatusRequest::RequestId(hash) => {
            app.store.vtu_trx_by_request(account, &hash).await?.ok_or_else(tx_not_found)?
        }
    };
    let tx = app.store.get_vtu(account, &trx).await?.ok_or_else(tx_not_found)?;
    Ok(render::ok(&VtuAnswer::of(&tx, caller.account.balance)))
}
