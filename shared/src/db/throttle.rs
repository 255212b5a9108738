//! Hubtel allows 5 requests per minute per account. Every Lambda that calls Hubtel takes
//! a slot here first: one DynamoDB item holds the times of the last 5 calls, and a slot is
//! free when the oldest of them is a full window old (a sliding window, so no 60-second
//! span ever holds more than 5 calls, whichever containers make them). The update is
//! conditional on the version read, so racing containers cannot both take the last slot.
//! Each time carries its owner: an account's own request may take only its share of a
//! window, so one tenant cannot starve the others.

use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;

use super::item::{n, Key, Reader};
use super::table::Change;
use super::Store;
use crate::error::StoreError;

/// Partition and sort key of the throttle item.
const PK: &str = "THROTTLE";

/// What [`Throttle::take_now_for`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    /// A slot was taken.
    Taken,
    /// The owner has used its share of this window (others may still go).
    ShareUsed,
    /// Every slot of this window is used.
    Full,
}

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

    /// Most slots of one window one owner (an account) may take through
    /// [`Throttle::acquire_for`]: two of Hubtel's five, so one tenant can never use up the
    /// budget the others need.
    pub fn per_owner(&self) -> usize {
        (self.limit * 2 / 5).max(1)
    }

    /// Takes a slot for `owner`'s queued work if one is free now, without waiting: the
    /// reconciler serving accounts in turn skips an account whose share is used and
    /// stops when the whole window is.
    pub async fn take_now_for(&self, owner: &str) -> Result<Slot, StoreError> {
        Ok(match self.try_acquire(Some(owner)).await? {
            Ok(()) => Slot::Taken,
            Err((_, true)) => Slot::ShareUsed,
            Err((_, false)) => Slot::Full,
        })
    }

    /// Takes a slot if one is free now (and `owner`, if given, has not taken its share of
    /// this window); otherwise says how long until one frees up, and whether it is the
    /// owner's share that is used (not the whole window).
    pub async fn try_acquire(&self, owner: Option<&str>) -> Result<Result<(), (Duration, bool)>, StoreError> {
        let key = Key::new(PK, &self.name);
        for _ in 0..20 {
            let now = Self::now_ms();
            let item = self.store.get_item(&key, true).await?.unwrap_or_default();
            let version = Reader::new(&item).opt_i64("version")?;
            let list = |field: &str| -> Vec<AttributeValue> {
                item.get(field).and_then(|v| v.as_l().ok()).cloned().unwrap_or_default()
            };
            let times: Vec<i64> =
                list("times").iter().map(|x| x.as_n().ok().and_then(|n| n.parse().ok()).unwrap_or(0)).collect();
            let owners: Vec<String> = list("owners").iter().map(|x| x.as_s().cloned().unwrap_or_default()).collect();
            let mut slots: Vec<(i64, String)> =
                times.into_iter().enumerate().map(|(i, t)| (t, owners.get(i).cloned().unwrap_or_default())).collect();
            slots.sort_unstable_by_key(|(t, _)| *t);
            if slots.len() >= self.limit {
                let free_at = slots[slots.len() - self.limit].0 + self.window_ms;
                if free_at > now {
                    return Ok(Err((Duration::from_millis(u64::try_from(free_at - now).unwrap_or(0)), false)));
                }
            }
            if let Some(owner) = owner {
                let mine: Vec<i64> =
                    slots.iter().filter(|(t, o)| o == owner && t + self.window_ms > now).map(|(t, _)| *t).collect();
                if mine.len() >= self.per_owner() {
                    let free_at = mine[mine.len() - self.per_owner()] + self.window_ms;
                    return Ok(Err((Duration::from_millis(u64::try_from(free_at - now).unwrap_or(0).max(1)), true)));
                }
            }
            slots.push((now, owner.unwrap_or_default().to_string()));
            let keep: Vec<&(i64, String)> = slots.iter().rev().take(self.limit).rev().collect();
            let change = Change::new()
                .set("times", AttributeValue::L(keep.iter().map(|(t, _)| n(*t)).collect()))
                .set("owners", AttributeValue::L(keep.iter().map(|(_, o)| AttributeValue::S(o.clone())).collect()))
                .set("version", n(version.unwrap_or(0) + 1));
            let change = match version {
                Some(v) => change.if_eq("version", n(v)),
                None => change.if_expr("attribute_not_exists(PK)", &[], Vec::new()),
            };
            // A conflict means another container moved first: read again.
            if self.store.transition(&key, change).await? {
                return Ok(Ok(()));
            }
        }
        Ok(Err((Duration::from_millis(50), false)))
    }

    /// Waits for a slot for at most `max_wait`, as the one who serves everyone's queued
    /// work (the reconciler, an operator); whether one was taken.
    pub async fn acquire(&self, max_wait: Duration) -> Result<bool, StoreError> {
        self.acquire_as(None, max_wait).await
    }

    /// Waits for a slot for at most `max_wait` on behalf of `owner` (an account's own
    /// request), within its share of each window; whether one was taken.
    pub async fn acquire_for(&self, owner: &str, max_wait: Duration) -> Result<bool, StoreError> {
        self.acquire_as(Some(owner), max_wait).await
    }

    async fn acquire_as(&self, owner: Option<&str>, max_wait: Duration) -> Result<bool, StoreError> {
        let deadline = tokio::time::Instant::now() + max_wait;
        loop {
            match self.try_acquire(owner).await? {
                Ok(()) => return Ok(true),
                Err((wait, _)) => {
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
