//! Withdrawals through Hubtel send-money. A request (amount, phone; transaction PIN and an
//! OTP sent to that phone) moves the amount from the balance into a hold, in one
//! transaction with its ledger entry. An operator approves it (`withdraw.approved`) and
//! Hubtel sends the money; its callback (URL carrying a per-withdrawal secret) settles it.
//! Rejection or a failed payout releases the hold exactly once: every transition is
//! conditional on the state it leaves.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{TransactWriteItem, Update};
use serde::Serialize;

use crate::error::StoreError;
use crate::item::{n, s, Item, Reader};
use crate::keys;
use crate::model::{now_rfc3339, LedgerEntry};
use crate::money::Kobo;
use crate::orders::{transact, TxError};
use crate::outbox::{EventType, OutboxEvent};
use crate::store::{build_err, key, put_new, sdk_err, Floor, Store};

/// Smallest withdrawal: ₦500.00.
pub const MIN_WITHDRAWAL: Kobo = Kobo::naira(500);
/// Largest withdrawal: ₦1,000,000.00.
pub const MAX_WITHDRAWAL: Kobo = Kobo::naira(1_000_000);

/// A withdrawal's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WithdrawalStatus {
    /// Held; the OTP is checked as soon as Hubtel's rate limit allows.
    Verifying,
    /// Held; waiting for an operator.
    PendingApproval,
    /// Approved; Hubtel is sending the money.
    Paying,
    /// Paid out.
    Paid,
    /// Refused by an operator; hold released.
    Rejected,
    /// Hubtel could not pay; hold released.
    Failed,
}

impl WithdrawalStatus {
    /// The word.
    pub const fn as_str(self) -> &'static str {
        match self {
            WithdrawalStatus::Verifying => "verifying",
            WithdrawalStatus::PendingApproval => "pending_approval",
            WithdrawalStatus::Paying => "paying",
            WithdrawalStatus::Paid => "paid",
            WithdrawalStatus::Rejected => "rejected",
            WithdrawalStatus::Failed => "failed",
        }
    }

    fn parse(v: &str) -> Option<WithdrawalStatus> {
        use WithdrawalStatus::*;
        [Verifying, PendingApproval, Paying, Paid, Rejected, Failed].into_iter().find(|x| x.as_str() == v)
    }
}

/// One withdrawal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Withdrawal {
    /// `wdr_<uuid>`: Hubtel's `clientReference`.
    pub id: String,
    /// Owner.
    pub account_id: String,
    /// Amount.
    pub amount: Kobo,
    /// Destination (E.164).
    pub phone: String,
    /// State.
    pub status: WithdrawalStatus,
    /// Hubtel's transaction id, once sending.
    pub transaction_id: Option<String>,
    /// Why it was rejected or failed.
    pub reason: Option<String>,
    /// The OTP to check later (`Verifying` only): Hubtel session and the code given.
    #[serde(skip)]
    pub pending_otp: Option<(crate::upstream::hubtel::OtpSession, String)>,
    /// RFC 3339.
    pub created_at: String,
}

impl Withdrawal {
    /// The item form.
    pub fn to_item(&self) -> Item {
        let mut m = HashMap::from([
            ("PK".into(), s(keys::account_pk(&self.account_id))),
            ("SK".into(), s(keys::withdrawal_sk(&self.id))),
            ("type".into(), s("withdrawal")),
            ("withdrawal_id".into(), s(&self.id)),
            ("account_id".into(), s(&self.account_id)),
            ("amount".into(), n(self.amount.0)),
            ("phone".into(), s(&self.phone)),
            ("status".into(), s(self.status.as_str())),
            ("created_at".into(), s(&self.created_at)),
        ]);
        if self.status == WithdrawalStatus::PendingApproval {
            m.insert("GSI1PK".into(), s(keys::PENDING_WITHDRAWALS_GSI1PK));
            m.insert("GSI1SK".into(), s(format!("{}#{}", self.created_at, self.id)));
        }
        if let (WithdrawalStatus::Verifying, Some((session, code))) = (self.status, &self.pending_otp) {
            m.insert("GSI1PK".into(), s(keys::VERIFYING_WITHDRAWALS_GSI1PK));
            m.insert("GSI1SK".into(), s(format!("{}#{}", self.created_at, self.id)));
            m.insert("otp_request_id".into(), s(&session.request_id));
            m.insert("otp_prefix".into(), s(&session.prefix));
            m.insert("otp_code".into(), s(code));
        }
        m
    }

