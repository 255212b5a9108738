//! VTpass on loopback, a replica of its public API (`https://www.vtpass.com/documentation/`)
//! built from the documentation, not from kobo's client: the same paths, headers, field
//! names, response codes and callback body.
//!
//! - Auth: every request needs `api-key`; GETs `public-key`, POSTs `secret-key`; anything
//!   else answers code `087` INVALID CREDENTIALS.
//! - `POST /pay`: `request_id` must be VTpass's form with today's Lagos date (else `085`,
//!   with VTpass's three messages); a reused one answers `014`. An unknown `serviceID` is
//!   `012`, an unknown `variation_code` `010`, a missing field `011`. The wallet (₦100,000
//!   at start, `POST /control/balance {"naira": 5}`) pays `total_amount` (the amount less a
//!   3% commission); short, it answers `018` LOW WALLET BALANCE and records nothing.
//! - The sandbox numbers (the number is `phone` for airtime, `billersCode` otherwise):
//!   `08011111111` delivered; `201000000000` pending (`TRANSACTION PROCESSING - PENDING`)
//!   until `POST /control/resolve`; `500000000000` an unexpected answer (an HTML page);
//!   `400000000000` no answer (an empty body); `300000000000` a timeout (answered after
//!   `slow`, delivered); any other number fails (`016`). Smartcard `1212121212`, meters
//!   `1111111111111` (prepaid) and `1010101010101` (postpaid), JAMB profile `0123456789`
//!   verify and deliver; other numbers do not verify (and their purchases fail).
//!   `POST /control/outcome {"number": "...", "outcome": "delivered"|"failed"|"pending"|
//!   "unexpected"|"no_response"|"timeout"}` gives another number a sandbox behaviour.
//! - `POST /requery {"request_id"}`: the transaction as it stands, or `015` for an id it
//!   never got. `GET /balance`: `{"code":1,"contents":{"balance":…}}`.
//!   `GET /service-variations?serviceID=`, `POST /merchant-verify` as the product pages show.
//! - Callbacks: `POST /control/resolve {"request_id", "status": "delivered"|"failed"|"reversed",
//!   "callback": true}` settles a transaction here and POSTs `{"type":"transaction-update",
//!   "data": <requery answer>}` to the callback URL (unsigned, as VTpass's are), again up to
//!   5 times until the answer is `{"response":"success"}`. `GET /control/stats` counts
//!   purchases, callbacks sent and acknowledged, and each request id's status.
//! - `POST /control/live {"on": true}`: every number is delivered (a live account).
//!   `POST /control/chaos {"seed": 7, "p": 0.1}` turns it hostile (see `sim::chaos`): a
//!   purchase refused `018` (nothing recorded), delivered but answered with an HTML page,
//!   or answered `099` (processing; delivered); requeries answered `083` or 500.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use kobo_shared::upstream::vtu::vtpass::{is_request_id, request_date};
use serde_json::{json, Value};
use tokio::net::TcpListener;

/// The keys the replica accepts.
#[derive(Debug, Clone)]
pub struct Keys {
    /// `api-key`.
    pub api_key: String,
    /// `public-key` (GET).
    pub public_key: String,
    /// `secret-key` (POST).
    pub secret_key: String,
}

#[derive(Debug)]
struct Inner {
    keys: Keys,
    callback_url: String,
    slow: Duration,
    /// Wallet, kobo.
    wallet: i64,
    records: HashMap<String, Value>,
    outcomes: HashMap<String, String>,
    purchases: u64,
    /// `/pay` calls with good keys, refused ones included.
    pay_calls: u64,
    counter: u64,
    callbacks_sent: u64,
    callbacks_acknowledged: u64,
    /// Live: every number is delivered (as a live account is), not only the sandbox's.
    live: bool,
    chaos: super::chaos::Chaos,
}

type Shared = Arc<Mutex<Inner>>;

/// A running VTpass replica.
#[derive(Debug, Clone)]
pub struct VtpassSim {
    /// Its API base (`http://127.0.0.1:<port>/api`), as `https://sandbox.vtpass.com/api`.
    pub base: String,
    /// `http://127.0.0.1:<port>` (control endpoints).
    pub root: String,
    state: Shared,
}

