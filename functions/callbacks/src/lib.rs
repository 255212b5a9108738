//! The callbacks Lambda: `POST /callbacks/topup` receives the VTU provider's signed
//! results; `POST /callbacks/hubtel/payment/<account>/<deposit>/<secret>` receives
//! Hubtel's payment callbacks, authenticated by the per-deposit secret in the URL. Every answer is fast; forged or malformed bodies change nothing; a duplicate
//! or late callback is acknowledged and changes nothing twice.
#![warn(missing_docs)]

use kobo_shared::config::Config;
use kobo_shared::upstream::LazyTopup;
use kobo_shared::vtu_flow::{self, CallbackError, CallbackResult};
use kobo_shared::Store;
use lambda_http::http::header::CONTENT_TYPE;
use lambda_http::{Body, Request, Response};

/// Largest callback body accepted.
pub const MAX_BODY: usize = 64 * 1024;

/// Per-container state.
#[derive(Debug)]
pub struct Callbacks {
    /// The table.
    pub store: Store,
    /// The provider secret (for the callback signing key).
    pub topup: LazyTopup,
    /// The app secret (deposit callback secrets derive from it).
    pub app_secrets: kobo_shared::secrets::SecretsCache,
}

impl Callbacks {
    /// From clients made by the caller.
    pub fn new(
        config: &Config,
        dynamodb: aws_sdk_dynamodb::Client,
        secrets: aws_sdk_secretsmanager::Client,
    ) -> Callbacks {
        Callbacks {
            store: Store::new(dynamodb, config.table.clone()),
            topup: LazyTopup::new(config, secrets.clone()),
            app_secrets: kobo_shared::secrets::SecretsCache::new(secrets, config.app_secret_id.clone()),
        }
    }
}

fn reply(status: u16, body: serde_json::Value) -> Response<Body> {
    let mut r = Response::new(Body::Text(body.to_string()));
    *r.status_mut() =
        lambda_http::http::StatusCode::from_u16(status).unwrap_or(lambda_http::http::StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut().insert(CONTENT_TYPE, lambda_http::http::HeaderValue::from_static("application/json"));
    r
}

/// Handles one request.
pub async fn handle(cb: &Callbacks, req: Request) -> Response<Body> {
    if req.method() != lambda_http::http::Method::POST {
        return reply(405, serde_json::json!({"error": "use POST"}));
    }
    let body: &[u8] = match req.body() {
        Body::Text(t) => t.as_bytes(),
        Body::Binary(b) => b,
        _ => &[],
    };
    if body.len() > MAX_BODY {
        return reply(413, serde_json::json!({"error": "body too large"}));
    }
    let path = req.uri().path().to_string();
    if let Some(rest) = path.strip_prefix("/callbacks/hubtel/payment/") {
        return hubtel_payment(cb, rest, body).await;
    }
    if let Some(rest) = path.strip_prefix("/callbacks/hubtel/withdrawal/") {
        return hubtel_withdrawal(cb, rest, body).await;
    }
    if path != "/callbacks/topup" {
        return reply(404, serde_json::json!({"error": "unknown callback"}));
    }
    let signature = req.headers().get("x-signature").and_then(|v| v.to_str().ok()).unwrap_or_default();
    let secret = match cb.topup.webhook_secret().await {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "callback secret unavailable");
            return reply(503, serde_json::json!({"error": "retry later"}));
        }
    };
    match vtu_flow::handle_callback(&cb.store, &secret, body, signature).await {
        Ok(r) => {
            let word = match r {
                CallbackResult::Applied => "applied",
                CallbackResult::AlreadySettled => "duplicate",
                CallbackResult::Unknown => "unknown",
            };
            tracing::info!(result = word, "topup callback");
            reply(200, serde_json::json!({"status": word}))
        }
        Err(CallbackError::BadSignature) => {
            tracing::warn!("topup callback with an invalid signature refused");
            reply(401, serde_json::json!({"error": "Invalid signature"}))
        }
        Err(CallbackError::Malformed(m)) => {
            tracing::warn!(error = %m, "malformed topup callback refused");
            reply(400, serde_json::json!({"error": "malformed callback"}))
        }
        Err(CallbackError::Store(e)) => {
            tracing::error!(error = %e, "topup callback could not be applied; the provider should retry");
            reply(503, serde_json::json!({"error": "retry later"}))
        }
    }
}

