//! The Developer Portal's domain: sign-in identities, sessions, API access plan requests
//! and the refused API requests a reseller can look up. Plain types and pure functions.

use crate::domain::money::Kobo;
use crate::error::ApiError;

/// A session is dropped after this long without a request.
pub const SESSION_IDLE_SECS: i64 = 30 * 60;
/// A session ends this long after sign-in, however active.
pub const SESSION_ABSOLUTE_SECS: i64 = 12 * 3600;
/// A session's `last_seen` is written at most this often.
pub const SESSION_TOUCH_SECS: i64 = 60;
/// A portal OTP (phone verification, password reset) is valid this long.
pub const PORTAL_OTP_SECS: i64 = 10 * 60;
/// Wrong codes one portal OTP takes before a new one is needed.
pub const PORTAL_OTP_TRIES: u32 = 3;
/// A key's `last_used` is written at most this often (never on the API's path).
pub const KEY_LAST_USED_EVERY_SECS: i64 = 3600;
/// The longest grace a rolled key keeps working.
pub const MAX_ROLL_GRACE_SECS: i64 = 24 * 3600;
/// Refused requests are kept this long.
pub const REFUSAL_TTL_SECS: i64 = 7 * 24 * 3600;

/// A sign-in email: trimmed, lower-cased, one `@` with text around it and a dot after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    /// Parses and normalizes an email address.
    pub fn parse(raw: &str) -> Result<Email, &'static str> {
        let e = raw.trim().to_ascii_lowercase();
        let valid = e.len() <= 254
            && e.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty()
                    && !domain.contains('@')
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
            })
            && e.chars().all(|c| c.is_ascii_graphic());
        if valid {
            Ok(Email(e))
        } else {
            Err("is not a valid email address")
        }
    }

    /// The normalized address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A password good enough to accept: 10–128 characters, not all of one kind.
pub fn check_password(p: &str) -> Result<(), &'static str> {
    let len = p.chars().count();
    if len < 10 {
        return Err("must be at least 10 characters");
    }
    if len > 128 {
        return Err("must be at most 128 characters");
    }
    if p.chars().all(|c| c.is_ascii_digit()) || p.chars().all(|c| c.is_alphabetic()) {
        return Err("must mix letters with digits or symbols");
    }
    Ok(())
}

/// A display name: 2–80 printable characters.
pub fn check_name(n: &str) -> Result<String, &'static str> {
    let n = n.trim();
    let len = n.chars().count();
    if !(2..=80).contains(&len) || n.chars().any(char::is_control) {
        return Err("must be 2 to 80 characters");
    }
    Ok(n.to_string())
}

/// What a portal OTP is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtpPurpose {
    /// Verifying the phone given at sign-up (it becomes the payout phone).
    VerifyPhone,
    /// Resetting a forgotten password.
    ResetPassword,
}

impl OtpPurpose {
    /// The word stored in the OTP item's key.
    pub fn as_str(self) -> &'static str {
        match self {
            OtpPurpose::VerifyPhone => "verify",
            OtpPurpose::ResetPassword => "reset",
        }
    }
}

/// A signed-in session, as stored (the token itself is never stored, only its hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Whose session.
    pub account_id: String,
    /// Hex SHA-256 of the cookie token.
    pub token_hash: String,
    /// The CSRF token every form of this session carries.
    pub csrf: String,
    /// Signed in at (unix s).
    pub created_at: i64,
    /// Last request (unix s, written at most every [`SESSION_TOUCH_SECS`]).
    pub last_seen: i64,
}

impl Session {
    /// Whether the session still holds at `now`: neither idle too long nor too old.
    pub fn live_at(&self, now: i64) -> bool {
        now - self.last_seen <= SESSION_IDLE_SECS && now - self.created_at <= SESSION_ABSOLUTE_SECS
    }

    /// When the table may delete it (the absolute expiry).
    pub fn expires_at(&self) -> i64 {
        self.created_at + SESSION_ABSOLUTE_SECS
    }
}

