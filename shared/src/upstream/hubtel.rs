//! Hubtel's client (`hubtel-api.txt`): SMS send and status, OTP send/verify/resend,
//! paylinks and send-money, with Basic auth
//! (ClientID / ClientSecret from Secrets Manager). Inputs are validated before any call.
//! Hubtel allows 5 requests per minute: callers go through the shared throttle (`db::throttle`).

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{classify, UpstreamError};
use crate::domain::money::Kobo;
use crate::domain::phone::{is_country, is_e164, is_sender_id};
use crate::domain::withdrawal::OtpSession;

/// A created paylink.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Paylink {
    /// Hubtel's id.
    #[serde(rename = "paylinkId")]
    pub paylink_id: String,
    /// Where the customer pays.
    #[serde(rename = "paylinkUrl")]
    pub paylink_url: String,
    /// Unix time it expires.
    #[serde(rename = "expiresAt", default)]
    pub expires_at: i64,
}

/// A payment Hubtel is asked to collect (paylink) or make (send-money).
#[derive(Debug, Clone, Copy)]
pub struct Payment<'a> {
    /// How much.
    pub amount: Kobo,
    /// Short title.
    pub title: &'a str,
    /// What it is for.
    pub description: &'a str,
    /// Our reference (`clientReference`): a deposit or withdrawal id.
    pub reference: &'a str,
    /// Where Hubtel reports the result.
    pub callback_url: &'a str,
}

impl Payment<'_> {
    fn body(&self) -> Value {
        json!({"amount": self.amount.as_naira_f64(), "title": self.title, "description": self.description,
               "clientReference": self.reference, "callbackUrl": self.callback_url})
    }
}

/// Client of Hubtel.
#[derive(Debug, Clone)]
pub struct HubtelClient {
    http: reqwest::Client,
    base: String,
    client_id: String,
    client_secret: String,
}

fn bad(field: &str, what: &str) -> UpstreamError {
    UpstreamError::Rejected(format!("{field} {what}"))
}

impl HubtelClient {
    /// A client for `base` with the account's ClientID and ClientSecret.
    pub fn new(
        base: &str,
        client_id: &str,
        client_secret: &str,
        timeout: Duration,
    ) -> Result<HubtelClient, UpstreamError> {
        let http = super::http_client(timeout)?;
        Ok(HubtelClient {
            http,
            base: base.trim_end_matches('/').to_string(),
            client_id: client_id.into(),
            client_secret: client_secret.into(),
        })
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Result<Value, UpstreamError> {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .basic_auth(&self.client_id, Some(&self.client_secret));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.map_err(|e| classify(&e))?;
        let status = resp.status().as_u16();
        if status == 429 {
            return Err(UpstreamError::NotSent("Hubtel rate limit (429)".into()));
        }
        super::check_status(status)?;
        let text = resp.text().await.map_err(|e| UpstreamError::Ambiguous(e.to_string()))?;
        let v: Value = serde_json::from_str(&text)
            .map_err(|_| UpstreamError::Ambiguous(format!("Hubtel answered {status} with non-JSON")))?;
        if status >= 400 {
            let msg = v.get("message").and_then(Value::as_str).unwrap_or("refused").to_string();
            return Err(UpstreamError::Rejected(format!("Hubtel {status}: {msg}")));
        }
        Ok(v)
    }

    fn data<T: for<'de> Deserialize<'de>>(v: Value) -> Result<T, UpstreamError> {
        serde_json::from_value(v.get("data").cloned().unwrap_or(Value::Null))
            .map_err(|e| UpstreamError::Ambiguous(format!("Hubtel answer: {e}")))
    }
}

/// The Hubtel port: SMS, OTP, paylinks and send-money.
pub trait HubtelApi: Send + Sync {
    /// Sends an SMS; returns Hubtel's message id.
    fn send_sms(
        &self,
        from: &str,
        to: &str,
        content: &str,
    ) -> impl std::future::Future<Output = Result<String, UpstreamError>> + Send;

    /// An SMS's delivery status word.
    fn sms_status(&self, message_id: &str) -> impl std::future::Future<Output = Result<String, UpstreamError>> + Send;

    /// Sends an OTP.
    fn otp_send(
        &self,
        sender_id: &str,
        phone: &str,
        country: &str,
    ) -> impl std::future::Future<Output = Result<OtpSession, UpstreamError>> + Send;

    /// Whether the code is right for the session.
    fn otp_verify(
        &self,
        session: &OtpSession,
        code: &str,
    ) -> impl std::future::Future<Output = Result<bool, UpstreamError>> + Send;

    /// Re-sends an OTP of an existing session.
    fn otp_resend(
        &self,
        request_id: &str,
    ) -> impl std::future::Future<Output = Result<OtpSession, UpstreamError>> + Send;

