//! The domain: money, ids, pricing, phones, accounts, orders, VTU, deposits, withdrawals,
//! events and webhooks as plain types and pure functions, with status machines as
//! transition functions. No AWS type appears here; every other layer builds on it.

pub mod account;
pub mod action;
pub mod alert;
pub mod apikey;
pub mod auth;
pub mod callback;
pub mod deposit;
pub mod event;
pub mod idempotency;
pub mod money;
pub mod phone;
pub mod pin;
pub mod portal;
pub mod ratelimit;
pub mod signing;
pub mod smm;
pub mod smm_types;
pub mod sms;
pub mod time;
pub mod vtu;
pub mod webhook;
pub mod whitelist;
pub mod withdrawal;
