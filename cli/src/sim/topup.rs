//! A top-up (VTU) provider on loopback: purchase (deduplicated on `reference`), requery,
//! cable and meter verification, and signed result callbacks exactly as
//! `topup-provider-webhooks.txt` shows them (`X-Signature` = hex HMAC-SHA256 of the raw
//! body). Outcomes on demand: `POST /control/next {"outcome": "..."}` queues one of
//! `success` (default), `failure`, `pending_success`, `pending_failure` (answer pending,
//! then a signed callback), `timeout` (delivered, but answered after the client gave up),
//! `down` (503, nothing recorded), `hold` (recorded as a success, answered only once
//! `POST /control/release {"phone": "..."}` lets that number's purchases go); with
//! `"phone": "0803..."` the outcome applies only to purchases for that number.
//! `POST /control/chaos {"seed": 7, "p": 0.1}` turns it hostile (see `sim::chaos`): a
//! purchase answered 429 (nothing recorded) or 500 after it was recorded and delivered; a
//! pending purchase whose success callback comes twice, or after a failure callback for
//! the same purchase (reordered: the final state is success); a success later reversed
//! (its record turns `failed`, and a failure callback follows); requeries answered 403,
//! 409, 429 or 500. Success callbacks never carry cards or tokens (as in the seed).
//! `POST /control/reverse {"reference": "TRX...", "callback": true}` reverses a delivered
//! purchase (its record turns `failed`; the failure callback follows unless `callback` is
//! false, so only a requery tells). Cable verification reports the smartcard's bouquet and
//! its `renewal_amount` (cards starting 999 have none); a renew must pay exactly it per
//! month. Meters report tariff, `minimum_amount` and `arrears` (numbers starting 77 owe
//! ₦2,500), and a purchase below the minimum is refused; prepaid tokens come with units,
//! customer name, address and tariff. JAMB purchases need a `profile_id` the profile
//! lookup knows (anything not starting 000).
//! Outcome `pending` answers pending and stays so until `POST /control/settle
//! {"reference": "TRX...", "outcome": "success"|"failure", "callback": false}`.
//! `POST /control/lookup_failing {"reference": "TRX...", "times": 1}` makes that
//! reference's next requeries answer 200 `{"success": false, "error": ...}`.
//! `GET /control/stats` counts purchases, the purchases held per number, each
//! reference's state here (`by_reference`) and the hostile behaviours injected.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::net::TcpListener;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Outcome {
    Success,
    Failure,
    PendingSuccess,
    PendingFailure,
    Timeout,
    Down,
    /// 429, nothing recorded (a rate limiter refused it before processing).
    RateLimited,
    Hold,
    /// Answered pending and left pending: only `POST /control/settle` ends it.
    Pending,
}

#[derive(Debug)]
struct State_ {
    key: String,
    webhook_secret: String,
    callback_url: String,
    callback_delay: Duration,
    slow: Duration,
    next: VecDeque<Outcome>,
    next_for: HashMap<String, VecDeque<Outcome>>,
    records: HashMap<String, Value>,
    purchases: u64,
    counter: u64,
    /// Purchases that reached a `hold`, per phone number.
    held: HashMap<String, u64>,
    /// Numbers whose held purchases may answer.
    released: tokio::sync::watch::Sender<std::collections::HashSet<String>>,
    chaos: super::chaos::Chaos,
    /// Requeries of these references still to answer 200 `success: false` (a lookup
    /// that failed at the provider, as providers word rate limits and lookup errors).
    lookup_failing: HashMap<String, u64>,
}

type Shared = Arc<Mutex<State_>>;

/// A running provider simulator.
#[derive(Debug, Clone)]
pub struct TopupSim {
    /// Base URL (`http://127.0.0.1:<port>`).
    pub base: String,
    state: Shared,
}

fn authorized(s: &State_, headers: &HeaderMap) -> bool {
    headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(&format!("Bearer {}", s.key))
}

fn operator(service: &str) -> &'static str {
    match service.split('-').next().unwrap_or("") {
        "mtn" => "MTN",
        "airtel" => "Airtel",
        "glo" => "Glo",
        "9mobile" => "9mobile",
        _ => "Biller",
    }
}

fn digits(n: u64, len: usize) -> String {
    let mut x = n.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            char::from(b'0' + ((x >> 33) % 10) as u8)
        })
        .collect()
}