/// Hubtel's payment callback for a deposit.
async fn hubtel_payment(cb: &Callbacks, rest: &str, body: &[u8]) -> Response<Body> {
    use kobo_shared::deposits::{self, PaymentResult};
    let parts: Vec<&str> = rest.split('/').collect();
    let [account, deposit, secret] = parts.as_slice() else {
        return reply(404, serde_json::json!({"error": "unknown callback"}));
    };
    let key = match cb.app_secrets.get().await {
        Ok(s) => s.pin_pepper.clone(),
        Err(e) => {
            tracing::error!(error = %e, "app secret unavailable");
            return reply(503, serde_json::json!({"error": "retry later"}));
        }
    };
    // The secret is checked before any lookup, so unknown and forged answer alike.
    if !kobo_shared::apikey::is_account_id(account) || !deposits::secret_ok(key.as_bytes(), deposit, secret) {
        tracing::warn!("hubtel payment callback with a bad URL secret refused");
        return reply(401, serde_json::json!({"error": "unauthorized"}));
    }
    let Ok(payload) = serde_json::from_slice::<serde_json::Value>(body) else {
        return reply(400, serde_json::json!({"error": "malformed callback"}));
    };
    let d = match cb.store.get_deposit(account, deposit).await {
        Ok(Some(d)) => d,
        Ok(None) => {
            tracing::warn!(deposit = %deposit, "payment callback for an unknown deposit; nothing changed");
            return reply(200, serde_json::json!({"status": "unknown"}));
        }
        Err(e) => {
            tracing::error!(error = %e, "deposit lookup failed");
            return reply(503, serde_json::json!({"error": "retry later"}));
        }
    };
    match deposits::apply_payment(&cb.store, &d, &payload).await {
        Ok(PaymentResult::Credited) => {
            tracing::info!(deposit = %d.id, "deposit credited");
            let text = format!("kobo: your wallet was credited with NGN {}. Ref {}", d.amount, d.id);
            if let Err(e) = kobo_shared::sms::notify(&cb.store, &d.account_id, text).await {
                tracing::warn!(error = %e, "deposit notice not queued");
            }
            reply(200, serde_json::json!({"status": "credited"}))
        }
        Ok(PaymentResult::Duplicate) => reply(200, serde_json::json!({"status": "duplicate"})),
        Ok(PaymentResult::Ignored(why)) => {
            tracing::warn!(deposit = %d.id, reason = %why, "payment callback ignored");
            reply(200, serde_json::json!({"status": "ignored"}))
        }
        Err(e) => {
            tracing::error!(error = %e, "payment callback could not be applied; Hubtel should retry");
            reply(503, serde_json::json!({"error": "retry later"}))
        }
    }
}

/// Hubtel's send-money callback for a withdrawal.
async fn hubtel_withdrawal(cb: &Callbacks, rest: &str, body: &[u8]) -> Response<Body> {
    use kobo_shared::withdrawals;
    let parts: Vec<&str> = rest.split('/').collect();
    let [account, id, secret] = parts.as_slice() else {
        return reply(404, serde_json::json!({"error": "unknown callback"}));
    };
    let key = match cb.app_secrets.get().await {
        Ok(s) => s.pin_pepper.clone(),
        Err(e) => {
            tracing::error!(error = %e, "app secret unavailable");
            return reply(503, serde_json::json!({"error": "retry later"}));
        }
    };
    if !kobo_shared::apikey::is_account_id(account) || !withdrawals::secret_ok(key.as_bytes(), id, secret) {
        tracing::warn!("hubtel withdrawal callback with a bad URL secret refused");
        return reply(401, serde_json::json!({"error": "unauthorized"}));
    }
    let Ok(payload) = serde_json::from_slice::<serde_json::Value>(body) else {
        return reply(400, serde_json::json!({"error": "malformed callback"}));
    };
    let w = match cb.store.get_withdrawal(account, id).await {
        Ok(Some(w)) => w,
        Ok(None) => return reply(200, serde_json::json!({"status": "unknown"})),
        Err(e) => {
            tracing::error!(error = %e, "withdrawal lookup failed");
            return reply(503, serde_json::json!({"error": "retry later"}));
        }
    };
    match withdrawals::apply_callback(&cb.store, &w, &payload).await {
        Ok(word) => {
            tracing::info!(withdrawal = %w.id, result = word, "hubtel withdrawal callback");
            if word == "paid" {
                let text = format!("kobo: your withdrawal of NGN {} has been paid. Ref {}", w.amount, w.id);
                if let Err(e) = kobo_shared::sms::notify(&cb.store, &w.account_id, text).await {
                    tracing::warn!(error = %e, "withdrawal notice not queued");
                }
            }
            reply(200, serde_json::json!({"status": word}))
        }
        Err(e) => {
            tracing::error!(error = %e, "withdrawal callback could not be applied; Hubtel should retry");
            reply(503, serde_json::json!({"error": "retry later"}))
        }
    }
}