/// What an API access plan offers and costs, as the portal lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanOffer {
    /// The plan's id.
    pub plan_id: String,
    /// Charged from the wallet when requested (refunded if rejected).
    pub price: Kobo,
    /// Whether a request must carry KYC details.
    pub kyc_required: bool,
}

/// Where a plan request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AccessStatus {
    /// Paid, waiting for an operator.
    Pending,
    /// The plan is set and API access is on.
    Approved,
    /// Refunded.
    Rejected,
}

impl AccessStatus {
    /// The stored word.
    pub fn as_str(self) -> &'static str {
        match self {
            AccessStatus::Pending => "pending",
            AccessStatus::Approved => "approved",
            AccessStatus::Rejected => "rejected",
        }
    }

    /// Parses the stored word.
    pub fn parse(s: &str) -> Option<AccessStatus> {
        match s {
            "pending" => Some(AccessStatus::Pending),
            "approved" => Some(AccessStatus::Approved),
            "rejected" => Some(AccessStatus::Rejected),
            _ => None,
        }
    }
}

/// KYC details a plan may ask for.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct Kyc {
    /// Registered business name.
    pub business_name: String,
    /// BVN or NIN (11 digits).
    pub id_number: String,
    /// Business address.
    pub address: String,
}

impl Kyc {
    /// Checks the details: every field given, the id 11 digits.
    pub fn check(&self) -> Result<(), (&'static str, &'static str)> {
        if self.business_name.trim().chars().count() < 2 {
            return Err(("business_name", "is required"));
        }
        if self.id_number.len() != 11 || !self.id_number.bytes().all(|b| b.is_ascii_digit()) {
            return Err(("id_number", "must be an 11-digit BVN or NIN"));
        }
        if self.address.trim().chars().count() < 5 {
            return Err(("address", "is required"));
        }
        Ok(())
    }
}

/// One request for an API access plan.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AccessRequest {
    /// `acc_…` id.
    pub id: String,
    /// Who asked.
    pub account_id: String,
    /// The plan asked for.
    pub plan_id: String,
    /// What was charged.
    pub price: Kobo,
    /// Where it stands.
    pub status: AccessStatus,
    /// KYC details, when the plan asked for them.
    pub kyc: Option<Kyc>,
    /// The operator's reason for a rejection.
    pub reason: Option<String>,
    /// When it was made (RFC 3339).
    pub created_at: String,
}

/// A new access request id.
pub fn new_access_request_id() -> String {
    format!("acr_{}", uuid::Uuid::now_v7().simple())
}

/// The check that refused an API request, as the portal explains it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusedBy {
    /// The key is revoked or retired.
    Key,
    /// The account's API access is not active.
    ApiAccess,
    /// The caller's IP is not on the key's whitelist.
    Ip,
    /// The caller's domain is not on the key's whitelist.
    Domain,
    /// The action does not exist or is missing.
    Action,
    /// The key's scopes leave the action out.
    Scope,
    /// Over the key's or the IP's rate limit.
    Rate,
}

impl RefusedBy {
    /// The check an authorization error names, when it is one a reseller can act on.
    pub fn of(e: &ApiError) -> Option<RefusedBy> {
        Some(match e {
            ApiError::InvalidKey => RefusedBy::Key,
            ApiError::ApiAccessInactive => RefusedBy::ApiAccess,
            ApiError::IpNotWhitelisted(_) => RefusedBy::Ip,
            ApiError::DomainNotWhitelisted => RefusedBy::Domain,
            ApiError::Validation(_) => RefusedBy::Action,
            ApiError::ScopeDenied => RefusedBy::Scope,
            ApiError::RateLimited { .. } => RefusedBy::Rate,
            _ => return None,
        })
    }