    /// Reads an item.
    pub fn from_item(item: &Item) -> Result<Withdrawal, StoreError> {
        let r = Reader::new(item);
        let st = r.s("status")?;
        Ok(Withdrawal {
            id: r.s("withdrawal_id")?,
            account_id: r.s("account_id")?,
            amount: r.kobo("amount")?,
            phone: r.s("phone")?,
            status: WithdrawalStatus::parse(&st)
                .ok_or_else(|| StoreError::Corrupt("withdrawal".into(), format!("status {st:?}")))?,
            transaction_id: r.opt_s("transaction_id")?,
            reason: r.opt_s("reason")?,
            pending_otp: match (r.opt_s("otp_request_id")?, r.opt_s("otp_prefix")?, r.opt_s("otp_code")?) {
                (Some(request_id), Some(prefix), Some(code)) => {
                    Some((crate::upstream::hubtel::OtpSession { request_id, prefix }, code))
                }
                _ => None,
            },
            created_at: r.s("created_at")?,
        })
    }

    /// The webhook object (the phone masked).
    pub fn webhook_object(&self) -> serde_json::Value {
        serde_json::json!({
            "id": self.id,
            "amount": self.amount.to_string(),
            "currency": "NGN",
            "phone": crate::telemetry::mask_phone(&self.phone),
            "status": "approved",
            "created_at": self.created_at,
            "approved_at": now_rfc3339(),
        })
    }
}

/// A new withdrawal id.
pub fn new_withdrawal_id() -> String {
    format!("wdr_{}", uuid::Uuid::now_v7().simple())
}

/// The callback secret of a withdrawal (HMAC of its id under the app secret, 40 hex).
pub fn callback_secret(key: &[u8], id: &str) -> String {
    let mut h = crate::crypto::hmac_sha256_hex(key, format!("hubtel-withdrawal-callback:{id}").as_bytes());
    h.truncate(40);
    h
}

/// Whether `given` is the withdrawal's callback secret (constant time).
pub fn secret_ok(key: &[u8], id: &str, given: &str) -> bool {
    let want = callback_secret(key, id);
    given.len() == want.len()
        && aws_lc_rs::constant_time::verify_slices_are_equal(want.as_bytes(), given.as_bytes()).is_ok()
}

/// The callback path of a withdrawal.
pub fn callback_path(account_id: &str, id: &str, secret: &str) -> String {
    format!("/callbacks/hubtel/withdrawal/{account_id}/{id}/{secret}")
}

fn entry(w: &Withdrawal, amount: Kobo, kind: &str, reason: &str, actor: &str) -> LedgerEntry {
    LedgerEntry {
        id: uuid::Uuid::now_v7().to_string(),
        account_id: w.account_id.clone(),
        amount,
        kind: kind.into(),
        reason: reason.into(),
        reference: Some(format!("withdrawal:{}", w.id)),
        actor: actor.into(),
        created_at: now_rfc3339(),
    }
}

fn transition(
    store: &Store,
    w: &Withdrawal,
    from: WithdrawalStatus,
    to: WithdrawalStatus,
    extra: &[(&str, String)],
) -> Result<TransactWriteItem, StoreError> {
    let mut expr = String::from("SET #st = :to, updated_at = :now");
    let mut u = Update::builder()
        .table_name(store.table())
        .set_key(Some(key(keys::account_pk(&w.account_id), keys::withdrawal_sk(&w.id))))
        .condition_expression("#st = :from")
        .expression_attribute_names("#st", "status")
        .expression_attribute_values(":from", s(from.as_str()))
        .expression_attribute_values(":to", s(to.as_str()))
        .expression_attribute_values(":now", s(now_rfc3339()));
    for (i, (field, value)) in extra.iter().enumerate() {
        expr.push_str(&format!(", {field} = :x{i}"));
        u = u.expression_attribute_values(format!(":x{i}"), s(value));
    }
    if from == WithdrawalStatus::Verifying && to == WithdrawalStatus::PendingApproval {
        expr.push_str(", GSI1PK = :gpk, GSI1SK = :gsk REMOVE otp_code, otp_request_id, otp_prefix");
        u = u
            .expression_attribute_values(":gpk", s(keys::PENDING_WITHDRAWALS_GSI1PK))
            .expression_attribute_values(":gsk", s(format!("{}#{}", w.created_at, w.id)));
    } else if matches!(from, WithdrawalStatus::PendingApproval | WithdrawalStatus::Verifying) {
        expr.push_str(" REMOVE GSI1PK, GSI1SK, otp_code, otp_request_id, otp_prefix");
    }
    Ok(TransactWriteItem::builder().update(u.update_expression(expr).build().map_err(build_err)?).build())
}

