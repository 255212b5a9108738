//! Hubtel on loopback, with the request and response shapes of `hubtel-api.txt`: SMS send
//! and status, OTP send/verify/resend, paylinks and send-money (single and multi), Basic
//! auth, and Hubtel's limit of 5 requests per window enforced with 429 beyond it (the
//! window is 60 s in production; tests compress it). `GET /control/stats` reports the
//! requests it served, the ones it refused for the limit, and the SMS it accepted;
//! `GET /control/otp/<requestId>` reveals a code as the user's phone would, and
//! `GET /control/otp?phone=08031234567` the latest code sent to a phone;
//! `POST /control/pay/<paylinkId>` pays a paylink, which sends Hubtel's payment callback.
//! Send-money refuses a repeated `clientReference` (so nothing is paid twice; the count
//! accepted per reference, and asked per reference, are in the stats);
//! `POST /control/hold_send_money {"reference": "wdr_..."}` accepts that reference's
//! send-money and never answers it (the caller's crash or timeout cuts it off). `POST /control/chaos {"seed": 7, "p": 0.1}` turns it
//! hostile (see `sim::chaos`): OTPs and send-money answered 429, paylinks answered 500,
//! send-money answered 500 after it was accepted, or accepted with the non-final code
//! `0001`.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use serde_json::{json, Value};
use tokio::net::TcpListener;

#[derive(Debug)]
struct Inner {
    auth: String,
    limit: usize,
    window: Duration,
    recent: VecDeque<Instant>,
    served: u64,
    refused: u64,
    sms: Vec<Value>,
    otps: HashMap<String, (String, String)>,
    paylinks: HashMap<String, Value>,
    counter: u64,
    started: Instant,
    chaos: super::chaos::Chaos,
    /// Send-money requests accepted per clientReference (Hubtel refuses a repeat).
    sent: HashMap<String, u64>,
    /// Send-money requests received per clientReference, repeats included.
    asked: HashMap<String, u64>,
    /// clientReferences whose send-money is accepted and then never answered (the
    /// caller's timeout or crash cuts it off).
    held: std::collections::HashSet<String>,
    /// OTPs sent per phone number.
    otp_phones: HashMap<String, u64>,
    /// The latest OTP's requestId per phone (digits only).
    latest_otp: HashMap<String, String>,
}

type Shared = Arc<Mutex<Inner>>;

/// A running Hubtel simulator.
#[derive(Debug, Clone)]
pub struct HubtelSim {
    /// Base URL.
    pub base: String,
    state: Shared,
}

/// Checks auth and the rate limit; `Err` is the response to send instead.
fn admit(state: &Shared, headers: &HeaderMap) -> Result<u64, Box<Response>> {
    let Ok(mut s) = state.lock() else { return Err(Box::new(StatusCode::INTERNAL_SERVER_ERROR.into_response())) };
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(s.auth.as_str()) {
        return Err(Box::new(
            (StatusCode::UNAUTHORIZED, Json(json!({"message": "Unauthorized", "code": "401"}))).into_response(),
        ));
    }
    let now = Instant::now();
    let window = s.window;
    while s.recent.front().is_some_and(|t| now.duration_since(*t) >= window) {
        s.recent.pop_front();
    }
    if s.recent.len() >= s.limit {
        s.refused += 1;
        return Err(Box::new(
            (StatusCode::TOO_MANY_REQUESTS, Json(json!({"message": "Too many requests", "code": "429"})))
                .into_response(),
        ));
    }
    s.recent.push_back(now);
    s.served += 1;
    s.counter += 1;
    Ok(s.counter)
}

fn ok(data: Value) -> Response {
    Json(json!({"message": "Success", "responseCode": "0000", "code": "0000", "data": data})).into_response()
}

fn bad(message: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({"message": message, "code": "400", "errors": [{"field": "", "errorMessage": message}]})),
    )
        .into_response()
}

async fn sms_send(State(st): State<Shared>, headers: HeaderMap, Json(b): Json<Value>) -> Response {
    let n = match admit(&st, &headers) {
        Ok(n) => n,
        Err(r) => return *r,
    };
    let (from, to, content) =
        (b["from"].as_str().unwrap_or(""), b["to"].as_str().unwrap_or(""), b["content"].as_str().unwrap_or(""));
    if from.is_empty() || from.len() > 11 || !to.starts_with('+') || content.is_empty() {
        return bad("Invalid from, to or content");
    }
    let id = format!("msg_{n:08}");
    if let Ok(mut s) = st.lock() {
        let at_ms = s.started.elapsed().as_millis() as u64;
        s.sms.push(json!({"messageId": id, "from": from, "to": to, "content": content, "at_ms": at_ms}));
    }
    ok(json!({"rate": 0.03, "messageId": id, "status": "0", "networkId": "62130"}))
}

