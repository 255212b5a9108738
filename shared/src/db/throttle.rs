//! Hubtel allows 5 requests per minute per account. Every Lambda that calls Hubtel takes
//! a slot here first: one DynamoDB item holds the times of the last 5 calls, and a slot is
//! free when the oldest of them is a full window old (a sliding window, so no 60-second
//! span ever holds more than 5 calls, whichever containers make them). The update is
//! conditional on the version read, so racing containers cannot both take the last slot.

use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;

use super::item::{n, Key, Reader};
use super::table::Change;
use super::Store;
use crate::error::StoreError;

/// Partition and sort key of the throttle item.
const PK: &str = "THROTTLE";

/// A sliding-window throttle shared by every container.
#[derive(Debug, Clone)]
pub struct Throttle {
    store: Store,
    name: String,
    limit: usize,
    window_ms: i64,
}

impl Throttle {
    /// `limit` calls per `window` for the named upstream (Hubtel: 5 per 60 s). The window
    /// is widened by a margin (a fifth of it, at most 2 s) because a call reaches Hubtel a
    /// little after its slot is taken, and not always equally late.
    pub fn new(store: Store, name: &str, limit: usize, window: Duration) -> Throttle {
        let margin = (window / 5).min(Duration::from_secs(2));
        Throttle { store, name: name.to_string(), limit: limit.max(1), window_ms: (window + margin).as_millis() as i64 }
    }

    fn now_ms() -> i64 {
        chrono::Utc::now().timestamp_millis()
    }

    /// Takes a slot if one is free now; otherwise says how long until one frees up.
    pub async fn try_acquire(&self) -> Result<Result<(), Duration>, StoreError> {
        let key = Key::new(PK, &self.name);
        for _ in 0..20 {
            let now = Self::now_ms();
            let item = self.store.get_item(&key, true).await?.unwrap_or_default();
            let version = Reader::new(&item).opt_i64("version")?;
            let mut times: Vec<i64> = item
                .get("times")
                .and_then(|v| v.as_l().ok())
                .map(|l| l.iter().filter_map(|x| x.as_n().ok().and_then(|n| n.parse().ok())).collect())
                .unwrap_or_default();
            times.sort_unstable();
            if times.len() >= self.limit {
                let oldest_of_last = times[times.len() - self.limit];
                let free_at = oldest_of_last + self.window_ms;
                if free_at > now {
                    return Ok(Err(Duration::from_millis(u64::try_from(free_at - now).unwrap_or(0))));
                }
            }
            times.push(now);
            let keep: Vec<AttributeValue> = times.iter().rev().take(self.limit).rev().map(|t| n(*t)).collect();
            let change =
                Change::new().set("times", AttributeValue::L(keep)).set("version", n(version.unwrap_or(0) + 1));
            let change = match version {
                Some(v) => change.if_eq("version", n(v)),
                None => change.if_expr("attribute_not_exists(PK)", &[], Vec::new()),
            };
            // A conflict means another container moved first: read again.
            if self.store.transition(&key, change).await? {
                return Ok(Ok(()));
            }
        }
        Ok(Err(Duration::from_millis(50)))
    }

    /// Waits for a slot for at most `max_wait`; whether one was taken.
    pub async fn acquire(&self, max_wait: Duration) -> Result<bool, StoreError> {
        let deadline = tokio::time::Instant::now() + max_wait;
        loop {
            match self.try_acquire().await? {
                Ok(()) => return Ok(true),
                Err(wait) => {
                    let now = tokio::time::Instant::now();
                    if now + wait > deadline {
                        return Ok(false);
                    }
                    tokio::time::sleep(wait + Duration::from_millis(5)).await;
                }
            }
        }
    }
}
