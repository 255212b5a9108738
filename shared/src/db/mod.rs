//! The DynamoDB layer: the key layout ([`keys`], its access-pattern table first), the item
//! codec ([`item`]), the table operations every repository uses ([`table`]), the
//! transaction builder with named items ([`tx`]), and one repository file per entity.
//! Repositories are `impl Store` blocks; nothing above this layer builds a key, an
//! expression or a request.

pub mod accounts;
pub mod alerts;
pub mod catalog;
pub mod deposits;
pub mod idempotency;
pub mod item;
pub mod keys;
pub mod orders;
pub mod outbox;
pub mod portal;
pub mod queue_slots;
pub mod sms;
pub mod table;
pub mod throttle;
pub mod tx;
pub mod vtu;
pub mod webhooks;
pub mod withdrawals;

use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::Client;

use crate::error::StoreError;

pub use accounts::Floor;
pub use item::{Item, Key};
pub use table::{Change, Query};
pub use tx::{Tx, TxError};

/// Handle to kobo's table. Cheap to clone; build it once per container.
#[derive(Clone, Debug)]
pub struct Store {
    db: Client,
    table: String,
}

impl Store {
    /// Wraps a client and table name.
    pub fn new(db: Client, table: impl Into<String>) -> Store {
        Store { db, table: table.into() }
    }

    /// The table of a Lambda container.
    pub fn of(container: &crate::platform::aws::Container) -> Store {
        Store::new(container.dynamodb.clone(), container.config.table.clone())
    }

    /// The table name.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// The DynamoDB client.
    pub fn client(&self) -> &Client {
        &self.db
    }
}

/// Maps an SDK error to a [`StoreError`], keeping the service's words.
pub(crate) fn sdk_err<E, R>(e: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    let code = e.code().unwrap_or_default().to_string();
    let msg = DisplayErrorContext(&e).to_string();
    match code.as_str() {
        "ConditionalCheckFailedException" => StoreError::Conflict(msg),
        "TransactionCanceledException" if msg.contains("ConditionalCheckFailed") => StoreError::Conflict(msg),
        "ProvisionedThroughputExceededException"
        | "ThrottlingException"
        | "RequestLimitExceeded"
        | "TransactionConflictException"
        | "TransactionCanceledException" => StoreError::Throttled(msg),
        // A 5xx, or no answer at all: a write may have been applied.
        "InternalServerError" | "ServiceUnavailable" => StoreError::Unknown(msg),
        _ if matches!(e, SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) | SdkError::ResponseError(_)) => {
            StoreError::Unknown(msg)
        }
        _ => StoreError::Backend(msg),
    }
}

/// A request that could not be built (a missing required field: a bug, not bad input).
pub(crate) fn build_err(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(format!("request build: {e}"))
}
