//! Every response shape of the API is built here.

use kobo_shared::domain::deposit::Deposit;
use kobo_shared::domain::smm::Order;
use kobo_shared::domain::vtu::{Card, VtuStatus, VtuTx};
use kobo_shared::{ApiError, Kobo};
use lambda_http::http::header::{CACHE_CONTROL, CONTENT_TYPE, RETRY_AFTER};
use lambda_http::{Body, Response};
use serde::Serialize;

fn response(status: u16, body: String, retry_after: Option<u64>) -> Response<Body> {
    let mut builder =
        Response::builder().status(status).header(CONTENT_TYPE, "application/json").header(CACHE_CONTROL, "no-store");
    if let Some(secs) = retry_after {
        builder = builder.header(RETRY_AFTER, secs.to_string());
    }
    builder.body(Body::Text(body)).unwrap_or_else(|_| {
        let mut r = Response::new(Body::Text(r#"{"error":"Internal server error; retry later"}"#.into()));
        *r.status_mut() = lambda_http::http::StatusCode::INTERNAL_SERVER_ERROR;
        r
    })
}

/// A 200 with a JSON body.
pub fn ok<T: Serialize>(value: &T) -> Response<Body> {
    match serde_json::to_string(value) {
        Ok(body) => response(200, body, None),
        Err(e) => {
            tracing::error!(error = %e, "response serialization failed");
            error(&ApiError::Internal)
        }
    }
}

/// A stored answer replayed as it was first sent (idempotent retries).
pub fn raw(status: u16, body: String) -> Response<Body> {
    response(status, body, None)
}

/// `{"error": "..."}` with the error's status (and `Retry-After` where it has one).
pub fn error(err: &ApiError) -> Response<Body> {
    let body = serde_json::json!({ "error": err.to_string() }).to_string();
    response(err.status(), body, err.retry_after())
}

/// The `balance` answer: `{"balance": "50000.00", "currency": "NGN"}`.
#[derive(Debug, Serialize)]
pub struct Balance {
    /// Naira with two decimals.
    pub balance: String,
    /// Always `NGN`.
    pub currency: &'static str,
}

/// `{"error": "..."}` inside a larger answer (one item of a bulk or multi answer).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ItemError {
    /// What went wrong with this item.
    pub error: String,
}

impl ItemError {
    /// An item error with `message`.
    pub fn new(message: impl Into<String>) -> ItemError {
        ItemError { error: message.into() }
    }
}

/// A value, or the error of that one item.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Either<T> {
    /// It worked.
    Ok(T),
    /// It did not.
    Err(ItemError),
}

impl<T> From<Result<T, String>> for Either<T> {
    fn from(r: Result<T, String>) -> Either<T> {
        match r {
            Ok(v) => Either::Ok(v),
            Err(e) => Either::Err(ItemError::new(e)),
        }
    }
}

/// An id as the caller sent it: a number when it is one, else the text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum IdText {
    /// A numeric id.
    Number(u64),
    /// Anything else the caller sent.
    Text(String),
}

impl IdText {
    /// The id of `text`.
    pub fn of(text: &str) -> IdText {
        text.parse().map(IdText::Number).unwrap_or_else(|_| IdText::Text(text.to_string()))
    }
}

/// `add`: `{"order": id}`.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct OrderCreated {
    /// The new order's id.
    pub order: u64,
}

/// One item of an `add_bulk` answer: the order, a replayed first answer, or its error.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum BulkItem {
    /// A new order.
    Created(OrderCreated),
    /// The first answer to this item's idempotency key, as it was sent.
    Replayed(serde_json::Value),
    /// Why this item was refused.
    Refused(ItemError),
}

/// `status` of one order, as SMM API v2 has it (amounts in naira, counts as text).
#[derive(Debug, Clone, Serialize)]
pub struct OrderStatusView {
    /// Order id.
    pub order: u64,
    /// What was charged.
    pub charge: String,
    /// Start count.
    pub start_count: String,
    /// Status word.
    pub status: &'static str,
    /// Status number.
    pub status_code: u8,
    /// Remains.
    pub remains: String,
    /// What was refunded.
    pub refunded: String,
    /// Always `NGN`.
    pub currency: &'static str,
    /// Drip-feed runs, for a drip-feed order.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runs: Option<String>,
    /// Drip-feed interval in minutes, for a drip-feed order.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval: Option<String>,
    /// A subscription's posts (new posts to cover, as ordered).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub posts: Option<String>,
    /// A subscription's end date, when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expiry: Option<String>,
}