    /// The stored word.
    pub fn as_str(self) -> &'static str {
        match self {
            RefusedBy::Key => "key",
            RefusedBy::ApiAccess => "api_access",
            RefusedBy::Ip => "ip",
            RefusedBy::Domain => "domain",
            RefusedBy::Action => "action",
            RefusedBy::Scope => "scope",
            RefusedBy::Rate => "rate",
        }
    }

    /// Parses the stored word.
    pub fn parse(s: &str) -> Option<RefusedBy> {
        [
            RefusedBy::Key,
            RefusedBy::ApiAccess,
            RefusedBy::Ip,
            RefusedBy::Domain,
            RefusedBy::Action,
            RefusedBy::Scope,
            RefusedBy::Rate,
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
    }

    /// What the reseller can do about it.
    pub fn advice(self) -> &'static str {
        match self {
            RefusedBy::Key => "The key was revoked or rolled; use a current key.",
            RefusedBy::ApiAccess => "Request an API access plan; access turns on when it is approved.",
            RefusedBy::Ip => "Whitelist this IP on the key, or call from a whitelisted one.",
            RefusedBy::Domain => "Send a whitelisted domain (X-API-ORIGIN, Origin, origin= or domain=).",
            RefusedBy::Action => "Send a valid action name.",
            RefusedBy::Scope => "Give the key this action's scope.",
            RefusedBy::Rate => "Slow down: the plan's per-key or per-IP limit was reached this minute.",
        }
    }
}

/// Refused requests of one check from one IP in one minute, counted together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// Whose key.
    pub account_id: String,
    /// The key's id (hash prefix).
    pub key_id: String,
    /// The check.
    pub by: RefusedBy,
    /// The caller's IP.
    pub ip: String,
    /// The action asked for (as sent, truncated).
    pub action: String,
    /// The message answered.
    pub message: String,
    /// The minute (unix s of its start).
    pub window_start: i64,
    /// How many requests were refused so in that minute.
    pub count: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_normalize_and_refuse_junk() {
        assert_eq!(Email::parse("  Ada@Shop.NG ").map(|e| e.as_str().to_string()), Ok("ada@shop.ng".into()));
        for bad in ["", "ada", "@shop.ng", "ada@", "ada@shop", "ada@@shop.ng", "a da@shop.ng", "ada@.ng", "ada@shop."] {
            assert!(Email::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn passwords_need_length_and_mix() {
        assert!(check_password("short1").is_err());
        assert!(check_password("12345678901").is_err());
        assert!(check_password("abcdefghijk").is_err());
        assert!(check_password("correct horse 9").is_ok());
        assert!(check_password(&"a1".repeat(65)).is_err());
    }

    #[test]
    fn sessions_expire_idle_and_absolute() {
        let s =
            Session { account_id: "a".into(), token_hash: "h".into(), csrf: "c".into(), created_at: 0, last_seen: 0 };
        assert!(s.live_at(SESSION_IDLE_SECS));
        assert!(!s.live_at(SESSION_IDLE_SECS + 1));
        let busy = Session { last_seen: SESSION_ABSOLUTE_SECS, ..s.clone() };
        assert!(busy.live_at(SESSION_ABSOLUTE_SECS));
        assert!(!Session { last_seen: SESSION_ABSOLUTE_SECS + 1, ..s }.live_at(SESSION_ABSOLUTE_SECS + 1));
    }

    #[test]
    fn kyc_and_refusal_words() {
        let k = Kyc {
            business_name: "Ada Stores".into(),
            id_number: "12345678901".into(),
            address: "1 Marina, Lagos".into(),
        };
        assert_eq!(k.check(), Ok(()));
        assert_eq!(Kyc { id_number: "123".into(), ..k }.check().map_err(|e| e.0), Err("id_number"));
        for r in [RefusedBy::Key, RefusedBy::Ip, RefusedBy::Rate, RefusedBy::ApiAccess] {
            assert_eq!(RefusedBy::parse(r.as_str()), Some(r));
        }
        assert_eq!(RefusedBy::of(&ApiError::IpNotWhitelisted("1.2.3.4".into())), Some(RefusedBy::Ip));
        assert_eq!(RefusedBy::of(&ApiError::InsufficientBalance), None);
    }
}
