//! A standard SMM panel API v2 server: `services`, `add`, `status` (one or many),
//! `refill`, `refill_status`, `cancel`, `balance`. It offers a service of every API v2
//! type and checks each order's fields as a panel does (a missing required field is
//! refused with the panel's words). Orders progress over time (pending → in progress →
//! completed; links containing `partial` end partial with a quarter left, links
//! containing `cancel` end canceled); drip-feed orders deliver run by run and
//! subscriptions post by post (`Active`, then `Completed` with what the posts did not
//! use as remains); remains are counted in each type's units. Faults on demand:
//!
//! - `POST /control/faults` `{"down": true}` answers 503 to everything,
//!   `{"fail_next": 2}` answers 500 twice, `{"delay_ms": 9000}` answers slowly,
//!   `{"error_next": "msg"}` refuses the next call with `{"error": msg}`;
//! - `POST /control/orders/<id>` `{"status": "Partial", "remains": 250}` forces a status
//!   (`"remains_json": 250.0` / `"null"` / `"omit"` sends the remains in that form);
//! - `POST /control/chaos` `{"seed": 7, "p": 0.1}` turns hostile (see `sim::chaos`):
//!   `add` answers 429 or 500 without creating the order, or **502 after creating it**;
//!   `status` answers 503; `refill` and `cancel` answer 500;
//! - `GET /control/stats` counts the `add` calls received and the orders created, and
//!   the hostile behaviours injected.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::net::TcpListener;

/// How fast simulated orders progress.
#[derive(Debug, Clone, Copy)]
pub struct Pace {
    /// Time spent `Pending`.
    pub pending: Duration,
    /// Then time spent `In progress`.
    pub processing: Duration,
}

impl Default for Pace {
    fn default() -> Self {
        Pace { pending: Duration::from_secs(5), processing: Duration::from_secs(20) }
    }
}

#[derive(Debug, Clone)]
struct SimService {
    id: u64,
    name: &'static str,
    kind: &'static str,
    category: &'static str,
    rate: &'static str,
    min: u64,
    max: u64,
    refill: bool,
    cancel: bool,
    dripfeed: bool,
}

/// The catalog the simulator offers: a realistic Nigerian reseller's upstream, with a
/// service of every API v2 type.
fn catalog() -> Vec<SimService> {
    #[allow(clippy::too_many_arguments)]
    let t = |id, kind, name, category, rate, min, max, refill, cancel| SimService {
        id,
        name,
        kind,
        category,
        rate,
        min,
        max,
        refill,
        cancel,
        dripfeed: false,
    };
    let s = |id, name, category, rate, min, max, refill, cancel| {
        t(id, "Default", name, category, rate, min, max, refill, cancel)
    };
    let drip = |mut x: SimService| {
        x.dripfeed = true;
        x
    };
    vec![
        s(101, "Instagram Followers [Real, 30 days refill]", "Instagram Followers", "1250.00", 50, 100_000, true, true),
        drip(s(102, "Instagram Likes [Instant]", "Instagram Likes", "300.00", 20, 50_000, false, true)),
        drip(s(103, "Instagram Reel Views", "Instagram Views", "45.50", 100, 1_000_000, false, false)),
        s(201, "TikTok Followers [HQ]", "TikTok", "1800.00", 100, 50_000, true, true),
        s(202, "TikTok Views", "TikTok", "12.75", 500, 10_000_000, false, false),
        s(301, "YouTube Views [Non-drop]", "YouTube", "2100.00", 500, 1_000_000, true, false),
        s(302, "YouTube Subscribers", "YouTube", "9500.00", 50, 10_000, true, true),
        s(401, "X (Twitter) Followers", "Twitter", "2600.00", 100, 20_000, false, true),
        s(501, "Facebook Page Likes", "Facebook", "1700.00", 100, 50_000, true, true),
        s(601, "Telegram Channel Members", "Telegram", "900.00", 100, 100_000, false, true),
        t(
            701,
            "Package",
            "Instagram Starter Package [1k likes + 5k views]",
            "Instagram Packages",
            "2500.00",
            1,
            1,
            false,
            true,
        ),
        t(702, "Custom Comments", "Instagram Custom Comments", "Instagram Comments", "4500.00", 5, 1_000, false, true),
        t(
            703,
            "Custom Comments Package",
            "Instagram 10 Custom Comments Package",
            "Instagram Comments",
            "800.00",
            1,
            1,
            false,
            false,
        ),
        t(704, "Mentions", "Instagram Mentions", "Instagram Mentions", "1500.00", 100, 10_000, false, true),
        t(
            705,
            "Mentions with Hashtags",
            "Instagram Mentions with Hashtags",
            "Instagram Mentions",
            "1700.00",
            100,
            10_000,
            false,
            true,
        ),
        t(
            706,
            "Mentions Custom List",
            "Instagram Mentions [Custom List]",
            "Instagram Mentions",
            "2000.00",
            1,
            500,
            false,
            true,
        ),
        t(
            707,
            "Mentions Hashtag",
            "Instagram Mentions [Hashtag users]",
            "Instagram Mentions",
            "1600.00",
            100,
            10_000,
            false,
            true,
        ),
        t(
            708,
            "Mentions User Followers",
            "Instagram Mentions [User followers]",
            "Instagram Mentions",
            "1600.00",
            100,
            10_000,
            false,
            true,
        ),
        t(
            709,
            "Mentions Media Likers",
            "Instagram Mentions [Media likers]",
            "Instagram Mentions",
            "1600.00",
            100,
            10_000,
            false,
            true,
        ),
        t(710, "Comment Likes", "Instagram Comment Likes", "Instagram Comments", "900.00", 20, 5_000, false, true),
        t(711, "Comment Replies", "Instagram Comment Replies", "Instagram Comments", "5000.00", 1, 500, false, true),
        t(712, "Poll", "Twitter Poll Votes", "Twitter", "1100.00", 50, 20_000, false, true),
        t(713, "Invites from Groups", "Telegram Invites from Groups", "Telegram", "2400.00", 100, 10_000, false, true),
        t(714, "SEO", "Google Keyword Clicks [SEO]", "SEO", "3000.00", 100, 50_000, false, true),
        t(
            715,
            "Subscriptions",
            "Instagram Auto Likes [Subscription]",
            "Instagram Auto",
            "280.00",
            50,
            5_000,
            false,
            true,
        ),
        t(716, "Web Traffic", "Website Traffic [Nigeria]", "Website Traffic", "150.00", 500, 1_000_000, false, true),
        // A type no API v2 client knows: kobo imports it disabled.
        t(799, "Story Takeover", "Instagram Story Takeover [Beta]", "Instagram Story", "9000.00", 1, 10, false, false),
    ]
}

