//! VTpass (`https://www.vtpass.com/documentation/`): airtime, data, cable, electricity and
//! exam PINs for every Nigerian network and biller, as its public API documents them.
//!
//! - **Auth**: `api-key` on every request, with `public-key` on GETs and `secret-key` on
//!   POSTs (`/authentication/`). Bodies are JSON.
//! - **Endpoints**: `GET /service-variations?serviceID=` (the catalog), `POST
//!   /merchant-verify` (smartcard, meter with `type`, JAMB profile), `POST /pay`, `POST
//!   /requery`, `GET /balance` (`{"code":1,"contents":{"balance":…}}`).
//! - **`request_id`**: at least 12 characters, the first 12 the date and time
//!   `YYYYMMDDHHII` in Africa/Lagos (UTC+1, no daylight saving), then free text
//!   (`/buying-services/`); kobo appends its own reference (`TRX…`), so a requery, a
//!   callback and a purchase name the same id. A malformed one is refused `085`; a reused
//!   one answers `014`.
//! - **Callback**: `POST` of `{"type":"transaction-update","data":{…requery shape…}}`,
//!   unsigned; VTpass re-sends it (up to 5 times) until the answer is
//!   `{"response":"success"}` (`/callback-api-integration/`). It is only a hint: kobo
//!   requeries `data.requestId` and believes that.
//!
//! Every response code VTpass documents (`/response-codes/`) is classified in [`CODES`];
//! a code not in it is [`Class::Ambiguous`] (VTpass itself says: treat any answer not in
//! the table as pending and requery). A purchase answered `000` reads its class from
//! `content.transactions.status`.

use std::time::Duration;

use chrono::{DateTime, FixedOffset, Offset, Utc};
use serde_json::{json, Value};

use super::Class;
use crate::domain::money::Kobo;
use crate::domain::vtu::Card;
use crate::upstream::topup::{Customer, ElectricityDetails, TopupProvider, TopupRequest, TopupResult, TopupState};
use crate::upstream::{classify as transport_error, UpstreamError};

/// Every response code VTpass documents, with kobo's class for a purchase answered with it
/// (`000`, `001` and `099` read the transaction's status instead; see [`classify`]).
pub const CODES: &[(&str, Class, &str)] = &[
    ("000", Class::Pending, "processed: the class is the transaction's status"),
    ("001", Class::Pending, "transaction query: the class is the transaction's status"),
    ("099", Class::Pending, "transaction is processing"),
    ("044", Class::Ambiguous, "transaction resolved, contact VTpass"),
    ("091", Class::NotSent, "transaction not processed; you will not be charged"),
    ("016", Class::Failed, "transaction failed"),
    ("040", Class::Failed, "transaction reversal (to the wallet)"),
    ("010", Class::Failed, "variation code does not exist"),
    ("011", Class::Failed, "invalid arguments"),
    ("012", Class::Failed, "product does not exist"),
    ("013", Class::Failed, "below the minimum amount"),
    ("017", Class::Failed, "above the maximum amount"),
    ("014", Class::Ambiguous, "request id already exists: the earlier purchase decides (requery)"),
    ("015", Class::Ambiguous, "invalid request id (on a requery: VTpass never got it)"),
    ("018", Class::NotSent, super::LOW_BALANCE),
    ("019", Class::NotSent, "likely duplicate (same biller, service and amount within 30 s)"),
    ("020", Class::Failed, "biller confirmed (a verification code on a purchase: failed)"),
    ("021", Class::NotSent, "account locked"),
    ("022", Class::NotSent, "account suspended"),
    ("023", Class::NotSent, "API access not enabled"),
    ("024", Class::NotSent, "account inactive"),
    ("025", Class::NotSent, "recipient bank invalid"),
    ("026", Class::NotSent, "recipient account could not be verified"),
    ("027", Class::NotSent, "IP not whitelisted"),
    ("028", Class::NotSent, "product not whitelisted on the account"),
    ("030", Class::NotSent, "biller not reachable"),
    ("031", Class::Failed, "below the minimum quantity"),
    ("032", Class::Failed, "above the maximum quantity"),
    ("034", Class::NotSent, "service suspended"),
    ("035", Class::NotSent, "service inactive"),
    ("083", Class::Ambiguous, "system error"),
    ("085", Class::NotSent, "improper request id (no date, a bad date, or not today)"),
    ("087", Class::NotSent, "invalid credentials"),
    ("089", Class::Ambiguous, "request is processing: wait before another request"),
];

/// The class of a transaction's `content.transactions.status` (`/response-codes/`):
/// `delivered` is a delivery; `failed` and `reversed` (money back to the wallet) are
/// failures; `initiated` and `pending` are not final; anything else (`resolved`, a word
/// not documented, none) says nothing certain.
pub fn status_class(status: Option<&str>) -> Class {
    match status.map(|s| s.trim().to_ascii_lowercase()).as_deref() {
        Some("delivered") => Class::Success,
        Some("failed" | "reversed") => Class::Failed,
        Some("initiated" | "pending") => Class::Pending,
        _ => Class::Ambiguous,
    }
}

