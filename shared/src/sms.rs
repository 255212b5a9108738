//! SMS notices through Hubtel, under the shared [`Throttle`]: a caller never fails because
//! of Hubtel's limit — it waits for a slot, or hands the message back to be sent later.

use std::time::Duration;

use crate::hubtel_throttle::Throttle;
use crate::upstream::hubtel::HubtelClient;
use crate::upstream::UpstreamError;

/// One SMS.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Sms {
    /// E.164 recipient.
    pub to: String,
    /// Text.
    pub content: String,
}

/// What became of an SMS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sent {
    /// Hubtel accepted it (its message id).
    Accepted(String),
    /// No slot within the wait: try again later (nothing was sent).
    Deferred,
}

/// Sends `sms` as `sender_id` once a throttle slot is free, waiting at most `max_wait`.
/// A 429 from Hubtel (its window and ours disagree) is a deferral, not a failure.
pub async fn send(
    throttle: &Throttle,
    hubtel: &HubtelClient,
    sender_id: &str,
    sms: &Sms,
    max_wait: Duration,
) -> Result<Sent, UpstreamError> {
    let got = throttle.acquire(max_wait).await.map_err(|e| UpstreamError::NotSent(e.to_string()))?;
    if !got {
        return Ok(Sent::Deferred);
    }
    match hubtel.send_sms(sender_id, &sms.to, &sms.content).await {
        Ok(id) => Ok(Sent::Accepted(id)),
        Err(UpstreamError::NotSent(m)) if m.contains("429") => Ok(Sent::Deferred),
        Err(e) => Err(e),
    }
}