/// The fields a panel requires for each type (besides `service`), and the list field
/// whose lines make the quantity where there is one.
fn panel_fields(kind: &str) -> (&'static [&'static str], Option<&'static str>) {
    match kind {
        "Package" => (&["link"], None),
        "Custom Comments" | "Custom Comments Package" => (&["link", "comments"], Some("comments")),
        "Mentions" => (&["link", "quantity", "usernames"], None),
        "Mentions with Hashtags" => (&["link", "quantity", "usernames", "hashtags"], None),
        "Mentions Custom List" => (&["link", "usernames"], Some("usernames")),
        "Mentions Hashtag" => (&["link", "quantity", "hashtag"], None),
        "Mentions User Followers" | "Comment Likes" => (&["link", "quantity", "username"], None),
        "Mentions Media Likers" => (&["link", "quantity", "media"], None),
        "Comment Replies" => (&["link", "username", "comments"], Some("comments")),
        "Poll" => (&["link", "quantity", "answer_number"], None),
        "Invites from Groups" => (&["link", "quantity", "groups"], None),
        "SEO" => (&["link", "quantity", "keywords"], None),
        "Subscriptions" => (&["username", "min", "max", "delay"], None),
        "Web Traffic" => (&["link", "quantity", "country", "device", "type_of_traffic"], None),
        _ => (&["link", "quantity"], None),
    }
}

/// How an order is delivered.
#[derive(Debug, Clone, Copy)]
enum Delivery {
    /// All at once over the processing time.
    Whole,
    /// `runs` runs of `quantity`.
    Drip { runs: u64, per_run: u64 },
    /// `posts` posts of between min and max (the simulator delivers the middle).
    Posts { posts: u64, per_post: u64 },
}

