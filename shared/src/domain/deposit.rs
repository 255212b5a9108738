//! Wallet deposits through Hubtel paylinks: their states, limits and callback secrets.

use serde::Serialize;

use super::money::Kobo;
use super::time::now_rfc3339;

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
    /// Never got its paylink within [`DEPOSIT_QUEUE_SECS`] (Hubtel busy or refusing):
    /// dropped; nothing was paid. (A payment that still arrives is credited.)
    Expired,
}

/// How long a deposit may wait for its paylink before it is dropped.
pub const DEPOSIT_QUEUE_SECS: i64 = 30 * 60;

impl DepositStatus {
    /// The word.
    pub const fn as_str(self) -> &'static str {
        match self {
            DepositStatus::Pending => "pending",
            DepositStatus::AwaitingPayment => "awaiting_payment",
            DepositStatus::Credited => "credited",
            DepositStatus::Expired => "expired",
        }
    }

    /// The status a stored word names.
    pub fn parse(s: &str) -> Option<DepositStatus> {
        [DepositStatus::Pending, DepositStatus::AwaitingPayment, DepositStatus::Credited, DepositStatus::Expired]
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
    /// Whether it has waited for its paylink past [`DEPOSIT_QUEUE_SECS`] at `now` (unix).
    pub fn waited_too_long(&self, now: i64) -> bool {
        chrono::DateTime::parse_from_rfc3339(&self.created_at)
            .map(|t| now - t.timestamp() > DEPOSIT_QUEUE_SECS)
            .unwrap_or(true)
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
