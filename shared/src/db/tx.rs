//! Transactions whose items carry names: a cancelled transaction says which conditions
//! failed by name (`ConditionFailed(["balance"])`), so no caller matches on positions.

use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{Put, TransactWriteItem};

use super::item::{Item, Key};
use super::table::Change;
use super::{build_err, sdk_err, Store};
use crate::error::StoreError;

/// Why a transaction did not apply.
#[derive(Debug)]
pub enum TxError {
    /// The conditions of these items failed (nothing was written).
    ConditionFailed(Vec<&'static str>),
    /// Anything else.
    Store(StoreError),
}

impl TxError {
    /// Whether the item named `label` is among the failed conditions.
    pub fn failed(&self, label: &str) -> bool {
        matches!(self, TxError::ConditionFailed(labels) if labels.contains(&label))
    }
}

impl From<StoreError> for TxError {
    fn from(e: StoreError) -> TxError {
        TxError::Store(e)
    }
}

/// Attempts of one transaction, the SDK's own retries aside.
const TX_ATTEMPTS: u32 = 5;

/// The pause before attempt `attempt + 1`: exponential from 25 ms, full jitter, capped.
fn backoff(attempt: u32) -> std::time::Duration {
    let ceiling = 25u64 << attempt.min(5);
    std::time::Duration::from_millis(rand::random_range(ceiling / 2..=ceiling))
}

/// What one failed attempt means.
enum Attempt {
    /// These items' conditions failed: final, nothing was written.
    Conditions(Vec<&'static str>),
    /// Nothing was written (a conflict with another transaction, a throttle): try again.
    NotApplied,
    /// It may have been written (a 5xx, a timeout): try again with the same token.
    Ambiguous,
    /// A request DynamoDB will never accept (validation): a bug.
    Fatal,
}

fn classify(e: &SdkError<TransactWriteItemsError, HttpResponse>, labels: &[&'static str]) -> Attempt {
    let mut reasons: Vec<String> = Vec::new();
    if let Some(TransactWriteItemsError::TransactionCanceledException(t)) = e.as_service_error() {
        reasons = t.cancellation_reasons().iter().map(|r| r.code().unwrap_or("None").to_string()).collect();
    }
    if reasons.is_empty() && e.code() == Some("TransactionCanceledException") {
        // Some emulators list the reasons only in the message: "[None, ConditionalCheckFailed]".
        let msg = e.message().unwrap_or_default();
        if let Some((_, rest)) = msg.rsplit_once('[') {
            let list = rest.split_once(']').map(|(l, _)| l).unwrap_or_default();
            reasons = list.split(',').map(|r| r.trim().to_string()).collect();
        }
    }
    let failed: Vec<&'static str> = reasons
        .iter()
        .enumerate()
        .filter(|(_, r)| r.as_str() == "ConditionalCheckFailed")
        .filter_map(|(i, _)| labels.get(i).copied())
        .collect();
    if !failed.is_empty() {
        return Attempt::Conditions(failed);
    }
    match e.code() {
        Some("TransactionCanceledException")
            if reasons.iter().any(|r| {
                matches!(r.as_str(), "TransactionConflict" | "ThrottlingError" | "ProvisionedThroughputExceeded")
            }) =>
        {
            Attempt::NotApplied
        }
        Some(
            "ThrottlingException"
            | "ProvisionedThroughputExceededException"
            | "RequestLimitExceeded"
            | "TransactionInProgressException",
        ) => Attempt::NotApplied,
        Some("ValidationException" | "IdempotentParameterMismatchException" | "ResourceNotFoundException") => {
            Attempt::Fatal
        }
        _ => Attempt::Ambiguous,
    }
}

/// A transaction being built: each item with a name.
#[derive(Debug)]
pub struct Tx<'a> {
    store: &'a Store,
    items: Vec<(&'static str, TransactWriteItem)>,
}

impl<'a> Tx<'a> {
    /// An empty transaction on `store`'s table.
    pub fn new(store: &'a Store) -> Tx<'a> {
        Tx { store, items: Vec::new() }
    }

    /// Creates `item`, only if its key is new.
    pub fn put_new(mut self, label: &'static str, item: Item) -> Result<Tx<'a>, StoreError> {
        let put = Put::builder()
            .table_name(self.store.table())
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(PK)")
            .build()
            .map_err(build_err)?;
        self.items.push((label, TransactWriteItem::builder().put(put).build()));
        Ok(self)
    }

    /// Writes `item`, replacing any item at its key.
    pub fn put(mut self, label: &'static str, item: Item) -> Result<Tx<'a>, StoreError> {
        let put = Put::builder().table_name(self.store.table()).set_item(Some(item)).build().map_err(build_err)?;
        self.items.push((label, TransactWriteItem::builder().put(put).build()));
        Ok(self)
    }

    /// Creates `item`, or replaces one at its key whose `expires_at` has passed (an
    /// expired record the TTL sweeper has not removed yet counts as gone).
    pub fn put_new_or_expired(mut self, label: &'static str, item: Item, now: i64) -> Result<Tx<'a>, StoreError> {
        let put = Put::builder()
            .table_name(self.store.table())
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(PK) OR #exp < :now")
            .expression_attribute_names("#exp", "expires_at")
            .expression_attribute_values(":now", aws_sdk_dynamodb::types::AttributeValue::N(now.to_string()))
            .build()
            .map_err(build_err)?;
        self.items.push((label, TransactWriteItem::builder().put(put).build()));
        Ok(self)
    }

    /// Applies `change` to the item at `key` (its condition must hold).
    pub fn update(mut self, label: &'static str, key: &Key, change: Change) -> Result<Tx<'a>, StoreError> {
        let update = change.into_update(self.store.table(), key)?;
        self.items.push((label, TransactWriteItem::builder().update(update).build()));
        Ok(self)
    }

    /// Deletes the item at `key` (whether or not it exists).
    pub fn delete(mut self, label: &'static str, key: &Key) -> Result<Tx<'a>, StoreError> {
        let delete = aws_sdk_dynamodb::types::Delete::builder()
            .table_name(self.store.table())
            .set_key(Some(key.item()))
            .build()
            .map_err(build_err)?;
        self.items.push((label, TransactWriteItem::builder().delete(delete).build()));
        Ok(self)
    }

    /// Writes every item or none.
    ///
    /// The transaction carries a `ClientRequestToken`, so every attempt of it is the same
    /// request to DynamoDB: one that was applied but answered an error (a 500 after the
    /// write) is answered success when tried again, never applied twice. Attempts that
    /// certainly wrote nothing (a `TransactionConflict` with another transaction on one of
    /// its items, a throttle) and ambiguous ones (5xx) are tried again with jittered
    /// backoff, a bounded number of times; a condition that fails is final.
    pub async fn commit(self) -> Result<(), TxError> {
        let labels: Vec<&'static str> = self.items.iter().map(|(l, _)| *l).collect();
        let items: Vec<TransactWriteItem> = self.items.into_iter().map(|(_, i)| i).collect();
        let token = uuid::Uuid::now_v7().simple().to_string();
        let mut ambiguous = false;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let sent = self
                .store
                .client()
                .transact_write_items()
                .set_transact_items(Some(items.clone()))
                .client_request_token(&token)
                .send()
                .await;
            let e = match sent {
                Ok(_) => return Ok(()),
                Err(e) => e,
            };
            let outcome = classify(&e, &labels);
            match outcome {
                Attempt::Conditions(failed) => return Err(TxError::ConditionFailed(failed)),
                Attempt::Fatal => return Err(TxError::Store(sdk_err(e))),
                Attempt::NotApplied | Attempt::Ambiguous if attempt < TX_ATTEMPTS => {
                    ambiguous |= matches!(outcome, Attempt::Ambiguous);
                    tracing::warn!(attempt, code = e.code().unwrap_or_default(), "transaction retried");
                    tokio::time::sleep(backoff(attempt)).await;
                }
                Attempt::NotApplied if !ambiguous => {
                    return Err(TxError::Store(StoreError::Throttled(sdk_err(e).to_string())))
                }
                Attempt::NotApplied | Attempt::Ambiguous => {
                    return Err(TxError::Store(StoreError::Unknown(sdk_err(e).to_string())))
                }
            }
        }
    }

    /// Commits a transaction whose only condition is a guard on a state it leaves:
    /// `false` when the guard failed (another writer moved first), so the caller does
    /// nothing twice.
    pub async fn commit_once(self) -> Result<bool, StoreError> {
        match self.commit().await {
            Ok(()) => Ok(true),
            Err(TxError::ConditionFailed(_)) => Ok(false),
            Err(TxError::Store(e)) => Err(e),
        }
    }
}