/// The class of an answer with response `code` and, where there is one, the
/// transaction's `status`. `000`/`001` follow the status; `099` is pending whatever it
/// says; a code not in [`CODES`] is ambiguous.
pub fn classify(code: &str, status: Option<&str>) -> Class {
    match code {
        "000" | "001" => status_class(status),
        "099" => Class::Pending,
        _ => CODES.iter().find(|(c, _, _)| *c == code).map_or(Class::Ambiguous, |(_, class, _)| *class),
    }
}

/// What VTpass says a code means (`None` for a code it does not document).
pub fn meaning(code: &str) -> Option<&'static str> {
    CODES.iter().find(|(c, _, _)| *c == code).map(|(_, _, m)| *m)
}

/// Africa/Lagos: UTC+1 all year.
fn lagos() -> FixedOffset {
    FixedOffset::east_opt(3600).unwrap_or_else(|| Utc.fix())
}

/// VTpass's `request_id` for a purchase sent at `at`: `YYYYMMDDHHII` in Africa/Lagos,
/// then `suffix` (kobo's own reference).
pub fn request_id(at: DateTime<Utc>, suffix: &str) -> String {
    format!("{}{suffix}", at.with_timezone(&lagos()).format("%Y%m%d%H%M"))
}

/// Whether `id` has VTpass's form: at least 12 characters, the first 12 digits making a
/// real date and time, the rest letters, digits or `-`.
pub fn is_request_id(id: &str) -> bool {
    let Some(prefix) = id.get(..12) else { return false };
    prefix.bytes().all(|b| b.is_ascii_digit())
        && chrono::NaiveDateTime::parse_from_str(prefix, "%Y%m%d%H%M").is_ok()
        && id[12..].bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// The Lagos date (`YYYYMMDD`) a request id names, when it is one.
pub fn request_date(id: &str) -> Option<&str> {
    is_request_id(id).then(|| &id[..8])
}

/// The request id VTpass keys a purchase by: the reference as it is when it already has
/// VTpass's form, else the reference after the Lagos date and time `at`.
pub fn request_id_for(reference: &str, at: DateTime<Utc>) -> String {
    if is_request_id(reference) {
        reference.to_string()
    } else {
        request_id(at, reference)
    }
}

/// VTpass's `serviceID` for kobo's service name (9mobile is `etisalat` there).
pub fn service_id(service: &str) -> String {
    match service.split_once('-') {
        Some(("9mobile", rest)) => format!("etisalat-{rest}"),
        _ if service == "9mobile" => "etisalat".into(),
        _ => service.to_string(),
    }
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A response code as VTpass sends it (a string `"000"`; tolerated as a number).
fn code_of(v: &Value) -> Option<String> {
    match v.get("code")? {
        Value::String(s) => Some(s.trim().to_string()),
        Value::Number(n) => n.as_u64().map(|n| format!("{n:03}")),
        _ => None,
    }
}

/// The naira amount of `r` as VTpass takes it (a number; kobo's face values are whole or
/// two-decimal naira).
fn naira(r: &TopupRequest) -> Result<Value, UpstreamError> {
    let a = r.amount.as_deref().ok_or_else(|| UpstreamError::Rejected("amount is required".into()))?;
    let k = Kobo::from_decimal_text(a).ok_or_else(|| UpstreamError::Rejected(format!("amount {a:?}")))?;
    Ok(if k.as_i64() % 100 == 0 { json!(k.as_i64() / 100) } else { json!(k.as_naira_f64()) })
}

/// The `POST /pay` body of a purchase (the fields each product page lists). A product
/// VTpass does not sell (recharge card PINs) is [`UpstreamError::NotSent`]: another
/// provider may.
pub fn pay_body(r: &TopupRequest, request_id: &str) -> Result<Value, UpstreamError> {
    let service = service_id(&r.service);
    let mut b = json!({"request_id": request_id, "serviceID": service, "phone": r.phone});
    let code = || r.product_code.clone().ok_or_else(|| UpstreamError::Rejected("a variation code is required".into()));
    match r.category.as_str() {
        "airtime" => b["amount"] = naira(r)?,
        "data" | "sme" => {
            b["billersCode"] = json!(r.phone);
            b["variation_code"] = json!(code()?);
        }
        "cable" => {
            b["billersCode"] = json!(r.customer_id.clone().unwrap_or_default());
            b["subscription_type"] = json!(r.subscription_type.clone().unwrap_or_else(|| "change".into()));
            if r.subscription_type.as_deref() == Some("renew") {
                b["amount"] = naira(r)?;
            } else {
                b["variation_code"] = json!(code()?);
            }
            if let Some(m) = r.months {
                b["quantity"] = json!(m);
            }
        }
        "electricity" => {
            b["billersCode"] = json!(r.meter_number.clone().unwrap_or_default());
            b["variation_code"] = json!(r.meter_type.clone().unwrap_or_else(|| "prepaid".into()));
            b["amount"] = naira(r)?;
        }
        "education" => match service.as_str() {
            "jamb" => {
                b["variation_code"] = json!(r.product_code.clone().unwrap_or_else(|| "utme-no-mock".into()));
                b["billersCode"] = json!(r.profile_id.clone().unwrap_or_default());
            }
            "waec" | "waec-registration" => {
                let default = if service == "waec" { "waecdirect" } else { "waec-registration" };
                b["variation_code"] = json!(r.product_code.clone().unwrap_or_else(|| default.into()));
                b["quantity"] = json!(r.quantity.unwrap_or(1));
            }
            other => return Err(UpstreamError::NotSent(format!("VTpass sells no {other} PINs"))),
        },
        other => return Err(UpstreamError::NotSent(format!("VTpass sells no {other}"))),
    }
    Ok(b)
}

/// The value after `label :` in a `purchased_code` such as `"Token : 1234 5678"` or
/// `"Serial No:WRN1, pin: 0982"`.
fn after_label(purchased: &str, label: &str) -> Option<String> {
    let lower = purchased.to_ascii_lowercase();
    let at = lower.find(&label.to_ascii_lowercase())? + label.len();
    let rest = purchased[at..].trim_start().trim_start_matches(':').trim();
    let value: String = rest.split(',').next().unwrap_or("").trim().to_string();
    (!value.is_empty()).then_some(value)
}

fn first_text(v: &Value, keys: &[&str]) -> Option<String> {
    keys.iter().find_map(|k| v.get(*k).and_then(text))
}

/// The cards (PIN and serial) an exam purchase delivered: WAEC's `cards`
/// (`[{"Serial","Pin"}]`), registration `tokens`, JAMB's `Pin` / `purchased_code`.
fn cards_of(v: &Value) -> Vec<Card> {
    if let Some(list) = v.get("cards").and_then(Value::as_array) {
        return list
            .iter()
            .filter_map(|c| {
                let pin = first_text(c, &["Pin", "pin", "PIN"])?;
                Some(Card { pin, serial: first_text(c, &["Serial", "serial", "SerialNo"]).unwrap_or_default() })
            })
            .collect();
    }
    if let Some(list) = v.get("tokens").and_then(Value::as_array) {
        return list.iter().filter_map(text).map(|pin| Card { pin, serial: String::new() }).collect();
    }
    let purchased = v.get("purchased_code").and_then(Value::as_str).unwrap_or_default();
    let pin = v.get("Pin").and_then(text).or_else(|| after_label(purchased, "pin"));
    match pin {
        Some(pin) if !purchased.to_ascii_lowercase().contains("token") => {
            vec![Card { pin, serial: after_label(purchased, "serial no").unwrap_or_default() }]
        }
        _ => Vec::new(),
    }
}

/// Reads a transaction answer (of `/pay`, of `/requery`, or a callback's `data`) into the
/// port's result by [`classify`]: a delivery, a pending purchase or a failure; an
/// ambiguous or not-sent answer is the matching [`UpstreamError`]. A `000` without
/// `content.transactions` is ambiguous (nothing says how the purchase stands).
pub fn parse_transaction(v: &Value) -> Result<TopupResult, UpstreamError> {
    let Some(code) = code_of(v) else {
        return Err(UpstreamError::Ambiguous("VTpass answered without a response code".into()));
    };
    let tx = &v["content"]["transactions"];
    let status = tx.get("status").and_then(Value::as_str);
    let description = v.get("response_description").and_then(text).unwrap_or_default();
    if matches!(code.as_str(), "000" | "001") && !tx.is_object() {
        return Err(UpstreamError::Ambiguous(format!("VTpass code {code} without content.transactions")));
    }
    let why = || {
        let meaning = meaning(&code).unwrap_or("a code VTpass does not document");
        format!(
            "VTpass {code} {description} ({meaning}{})",
            status.map(|s| format!(", status {s}")).unwrap_or_default()
        )
    };
    let state = match classify(&code, status) {
        Class::Success => TopupState::Success,
        Class::Pending => TopupState::Pending,
        Class::Failed => TopupState::Failed(why()),
        Class::Ambiguous => {
            if meaning(&code).is_none() {
                tracing::error!(code = %code, "VTpass answered a code it does not document; treated as ambiguous (requery decides)");
            }
            return Err(UpstreamError::Ambiguous(why()));
        }
        Class::NotSent => return Err(UpstreamError::NotSent(why())),
    };
    let purchased = v.get("purchased_code").and_then(Value::as_str).unwrap_or_default();
    let extras = &tx["extras"];
    let token = first_text(v, &["token", "mainToken", "Token"])
        .or_else(|| after_label(purchased, "token"))
        .or_else(|| text(extras).filter(|_| !extras.is_object()))
        .or_else(|| first_text(extras, &["token", "mainToken"]));
    Ok(TopupResult {
        state,
        recharge_id: tx.get("transactionId").and_then(text).or_else(|| v.get("transactionId").and_then(text)),
        operator_ref: v.get("exchangeReference").and_then(text),
        token,
        cards: cards_of(v),
        electricity: ElectricityDetails {
            units: first_text(v, &["units", "mainTokenUnits", "Units", "PurchasedUnits"]),
            customer_name: first_text(v, &["customerName", "CustomerName"]),
            customer_address: first_text(v, &["customerAddress", "CustomerAddress"]),
            tariff: first_text(v, &["tariff", "Tariff"]),
        },
    })
}

/// Reads a `merchant-verify` answer: the customer, with the details kobo shows under the
/// names its API uses (`current_plan`, `renewal_amount`, `due_date` for a smartcard;
/// `address`, `tariff`, `minimum_amount`, `arrears` for a meter). A number VTpass does
/// not find (still code `000`, with an `error` or `WrongBillersCode: true`, and no
/// name) is [`UpstreamError::Rejected`].
pub fn parse_customer(v: &Value) -> Result<Customer, UpstreamError> {
    let code = code_of(v).unwrap_or_default();
    match classify(&code, Some("delivered")) {
        Class::Success => {}
        Class::NotSent => return Err(UpstreamError::NotSent(format!("VTpass verify {code}"))),
        Class::Ambiguous if meaning(&code).is_none() && code != "020" => {
            return Err(UpstreamError::Ambiguous(format!("VTpass verify answered code {code:?}")))
        }
        _ if code == "020" => {}
        _ => return Err(UpstreamError::Rejected(meaning(&code).unwrap_or("not found").into())),
    }
    let c = &v["content"];
    let name = c.get("Customer_Name").and_then(text);
    let wrong = c.get("WrongBillersCode").and_then(Value::as_bool) == Some(true);
    let Some(name) = name.filter(|_| !wrong && c.get("error").and_then(text).is_none()) else {
        return Err(UpstreamError::Rejected(c.get("error").and_then(text).unwrap_or_else(|| "not found".into())));
    };
    let mut details = serde_json::Map::new();
    for (ours, theirs) in [
        ("current_plan", &["Current_Bouquet"][..]),
        ("renewal_amount", &["Renewal_Amount"]),
        ("due_date", &["Due_Date"]),
        ("customer_number", &["Customer_Number"]),
        ("address", &["Address"]),
        ("meter_number", &["Meter_Number"]),
        ("meter_type", &["Meter_Type"]),
        ("tariff", &["Tariff", "Customer_Account_Type"]),
        ("minimum_amount", &["Min_Purchase_Amount", "Minimum_Amount"]),
        ("arrears", &["Customer_Arrears"]),
    ] {
        if let Some(value) = first_text(c, theirs) {
            details.insert(ours.into(), json!(value));
        }
    }
    Ok(Customer { customer_name: name, details })
}

/// One of a service's variations (`/service-variations`): a plan or a bouquet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variation {
    /// `variation_code`, sent with a purchase.
    pub code: String,
    /// Its name (`"N1000 1.5GB - 30 days"`).
    pub name: String,
    /// `variation_amount`: what VTpass charges for it, before commission.
    pub amount: Kobo,
    /// `fixedPrice: "Yes"`.
    pub fixed_price: bool,
}

/// Reads `/service-variations` (the list is spelled `variations`, on some pages
/// `varations`). A variation whose amount cannot be read exactly is left out (logged).
pub fn parse_variations(v: &Value) -> Result<Vec<Variation>, UpstreamError> {
    let c = &v["content"];
    let list = c
        .get("variations")
        .or_else(|| c.get("varations"))
        .and_then(Value::as_array)
        .ok_or_else(|| UpstreamError::Ambiguous("service-variations answered without variations".into()))?;
    Ok(list
        .iter()
        .filter_map(|x| {
            let code = x.get("variation_code").and_then(text)?;
            let amount = x.get("variation_amount").and_then(text).and_then(|a| Kobo::from_decimal_text(&a));
            let Some(amount) = amount else {
                tracing::warn!(variation = %code, "VTpass variation without an amount kobo can read; left out");
                return None;
            };
            Some(Variation {
                name: x.get("name").and_then(text).unwrap_or_else(|| code.clone()),
                code,
                amount,
                fixed_price: x.get("fixedPrice").and_then(Value::as_str).is_some_and(|f| f.eq_ignore_ascii_case("yes")),
            })
        })
        .collect())
}

/// Reads `/balance` (`{"code":1,"contents":{"balance":1081.82}}`): the wallet in kobo,
/// any fraction of a kobo cut off.
pub fn parse_balance(v: &Value) -> Result<Kobo, UpstreamError> {
    let b = v["contents"].get("balance").or_else(|| v["content"].get("balance")).and_then(text);
    let b = b.ok_or_else(|| UpstreamError::Ambiguous("balance answered without contents.balance".into()))?;
    let (whole, frac) = b.split_once('.').unwrap_or((&b, ""));
    let cut = format!("{whole}.{}", frac.get(..2).unwrap_or(frac));
    Kobo::from_decimal_text(cut.trim_end_matches('.'))
        .ok_or_else(|| UpstreamError::Ambiguous(format!("balance {b:?} is not an amount")))
}

/// What a VTpass callback asks kobo to look at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallbackHint {
    /// `transaction-update`: requery this request id (the body's status is only a hint).
    Transaction {
        /// `data.requestId`.
        request_id: String,
        /// What the body claims (never believed: only the requery is).
        claimed: Class,
    },
    /// Another type (`variations-update`, …): acknowledged, nothing to do.
    Other(String),
}

