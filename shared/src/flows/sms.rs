//! SMS notices through Hubtel, under the shared [`Throttle`]: a caller never fails because
//! of Hubtel's limit — it waits for a slot, or hands the message back to be sent later.
//!
//! Notices (deposit credited, withdrawal paid, low balance) are queued as items in the
//! table, in or right after the transaction that causes them, for accounts that turned
//! them on; the reconciler drains the queue through the throttle.

use std::time::Duration;

use crate::db::queue_slots::QueueKind;
use crate::db::throttle::{Slot, Throttle};
use crate::db::Store;
use crate::domain::sms::Sms;
use crate::error::StoreError;
use crate::upstream::{HubtelApi, UpstreamError};

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
    hubtel: &impl HubtelApi,
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

/// Sends up to `max` queued notices while the throttle has slots, accounts in turn (each
/// within its share of the window), dropping expired ones. A notice is taken off the queue before
/// it is sent, so two drains never send it twice; one Hubtel did not take goes back on
/// the queue (and the others go on), one it refused is dropped. Returns how many were
/// sent.
pub async fn drain(
    store: &Store,
    throttle: &Throttle,
    hubtel: &impl HubtelApi,
    sender_id: &str,
    max: usize,
) -> Result<usize, StoreError> {
    let mut sent = 0;
    let now = crate::domain::time::now_unix();
    let queued = store.queued_sms(max.max(100)).await?;
    for queued in crate::flows::fair::round_robin(queued, |q| q.account_id.as_str()) {
        if queued.expires_at <= now {
            if let Err(e) = drop_expired(store, &queued).await {
                tracing::warn!(error = %e, "expired notice not dropped; the others go on");
            }
            continue;
        }
        if sent >= max {
            break;
        }
        // Accounts in turn, each within its share of Hubtel's window.
        match throttle.take_now_for(&queued.account_id).await? {
            Slot::Taken => {}
            Slot::ShareUsed => continue,
            Slot::Full => break,
        }
        if !store.take_sms(&queued).await? {
            continue; // another drain took it
        }
        match hubtel.send_sms(sender_id, &queued.sms.to, &queued.sms.content).await {
            Ok(_) => sent += 1,
            Err(UpstreamError::Rejected(e)) => tracing::warn!(error = %e, "Hubtel refused an SMS notice; dropped"),
            Err(e) => {
                tracing::warn!(error = %e, "SMS notice not sent; queued again");
                store.requeue_sms(&queued).await?;
                continue;
            }
        }
        if let Err(e) = store.free_queue_slot(&queued.account_id, QueueKind::Notice, &queued.id).await {
            tracing::warn!(error = %e, "notice queue slot not freed; it frees itself at expiry");
        }
    }
    Ok(sent)
}

async fn drop_expired(store: &Store, queued: &crate::domain::sms::QueuedSms) -> Result<(), StoreError> {
    if store.take_sms(queued).await? {
        store.free_queue_slot(&queued.account_id, QueueKind::Notice, &queued.id).await?;
    }
    Ok(())
}

/// Queues a notice for `account_id` if it turned notices on.
pub async fn notify(store: &Store, account_id: &str, content: String) -> Result<(), StoreError> {
    if let Some(phone) = store.notices(account_id).await?.phone {
        store.queue_sms(account_id, &Sms { to: phone, content }).await?;
    }
    Ok(())
}
