//! Outbox events: written in the same transaction as the business change they describe;
//! the table's stream carries them to `relay`, which fans them out to webhook endpoints.

use serde::Serialize;

/// How long an outbox item stays in the table after it was written (seconds).
pub const OUTBOX_TTL_SECS: i64 = 7 * 24 * 3600;

/// The seed's nine events.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum EventType {
    /// `vtu.status_changed`
    #[serde(rename = "vtu.status_changed")]
    VtuStatusChanged,
    /// `vtu.processing`
    #[serde(rename = "vtu.processing")]
    VtuProcessing,
    /// `vtu.success`
    #[serde(rename = "vtu.success")]
    VtuSuccess,
    /// `vtu.failed`
    #[serde(rename = "vtu.failed")]
    VtuFailed,
    /// `order.created`
    #[serde(rename = "order.created")]
    OrderCreated,
    /// `order.status_changed`
    #[serde(rename = "order.status_changed")]
    OrderStatusChanged,
    /// `order.refunded`
    #[serde(rename = "order.refunded")]
    OrderRefunded,
    /// `deposit.success`
    #[serde(rename = "deposit.success")]
    DepositSuccess,
    /// `withdraw.approved`
    #[serde(rename = "withdraw.approved")]
    WithdrawApproved,
}

impl EventType {
    /// The wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            EventType::VtuStatusChanged => "vtu.status_changed",
            EventType::VtuProcessing => "vtu.processing",
            EventType::VtuSuccess => "vtu.success",
            EventType::VtuFailed => "vtu.failed",
            EventType::OrderCreated => "order.created",
            EventType::OrderStatusChanged => "order.status_changed",
            EventType::OrderRefunded => "order.refunded",
            EventType::DepositSuccess => "deposit.success",
            EventType::WithdrawApproved => "withdraw.approved",
        }
    }
}

/// One event for one account: `{"event", "occurred_at", "<object>": {...}}`.
#[derive(Clone, Debug)]
pub struct OutboxEvent {
    /// UUID v7; becomes the stable `webhook-id`.
    pub id: String,
    /// Whose endpoints receive it.
    pub account_id: String,
    /// Which event.
    pub event: EventType,
    /// RFC 3339.
    pub occurred_at: String,
    /// The full payload, exactly as it will be sent.
    pub payload: serde_json::Value,
}

impl OutboxEvent {
    /// Builds an event whose payload carries `object` under `name` (`order`, `vtu`, ...).
    pub fn new(account_id: &str, event: EventType, name: &str, object: serde_json::Value) -> OutboxEvent {
        let occurred_at = crate::domain::time::now_rfc3339();
        let payload = serde_json::json!({ "event": event.as_str(), "occurred_at": occurred_at, name: object });
        OutboxEvent {
            id: uuid::Uuid::now_v7().to_string(),
            account_id: account_id.to_string(),
            event,
            occurred_at,
            payload,
        }
    }
}
