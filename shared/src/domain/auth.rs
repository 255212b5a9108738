//! Who may call what: the pure decision over a key, its account, the request and the
//! rate counters, in the order the seed's errors must come out.

use std::net::IpAddr;

use crate::domain::account::{Account, ApiKeyRecord, Plan};
use crate::domain::action::Action;
use crate::domain::ratelimit::{exceeded, Window};
use crate::domain::whitelist;
use crate::error::ApiError;

/// What the request says about itself, for authorization.
#[derive(Debug, Clone, Copy)]
pub struct Caller<'a> {
    /// Source IP from the request context (API Gateway), never from a header.
    pub source_ip: Option<IpAddr>,
    /// Origin by precedence: `X-API-ORIGIN`, `Origin`, body `origin=`, body `domain=`.
    pub origin: Option<&'a str>,
}

/// Request counts in the current window, as returned by the atomic counters.
#[derive(Debug, Clone, Copy)]
pub struct Hits {
    /// Requests with this key (0 if not counted).
    pub key: u64,
    /// Requests from this IP, any key.
    pub ip: u64,
}

/// Limits for callers whose key did not authenticate.
#[derive(Debug, Clone, Copy)]
pub struct AnonymousLimits {
    /// Requests per minute one IP may make with bad keys before getting 429.
    pub ip_rpm: u32,
}

