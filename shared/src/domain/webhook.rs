//! Webhook endpoints, deliveries and attempts.

use serde::Serialize;

use super::event::EventType;

/// Every event an endpoint can subscribe to (the seed's nine).
pub const ALL_EVENTS: [EventType; 9] = [
    EventType::VtuStatusChanged,
    EventType::VtuProcessing,
    EventType::VtuSuccess,
    EventType::VtuFailed,
    EventType::OrderCreated,
    EventType::OrderStatusChanged,
    EventType::OrderRefunded,
    EventType::DepositSuccess,
    EventType::WithdrawApproved,
];

/// Parses an event name.
pub fn parse_event(name: &str) -> Option<EventType> {
    ALL_EVENTS.into_iter().find(|e| e.as_str() == name.trim())
}

/// Parses a comma-separated event list; `all` or `*` means all nine.
pub fn parse_events(list: &str) -> Result<Vec<EventType>, String> {
    let mut out = Vec::new();
    for w in list.split([',', ' ']).map(str::trim).filter(|w| !w.is_empty()) {
        if w == "all" || w == "*" {
            return Ok(ALL_EVENTS.to_vec());
        }
        let e = parse_event(w).ok_or_else(|| format!("unknown event {w:?}"))?;
        if !out.contains(&e) {
            out.push(e);
        }
    }
    if out.is_empty() {
        return Err("subscribe to at least one event".into());
    }
    Ok(out)
}

/// A webhook endpoint of an account. The secret is stored sealed, never in clear.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Endpoint {
    /// Owner.
    pub account_id: String,
    /// Random id.
    pub id: String,
    /// Where deliveries go.
    pub url: String,
    /// Subscribed events.
    pub events: Vec<EventType>,
    /// Whether deliveries are made.
    pub active: bool,
    /// Why it was disabled, if it was (e.g. the receiver answered 410).
    pub disabled_reason: Option<String>,
    /// The current secret, sealed by the vault.
    #[serde(skip)]
    pub secret_sealed: String,
    /// The previous secret during a rotation's grace period, sealed.
    #[serde(skip)]
    pub old_secret_sealed: Option<String>,
    /// Unix time the grace period ends.
    pub old_secret_until: Option<i64>,
    /// RFC 3339 creation time.
    pub created_at: String,
}

impl Endpoint {
    /// The vault context binding a sealed secret to this endpoint.
    pub fn vault_context(&self) -> String {
        format!("{}/{}", self.account_id, self.id)
    }

    /// Whether it should receive `event`.
    pub fn wants(&self, event: EventType) -> bool {
        self.active && self.events.contains(&event)
    }
}

/// State of one delivery (one event to one endpoint).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Waiting for its next attempt.
    Pending,
    /// An attempt is in progress (claimed until a deadline).
    Sending,
    /// A 2xx was received.
    Delivered,
    /// Every attempt failed (kept for manual redelivery).
    Failed,
}

impl DeliveryState {
    /// The stored word.
    pub const fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Sending => "sending",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Failed => "failed",
        }
    }

    /// Parses the stored word.
    pub fn parse(s: &str) -> Option<DeliveryState> {
        [DeliveryState::Pending, DeliveryState::Sending, DeliveryState::Delivered, DeliveryState::Failed]
            .into_iter()
            .find(|x| x.as_str() == s)
    }
}

/// One event to one endpoint, with its exact payload bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Delivery {
    /// Owner.
    pub account_id: String,
    /// `<event id>#<endpoint id>` (plus `#r<n>` for a manual redelivery).
    pub id: String,
    /// The endpoint.
    pub endpoint_id: String,
    /// The event id: the stable `webhook-id`.
    pub event_id: String,
    /// The event name.
    pub event: String,
    /// The exact JSON sent.
    pub payload: String,
    /// State.
    pub state: DeliveryState,
    /// Attempts made.
    pub attempts: u32,
    /// RFC 3339 creation time.
    pub created_at: String,
}

/// One logged attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Attempt {
    /// RFC 3339 with microseconds.
    pub at: String,
    /// Delivery id.
    pub delivery_id: String,
    /// Event name.
    pub event: String,
    /// HTTP status, if an answer came.
    pub status: Option<u16>,
    /// Network or policy error, if no answer came.
    pub error: Option<String>,
    /// Milliseconds from send to answer (or failure).
    pub duration_ms: u64,
    /// Whether it counted as delivered.
    pub success: bool,
    /// Attempt number (1 to 4).
    pub attempt: u32,
    /// When the next attempt is due (unix s), when one is queued.
    pub next_retry_at: Option<i64>,
    /// The signed headers sent (`name: value`).
    pub headers: Vec<String>,
    /// The first 1 KB of the receiver's answer.
    pub response: Option<String>,
}

/// A sample payload of an event, for test deliveries.
pub fn sample_payload(event: EventType) -> serde_json::Value {
    let now = crate::domain::time::now_rfc3339();
    let (name, object) = match event {
        EventType::OrderCreated | EventType::OrderStatusChanged | EventType::OrderRefunded => (
            "order",
            serde_json::json!({"id": 1, "service": 101, "link": "https://instagram.com/p/sample", "quantity": 1000,
                "charge": "1500.00", "refunded": "0.00", "start_count": 0, "remains": 1000, "status": "pending",
                "status_code": 0, "currency": "NGN", "created_at": now, "updated_at": now}),
        ),
        EventType::DepositSuccess => (
            "deposit",
            serde_json::json!({"id": "dep_sample", "amount": "5000.00", "currency": "NGN", "status": "success", "created_at": now}),
        ),
        EventType::WithdrawApproved => (
            "withdrawal",
            serde_json::json!({"id": "wdr_sample", "amount": "5000.00", "currency": "NGN", "status": "approved", "created_at": now}),
        ),
        _ => (
            "vtu",
            serde_json::json!({"id": 1, "trx": "TRX_SAMPLE", "category": "data", "service_name": "mtn-data",
                "phone": "08012345678", "amount": 123.45, "base_amount": 120.00, "profit_amount": 3.45,
                "provider": "third_party", "provider_ref": "ABC123", "status": "success", "meta": {},
                "created_at": now, "updated_at": now}),
        ),
    };
    serde_json::json!({ "event": event.as_str(), "occurred_at": now, "test": true, name: object })
}

/// How long attempt logs are kept (seconds).
pub const ATTEMPT_TTL_SECS: i64 = 30 * 24 * 3600;

/// How an attempt ended, for the delivery record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptEnd {
    /// 2xx.
    Delivered,
    /// Failed; another attempt is scheduled.
    Retry,
    /// Failed; no attempts left.
    Failed,
}
