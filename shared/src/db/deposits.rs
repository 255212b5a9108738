//! Deposits in the table.

use super::item::{n, s, Key, Reader, Record, Writer};
use super::keys;
use super::table::{Change, Query};
use super::Store;
use crate::domain::deposit::{Deposit, DepositStatus};
use crate::error::StoreError;

/// The key of a deposit.
pub fn deposit_key(account_id: &str, id: &str) -> Key {
    Key::new(keys::account_pk(account_id), keys::deposit_sk(id))
}

impl Record for Deposit {
    const TYPE: &'static str = "deposit";
    fn key(&self) -> Key {
        deposit_key(&self.account_id, &self.id)
    }
    fn gsi1(&self) -> Option<(String, String)> {
        (self.status == DepositStatus::Pending)
            .then(|| (keys::PENDING_DEPOSITS_GSI1PK.into(), format!("{}#{}", self.created_at, self.id)))
    }
    fn write(&self, w: Writer) -> Writer {
        w.s("deposit_id", &self.id)
            .s("account_id", &self.account_id)
            .kobo("amount", self.amount)
            .s("status", self.status.as_str())
            .s("created_at", &self.created_at)
            .opt_s("paylink_id", self.paylink_id.as_ref())
            .opt_s("paylink_url", self.paylink_url.as_ref())
    }
    fn read(r: &Reader<'_>) -> Result<Deposit, StoreError> {
        Ok(Deposit {
            id: r.s("deposit_id")?,
            account_id: r.s("account_id")?,
            amount: r.kobo("amount")?,
            status: r.word("status", DepositStatus::parse)?,
            paylink_id: r.opt_s("paylink_id")?,
            paylink_url: r.opt_s("paylink_url")?,
            created_at: r.s("created_at")?,
        })
    }
}

impl Store {
    /// Stores a new deposit.
    pub async fn put_deposit(&self, d: &Deposit) -> Result<(), StoreError> {
        self.put_new(d.to_item()).await
    }

    /// One deposit of an account.
    pub async fn get_deposit(&self, account_id: &str, id: &str) -> Result<Option<Deposit>, StoreError> {
        self.get(&deposit_key(account_id, id)).await
    }

    /// Deposits still waiting for their paylink, oldest first (sparse GSI1).
    pub async fn pending_deposits(&self, limit: usize) -> Result<Vec<Deposit>, StoreError> {
        self.query_records(&Query::gsi1(keys::PENDING_DEPOSITS_GSI1PK).limit(limit)).await
    }

    /// Claims a pending deposit's paylink creation until `until` (unix), so one caller
    /// asks Hubtel for it (two would create two paylinks, one of which kobo could not
    /// credit); `false` when another holds the claim or it is not pending.
    pub async fn claim_paylink(&self, d: &Deposit, now: i64, until: i64) -> Result<bool, StoreError> {
        let change =
            Change::new().set("paylink_claim", n(until)).if_eq("status", s(DepositStatus::Pending.as_str())).if_expr(
                "attribute_not_exists({paylink_claim}) OR {paylink_claim} < :now",
                &["paylink_claim"],
                vec![(":now", n(now))],
            );
        self.transition(&deposit_key(&d.account_id, &d.id), change).await
    }

    /// Gives the claim back (no slot, or Hubtel did not create it): the next try goes on.
    pub async fn release_paylink_claim(&self, d: &Deposit) -> Result<(), StoreError> {
        let change = Change::new().set("paylink_claim", n(0)).if_eq("status", s(DepositStatus::Pending.as_str()));
        self.transition(&deposit_key(&d.account_id, &d.id), change).await.map(drop)
    }

    /// Drops a deposit that never got its paylink; `false` when it is no longer pending.
    pub async fn expire_deposit(&self, d: &Deposit) -> Result<bool, StoreError> {
        let change = Change::new()
            .set("status", s(DepositStatus::Expired.as_str()))
            .leave_gsi1()
            .if_eq("status", s(DepositStatus::Pending.as_str()));
        self.transition(&deposit_key(&d.account_id, &d.id), change).await
    }

    /// Records the paylink of a pending deposit; `Conflict` when it is not pending.
    pub async fn set_paylink(&self, d: &Deposit, paylink_id: &str, url: &str) -> Result<(), StoreError> {
        let change = Change::new()
            .set("paylink_id", s(paylink_id))
            .set("paylink_url", s(url))
            .set("status", s(DepositStatus::AwaitingPayment.as_str()))
            .leave_gsi1()
            .if_eq("status", s(DepositStatus::Pending.as_str()));
        self.update(&deposit_key(&d.account_id, &d.id), change).await.map(drop)
    }
}