impl From<&Order> for OrderStatusView {
    fn from(o: &Order) -> OrderStatusView {
        OrderStatusView {
            order: o.id,
            charge: o.charge.to_string(),
            start_count: o.start_count.to_string(),
            status: o.status.as_str(),
            status_code: o.status.code(),
            remains: o.remains.to_string(),
            refunded: o.refunded.to_string(),
            currency: "NGN",
            runs: o.runs.map(|r| r.to_string()),
            interval: o.interval.map(|i| i.to_string()),
            posts: o.fields.get("posts").cloned(),
            expiry: o.fields.get("expiry").cloned(),
        }
    }
}

/// `refill` of one order: `{"refill": "<id>"}`.
#[derive(Debug, Clone, Serialize)]
pub struct RefillCreated {
    /// The refill id, as text.
    pub refill: String,
}

/// One row of a multi `refill` answer.
#[derive(Debug, Clone, Serialize)]
pub struct RefillRow {
    /// The order as named.
    pub order: IdText,
    /// The refill id, or why there is none.
    pub refill: Either<u64>,
}

/// `refill_status` of one refill.
#[derive(Debug, Clone, Serialize)]
pub struct RefillStatusView {
    /// Upstream's status word.
    pub status: String,
}

/// One row of a multi `refill_status` answer.
#[derive(Debug, Clone, Serialize)]
pub struct RefillStatusRow {
    /// The refill as named.
    pub refill: IdText,
    /// Its status, or why there is none.
    pub status: Either<String>,
}

/// One row of a `cancel` answer: `1` when upstream accepted the cancel.
#[derive(Debug, Clone, Serialize)]
pub struct CancelRow {
    /// The order as named.
    pub order: IdText,
    /// `1`, or why not.
    pub cancel: Either<u8>,
}

/// One fixed-price VTU plan of a plans list; the service is named by the field the
/// request used (`service_id` or `network`).
#[derive(Debug, Clone, Serialize)]
pub struct PlanRow {
    /// Plan id.
    pub plan_id: u64,
    /// Display name.
    pub name: String,
    /// Validity text.
    pub validity: String,
    /// The service, when listed by `service_id`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_id: Option<String>,
    /// The network, when listed by `network`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    /// Price after the caller's plan discount.
    pub amount: String,
    /// Always `NGN`.
    pub currency: &'static str,
}