fn answer(code: &str, description: &str) -> Response {
    Json(json!({"code": code, "response_description": description})).into_response()
}

fn authorized(s: &Inner, h: &HeaderMap, post: bool) -> bool {
    let header = |name: &str| h.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    header("api-key") == s.keys.api_key
        && if post { header("secret-key") == s.keys.secret_key } else { header("public-key") == s.keys.public_key }
}

/// Today's date in Lagos, and the date two minutes ago (a request id made just before
/// midnight is still today's when it arrives).
fn lagos_dates() -> [String; 2] {
    use chrono::Offset;
    let lagos = chrono::FixedOffset::east_opt(3600).unwrap_or_else(|| chrono::Utc.fix());
    let now = chrono::Utc::now();
    [now, now - chrono::Duration::minutes(2)].map(|t| t.with_timezone(&lagos).format("%Y%m%d").to_string())
}

/// The variations of a service: (code, name, naira).
fn variations(service: &str) -> Option<Vec<(String, String, i64)>> {
    let v = |list: &[(&str, &str, i64)]| list.iter().map(|(c, n, a)| (c.to_string(), n.to_string(), *a)).collect();
    Some(match service {
        "mtn-data" | "airtel-data" | "glo-data" | "etisalat-data" => {
            let net = service.trim_end_matches("-data");
            [(100, "100MB - 24 hrs"), (1000, "1.5GB - 30 days"), (2000, "4.5GB - 30 days")]
                .iter()
                .map(|(n, name)| (format!("{net}-data-{n}"), format!("N{n} {name}"), *n))
                .collect()
        }
        "dstv" => v(&[
            ("dstv-padi", "DStv Padi", 4400),
            ("dstv-yanga", "DStv Yanga", 6000),
            ("dstv-compact", "DStv Compact", 19000),
        ]),
        "gotv" => v(&[("gotv-smallie", "GOtv Smallie", 1900), ("gotv-max", "GOtv Max", 8500)]),
        "startimes" => v(&[("nova", "Startimes Nova", 1900), ("basic", "Startimes Basic", 3700)]),
        "waec" => v(&[("waecdirect", "WAEC Result Checker PIN", 3500)]),
        "jamb" => v(&[("utme-mock", "UTME PIN (with mock)", 7700), ("utme-no-mock", "UTME PIN (without mock)", 6200)]),
        s if s.ends_with("-electric") => v(&[("prepaid", "Prepaid", 0), ("postpaid", "Postpaid", 0)]),
        _ => return None,
    })
}

fn is_airtime(service: &str) -> bool {
    matches!(service, "mtn" | "glo" | "airtel" | "etisalat")
}

/// What the sandbox does with a purchase for `number`.
fn sandbox(s: &Inner, service: &str, number: &str) -> &'static str {
    if let Some(o) = s.outcomes.get(number) {
        return match o.as_str() {
            "delivered" => "delivered",
            "pending" => "pending",
            "unexpected" => "unexpected",
            "no_response" => "no_response",
            "timeout" => "timeout",
            _ => "failed",
        };
    }
    match number {
        "08011111111" | "1212121212" | "1111111111111" | "1010101010101" | "0123456789" => "delivered",
        _ if s.live => "delivered",
        "201000000000" => "pending",
        "500000000000" => "unexpected",
        "400000000000" => "no_response",
        "300000000000" => "timeout",
        _ if service.starts_with("waec") => "delivered",
        _ => "failed",
    }
}

fn digits(n: u64, len: usize) -> String {
    let mut x = n.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(7);
    (0..len)
        .map(|_| {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            char::from(b'0' + ((x >> 33) % 10) as u8)
        })
        .collect()
}