/// The answer VTpass waits for before it stops re-sending a callback.
pub const CALLBACK_ACK: &str = r#"{"response":"success"}"#;

/// Reads a callback body (`{"type": …, "data": {…}}`). A body that is not that shape, or a
/// transaction update without a `requestId` in VTpass's form, is an error (logged; VTpass
/// is still answered so it stops re-sending what kobo can never use).
pub fn parse_callback(body: &[u8]) -> Result<CallbackHint, String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    let kind = v.get("type").and_then(Value::as_str).ok_or("no type")?;
    if kind != "transaction-update" {
        return Ok(CallbackHint::Other(kind.to_string()));
    }
    let data = &v["data"];
    let request_id = data.get("requestId").and_then(text).ok_or("transaction-update without data.requestId")?;
    if !is_request_id(&request_id) {
        return Err(format!("requestId {request_id:?} is not one kobo sends"));
    }
    let claimed = classify(
        &code_of(data).unwrap_or_default(),
        data["content"]["transactions"].get("status").and_then(Value::as_str),
    );
    Ok(CallbackHint::Transaction { request_id, claimed })
}

/// VTpass's keys (from the profile's API Keys tab).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The static `api-key`.
    pub api_key: String,
    /// `PK_…`, sent on GETs.
    pub public_key: String,
    /// `SK_…`, sent on POSTs.
    pub secret_key: String,
}

