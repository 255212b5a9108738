//! Every response shape of the API is built here.

use kobo_shared::ApiError;
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
