//! What a flood may cost. Rate counters are written in the authentication wave, but:
//! a key is counted on its own item, so a key that does not exist writes nothing; every
//! counter stops at the highest limit that could apply to it; and a container remembers,
//! until the window ends, the subjects it saw over their limit (an IP guessing keys, a
//! key past its plan), so their further requests write nothing at all.

use std::collections::HashMap;
use std::sync::Mutex;

use kobo_shared::db::keys::RateSubject;
use kobo_shared::domain::account::{Account, ApiKeyRecord, Plan};
use kobo_shared::domain::apikey::PresentedKey;
use kobo_shared::domain::auth::{AnonymousLimits, Hits};
use kobo_shared::domain::ratelimit::{self, Window};
use kobo_shared::ApiError;

use crate::App;

/// The account and key a request names, as found.
pub type Lookup = (Option<Account>, Option<ApiKeyRecord>);

/// The authentication wave, one round trip: the key and account lookup (with what the
/// action needs read in the same batch) and both rate counters, concurrently, with the
/// action's id counter and PIN attempt (see `prefetch`). An IP this container saw guessing keys past its limit in this
/// window is not counted again (nor is its key): if the key turns out valid, it is
/// counted after the wave; anything else is refused on the count remembered.
pub async fn lookup_and_count(
    app: &App,
    ip: &str,
    presented: Option<&PresentedKey<'_>>,
    window: &Window,
    anonymous: AnonymousLimits,
    wanted: &crate::prefetch::Wanted,
) -> Result<(Lookup, Hits, crate::prefetch::Prefetched), ApiError> {
    let (key_cap, ip_cap) = app.plans.caps(anonymous.ip_rpm).await;
    let anon_over = app.over_limit.get(window.start, &anonymous_ip(ip));
    let key_over = presented.and_then(|p| app.over_limit.get(window.start, &key(&p.hash)));
    let count_ip = || app.store.hit_rate(RateSubject::Ip(ip), window, ip_cap);
    let count_key = || async {
        match presented {
            Some(p) => app.store.hit_key_rate(p.account_id, &p.hash, window, key_cap).await,
            None => Ok(0),
        }
    };
    let ip_hits = async {
        match anon_over {
            Some(_) => Ok(None),
            None => count_ip().await.map(Some),
        }
    };
    let (lookup, key_hits, ip_hits, pre) = match presented {
        Some(p) => {
            let key_hits = async {
                match (key_over, anon_over) {
                    (Some(h), _) => Ok(Some(h)),
                    (None, Some(_)) => Ok(None),
                    (None, None) => count_key().await.map(Some),
                }
            };
            let now = app.clock.now_unix();
            let extra = wanted.keys(p.account_id);
            let (wave, key_hits, ip_hits, (ids, pin)) = tokio::join!(
                app.store.auth_wave(p.account_id, &p.hash, &extra),
                key_hits,
                ip_hits,
                wanted.writes(&app.store, p.account_id, now)
            );
            let (account, key, extras) = wave?;
            let pre = crate::prefetch::Prefetched::from_wave(wanted, &extras, ids, pin, now)?;
            ((account, key), key_hits?, ip_hits?, pre)
        }
        None => ((None, None), Some(0), ip_hits.await?, crate::prefetch::Prefetched::default()),
    };
    let authenticated = matches!(&lookup, (Some(_), Some(_)));
    let (key_hits, ip_hits) = match (key_hits, ip_hits) {
        (Some(k), Some(i)) => (k, i),
        (k, i) if authenticated => {
            let k = match k {
                Some(k) => k,
                None => count_key().await?,
            };
            let i = match i {
                Some(i) => i,
                None => count_ip().await?,
            };
            (k, i)
        }
        (k, i) => (k.unwrap_or(0), i.or(anon_over).unwrap_or(u64::MAX)),
    };
    Ok((lookup, Hits { key: key_hits, ip: ip_hits }, pre))
}

