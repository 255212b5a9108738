//! kobo's operator CLI and one-command local stack, as a library so the tests can start
//! the same stack in-process.
#![warn(missing_docs)]

pub mod bench;
pub mod bench_cold;
pub mod devstack;
pub mod ops;
pub mod sim;
pub mod soak;
pub mod template;
