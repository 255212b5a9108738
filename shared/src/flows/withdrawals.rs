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
use crate::domain::alert::{Alert, AlertKind};
use crate::domain::callback::HubtelCallback;
use crate::domain::event::EventType;
use crate::domain::money::Kobo;
use crate::domain::withdrawal::{PayoutCode, Withdrawal, WithdrawalStatus};
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

/// Approves and pays: `withdraw.approved`, then the first send-money attempt. Returns
/// the withdrawal as it stands.
pub async fn approve_and_pay(
    store: &Store,
    hubtel: &impl HubtelApi,
    throttle: &Throttle,
    callback_key: &crate::platform::secrets::KeyRing,
    public_url: &str,
    w: &Withdrawal,
) -> Result<Withdrawal, StoreError> {
    if !approve(store, w).await? {
        return Ok(store.get_withdrawal(&w.account_id, &w.id).await?.unwrap_or_else(|| w.clone()));
    }
    let mut paying = w.clone();
    paying.status = WithdrawalStatus::Paying;
    let payer = Payer { store, hubtel, throttle, callback_key, public_url };
    payer.attempt(&paying, Duration::from_secs(20)).await?;
    Ok(store.get_withdrawal(&w.account_id, &w.id).await?.unwrap_or(paying))
}

/// Send-money attempts a payout gets before an operator decides.
pub const MAX_SEND_ATTEMPTS: u32 = 8;

/// An attempt marked in flight for longer than this was cut off (no attempt lasts this
/// long: its slot wait, Hubtel's answer and the writes around it take well under it).
pub const SENDING_CUT_OFF_SECS: i64 = 120;

/// A payout Hubtel accepted but never reported on for this long goes before an operator.
pub const CALLBACK_ALERT_SECS: i64 = 24 * 3600;

/// What pays withdrawals out.
pub struct Payer<'a, H: HubtelApi> {
    /// The table.
    pub store: &'a Store,
    /// Hubtel.
    pub hubtel: &'a H,
    /// Hubtel's shared rate limit.
    pub throttle: &'a Throttle,
    /// Callback URL secrets derive from it.
    pub callback_key: &'a crate::platform::secrets::KeyRing,
    /// kobo's public base URL (callbacks).
    pub public_url: &'a str,
}

/// What one payout attempt did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempted {
    /// Hubtel accepted it: its callback settles it.
    Accepted,
    /// Not sent (no slot, Hubtel busy or unreachable): the next pass tries again.
    NotSent,
    /// The answer was lost: Hubtel may hold it. Never sent again by itself.
    Unknown,
    /// Hubtel refused the first attempt: failed, released.
    Refused,
    /// Another attempt was running, or it moved on.
    Skipped,
}