/// Checks an order's fields as a panel would: `(units, delivery)` or the panel's error.
fn check_order(svc: &SimService, field: &dyn Fn(&str) -> String) -> Result<(u64, Delivery), String> {
    let (required, lines_of) = panel_fields(svc.kind);
    if let Some(missing) = required.iter().find(|f| field(f).is_empty()) {
        return Err(format!("Field {missing} is required"));
    }
    let link = field("link");
    if required.contains(&"link") && !(link.starts_with("http") || (!link.contains(' ') && !link.contains('/'))) {
        return Err("Incorrect link".into());
    }
    let number = |f: &str| field(f).parse::<u64>().map_err(|_| format!("Incorrect {f}"));
    let limits = |n: u64| {
        if n < svc.min || n > svc.max {
            Err("Quantity less than minimal or more than maximal".to_string())
        } else {
            Ok(n)
        }
    };
    match (svc.kind, lines_of) {
        ("Package" | "Custom Comments Package", _) => Ok((1, Delivery::Whole)),
        (_, Some(list)) => {
            let n = field(list).lines().filter(|l| !l.trim().is_empty()).count() as u64;
            Ok((limits(n)?, Delivery::Whole))
        }
        ("Subscriptions", _) => {
            let (min, max) = (limits(number("min")?)?, limits(number("max")?)?);
            let count = |f: &str| if field(f).is_empty() { Ok(0) } else { number(f) };
            let posts = count("posts")? + count("old_posts")?;
            if posts == 0 || min > max {
                return Err("Incorrect posts".into());
            }
            Ok((max * posts, Delivery::Posts { posts, per_post: (min + max) / 2 }))
        }
        _ => {
            let quantity = limits(number("quantity")?)?;
            if field("runs").is_empty() && field("interval").is_empty() {
                return Ok((quantity, Delivery::Whole));
            }
            if !svc.dripfeed {
                return Err("Drip-feed is not available for this service".into());
            }
            let runs = number("runs")?;
            number("interval")?;
            Ok((quantity * runs, Delivery::Drip { runs, per_run: quantity }))
        }
    }
}

#[derive(Debug, Clone)]
struct SimOrder {
    service: u64,
    link: String,
    /// Units, as the type counts them (and as remains are reported).
    quantity: u64,
    delivery: Delivery,
    created: Instant,
    start_count: u64,
    forced: Option<(String, u64)>,
    /// How a forced status sends its remains: as this JSON value (`250.0`, ...), `null`
    /// for the string `"null"`, or not at all for the string `"omit"`; the count as a
    /// string when `None` (as panels usually do).
    remains_json: Option<Value>,
    canceled: bool,
}

#[derive(Debug, Default, Clone, Deserialize, serde::Serialize)]
struct Faults {
    #[serde(default)]
    down: bool,
    #[serde(default)]
    fail_next: u32,
    #[serde(default)]
    delay_ms: u64,
    #[serde(default)]
    error_next: Option<String>,
}

#[derive(Debug)]
struct SimState {
    key: String,
    pace: Pace,
    services: Vec<SimService>,
    orders: HashMap<u64, SimOrder>,
    refills: HashMap<u64, (u64, Instant)>,
    next_order: u64,
    next_refill: u64,
    faults: Faults,
    add_calls: u64,
    chaos: super::chaos::Chaos,
}

type Shared = Arc<Mutex<SimState>>;

impl SimOrder {
    /// Units delivered after `t` of processing, as its delivery goes.
    fn delivered(&self, done: f64) -> u64 {
        let done = done.clamp(0.0, 1.0);
        match self.delivery {
            Delivery::Whole => ((done * self.quantity as f64).floor() as u64).min(self.quantity),
            Delivery::Drip { runs, per_run } => ((done * runs as f64).floor() as u64).min(runs) * per_run,
            Delivery::Posts { posts, per_post } => ((done * posts as f64).floor() as u64).min(posts) * per_post,
        }
    }

    /// How far processing has gone (0 before it starts, 1 once it is over).
    fn progress(&self, pace: &Pace) -> f64 {
        let t = self.created.elapsed();
        if t < pace.pending {
            return 0.0;
        }
        (t - pace.pending).as_secs_f64() / pace.processing.as_secs_f64().max(0.001)
    }

    fn status(&self, pace: &Pace) -> (String, u64) {
        if let Some(f) = &self.forced {
            return f.clone();
        }
        if self.canceled {
            return ("Canceled".into(), self.quantity);
        }
        let subscription = matches!(self.delivery, Delivery::Posts { .. });
        let t = self.created.elapsed();
        if t < pace.pending {
            let word = if subscription { "Active" } else { "Pending" };
            return (word.into(), self.quantity);
        }
        let done = self.progress(pace);
        if done < 1.0 {
            let word = if subscription { "Active" } else { "In progress" };
            return (word.into(), self.quantity - self.delivered(done));
        }
        if subscription {
            ("Completed".into(), self.quantity - self.delivered(1.0))
        } else if self.link.contains("cancel") {
            ("Canceled".into(), self.quantity)
        } else if self.link.contains("partial") {
            ("Partial".into(), self.quantity / 4)
        } else {
            ("Completed".into(), 0)
        }
    }