/// Remembers who went over their limit, so their next requests in this window write
/// nothing: an IP guessing keys, a key past its plan.
#[allow(clippy::too_many_arguments)]
pub fn remember_over(
    app: &App,
    ip: &str,
    presented: Option<&PresentedKey<'_>>,
    plan: Option<&Plan>,
    authenticated: bool,
    hits: Hits,
    window: &Window,
    anonymous: AnonymousLimits,
) {
    if !authenticated && ratelimit::exceeded(hits.ip, anonymous.ip_rpm) {
        app.over_limit.note(window.start, anonymous_ip(ip), hits.ip);
    }
    if let (Some(p), Some(plan)) = (presented, plan) {
        if ratelimit::exceeded(hits.key, plan.key_rpm) {
            app.over_limit.note(window.start, key(&p.hash), hits.key);
        }
    }
}

/// Counts a refused request of an existing key for the portal's "why was my request
/// refused?": one counter per minute, check and IP, written at most once per container
/// and minute for each (a flood past the limit costs no write per request). A failed
/// write is logged; the refusal is answered anyway.
#[allow(clippy::too_many_arguments)]
pub async fn record_refusal(
    app: &App,
    account: &kobo_shared::domain::account::Account,
    key: &kobo_shared::domain::account::ApiKeyRecord,
    ip: &str,
    action: Option<&str>,
    e: &kobo_shared::ApiError,
    window: &Window,
) {
    use kobo_shared::domain::portal::{Refusal, RefusedBy};
    let Some(by) = RefusedBy::of(e) else { return };
    if key.account_id != account.id {
        return;
    }
    let memo = format!("refused:{}:{}:{ip}", key.hash, by.as_str());
    if app.over_limit.get(window.start, &memo).is_some() {
        return;
    }
    app.over_limit.note(window.start, memo, 1);
    let r = Refusal {
        account_id: account.id.clone(),
        key_id: key.key_id.clone(),
        by,
        ip: ip.chars().take(64).collect(),
        action: action.map(|a| a.chars().take(40).collect()).unwrap_or_default(),
        message: e.to_string().chars().take(200).collect(),
        window_start: window.start,
        count: 1,
    };
    if let Err(e) = app.store.record_refusal(&r).await {
        tracing::warn!(error = %e, "refused request not recorded for the portal");
    }
}

/// Subjects seen over their limit in the current window, per container (bounded).
#[derive(Debug, Default)]
pub struct OverLimit {
    inner: Mutex<(i64, HashMap<String, u64>)>,
}

/// Most subjects remembered per window; past it a flood just costs its writes again.
const MAX_REMEMBERED: usize = 10_000;

/// The memo's subject for an IP guessing keys.
pub fn anonymous_ip(ip: &str) -> String {
    format!("ip:{ip}")
}

/// The memo's subject for a key.
pub fn key(hash: &str) -> String {
    format!("key:{hash}")
}

impl OverLimit {
    /// The count last seen for `subject` in the window starting at `window`, if it was
    /// over its limit.
    pub fn get(&self, window: i64, subject: &str) -> Option<u64> {
        let guard = self.inner.lock().ok()?;
        (guard.0 == window).then(|| guard.1.get(subject).copied()).flatten()
    }

    /// Remembers `subject` over its limit with `hits` in the window starting at `window`.
    pub fn note(&self, window: i64, subject: String, hits: u64) {
        let Ok(mut guard) = self.inner.lock() else { return };
        if guard.0 != window {
            *guard = (window, HashMap::new());
        }
        if guard.1.len() < MAX_REMEMBERED || guard.1.contains_key(&subject) {
            guard.1.insert(subject, hits);
        }
    }

    /// How many subjects are remembered now.
    pub fn len(&self) -> usize {
        self.inner.lock().map(|g| g.1.len()).unwrap_or(0)
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_per_window_and_is_bounded() {
        let m = OverLimit::default();
        m.note(60, anonymous_ip("1.2.3.4"), 61);
        assert_eq!(m.get(60, &anonymous_ip("1.2.3.4")), Some(61));
        assert_eq!(m.get(120, &anonymous_ip("1.2.3.4")), None, "a new window forgets");
        for i in 0..(MAX_REMEMBERED + 50) {
            m.note(120, key(&i.to_string()), 1);
        }
        assert_eq!(m.len(), MAX_REMEMBERED);
        m.note(180, key("x"), 1);
        assert_eq!(m.len(), 1);
    }
}