impl<H: HubtelApi> Payer<'_, H> {
    /// One send-money attempt for a paying withdrawal Hubtel has not accepted, claimed
    /// first (two never run at once). `clientReference` is the withdrawal id, the same
    /// on every attempt.
    ///
    /// The claim marks the attempt in flight before Hubtel is called; only an answer that
    /// says Hubtel certainly did not take it clears the mark. An attempt cut off in between
    /// (a crash, a timeout of the function) stays marked, and [`Payer::run`] then treats
    /// it as "Hubtel may hold it": never sent again by itself.
    pub async fn attempt(&self, w: &Withdrawal, wait: Duration) -> Result<Attempted, StoreError> {
        let now = crate::domain::time::now_unix();
        if w.transaction_id.is_some() || !self.store.claim_payout_attempt(w, now).await? {
            return Ok(Attempted::Skipped);
        }
        if !self.throttle.acquire(wait).await? {
            self.store.payout_not_sent(w).await?;
            return Ok(Attempted::NotSent);
        }
        let callback = HubtelCallback::Withdrawal.url(self.public_url, self.callback_key, &w.account_id, &w.id, None);
        let description = format!("Withdrawal {} to {}", w.id, w.phone);
        let payment = Payment {
            amount: w.amount,
            title: "kobo withdrawal",
            description: &description,
            reference: &w.id,
            callback_url: &callback,
        };
        match self.hubtel.send_money(&payment).await {
            Ok(tx) => {
                self.store.set_withdrawal_transaction(w, &tx).await?;
                Ok(Attempted::Accepted)
            }
            Err(UpstreamError::NotSent(e)) => {
                tracing::warn!(withdrawal = %w.id, error = %e, "send-money not sent; the reconciler tries again");
                self.store.payout_not_sent(w).await?;
                Ok(Attempted::NotSent)
            }
            // A refusal of the first attempt is final; a refusal of a later one may be
            // Hubtel refusing a clientReference it already has: that is for an operator.
            Err(UpstreamError::Rejected(why)) if !w.payout_unknown && w.send_attempts == 0 => {
                let reason = format!("Hubtel refused: {why}");
                release(self.store, w, WithdrawalStatus::Paying, WithdrawalStatus::Failed, &reason, "hubtel").await?;
                Ok(Attempted::Refused)
            }
            Err(e) => {
                tracing::warn!(withdrawal = %w.id, error = %e, "send-money answer lost; Hubtel may hold the payout");
                self.store.mark_payout_unknown(w).await?;
                Ok(Attempted::Unknown)
            }
        }
    }

    /// One pass over every paying withdrawal at `now` (unix seconds), an attempt in flight
    /// longer than `cut_off_secs` (at most [`SENDING_CUT_OFF_SECS`]) counting as cut off:
    /// attempts the ones
    /// Hubtel never got (up to [`MAX_SEND_ATTEMPTS`]), and puts before an operator those
    /// whose outcome only Hubtel can tell (an answer lost, an attempt cut off in flight,
    /// attempts used up, no callback for a day). No attempt starts at or after
    /// `last_start` (the caller keeps a call's time in hand before its own timeout); the
    /// withdrawals that need no call (alerts) are looked at whatever the time, so one
    /// waiting for a Hubtel slot never hides those behind it. Returns how many were
    /// accepted on this pass.
    pub async fn run(&self, now: i64, cut_off_secs: i64, last_start: std::time::Instant) -> Result<usize, StoreError> {
        let mut accepted = 0;
        for w in self.store.paying_withdrawals().await? {
            // A claim time well ahead of this clock (another machine's clock) is not
            // trusted to mean "in flight".
            let cut_off = w
                .sending_since
                .is_some_and(|t| now.saturating_sub(t) > cut_off_secs || t.saturating_sub(now) > SENDING_CUT_OFF_SECS);
            let outcome = match (&w.transaction_id, w.payout_unknown, w.sending_since, w.send_attempts) {
                (Some(_), _, _, _) => {
                    if age_secs(&w.created_at) > CALLBACK_ALERT_SECS {
                        stuck(self.store, &w, "Hubtel accepted the payout but never reported its outcome").await?;
                    }
                    continue;
                }
                (None, true, _, _) => {
                    stuck(self.store, &w, "a send-money answer was lost: Hubtel may have paid it").await?;
                    continue;
                }
                (None, false, Some(_), _) if cut_off => {
                    self.store.mark_payout_unknown(&w).await?;
                    stuck(
                        self.store,
                        &w,
                        "a send-money call was cut off before its answer was recorded: Hubtel may have paid it",
                    )
                    .await?;
                    continue;
                }
                // An attempt in flight right now (or cut off moments ago): left alone.
                (None, false, Some(_), _) => continue,
                (None, false, None, n) if n >= MAX_SEND_ATTEMPTS => {
                    stuck(self.store, &w, "Hubtel never took the payout in its attempts").await?;
                    continue;
                }
                (None, false, None, _) if std::time::Instant::now() < last_start => {
                    self.attempt(&w, Duration::from_secs(5)).await
                }
                // No time left for a call: the next pass sends it.
                (None, false, None, _) => continue,
            };
            match outcome {
                Ok(Attempted::Accepted) => accepted += 1,
                Ok(_) => {}
                Err(e) => tracing::warn!(withdrawal = %w.id, error = %e, "payout attempt failed; next pass"),
            }
        }
        Ok(accepted)
    }
}

fn age_secs(rfc3339: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .map(|t| crate::domain::time::now_unix() - t.timestamp())
        .unwrap_or(i64::MAX)
}

