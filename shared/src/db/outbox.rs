//! Outbox events in the table: written inside the business transaction they describe.

use super::item::{Key, Reader, Record, Writer};
use super::keys;
use super::tx::Tx;
use crate::domain::event::{EventType, OutboxEvent, OUTBOX_TTL_SECS};
use crate::domain::time::now_unix;
use crate::error::StoreError;

impl Record for OutboxEvent {
    const TYPE: &'static str = "outbox";
    fn key(&self) -> Key {
        Key::new(keys::event_pk(&self.id), keys::EVENT_SK)
    }
    fn write(&self, w: Writer) -> Writer {
        w.s("event_id", &self.id)
            .s("account_id", &self.account_id)
            .s("event", self.event.as_str())
            .s("occurred_at", &self.occurred_at)
            .s("payload", self.payload.to_string())
            .n("expires_at", now_unix() + OUTBOX_TTL_SECS)
    }
    fn read(r: &Reader<'_>) -> Result<OutboxEvent, StoreError> {
        Ok(OutboxEvent {
            id: r.s("event_id")?,
            account_id: r.s("account_id")?,
            event: r.word("event", crate::domain::webhook::parse_event)?,
            occurred_at: r.s("occurred_at")?,
            payload: r.json("payload", serde_json::Value::Null)?,
        })
    }
}

impl<'a> Tx<'a> {
    /// Writes event `event` for `account_id` carrying `object` under `name`, in this
    /// transaction (named `event`).
    pub fn event(
        self,
        account_id: &str,
        event: EventType,
        name: &str,
        object: serde_json::Value,
    ) -> Result<Tx<'a>, StoreError> {
        self.put_new("event", OutboxEvent::new(account_id, event, name, object).to_item())
    }
}