/// One electricity distributor.
#[derive(Debug, Clone, Serialize)]
pub struct DiscoRow {
    /// Service name.
    pub service_name: String,
    /// Display name.
    pub name: String,
    /// Meter types.
    pub meter_types: [&'static str; 2],
    /// Smallest purchase.
    pub min_amount: String,
    /// Largest purchase.
    pub max_amount: String,
    /// What ₦100 of electricity costs after the caller's plan discount.
    pub price_per_100: String,
    /// The amount quoted, when the request named one (`amount`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amount: Option<String>,
    /// What that amount costs: exactly what the purchase charges.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub price: Option<String>,
}

/// A customer lookup: the name and whatever else the provider tells.
#[derive(Debug, Clone, Serialize)]
pub struct Verified {
    /// Always `success`.
    pub status: &'static str,
    /// The customer's name.
    pub customer_name: String,
    /// Other details (address, current bouquet, ...).
    #[serde(flatten)]
    pub details: serde_json::Map<String, serde_json::Value>,
}

/// A purchase or `vtu_status` answer.
#[derive(Debug, Clone, Serialize)]
pub struct VtuAnswer {
    /// `processing`, `success` or `failed`.
    pub status: &'static str,
    /// Category.
    pub category: &'static str,
    /// Reference.
    pub trx: String,
    /// Provider reference (empty until known).
    pub provider_ref: String,
    /// What was charged.
    pub amount: String,
    /// The balance after it.
    pub balance: String,
    /// Always `NGN`.
    pub currency: &'static str,
    /// What happened, in words.
    pub message: String,
    /// Printed cards or PINs.
    pub cards: Vec<Card>,
    /// Electricity: the token to type into the meter.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// Electricity: units bought (kWh), where the provider gives them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub units: Option<String>,
    /// Electricity: the name on the meter.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_name: Option<String>,
    /// Electricity: the meter's address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_address: Option<String>,
    /// Electricity: the tariff class.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tariff: Option<String>,
}

impl VtuAnswer {
    /// The answer about `tx` with the balance `balance`.
    pub fn of(tx: &VtuTx, balance: Kobo) -> VtuAnswer {
        let meta = |k: &str| tx.meta.get(k).and_then(serde_json::Value::as_str).map(str::to_string);
        let token = meta("token");
        let message = match (&token, &tx.message) {
            (Some(t), _) if tx.status == VtuStatus::Success => format!("Transaction successful. Token: {t}"),
            (_, Some(m)) => m.clone(),
            (_, None) => match tx.status {
                VtuStatus::Processing => "Transaction is processing".to_string(),
                VtuStatus::Success => "Transaction successful".to_string(),
                VtuStatus::Failed => "Transaction failed".to_string(),
            },
        };
        VtuAnswer {
            status: tx.status.as_str(),
            category: tx.category.as_str(),
            trx: tx.trx.clone(),
            provider_ref: tx.provider_ref.clone().unwrap_or_default(),
            amount: tx.amount.to_string(),
            balance: balance.to_string(),
            currency: "NGN",
            message,
            cards: tx.cards.clone(),
            token,
            units: meta("units"),
            customer_name: meta("customer_name"),
            customer_address: meta("customer_address"),
            tariff: meta("tariff"),
        }
    }
}

/// A deposit.
#[derive(Debug, Clone, Serialize)]
pub struct DepositView {
    /// Its id.
    pub deposit_id: String,
    /// Amount.
    pub amount: String,
    /// Always `NGN`.
    pub currency: &'static str,
    /// State word.
    pub status: &'static str,
    /// Where to pay, once it exists.
    pub paylink_url: Option<String>,
}

impl From<&Deposit> for DepositView {
    fn from(d: &Deposit) -> DepositView {
        DepositView {
            deposit_id: d.id.clone(),
            amount: d.amount.to_string(),
            currency: "NGN",
            status: d.status.as_str(),
            paylink_url: d.paylink_url.clone(),
        }
    }
}

/// A sent (or queued) withdrawal OTP.
#[derive(Debug, Clone, Serialize)]
pub struct OtpSent {
    /// `sent`, or `pending` while it waits for a Hubtel slot.
    pub status: &'static str,
    /// The OTP session to name in `withdraw`.
    pub otp_id: String,
    /// Hubtel's prefix, shown next to the code (once sent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// Seconds it stays valid.
    pub expires_in: i64,
    /// For a pending OTP: when to expect it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<&'static str>,
}

/// A withdrawal just requested.
#[derive(Debug, Clone, Serialize)]
pub struct WithdrawalHeld {
    /// Its id.
    pub withdrawal_id: String,
    /// Amount held.
    pub amount: String,
    /// Always `NGN`.
    pub currency: &'static str,
    /// State word.
    pub status: &'static str,
    /// The balance after the hold.
    pub balance: String,
}

/// A withdrawal's state.
#[derive(Debug, Clone, Serialize)]
pub struct WithdrawalView {
    /// Its id.
    pub withdrawal_id: String,
    /// Amount.
    pub amount: String,
    /// Always `NGN`.
    pub currency: &'static str,
    /// State word.
    pub status: &'static str,
    /// Why it was rejected or failed.
    pub reason: Option<String>,
}

/// A face-value product of a list (airtime networks): its range and what it costs.
#[derive(Debug, Clone, Serialize)]
pub struct FaceRow {
    /// Service name (what a purchase names in `service_name`).
    pub service_name: String,
    /// Display name.
    pub name: String,
    /// Smallest purchase.
    pub min_amount: String,
    /// Largest purchase.
    pub max_amount: String,
    /// What ₦100 of face value costs after the caller's plan discount.
    pub price_per_100: String,
    /// The face value quoted, when the request named one (`amount`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amount: Option<String>,
    /// What that face value costs: exactly what the purchase charges.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub price: Option<String>,
    /// Always `NGN`.
    pub currency: &'static str,
}

/// An exam whose PINs `vtu_education` sells.
#[derive(Debug, Clone, Serialize)]
pub struct ExamRow {
    /// What a purchase names in `exam`.
    pub exam: &'static str,
    /// Display name.
    pub name: String,
    /// One PIN after the caller's plan discount (a purchase charges this × quantity).
    pub price: String,
    /// Its face value.
    pub face_value: String,
    /// Most PINs in one purchase.
    pub max_quantity: u32,
    /// Whether the candidate's profile must be verified first (`vtu_education_verify`).
    pub needs_profile: bool,
    /// Always `NGN`.
    pub currency: &'static str,
}

/// One recharge card value and its price.
#[derive(Debug, Clone, Serialize)]
pub struct Denomination {
    /// Face value of one card (what a purchase names in `value`).
    pub value: String,
    /// One card after the caller's plan discount (a purchase charges this × quantity).
    pub price: String,
}

/// A network whose recharge cards `vtu_recharge_card` prints.
#[derive(Debug, Clone, Serialize)]
pub struct CardNetworkRow {
    /// What a purchase names in `card_network`.
    pub card_network: String,
    /// Display name.
    pub name: String,
    /// The values sold.
    pub denominations: Vec<Denomination>,
    /// Most cards in one purchase.
    pub max_quantity: u32,
    /// Always `NGN`.
    pub currency: &'static str,
}