/// Puts a payout only Hubtel can settle before an operator, with the commands.
async fn stuck(store: &Store, w: &Withdrawal, why: &str) -> Result<(), StoreError> {
    let alert = Alert::new(
        &format!("withdrawal:{}", w.id),
        AlertKind::WithdrawalStuck,
        &w.account_id,
        format!("withdrawal {} ({} to {}): {why}", w.id, w.amount, crate::domain::phone::mask_phone(&w.phone)),
        format!(
            "look up clientReference {id} on Hubtel; if it was paid, `kobo withdrawal settle {acct} {id} --paid --transaction <Hubtel id>`; if not, `kobo withdrawal settle {acct} {id} --failed --reason \"<why>\"` (releases the hold)",
            id = w.id,
            acct = w.account_id
        ),
    );
    store.raise_alert(&alert).await.map(drop)
}

/// Applies Hubtel's withdrawal callback (URL secret already verified), by its
/// `responseCode`: `0000` with this withdrawal's reference and amount pays it; `0001`
/// (still processing) changes nothing; one of Hubtel's final failure codes fails it and
/// releases the hold; any other code changes nothing and goes before an operator. A
/// success for a withdrawal already released (paid out and refunded) is never waved
/// through: it raises an alert. Returns a word for the log.
pub async fn apply_callback(
    store: &Store,
    w: &Withdrawal,
    body: &serde_json::Value,
) -> Result<&'static str, StoreError> {
    let data = &body["data"];
    if data["clientReference"].as_str() != Some(w.id.as_str()) {
        return Ok("ignored");
    }
    let code = body["responseCode"].as_str().unwrap_or_default();
    match PayoutCode::of(code) {
        PayoutCode::Paid => {
            let amount = crate::domain::callback::hubtel_amount(&data["amount"]);
            if amount != Some(w.amount) {
                tracing::warn!(withdrawal = %w.id, ?amount, "withdrawal callback with another amount; nothing changed");
                let alert = Alert::new(
                    &format!("withdrawal:{}", w.id),
                    AlertKind::WithdrawalPaidOtherAmount,
                    &w.account_id,
                    format!(
                        "Hubtel reported paying withdrawal {} an amount of {} (read as {}), not the {} held",
                        w.id,
                        data["amount"],
                        amount.map(|a| a.to_string()).unwrap_or_else(|| "nothing".into()),
                        w.amount
                    ),
                    format!(
                        "look up clientReference {id} on Hubtel; settle it with `kobo withdrawal settle {acct} {id} --paid --transaction <Hubtel id>` or `--failed --reason \"<why>\"`, and put any difference right with `kobo wallet credit|debit {acct} <naira> --reason \"withdrawal {id} paid another amount\"`",
                        id = w.id,
                        acct = w.account_id
                    ),
                );
                store.raise_alert(&alert).await?;
                return Ok("ignored");
            }
            let tx = data["transactionId"].as_str().unwrap_or_default();
            if mark_paid(store, w, tx).await? {
                return Ok("paid");
            }
            let now = store.get_withdrawal(&w.account_id, &w.id).await?.unwrap_or_else(|| w.clone());
            if matches!(now.status, WithdrawalStatus::Failed | WithdrawalStatus::Rejected) {
                let alert = Alert::new(
                    &format!("withdrawal:{}", w.id),
                    AlertKind::WithdrawalPaidAfterRelease,
                    &w.account_id,
                    format!("Hubtel paid withdrawal {} ({}) after its hold was released", w.id, w.amount),
                    format!(
                        "confirm on Hubtel, then `kobo wallet debit {acct} {amount} --reason \"withdrawal {id} paid after release\"` (or absorb it)",
                        acct = w.account_id,
                        amount = w.amount,
                        id = w.id
                    ),
                );
                store.raise_alert(&alert).await?;
                return Ok("contradicted");
            }
            Ok("duplicate")
        }
        PayoutCode::Pending => Ok("pending"),
        PayoutCode::Failed => {
            let why = body["message"].as_str().unwrap_or("payout failed").to_string();
            let released =
                release(store, w, WithdrawalStatus::Paying, WithdrawalStatus::Failed, &why, "hubtel").await?;
            Ok(if released { "failed" } else { "duplicate" })
        }
        PayoutCode::Unknown => {
            tracing::warn!(withdrawal = %w.id, code, "withdrawal callback with an unknown code; nothing changed");
            if w.status == WithdrawalStatus::Paying {
                stuck(store, w, &format!("Hubtel answered code {code:?}, which kobo does not know")).await?;
            }
            Ok("unknown")
        }
    }
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
