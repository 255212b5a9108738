//! VTU transactions in the table.

use super::item::{s, Key, Reader, Record, Writer};
use super::keys;
use super::table::{Change, Query};
use super::Store;
use crate::domain::vtu::{VtuStatus, VtuTx};
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

/// The change that settles a processing transaction as `after`, only while it is still
/// processing.
pub fn settle_change(after: &VtuTx) -> Change {
    Change::new()
        .set("status", s(after.status.as_str()))
        .set("updated_at", s(&after.updated_at))
        .set("message", s(after.message.clone().unwrap_or_default()))
        .set("meta", s(after.meta.to_string()))
        .set("cards", s(cards_json(after)))
        .set("provider_ref", s(after.provider_ref.clone().unwrap_or_default()))
        .leave_gsi1()
        .if_eq("status", s(VtuStatus::Processing.as_str()))
}

impl Store {
    /// One transaction of an account.
    pub async fn get_vtu(&self, account_id: &str, trx: &str) -> Result<Option<VtuTx>, StoreError> {
        self.get(&vtu_key(account_id, trx)).await
    }

    /// Every transaction still processing, oldest first (sparse GSI1, all pages).
    pub async fn processing_vtu(&self) -> Result<Vec<VtuTx>, StoreError> {
        self.query_records(&Query::gsi1(keys::VTU_PROCESSING_GSI1PK)).await
    }
}