/// The transaction answer (pay, requery and callback `data` share it).
fn transaction(request_id: &str, status: &str, b: &Value, amount: f64, n: u64) -> Value {
    let description = match status {
        "delivered" => "TRANSACTION SUCCESSFUL",
        "pending" => "TRANSACTION PROCESSING - PENDING",
        "reversed" => "TRANSACTION REVERSED",
        _ => "TRANSACTION FAILED",
    };
    let service = b["serviceID"].as_str().unwrap_or_default();
    let number = b["billersCode"].as_str().or_else(|| b["phone"].as_str()).unwrap_or_default();
    let commission = (amount * 0.03 * 100.0).round() / 100.0;
    let mut v = json!({
        "code": "000",
        "response_description": description,
        "requestId": request_id,
        "amount": amount,
        "transaction_date": chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
        "purchased_code": "",
        "content": {"transactions": {
            "status": status, "product_name": service, "unique_element": number, "unit_price": amount,
            "quantity": b["quantity"].as_u64().unwrap_or(1), "commission": commission,
            "total_amount": amount - commission, "type": service, "amount": amount, "platform": "api",
            "method": "wallet", "transactionId": format!("{}{}", 17_000_000_000u64 + n, digits(n, 6)),
        }},
    });
    if status == "delivered" {
        if service.ends_with("-electric") && b["variation_code"] == "prepaid" {
            let token = digits(n + 11, 20);
            v["purchased_code"] = json!(format!("Token : {token}"));
            v["token"] = json!(token);
            v["units"] = json!(format!("{:.1} kWh", amount / 68.5));
            v["customerName"] = json!("TESTMETER1");
            v["customerAddress"] = json!("ABULE EGBA");
            v["tariff"] = json!("R2 SINGLE PHASE");
        }
        if service == "waec" {
            let cards: Vec<Value> = (0..b["quantity"].as_u64().unwrap_or(1).clamp(1, 10))
                .map(|i| json!({"Serial": format!("WRN{}", digits(n * 10 + i, 9)), "Pin": digits(n * 10 + i + 1, 12)}))
                .collect();
            v["cards"] = Value::Array(cards);
        }
        if service == "jamb" {
            let pin = digits(n + 3, 15);
            v["purchased_code"] = json!(format!("Pin : {pin}"));
            v["Pin"] = json!(pin);
        }
    }
    v
}

