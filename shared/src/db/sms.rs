//! The SMS notice queue in the table: oldest first, taken off by a conditional delete
//! before sending, so two drains never send one notice twice.

use super::item::{Key, Reader, Record, Writer};
use super::keys;
use super::queue_slots::QueueKind;
use super::table::Query;
use super::Store;
use crate::domain::sms::{QueuedSms, Sms};
use crate::domain::time::now_unix;
use crate::error::StoreError;

impl Record for QueuedSms {
    const TYPE: &'static str = "sms";
    fn key(&self) -> Key {
        Key::new(keys::SMS_QUEUE_PK, &self.id)
    }
    fn write(&self, w: Writer) -> Writer {
        w.s("account_id", &self.account_id)
            .s("to", &self.sms.to)
            .s("content", &self.sms.content)
            .n("expires_at", self.expires_at)
    }
    fn read(r: &Reader<'_>) -> Result<QueuedSms, StoreError> {
        Ok(QueuedSms {
            id: r.s("SK")?,
            account_id: r.s("account_id")?,
            sms: Sms { to: r.s("to")?, content: r.s("content")? },
            expires_at: r.opt_i64("expires_at")?.unwrap_or(0),
        })
    }
}

impl Store {
    /// Queues an SMS notice within the account's cap of waiting notices; `false` when the
    /// cap is reached and the notice is dropped.
    pub async fn queue_sms(&self, account_id: &str, sms: &Sms) -> Result<bool, StoreError> {
        let queued = QueuedSms::new(account_id, sms.clone());
        if !self.take_queue_slot(account_id, QueueKind::Notice, &queued.id, queued.expires_at, now_unix()).await? {
            tracing::warn!("an account's SMS notice queue is full; notice dropped");
            return Ok(false);
        }
        self.put(queued.to_item()).await?;
        Ok(true)
    }

    /// Puts a notice taken off the queue back (Hubtel did not take it), keeping its slot.
    pub async fn requeue_sms(&self, queued: &QueuedSms) -> Result<(), StoreError> {
        self.put(queued.to_item()).await
    }

    /// Up to `max` queued notices, oldest first; unreadable items are skipped.
    pub async fn queued_sms(&self, max: usize) -> Result<Vec<QueuedSms>, StoreError> {
        let items = self.query(&Query::partition(keys::SMS_QUEUE_PK).limit(max)).await?;
        Ok(items.iter().filter_map(|i| QueuedSms::from_item(i).ok()).collect())
    }

    /// Takes a queued notice off the queue; `false` when another drain took it first.
    pub async fn take_sms(&self, queued: &QueuedSms) -> Result<bool, StoreError> {
        self.take(&queued.key()).await
    }
}
