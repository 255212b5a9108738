//! SMS notices through Hubtel, under the shared [`Throttle`]: a caller never fails because
//! of Hubtel's limit — it waits for a slot, or hands the message back to be sent later.
//!
//! Notices (deposit credited, withdrawal paid, low balance) are queued as items in the
//! table, in or right after the transaction that causes them, for accounts that turned
//! them on; the reconciler drains the queue through the throttle.

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

/// An account's SMS notice settings.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct NoticeSettings {
    /// E.164 phone to notify; `None` = notices off.
    pub phone: Option<String>,
    /// Notify when a spend takes the balance below this.
    pub low_balance: Option<crate::Kobo>,
}

impl crate::Store {
    /// Turns notices on (phone) or off (`None`), with an optional low-balance threshold.
    pub async fn set_notices(&self, account_id: &str, n: &NoticeSettings) -> Result<(), crate::StoreError> {
        let mut req = self
            .client()
            .update_item()
            .table_name(self.table())
            .set_key(Some(crate::store::key(crate::keys::account_pk(account_id), crate::keys::ACCOUNT_SK)))
            .condition_expression("attribute_exists(PK)");
        let mut set = Vec::new();
        let mut remove = Vec::new();
        match &n.phone {
            Some(p) => {
                set.push("notice_phone = :p");
                req = req.expression_attribute_values(":p", crate::item::s(p));
            }
            None => remove.push("notice_phone"),
        }
        match n.low_balance {
            Some(k) => {
                set.push("low_balance_alert = :l");
                req = req.expression_attribute_values(":l", crate::item::n(k.0));
            }
            None => remove.push("low_balance_alert"),
        }
        let mut expr = String::new();
        if !set.is_empty() {
            expr.push_str(&format!("SET {}", set.join(", ")));
        }
        if !remove.is_empty() {
            expr.push_str(&format!(" REMOVE {}", remove.join(", ")));
        }
        req.update_expression(expr.trim()).send().await.map_err(crate::store::sdk_err)?;
        Ok(())
    }

    /// An account's notice settings.
    pub async fn notices(&self, account_id: &str) -> Result<NoticeSettings, crate::StoreError> {
        let out = self
            .client()
            .get_item()
            .table_name(self.table())
            .set_key(Some(crate::store::key(crate::keys::account_pk(account_id), crate::keys::ACCOUNT_SK)))
            .projection_expression("notice_phone, low_balance_alert")
            .send()
            .await
            .map_err(crate::store::sdk_err)?;
        let item = out.item.unwrap_or_default();
        let r = crate::item::Reader::new(&item);
        Ok(NoticeSettings {
            phone: r.opt_s("notice_phone")?,
            low_balance: r.opt_i64("low_balance_alert")?.map(crate::Kobo),
        })
    }

    /// Queues an SMS notice.
    pub async fn queue_sms(&self, account_id: &str, sms: &Sms) -> Result<(), crate::StoreError> {
        self.client()
            .put_item()
            .table_name(self.table())
            .set_item(Some(sms_item(account_id, sms)))
            .send()
            .await
            .map_err(crate::store::sdk_err)?;
        Ok(())
    }
}

/// The queue item of an SMS notice (expires after two days if never sent).
pub fn sms_item(account_id: &str, sms: &Sms) -> crate::item::Item {
    use crate::item::{n, s};
    std::collections::HashMap::from([
        ("PK".to_string(), s(crate::keys::SMS_QUEUE_PK)),
        ("SK".to_string(), s(uuid::Uuid::now_v7().to_string())),
        ("type".to_string(), s("sms")),
        ("account_id".to_string(), s(account_id)),
        ("to".to_string(), s(&sms.to)),
        ("content".to_string(), s(&sms.content)),
        ("expires_at".to_string(), n(crate::model::now_unix() + 2 * 24 * 3600)),
    ])
}

/// Sends queued notices, oldest first, while the throttle has slots (waiting at most
/// `max_wait` for each). A notice is taken off the queue before it is sent, so two
/// drains never send it twice; one Hubtel did not accept goes back on the queue.
/// Returns how many were sent.
pub async fn drain(
    store: &crate::Store,
    throttle: &Throttle,
    hubtel: &HubtelClient,
    sender_id: &str,
    max: i32,
    max_wait: Duration,
) -> Result<usize, crate::StoreError> {
    let out = store
        .client()
        .query()
        .table_name(store.table())
        .key_condition_expression("PK = :pk")
        .expression_attribute_values(":pk", crate::item::s(crate::keys::SMS_QUEUE_PK))
        .limit(max)
        .send()
        .await
        .map_err(crate::store::sdk_err)?;
    let mut sent = 0;
    for item in out.items() {
        let r = crate::item::Reader::new(item);
        let (Ok(sk), Ok(account), Ok(to), Ok(content)) = (r.s("SK"), r.s("account_id"), r.s("to"), r.s("content"))
        else {
            continue;
        };
        if !throttle.acquire(max_wait).await? {
            break;
        }
        let taken = store
            .client()
            .delete_item()
            .table_name(store.table())
            .set_key(Some(crate::store::key(crate::keys::SMS_QUEUE_PK.into(), &sk)))
            .condition_expression("attribute_exists(PK)")
            .send()
            .await;
        if taken.is_err() {
            continue; // another drain took it
        }
        let sms = Sms { to, content };
        match hubtel.send_sms(sender_id, &sms.to, &sms.content).await {
            Ok(_) => sent += 1,
            Err(UpstreamError::Rejected(e)) => tracing::warn!(error = %e, "Hubtel refused an SMS notice; dropped"),
            Err(e) => {
                tracing::warn!(error = %e, "SMS notice not sent; queued again");
                store.queue_sms(&account, &sms).await?;
            }
        }
    }
    Ok(sent)
}

/// Queues a notice for `account_id` if it turned notices on.
pub async fn notify(store: &crate::Store, account_id: &str, content: String) -> Result<(), crate::StoreError> {
    if let Some(phone) = store.notices(account_id).await?.phone {
        store.queue_sms(account_id, &Sms { to: phone, content }).await?;
    }
    Ok(())
}
