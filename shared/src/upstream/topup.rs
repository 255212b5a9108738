//! The top-up (VTU) provider's client: purchase (idempotent on our reference), requery,
//! customer verification. Results also arrive later as signed callbacks
//! (`topup-provider-webhooks.txt`), handled by the `callbacks` function.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{classify, UpstreamError};
use crate::domain::vtu::Card;

/// What to buy (stored with the transaction, so a purchase the provider never got can be
/// sent again as it was).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TopupRequest {
    /// The reference the provider knows the purchase by (our trx, or VTpass's request id
    /// made of it): the provider deduplicates on it, so a purchase can be re-sent safely.
    pub reference: String,
    /// The provider it goes to (`topup`, `vtpass`; empty: `topup`), recorded before it is
    /// sent, so requeries, callbacks and reversals ask that provider.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub provider: String,
    /// Sends claimed after the first (the reconciler's re-sends), each recorded before it
    /// is made: a re-send and a move to another provider never both happen.
    #[serde(skip_serializing_if = "is_zero")]
    pub resends: u32,
    /// `airtime`, `data`, `sme`, `cable`, `electricity`, `education`, `recharge_card`.
    pub category: String,
    /// `mtn`, `mtn-data`, `dstv`, `ikeja-electric`, `waec`, ...
    pub service: String,
    /// Recipient phone.
    pub phone: String,
    /// Face value in naira (face-value products).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amount: Option<String>,
    /// The provider's product code (plans).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub product_code: Option<String>,
    /// Smartcard / IUC number (cable).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<String>,
    /// Meter number (electricity).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meter_number: Option<String>,
    /// `prepaid` or `postpaid` (electricity).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meter_type: Option<String>,
    /// How many PINs or cards.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quantity: Option<u32>,
    /// Cable: `change` (to `product_code`) or `renew` (the current bouquet).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subscription_type: Option<String>,
    /// Cable: months paid for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub months: Option<u32>,
    /// JAMB: the candidate's verified profile code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile_id: Option<String>,
    /// Echoed back in callbacks: identifies the transaction to us.
    pub passthrough: String,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// Where a purchase stands at the provider.
#[derive(Debug, Clone, PartialEq)]
pub enum TopupState {
    /// Delivered.
    Success,
    /// Accepted; the result comes by callback (or requery).
    Pending,
    /// Definitely failed.
    Failed(String),
}

/// A purchase's result.
#[derive(Debug, Clone, PartialEq)]
pub struct TopupResult {
    /// State.
    pub state: TopupState,
    /// The provider's id.
    pub recharge_id: Option<String>,
    /// The operator's transaction id.
    pub operator_ref: Option<String>,
    /// Electricity token, when there is one.
    pub token: Option<String>,
    /// Cards or PINs.
    pub cards: Vec<Card>,
    /// Electricity: units bought (kWh), the customer's name and address and the tariff,
    /// where the provider gives them.
    pub electricity: ElectricityDetails,
}

/// What an electricity purchase tells besides the token.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ElectricityDetails {
    /// Units (kWh), as the provider words them.
    pub units: Option<String>,
    /// Name on the meter.
    pub customer_name: Option<String>,
    /// Address of the meter.
    pub customer_address: Option<String>,
    /// Tariff class or band.
    pub tariff: Option<String>,
}

impl ElectricityDetails {
    /// The details present, as `meta` fields.
    pub fn fields(&self) -> impl Iterator<Item = (&'static str, &String)> {
        [
            ("units", &self.units),
            ("customer_name", &self.customer_name),
            ("customer_address", &self.customer_address),
            ("tariff", &self.tariff),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| (k, v)))
    }
}

/// A verified customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Customer {
    /// Name on the account.
    pub customer_name: String,
    /// Other details the provider returned.
    #[serde(flatten)]
    pub details: serde_json::Map<String, Value>,
}

/// Client of the provider.
#[derive(Debug, Clone)]
pub struct TopupClient {
    http: reqwest::Client,
    base: String,
    key: String,
}

