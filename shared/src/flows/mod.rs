//! The flows: what happens to money and state, over the store ([`crate::db`]) and the
//! provider ports ([`crate::upstream`]) — placing and syncing orders, paying and settling
//! VTU, deposits, withdrawals, SMS notices, webhook delivery, operator tasks.

pub mod access;
pub mod accounts;
pub mod catalog;
pub mod deposits;
pub mod fair;
pub mod orders;
pub mod providers;
pub mod sms;
pub mod vtu;
pub mod webhooks;
pub mod withdrawals;