/// Client of VTpass at a base URL (`https://sandbox.vtpass.com/api`, or the live one).
#[derive(Clone)]
pub struct VtpassClient {
    http: reqwest::Client,
    base: String,
    keys: Credentials,
}

impl std::fmt::Debug for VtpassClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VtpassClient").field("base", &self.base).finish_non_exhaustive()
    }
}

impl VtpassClient {
    /// A client for VTpass at `base` (no trailing slash needed) with `keys`.
    pub fn new(base: impl Into<String>, keys: Credentials, timeout: Duration) -> Result<VtpassClient, UpstreamError> {
        let http = crate::upstream::http_client(timeout)?;
        Ok(VtpassClient { http, base: base.into().trim_end_matches('/').to_string(), keys })
    }

    /// Sends a request and reads its JSON answer. A refused connection was not sent; a
    /// 5xx (503 included: a gateway may answer it after VTpass took the request), or an
    /// answer that is not JSON (HTML, empty), is ambiguous. Other statuses carry VTpass's code in the body.
    async fn send(&self, req: reqwest::RequestBuilder) -> Result<Value, UpstreamError> {
        let resp = req.header("api-key", &self.keys.api_key).send().await.map_err(|e| transport_error(&e))?;
        let status = resp.status().as_u16();
        if status == 503 {
            // A gateway may answer 503 after VTpass took the purchase: only the requery
            // tells (never a move to another provider, never a refund).
            return Err(UpstreamError::Ambiguous("VTpass answered 503".into()));
        }
        crate::upstream::check_status(status)?;
        let body = resp.text().await.map_err(|e| UpstreamError::Ambiguous(e.to_string()))?;
        serde_json::from_str(&body).map_err(|_| {
            UpstreamError::Ambiguous(format!(
                "VTpass answered {status} with a body that is not JSON ({} bytes)",
                body.len()
            ))
        })
    }

