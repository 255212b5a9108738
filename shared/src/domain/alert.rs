//! Operator alerts: something kobo cannot settle by itself (a provider delivered what was
//! already refunded, a payout whose outcome nobody can tell), with the reason and the
//! command that settles it.
//!
//! One alert per thing **and kind of trouble**: its subject is `<thing>/<kind>` (e.g.
//! `vtu:TRX…/delivered-after-refund`), so a repeated report raises nothing new, and a
//! graver trouble of the same thing (a delivery after a refund) never hides behind a
//! lesser one already open (the purchase was slow).

/// The kinds of trouble an alert names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertKind {
    /// A purchase processing for hours without a final answer from the provider.
    VtuProcessingLong,
    /// The provider reported a delivery of a purchase kobo had failed and refunded.
    VtuDeliveredAfterRefund,
    /// An SMM order that may or may not have reached the panel.
    OrderUpstreamUnknown,
    /// A package order the panel reported partial, in no proportion kobo can trust.
    OrderPartialPackage,
    /// A final status of an order whose remains could not be read.
    OrderRemainsUnreadable,
    /// A payout only Hubtel can settle (an answer lost, attempts used up, no callback,
    /// an unknown code, another amount).
    WithdrawalStuck,
    /// Hubtel paid a withdrawal whose hold had been released.
    WithdrawalPaidAfterRelease,
    /// Hubtel reported paying a withdrawal another amount than was held.
    WithdrawalPaidOtherAmount,
    /// A signed deposit callback that was refused or ignored (another paylink, another
    /// amount, an unknown status), so nothing was credited.
    DepositNotCredited,
    /// A signed callback for a deposit already credited that reports something else
    /// (another status, another amount): the payment may have been reversed.
    DepositChangedAfterCredit,
    /// A VTU provider's wallet is below its threshold.
    ProviderLowFloat,
}

impl AlertKind {
    /// The word after the `/` of the subject.
    pub const fn word(self) -> &'static str {
        match self {
            AlertKind::VtuProcessingLong => "processing-long",
            AlertKind::VtuDeliveredAfterRefund => "delivered-after-refund",
            AlertKind::OrderUpstreamUnknown => "upstream-unknown",
            AlertKind::OrderPartialPackage => "partial-package",
            AlertKind::OrderRemainsUnreadable => "remains-unreadable",
            AlertKind::WithdrawalStuck => "stuck",
            AlertKind::WithdrawalPaidAfterRelease => "paid-after-release",
            AlertKind::WithdrawalPaidOtherAmount => "paid-other-amount",
            AlertKind::DepositNotCredited => "not-credited",
            AlertKind::DepositChangedAfterCredit => "changed-after-credit",
            AlertKind::ProviderLowFloat => "low-float",
        }
    }
}

/// One alert.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Alert {
    /// `<thing>/<kind>`, e.g. `vtu:<trx>/processing-long`, `withdrawal:<id>/stuck`.
    pub subject: String,
    /// The account concerned.
    pub account_id: String,
    /// What happened, for the operator.
    pub reason: String,
    /// The command that settles it (ending with the one that closes the alert).
    pub command: String,
    /// When it was raised (RFC 3339).
    pub created_at: String,
}

/// The subject of the alert of `kind` about `about` (`vtu:<trx>`, `order:<id>`, ...).
pub fn subject(about: &str, kind: AlertKind) -> String {
    format!("{about}/{}", kind.word())
}

impl Alert {
    /// An alert of `kind` about `about` (`vtu:<trx>`, `order:<id>`, `withdrawal:<id>`,
    /// `deposit:<id>`: the reference its ledger entries carry), raised now; `command`
    /// says how to settle it, and the command that closes it is added.
    pub fn new(
        about: &str,
        kind: AlertKind,
        account_id: &str,
        reason: impl Into<String>,
        command: impl Into<String>,
    ) -> Alert {
        let subject = subject(about, kind);
        Alert {
            command: format!("{}; then `kobo alerts resolve {subject}`", command.into()),
            subject,
            account_id: account_id.to_string(),
            reason: reason.into(),
            created_at: crate::domain::time::now_rfc3339(),
        }
    }

    /// The thing it is about: the subject before its kind (`vtu:<trx>`).
    pub fn about(&self) -> &str {
        self.subject.rsplit_once('/').map_or(self.subject.as_str(), |(about, _)| about)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_of_one_thing_have_their_own_subjects() {
        let slow = Alert::new("vtu:TRX1", AlertKind::VtuProcessingLong, "acct", "slow", "check it");
        let grave = Alert::new("vtu:TRX1", AlertKind::VtuDeliveredAfterRefund, "acct", "delivered", "debit it");
        assert_ne!(slow.subject, grave.subject);
        assert_eq!((slow.about(), grave.about()), ("vtu:TRX1", "vtu:TRX1"));
        assert_eq!(grave.subject, "vtu:TRX1/delivered-after-refund");
        assert!(grave.command.ends_with("then `kobo alerts resolve vtu:TRX1/delivered-after-refund`"));
    }
}