    /// What a cancel leaves: nothing delivered → canceled with everything left;
    /// a subscription → canceled with what it did not deliver; else partial.
    fn cancel(&mut self, pace: &Pace) {
        let delivered = self.delivered(self.progress(pace));
        self.forced = Some(match (delivered, self.delivery) {
            (0, _) => ("Canceled".into(), self.quantity),
            (_, Delivery::Posts { .. }) => ("Canceled".into(), self.quantity - delivered),
            _ => ("Partial".into(), self.quantity - delivered),
        });
        self.canceled = true;
    }
}

/// A running simulator.
#[derive(Debug, Clone)]
pub struct SmmSim {
    /// The API URL (`POST`).
    pub url: String,
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// The API key it accepts.
    pub key: String,
    state: Shared,
}

fn err(msg: &str) -> Response {
    Json(json!({ "error": msg })).into_response()
}

fn order_status(o: &SimOrder, pace: &Pace, rate: f64) -> Value {
    let (status, remains) = o.status(pace);
    let mut v = json!({
        "charge": format!("{:.5}", rate * o.quantity as f64 / 1000.0),
        "start_count": o.start_count.to_string(),
        "status": status,
        "remains": remains.to_string(),
        "currency": "NGN",
    });
    match (&o.remains_json, v.as_object_mut()) {
        (Some(Value::String(omit)), Some(m)) if omit == "omit" => {
            m.remove("remains");
        }
        (Some(Value::String(null)), Some(m)) if null == "null" => {
            m.insert("remains".into(), Value::Null);
        }
        (Some(raw), Some(m)) => {
            m.insert("remains".into(), raw.clone());
        }
        _ => {}
    }
    v
}

