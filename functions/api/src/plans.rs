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