/// Decides a request, in order: key valid and not revoked (401), API access active (403),
/// IP whitelist (403), domain whitelist (403), known action (422), scope (403), rate limit
/// (429). Failed key guesses count against the IP's limit: past it they get 429, so the
/// key space cannot be brute-forced.
#[allow(clippy::too_many_arguments)]
pub fn authorize(
    account: Option<&Account>,
    key: Option<&ApiKeyRecord>,
    plan: Option<&Plan>,
    action: Option<&str>,
    caller: Caller<'_>,
    hits: Hits,
    window: &Window,
    anonymous: AnonymousLimits,
) -> Result<Action, ApiError> {
    let limited = ApiError::RateLimited { retry_after: window.retry_after };
    let (account, key) = match (account, key) {
        (Some(a), Some(k)) if k.usable_at(window.now()) && k.account_id == a.id => (a, k),
        _ => {
            return Err(if exceeded(hits.ip, anonymous.ip_rpm) { limited } else { ApiError::InvalidKey });
        }
    };
    if !account.api_active {
        return Err(ApiError::ApiAccessInactive);
    }
    if !whitelist::ip_allowed(&key.ip_whitelist, caller.source_ip) {
        let shown = caller.source_ip.map(|ip| ip.to_string()).unwrap_or_else(|| "unknown".into());
        return Err(ApiError::IpNotWhitelisted(shown));
    }
    if !whitelist::domain_allowed(&key.domain_whitelist, caller.origin) {
        return Err(ApiError::DomainNotWhitelisted);
    }
    let action = match action.map(str::trim) {
        None | Some("") => return Err(ApiError::field("action", "is required")),
        Some(name) => name
            .parse::<Action>()
            .map_err(|_| ApiError::Validation(format!("action {name:?} is not a valid action")))?,
    };
    if !key.scopes.contains(&action) {
        return Err(ApiError::ScopeDenied);
    }
    // A missing plan (deleted after assignment) falls back to the anonymous IP limit.
    let (key_rpm, ip_rpm) = plan.map(|p| (p.key_rpm, p.ip_rpm)).unwrap_or((anonymous.ip_rpm, anonymous.ip_rpm));
    if exceeded(hits.key, key_rpm) || exceeded(hits.ip, ip_rpm) {
        return Err(limited);
    }
    Ok(action)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::money::Kobo;
    use crate::domain::ratelimit::window;
    use std::collections::BTreeMap;

    fn account(active: bool) -> Account {
        Account {
            id: "acc1".into(),
            name: "A".into(),
            email: None,
            phone: None,
            plan_id: "p".into(),
            api_active: active,
            balance: Kobo::new(100),
            min_balance: Kobo::new(0),
            pin_digest: None,
            pin_failures: 0,
            pin_locked_until: None,
            pin_checks: 0,
            pin_lock_level: 0,
            payout_phone: None,
            notice_phone: None,
            low_balance_alert: None,
            created_at: "t".into(),
        }
    }

    fn key() -> ApiKeyRecord {
        ApiKeyRecord {
            account_id: "acc1".into(),
            hash: "h".into(),
            key_id: "h".into(),
            label: String::new(),
            hint: String::new(),
            scopes: vec![Action::Balance],
            ip_whitelist: vec![],
            domain_whitelist: vec![],
            revoked_at: None,
            retire_at: None,
            last_used: None,
            created_at: "t".into(),
        }
    }

    fn plan() -> Plan {
        Plan {
            id: "p".into(),
            name: "P".into(),
            smm_discount_bp: 0,
            vtu_discount_bp: BTreeMap::new(),
            key_rpm: 2,
            ip_rpm: 3,
        }
    }

    const ANON: AnonymousLimits = AnonymousLimits { ip_rpm: 5 };
    const LOW: Hits = Hits { key: 1, ip: 1 };

    fn run(
        a: Option<&Account>,
        k: Option<&ApiKeyRecord>,
        action: &str,
        caller: Caller<'_>,
        hits: Hits,
    ) -> Result<Action, ApiError> {
        authorize(a, k, Some(&plan()), Some(action), caller, hits, &window(30), ANON)
    }

    fn anyone() -> Caller<'static> {
        Caller { source_ip: "1.2.3.4".parse().ok(), origin: None }
    }

    #[test]
    fn the_happy_path() {
        assert_eq!(run(Some(&account(true)), Some(&key()), "balance", anyone(), LOW), Ok(Action::Balance));
    }

    #[test]
    fn a_rolled_key_works_until_it_retires() {
        // `run` decides at unix 30.
        let a = account(true);
        let k = ApiKeyRecord { retire_at: Some(31), ..key() };
        assert_eq!(run(Some(&a), Some(&k), "balance", anyone(), LOW), Ok(Action::Balance));
        let k = ApiKeyRecord { retire_at: Some(30), ..key() };
        assert_eq!(run(Some(&a), Some(&k), "balance", anyone(), LOW), Err(ApiError::InvalidKey));
    }

    #[test]
    fn checks_come_in_the_seed_order() {
        let a = account(false);
        let mut k = key();
        k.revoked_at = Some("t".into());
        assert_eq!(run(Some(&a), Some(&k), "nope", anyone(), LOW), Err(ApiError::InvalidKey));
        assert_eq!(run(None, Some(&key()), "balance", anyone(), LOW), Err(ApiError::InvalidKey));
        assert_eq!(run(Some(&a), None, "balance", anyone(), LOW), Err(ApiError::InvalidKey));
        let mut k = key();
        k.ip_whitelist = vec!["9.9.9.9".into()];
        assert_eq!(run(Some(&a), Some(&k), "nope", anyone(), LOW), Err(ApiError::ApiAccessInactive));
        let a = account(true);
        assert_eq!(run(Some(&a), Some(&k), "nope", anyone(), LOW), Err(ApiError::IpNotWhitelisted("1.2.3.4".into())));
        let mut k = key();
        k.domain_whitelist = vec!["example.com".into()];
        assert_eq!(run(Some(&a), Some(&k), "nope", anyone(), LOW), Err(ApiError::DomainNotWhitelisted));
        let with_origin = Caller { origin: Some("https://example.com"), ..anyone() };
        assert!(matches!(run(Some(&a), Some(&k), "nope", with_origin, LOW), Err(ApiError::Validation(_))));
        assert_eq!(run(Some(&a), Some(&k), "services", with_origin, LOW), Err(ApiError::ScopeDenied));
        assert_eq!(
            run(Some(&a), Some(&k), "balance", with_origin, Hits { key: 3, ip: 1 }),
            Err(ApiError::RateLimited { retry_after: 30 })
        );
        assert_eq!(
            run(Some(&a), Some(&k), "balance", with_origin, Hits { key: 1, ip: 4 }),
            Err(ApiError::RateLimited { retry_after: 30 })
        );
    }

    #[test]
    fn a_key_of_another_account_is_invalid() {
        let mut k = key();
        k.account_id = "other".into();
        assert_eq!(run(Some(&account(true)), Some(&k), "balance", anyone(), LOW), Err(ApiError::InvalidKey));
    }

    #[test]
    fn key_guessing_is_rate_limited_per_ip() {
        assert_eq!(run(None, None, "balance", anyone(), Hits { key: 0, ip: 5 }), Err(ApiError::InvalidKey));
        assert_eq!(
            run(None, None, "balance", anyone(), Hits { key: 0, ip: 6 }),
            Err(ApiError::RateLimited { retry_after: 30 })
        );
    }

    #[test]
    fn missing_action_is_named() {
        let r = authorize(Some(&account(true)), Some(&key()), Some(&plan()), None, anyone(), LOW, &window(0), ANON);
        assert_eq!(r, Err(ApiError::Validation("action is required".into())));
    }
}
