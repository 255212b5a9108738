//! Outbound webhooks: the relay (outbox event → one delivery per subscribed endpoint →
//! SQS), the worker (SQS → signed POST → retry with `DelaySeconds`, or done) and endpoint
//! management.

pub mod deliver;
pub mod manage;
