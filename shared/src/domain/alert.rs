//! Operator alerts: something kobo cannot settle by itself (a provider delivered what was
//! already refunded, a payout whose outcome nobody can tell), with the reason and the
//! command that settles it. One alert per subject: a repeated report raises nothing new.

/// One alert.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Alert {
    /// What it is about, e.g. `vtu:<trx>`, `order:<id>`, `withdrawal:<id>` (one alert each).
    pub subject: String,
    /// The account concerned.
    pub account_id: String,
    /// What happened, for the operator.
    pub reason: String,
    /// The command that settles it.
    pub command: String,
    /// When it was raised (RFC 3339).
    pub created_at: String,
}

impl Alert {
    /// An alert raised now.
    pub fn new(
        subject: impl Into<String>,
        account_id: &str,
        reason: impl Into<String>,
        command: impl Into<String>,
    ) -> Alert {
        Alert {
            subject: subject.into(),
            account_id: account_id.to_string(),
            reason: reason.into(),
            command: command.into(),
            created_at: crate::domain::time::now_rfc3339(),
        }
    }
}