async fn sms_status(State(st): State<Shared>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    if let Err(r) = admit(&st, &headers) {
        return *r;
    }
    ok(json!({"messageId": id, "status": "Delivered", "rate": 0.03, "units": 1}))
}

/// A hostile behaviour for this request, if chaos picks one.
fn hostile(st: &Shared, behaviours: &[&'static str]) -> Option<&'static str> {
    st.lock().ok().and_then(|mut s| s.chaos.pick(behaviours))
}

fn too_many() -> Response {
    (StatusCode::TOO_MANY_REQUESTS, Json(json!({"message": "Too many requests", "code": "429"}))).into_response()
}

async fn otp_send(State(st): State<Shared>, headers: HeaderMap, Json(b): Json<Value>) -> Response {
    let n = match admit(&st, &headers) {
        Ok(n) => n,
        Err(r) => return *r,
    };
    if hostile(&st, &["otp_429"]).is_some() {
        return too_many();
    }
    if !b["phoneNumber"].as_str().unwrap_or("").starts_with('+') || b["countryCode"].as_str().unwrap_or("").len() != 2 {
        return bad("Invalid phoneNumber or countryCode");
    }
    let request_id = format!("otp_{n:08}");
    let prefix = format!("K{:03}", n % 1000);
    let code = format!("{:04}", (n * 7919) % 10_000);
    if let Ok(mut s) = st.lock() {
        s.otps.insert(request_id.clone(), (prefix.clone(), code));
        let phone = b["phoneNumber"].as_str().unwrap_or("").to_string();
        s.latest_otp.insert(digits(&phone), request_id.clone());
        *s.otp_phones.entry(phone).or_default() += 1;
    }
    ok(json!({"requestId": request_id, "prefix": prefix}))
}

async fn otp_verify(State(st): State<Shared>, headers: HeaderMap, Json(b): Json<Value>) -> Response {
    if let Err(r) = admit(&st, &headers) {
        return *r;
    }
    let Ok(s) = st.lock() else { return StatusCode::INTERNAL_SERVER_ERROR.into_response() };
    match s.otps.get(b["requestId"].as_str().unwrap_or("")) {
        Some((p, c)) if b["prefix"] == json!(p) && b["code"] == json!(c) => ok(json!({})),
        _ => bad("Invalid code"),
    }
}

async fn otp_resend(State(st): State<Shared>, headers: HeaderMap, Json(b): Json<Value>) -> Response {
    if let Err(r) = admit(&st, &headers) {
        return *r;
    }
    let Ok(s) = st.lock() else { return StatusCode::INTERNAL_SERVER_ERROR.into_response() };
    let id = b["requestId"].as_str().unwrap_or("");
    match s.otps.get(id) {
        Some((p, _)) => ok(json!({"requestId": id, "prefix": p})),
        None => bad("Unknown requestId"),
    }
}

async fn paylink(State(st): State<Shared>, headers: HeaderMap, Json(b): Json<Value>) -> Response {
    let n = match admit(&st, &headers) {
        Ok(n) => n,
        Err(r) => return *r,
    };
    if b["amount"].as_f64().unwrap_or(0.0) <= 0.0 || b["clientReference"].as_str().unwrap_or("").is_empty() {
        return bad("Invalid amount or clientReference");
    }
    if hostile(&st, &["paylink_500"]).is_some() {
        return (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response();
    }
    let id = format!("pl_{n:08}");
    let expires = chrono::Utc::now().timestamp() + 3600;
    if let Ok(mut s) = st.lock() {
        s.paylinks.insert(id.clone(), b.clone());
    }
    ok(
        json!({"paylinkId": id, "clientReference": b["clientReference"], "paylinkUrl": format!("https://pay.hubtel.local/{id}"), "expiresAt": expires}),
    )
}

async fn send_money(State(st): State<Shared>, headers: HeaderMap, Json(b): Json<Value>) -> Response {
    let n = match admit(&st, &headers) {
        Ok(n) => n,
        Err(r) => return *r,
    };
    if b["amount"].as_f64().unwrap_or(0.0) <= 0.0 || b["clientReference"].as_str().unwrap_or("").is_empty() {
        return bad("Invalid amount or clientReference");
    }
    let reference = b["clientReference"].as_str().unwrap_or_default().to_string();
    let behaviour = hostile(&st, &["send_429", "send_500_after_accept", "send_pending_0001"]);
    if behaviour == Some("send_429") {
        return too_many();
    }
    let tx = format!("tx_{n:08}");
    let mut hold = false;
    if let Ok(mut s) = st.lock() {
        *s.asked.entry(reference.clone()).or_default() += 1;
        if s.sent.contains_key(&reference) {
            return bad("Duplicate clientReference");
        }
        s.sent.insert(reference.clone(), 1);
        s.paylinks.insert(tx.clone(), b.clone());
        hold = s.held.contains(&reference);
    }
    if hold {
        // Accepted; the answer never comes before the caller gives up.
        tokio::time::sleep(Duration::from_secs(120)).await;
    }
    match behaviour {
        Some("send_500_after_accept") => (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response(),
        Some("send_pending_0001") => Json(json!({"message": "Pending", "responseCode": "0001", "code": "0001",
                                                 "data": {"transactionId": tx, "clientReference": reference}}))
        .into_response(),
        _ => ok(json!({"transactionId": tx, "clientReference": reference})),
    }
}

/// `{"reference": "wdr_..."}`: send-money for that clientReference is accepted and then
/// not answered (for two minutes), as when the caller's timeout or crash cuts it off.
async fn hold_send_money(State(st): State<Shared>, Json(v): Json<Value>) -> Response {
    let Some(reference) = v["reference"].as_str() else {
        return (StatusCode::BAD_REQUEST, "reference is required").into_response();
    };
    match st.lock() {
        Ok(mut s) => {
            s.held.insert(reference.to_string());
            Json(json!({"held": reference})).into_response()
        }
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

async fn set_chaos(State(st): State<Shared>, Json(r): Json<super::chaos::ChaosRequest>) -> Response {
    match st.lock() {
        Ok(mut s) => Json(s.chaos.set(&r)).into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

async fn stats(State(st): State<Shared>) -> Response {
    match st.lock() {
        Ok(s) => Json(json!({"served": s.served, "refused": s.refused, "sms": s.sms, "limit": s.limit,
                             "window_ms": s.window.as_millis() as u64, "sent_per_reference": s.sent,
                             "asked_per_reference": s.asked, "otp_per_phone": s.otp_phones,
                             "hostile": s.chaos.stats()}))
        .into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// Pays a paylink as a customer would: Hubtel then POSTs its payment callback to the
/// paylink's `callbackUrl`. Body (optional): `{"amount": 5000.0, "status": "Success"}`
/// (`amount` sent as given: `"5000.00"` sends a string).
async fn pay(State(st): State<Shared>, Path(id): Path<String>, body: Option<Json<Value>>) -> Response {
    let Some(link) = st.lock().ok().and_then(|s| s.paylinks.get(&id).cloned()) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let over = body.map(|Json(v)| v).unwrap_or(Value::Null);
    let callback = json!({
        "message": "Success",
        "responseCode": "0000",
        "data": {
            "paymentType": "mobilemoney",
            "status": over["status"].as_str().unwrap_or("Success"),
            // As given (a number or a string, as Hubtel's own forms differ), else the paylink's.
            "amount": if over["amount"].is_null() { link["amount"].clone() } else { over["amount"].clone() },
            "paylinkId": id,
            "phoneNumber": "2348031234567",
            "clientReference": link["clientReference"],
        }
    });
    let url = link["callbackUrl"].as_str().unwrap_or_default().to_string();
    match reqwest::Client::new().post(url).json(&callback).send().await {
        Ok(r) => {
            let code = r.status().as_u16();
            let body: Value = r.json().await.unwrap_or(Value::Null);
            Json(json!({"callback_status": code, "callback_answer": body})).into_response()
        }
        Err(e) => (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    }
}

/// Completes a send-money (`{"success": false}` fails it with `2001`; `{"code": "0001"}`
/// sends that response code instead, e.g. a non-final one; `{"amount": 990}` reports
/// that amount): Hubtel POSTs its withdrawal callback to the request's `callbackUrl`.
async fn withdraw(State(st): State<Shared>, Path(id): Path<String>, body: Option<Json<Value>>) -> Response {
    let Some(req) = st.lock().ok().and_then(|s| s.paylinks.get(&id).cloned()) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let over = body.map(|Json(v)| v).unwrap_or(Value::Null);
    let success = over["success"].as_bool().unwrap_or(true);
    let code =
        over["code"].as_str().map(str::to_string).unwrap_or_else(|| (if success { "0000" } else { "2001" }).into());
    let callback = json!({
        "message": if success { "Success" } else { "Transaction failed" },
        "responseCode": code,
        "data": {"transactionId": id, "clientReference": req["clientReference"],
                 "amount": if over["amount"].is_null() { req["amount"].clone() } else { over["amount"].clone() },
                 "mobileNumber": "2348031234567", "paylinkId": ""}
    });
    let url = req["callbackUrl"].as_str().unwrap_or_default().to_string();
    match reqwest::Client::new().post(url).json(&callback).send().await {
        Ok(r) => {
            let code = r.status().as_u16();
            let body: Value = r.json().await.unwrap_or(Value::Null);
            Json(json!({"callback_status": code, "callback_answer": body})).into_response()
        }
        Err(e) => (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    }
}

/// The paylinks created so far (id → request), as Hubtel's dashboard would list them.
async fn paylinks(State(st): State<Shared>) -> Response {
    match st.lock() {
        Ok(s) => Json(json!(s.paylinks)).into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

async fn reveal_otp(State(st): State<Shared>, Path(id): Path<String>) -> Response {
    match st.lock().ok().and_then(|s| s.otps.get(&id).cloned()) {
        Some((prefix, code)) => Json(json!({"prefix": prefix, "code": code})).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

fn digits(phone: &str) -> String {
    phone.chars().filter(char::is_ascii_digit).collect()
}

/// `GET /control/otp?phone=...`: the latest code sent to a phone (any format of it), as
/// its owner would read it.
async fn latest_otp(
    State(st): State<Shared>,
    axum::extract::Query(q): axum::extract::Query<HashMap<String, String>>,
) -> Response {
    let phone = digits(q.get("phone").map(String::as_str).unwrap_or(""));
    let phone = match phone.strip_prefix('0') {
        Some(rest) => format!("234{rest}"),
        None => phone,
    };
    let found = st.lock().ok().and_then(|s| {
        let id = s.latest_otp.get(&phone)?.clone();
        s.otps.get(&id).cloned().map(|(p, c)| (id, p, c))
    });
    match found {
        Some((id, prefix, code)) => Json(json!({"requestId": id, "prefix": prefix, "code": code})).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

impl HubtelSim {
    /// Starts the simulator for ClientID / ClientSecret, allowing `limit` requests per
    /// sliding `window`.
    pub async fn start(client_id: &str, client_secret: &str, limit: usize, window: Duration) -> Result<HubtelSim> {
        let auth = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{client_id}:{client_secret}"))
        );
        let state: Shared = Arc::new(Mutex::new(Inner {
            auth,
            limit,
            window,
            recent: VecDeque::new(),
            served: 0,
            refused: 0,
            sms: Vec::new(),
            otps: HashMap::new(),
            otp_phones: HashMap::new(),
            latest_otp: HashMap::new(),
            paylinks: HashMap::new(),
            counter: 0,
            started: Instant::now(),
            chaos: Default::default(),
            sent: HashMap::new(),
            asked: HashMap::new(),
            held: Default::default(),
        }));
        let app = Router::new()
            .route("/v1/messages/send", post(sms_send))
            .route("/v1/messages/{id}", get(sms_status))
            .route("/v1/otp/send", post(otp_send))
            .route("/v1/otp/verify", post(otp_verify))
            .route("/v1/otp/resend", post(otp_resend))
            .route("/v1/paylinks", post(paylink))
            .route("/v1/paylinks/multi", post(paylink))
            .route("/v1/send-money", post(send_money))
            .route("/v1/send-money/multi", post(send_money))
            .route("/control/stats", get(stats))
            .route("/control/chaos", post(set_chaos))
            .route("/control/hold_send_money", post(hold_send_money))
            .route("/control/otp", get(latest_otp))
            .route("/control/otp/{id}", get(reveal_otp))
            .route("/control/pay/{id}", post(pay))
            .route("/control/withdraw/{id}", post(withdraw))
            .route("/control/paylinks", get(paylinks))
            .with_state(state.clone());
        let listener =
            TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await.context("binding the Hubtel simulator")?;
        let addr = listener.local_addr()?;
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "Hubtel simulator stopped");
            }
        });
        Ok(HubtelSim { base: format!("http://{addr}"), state })
    }

    /// Requests refused for the limit so far.
    pub fn refused(&self) -> u64 {
        self.state.lock().map(|s| s.refused).unwrap_or(0)
    }
}