/// Why a request could not be held.
#[derive(Debug)]
pub enum HoldError {
    /// Not enough balance (less minimum balance).
    InsufficientBalance,
    /// The store failed.
    Store(StoreError),
}

/// Records a withdrawal and holds its amount: the withdrawal, the balance change and its
/// ledger entry in one transaction.
pub async fn hold(store: &Store, w: &Withdrawal, min_balance: Kobo) -> Result<(), HoldError> {
    let need = w.amount.checked_add(min_balance).ok_or(HoldError::InsufficientBalance)?;
    let e = entry(w, w.amount.negate(), "withdrawal_hold", "withdrawal requested", "api");
    let mut items: Vec<TransactWriteItem> =
        store.balance_change(&e, Floor::Spend { need, min_balance }).map_err(HoldError::Store)?.to_vec();
    items.push(put_new(store.table(), w.to_item()).map_err(HoldError::Store)?);
    match transact(store, items).await {
        Ok(()) => Ok(()),
        Err(TxError::Conditions(f)) if f.contains(&0) => Err(HoldError::InsufficientBalance),
        Err(TxError::Conditions(f)) => {
            Err(HoldError::Store(StoreError::Conflict(format!("withdrawal conditions {f:?}"))))
        }
        Err(TxError::Store(StoreError::Conflict(_))) => Err(HoldError::InsufficientBalance),
        Err(TxError::Store(e)) => Err(HoldError::Store(e)),
    }
}

/// Releases a hold exactly once, moving `from` → `to` (rejected or failed) with the
/// release's ledger entry. `false` when the withdrawal was not in `from` any more.
pub async fn release(
    store: &Store,
    w: &Withdrawal,
    from: WithdrawalStatus,
    to: WithdrawalStatus,
    reason: &str,
    actor: &str,
) -> Result<bool, StoreError> {
    let e = entry(w, w.amount, "withdrawal_release", reason, actor);
    let mut items = vec![transition(store, w, from, to, &[("reason", reason.to_string())])?];
    items.extend(store.balance_change(&e, Floor::None)?);
    match transact(store, items).await {
        Ok(()) => Ok(true),
        Err(TxError::Conditions(_)) | Err(TxError::Store(StoreError::Conflict(_))) => Ok(false),
        Err(TxError::Store(e)) => Err(e),
    }
}

/// Approves a pending withdrawal (`withdraw.approved` in the same transaction). `false`
/// when it was not pending any more.
pub async fn approve(store: &Store, w: &Withdrawal) -> Result<bool, StoreError> {
    let items = vec![
        transition(store, w, WithdrawalStatus::PendingApproval, WithdrawalStatus::Paying, &[])?,
        OutboxEvent::new(&w.account_id, EventType::WithdrawApproved, "withdrawal", w.webhook_object())
            .put(store.table())?,
    ];
    match transact(store, items).await {
        Ok(()) => Ok(true),
        Err(TxError::Conditions(_)) | Err(TxError::Store(StoreError::Conflict(_))) => Ok(false),
        Err(TxError::Store(e)) => Err(e),
    }
}

/// Marks a paying withdrawal paid. `false` when it was not paying any more.
pub async fn mark_paid(store: &Store, w: &Withdrawal, transaction_id: &str) -> Result<bool, StoreError> {
    let item = transition(
        store,
        w,
        WithdrawalStatus::Paying,
        WithdrawalStatus::Paid,
        &[("transaction_id", transaction_id.to_string())],
    )?;
    match transact(store, vec![item]).await {
        Ok(()) => Ok(true),
        Err(TxError::Conditions(_)) | Err(TxError::Store(StoreError::Conflict(_))) => Ok(false),
        Err(TxError::Store(e)) => Err(e),
    }
}

impl Store {
    /// One withdrawal of an account.
    pub async fn get_withdrawal(&self, account_id: &str, id: &str) -> Result<Option<Withdrawal>, StoreError> {
        let out = self
            .client()
            .get_item()
            .table_name(self.table())
            .set_key(Some(key(keys::account_pk(account_id), keys::withdrawal_sk(id))))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk_err)?;
        out.item.as_ref().map(Withdrawal::from_item).transpose()
    }

    /// Withdrawals waiting for an operator, oldest first.
    pub async fn pending_withdrawals(&self, limit: i32) -> Result<Vec<Withdrawal>, StoreError> {
        self.gsi1_page(keys::PENDING_WITHDRAWALS_GSI1PK, limit).await?.iter().map(Withdrawal::from_item).collect()
    }
}

