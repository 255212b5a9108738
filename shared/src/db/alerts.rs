//! Operator alerts in the table: one item per subject (a thing and its kind of trouble) under one partition, listed by
//! `kobo alerts` and removed when the operator has settled them.

use super::item::{Key, Reader, Record, Writer};
use super::keys;
use super::table::Query;
use super::Store;
use crate::domain::alert::Alert;
use crate::error::StoreError;

impl Record for Alert {
    const TYPE: &'static str = "alert";
    fn key(&self) -> Key {
        Key::new(keys::ALERT_PK, &self.subject)
    }
    fn write(&self, w: Writer) -> Writer {
        w.s("account_id", &self.account_id)
            .s("reason", &self.reason)
            .s("command", &self.command)
            .s("created_at", &self.created_at)
    }
    fn read(r: &Reader<'_>) -> Result<Alert, StoreError> {
        Ok(Alert {
            subject: r.s("SK")?,
            account_id: r.s("account_id")?,
            reason: r.s("reason")?,
            command: r.s("command")?,
            created_at: r.s("created_at")?,
        })
    }
}

impl Store {
    /// Raises `alert` unless one is open for its subject; whether it is new. A new one is
    /// logged as an error too, so it reaches the operator's log alarms.
    pub async fn raise_alert(&self, alert: &Alert) -> Result<bool, StoreError> {
        let new = self.put_if_absent(alert.to_item()).await?;
        if new {
            tracing::error!(subject = %alert.subject, account = %alert.account_id, reason = %alert.reason, command = %alert.command, "operator alert");
        }
        Ok(new)
    }

    /// Every open alert, by subject.
    pub async fn alerts(&self) -> Result<Vec<Alert>, StoreError> {
        self.query_records(&Query::partition(keys::ALERT_PK)).await
    }

    /// Closes the alert on `subject`; whether one was open.
    pub async fn resolve_alert(&self, subject: &str) -> Result<bool, StoreError> {
        self.take(&Key::new(keys::ALERT_PK, subject)).await
    }
}
