//! Withdrawals and their OTP sessions in the table.

use aws_sdk_dynamodb::types::AttributeValue;

use super::item::{n, s, Key, Reader, Record, Writer};
use super::keys;
use super::table::{Change, Query};
use super::Store;
use crate::domain::time::now_rfc3339;
use crate::domain::withdrawal::{OtpRecord, OtpSession, Withdrawal, WithdrawalStatus};
use crate::error::StoreError;

/// The key of a withdrawal.
pub fn withdrawal_key(account_id: &str, id: &str) -> Key {
    Key::new(keys::account_pk(account_id), keys::withdrawal_sk(id))
}

fn otp_key(account_id: &str, id: &str) -> Key {
    Key::new(keys::account_pk(account_id), keys::otp_sk(id))
}

fn queue_sk(w: &Withdrawal) -> String {
    format!("{}#{}", w.created_at, w.id)
}

impl Record for Withdrawal {
    const TYPE: &'static str = "withdrawal";
    fn key(&self) -> Key {
        withdrawal_key(&self.account_id, &self.id)
    }
    fn gsi1(&self) -> Option<(String, String)> {
        match (self.status, &self.pending_otp) {
            (WithdrawalStatus::PendingApproval, _) => Some((keys::PENDING_WITHDRAWALS_GSI1PK.into(), queue_sk(self))),
            (WithdrawalStatus::Verifying, Some(_)) => Some((keys::VERIFYING_WITHDRAWALS_GSI1PK.into(), queue_sk(self))),
            (WithdrawalStatus::Paying, _) => Some((keys::PAYING_WITHDRAWALS_GSI1PK.into(), queue_sk(self))),
            _ => None,
        }
    }
    fn write(&self, w: Writer) -> Writer {
        let w = w
            .s("withdrawal_id", &self.id)
            .s("account_id", &self.account_id)
            .kobo("amount", self.amount)
            .s("phone", &self.phone)
            .s("status", self.status.as_str())
            .s("created_at", &self.created_at)
            .n("send_attempts", self.send_attempts)
            .bool("payout_unknown", self.payout_unknown);
        match (self.status, &self.pending_otp) {
            (WithdrawalStatus::Verifying, Some((session, code))) => {
                w.s("otp_request_id", &session.request_id).s("otp_prefix", &session.prefix).s("otp_code_sealed", code)
            }
            _ => w,
        }
    }
    fn read(r: &Reader<'_>) -> Result<Withdrawal, StoreError> {
        Ok(Withdrawal {
            id: r.s("withdrawal_id")?,
            account_id: r.s("account_id")?,
            amount: r.kobo("amount")?,
            phone: r.s("phone")?,
            status: r.word("status", WithdrawalStatus::parse)?,
            transaction_id: r.opt_s("transaction_id")?,
            reason: r.opt_s("reason")?,
            pending_otp: match (r.opt_s("otp_request_id")?, r.opt_s("otp_prefix")?, r.opt_s("otp_code_sealed")?) {
                (Some(request_id), Some(prefix), Some(code)) => Some((OtpSession { request_id, prefix }, code)),
                _ => None,
            },
            created_at: r.s("created_at")?,
            send_attempts: r.opt_i64("send_attempts")?.and_then(|n| u32::try_from(n).ok()).unwrap_or(0),
            payout_unknown: r.bool("payout_unknown")?,
            sending_since: r.opt_i64("sending_since")?,
        })
    }
}

impl Record for OtpRecord {
    const TYPE: &'static str = "otp";
    fn key(&self) -> Key {
        otp_key(&self.account_id, &self.id)
    }
    /// Queued while Hubtel had no slot (no session yet): the reconciler sends it.
    fn gsi1(&self) -> Option<(String, String)> {
        self.session
            .request_id
            .is_empty()
            .then(|| (keys::QUEUED_OTPS_GSI1PK.into(), format!("{}#{}", self.expires_at, self.id)))
    }
    fn write(&self, w: Writer) -> Writer {
        w.s("phone", &self.phone)
            .s("request_id", &self.session.request_id)
            .s("prefix", &self.session.prefix)
            .bool("used", self.used)
            .n("expires_at", self.expires_at)
            .s("account_id", &self.account_id)
            .s("otp_id", &self.id)
    }
    fn read(r: &Reader<'_>) -> Result<OtpRecord, StoreError> {
        Ok(OtpRecord {
            id: r.s("otp_id")?,
            account_id: r.s("account_id")?,
            phone: r.s("phone")?,
            session: OtpSession { request_id: r.s("request_id")?, prefix: r.s("prefix")? },
            expires_at: r.i64("expires_at")?,
            used: r.bool("used")?,
        })
    }
}

/// The change that moves a withdrawal `from` → `to` (only if it is in `from`), setting
/// `extra` fields; leaving the verifying or approval queue takes it off GSI1 and drops the
/// OTP it held.
pub fn transition_change(
    w: &Withdrawal,
    from: WithdrawalStatus,
    to: WithdrawalStatus,
    extra: &[(&str, &str)],
) -> Change {
    let mut change = Change::new()
        .set("status", s(to.as_str()))
        .set("updated_at", s(now_rfc3339()))
        .if_eq("status", s(from.as_str()));
    for (field, value) in extra {
        change = change.set(field, s(*value));
    }
    let drop_otp = |c: Change| c.remove("otp_code_sealed").remove("otp_request_id").remove("otp_prefix");
    match (from, to) {
        (WithdrawalStatus::Verifying, WithdrawalStatus::PendingApproval) => {
            drop_otp(change.enter_gsi1(keys::PENDING_WITHDRAWALS_GSI1PK, queue_sk(w)))
        }
        (WithdrawalStatus::PendingApproval, WithdrawalStatus::Paying) => {
            drop_otp(change.enter_gsi1(keys::PAYING_WITHDRAWALS_GSI1PK, queue_sk(w)))
        }
        (WithdrawalStatus::PendingApproval | WithdrawalStatus::Verifying | WithdrawalStatus::Paying, _) => {
            drop_otp(change.leave_gsi1())
        }
        _ => change,
    }
}

