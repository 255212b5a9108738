//! Withdrawals through Hubtel send-money. A request (amount, phone; transaction PIN and an
//! OTP sent to that phone) moves the amount from the balance into a hold, in one
//! transaction with its ledger entry. An operator approves it (`withdraw.approved`) and
//! Hubtel sends the money; its callback (URL carrying a per-withdrawal secret) settles it.
//! Rejection or a failed payout releases the hold exactly once: every transition is
//! conditional on the state it leaves.

use std::time::Duration;

use crate::db::accounts::entry;
use crate::db::item::Record;
use crate::db::throttle::Throttle;
use crate::db::withdrawals::{transition_change, withdrawal_key};
use crate::db::{Floor, Store, Tx};
use crate::domain::account::LedgerEntry;
use crate::domain::callback::HubtelCallback;
use crate::domain::event::EventType;
use crate::domain::money::Kobo;
use crate::domain::withdrawal::{Withdrawal, WithdrawalStatus};
use crate::error::StoreError;
use crate::flows::orders::{commit_spend, spend, SpendError};
use crate::upstream::hubtel::Payment;
use crate::upstream::{HubtelApi, UpstreamError};

fn ledger(w: &Withdrawal, amount: Kobo, kind: &str, reason: &str, actor: &str) -> LedgerEntry {
    entry(&w.account_id, amount, kind, reason.into(), Some(format!("withdrawal:{}", w.id)), actor)
}

/// A transaction that starts by moving `w` from `from` to `to` (named `withdrawal`).
fn transition<'a>(
    store: &'a Store,
    w: &Withdrawal,
    from: WithdrawalStatus,
    to: WithdrawalStatus,
    extra: &[(&str, &str)],
) -> Result<Tx<'a>, StoreError> {
    Tx::new(store).update("withdrawal", &withdrawal_key(&w.account_id, &w.id), transition_change(w, from, to, extra))
}

/// Records a withdrawal and holds its amount: the withdrawal, the balance change and its
/// ledger entry in one transaction.
pub async fn hold(store: &Store, w: &Withdrawal, min_balance: Kobo) -> Result<(), SpendError> {
    let debit = ledger(w, w.amount.negate(), "withdrawal_hold", "withdrawal requested", "api");
    let tx = spend(store, &debit, min_balance, None)?.put_new("withdrawal", w.to_item())?;
    commit_spend(store, tx, None).await
}

/// Releases a hold exactly once, moving `from` → `to` (rejected or failed) with the
/// release's ledger entry. `false` when the withdrawal was not in `from` any more.
pub async fn release(
    store: &Store,
    w: &Withdrawal,
    from: WithdrawalStatus,
    to: WithdrawalStatus,
    reason: &str,
    actor: &str,
) -> Result<bool, StoreError> {
    let credit = ledger(w, w.amount, "withdrawal_release", reason, actor);
    transition(store, w, from, to, &[("reason", reason)])?.balance(&credit, Floor::None)?.commit_once().await
}

/// Approves a pending withdrawal (`withdraw.approved` in the same transaction). `false`
/// when it was not pending any more.
pub async fn approve(store: &Store, w: &Withdrawal) -> Result<bool, StoreError> {
    transition(store, w, WithdrawalStatus::PendingApproval, WithdrawalStatus::Paying, &[])?
        .event(&w.account_id, EventType::WithdrawApproved, "withdrawal", w.webhook_object())?
        .commit_once()
        .await
}

/// Marks a paying withdrawal paid. `false` when it was not paying any more.
pub async fn mark_paid(store: &Store, w: &Withdrawal, transaction_id: &str) -> Result<bool, StoreError> {
    transition(store, w, WithdrawalStatus::Paying, WithdrawalStatus::Paid, &[("transaction_id", transaction_id)])?
        .commit_once()
        .await
}

/// Approves and pays: `withdraw.approved`, then Hubtel send-money (throttled). A Hubtel
/// refusal fails the withdrawal and releases the hold; a lost answer leaves it paying for
/// Hubtel's callback. Returns the withdrawal as it stands.
pub async fn approve_and_pay(
    store: &Store,
    hubtel: &impl HubtelApi,
    throttle: &Throttle,
    key_material: &[u8],
    public_url: &str,
    w: &Withdrawal,
) -> Result<Withdrawal, StoreError> {
    if !approve(store, w).await? {
        return Ok(store.get_withdrawal(&w.account_id, &w.id).await?.unwrap_or_else(|| w.clone()));
    }
    let mut paying = w.clone();
    paying.status = WithdrawalStatus::Paying;
    if !throttle.acquire(Duration::from_secs(90)).await? {
        return Ok(paying); // still paying; an operator can retry the send
    }
    let callback = HubtelCallback::Withdrawal.url(public_url, key_material, &w.account_id, &w.id);
    let description = format!("Withdrawal {} to {}", w.id, w.phone);
    match hubtel
        .send_money(&Payment {
            amount: w.amount,
            title: "kobo withdrawal",
            description: &description,
            reference: &w.id,
            callback_url: &callback,
        })
        .await
    {
        Ok(tx) => store.set_withdrawal_transaction(w, &tx).await?,
        Err(UpstreamError::Rejected(why)) => {
            let reason = format!("Hubtel refused: {why}");
            release(store, &paying, WithdrawalStatus::Paying, WithdrawalStatus::Failed, &reason, "operator").await?;
        }
        Err(e) => {
            tracing::warn!(withdrawal = %w.id, error = %e, "send-money answer lost; waiting for Hubtel's callback")
        }
    }
    Ok(store.get_withdrawal(&w.account_id, &w.id).await?.unwrap_or(paying))
}

/// Applies Hubtel's withdrawal callback (URL secret already verified): `responseCode`
/// `0000` with this withdrawal's reference and amount pays it; another code fails it and
/// releases the hold. Returns a word for the log.
pub async fn apply_callback(
    store: &Store,
    w: &Withdrawal,
    body: &serde_json::Value,
) -> Result<&'static str, StoreError> {
    let data = &body["data"];
    if data["clientReference"].as_str() != Some(w.id.as_str()) {
        return Ok("ignored");
    }
    let ok = body["responseCode"].as_str() == Some("0000");
    let amount = data["amount"].as_f64().and_then(Kobo::from_naira_f64);
    if ok && amount == Some(w.amount) {
        let tx = data["transactionId"].as_str().unwrap_or_default();
        return Ok(if mark_paid(store, w, tx).await? { "paid" } else { "duplicate" });
    }
    if ok {
        tracing::warn!(withdrawal = %w.id, ?amount, "withdrawal callback with another amount; nothing changed");
        return Ok("ignored");
    }
    let why = body["message"].as_str().unwrap_or("payout failed").to_string();
    let released = release(store, w, WithdrawalStatus::Paying, WithdrawalStatus::Failed, &why, "hubtel").await?;
    Ok(if released { "failed" } else { "duplicate" })
}

/// Ends the OTP check of a `Verifying` withdrawal: a right code moves it to
/// `PendingApproval`; a wrong one rejects it and releases the hold (once).
pub async fn finish_verification(store: &Store, w: &Withdrawal, code_ok: bool) -> Result<bool, StoreError> {
    if code_ok {
        return transition(store, w, WithdrawalStatus::Verifying, WithdrawalStatus::PendingApproval, &[])?
            .commit_once()
            .await;
    }
    release(store, w, WithdrawalStatus::Verifying, WithdrawalStatus::Rejected, "wrong OTP", "reconciler").await
}
