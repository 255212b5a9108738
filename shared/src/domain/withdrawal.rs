//! Withdrawals through Hubtel send-money: states, limits, OTP sessions, callback secrets.

use serde::{Deserialize, Serialize};

use super::money::Kobo;
use super::time::now_rfc3339;

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

    /// The status a stored word names.
    pub fn parse(v: &str) -> Option<WithdrawalStatus> {
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
    pub pending_otp: Option<(OtpSession, String)>,
    /// RFC 3339.
    pub created_at: String,
    /// Send-money attempts made for it (each claimed, so two never run at once).
    #[serde(skip)]
    pub send_attempts: u32,
    /// Whether an attempt's answer was lost: Hubtel may hold the payout.
    #[serde(skip)]
    pub payout_unknown: bool,
    /// When (unix seconds) the attempt now in flight was claimed: set before send-money is
    /// called and cleared only when Hubtel certainly did not take it, so an attempt cut
    /// off by a crash reads "outcome unknown", never "not sent".
    #[serde(skip)]
    pub sending_since: Option<i64>,
}

/// What a Hubtel payout's `responseCode` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayoutCode {
    /// `0000`: paid.
    Paid,
    /// `0001`: accepted, still processing: the final callback is to come.
    Pending,
    /// One of Hubtel's final failure codes: nothing was paid.
    Failed,
    /// A code kobo does not know: nothing is assumed; an operator looks.
    Unknown,
}

impl PayoutCode {
    /// Hubtel's final failure codes for send-money (a failed transaction, validation,
    /// limits, the business or customer account refused).
    pub const FAILURES: &'static [&'static str] =
        &["2001", "2050", "2100", "2101", "2102", "2103", "2152", "2153", "2154", "4000", "4070", "4101", "4103"];

    /// Reads a `responseCode`.
    pub fn of(code: &str) -> PayoutCode {
        match code {
            "0000" => PayoutCode::Paid,
            "0001" => PayoutCode::Pending,
            c if PayoutCode::FAILURES.contains(&c) => PayoutCode::Failed,
            _ => PayoutCode::Unknown,
        }
    }
}

impl Withdrawal {
    /// The webhook object (the phone masked).
    pub fn webhook_object(&self) -> serde_json::Value {
        serde_json::json!({
            "id": self.id,
            "amount": self.amount.to_string(),
            "currency": "NGN",
            "phone": crate::domain::phone::mask_phone(&self.phone),
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
    pub session: OtpSession,
    /// Unix expiry.
    pub expires_at: i64,
    /// Whether a withdrawal used it.
    pub used: bool,
}

/// How long an OTP is valid (seconds).
pub const OTP_TTL_SECS: i64 = 600;

/// The vault context of a withdrawal's OTP code waiting to be checked (sealed, never
/// stored in clear; bound to the withdrawal).
pub fn otp_code_context(account_id: &str, withdrawal_id: &str) -> String {
    format!("otp-code/{account_id}/{withdrawal_id}")
}

/// An OTP session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OtpSession {
    /// Hubtel's session id.
    #[serde(rename = "requestId")]
    pub request_id: String,
    /// The 4-character prefix shown to the user.
    pub prefix: String,
}
