//! Idempotency records in the table: written in the same transaction as the spend, so two
//! racing retries cannot both spend.

use super::item::{Key, Reader, Record, Writer};
use super::keys;
use super::Store;
use crate::domain::idempotency::{IdemRecord, IDEM_TTL_SECS};
use crate::domain::time::now_unix;
use crate::error::StoreError;

/// The key of an idempotency record (read in the authentication wave too).
pub fn idem_key(account_id: &str, key_hash: &str) -> Key {
    Key::new(keys::account_pk(account_id), keys::idem_sk(key_hash))
}

impl Record for IdemRecord {
    const TYPE: &'static str = "idempotency";
    fn key(&self) -> Key {
        idem_key(&self.account_id, &self.key_hash)
    }
    fn write(&self, w: Writer) -> Writer {
        w.s("request_hash", &self.request_hash)
            .n("status", self.status)
            .s("body", &self.body)
            .n("expires_at", now_unix() + IDEM_TTL_SECS)
    }
    fn read(r: &Reader<'_>) -> Result<IdemRecord, StoreError> {
        let pk = r.s("PK")?;
        let sk = r.s("SK")?;
        Ok(IdemRecord {
            account_id: pk.strip_prefix("ACCOUNT#").unwrap_or(&pk).to_string(),
            key_hash: sk.strip_prefix("IDEM#").unwrap_or(&sk).to_string(),
            request_hash: r.s("request_hash")?,
            status: u16::try_from(r.i64("status")?).unwrap_or(200),
            body: r.s("body")?,
        })
    }
}

impl Store {
    /// The record of a key, if it is remembered (strongly consistent; an expired record
    /// the TTL sweeper has not removed yet counts as gone).
    pub async fn get_idem(&self, account_id: &str, key_hash: &str) -> Result<Option<IdemRecord>, StoreError> {
        let Some(item) = self.get_item(&idem_key(account_id, key_hash), true).await? else {
            return Ok(None);
        };
        live_record(&item, now_unix())
    }
}

/// Whether `item` is an idempotency record.
pub fn is_record(item: &super::item::Item) -> bool {
    item.get("type").and_then(|t| t.as_s().ok()).map(String::as_str) == Some(IdemRecord::TYPE)
}

/// The record an item holds, unless it expired by `now` (the TTL sweeper may not have
/// removed it yet).
pub fn live_record(item: &super::item::Item, now: i64) -> Result<Option<IdemRecord>, StoreError> {
    if Reader::new(item).opt_i64("expires_at")?.is_some_and(|t| t < now) {
        return Ok(None);
    }
    IdemRecord::from_item(item).map(Some)
}
