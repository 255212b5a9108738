//! SMS notices: what is sent, and a queued notice.

use serde::{Deserialize, Serialize};

/// How long a queued notice waits to be sent before it expires (seconds).
pub const SMS_TTL_SECS: i64 = 2 * 24 * 3600;

/// One SMS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sms {
    /// E.164 recipient.
    pub to: String,
    /// Text.
    pub content: String,
}

/// A notice waiting in the queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedSms {
    /// UUID v7: queue order is time order.
    pub id: String,
    /// Whose notice it is.
    pub account_id: String,
    /// The message.
    pub sms: Sms,
    /// Unix time after which it is dropped unsent.
    pub expires_at: i64,
}

impl QueuedSms {
    /// A new queue entry.
    pub fn new(account_id: &str, sms: Sms) -> QueuedSms {
        QueuedSms {
            id: uuid::Uuid::now_v7().to_string(),
            account_id: account_id.to_string(),
            sms,
            expires_at: crate::domain::time::now_unix() + SMS_TTL_SECS,
        }
    }
}
