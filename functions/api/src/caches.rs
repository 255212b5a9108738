//! Per-container caches of the catalogs, used only while the catalog version read in the
//! request's authentication wave is the one they were loaded at: an operator's change is
//! never served stale, and checking costs no round trip. Without a version (a path that
//! read none), a cache is used for at most [`UNVERSIONED_TTL`]; with one, for at most
//! [`BACKSTOP`] (should a version bump after a write have failed).

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::RwLock;

/// How long a cache serves a request that read no version.
pub const UNVERSIONED_TTL: Duration = Duration::from_secs(60);

/// How long a cache serves even while its version holds.
pub const BACKSTOP: Duration = Duration::from_secs(300);

/// A cached value, the version it was loaded at (if known) and when.
type Entry<T> = (Option<u64>, Instant, Arc<T>);

/// One cached value with the version and time it was loaded at.
#[derive(Debug)]
pub struct Versioned<T> {
    inner: RwLock<Option<Entry<T>>>,
}

impl<T> Default for Versioned<T> {
    fn default() -> Self {
        Versioned { inner: RwLock::new(None) }
    }
}

/// Whether a value loaded at `loaded` (version `had`) may serve a request that read
/// version `now` (or none).
pub fn fresh(had: Option<u64>, loaded: Instant, now: Option<u64>) -> bool {
    match now {
        Some(v) => had == Some(v) && loaded.elapsed() < BACKSTOP,
        None => loaded.elapsed() < UNVERSIONED_TTL,
    }
}

impl<T> Versioned<T> {
    /// The cached value, or `load`'s (cached at `version`) when it is missing or not fresh.
    pub async fn get<E, F, Fut>(&self, version: Option<u64>, load: F) -> Result<Arc<T>, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        if let Some((had, at, value)) = self.inner.read().await.as_ref() {
            if fresh(*had, *at, version) {
                return Ok(value.clone());
            }
        }
        let value = Arc::new(load().await?);
        *self.inner.write().await = Some((version, Instant::now(), value.clone()));
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_new_version_reloads_and_the_same_one_does_not() {
        let cache: Versioned<u32> = Versioned::default();
        let loads = std::sync::atomic::AtomicU32::new(0);
        let load = || async { Ok::<_, ()>(loads.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1) };
        assert_eq!(cache.get(Some(1), load).await.map(|v| *v), Ok(1));
        assert_eq!(cache.get(Some(1), load).await.map(|v| *v), Ok(1), "same version: cached");
        assert_eq!(cache.get(Some(2), load).await.map(|v| *v), Ok(2), "operator change: reloaded");
        assert_eq!(cache.get(None, load).await.map(|v| *v), Ok(2), "no version read: within the TTL");
        assert!(!fresh(Some(2), Instant::now(), Some(3)));
        assert!(!fresh(None, Instant::now(), Some(3)));
    }
}
