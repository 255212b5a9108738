//! The callbacks Lambda: `POST /callbacks/topup` receives the VTU provider's signed
//! results; `POST /callbacks/hubtel/payment/<account>/<deposit>/<secret>` receives
//! Hubtel's payment callbacks, authenticated by the per-deposit secret in the URL. Every answer is fast; forged or malformed bodies change nothing; a duplicate
//! or late callback is acknowledged and changes nothing twice.
#![warn(missing_docs)]

use kobo_shared::flows::providers::Providers;
use kobo_shared::flows::vtu;
use kobo_shared::flows::vtu::{CallbackError, CallbackResult};
use kobo_shared::platform::config::Config;
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
    /// The providers (the VTU provider's secret signs its callbacks).
    pub providers: Providers,
    /// The app secret (deposit callback secrets derive from it).
    pub app_secrets: kobo_shared::platform::secrets::SecretsCache,
}

impl Callbacks {
    /// From clients made by the caller.
    pub fn new(
        config: &Config,
        dynamodb: aws_sdk_dynamodb::Client,
        secrets: aws_sdk_secretsmanager::Client,
    ) -> Callbacks {
        let store = Store::new(dynamodb, config.table.clone());
        Callbacks {
            providers: Providers::new(config, secrets.clone(), &store),
            store,
            app_secrets: kobo_shared::platform::secrets::SecretsCache::new(secrets, config.app_secret_id.clone()),
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
    let secret = match cb.providers.topup.webhook_secret().await {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "callback secret unavailable");
            return reply(503, serde_json::json!({"error": "retry later"}));
        }
    };
    match vtu::handle_callback(&cb.store, &secret, body, signature).await {
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

/// The common front of Hubtel's callbacks, whose URL is the credential:
/// `<account>/<id>/<secret>` with the secret checked (constant time) before any lookup,
/// so unknown and forged answer alike, then a JSON body. The refusal is the reply.
async fn verified(
    cb: &Callbacks,
    rest: &str,
    body: &[u8],
    secret_ok: fn(&[u8], &str, &str) -> bool,
) -> Result<(String, String, serde_json::Value), Response<Body>> {
    let parts: Vec<&str> = rest.split('/').collect();
    let [account, id, secret] = parts.as_slice() else {
        return Err(reply(404, serde_json::json!({"error": "unknown callback"})));
    };
    let key = match cb.app_secrets.get().await {
        Ok(s) => s.pin_pepper.clone(),
        Err(e) => {
            tracing::error!(error = %e, "app secret unavailable");
            return Err(reply(503, serde_json::json!({"error": "retry later"})));
        }
    };
    if !kobo_shared::domain::apikey::is_account_id(account) || !secret_ok(key.as_bytes(), id, secret) {
        tracing::warn!("hubtel callback with a bad URL secret refused");
        return Err(reply(401, serde_json::json!({"error": "unauthorized"})));
    }
    let Ok(payload) = serde_json::from_slice::<serde_json::Value>(body) else {
        return Err(reply(400, serde_json::json!({"error": "malformed callback"})));
    };
    Ok((account.to_string(), id.to_string(), payload))
}

/// Hubtel's payment callback for a deposit.
async fn hubtel_payment(cb: &Callbacks, rest: &str, body: &[u8]) -> Response<Body> {
    use kobo_shared::domain::deposit as deposits;
    use kobo_shared::domain::deposit::PaymentResult;
    use kobo_shared::flows::deposits::apply_payment;
    let (account, deposit, payload) = match verified(cb, rest, body, deposits::secret_ok).await {
        Ok(v) => v,
        Err(refusal) => return refusal,
    };
    let (account, deposit) = (account.as_str(), deposit.as_str());
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
    match apply_payment(&cb.store, &d, &payload).await {
        Ok(PaymentResult::Credited) => {
            tracing::info!(deposit = %d.id, "deposit credited");
            let text = format!("kobo: your wallet was credited with NGN {}. Ref {}", d.amount, d.id);
            if let Err(e) = kobo_shared::flows::sms::notify(&cb.store, &d.account_id, text).await {
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
    use kobo_shared::domain::withdrawal as withdrawals;
    use kobo_shared::flows::withdrawals::apply_callback;
    let (account, id, payload) = match verified(cb, rest, body, withdrawals::secret_ok).await {
        Ok(v) => v,
        Err(refusal) => return refusal,
    };
    let (account, id) = (account.as_str(), id.as_str());
    let w = match cb.store.get_withdrawal(account, id).await {
        Ok(Some(w)) => w,
        Ok(None) => return reply(200, serde_json::json!({"status": "unknown"})),
        Err(e) => {
            tracing::error!(error = %e, "withdrawal lookup failed");
            return reply(503, serde_json::json!({"error": "retry later"}));
        }
    };
    match apply_callback(&cb.store, &w, &payload).await {
        Ok(word) => {
            tracing::info!(withdrawal = %w.id, result = word, "hubtel withdrawal callback");
            if word == "paid" {
                let text = format!("kobo: your withdrawal of NGN {} has been paid. Ref {}", w.amount, w.id);
                if let Err(e) = kobo_shared::flows::sms::notify(&cb.store, &w.account_id, text).await {
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
