//! Plans change rarely and every request needs one: a per-container cache, refreshed
//! every minute or when an unknown plan id shows up.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kobo_shared::domain::account::Plan;
use kobo_shared::{Store, StoreError};
use tokio::sync::RwLock;

/// How long a loaded set of plans is trusted.
const TTL: Duration = Duration::from_secs(60);

type Plans = Arc<HashMap<String, Plan>>;

/// The cache.
#[derive(Debug, Default)]
pub struct PlanCache {
    inner: RwLock<Option<(Instant, Plans)>>,
}

impl PlanCache {
    /// Where the key and IP counters may stop: the highest key and IP limits of the
    /// plans cached now (and `anonymous_ip_rpm`), `None` when one is unlimited or the
    /// cache is cold (no read is made for this).
    pub async fn caps(&self, anonymous_ip_rpm: u32) -> (Option<u64>, Option<u64>) {
        let guard = self.inner.read().await;
        let Some((_, plans)) = guard.as_ref() else { return (None, None) };
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

    /// The plan `id`, loading all plans (one Query) when the cache is cold, stale or
    /// does not know `id`.
    pub async fn get(&self, store: &Store, id: &str) -> Result<Option<Plan>, StoreError> {
        if let Some((at, plans)) = self.inner.read().await.as_ref() {
            if at.elapsed() < TTL {
                if let Some(p) = plans.get(id) {
                    return Ok(Some(p.clone()));
                }
            }
        }
        let plans: Plans = Arc::new(store.plans().await?.into_iter().map(|p| (p.id.clone(), p)).collect());
        let found = plans.get(id).cloned();
        *self.inner.write().await = Some((Instant::now(), plans));
        Ok(found)
    }
}