/// Approves and pays: `withdraw.approved`, then Hubtel send-money (throttled). A Hubtel
/// refusal fails the withdrawal and releases the hold; a lost answer leaves it paying for
/// Hubtel's callback. Returns the withdrawal as it stands.
pub async fn approve_and_pay(
    store: &Store,
    hubtel: &crate::upstream::hubtel::HubtelClient,
    throttle: &crate::hubtel_throttle::Throttle,
    key_material: &[u8],
    public_url: &str,
    w: &Withdrawal,
) -> Result<Withdrawal, StoreError> {
    if !approve(store, w).await? {
        return Ok(store.get_withdrawal(&w.account_id, &w.id).await?.unwrap_or_else(|| w.clone()));
    }
    let mut paying = w.clone();
    paying.status = WithdrawalStatus::Paying;
    if !throttle.acquire(std::time::Duration::from_secs(90)).await? {
        return Ok(paying); // still paying; an operator can retry the send
    }
    let callback = format!(
        "{}{}",
        public_url.trim_end_matches('/'),
        callback_path(&w.account_id, &w.id, &callback_secret(key_material, &w.id))
    );
    match hubtel
        .send_money(w.amount, "kobo withdrawal", &format!("Withdrawal {} to {}", w.id, w.phone), &w.id, &[], &callback)
        .await
    {
        Ok(tx) => {
            store
                .client()
                .update_item()
                .table_name(store.table())
                .set_key(Some(key(keys::account_pk(&w.account_id), keys::withdrawal_sk(&w.id))))
                .update_expression("SET transaction_id = :t")
                .expression_attribute_values(":t", s(&tx))
                .send()
                .await
                .map_err(sdk_err)?;
        }
        Err(crate::upstream::UpstreamError::Rejected(why)) => {
            release(
                store,
                &paying,
                WithdrawalStatus::Paying,
                WithdrawalStatus::Failed,
                &format!("Hubtel refused: {why}"),
                "operator",
            )
            .await?;
        }
        Err(e) => {
            tracing::warn!(withdrawal = %w.id, error = %e, "send-money answer lost; waiting for Hubtel's callback")
        }
    }
    Ok(store.get_withdrawal(&w.account_id, &w.id).await?.unwrap_or(paying))
}

/// Applies Hubtel's withdrawal callback (URL secret already verified): `responseCode`
/// `0000` with this withdrawal's reference and amount pays it; another code fails it and
/// releases the hold. Returns a word for the log.
pub async fn apply_callback(
    store: &Store,
    w: &Withdrawal,
    body: &serde_json::Value,
) -> Result<&'static str, StoreError> {
    let data = &body["data"];
    if data["clientReference"].as_str() != Some(w.id.as_str()) {
        return Ok("ignored");
    }
    let ok = body["responseCode"].as_str() == Some("0000");
    let amount = data["amount"].as_f64().map(|a| Kobo((a * 100.0).round() as i64));
    if ok && amount == Some(w.amount) {
        let tx = data["transactionId"].as_str().unwrap_or_default();
        return Ok(if mark_paid(store, w, tx).await? { "paid" } else { "duplicate" });
    }
    if ok {
        tracing::warn!(withdrawal = %w.id, ?amount, "withdrawal callback with another amount; nothing changed");
        return Ok("ignored");
    }
    let why = body["message"].as_str().unwrap_or("payout failed").to_string();
    Ok(if release(store, w, WithdrawalStatus::Paying, WithdrawalStatus::Failed, &why, "hubtel").await? {
        "failed"
    } else {
        "duplicate"
    })
}

/// A withdrawal OTP session: sent to one phone, used once, expiring.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtpRecord {
    /// `otp_<uuid>`.
    pub id: String,
    /// Owner.
    pub account_id: String,
    /// E.164 phone it was sent to.
    pub phone: String,
    /// Hubtel's session.
    pub session: crate::upstream::hubtel::OtpSession,
    /// Unix expiry.
    pub expires_at: i64,
    /// Whether a withdrawal used it.
    pub used: bool,
}

/// How long an OTP is valid (seconds).
pub const OTP_TTL_SECS: i64 = 600;

impl Store {
    /// Stores an OTP session.
    pub async fn put_otp(&self, o: &OtpRecord) -> Result<(), StoreError> {
        let item: Item = HashMap::from([
            ("PK".into(), s(keys::account_pk(&o.account_id))),
            ("SK".into(), s(keys::otp_sk(&o.id))),
            ("type".into(), s("otp")),
            ("phone".into(), s(&o.phone)),
            ("request_id".into(), s(&o.session.request_id)),
            ("prefix".into(), s(&o.session.prefix)),
            ("used".into(), aws_sdk_dynamodb::types::AttributeValue::Bool(false)),
            ("expires_at".into(), n(o.expires_at)),
            ("account_id".into(), s(&o.account_id)),
            ("otp_id".into(), s(&o.id)),
        ]);
        let mut item = item;
        if o.session.request_id.is_empty() {
            // Queued: Hubtel had no slot; the reconciler sends it.
            item.insert("GSI1PK".into(), s(keys::QUEUED_OTPS_GSI1PK));
            item.insert("GSI1SK".into(), s(format!("{}#{}", o.expires_at, o.id)));
        }
        self.client().put_item().table_name(self.table()).set_item(Some(item)).send().await.map_err(sdk_err)?;
        Ok(())
    }

