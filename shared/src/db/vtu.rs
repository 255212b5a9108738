//! VTU transactions in the table.

use super::item::{n, s, Item, Key, Reader, Record, Writer};
use super::keys;
use super::table::{Change, Query};
use super::Store;
use crate::domain::vtu::{reversal_check_due, VtuStatus, VtuTx};
use crate::error::StoreError;

/// The key of a VTU transaction.
pub fn vtu_key(account_id: &str, trx: &str) -> Key {
    Key::new(keys::account_pk(account_id), keys::vtu_sk(trx))
}

fn cards_json(tx: &VtuTx) -> String {
    serde_json::to_string(&tx.cards).unwrap_or_else(|_| "[]".into())
}

impl Record for VtuTx {
    const TYPE: &'static str = "vtu";
    fn key(&self) -> Key {
        vtu_key(&self.account_id, &self.trx)
    }
    fn gsi1(&self) -> Option<(String, String)> {
        (self.status == VtuStatus::Processing)
            .then(|| (keys::VTU_PROCESSING_GSI1PK.into(), format!("{}#{}", self.created_at, self.trx)))
    }
    fn write(&self, w: Writer) -> Writer {
        w.n("vtu_id", self.id)
            .s("trx", &self.trx)
            .s("account_id", &self.account_id)
            .s("category", self.category.as_str())
            .s("service_name", &self.service_name)
            .s("phone", &self.phone)
            .kobo("amount", self.amount)
            .kobo("base_amount", self.base_amount)
            .kobo("profit_amount", self.profit_amount)
            .kobo("face_value", self.face_value)
            .s("status", self.status.as_str())
            .s("meta", self.meta.to_string())
            .s("cards", cards_json(self))
            .s("request", self.request.to_string())
            .s("created_at", &self.created_at)
            .s("updated_at", &self.updated_at)
            .opt_s("provider_ref", self.provider_ref.as_ref())
            .opt_s("message", self.message.as_ref())
    }
    fn read(r: &Reader<'_>) -> Result<VtuTx, StoreError> {
        Ok(VtuTx {
            id: r.u64("vtu_id")?,
            trx: r.s("trx")?,
            account_id: r.s("account_id")?,
            category: r.word("category", |c| c.parse().ok())?,
            service_name: r.s("service_name")?,
            phone: r.s("phone")?,
            amount: r.kobo("amount")?,
            base_amount: r.kobo("base_amount")?,
            profit_amount: r.kobo("profit_amount")?,
            face_value: r.kobo("face_value")?,
            status: r.word("status", VtuStatus::parse)?,
            provider_ref: r.opt_s("provider_ref")?,
            message: r.opt_s("message")?,
            meta: r.json("meta", serde_json::json!({}))?,
            cards: r.json("cards", Vec::new())?,
            request: r.json("request", serde_json::json!({}))?,
            created_at: r.s("created_at")?,
            updated_at: r.s("updated_at")?,
        })
    }
}

/// The change that settles a processing transaction as `after` at `now` (unix seconds),
/// only while it is still processing. A delivered one enters the reversal watch.
pub fn settle_change(after: &VtuTx, now: i64) -> Change {
    let change = Change::new()
        .set("status", s(after.status.as_str()))
        .set("updated_at", s(&after.updated_at))
        .set("message", s(after.message.clone().unwrap_or_default()))
        .set("meta", s(after.meta.to_string()))
        .set("cards", s(cards_json(after)))
        .set("provider_ref", s(after.provider_ref.clone().unwrap_or_default()))
        .if_eq("status", s(VtuStatus::Processing.as_str()));
    match (after.status, reversal_check_due(now, 0)) {
        (VtuStatus::Success, Some(due)) => change
            .set("settled_at", n(now))
            .set("reversal_checks", n(0))
            .enter_gsi1(keys::VTU_WATCH_GSI1PK, keys::vtu_watch_gsi1sk(due, &after.trx)),
        _ => change.leave_gsi1(),
    }
}

/// The change that fails a delivered transaction the provider reversed, only while it is
/// still a success (so the refund beside it happens once).
pub fn reverse_change(after: &VtuTx) -> Change {
    Change::new()
        .set("status", s(after.status.as_str()))
        .set("updated_at", s(&after.updated_at))
        .set("message", s(after.message.clone().unwrap_or_default()))
        .set("meta", s(after.meta.to_string()))
        .leave_gsi1()
        .if_eq("status", s(VtuStatus::Success.as_str()))
}

/// A delivered transaction in the reversal watch.
#[derive(Debug, Clone)]
pub struct Watched {
    /// The transaction.
    pub tx: VtuTx,
    /// When it was settled as delivered (unix seconds).
    pub settled_at: i64,
    /// Checks made so far.
    pub checks: usize,
}

/// A pointer from a purchase's idempotency key to its transaction.
fn request_key(account_id: &str, key_hash: &str) -> Key {
    Key::new(keys::account_pk(account_id), keys::vtu_request_sk(key_hash))
}

/// The pointer item from `key_hash` (a purchase's `request_id`) to `trx`: written with
/// the purchase, replaced when a key is used again after its idempotency record expired.
pub fn request_pointer(account_id: &str, key_hash: &str, trx: &str) -> Item {
    Writer(request_key(account_id, key_hash).item()).s("type", "vtu_request").s("trx", trx).0
}

/// The pointer from `trx` to its account, written with the purchase.
pub fn trx_pointer(account_id: &str, trx: &str) -> Item {
    Writer(Key::new(keys::vtu_trx_pk(trx), "VTU").item()).s("type", "vtu_trx").s("account_id", account_id).0
}