    async fn get(&self, path: &str) -> Result<Value, UpstreamError> {
        self.send(self.http.get(format!("{}{path}", self.base)).header("public-key", &self.keys.public_key)).await
    }

    async fn post(&self, path: &str, body: &Value) -> Result<Value, UpstreamError> {
        self.send(self.http.post(format!("{}{path}", self.base)).header("secret-key", &self.keys.secret_key).json(body))
            .await
    }

    /// A service's variations (plans, bouquets): the catalog import.
    pub async fn variations(&self, service: &str) -> Result<Vec<Variation>, UpstreamError> {
        parse_variations(&self.get(&format!("/service-variations?serviceID={}", service_id(service))).await?)
    }

    /// The wallet balance at VTpass.
    pub async fn balance(&self) -> Result<Kobo, UpstreamError> {
        parse_balance(&self.get("/balance").await?)
    }

    async fn verify(&self, service: &str, billers_code: &str, kind: Option<&str>) -> Result<Customer, UpstreamError> {
        let mut body = json!({"billersCode": billers_code, "serviceID": service_id(service)});
        if let Some(k) = kind {
            body["type"] = json!(k);
        }
        parse_customer(&self.post("/merchant-verify", &body).await?)
    }

    /// Buys with the request id `request_id` (see [`request_id_for`]).
    pub async fn pay(&self, r: &TopupRequest, request_id: &str) -> Result<TopupResult, UpstreamError> {
        parse_transaction(&self.post("/pay", &pay_body(r, request_id)?).await?)
    }
}

