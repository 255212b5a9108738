//! kobo's common crate, in layers with one dependency direction:
//!
//! - [`domain`]: plain types and pure rules (no AWS types);
//! - [`db`]: the table — keys, item codec, table operations, named transactions,
//!   one repository per entity (depends on `domain`);
//! - [`upstream`]: one port per provider and its HTTP client (depends on `domain`);
//! - [`flows`]: what happens to money and state (depends on `db` and `upstream`);
//! - [`platform`]: config, secrets, AWS clients, telemetry, crypto (depends on nothing).
//!
//! [`error`] holds the one error type of each edge. Every Lambda and the CLI build on
//! this crate.
#![warn(missing_docs)]

pub mod db;
pub mod domain;
pub mod error;
pub mod flows;
pub mod platform;
pub mod upstream;

pub use db::Store;
pub use domain::action::Action;
pub use domain::money::Kobo;
pub use error::{ApiError, StoreError};