fn text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Reads the provider's record of a purchase (a purchase answer or a requery). Only an
/// explicit status word settles: `success`/`successful`/`delivered` is a delivery,
/// `failed`/`reversed` a failure, `pending`/`processing` still open. Anything else — a
/// `success: false` without a failed status (how providers word "rate limited" or
/// "lookup failed"), an unknown word, no status at all — says nothing about the purchase:
/// `Ambiguous`, never a failure (a refund on it could refund a delivery).
fn parse_result(v: &Value) -> Result<TopupResult, UpstreamError> {
    let status = v.get("status").and_then(Value::as_str).map(|s| s.trim().to_ascii_lowercase());
    let state = match status.as_deref() {
        Some("success" | "successful" | "delivered") if v.get("success").and_then(Value::as_bool) != Some(false) => {
            TopupState::Success
        }
        Some("failed" | "reversed") => TopupState::Failed(text(v.get("error")).unwrap_or_else(|| "failed".into())),
        Some("pending" | "processing") => TopupState::Pending,
        _ => {
            return Err(UpstreamError::Ambiguous(format!(
                "the provider's answer names no known status (status {:?}, success {:?}, error {:?})",
                status,
                v.get("success").and_then(Value::as_bool),
                text(v.get("error")).unwrap_or_default()
            )))
        }
    };
    Ok(TopupResult {
        state,
        recharge_id: text(v.get("rechargeId")),
        operator_ref: text(v.get("operatorTransactionId")),
        token: text(v.get("token")),
        cards: v.get("cards").and_then(|c| serde_json::from_value(c.clone()).ok()).unwrap_or_default(),
        electricity: ElectricityDetails {
            units: text(v.get("units")),
            customer_name: text(v.get("customerName").or_else(|| v.get("customer_name"))),
            customer_address: text(v.get("customerAddress").or_else(|| v.get("customer_address"))),
            tariff: text(v.get("tariff")),
        },
    })
}

impl TopupClient {
    /// A client for the provider at `base` (no trailing slash) with API `key`.
    pub fn new(
        base: impl Into<String>,
        key: impl Into<String>,
        timeout: Duration,
    ) -> Result<TopupClient, UpstreamError> {
        let http = super::http_client(timeout)?;
        Ok(TopupClient { http, base: base.into().trim_end_matches('/').to_string(), key: key.into() })
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Result<(u16, Value), UpstreamError> {
        let resp = req.bearer_auth(&self.key).send().await.map_err(|e| classify(&e))?;
        let status = resp.status().as_u16();
        if status == 503 {
            // A gateway may answer 503 after the provider took the purchase: for money,
            // only the requery tells (never a move to another provider, never a refund).
            return Err(UpstreamError::Ambiguous("provider answered 503".into()));
        }
        super::check_status(status)?;
        let body = resp.text().await.map_err(|e| UpstreamError::Ambiguous(e.to_string()))?;
        let v: Value = serde_json::from_str(&body)
            .map_err(|_| UpstreamError::Ambiguous(format!("provider answered {status} with non-JSON")))?;
        Ok((status, v))
    }

    async fn verify(&self, path: &str, body: Value) -> Result<Customer, UpstreamError> {
        let (_, v) = self.send(self.http.post(format!("{}/v1/verify/{path}", self.base)).json(&body)).await?;
        if v.get("valid").and_then(Value::as_bool) != Some(true) {
            return Err(UpstreamError::Rejected(text(v.get("error")).unwrap_or_else(|| "not found".into())));
        }
        serde_json::from_value(v).map_err(|e| UpstreamError::Ambiguous(format!("verification answer: {e}")))
    }
}

/// The VTU provider port: purchases, requeries and customer lookups.
pub trait TopupProvider: Send + Sync {
    /// Buys. Safe to repeat with the same reference.
    fn purchase(
        &self,
        r: &TopupRequest,
    ) -> impl std::future::Future<Output = Result<TopupResult, UpstreamError>> + Send;

    /// The provider's record of our reference, or `None` if it never got it.
    fn requery(
        &self,
        reference: &str,
    ) -> impl std::future::Future<Output = Result<Option<TopupResult>, UpstreamError>> + Send;

    /// Looks up a smartcard / IUC number.
    fn verify_cable(
        &self,
        service_id: &str,
        customer_id: &str,
    ) -> impl std::future::Future<Output = Result<Customer, UpstreamError>> + Send;