    /// Creates a paylink for `payment`.
    fn paylink(
        &self,
        payment: &Payment<'_>,
    ) -> impl std::future::Future<Output = Result<Paylink, UpstreamError>> + Send;

    /// Sends `payment` to its customer; returns Hubtel's
    /// transaction id. The result arrives by callback.
    fn send_money(
        &self,
        payment: &Payment<'_>,
    ) -> impl std::future::Future<Output = Result<String, UpstreamError>> + Send;
}

impl HubtelApi for HubtelClient {
    /// Sends an SMS; returns Hubtel's message id.
    async fn send_sms(&self, from: &str, to: &str, content: &str) -> Result<String, UpstreamError> {
        if !is_sender_id(from) {
            return Err(bad("from", "must be 1 to 11 letters and digits"));
        }
        if !is_e164(to) {
            return Err(bad("to", "must be an E.164 number such as +2348012345678"));
        }
        if content.is_empty() || content.chars().count() > 918 {
            return Err(bad("content", "must be 1 to 918 characters"));
        }
        #[derive(Deserialize)]
        struct D {
            #[serde(rename = "messageId")]
            message_id: String,
        }
        let v = self
            .call(reqwest::Method::POST, "/v1/messages/send", Some(json!({"from": from, "to": to, "content": content})))
            .await?;
        Ok(Self::data::<D>(v)?.message_id)
    }

    /// An SMS's delivery status word.
    async fn sms_status(&self, message_id: &str) -> Result<String, UpstreamError> {
        let v = self.call(reqwest::Method::GET, &format!("/v1/messages/{message_id}"), None).await?;
        Ok(v["data"]["status"].as_str().unwrap_or_default().to_string())
    }

    /// Sends an OTP.
    async fn otp_send(&self, sender_id: &str, phone: &str, country: &str) -> Result<OtpSession, UpstreamError> {
        if !is_sender_id(sender_id) {
            return Err(bad("senderId", "must be 1 to 11 letters and digits"));
        }
        if !is_e164(phone) {
            return Err(bad("phoneNumber", "must be an E.164 number"));
        }
        if !is_country(country) {
            return Err(bad("countryCode", "must be an ISO 3166-1 alpha-2 code such as NG"));
        }
        let v = self
            .call(
                reqwest::Method::POST,
                "/v1/otp/send",
                Some(json!({"senderId": sender_id, "phoneNumber": phone, "countryCode": country})),
            )
            .await?;
        Self::data(v)
    }

    /// Whether the code is right for the session.
    async fn otp_verify(&self, session: &OtpSession, code: &str) -> Result<bool, UpstreamError> {
        if !(4..=8).contains(&code.len()) || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Ok(false);
        }
        match self
            .call(
                reqwest::Method::POST,
                "/v1/otp/verify",
                Some(json!({"requestId": session.request_id, "prefix": session.prefix, "code": code})),
            )
            .await
        {
            Ok(_) => Ok(true),
            Err(UpstreamError::Rejected(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Re-sends an OTP of an existing session.
    async fn otp_resend(&self, request_id: &str) -> Result<OtpSession, UpstreamError> {
        let v = self.call(reqwest::Method::POST, "/v1/otp/resend", Some(json!({"requestId": request_id}))).await?;
        Self::data(v)
    }

    /// Creates a paylink for `payment`.
    async fn paylink(&self, payment: &Payment<'_>) -> Result<Paylink, UpstreamError> {
        Self::data(self.call(reqwest::Method::POST, "/v1/paylinks", Some(payment.body())).await?)
    }

    /// Sends `payment` to its customer; returns Hubtel's
    /// transaction id. The result arrives by callback.
    async fn send_money(&self, payment: &Payment<'_>) -> Result<String, UpstreamError> {
        #[derive(Deserialize)]
        struct D {
            #[serde(rename = "transactionId")]
            transaction_id: String,
        }
        let body = payment.body();
        Ok(Self::data::<D>(self.call(reqwest::Method::POST, "/v1/send-money", Some(body)).await?)?.transaction_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::phone::nigerian_e164;

    #[test]
    fn validation() {
        assert!(is_sender_id("KoboNG"));
        assert!(is_sender_id("ABCDEFGHIJK"));
        assert!(!is_sender_id("ABCDEFGHIJKL"));
        assert!(!is_sender_id("Kobo NG"));
        assert!(!is_sender_id(""));
        assert!(is_e164("+2348012345678"));
        assert!(!is_e164("08012345678"));
        assert!(!is_e164("+0123456789"));
        assert!(!is_e164("+234801234567890123"));
        assert!(is_country("NG") && is_country("GH"));
        assert!(!is_country("ng") && !is_country("XX") && !is_country("NGA"));
        assert_eq!(nigerian_e164("08012345678").as_deref(), Some("+2348012345678"));
    }
}
