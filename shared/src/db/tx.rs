//! Transactions whose items carry names: a cancelled transaction says which conditions
//! failed by name (`ConditionFailed(["balance"])`), so no caller matches on positions.

use aws_sdk_dynamodb::error::ProvideErrorMetadata;
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

    /// Applies `change` to the item at `key` (its condition must hold).
    pub fn update(mut self, label: &'static str, key: &Key, change: Change) -> Result<Tx<'a>, StoreError> {
        let update = change.into_update(self.store.table(), key)?;
        self.items.push((label, TransactWriteItem::builder().update(update).build()));
        Ok(self)
    }

    /// Writes every item or none.
    pub async fn commit(self) -> Result<(), TxError> {
        let labels: Vec<&'static str> = self.items.iter().map(|(l, _)| *l).collect();
        let items = self.items.into_iter().map(|(_, i)| i).collect();
        let e = match self.store.client().transact_write_items().set_transact_items(Some(items)).send().await {
            Ok(_) => return Ok(()),
            Err(e) => e,
        };
        let mut failed: Vec<&'static str> = Vec::new();
        if let Some(TransactWriteItemsError::TransactionCanceledException(t)) = e.as_service_error() {
            for (i, r) in t.cancellation_reasons().iter().enumerate() {
                if r.code() == Some("ConditionalCheckFailed") {
                    failed.extend(labels.get(i));
                }
            }
        }
        if failed.is_empty() && e.code() == Some("TransactionCanceledException") {
            // Some emulators list the reasons only in the message: "[None, ConditionalCheckFailed]".
            let msg = e.message().unwrap_or_default();
            if let Some((_, rest)) = msg.rsplit_once('[') {
                let list = rest.split_once(']').map(|(l, _)| l).unwrap_or_default();
                for (i, r) in list.split(',').enumerate() {
                    if r.trim() == "ConditionalCheckFailed" {
                        failed.extend(labels.get(i));
                    }
                }
            }
        }
        if failed.is_empty() {
            Err(TxError::Store(sdk_err(e)))
        } else {
            Err(TxError::ConditionFailed(failed))
        }
    }

    /// Commits a transaction whose only condition is a guard on a state it leaves:
    /// `false` when the guard failed (another writer moved first), so the caller does
    /// nothing twice.
    pub async fn commit_once(self) -> Result<bool, StoreError> {
        match self.commit().await {
            Ok(()) => Ok(true),
            Err(TxError::ConditionFailed(_)) | Err(TxError::Store(StoreError::Conflict(_))) => Ok(false),
            Err(TxError::Store(e)) => Err(e),
        }
    }
}
