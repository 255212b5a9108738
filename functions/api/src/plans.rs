//! Plans change rarely and every request needs one: a per-container cache, reloaded when
//! the plans' version read in the authentication wave moved (see `caches`), when an
//! unknown plan id shows up, or (read without a version) after a minute.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use kobo_shared::domain::account::Plan;
use kobo_shared::{Store, StoreError};
use tokio::sync::RwLock;

type Plans = Arc<HashMap<String, Plan>>;

/// The cache.
#[derive(Debug, Default)]
pub struct PlanCache {
    inner: RwLock<Option<(Option<u64>, Instant, Plans)>>,
}

impl PlanCache {
    /// Where the key and IP counters may stop: the highest key and IP limits of the
    /// plans cached now (and `anonymous_ip_rpm`), `None` when one is unlimited or the
    /// cache is cold (no read is made for this).
    pub async fn caps(&self, anonymous_ip_rpm: u32) -> (Option<u64>, Option<u64>) {
        let guard = self.inner.read().await;
        let Some((_, _, plans)) = guard.as_ref() else { return (None, None) };
        let max = |limits: &mut dyn Iterator<Item = u32>| -> Option<u64> {
            let mut top = 0u32;
            for l in limits {
                if l == 0 {
                    return None;
                }
                top = top.max(l);
            }
            Some(u64::from(top))
        };
        let key = max(&mut plans.values().map(|p| p.key_rpm));
        let ip = max(&mut plans.values().map(|p| p.ip_rpm).chain(std::iter::once(anonymous_ip_rpm)));
        (key, ip)
    }

    /// The plan `id`, loading all plans (one Query) when the cache is cold, not fresh at
    /// `version` (the plans' version the request read, if it did) or does not know `id`.
    pub async fn get(&self, store: &Store, id: &str, version: Option<u64>) -> Result<Option<Plan>, StoreError> {
        if let Some((had, at, plans)) = self.inner.read().await.as_ref() {
            if crate::caches::fresh(*had, *at, version) {
                if let Some(p) = plans.get(id) {
                    return Ok(Some(p.clone()));
                }
            }
        }
        let plans: Plans = Arc::new(store.plans().await?.into_iter().map(|p| (p.id.clone(), p)).collect());
        let found = plans.get(id).cloned();
        *self.inner.write().await = Some((version, Instant::now(), plans));
        Ok(found)
    }
}
