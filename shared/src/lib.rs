//! kobo's common crate: money, domain types, DynamoDB keys and store, authorization,
//! configuration and secrets. Every Lambda and the CLI build on it.
#![warn(missing_docs)]

pub mod accounts;
pub mod action;
pub mod apikey;
pub mod auth;
pub mod aws;
pub mod catalog;
pub mod config;
pub mod crypto;
pub mod deposits;
pub mod error;
pub mod hubtel_throttle;
pub mod idempotency;
pub mod item;
pub mod keys;
pub mod model;
pub mod money;
pub mod orders;
pub mod outbox;
pub mod pin;
pub mod ratelimit;
pub mod secrets;
pub mod smm;
pub mod sms;
pub mod store;
pub mod telemetry;
pub mod upstream;
pub mod vtu;
pub mod vtu_flow;
pub mod webhooks;
pub mod whitelist;
pub mod withdrawals;

pub use action::Action;
pub use error::{ApiError, StoreError};
pub use money::Kobo;
pub use store::Store;
