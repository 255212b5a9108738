//! The callbacks Lambda: `POST /callbacks/topup` receives the VTU provider's signed
//! results. Every answer is fast; forged or malformed bodies change nothing; a duplicate
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
}

impl Callbacks {
    /// From clients made by the caller.
    pub fn new(
        config: &Config,
        dynamodb: aws_sdk_dynamodb::Client,
        secrets: aws_sdk_secretsmanager::Client,
    ) -> Callbacks {
        Callbacks { store: Store::new(dynamodb, config.table.clone()), topup: LazyTopup::new(config, secrets) }
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
    if !req.uri().path().ends_with("/callbacks/topup") {
        return reply(404, serde_json::json!({"error": "unknown callback"}));
    }
    let body: &[u8] = match req.body() {
        Body::Text(t) => t.as_bytes(),
        Body::Binary(b) => b,
        _ => &[],
    };
    if body.len() > MAX_BODY {
        return reply(413, serde_json::json!({"error": "body too large"}));
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
