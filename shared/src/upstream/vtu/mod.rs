//! The VTU providers kobo buys from, one file each, behind the port
//! [`TopupProvider`](crate::upstream::topup::TopupProvider): VTpass ([`vtpass`]) so far.
//! Every provider answer is put in one of five classes ([`Class`]) before anything
//! moves money.

pub mod vtpass;

/// What a provider's answer means for the money, whatever its wording.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Class {
    /// Delivered.
    Success,
    /// Accepted and not final yet: a requery or a callback tells later.
    Pending,
    /// Definitely failed and not charged by the provider (or reversed to its wallet):
    /// refunded.
    Failed,
    /// May or may not have happened: never a refund; a requery decides.
    Ambiguous,
    /// Certainly not taken (the provider refused it before processing: low wallet
    /// balance, account or product not enabled, a malformed request id): safe to send
    /// to another provider, or later.
    NotSent,
}
