//! Hubtel's client (`hubtel-api.txt`): SMS send and status, OTP send/verify/resend,
//! paylinks (single and multi) and send-money (single and multi), with Basic auth
//! (ClientID / ClientSecret from Secrets Manager). Inputs are validated before any call.
//! Hubtel allows 5 requests per minute: callers go through [`crate::hubtel_throttle`].

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{classify, UpstreamError};

/// ISO 3166-1 alpha-2 codes.
const ISO_COUNTRIES: &str = "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW";

/// Whether `s` is a sender id Hubtel accepts: 1 to 11 ASCII letters and digits.
pub fn is_sender_id(s: &str) -> bool {
    (1..=11).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Whether `s` is an E.164 number: `+`, then 8 to 15 digits, the first not 0.
pub fn is_e164(s: &str) -> bool {
    let Some(d) = s.strip_prefix('+') else { return false };
    (8..=15).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit()) && !d.starts_with('0')
}

/// Whether `s` is an ISO 3166-1 alpha-2 country code.
pub fn is_country(s: &str) -> bool {
    s.len() == 2 && ISO_COUNTRIES.split(' ').any(|c| c == s)
}

/// A Nigerian local number (`08012345678`) in E.164 (`+2348012345678`).
pub fn nigerian_e164(local: &str) -> Option<String> {
    crate::vtu::normalize_phone(local).map(|l| format!("+234{}", &l[1..]))
}

/// An OTP session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OtpSession {
    /// Hubtel's session id.
    #[serde(rename = "requestId")]
    pub request_id: String,
    /// The 4-character prefix shown to the user.
    pub prefix: String,
}

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
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(3))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| UpstreamError::NotSent(format!("building the HTTP client: {e}")))?;
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

    /// Sends an SMS; returns Hubtel's message id.
    pub async fn send_sms(&self, from: &str, to: &str, content: &str) -> Result<String, UpstreamError> {
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
    pub async fn sms_status(&self, message_id: &str) -> Result<String, UpstreamError> {
        let v = self.call(reqwest::Method::GET, &format!("/v1/messages/{message_id}"), None).await?;
        Ok(v["data"]["status"].as_str().unwrap_or_default().to_string())
    }

    /// Sends an OTP.
    pub async fn otp_send(&self, sender_id: &str, phone: &str, country: &str) -> Result<OtpSession, UpstreamError> {
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
    pub async fn otp_verify(&self, session: &OtpSession, code: &str) -> Result<bool, UpstreamError> {
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
    pub async fn otp_resend(&self, request_id: &str) -> Result<OtpSession, UpstreamError> {
        let v = self.call(reqwest::Method::POST, "/v1/otp/resend", Some(json!({"requestId": request_id}))).await?;
        Self::data(v)
    }

    /// Creates a paylink for one customer (`audience` empty) or several.
    pub async fn paylink(
        &self,
        amount: crate::Kobo,
        title: &str,
        description: &str,
        reference: &str,
        audience: &[String],
        callback_url: &str,
    ) -> Result<Paylink, UpstreamError> {
        let mut body = json!({"amount": amount.0 as f64 / 100.0, "title": title, "description": description,
                              "clientReference": reference, "callbackUrl": callback_url});
        let path = if audience.is_empty() {
            "/v1/paylinks"
        } else {
            body["audience"] = json!(audience);
            "/v1/paylinks/multi"
        };
        Self::data(self.call(reqwest::Method::POST, path, Some(body)).await?)
    }

    /// Sends money to one customer (`audience` empty) or several; returns Hubtel's
    /// transaction id. The result arrives by callback.
    pub async fn send_money(
        &self,
        amount: crate::Kobo,
        title: &str,
        description: &str,
        reference: &str,
        audience: &[String],
        callback_url: &str,
    ) -> Result<String, UpstreamError> {
        #[derive(Deserialize)]
        struct D {
            #[serde(rename = "transactionId")]
            transaction_id: String,
        }
        let mut body = json!({"amount": amount.0 as f64 / 100.0, "title": title, "description": description,
                              "clientReference": reference, "callbackUrl": callback_url});
        let path = if audience.is_empty() {
            "/v1/send-money"
        } else {
            body["audience"] = json!(audience);
            "/v1/send-money/multi"
        };
        Ok(Self::data::<D>(self.call(reqwest::Method::POST, path, Some(body)).await?)?.transaction_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