impl TopupProvider for VtpassClient {
    /// Buys under the request id made of `r.reference` (as it is when it is already one,
    /// else after the Lagos date and time now).
    async fn purchase(&self, r: &TopupRequest) -> Result<TopupResult, UpstreamError> {
        let id = request_id_for(&r.reference, Utc::now());
        self.pay(r, &id).await
    }

    /// `POST /requery` of the request id `reference`; `015` (an id VTpass never got) is
    /// `None`.
    async fn requery(&self, reference: &str) -> Result<Option<TopupResult>, UpstreamError> {
        let v = self.post("/requery", &json!({"request_id": reference})).await?;
        if code_of(&v).as_deref() == Some("015") {
            return Ok(None);
        }
        parse_transaction(&v).map(Some)
    }

    /// `merchant-verify` of a smartcard.
    async fn verify_cable(&self, service_id: &str, customer_id: &str) -> Result<Customer, UpstreamError> {
        self.verify(service_id, customer_id, None).await
    }

    /// `merchant-verify` of a meter, with its `type`.
    async fn verify_meter(
        &self,
        service_name: &str,
        meter_type: &str,
        meter_number: &str,
    ) -> Result<Customer, UpstreamError> {
        self.verify(service_name, meter_number, Some(meter_type)).await
    }