    /// An OTP session of an account.
    pub async fn get_otp(&self, account_id: &str, id: &str) -> Result<Option<OtpRecord>, StoreError> {
        let out = self
            .client()
            .get_item()
            .table_name(self.table())
            .set_key(Some(key(keys::account_pk(account_id), keys::otp_sk(id))))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk_err)?;
        let Some(item) = out.item else { return Ok(None) };
        let r = Reader::new(&item);
        Ok(Some(OtpRecord {
            id: id.to_string(),
            account_id: account_id.to_string(),
            phone: r.s("phone")?,
            session: crate::upstream::hubtel::OtpSession { request_id: r.s("request_id")?, prefix: r.s("prefix")? },
            expires_at: r.i64("expires_at")?,
            used: r.bool("used")?,
        }))
    }

    /// Marks an OTP used; `false` if it already was.
    pub async fn use_otp(&self, account_id: &str, id: &str) -> Result<bool, StoreError> {
        match self
            .client()
            .update_item()
            .table_name(self.table())
            .set_key(Some(key(keys::account_pk(account_id), keys::otp_sk(id))))
            .update_expression("SET used = :t")
            .condition_expression("used = :f")
            .expression_attribute_values(":t", aws_sdk_dynamodb::types::AttributeValue::Bool(true))
            .expression_attribute_values(":f", aws_sdk_dynamodb::types::AttributeValue::Bool(false))
            .send()
            .await
            .map_err(sdk_err)
        {
            Ok(_) => Ok(true),
            Err(StoreError::Conflict(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }
}

/// Ends the OTP check of a `Verifying` withdrawal: a right code moves it to
/// `PendingApproval`; a wrong one rejects it and releases the hold (once).
pub async fn finish_verification(store: &Store, w: &Withdrawal, code_ok: bool) -> Result<bool, StoreError> {
    if code_ok {
        let item = transition(store, w, WithdrawalStatus::Verifying, WithdrawalStatus::PendingApproval, &[])?;
        return match transact(store, vec![item]).await {
            Ok(()) => Ok(true),
            Err(TxError::Conditions(_)) | Err(TxError::Store(StoreError::Conflict(_))) => Ok(false),
            Err(TxError::Store(e)) => Err(e),
        };
    }
    release(store, w, WithdrawalStatus::Verifying, WithdrawalStatus::Rejected, "wrong OTP", "reconciler").await
}

impl Store {
    /// Withdrawals whose OTP waits to be checked, oldest first.
    pub async fn verifying_withdrawals(&self, limit: i32) -> Result<Vec<Withdrawal>, StoreError> {
        self.gsi1_page(keys::VERIFYING_WITHDRAWALS_GSI1PK, limit).await?.iter().map(Withdrawal::from_item).collect()
    }
}

impl Store {
    /// OTPs waiting to be sent, oldest first: (account, otp id, phone).
    pub async fn queued_otps(&self, limit: i32) -> Result<Vec<(String, String, String)>, StoreError> {
        self.gsi1_page(keys::QUEUED_OTPS_GSI1PK, limit)
            .await?
            .iter()
            .map(|i| {
                let r = Reader::new(i);
                Ok((r.s("account_id")?, r.s("otp_id")?, r.s("phone")?))
            })
            .collect()
    }

    /// Records the session of a queued OTP once Hubtel sent it.
    pub async fn otp_sent(
        &self,
        account_id: &str,
        id: &str,
        session: &crate::upstream::hubtel::OtpSession,
    ) -> Result<(), StoreError> {
        self.client()
            .update_item()
            .table_name(self.table())
            .set_key(Some(key(keys::account_pk(account_id), keys::otp_sk(id))))
            .update_expression("SET request_id = :r, prefix = :p REMOVE GSI1PK, GSI1SK")
            .condition_expression("attribute_exists(PK)")
            .expression_attribute_values(":r", s(&session.request_id))
            .expression_attribute_values(":p", s(&session.prefix))
            .send()
            .await
            .map_err(sdk_err)?;
        Ok(())
    }
}