    /// Looks up a meter.
    fn verify_meter(
        &self,
        service_name: &str,
        meter_type: &str,
        meter_number: &str,
    ) -> impl std::future::Future<Output = Result<Customer, UpstreamError>> + Send;

    /// Looks up an exam candidate's profile (JAMB).
    fn verify_profile(
        &self,
        exam: &str,
        profile_id: &str,
    ) -> impl std::future::Future<Output = Result<Customer, UpstreamError>> + Send;
}

impl TopupProvider for TopupClient {
    /// Buys. Safe to repeat with the same reference.
    async fn purchase(&self, r: &TopupRequest) -> Result<TopupResult, UpstreamError> {
        let (status, v) = self.send(self.http.post(format!("{}/v1/topup", self.base)).json(r)).await?;
        match status {
            401 | 403 => return Err(UpstreamError::NotSent(format!("provider refused our credentials ({status})"))),
            429 => return Err(UpstreamError::NotSent("provider rate limit (429)".into())),
            // A conflict on our reference: it has it already; a requery tells how it went.
            409 => return Err(UpstreamError::Ambiguous("provider answered 409 for our reference".into())),
            _ => {}
        }
        // Any other 4xx refuses the purchase (nothing recorded): a failure, refunded.
        if status >= 400 {
            return Err(UpstreamError::Rejected(text(v.get("error")).unwrap_or_else(|| format!("HTTP {status}"))));
        }
        parse_result(&v)
    }

    /// The provider's record of our reference, or `None` if it never got it. Only a
    /// 2xx with a body naming an explicit status describes the purchase (a 2xx
    /// `success: false` without one is a lookup that failed): any other answer (401, 403, 409, 429,
    /// 5xx, ...) says nothing about it, so it is `Ambiguous`, never a failure.
    async fn requery(&self, reference: &str) -> Result<Option<TopupResult>, UpstreamError> {
        let (status, v) = self.send(self.http.get(format!("{}/v1/topup/{reference}", self.base))).await?;
        match status {
            404 => Ok(None),
            200..=299 => parse_result(&v).map(Some),
            _ => Err(UpstreamError::Ambiguous(format!(
                "requery answered {status}: {}",
                text(v.get("error")).unwrap_or_default()
            ))),
        }
    }

    /// Looks up a smartcard / IUC number.
    async fn verify_cable(&self, service_id: &str, customer_id: &str) -> Result<Customer, UpstreamError> {
        self.verify("cable", serde_json::json!({"service_id": service_id, "customer_id": customer_id})).await
    }

    /// Looks up a meter.
    async fn verify_meter(
        &self,
        service_name: &str,
        meter_type: &str,
        meter_number: &str,
    ) -> Result<Customer, UpstreamError> {
        self.verify(
            "meter",
            serde_json::json!({"service_name": service_name, "meter_type": meter_type, "meter_number": meter_number}),
        )
        .await
    }

    /// Looks up an exam candidate's profile.
    async fn verify_profile(&self, exam: &str, profile_id: &str) -> Result<Customer, UpstreamError> {
        self.verify("profile", serde_json::json!({"exam": exam, "profile_id": profile_id})).await
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn only_an_explicit_status_settles() {
        let state = |v: Value| parse_result(&v).map(|r| r.state);
        assert_eq!(state(json!({"success": true, "status": "success"})).ok(), Some(TopupState::Success));
        assert_eq!(state(json!({"status": "delivered"})).ok(), Some(TopupState::Success));
        assert_eq!(state(json!({"status": "pending"})).ok(), Some(TopupState::Pending));
        assert_eq!(state(json!({"status": "Processing"})).ok(), Some(TopupState::Pending));
        assert_eq!(
            state(json!({"success": false, "status": "failed", "error": "declined"})).ok(),
            Some(TopupState::Failed("declined".into()))
        );
        assert_eq!(state(json!({"status": "reversed"})).ok(), Some(TopupState::Failed("failed".into())));
        // What providers answer to a lookup they could not do: never a failure.
        for v in [
            json!({"success": false, "error": "Too many requests"}),
            json!({"success": false, "error": "Transaction lookup failed"}),
            json!({"success": false, "status": "success"}),
            json!({"status": "queued_for_review"}),
            json!({}),
        ] {
            assert!(matches!(state(v.clone()), Err(UpstreamError::Ambiguous(_))), "{v}");
        }
    }
}