/// Ends a pending purchase's record: delivered, or failed at the operator.
fn finish(rec: &mut Value, success: bool) {
    if success {
        rec["status"] = json!("success");
    } else {
        rec["status"] = json!("failed");
        rec["success"] = json!(false);
        rec["error"] = json!("Recharge failed at the operator");
    }
}

/// Sends the seed's signed callback for a recorded purchase.
async fn callback(url: String, secret: String, record: Value, success: bool) {
    let passthrough = record["passthrough"].as_str().unwrap_or_default().to_string();
    let body = if success {
        json!({
            "success": true,
            "amount": record["face_naira"].as_i64().unwrap_or(0),
            "phoneNumber": record["phone"],
            "passthrough": passthrough,
            "operatorTransactionId": record["operatorTransactionId"],
            "operator": record["operator"],
            "rechargeId": record["rechargeId"],
        })
    } else {
        let error = record["error"].as_str().unwrap_or("Recharge failed at the operator");
        json!({ "success": false, "error": error, "passthrough": passthrough })
    }
    .to_string();
    let sig = kobo_shared::platform::crypto::hmac_sha256_hex(secret.as_bytes(), body.as_bytes());
    let client = reqwest_client();
    for _ in 0..3 {
        let r = client
            .post(&url)
            .header("content-type", "application/json")
            .header("X-Signature", &sig)
            .body(body.clone())
            .send()
            .await;
        if r.map(|r| r.status().is_success()).unwrap_or(false) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn reqwest_client() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap_or_default()
}

async fn purchase(State(state): State<Shared>, headers: HeaderMap, Json(req): Json<Value>) -> Response {
    let (outcome, slow, record, fresh, hostile) = {
        let Ok(mut s) = state.lock() else { return StatusCode::INTERNAL_SERVER_ERROR.into_response() };
        if !authorized(&s, &headers) {
            return (StatusCode::UNAUTHORIZED, Json(json!({"success": false, "error": "Invalid API key"})))
                .into_response();
        }
        let phone = req["phone"].as_str().unwrap_or_default().to_string();
        let for_phone = s.next_for.get_mut(&phone).and_then(VecDeque::pop_front);
        let outcome = for_phone.or_else(|| s.next.pop_front()).unwrap_or(Outcome::Success);
        if outcome == Outcome::Down {
            return (StatusCode::SERVICE_UNAVAILABLE, "maintenance").into_response();
        }
        if outcome == Outcome::RateLimited {
            return (StatusCode::TOO_MANY_REQUESTS, Json(json!({"success": false, "error": "Too many requests"})))
                .into_response();
        }
        let reference = req["reference"].as_str().unwrap_or_default().to_string();
        if reference.is_empty() {
            return (StatusCode::BAD_REQUEST, Json(json!({"success": false, "error": "reference is required"})))
                .into_response();
        }
        if let Some(existing) = s.records.get(&reference) {
            return Json(existing.clone()).into_response();
        }
        let hostile = s.chaos.pick(&[
            "purchase_429",
            "purchase_500_after_record",
            "duplicate_callback",
            "reordered_callbacks",
            "reversal_after_success",
        ]);
        if hostile == Some("purchase_429") {
            return (StatusCode::TOO_MANY_REQUESTS, Json(json!({"success": false, "error": "Too many requests"})))
                .into_response();
        }
        let outcome = match hostile {
            Some("duplicate_callback" | "reordered_callbacks") => Outcome::PendingSuccess,
            Some("purchase_500_after_record" | "reversal_after_success") => Outcome::Success,
            _ => outcome,
        };
        if let Err(why) = check_purchase(&req) {
            return (StatusCode::BAD_REQUEST, Json(json!({"success": false, "error": why}))).into_response();
        }
        s.purchases += 1;
        s.counter += 1;
        let n = s.counter;
        let category = req["category"].as_str().unwrap_or_default();
        let quantity = req["quantity"].as_u64().unwrap_or(1).clamp(1, 100);
        let face_naira =
            req["amount"].as_str().and_then(|a| a.split('.').next()).and_then(|a| a.parse::<i64>().ok()).unwrap_or(0);
        let mut rec = json!({
            "success": true,
            "status": "success",
            "reference": reference,
            "rechargeId": format!("RCH{n:08}"),
            "operatorTransactionId": format!("OP{}", digits(n, 10)),
            "operator": operator(req["service"].as_str().unwrap_or_default()),
            "phone": req["phone"],
            "face_naira": face_naira,
            "passthrough": req["passthrough"],
        });
        if category == "electricity" {
            let meter = req["meter_number"].as_str().unwrap_or_default();
            rec["customerName"] = json!(METER_OWNER);
            rec["customerAddress"] = json!(METER_ADDRESS);
            rec["tariff"] = json!(tariff(meter).0);
            if req["meter_type"] == "prepaid" {
                rec["token"] = json!(digits(n + 7, 20));
                rec["units"] = json!(units(face_naira, meter));
            }
        }
        if category == "recharge_card" || category == "education" {
            let cards: Vec<Value> = (0..quantity)
                .map(|i| json!({"pin": digits(n * 1000 + i, 12), "serial": format!("SN{n:06}{i:03}")}))
                .collect();
            rec["cards"] = Value::Array(cards);
        }
        match outcome {
            Outcome::Failure => {
                rec["success"] = json!(false);
                rec["status"] = json!("failed");
                rec["error"] = json!("Operator declined the recharge");
            }
            Outcome::PendingSuccess | Outcome::PendingFailure | Outcome::Pending => rec["status"] = json!("pending"),
            _ => {}
        }
        s.records.insert(reference, rec.clone());
        (outcome, s.slow, rec, true, hostile)
    };
    let (url, secret, delay) = match state.lock() {
        Ok(s) => (s.callback_url.clone(), s.webhook_secret.clone(), s.callback_delay),
        Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    };
    if hostile == Some("reversal_after_success") {
        // Delivered now; reversed by the operator a little later.
        let st = state.clone();
        let r = record.clone();
        let (url, secret) = (url.clone(), secret.clone());
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let reference = r["reference"].as_str().unwrap_or_default().to_string();
            let reversed = {
                let Ok(mut s) = st.lock() else { return };
                let Some(rec) = s.records.get_mut(&reference) else { return };
                rec["status"] = json!("failed");
                rec["success"] = json!(false);
                rec["error"] = json!("Reversed by the operator");
                rec.clone()
            };
            if !url.is_empty() {
                callback(url, secret, reversed, false).await;
            }
        });
    }
    if fresh && matches!(outcome, Outcome::PendingSuccess | Outcome::PendingFailure) {
        let success = outcome == Outcome::PendingSuccess;
        let st = state.clone();
        let r = record.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let reference = r["reference"].as_str().unwrap_or_default().to_string();
            let final_rec = {
                let Ok(mut s) = st.lock() else { return };
                let Some(rec) = s.records.get_mut(&reference) else { return };
                finish(rec, success);
                rec.clone()
            };
            if url.is_empty() {
                return;
            }
            match hostile {
                Some("reordered_callbacks") => {
                    let mut failed = final_rec.clone();
                    failed["success"] = json!(false);
                    callback(url.clone(), secret.clone(), failed, false).await;
                    callback(url, secret, final_rec, success).await;
                }
                Some("duplicate_callback") => {
                    callback(url.clone(), secret.clone(), final_rec.clone(), success).await;
                    callback(url, secret, final_rec, success).await;
                }
                _ => callback(url, secret, final_rec, success).await,
            }
        });
    }
    if outcome == Outcome::Timeout {
        tokio::time::sleep(slow).await;
    }
    if hostile == Some("purchase_500_after_record") {
        return (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response();
    }
    if outcome == Outcome::Hold {
        let phone = record["phone"].as_str().unwrap_or_default().to_string();
        let mut released = {
            let Ok(mut s) = state.lock() else { return StatusCode::INTERNAL_SERVER_ERROR.into_response() };
            *s.held.entry(phone.clone()).or_default() += 1;
            s.released.subscribe()
        };
        if released.wait_for(|set| set.contains(&phone)).await.is_err() {
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    }
    Json(record).into_response()
}

async fn set_chaos(State(state): State<Shared>, Json(r): Json<super::chaos::ChaosRequest>) -> Response {
    match state.lock() {
        Ok(mut s) => Json(s.chaos.set(&r)).into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

async fn requery(State(state): State<Shared>, headers: HeaderMap, Path(reference): Path<String>) -> Response {
    let Ok(mut s) = state.lock() else { return StatusCode::INTERNAL_SERVER_ERROR.into_response() };
    if !authorized(&s, &headers) {
        return (StatusCode::UNAUTHORIZED, Json(json!({"error": "Invalid API key"}))).into_response();
    }
    if s.next.front() == Some(&Outcome::Down) {
        return (StatusCode::SERVICE_UNAVAILABLE, "maintenance").into_response();
    }
    let hostile = s.chaos.pick(&["requery_403", "requery_409", "requery_429", "requery_500"]);
    let refused = |code: StatusCode| (code, Json(json!({"success": false, "error": "try again"}))).into_response();
    match hostile {
        Some("requery_403") => return refused(StatusCode::FORBIDDEN),
        Some("requery_409") => return refused(StatusCode::CONFLICT),
        Some("requery_429") => return refused(StatusCode::TOO_MANY_REQUESTS),
        Some("requery_500") => return refused(StatusCode::INTERNAL_SERVER_ERROR),
        _ => {}
    }
    if let Some(left) = s.lookup_failing.get_mut(&reference).filter(|n| **n > 0) {
        *left -= 1;
        return Json(json!({"success": false, "error": "Transaction lookup failed, try again later"})).into_response();
    }
    match s.records.get(&reference) {
        Some(r) => Json(r.clone()).into_response(),
        None => (StatusCode::NOT_FOUND, Json(json!({"error": "not found"}))).into_response(),
    }
}

async fn verify(
    State(state): State<Shared>,
    headers: HeaderMap,
    Path(kind): Path<String>,
    Json(req): Json<Value>,
) -> Response {
    let Ok(s) = state.lock() else { return StatusCode::INTERNAL_SERVER_ERROR.into_response() };
    if !authorized(&s, &headers) {
        return (StatusCode::UNAUTHORIZED, Json(json!({"error": "Invalid API key"}))).into_response();
    }
    let number = match kind.as_str() {
        "cable" => req["customer_id"].as_str(),
        "profile" => req["profile_id"].as_str(),
        _ => req["meter_number"].as_str(),
    }
    .unwrap_or_default();
    if number.starts_with("000") || number.is_empty() {
        return Json(json!({"valid": false, "error": "Customer not found"})).into_response();
    }
    let body = match kind.as_str() {
        "cable" => {
            let service = req["service_id"].as_str().unwrap_or_default();
            let mut body = json!({"valid": true, "customer_name": "ADEBAYO OLUWASEUN", "customer_id": number});
            if let Some((bouquet, naira)) = bouquet(service, number) {
                body["current_plan"] = json!(bouquet);
                body["renewal_amount"] = json!(naira);
                body["due_date"] = json!("2026-12-31");
            }
            body
        }
        "profile" => json!({"valid": true, "customer_name": "EMEKA OKAFOR", "profile_id": number, "exam": req["exam"]}),
        _ => {
            let (tariff, _) = tariff(number);
            let arrears = meter_arrears(number);
            json!({"valid": true, "customer_name": METER_OWNER, "address": METER_ADDRESS, "meter_number": number,
                   "meter_type": req["meter_type"], "tariff": tariff,
                   "minimum_amount": 1_000 + arrears, "arrears": arrears})
        }
    };
    Json(body).into_response()
}

/// The name and address on every simulated meter.
const METER_OWNER: &str = "CHIOMA NWOSU";
const METER_ADDRESS: &str = "12 Allen Avenue, Ikeja";

/// A meter's tariff class and its price per kWh (naira, with one decimal as tenths).
fn tariff(meter: &str) -> (&'static str, i64) {
    if meter.ends_with('1') {
        ("Band A (R2 Single Phase)", 2_095)
    } else {
        ("Band B (R2 Single Phase)", 685)
    }
}

/// Units (kWh, one decimal) that `naira` buys on `meter`.
fn units(naira: i64, meter: &str) -> String {
    let tenths = naira.saturating_mul(100) / tariff(meter).1.max(1);
    format!("{}.{}", tenths / 10, tenths % 10)
}

/// Arrears (naira) a meter owes: meters starting 77 owe ₦2,500, which the least purchase
/// must cover.
fn meter_arrears(meter: &str) -> i64 {
    if meter.starts_with("77") {
        2_500
    } else {
        0
    }
}

/// A smartcard's current bouquet and its monthly price (naira): one of the service's plans,
/// picked by the number; cards starting with 999 have none (nothing to renew).
fn bouquet(service: &str, number: &str) -> Option<(String, i64)> {
    if number.starts_with("999") {
        return None;
    }
    let plans: Vec<_> = crate::devstack::vtu_catalog::plans()
        .into_iter()
        .filter(|p| p.category == kobo_shared::domain::vtu::VtuCategory::Cable && p.service == service)
        .collect();
    let pick = number.bytes().map(|b| usize::from(b.wrapping_sub(b'0'))).sum::<usize>() % plans.len().max(1);
    plans.get(pick).map(|p| (p.name.clone(), p.base.as_i64() / 100))
}

/// What the provider refuses before recording a purchase, as a real one does.
fn check_purchase(req: &Value) -> Result<(), String> {
    let naira = req["amount"].as_str().and_then(|a| a.split('.').next()).and_then(|a| a.parse::<i64>().ok());
    let months = req["months"].as_i64().unwrap_or(1);
    match req["category"].as_str().unwrap_or_default() {
        "cable" if req["subscription_type"] == "renew" => {
            let service = req["service"].as_str().unwrap_or_default();
            let card = req["customer_id"].as_str().unwrap_or_default();
            let Some((_, monthly)) = bouquet(service, card) else {
                return Err("This smartcard has no bouquet to renew".into());
            };
            if naira != Some(monthly) || !(1..=12).contains(&months) {
                return Err(format!("Renewal amount for this smartcard is {monthly} per month"));
            }
        }
        "cable" if req["product_code"].as_str().unwrap_or_default().is_empty() => {
            return Err("product_code is required to change a bouquet".into());
        }
        "electricity" => {
            let meter = req["meter_number"].as_str().unwrap_or_default();
            let least = 1_000 + meter_arrears(meter);
            if naira.unwrap_or(0) < least {
                return Err(format!("Minimum purchase for this meter is {least} (arrears included)"));
            }
        }
        "education" if req["service"] == "jamb" => {
            let profile = req["profile_id"].as_str().unwrap_or_default();
            if profile.len() != 10 || profile.starts_with("000") {
                return Err("A valid JAMB profile_id is required".into());
            }
        }
        _ => {}
    }
    Ok(())
}

/// Reverses a delivered purchase, as an operator does after the fact: its record turns
/// `failed` ("Reversed by the operator"), and a signed failure callback follows unless
/// `"callback": false` (then only a requery tells).
async fn reverse(State(state): State<Shared>, Json(v): Json<Value>) -> Response {
    let Some(reference) = v["reference"].as_str() else {
        return (StatusCode::BAD_REQUEST, "reference is required").into_response();
    };
    let (reversed, url, secret) = {
        let Ok(mut s) = state.lock() else { return StatusCode::INTERNAL_SERVER_ERROR.into_response() };
        let Some(rec) = s.records.get_mut(reference) else {
            return (StatusCode::NOT_FOUND, Json(json!({"error": "not found"}))).into_response();
        };
        rec["status"] = json!("failed");
        rec["success"] = json!(false);
        rec["error"] = json!(v["reason"].as_str().unwrap_or("Reversed by the operator"));
        (rec.clone(), s.callback_url.clone(), s.webhook_secret.clone())
    };
    if v["callback"].as_bool() != Some(false) && !url.is_empty() {
        callback(url, secret, reversed.clone(), false).await;
    }
    Json(json!({"reversed": reference, "record": reversed})).into_response()
}

async fn next(State(state): State<Shared>, Json(v): Json<Value>) -> Response {
    let Ok(mut s) = state.lock() else { return StatusCode::INTERNAL_SERVER_ERROR.into_response() };
    match serde_json::from_value::<Outcome>(v["outcome"].clone()) {
        Ok(o) => {
            let times = v["times"].as_u64().unwrap_or(1);
            let queue = match v["phone"].as_str() {
                Some(phone) => s.next_for.entry(phone.to_string()).or_default(),
                None => &mut s.next,
            };
            for _ in 0..times {
                queue.push_back(o);
            }
            Json(json!({"queued": queue.len()})).into_response()
        }
        Err(e) => (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    }
}

/// `{"reference": "TRX...", "outcome": "success"|"failure", "callback": false}`: ends a
/// pending purchase here (its signed callback follows unless `callback` is false).
async fn settle(State(state): State<Shared>, Json(v): Json<Value>) -> Response {
    let (Some(reference), Some(outcome)) = (v["reference"].as_str(), v["outcome"].as_str()) else {
        return (StatusCode::BAD_REQUEST, "reference and outcome are required").into_response();
    };
    let success = match outcome {
        "success" => true,
        "failure" => false,
        _ => return (StatusCode::BAD_REQUEST, "outcome is success or failure").into_response(),
    };
    let (rec, url, secret) = {
        let Ok(mut s) = state.lock() else { return StatusCode::INTERNAL_SERVER_ERROR.into_response() };
        let Some(rec) = s.records.get_mut(reference) else {
            return (StatusCode::NOT_FOUND, Json(json!({"error": "not found"}))).into_response();
        };
        finish(rec, success);
        (rec.clone(), s.callback_url.clone(), s.webhook_secret.clone())
    };
    if v["callback"].as_bool() != Some(false) && !url.is_empty() {
        callback(url, secret, rec.clone(), success).await;
    }
    Json(json!({"settled": reference, "record": rec})).into_response()
}

/// `{"reference": "TRX...", "times": 2}`: that reference's next requeries answer 200
/// `{"success": false, "error": ...}` (the lookup failed; the purchase is as it was).
async fn lookup_failing(State(state): State<Shared>, Json(v): Json<Value>) -> Response {
    let Some(reference) = v["reference"].as_str() else {
        return (StatusCode::BAD_REQUEST, "reference is required").into_response();
    };
    let Ok(mut s) = state.lock() else { return StatusCode::INTERNAL_SERVER_ERROR.into_response() };
    let times = v["times"].as_u64().unwrap_or(1);
    s.lookup_failing.insert(reference.to_string(), times);
    Json(json!({"reference": reference, "times": times})).into_response()
}

async fn reset(State(state): State<Shared>) -> Response {
    match state.lock() {
        Ok(mut s) => {
            s.next.clear();
            Json(json!({"ok": true})).into_response()
        }
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

async fn release(State(state): State<Shared>, Json(v): Json<Value>) -> Response {
    let Some(phone) = v["phone"].as_str() else {
        return (StatusCode::BAD_REQUEST, "phone is required").into_response();
    };
    match state.lock() {
        Ok(s) => {
            s.released.send_modify(|set| {
                set.insert(phone.to_string());
            });
            Json(json!({"released": phone})).into_response()
        }
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

async fn stats(State(state): State<Shared>) -> Response {
    match state.lock() {
        Ok(s) => {
            // Ground truth per reference: how each purchase stands here.
            let by_reference: serde_json::Map<String, Value> =
                s.records.iter().map(|(r, rec)| (r.clone(), rec["status"].clone())).collect();
            Json(json!({"purchases": s.purchases, "records": s.records.len(), "held": s.held,
                        "by_reference": by_reference, "hostile": s.chaos.stats()}))
            .into_response()
        }
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

impl TopupSim {
    /// Starts the simulator on a free loopback port. Callbacks go to `callback_url`,
    /// signed with `webhook_secret`, `callback_delay` after a pending purchase; `slow` is
    /// how late a `timeout` purchase answers.
    pub async fn start(
        key: &str,
        webhook_secret: &str,
        callback_url: &str,
        callback_delay: Duration,
        slow: Duration,
    ) -> Result<TopupSim> {
        let state: Shared = Arc::new(Mutex::new(State_ {
            key: key.to_string(),
            webhook_secret: webhook_secret.to_string(),
            callback_url: callback_url.to_string(),
            callback_delay,
            slow,
            next: VecDeque::new(),
            next_for: HashMap::new(),
            records: HashMap::new(),
            purchases: 0,
            counter: 0,
            held: HashMap::new(),
            released: tokio::sync::watch::Sender::new(Default::default()),
            chaos: Default::default(),
            lookup_failing: HashMap::new(),
        }));
        let app = Router::new()
            .route("/v1/topup", post(purchase))
            .route("/v1/topup/{reference}", get(requery))
            .route("/v1/verify/{kind}", post(verify))
            .route("/control/next", post(next))
            .route("/control/reset", post(reset))
            .route("/control/release", post(release))
            .route("/control/stats", get(stats))
            .route("/control/chaos", post(set_chaos))
            .route("/control/reverse", post(reverse))
            .route("/control/lookup_failing", post(lookup_failing))
            .route("/control/settle", post(settle))
            .with_state(state.clone());
        let listener =
            TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await.context("binding the top-up simulator")?;
        let addr = listener.local_addr()?;
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "top-up simulator stopped");
            }
        });
        Ok(TopupSim { base: format!("http://{addr}"), state })
    }

    /// Purchases received (deduplicated ones excluded).
    pub fn purchases(&self) -> u64 {
        self.state.lock().map(|s| s.purchases).unwrap_or(0)
    }
}
