//! Wallet deposits through Hubtel paylinks. A deposit gets a paylink whose callback URL
//! carries a per-deposit secret (Hubtel's payment callback is not signed, so the URL is
//! the credential). The secret is an HMAC of the deposit id under the app secret, so it
//! is never stored and is checked by recomputing it in constant time. A callback credits the wallet exactly
//! once, and only for a successful payment of the deposit's amount: the credit, its
//! ledger entry and `deposit.success` ride in one transaction conditional on the deposit
//! still being unpaid.

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
use crate::store::{build_err, key, sdk_err, Floor, Store};

/// Smallest deposit: ₦100.00.
pub const MIN_DEPOSIT: Kobo = Kobo::naira(100);
/// Largest deposit: ₦5,000,000.00.
pub const MAX_DEPOSIT: Kobo = Kobo::naira(5_000_000);

/// A deposit's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DepositStatus {
    /// Waiting for a Hubtel slot to create the paylink.
    Pending,
    /// The paylink exists; waiting for the payment.
    AwaitingPayment,
    /// Paid and credited.
    Credited,
}

impl DepositStatus {
    /// The word.
    pub const fn as_str(self) -> &'static str {
        match self {
            DepositStatus::Pending => "pending",
            DepositStatus::AwaitingPayment => "awaiting_payment",
            DepositStatus::Credited => "credited",
        }
    }

    fn parse(s: &str) -> Option<DepositStatus> {
        [DepositStatus::Pending, DepositStatus::AwaitingPayment, DepositStatus::Credited]
            .into_iter()
            .find(|x| x.as_str() == s)
    }
}

/// One deposit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Deposit {
    /// `dep_<uuid>`: also Hubtel's `clientReference`.
    pub id: String,
    /// Owner.
    pub account_id: String,
    /// Amount to pay and credit.
    pub amount: Kobo,
    /// State.
    pub status: DepositStatus,
    /// Hubtel's paylink id.
    pub paylink_id: Option<String>,
    /// Where the reseller pays.
    pub paylink_url: Option<String>,
    /// RFC 3339.
    pub created_at: String,
}

impl Deposit {
    /// The item form.
    pub fn to_item(&self) -> Item {
        let mut m = HashMap::from([
            ("PK".into(), s(keys::account_pk(&self.account_id))),
            ("SK".into(), s(keys::deposit_sk(&self.id))),
            ("type".into(), s("deposit")),
            ("deposit_id".into(), s(&self.id)),
            ("account_id".into(), s(&self.account_id)),
            ("amount".into(), n(self.amount.0)),
            ("status".into(), s(self.status.as_str())),
            ("created_at".into(), s(&self.created_at)),
        ]);
        if let Some(v) = &self.paylink_id {
            m.insert("paylink_id".into(), s(v));
        }
        if self.status == DepositStatus::Pending {
            m.insert("GSI1PK".into(), s(keys::PENDING_DEPOSITS_GSI1PK));
            m.insert("GSI1SK".into(), s(format!("{}#{}", self.created_at, self.id)));
        }
        if let Some(v) = &self.paylink_url {
            m.insert("paylink_url".into(), s(v));
        }
        m
    }

    /// Reads a deposit item.
    pub fn from_item(item: &Item) -> Result<Deposit, StoreError> {
        let r = Reader::new(item);
        let st = r.s("status")?;
        Ok(Deposit {
            id: r.s("deposit_id")?,
            account_id: r.s("account_id")?,
            amount: r.kobo("amount")?,
            status: DepositStatus::parse(&st)
                .ok_or_else(|| StoreError::Corrupt("deposit".into(), format!("status {st:?}")))?,
            paylink_id: r.opt_s("paylink_id")?,
            paylink_url: r.opt_s("paylink_url")?,
            created_at: r.s("created_at")?,
        })
    }

    /// The webhook object.
    pub fn webhook_object(&self) -> serde_json::Value {
        serde_json::json!({
            "id": self.id,
            "amount": self.amount.to_string(),
            "currency": "NGN",
            "status": "success",
            "created_at": self.created_at,
            "credited_at": now_rfc3339(),
        })
    }
}