    /// `merchant-verify` of a JAMB profile (its `type` is the variation code).
    async fn verify_profile(&self, exam: &str, profile_id: &str) -> Result<Customer, UpstreamError> {
        if exam != "jamb" {
            return Err(UpstreamError::Rejected(format!("VTpass verifies no {exam} profiles")));
        }
        self.verify("jamb", profile_id, Some("utme-no-mock")).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `/re-query-services/` (newer copy): a delivered airtime purchase.
    const REQUERY_DELIVERED: &str = r#"{"response_description":"TRANSACTION SUCCESSFUL","code":"000","content":{"transactions":{"status":"delivered","product_name":"MTN Airtime VTU","unique_element":"08011111111","unit_price":20,"quantity":1,"service_verification":null,"channel":"api","commission":1,"total_amount":19.3,"discount":null,"type":"Airtime Recharge","email":"sandbox@sandbox.vtpass.com","phone":"123450987623","name":null,"extras":null,"convinience_fee":0,"amount":20,"platform":"api","method":"wallet","transactionId":"17415980564672211596777904","product_id":2,"commission_details":{"amount":1,"rate":"3.50","rate_type":"percent","computation_type":"default"}}},"requestId":"2025031010146932932","amount":20,"transaction_date":"2025-03-10T09:14:16.000000Z","purchased_code":""}"#;

    /// `/transaction-update-webhook-api/`: the callback of a delivered transaction.
    const CALLBACK_DELIVERED: &str = r#"{"type":"transaction-update","data":{"code":"000","content":{"transactions":{"status":"delivered","product_name":"Airtel Airtime","unique_element":"08011111111","unit_price":5,"quantity":1,"service_verification":null,"channel":"api","commission":0,"total_amount":4.85,"discount":null,"type":"Airtime Recharge","email":"degodtest@gmail.com","phone":"07061933309","name":null,"convinience_fee":0,"amount":5,"platform":"api","method":"wallet","transactionId":"1583519914158857111079"}},"response_description":"TRANSACTION DELIVERED","amount":5,"transaction_date":null,"requestId":"202003061850ELAET1RA7PC06250","purchased_code":""}}"#;

    /// `/mtn-data/`: service variations (newer copy spells the list `variations`).
    const VARIATIONS: &str = r#"{"response_description":"000","content":{"ServiceName":"MTN Data","serviceID":"mtn-data","convinience_fee":"0 %","variations":[{"variation_code":"mtn-10mb-100","name":"N100 100MB - 24 hrs","variation_amount":"100.00","fixedPrice":"Yes"},{"variation_code":"mtn-100mb-1000","name":"N1000 1.5GB - 30 days","variation_amount":"1000.00","fixedPrice":"Yes"}]}}"#;

    #[test]
    fn request_ids_lead_with_the_lagos_date_and_time() {
        let at = DateTime::parse_from_rfc3339("2026-12-08T23:30:00Z").map(|t| t.with_timezone(&Utc));
        let at = at.unwrap_or_default();
        // 23:30 UTC is 00:30 the next day in Lagos.
        assert_eq!(request_id(at, "TRXABC"), "202612090030TRXABC");
        assert!(is_request_id("202202071830YUs83meikd"));
        assert!(is_request_id("20250218124018-c3pwwi49eid"));
        assert!(is_request_id(&request_id(at, "TRX0123456789ABCDEFGHIJ")));
        for bad in ["", "20220207183", "2022020718x0abc", "202213071830abc", "202202071830 ab", "TRX202202071830"] {
            assert!(!is_request_id(bad), "{bad}");
        }
        assert_eq!(request_id_for("202202071830YUs83", at), "202202071830YUs83", "an id stays itself");
        assert_eq!(request_date("202202071830YUs83"), Some("20220207"));
    }

    #[test]
    fn every_documented_code_has_a_class_and_unknown_ones_are_ambiguous() {
        let class = |c: &str| classify(c, None);
        assert_eq!(classify("000", Some("delivered")), Class::Success);
        assert_eq!(classify("000", Some("pending")), Class::Pending);
        assert_eq!(classify("000", Some("initiated")), Class::Pending);
        assert_eq!(classify("000", Some("failed")), Class::Failed);
        assert_eq!(classify("000", Some("reversed")), Class::Failed);
        assert_eq!(classify("000", Some("resolved")), Class::Ambiguous);
        assert_eq!(classify("000", None), Class::Ambiguous);
        assert_eq!(classify("099", Some("failed")), Class::Pending, "099 is processing whatever it says");
        for (code, want) in [
            ("016", Class::Failed),
            ("040", Class::Failed),
            ("091", Class::NotSent),
            ("014", Class::Ambiguous),
            ("018", Class::NotSent),
            ("030", Class::NotSent),
            ("044", Class::Ambiguous),
            ("083", Class::Ambiguous),
            ("085", Class::NotSent),
            ("087", Class::NotSent),
            ("089", Class::Ambiguous),
            ("999", Class::Ambiguous),
            ("", Class::Ambiguous),
        ] {
            assert_eq!(class(code), want, "{code}");
        }
        let mut codes: Vec<&str> = CODES.iter().map(|(c, _, _)| *c).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), CODES.len(), "each code once");
    }

    #[test]
    fn the_documented_answers_parse() {
        let v: Value = serde_json::from_str(REQUERY_DELIVERED).unwrap_or_default();
        let r = parse_transaction(&v).map_err(|e| e.to_string());
        let r = r.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((r.state, r.recharge_id.as_deref()), (TopupState::Success, Some("17415980564672211596777904")));
        let hint = parse_callback(CALLBACK_DELIVERED.as_bytes());
        assert_eq!(
            hint,
            Ok(CallbackHint::Transaction {
                request_id: "202003061850ELAET1RA7PC06250".into(),
                claimed: Class::Success
            })
        );
        let vars = parse_variations(&serde_json::from_str(VARIATIONS).unwrap_or_default()).unwrap_or_default();
        assert_eq!(vars.len(), 2);
        assert_eq!(
            (vars[1].code.as_str(), vars[1].amount, vars[1].fixed_price),
            ("mtn-100mb-1000", Kobo::naira(1000), true)
        );
        let old = VARIATIONS.replace("\"variations\"", "\"varations\"");
        assert_eq!(parse_variations(&serde_json::from_str(&old).unwrap_or_default()).unwrap_or_default(), vars);
        let bal: Value = serde_json::from_str(r#"{"code":1,"contents":{"balance":1081.825}}"#).unwrap_or_default();
        assert_eq!(parse_balance(&bal).ok(), Some(Kobo::new(108_182)));
    }

    #[test]
    fn hostile_and_partial_answers_never_read_as_a_failure() {
        for body in [
            json!({"code": "000", "response_description": "TRANSACTION SUCCESSFUL"}),
            json!({"code": "000", "content": {"transactions": {"status": "resolved"}}}),
            json!({"code": "777", "response_description": "NEW THING"}),
            json!({"response_description": "no code"}),
            json!({"code": "014", "response_description": "REQUEST ID ALREADY EXIST"}),
        ] {
            assert!(matches!(parse_transaction(&body), Err(UpstreamError::Ambiguous(_))), "{body}");
        }
        let low = json!({"code": "018", "response_description": "LOW WALLET BALANCE"});
        assert!(matches!(parse_transaction(&low), Err(UpstreamError::NotSent(_))));
        let failed = json!({"code": "016", "response_description": "TRANSACTION FAILED"});
        assert!(matches!(parse_transaction(&failed).map(|r| r.state), Ok(TopupState::Failed(_))));
    }

    #[test]
    fn tokens_pins_and_units_are_read_where_vtpass_puts_them() {
        let prepaid = json!({"code": "000", "content": {"transactions": {"status": "delivered", "transactionId": "1"}},
            "purchased_code": "Token : 26362054405982757802", "units": "79.9 kWh", "customerName": "TESTMETER1",
            "customerAddress": "ABULE EGBA", "tariff": "R2 SINGLE PHASE"});
        let r = parse_transaction(&prepaid).map_err(|e| e.to_string()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.token.as_deref(), Some("26362054405982757802"));
        assert_eq!(r.electricity.units.as_deref(), Some("79.9 kWh"));
        assert_eq!(r.electricity.customer_name.as_deref(), Some("TESTMETER1"));
        let waec = json!({"code": "000", "content": {"transactions": {"status": "delivered"}},
            "cards": [{"Serial": "WRN182134400", "Pin": "498538524852"}, {"Serial": "WRN2", "Pin": "111"}]});
        let cards = parse_transaction(&waec).map(|r| r.cards).unwrap_or_default();
        assert_eq!(
            cards,
            vec![
                Card { pin: "498538524852".into(), serial: "WRN182134400".into() },
                Card { pin: "111".into(), serial: "WRN2".into() }
            ]
        );
        let jamb = json!({"code": "000", "content": {"transactions": {"status": "delivered"}}, "purchased_code": "Pin : 367574683050773"});
        assert_eq!(parse_transaction(&jamb).map(|r| r.cards).unwrap_or_default().len(), 1);
    }

    #[test]
    fn pay_bodies_carry_each_products_fields() {
        let id = "202612081830TRXA";
        let airtime = TopupRequest {
            category: "airtime".into(),
            service: "9mobile".into(),
            phone: "08011111111".into(),
            amount: Some("100.00".into()),
            ..Default::default()
        };
        assert_eq!(
            pay_body(&airtime, id).ok(),
            Some(json!({"request_id": id, "serviceID": "etisalat", "phone": "08011111111", "amount": 100}))
        );
        let data = TopupRequest {
            category: "data".into(),
            service: "mtn-data".into(),
            phone: "08011111111".into(),
            product_code: Some("mtn-10mb-100".into()),
            ..Default::default()
        };
        assert_eq!(
            pay_body(&data, id).ok(),
            Some(json!({"request_id": id, "serviceID": "mtn-data", "phone": "08011111111",
            "billersCode": "08011111111", "variation_code": "mtn-10mb-100"}))
        );
        let renew = TopupRequest {
            category: "cable".into(),
            service: "dstv".into(),
            phone: "08011111111".into(),
            customer_id: Some("1212121212".into()),
            subscription_type: Some("renew".into()),
            months: Some(2),
            amount: Some("1850.50".into()),
            ..Default::default()
        };
        assert_eq!(
            pay_body(&renew, id).ok(),
            Some(json!({"request_id": id, "serviceID": "dstv", "phone": "08011111111",
            "billersCode": "1212121212", "subscription_type": "renew", "amount": 1850.5, "quantity": 2}))
        );
        let meter = TopupRequest {
            category: "electricity".into(),
            service: "ikeja-electric".into(),
            phone: "08011111111".into(),
            meter_number: Some("1111111111111".into()),
            meter_type: Some("prepaid".into()),
            amount: Some("2000".into()),
            ..Default::default()
        };
        assert_eq!(
            pay_body(&meter, id)
                .map(|b| (b["billersCode"].clone(), b["variation_code"].clone(), b["amount"].clone()))
                .ok(),
            Some((json!("1111111111111"), json!("prepaid"), json!(2000)))
        );
        let jamb = TopupRequest {
            category: "education".into(),
            service: "jamb".into(),
            phone: "08011111111".into(),
            profile_id: Some("0123456789".into()),
            ..Default::default()
        };
        assert_eq!(
            pay_body(&jamb, id).map(|b| (b["billersCode"].clone(), b["variation_code"].clone())).ok(),
            Some((json!("0123456789"), json!("utme-no-mock")))
        );
        let card = TopupRequest { category: "recharge_card".into(), service: "mtn".into(), ..Default::default() };
        assert!(matches!(pay_body(&card, id), Err(UpstreamError::NotSent(_))), "another provider may sell it");
    }

    #[test]
    fn verify_answers_map_to_kobos_fields_and_unknown_numbers_are_refused() {
        let card = json!({"code": "000", "content": {"Customer_Name": "TEST CUSTOMER", "Status": "ACTIVE",
            "Due_Date": "2025-02-06T00:00:00", "Customer_Number": 8061522780u64, "Customer_Type": "DSTV",
            "Current_Bouquet": "DStv Compact", "Renewal_Amount": 19000}});
        let c = parse_customer(&card).map_err(|e| e.to_string()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.customer_name, "TEST CUSTOMER");
        assert_eq!(
            (c.details["current_plan"].clone(), c.details["renewal_amount"].clone()),
            (json!("DStv Compact"), json!("19000"))
        );
        let meter = json!({"code": "000", "content": {"Customer_Name": "TESTMETER1", "Address": "ABULE EGBA",
            "Meter_Number": "1111111111111", "Customer_Arrears": "", "Minimum_Amount": 500, "Min_Purchase_Amount": 500,
            "Can_Vend": "yes", "Customer_Account_Type": "NMD", "Meter_Type": "PREPAID", "WrongBillersCode": false}});
        let m = parse_customer(&meter).map_err(|e| e.to_string()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (m.details["address"].clone(), m.details["minimum_amount"].clone()),
            (json!("ABULE EGBA"), json!("500"))
        );
        for unknown in [
            json!({"code": "000", "content": {"error": "This Meter is not valid"}}),
            json!({"code": "000", "content": {"WrongBillersCode": true}}),
            json!({"code": "011", "response_description": "INVALID ARGUMENTS"}),
        ] {
            assert!(matches!(parse_customer(&unknown), Err(UpstreamError::Rejected(_))), "{unknown}");
        }
    }
}
