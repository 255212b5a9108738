//! Serves the template's HTTP routes on loopback the way API Gateway would: each request
//! becomes an API Gateway v2 event (the same JSON Lambda receives), is parsed by
//! `lambda_http`, and goes to the function's own handler, invoked as Lambda invokes it
//! (see [`super::lambda`]): it runs to its end even when the client hangs up, and is cut
//! off at the function's template `Timeout`, which API Gateway answers with a 500.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use anyhow::{bail, Result};
use axum::body::{to_bytes, Body as AxumBody};
use axum::extract::{ConnectInfo, Request as AxumRequest, State};
use axum::response::Response as AxumResponse;
use base64::Engine;
use lambda_http::Body;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use super::lambda::Limits;
use crate::template::{Route, Template};

/// API Gateway's payload limit.
const GATEWAY_MAX_BODY: usize = 10 * 1024 * 1024;

/// A function the local stack can run in-process.
#[derive(Clone)]
pub enum LocalFunction {
    /// `ApiFunction`: the reseller API.
    Api(Arc<kobo_api::App>),
    /// `CallbacksFunction`: signed provider callbacks.
    Callbacks(Arc<kobo_callbacks::Callbacks>),
    /// `PortalFunction`: the Developer Portal.
    Portal(Arc<kobo_portal::App>),
}

impl LocalFunction {
    async fn call(self, req: lambda_http::Request) -> lambda_http::Response<Body> {
        match self {
            LocalFunction::Api(app) => kobo_api::handle(&app, req).await,
            LocalFunction::Callbacks(cb) => kobo_callbacks::handle(&cb, req).await,
            LocalFunction::Portal(app) => kobo_portal::handle(&app, req).await,
        }
    }
}

/// The routing table: each template route with the function serving it and its limits.
#[derive(Clone)]
pub struct Routes {
    table: Arc<Vec<(Route, LocalFunction, Limits)>>,
    hangups: Arc<AtomicU64>,
}

impl Routes {
    /// Binds every template route to a local function; a route whose function has no
    /// local implementation is an error, so the template and the stack cannot drift.
    pub fn bind(template: &Template, functions: &[(&str, LocalFunction)]) -> Result<Routes> {
        let mut out = Vec::new();
        for r in &template.routes {
            match functions.iter().find(|(id, _)| *id == r.function) {
                Some((_, f)) => out.push((r.clone(), f.clone(), Limits::from_template(template, &r.function)?)),
                None => bail!(
                    "template route {} is served by {}, which the local stack cannot run",
                    r.route_key(),
                    r.function
                ),
            }
        }
        Ok(Routes { table: Arc::new(out), hangups: Arc::default() })
    }

    /// These routes with `crashes` injected into every invocation.
    pub fn with_crashes(self, crashes: Option<super::lambda::Crashes>) -> Routes {
        let table = self
            .table
            .iter()
            .map(|(r, f, l)| (r.clone(), f.clone(), l.clone().with_crashes(crashes.clone())))
            .collect();
        Routes { table: Arc::new(table), hangups: self.hangups }
    }

    /// Requests whose client went away before the answer (their invocations went on).
    pub fn hangups(&self) -> u64 {
        self.hangups.load(Ordering::SeqCst)
    }
}

/// Counts and logs a request dropped before its answer was ready.
struct HangupWatch<'a> {
    answered: bool,
    hangups: &'a AtomicU64,
}

impl Drop for HangupWatch<'_> {
    fn drop(&mut self) {
        if !self.answered {
            self.hangups.fetch_add(1, Ordering::SeqCst);
            tracing::warn!("the client went away before the answer; the invocation goes on");
        }
    }
}

/// Builds the API Gateway v2 event for a request, as JSON text.
pub fn gateway_event(
    route: &Route,
    method: &str,
    path: &str,
    query: &str,
    headers: &axum::http::HeaderMap,
    source_ip: &str,
    body: &[u8],
) -> String {
    let mut hmap = serde_json::Map::new();
    for (name, value) in headers {
        let v = String::from_utf8_lossy(value.as_bytes()).into_owned();
        match hmap.get_mut(name.as_str()) {
            Some(serde_json::Value::String(existing)) => {
                existing.push(',');
                existing.push_str(&v);
            }
            _ => {
                hmap.insert(name.as_str().to_string(), serde_json::Value::String(v));
            }
        }
    }
    let (body_field, is_b64) = match std::str::from_utf8(body) {
        Ok(text) => (text.to_string(), false),
        Err(_) => (base64::engine::general_purpose::STANDARD.encode(body), true),
    };
    let now = chrono::Utc::now();
    let user_agent = headers.get("user-agent").and_then(|v| v.to_str().ok()).unwrap_or("");
    serde_json::json!({
        "version": "2.0",
        "routeKey": route.route_key(),
        "rawPath": path,
        "rawQueryString": query,
        "headers": hmap,
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "local",
            "domainName": "127.0.0.1",
            "domainPrefix": "local",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": user_agent
            },
            "requestId": uuid::Uuid::now_v7().to_string(),
            "routeKey": route.route_key(),
            "stage": "$default",
            "time": now.format("%d/%b/%Y:%H:%M:%S %z").to_string(),
            "timeEpoch": now.timestamp_millis()
        },
        "body": body_field,
        "isBase64Encoded": is_b64
    })
    .to_string()
}

fn gateway_error(status: u16, message: &str) -> AxumResponse {
    let mut r = AxumResponse::new(AxumBody::from(serde_json::json!({ "message": message }).to_string()));
    *r.status_mut() = axum::http::StatusCode::from_u16(status).unwrap_or(axum::http::StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut().insert("content-type", axum::http::HeaderValue::from_static("application/json"));
    r
}

async fn dispatch(
    State(routes): State<Routes>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: AxumRequest,
) -> AxumResponse {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_string();
    let query = parts.uri.query().unwrap_or("").to_string();
    let method = parts.method.as_str().to_string();
    let Some((route, function, limits)) = routes.table.iter().find(|(r, _, _)| r.matches(&method, &path)) else {
        return gateway_error(404, "Not Found");
    };
    let Ok(bytes) = to_bytes(body, GATEWAY_MAX_BODY).await else {
        return gateway_error(413, "Request Entity Too Large");
    };
    let event = gateway_event(route, &method, &path, &query, &parts.headers, &peer.ip().to_string(), &bytes);
    let lambda_req = match lambda_http::request::from_str(&event) {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "local gateway built an event lambda_http cannot read");
            return gateway_error(500, "Internal Server Error");
        }
    };
    // If the client hangs up, this future is dropped; the invocation is not.
    let mut watch = HangupWatch { answered: false, hangups: &routes.hangups };
    let outcome = limits.invoke(function.clone().call(lambda_req)).await;
    watch.answered = true;
    let resp = match outcome {
        Ok(resp) => resp,
        // What an HTTP API answers when its Lambda integration fails or times out.
        Err(_) => return gateway_error(500, "Internal Server Error"),
    };
    let (parts, body) = resp.into_parts();
    let bytes: Vec<u8> = match body {
        Body::Text(t) => t.into_bytes(),
        Body::Binary(b) => b,
        _ => Vec::new(),
    };
    AxumResponse::from_parts(parts, AxumBody::from(bytes))
}

/// Serves `routes` on `listener` until `stop` fires.
pub async fn serve(listener: TcpListener, routes: Routes, stop: oneshot::Receiver<()>) -> std::io::Result<()> {
    let app = axum::Router::new().fallback(dispatch).with_state(routes);
    axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(async {
            let _ = stop.await;
        })
        .await
}