impl Store {
    /// Stores a new deposit.
    pub async fn put_deposit(&self, d: &Deposit) -> Result<(), StoreError> {
        self.client()
            .put_item()
            .table_name(self.table())
            .set_item(Some(d.to_item()))
            .condition_expression("attribute_not_exists(PK)")
            .send()
            .await
            .map_err(sdk_err)?;
        Ok(())
    }

    /// One deposit of an account.
    pub async fn get_deposit(&self, account_id: &str, id: &str) -> Result<Option<Deposit>, StoreError> {
        let out = self
            .client()
            .get_item()
            .table_name(self.table())
            .set_key(Some(key(keys::account_pk(account_id), keys::deposit_sk(id))))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk_err)?;
        out.item.as_ref().map(Deposit::from_item).transpose()
    }

    /// Deposits still waiting for their paylink, oldest first (sparse GSI1).
    pub async fn pending_deposits(&self, limit: i32) -> Result<Vec<Deposit>, StoreError> {
        self.gsi1_page(keys::PENDING_DEPOSITS_GSI1PK, limit).await?.iter().map(Deposit::from_item).collect()
    }

    /// Records the paylink of a pending deposit.
    pub async fn set_paylink(&self, d: &Deposit, paylink_id: &str, url: &str) -> Result<(), StoreError> {
        self.client()
            .update_item()
            .table_name(self.table())
            .set_key(Some(key(keys::account_pk(&d.account_id), keys::deposit_sk(&d.id))))
            .update_expression("SET paylink_id = :id, paylink_url = :url, #st = :await REMOVE GSI1PK, GSI1SK")
            .condition_expression("#st = :pending")
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(":id", s(paylink_id))
            .expression_attribute_values(":url", s(url))
            .expression_attribute_values(":await", s(DepositStatus::AwaitingPayment.as_str()))
            .expression_attribute_values(":pending", s(DepositStatus::Pending.as_str()))
            .send()
            .await
            .map_err(sdk_err)?;
        Ok(())
    }
}

/// What a payment callback did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaymentResult {
    /// The wallet was credited.
    Credited,
    /// Already credited: nothing changed.
    Duplicate,
    /// Not a successful payment of this deposit's amount: nothing changed.
    Ignored(String),
}

/// A new deposit id.
pub fn new_deposit_id() -> String {
    format!("dep_{}", uuid::Uuid::now_v7().simple())
}

/// The callback secret of a deposit: HMAC-SHA256 of its id under `key` (the app secret),
/// hex, 40 characters.
pub fn callback_secret(key: &[u8], deposit_id: &str) -> String {
    let mut h = crate::crypto::hmac_sha256_hex(key, format!("hubtel-deposit-callback:{deposit_id}").as_bytes());
    h.truncate(40);
    h
}

/// Whether `given` is the deposit's callback secret (constant time).
pub fn secret_ok(key: &[u8], deposit_id: &str, given: &str) -> bool {
    let want = callback_secret(key, deposit_id);
    given.len() == want.len()
        && aws_lc_rs::constant_time::verify_slices_are_equal(want.as_bytes(), given.as_bytes()).is_ok()
}

/// The callback path of a deposit (appended to kobo's public URL).
pub fn callback_path(account_id: &str, deposit_id: &str, secret: &str) -> String {
    format!("/callbacks/hubtel/payment/{account_id}/{deposit_id}/{secret}")
}