/// The key of a verified exam profile (read in the authentication wave too).
pub fn profile_key(account_id: &str, exam: &str, profile_id: &str) -> Key {
    Key::new(keys::account_pk(account_id), keys::profile_sk(exam, profile_id))
}

/// How long a verified exam profile may be bought for.
pub const PROFILE_TTL_SECS: i64 = 24 * 3600;

impl Store {
    /// The account of purchase `trx` (from the pointer written with it; `None` for a trx
    /// kobo never made, or one made before pointers were written).
    pub async fn vtu_account_of(&self, trx: &str) -> Result<Option<String>, StoreError> {
        let item = self.get_item(&Key::new(keys::vtu_trx_pk(trx), "VTU"), true).await?;
        Ok(item.as_ref().and_then(|i| i.get("account_id")).and_then(|v| v.as_s().ok()).cloned())
    }

    /// Records that a processing purchase now goes to another provider (`to`, its stored
    /// request), only while it still names the one it left (`from`) and is processing:
    /// written before it is sent there. `false` when another writer moved it first.
    pub async fn move_vtu_provider(&self, tx: &VtuTx, from: &str, to: &str) -> Result<bool, StoreError> {
        let change = Change::new()
            .set("request", s(to))
            .if_eq("request", s(from))
            .if_eq("status", s(VtuStatus::Processing.as_str()));
        self.transition(&vtu_key(&tx.account_id, &tx.trx), change).await
    }

    /// One transaction of an account.
    pub async fn get_vtu(&self, account_id: &str, trx: &str) -> Result<Option<VtuTx>, StoreError> {
        self.get(&vtu_key(account_id, trx)).await
    }

    /// The trx a purchase made with idempotency key hash `key_hash` got, if any.
    pub async fn vtu_trx_by_request(&self, account_id: &str, key_hash: &str) -> Result<Option<String>, StoreError> {
        match self.get_item(&request_key(account_id, key_hash), true).await? {
            Some(item) => Ok(Some(Reader::new(&item).s("trx")?)),
            None => Ok(None),
        }
    }

    /// Every transaction still processing, oldest first (sparse GSI1, all pages).
    pub async fn processing_vtu(&self) -> Result<Vec<VtuTx>, StoreError> {
        self.query_records(&Query::gsi1(keys::VTU_PROCESSING_GSI1PK)).await
    }

    /// Delivered transactions whose next reversal check is due at `now`, the longest due
    /// first, at most `limit` (a backlog is taken over several passes).
    pub async fn reversal_checks_due(&self, now: i64, limit: usize) -> Result<Vec<Watched>, StoreError> {
        let q = Query::gsi1(keys::VTU_WATCH_GSI1PK).before(keys::vtu_watch_due_before(now)).limit(limit);
        let items = self.query(&q).await?;
        items
            .iter()
            .map(|item| {
                let r = Reader::new(item);
                Ok(Watched {
                    tx: VtuTx::from_item(item)?,
                    settled_at: r.opt_i64("settled_at")?.unwrap_or(now),
                    checks: usize::try_from(r.opt_i64("reversal_checks")?.unwrap_or(0)).unwrap_or(0),
                })
            })
            .collect()
    }

    /// Records that a watched transaction was checked (and found still delivered): its
    /// next check, or out of the watch after the last. Only while it is still a success.
    pub async fn reversal_checked(&self, w: &Watched) -> Result<bool, StoreError> {
        let checks = w.checks.saturating_add(1);
        let change = Change::new().set("reversal_checks", n(checks)).if_eq("status", s(VtuStatus::Success.as_str()));
        let change = match reversal_check_due(w.settled_at, checks) {
            Some(due) => change.enter_gsi1(keys::VTU_WATCH_GSI1PK, keys::vtu_watch_gsi1sk(due, &w.tx.trx)),
            None => change.leave_gsi1(),
        };
        self.transition(&vtu_key(&w.tx.account_id, &w.tx.trx), change).await
    }

    /// Remembers that `account_id` verified `profile_id` for `exam` (for a day).
    pub async fn put_verified_profile(
        &self,
        account_id: &str,
        exam: &str,
        profile_id: &str,
        name: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        let item = Writer(profile_key(account_id, exam, profile_id).item())
            .s("type", "exam_profile")
            .s("candidate_name", name)
            .n("expires_at", now.saturating_add(PROFILE_TTL_SECS))
            .0;
        self.put(item).await
    }

    /// The name on a profile `account_id` verified and that has not expired at `now`.
    pub async fn verified_profile(
        &self,
        account_id: &str,
        exam: &str,
        profile_id: &str,
        now: i64,
    ) -> Result<Option<String>, StoreError> {
        match self.get_item(&profile_key(account_id, exam, profile_id), true).await? {
            Some(item) => live_profile(&item, now),
            None => Ok(None),
        }
    }
}

/// The candidate name on a verified-profile item, unless it expired by `now`.
pub fn live_profile(item: &Item, now: i64) -> Result<Option<String>, StoreError> {
    let r = Reader::new(item);
    if r.opt_i64("expires_at")?.is_some_and(|t| t <= now) {
        return Ok(None);
    }
    Ok(Some(r.s("candidate_name")?))
}

/// Whether `item` is a verified exam profile.
pub fn is_profile(item: &Item) -> bool {
    item.get("type").and_then(|t| t.as_s().ok()).map(String::as_str) == Some("exam_profile")
}