/// The naira a purchase costs: the variation's price (times `quantity`) for data, bouquet
/// changes and PINs; the `amount` given for airtime, electricity and renewals.
fn price(service: &str, b: &Value) -> Result<f64, (&'static str, &'static str)> {
    let electric = service.ends_with("-electric");
    let by_amount = is_airtime(service) || electric || b["subscription_type"] == "renew";
    if electric && !matches!(b["variation_code"].as_str(), Some("prepaid" | "postpaid")) {
        return Err(("010", "VARIATION CODE DOES NOT EXIST"));
    }
    if !by_amount {
        let code = b["variation_code"].as_str().ok_or(("011", "INVALID ARGUMENTS"))?;
        let list = variations(service).unwrap_or_default();
        let (_, _, naira) = list.iter().find(|(c, _, _)| c == code).ok_or(("010", "VARIATION CODE DOES NOT EXIST"))?;
        return Ok(*naira as f64 * b["quantity"].as_u64().unwrap_or(1).max(1) as f64);
    }
    let amount = match &b["amount"] {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    match amount {
        None => Err(("011", "INVALID ARGUMENTS")),
        Some(a) if a <= 0.0 => Err(("013", "BELOW MINIMUM AMOUNT ALLOWED")),
        Some(a) => Ok(a),
    }
}

async fn pay(State(st): State<Shared>, headers: HeaderMap, Json(b): Json<Value>) -> Response {
    let (status, record, slow) = {
        let Ok(mut s) = st.lock() else { return StatusCode::INTERNAL_SERVER_ERROR.into_response() };
        if !authorized(&s, &headers, true) {
            return answer("087", "INVALID CREDENTIALS");
        }
        s.pay_calls += 1;
        let id = b["request_id"].as_str().unwrap_or_default().to_string();
        if id.len() < 12 || !id[..id.len().min(12)].bytes().all(|c| c.is_ascii_digit()) {
            return answer("085", "IMPROPER REQUEST ID: DOES NOT CONTAIN DATE");
        }
        if !is_request_id(&id) {
            return answer("085", "IMPROPER REQUEST ID: FIRST 8 CHARACTERS MUST BE DATE (YYYYMMDD)");
        }
        if !lagos_dates().iter().any(|d| Some(d.as_str()) == request_date(&id)) {
            return answer("085", "IMPROPER REQUEST ID: DATE MUST BE TODAY'S DATE");
        }
        if s.records.contains_key(&id) {
            return answer("014", "REQUEST ID ALREADY EXIST");
        }
        let service = b["serviceID"].as_str().unwrap_or_default().to_string();
        if !is_airtime(&service) && variations(&service).is_none() {
            return answer("012", "PRODUCT DOES NOT EXIST");
        }
        // The number a product is for: the phone for airtime and WAEC PINs, else `billersCode`.
        let by_phone = is_airtime(&service) || service.starts_with("waec");
        let number = if by_phone { b["phone"].as_str() } else { b["billersCode"].as_str() };
        let Some(number) = number.filter(|n| !n.is_empty()).map(str::to_string) else {
            return answer("011", "INVALID ARGUMENTS");
        };
        let amount = match price(&service, &b) {
            Ok(a) => a,
            Err((code, description)) => return answer(code, description),
        };
        let cost = ((amount * 0.97) * 100.0).round() as i64;
        let hostile = s.chaos.pick(&["pay_018", "pay_html_after_record", "pay_099"]);
        if cost > s.wallet || hostile == Some("pay_018") {
            return answer("018", "LOW WALLET BALANCE");
        }
        let outcome = match hostile {
            // Recorded and delivered, but the answer is lost in an HTML error page.
            Some("pay_html_after_record") => "html_after_record",
            // Processing: the requery tells later (delivered).
            Some("pay_099") => "processing_099",
            _ => sandbox(&s, &service, &number),
        };
        s.purchases += 1;
        s.counter += 1;
        let n = s.counter;
        let status = match outcome {
            "delivered" | "timeout" | "html_after_record" | "processing_099" => "delivered",
            "pending" | "unexpected" | "no_response" => "pending",
            _ => "failed",
        };
        if status != "failed" {
            s.wallet -= cost;
        }
        let record = transaction(&id, status, &b, amount, n);
        s.records.insert(id, record.clone());
        (outcome, record, s.slow)
    };
    match status {
        "unexpected" | "html_after_record" => {
            (StatusCode::OK, [("content-type", "text/html")], "<html><body>502 Bad Gateway</body></html>")
                .into_response()
        }
        "processing_099" => answer("099", "TRANSACTION IS PROCESSING"),
        "no_response" => (StatusCode::OK, "").into_response(),
        "timeout" => {
            tokio::time::sleep(slow).await;
            Json(record).into_response()
        }
        "failed" => {
            let mut r = record;
            r["code"] = json!("016");
            Json(r).into_response()
        }
        _ => Json(record).into_response(),
    }
}

async fn requery(State(st): State<Shared>, headers: HeaderMap, Json(b): Json<Value>) -> Response {
    let Ok(mut s) = st.lock() else { return StatusCode::INTERNAL_SERVER_ERROR.into_response() };
    if !authorized(&s, &headers, true) {
        return answer("087", "INVALID CREDENTIALS");
    }
    match s.chaos.pick(&["requery_083", "requery_500"]) {
        Some("requery_083") => return answer("083", "SYSTEM ERROR"),
        Some("requery_500") => return (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response(),
        _ => {}
    }
    match b["request_id"].as_str().and_then(|id| s.records.get(id)) {
        Some(r) => Json(r.clone()).into_response(),
        None => answer("015", "INVALID REQUEST ID"),
    }
}

async fn balance(State(st): State<Shared>, headers: HeaderMap) -> Response {
    let Ok(s) = st.lock() else { return StatusCode::INTERNAL_SERVER_ERROR.into_response() };
    if !authorized(&s, &headers, false) {
        return answer("087", "INVALID CREDENTIALS");
    }
    Json(json!({"code": 1, "contents": {"balance": s.wallet as f64 / 100.0}})).into_response()
}

async fn service_variations(
    State(st): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let Ok(s) = st.lock() else { return StatusCode::INTERNAL_SERVER_ERROR.into_response() };
    if !authorized(&s, &headers, false) {
        return answer("087", "INVALID CREDENTIALS");
    }
    let service = q.get("serviceID").cloned().unwrap_or_default();
    let Some(list) = variations(&service) else { return answer("012", "PRODUCT DOES NOT EXIST") };
    let list: Vec<Value> = list
        .into_iter()
        .map(|(code, name, naira)| {
            json!({"variation_code": code, "name": name, "variation_amount": format!("{naira}.00"), "fixedPrice": if naira > 0 { "Yes" } else { "No" }})
        })
        .collect();
    Json(json!({"response_description": "000", "content": {"ServiceName": service, "serviceID": service,
        "convinience_fee": "0 %", "variations": list}}))
    .into_response()
}

async fn merchant_verify(State(st): State<Shared>, headers: HeaderMap, Json(b): Json<Value>) -> Response {
    let Ok(s) = st.lock() else { return StatusCode::INTERNAL_SERVER_ERROR.into_response() };
    if !authorized(&s, &headers, true) {
        return answer("087", "INVALID CREDENTIALS");
    }
    let service = b["serviceID"].as_str().unwrap_or_default();
    let number = b["billersCode"].as_str().unwrap_or_default();
    let content = match (service, number) {
        ("dstv" | "gotv" | "startimes", "1212121212") => json!({"Customer_Name": "TEST CUSTOMER", "Status": "ACTIVE",
            "Due_Date": "2026-12-31T00:00:00", "Customer_Number": 8061522780u64, "Customer_Type": "DSTV",
            "Current_Bouquet": "DStv Compact", "Renewal_Amount": 19000, "commission_details": {"amount": null, "rate": "1.50"}}),
        (s, "1111111111111" | "1010101010101") if s.ends_with("-electric") => {
            let kind = if number.starts_with("1111") { "PREPAID" } else { "POSTPAID" };
            json!({"Customer_Name": "TESTMETER1", "Address": "ABULE EGBA", "Meter_Number": number,
                   "Customer_Arrears": "", "Minimum_Amount": 500, "Min_Purchase_Amount": 500, "Can_Vend": "yes",
                   "Business_Unit": "", "Customer_Account_Type": "NMD", "Meter_Type": kind, "WrongBillersCode": false})
        }
        ("jamb", "0123456789") => json!({"Customer_Name": "JOHN DOE", "commission_details": {"amount": 150}}),
        _ if variations(service).is_none() => return answer("012", "PRODUCT DOES NOT EXIST"),
        _ => json!({"error": "This number is not valid", "WrongBillersCode": true}),
    };
    Json(json!({"code": "000", "content": content})).into_response()
}

/// POSTs a transaction update until it is acknowledged with `{"response":"success"}`, at
/// most 5 times.
async fn send_callback(st: Shared, url: String, data: Value) {
    let body = json!({"type": "transaction-update", "data": data});
    let client = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap_or_default();
    for _ in 0..5 {
        if let Ok(mut s) = st.lock() {
            s.callbacks_sent += 1;
        }
        let acked = match client.post(&url).json(&body).send().await {
            Ok(r) => r.json::<Value>().await.map(|v| v["response"] == "success").unwrap_or(false),
            Err(_) => false,
        };
        if acked {
            if let Ok(mut s) = st.lock() {
                s.callbacks_acknowledged += 1;
            }
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn resolve(State(st): State<Shared>, Json(b): Json<Value>) -> Response {
    let status = b["status"].as_str().unwrap_or("delivered");
    if !matches!(status, "delivered" | "failed" | "reversed") {
        return (StatusCode::BAD_REQUEST, "status is delivered, failed or reversed").into_response();
    }
    let (record, url) = {
        let Ok(mut s) = st.lock() else { return StatusCode::INTERNAL_SERVER_ERROR.into_response() };
        let url = s.callback_url.clone();
        let Some(r) = b["request_id"].as_str().and_then(|id| s.records.get_mut(id)) else {
            return (StatusCode::NOT_FOUND, "no such request_id").into_response();
        };
        r["content"]["transactions"]["status"] = json!(status);
        r["response_description"] = json!(match status {
            "delivered" => "TRANSACTION DELIVERED",
            "reversed" => "TRANSACTION REVERSED",
            _ => "TRANSACTION FAILED",
        });
        (r.clone(), url)
    };
    if b["callback"].as_bool() != Some(false) && !url.is_empty() {
        send_callback(st.clone(), url, record.clone()).await;
    }
    Json(json!({"resolved": record})).into_response()
}

async fn outcome(State(st): State<Shared>, Json(b): Json<Value>) -> Response {
    let (Some(number), Some(o)) = (b["number"].as_str(), b["outcome"].as_str()) else {
        return (StatusCode::BAD_REQUEST, "number and outcome are required").into_response();
    };
    match st.lock() {
        Ok(mut s) => {
            s.outcomes.insert(number.to_string(), o.to_string());
            Json(json!({"number": number, "outcome": o})).into_response()
        }
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

async fn set_balance(State(st): State<Shared>, Json(b): Json<Value>) -> Response {
    let Some(naira) = b["naira"].as_i64() else {
        return (StatusCode::BAD_REQUEST, "naira is required").into_response();
    };
    match st.lock() {
        Ok(mut s) => {
            s.wallet = naira * 100;
            Json(json!({"balance": naira})).into_response()
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

/// `{"on": true}`: every number is delivered, as on a live account.
async fn set_live(State(st): State<Shared>, Json(b): Json<Value>) -> Response {
    match st.lock() {
        Ok(mut s) => {
            s.live = b["on"].as_bool().unwrap_or(true);
            Json(json!({"live": s.live})).into_response()
        }
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

async fn stats(State(st): State<Shared>) -> Response {
    match st.lock() {
        Ok(s) => {
            let by_request: serde_json::Map<String, Value> =
                s.records.iter().map(|(id, r)| (id.clone(), r["content"]["transactions"]["status"].clone())).collect();
            Json(json!({"purchases": s.purchases, "pay_calls": s.pay_calls, "callbacks_sent": s.callbacks_sent,
                        "callbacks_acknowledged": s.callbacks_acknowledged, "by_request_id": by_request,
                        "balance": s.wallet as f64 / 100.0, "hostile": s.chaos.stats()}))
            .into_response()
        }
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

impl VtpassSim {
    /// Starts the replica on a free loopback port with `keys`; callbacks go to
    /// `callback_url` (none when empty); a `300000000000` purchase answers after `slow`.
    pub async fn start(keys: Keys, callback_url: &str, slow: Duration) -> Result<VtpassSim> {
        let state: Shared = Arc::new(Mutex::new(Inner {
            keys,
            callback_url: callback_url.to_string(),
            slow,
            wallet: 100_000 * 100,
            records: HashMap::new(),
            outcomes: HashMap::new(),
            purchases: 0,
            pay_calls: 0,
            counter: 0,
            callbacks_sent: 0,
            callbacks_acknowledged: 0,
            live: false,
            chaos: Default::default(),
        }));
        let app = Router::new()
            .route("/api/pay", post(pay))
            .route("/api/requery", post(requery))
            .route("/api/balance", get(balance))
            .route("/api/service-variations", get(service_variations))
            .route("/api/merchant-verify", post(merchant_verify))
            .route("/control/resolve", post(resolve))
            .route("/control/outcome", post(outcome))
            .route("/control/balance", post(set_balance))
            .route("/control/stats", get(stats))
            .route("/control/chaos", post(set_chaos))
            .route("/control/live", post(set_live))
            .with_state(state.clone());
        let listener =
            TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await.context("binding the VTpass replica")?;
        let addr = listener.local_addr()?;
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "VTpass replica stopped");
            }
        });
        Ok(VtpassSim { base: format!("http://{addr}/api"), root: format!("http://{addr}"), state })
    }

    /// Where callbacks go from now on (kobo's URL with its secret, known once the stack's
    /// key rings are).
    pub fn set_callback_url(&self, url: &str) {
        if let Ok(mut s) = self.state.lock() {
            s.callback_url = url.to_string();
        }
    }

    /// Purchases recorded.
    pub fn purchases(&self) -> u64 {
        self.state.lock().map(|s| s.purchases).unwrap_or(0)
    }
}