/// Applies Hubtel's payment callback for a deposit whose URL secret was verified.
pub async fn apply_payment(store: &Store, d: &Deposit, body: &serde_json::Value) -> Result<PaymentResult, StoreError> {
    let data = &body["data"];
    let status = data["status"].as_str().unwrap_or_default().to_ascii_lowercase();
    let paid = matches!(status.as_str(), "success" | "successful" | "paid" | "completed");
    let reference_ok = data["clientReference"].as_str() == Some(d.id.as_str());
    let amount = data["amount"].as_f64().map(|a| Kobo((a * 100.0).round() as i64));
    if !paid {
        return Ok(PaymentResult::Ignored(format!("payment status {status:?}")));
    }
    if !reference_ok {
        return Ok(PaymentResult::Ignored("clientReference does not match the deposit".into()));
    }
    if amount != Some(d.amount) {
        return Ok(PaymentResult::Ignored(format!("amount {amount:?} does not match {}", d.amount)));
    }
    if d.status == DepositStatus::Credited {
        return Ok(PaymentResult::Duplicate);
    }
    let now = now_rfc3339();
    let mark = Update::builder()
        .table_name(store.table())
        .set_key(Some(key(keys::account_pk(&d.account_id), keys::deposit_sk(&d.id))))
        .update_expression("SET #st = :credited, credited_at = :now, payment_phone = :ph")
        .condition_expression("#st <> :credited")
        .expression_attribute_names("#st", "status")
        .expression_attribute_values(":credited", s(DepositStatus::Credited.as_str()))
        .expression_attribute_values(":now", s(&now))
        .expression_attribute_values(
            ":ph",
            s(crate::telemetry::mask_phone(data["phoneNumber"].as_str().unwrap_or_default())),
        )
        .build()
        .map_err(build_err)?;
    let entry = LedgerEntry {
        id: uuid::Uuid::now_v7().to_string(),
        account_id: d.account_id.clone(),
        amount: d.amount,
        kind: "deposit".into(),
        reason: "Hubtel payment".into(),
        reference: Some(format!("deposit:{}", d.id)),
        actor: "hubtel".into(),
        created_at: now,
    };
    let mut items: Vec<TransactWriteItem> = vec![TransactWriteItem::builder().update(mark).build()];
    items.extend(store.balance_change(&entry, Floor::None)?);
    items.push(
        OutboxEvent::new(&d.account_id, EventType::DepositSuccess, "deposit", d.webhook_object()).put(store.table())?,
    );
    match transact(store, items).await {
        Ok(()) => Ok(PaymentResult::Credited),
        Err(TxError::Conditions(_)) | Err(TxError::Store(StoreError::Conflict(_))) => Ok(PaymentResult::Duplicate),
        Err(TxError::Store(e)) => Err(e),
    }
}

/// Creates the paylink of a pending deposit if Hubtel has a free slot within `max_wait`;
/// otherwise leaves it pending (the reconciler tries again). Returns the deposit as it
/// now stands.
#[allow(clippy::too_many_arguments)]
pub async fn create_paylink(
    store: &Store,
    hubtel: &crate::upstream::hubtel::HubtelClient,
    throttle: &crate::hubtel_throttle::Throttle,
    key: &[u8],
    public_url: &str,
    d: &Deposit,
    max_wait: std::time::Duration,
) -> Result<Deposit, StoreError> {
    if d.status != DepositStatus::Pending {
        return Ok(d.clone());
    }
    if !throttle.acquire(max_wait).await? {
        return Ok(d.clone());
    }
    let callback = format!(
        "{}{}",
        public_url.trim_end_matches('/'),
        callback_path(&d.account_id, &d.id, &callback_secret(key, &d.id))
    );
    match hubtel
        .paylink(
            d.amount,
            "kobo wallet deposit",
            &format!("Deposit {} to a kobo wallet", d.amount),
            &d.id,
            &[],
            &callback,
        )
        .await
    {
        Ok(p) => {
            match store.set_paylink(d, &p.paylink_id, &p.paylink_url).await {
                Ok(()) | Err(StoreError::Conflict(_)) => {}
                Err(e) => return Err(e),
            }
            Ok(store.get_deposit(&d.account_id, &d.id).await?.unwrap_or_else(|| d.clone()))
        }
        Err(e) => {
            tracing::warn!(deposit = %d.id, error = %e, "paylink not created yet; the reconciler will retry");
            Ok(d.clone())
        }
    }
}
