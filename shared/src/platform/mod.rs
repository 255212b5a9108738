//! What runs under everything: configuration, secrets, AWS clients, telemetry, crypto,
//! the sealing vault and the outbound-request guard. Depends on no other layer.

pub mod aws;
pub mod config;
pub mod crypto;
pub mod secrets;
pub mod ssrf;
pub mod telemetry;
pub mod vault;