impl Store {
    /// One withdrawal of an account.
    pub async fn get_withdrawal(&self, account_id: &str, id: &str) -> Result<Option<Withdrawal>, StoreError> {
        self.get(&withdrawal_key(account_id, id)).await
    }

    /// Withdrawals waiting for an operator, oldest first.
    pub async fn pending_withdrawals(&self, limit: usize) -> Result<Vec<Withdrawal>, StoreError> {
        self.query_records(&Query::gsi1(keys::PENDING_WITHDRAWALS_GSI1PK).limit(limit)).await
    }

    /// Withdrawals whose OTP waits to be checked, oldest first.
    pub async fn verifying_withdrawals(&self, limit: usize) -> Result<Vec<Withdrawal>, StoreError> {
        self.query_records(&Query::gsi1(keys::VERIFYING_WITHDRAWALS_GSI1PK).limit(limit)).await
    }

    /// Every withdrawal being paid, oldest first (sparse GSI1, all pages).
    pub async fn paying_withdrawals(&self) -> Result<Vec<Withdrawal>, StoreError> {
        self.query_records(&Query::gsi1(keys::PAYING_WITHDRAWALS_GSI1PK)).await
    }

    /// Claims send-money attempt `w.send_attempts + 1` of a paying withdrawal Hubtel has
    /// not accepted yet, marking it in flight since `now` (before Hubtel is called);
    /// `false` when another claimed it first or it moved on.
    pub async fn claim_payout_attempt(&self, w: &Withdrawal, now: i64) -> Result<bool, StoreError> {
        let change = Change::new()
            .set("send_attempts", n(w.send_attempts + 1))
            .set("sending_since", n(now))
            .if_eq("status", s(WithdrawalStatus::Paying.as_str()))
            .if_expr(
                "attribute_not_exists({transaction_id}) AND (attribute_not_exists({send_attempts}) OR {send_attempts} = :a)",
                &["transaction_id", "send_attempts"],
                vec![(":a", n(w.send_attempts))],
            );
        self.transition(&withdrawal_key(&w.account_id, &w.id), change).await
    }

    /// Clears the in-flight mark of an attempt Hubtel certainly did not take (no slot,
    /// not sent), so the next pass sends it again; only the attempt that set it clears it.
    pub async fn payout_not_sent(&self, w: &Withdrawal) -> Result<(), StoreError> {
        let change = Change::new().remove("sending_since").if_eq("send_attempts", n(w.send_attempts + 1));
        self.transition(&withdrawal_key(&w.account_id, &w.id), change).await.map(drop)
    }

    /// Records that a payout attempt's answer was lost (Hubtel may hold it).
    pub async fn mark_payout_unknown(&self, w: &Withdrawal) -> Result<(), StoreError> {
        let change = Change::new().set("payout_unknown", AttributeValue::Bool(true));
        self.update(&withdrawal_key(&w.account_id, &w.id), change).await.map(drop)
    }

    /// Records Hubtel's transaction id of a paying withdrawal.
    pub async fn set_withdrawal_transaction(&self, w: &Withdrawal, transaction_id: &str) -> Result<(), StoreError> {
        let change = Change::new().set("transaction_id", s(transaction_id));
        self.update(&withdrawal_key(&w.account_id, &w.id), change).await.map(drop)
    }

    /// Stores an OTP session.
    pub async fn put_otp(&self, o: &OtpRecord) -> Result<(), StoreError> {
        self.put(o.to_item()).await
    }

    /// An OTP session of an account.
    pub async fn get_otp(&self, account_id: &str, id: &str) -> Result<Option<OtpRecord>, StoreError> {
        self.get(&otp_key(account_id, id)).await
    }

    /// Marks an OTP used; `false` if it already was.
    pub async fn use_otp(&self, account_id: &str, id: &str) -> Result<bool, StoreError> {
        let change = Change::new().set("used", AttributeValue::Bool(true)).if_eq("used", AttributeValue::Bool(false));
        self.transition(&otp_key(account_id, id), change).await
    }

    /// OTPs waiting to be sent, oldest first.
    pub async fn queued_otps(&self, limit: usize) -> Result<Vec<OtpRecord>, StoreError> {
        self.query_records(&Query::gsi1(keys::QUEUED_OTPS_GSI1PK).limit(limit)).await
    }

    /// Drops a queued OTP that expired before Hubtel sent it; `false` when it was sent.
    pub async fn drop_queued_otp(&self, account_id: &str, id: &str) -> Result<bool, StoreError> {
        let change = Change::new().set("used", AttributeValue::Bool(true)).leave_gsi1().if_eq("request_id", s(""));
        self.transition(&otp_key(account_id, id), change).await
    }

    /// Records the session of a queued OTP once Hubtel sent it.
    pub async fn otp_sent(&self, account_id: &str, id: &str, session: &OtpSession) -> Result<(), StoreError> {
        let change = Change::new()
            .set("request_id", s(&session.request_id))
            .set("prefix", s(&session.prefix))
            .leave_gsi1()
            .if_exists();
        self.update(&otp_key(account_id, id), change).await.map(drop)
    }
}
