//! Accounts, their plans, API keys and ledger entries.

use std::collections::BTreeMap;

use serde::Serialize;

use super::action::Action;
use super::money::Kobo;
use super::vtu::VtuCategory;

/// An API access plan: discounts and rate limits.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Plan {
    /// Short id, e.g. `gold`.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Discount on SMM sell rates, in basis points (250 = 2.5%).
    pub smm_discount_bp: u32,
    /// Discount on the VTU profit portion per category, in basis points.
    pub vtu_discount_bp: BTreeMap<VtuCategory, u32>,
    /// Requests per minute allowed for one key (0 = unlimited).
    pub key_rpm: u32,
    /// Requests per minute allowed from one source IP (0 = unlimited).
    pub ip_rpm: u32,
}

/// A reseller account and its wallet.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Account {
    /// Random id, also embedded in the account's API keys.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Contact e-mail, if given.
    pub email: Option<String>,
    /// Contact phone (E.164), if given.
    pub phone: Option<String>,
    /// The plan that sets discounts and rate limits.
    pub plan_id: String,
    /// Whether API access is active (approved and not suspended).
    pub api_active: bool,
    /// Wallet balance.
    pub balance: Kobo,
    /// A spend may not take the balance below this.
    pub min_balance: Kobo,
    /// Keyed digest of the transaction PIN, if set. Never shown.
    #[serde(skip)]
    pub pin_digest: Option<String>,
    /// Consecutive wrong PINs.
    pub pin_failures: u32,
    /// Purchases are locked until this unix time after too many wrong PINs
    /// ([`crate::domain::pin::LOCKED_UNTIL_RESET`]: until an operator resets it).
    pub pin_locked_until: Option<i64>,
    /// PIN checks ever evaluated (read only: counted by the attempt reservations).
    pub pin_checks: u64,
    /// Locks in a row since the last right PIN (read only).
    pub pin_lock_level: u32,
    /// The verified E.164 phone withdrawals are paid to and their OTPs are sent to.
    pub payout_phone: Option<String>,
    /// E.164 phone for SMS notices, when they are on.
    pub notice_phone: Option<String>,
    /// SMS when a spend takes the balance below this.
    pub low_balance_alert: Option<Kobo>,
    /// RFC 3339 creation time.
    pub created_at: String,
}

/// A stored API key: its hash, never the key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ApiKeyRecord {
    /// Owner.
    pub account_id: String,
    /// Hex SHA-256 of the full key.
    #[serde(skip)]
    pub hash: String,
    /// Short id to name the key in the CLI and portal: the first 12 hex digits of the hash.
    pub key_id: String,
    /// A label chosen by the owner.
    pub label: String,
    /// A safe hint such as `kobo_abc…9xYz`.
    pub hint: String,
    /// Actions the key may call.
    pub scopes: Vec<Action>,
    /// Allowed source IPs or CIDR blocks; empty = any.
    pub ip_whitelist: Vec<String>,
    /// Allowed origin domains; empty = any.
    pub domain_whitelist: Vec<String>,
    /// When it was revoked (RFC 3339), if it was.
    pub revoked_at: Option<String>,
    /// When a rolled key stops working (unix s); it works until then.
    pub retire_at: Option<i64>,
    /// Last used (unix s), written at most once an hour.
    pub last_used: Option<i64>,
    /// RFC 3339 creation time.
    pub created_at: String,
}

impl ApiKeyRecord {
    /// The short id of a key hash.
    pub fn key_id_of(hash: &str) -> String {
        hash.chars().take(12).collect()
    }

    /// Whether the key works at `now`: not revoked, and not retired after a roll.
    pub fn usable_at(&self, now: i64) -> bool {
        self.revoked_at.is_none() && self.retire_at.is_none_or(|t| now < t)
    }
}

/// One immutable ledger entry: every balance change writes exactly one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LedgerEntry {
    /// UUID v7 (time ordered).
    pub id: String,
    /// Owner.
    pub account_id: String,
    /// Signed change of the balance.
    pub amount: Kobo,
    /// What kind of change: `credit`, `debit`, `order`, `refund`, `deposit`, ...
    pub kind: String,
    /// Human reason (operator credits and debits must give one).
    pub reason: String,
    /// The business item this entry belongs to, if any.
    pub reference: Option<String>,
    /// Who caused it: `operator`, `api`, `reconciler`, ...
    pub actor: String,
    /// RFC 3339 time.
    pub created_at: String,
}

/// An account's SMS notice settings.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct NoticeSettings {
    /// E.164 phone to notify; `None` = notices off.
    pub phone: Option<String>,
    /// Notify when a spend takes the balance below this.
    pub low_balance: Option<Kobo>,
}