async fn api(State(state): State<Shared>, Form(form): Form<HashMap<String, String>>) -> Response {
    let delay = {
        let Ok(mut s) = state.lock() else {
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        };
        if s.faults.down {
            return (StatusCode::SERVICE_UNAVAILABLE, "down for maintenance").into_response();
        }
        if s.faults.fail_next > 0 {
            s.faults.fail_next -= 1;
            if form.get("action").map(String::as_str) == Some("add") {
                s.add_calls += 1;
            }
            return (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response();
        }
        s.faults.delay_ms
    };
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    let Ok(mut s) = state.lock() else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    if form.get("key") != Some(&s.key) {
        return err("Invalid API key");
    }
    if let Some(msg) = s.faults.error_next.take() {
        return err(&msg);
    }
    let action = form.get("action").map(String::as_str).unwrap_or_default();
    let hostile = match action {
        "add" => s.chaos.pick(&["add_429", "add_500", "add_502_after_create"]),
        "status" => s.chaos.pick(&["status_503"]),
        "refill" | "refill_status" | "cancel" => s.chaos.pick(&["refill_or_cancel_500"]),
        _ => None,
    };
    match hostile {
        Some("add_429") => {
            s.add_calls += 1;
            return (StatusCode::TOO_MANY_REQUESTS, Json(json!({"error": "Too many requests"}))).into_response();
        }
        Some("add_500") => {
            s.add_calls += 1;
            return (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response();
        }
        Some("status_503") => return (StatusCode::SERVICE_UNAVAILABLE, "busy").into_response(),
        Some("refill_or_cancel_500") => return (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response(),
        _ => {}
    }
    let field = |k: &str| form.get(k).map(|v| v.trim().to_string()).unwrap_or_default();
    let pace = s.pace;
    match field("action").as_str() {
        "services" => {
            let list: Vec<Value> = s
                .services
                .iter()
                .map(|x| {
                    json!({"service": x.id, "name": x.name, "type": x.kind, "category": x.category, "rate": x.rate,
                           "min": x.min.to_string(), "max": x.max.to_string(), "refill": x.refill, "cancel": x.cancel,
                           "dripfeed": x.dripfeed})
                })
                .collect();
            Json(Value::Array(list)).into_response()
        }
        "balance" => Json(json!({"balance": "98765432.10", "currency": "NGN"})).into_response(),
        "add" => {
            s.add_calls += 1;
            let Ok(service) = field("service").parse::<u64>() else {
                return err("Incorrect service ID");
            };
            let Some(svc) = s.services.iter().find(|x| x.id == service).cloned() else {
                return err("Incorrect service ID");
            };
            let (quantity, delivery) = match check_order(&svc, &field) {
                Ok(q) => q,
                Err(e) => return err(&e),
            };
            let link = match svc.kind {
                "Subscriptions" => field("username"),
                _ => field("link"),
            };
            s.next_order += 1;
            let id = s.next_order;
            let start_count = (id * 7919) % 5000;
            s.orders.insert(
                id,
                SimOrder {
                    service,
                    link,
                    quantity,
                    delivery,
                    created: Instant::now(),
                    start_count,
                    forced: None,
                    remains_json: None,
                    canceled: false,
                },
            );
            if hostile == Some("add_502_after_create") {
                // Created, but the gateway lost the answer.
                return (StatusCode::BAD_GATEWAY, "Bad Gateway").into_response();
            }
            Json(json!({ "order": id })).into_response()
        }
        "status" => {
            let rate_of = |o: &SimOrder, s: &SimState| {
                s.services.iter().find(|x| x.id == o.service).and_then(|x| x.rate.parse::<f64>().ok()).unwrap_or(0.0)
            };
            if let Some(list) = form.get("orders") {
                let mut out = serde_json::Map::new();
                for id in list.split(',').map(str::trim).filter(|x| !x.is_empty()) {
                    let v = id
                        .parse::<u64>()
                        .ok()
                        .and_then(|n| s.orders.get(&n))
                        .map(|o| order_status(o, &pace, rate_of(o, &s)))
                        .unwrap_or_else(|| json!({"error": "Incorrect order ID"}));
                    out.insert(id.to_string(), v);
                }
                return Json(Value::Object(out)).into_response();
            }
            match field("order").parse::<u64>().ok().and_then(|n| s.orders.get(&n)) {
                Some(o) => Json(order_status(o, &pace, rate_of(o, &s))).into_response(),
                None => err("Incorrect order ID"),
            }
        }
        "refill" => {
            let Some(id) = field("order").parse::<u64>().ok().filter(|n| s.orders.contains_key(n)) else {
                return err("Incorrect order ID");
            };
            s.next_refill += 1;
            let r = s.next_refill;
            s.refills.insert(r, (id, Instant::now()));
            Json(json!({ "refill": r.to_string() })).into_response()
        }
        "refill_status" => match field("refill").parse::<u64>().ok().and_then(|n| s.refills.get(&n)) {
            Some((_, at)) => {
                let st = if at.elapsed() < pace.pending { "Pending" } else { "Completed" };
                Json(json!({ "status": st })).into_response()
            }
            None => err("Refill not found"),
        },
        "cancel" => {
            let ids = form.get("orders").cloned().unwrap_or_else(|| field("order"));
            let mut rows = Vec::new();
            for id in ids.split(',').map(str::trim).filter(|x| !x.is_empty()) {
                let n = id.parse::<u64>().ok();
                let cancellable = n.and_then(|n| s.orders.get(&n)).map(|o| {
                    let (st, _) = o.status(&pace);
                    let svc_ok = s.services.iter().any(|x| x.id == o.service && x.cancel);
                    svc_ok && matches!(st.as_str(), "Pending" | "In progress" | "Active")
                });
                let cancel = match (n, cancellable) {
                    (Some(n), Some(true)) => {
                        if let Some(o) = s.orders.get_mut(&n) {
                            o.cancel(&pace);
                        }
                        json!(1)
                    }
                    (Some(_), Some(false)) => json!({"error": "Order cannot be canceled"}),
                    _ => json!({"error": "Incorrect order ID"}),
                };
                let order = n.map(Value::from).unwrap_or(Value::String(id.to_string()));
                rows.push(json!({ "order": order, "cancel": cancel }));
            }
            Json(Value::Array(rows)).into_response()
        }
        _ => err("Incorrect action"),
    }
}

async fn set_chaos(State(state): State<Shared>, Json(r): Json<super::chaos::ChaosRequest>) -> Response {
    match state.lock() {
        Ok(mut s) => Json(s.chaos.set(&r)).into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

async fn set_faults(State(state): State<Shared>, Json(f): Json<Faults>) -> Response {
    match state.lock() {
        Ok(mut s) => {
            s.faults = f;
            Json(json!({"ok": true})).into_response()
        }
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

#[derive(Deserialize)]
struct Force {
    status: String,
    #[serde(default)]
    remains: u64,
    /// The remains exactly as to send them (any JSON; `"omit"` leaves the field out).
    #[serde(default)]
    remains_json: Option<Value>,
}

async fn force_order(State(state): State<Shared>, Path(id): Path<u64>, Json(f): Json<Force>) -> Response {
    let Ok(mut s) = state.lock() else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    match s.orders.get_mut(&id) {
        Some(o) => {
            o.forced = Some((f.status, f.remains));
            o.remains_json = f.remains_json;
            Json(json!({"ok": true})).into_response()
        }
        None => (StatusCode::NOT_FOUND, Json(json!({"error": "no such order"}))).into_response(),
    }
}

async fn stats(State(state): State<Shared>) -> Response {
    match state.lock() {
        Ok(s) => Json(json!({"add_calls": s.add_calls, "orders": s.orders.len(), "hostile": s.chaos.stats()}))
            .into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

impl SmmSim {
    /// Starts a simulator on a free loopback port, accepting API key `key`.
    pub async fn start(key: &str, pace: Pace) -> Result<SmmSim> {
        let state: Shared = Arc::new(Mutex::new(SimState {
            key: key.to_string(),
            pace,
            services: catalog(),
            orders: HashMap::new(),
            refills: HashMap::new(),
            next_order: 9000,
            next_refill: 0,
            faults: Faults::default(),
            add_calls: 0,
            chaos: Default::default(),
        }));
        let app = Router::new()
            .route("/api/v2", post(api))
            .route("/control/faults", post(set_faults))
            .route("/control/chaos", post(set_chaos))
            .route("/control/orders/{id}", post(force_order))
            .route("/control/stats", get(stats))
            .with_state(state.clone());
        let listener =
            TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await.context("binding the SMM simulator")?;
        let addr = listener.local_addr()?;
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "SMM simulator stopped");
            }
        });
        let base = format!("http://{addr}");
        Ok(SmmSim { url: format!("{base}/api/v2"), base, key: key.to_string(), state })
    }

    /// `add` calls received so far (failed ones included).
    pub fn add_calls(&self) -> u64 {
        self.state.lock().map(|s| s.add_calls).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(delivery: Delivery, quantity: u64, elapsed: Duration) -> SimOrder {
        SimOrder {
            service: 102,
            link: "https://x.ng/p".into(),
            quantity,
            delivery,
            created: Instant::now().checked_sub(elapsed).unwrap_or_else(Instant::now),
            start_count: 0,
            forced: None,
            remains_json: None,
            canceled: false,
        }
    }

    /// Halfway through its processing time, a drip-feed order has delivered its whole
    /// runs so far and a subscription its whole posts; at the end a subscription
    /// completes with what its posts did not use as remains.
    #[test]
    fn drip_feed_runs_and_subscription_posts_are_delivered_over_time() {
        let pace = Pace { pending: Duration::ZERO, processing: Duration::from_secs(1000) };
        let drip = order(Delivery::Drip { runs: 5, per_run: 100 }, 500, Duration::from_secs(500));
        assert_eq!(drip.status(&pace), ("In progress".to_string(), 300), "two of five runs delivered");
        let posts = order(Delivery::Posts { posts: 4, per_post: 80 }, 400, Duration::from_secs(500));
        assert_eq!(posts.status(&pace), ("Active".to_string(), 400 - 2 * 80), "two of four posts");
        let done = order(Delivery::Posts { posts: 4, per_post: 80 }, 400, Duration::from_secs(2000));
        assert_eq!(done.status(&pace), ("Completed".to_string(), 80), "max 100 held per post, 80 used");
        let mut cut = order(Delivery::Drip { runs: 5, per_run: 100 }, 500, Duration::from_secs(500));
        cut.cancel(&pace);
        assert_eq!(cut.status(&pace), ("Partial".to_string(), 300), "a cancel keeps what was delivered");
    }

    #[test]
    fn the_panel_refuses_an_order_missing_a_field_its_type_needs() {
        let svc =
            catalog().into_iter().find(|s| s.kind == "Comment Replies").unwrap_or_else(|| panic!("no such service"));
        let with = |fields: &'static [(&'static str, &'static str)]| {
            let get =
                move |k: &str| fields.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string()).unwrap_or_default();
            check_order(&svc, &get)
        };
        assert_eq!(
            with(&[("link", "https://x.ng/p"), ("username", "ada")]).err().as_deref(),
            Some("Field comments is required")
        );
        assert_eq!(
            with(&[("link", "https://x.ng/p"), ("username", "ada"), ("comments", "a\nb\n\n")]).map(|(units, _)| units),
            Ok(2)
        );
    }
}
