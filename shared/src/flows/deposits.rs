//! Wallet deposits through Hubtel paylinks. A deposit gets a paylink whose callback URL
//! carries a per-deposit secret (Hubtel's payment callback is not signed, so the URL is
//! the credential). A callback credits the wallet exactly once, and only for a successful
//! payment of the deposit's amount: the credit, its ledger entry and `deposit.success`
//! ride in one transaction conditional on the deposit still being unpaid.

use std::time::Duration;

use crate::db::accounts::entry;
use crate::db::deposits::deposit_key;
use crate::db::item::s;
use crate::db::throttle::Throttle;
use crate::db::{Change, Floor, Store, Tx};
use crate::domain::alert::{Alert, AlertKind};
use crate::domain::callback::{hubtel_amount, HubtelCallback};
use crate::domain::deposit::{Deposit, DepositStatus, PaymentResult};
use crate::domain::event::EventType;
use crate::domain::phone::mask_phone;
use crate::domain::time::now_rfc3339;
use crate::error::StoreError;
use crate::upstream::hubtel::Payment;
use crate::upstream::HubtelApi;

/// Payment statuses that honestly say "not paid" (a customer who gave up, a declined
/// payment): ignored without an alert. Any other status that is not a success is a word
/// kobo does not know, and an operator hears of it.
const NOT_PAID: &[&str] = &["failed", "failure", "cancelled", "canceled", "expired", "declined", "pending", "unpaid"];

/// Whether a payment callback's status word says paid.
pub fn is_paid_status(status: &str) -> bool {
    matches!(status.trim().to_ascii_lowercase().as_str(), "success" | "successful" | "paid" | "completed")
}

/// Applies Hubtel's payment callback for a deposit whose URL secret was verified. A
/// callback that does not match the deposit (its reference, its amount, a status kobo
/// does not know) credits nothing and raises an operator alert saying what did not
/// match; an honest "not paid" is only logged.
pub async fn apply_payment(store: &Store, d: &Deposit, body: &serde_json::Value) -> Result<PaymentResult, StoreError> {
    let data = &body["data"];
    let status = data["status"].as_str().unwrap_or_default().to_ascii_lowercase();
    let paid = is_paid_status(&status);
    let reference_ok = data["clientReference"].as_str() == Some(d.id.as_str());
    let amount = hubtel_amount(&data["amount"]);
    let honest_failure = NOT_PAID.contains(&status.as_str());
    let mismatch = if !paid {
        // An honest "not paid" of a deposit not credited changes nothing and alerts
        // nobody; after a credit it may be a reversal.
        if honest_failure && d.status != DepositStatus::Credited {
            return Ok(PaymentResult::Ignored(format!("payment status {status:?}")));
        }
        let known = if honest_failure { "" } else { "an unknown " };
        format!("{known}payment status {status:?}")
    } else if !reference_ok {
        format!("clientReference {:?}, not {:?}", data["clientReference"], d.id)
    } else if amount != Some(d.amount) {
        format!(
            "amount {} (read as {}), not the deposit's {}",
            data["amount"],
            amount.map(|a| a.to_string()).unwrap_or_else(|| "nothing".into()),
            d.amount
        )
    } else {
        String::new()
    };
    if !mismatch.is_empty() {
        if d.status == DepositStatus::Credited {
            alert_changed_after_credit(store, d, &mismatch).await?;
        } else {
            alert_not_credited(store, d, &mismatch).await?;
        }
        return Ok(PaymentResult::Ignored(mismatch));
    }
    if d.status == DepositStatus::Credited {
        return Ok(PaymentResult::Duplicate);
    }
    let now = now_rfc3339();
    let mark = Change::new()
        .set("status", s(DepositStatus::Credited.as_str()))
        .set("credited_at", s(&now))
        .set("payment_phone", s(mask_phone(data["phoneNumber"].as_str().unwrap_or_default())))
        .if_ne("status", s(DepositStatus::Credited.as_str()));
    let credit =
        entry(&d.account_id, d.amount, "deposit", "Hubtel payment".into(), Some(format!("deposit:{}", d.id)), "hubtel");
    let credited = Tx::new(store)
        .update("deposit", &deposit_key(&d.account_id, &d.id), mark)?
        .balance(&credit, Floor::None)?
        .event(&d.account_id, EventType::DepositSuccess, "deposit", d.webhook_object())?
        .commit_once()
        .await?;
    Ok(if credited { PaymentResult::Credited } else { PaymentResult::Duplicate })
}

/// Puts a signed (URL-verified) deposit callback kobo refused or ignored before an
/// operator, saying `what` did not match: a payment may be real and not credited.
pub async fn alert_not_credited(store: &Store, d: &Deposit, what: &str) -> Result<(), StoreError> {
    deposit_alert(store, d, AlertKind::DepositNotCredited, what).await
}

/// Puts a signed callback for a deposit already credited that reports something else
/// (another status or amount: perhaps a reversed payment) before an operator.
pub async fn alert_changed_after_credit(store: &Store, d: &Deposit, what: &str) -> Result<(), StoreError> {
    deposit_alert(store, d, AlertKind::DepositChangedAfterCredit, what).await
}

/// A deposit's alert of `kind`: what the callback reported, and the wallet command that
/// puts it right (a credit if it was not credited, a debit if a credited one was reversed).
async fn deposit_alert(store: &Store, d: &Deposit, kind: AlertKind, what: &str) -> Result<(), StoreError> {
    let (state, check, direction, why) = match kind {
        AlertKind::DepositChangedAfterCredit => ("already credited", "was reversed", "debit", "reversed"),
        _ => ("was not credited", "is real", "credit", "paid, credited by hand"),
    };
    let alert = Alert::new(
        &format!("deposit:{}", d.id),
        kind,
        &d.account_id,
        format!("Hubtel's callback for deposit {} ({}) {state}: it reported {what}", d.id, d.amount),
        format!(
            "confirm the payment on Hubtel; if it {check}, `kobo wallet {direction} {acct} {amount} --reason \"deposit {id} {why}\"`",
            acct = d.account_id,
            amount = d.amount,
            id = d.id
        ),
    );
    store.raise_alert(&alert).await.map(drop)
}

/// What became of a paylink attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Paylink {
    /// Created (or the deposit was past waiting): the deposit as it now stands.
    Done(Deposit),
    /// No Hubtel slot within the wait: still pending.
    NoSlot(Deposit),
    /// Hubtel failed or refused it: still pending (the reason is logged).
    NotCreated(Deposit),
    /// Another caller is asking Hubtel for it right now: still pending.
    Claimed(Deposit),
}

impl Paylink {
    /// The deposit as it now stands.
    pub fn deposit(self) -> Deposit {
        match self {
            Paylink::Done(d) | Paylink::NoSlot(d) | Paylink::NotCreated(d) | Paylink::Claimed(d) => d,
        }
    }
}

/// Creates the paylink of a pending deposit if Hubtel has a free slot of the account's
/// share within `max_wait` (the reseller's own request); otherwise leaves it pending
/// (the reconciler tries again).
#[allow(clippy::too_many_arguments)]
pub async fn create_paylink(
    store: &Store,
    hubtel: &impl HubtelApi,
    throttle: &Throttle,
    key: &crate::platform::secrets::KeyRing,
    public_url: &str,
    d: &Deposit,
    max_wait: Duration,
) -> Result<Paylink, StoreError> {
    if d.status != DepositStatus::Pending {
        return Ok(Paylink::Done(d.clone()));
    }
    let now = crate::domain::time::now_unix();
    if !store.claim_paylink(d, now, now + PAYLINK_CLAIM_SECS).await? {
        return Ok(Paylink::Claimed(d.clone()));
    }
    if !throttle.acquire_for(&d.account_id, max_wait).await? {
        store.release_paylink_claim(d).await?;
        return Ok(Paylink::NoSlot(d.clone()));
    }
    send_paylink(store, hubtel, key, public_url, d).await
}

/// How long a claim on a deposit's paylink creation holds (past any Hubtel call).
pub const PAYLINK_CLAIM_SECS: i64 = 60;

/// Asks Hubtel for a pending deposit's paylink, its claim held and a throttle slot taken.
pub async fn send_paylink(
    store: &Store,
    hubtel: &impl HubtelApi,
    key: &crate::platform::secrets::KeyRing,
    public_url: &str,
    d: &Deposit,
) -> Result<Paylink, StoreError> {
    if d.status != DepositStatus::Pending {
        return Ok(Paylink::Done(d.clone()));
    }
    let callback = HubtelCallback::Payment.url(public_url, key, &d.account_id, &d.id, Some(d.amount));
    let description = format!("Deposit {} to a kobo wallet", d.amount);
    match hubtel
        .paylink(&Payment {
            amount: d.amount,
            title: "kobo wallet deposit",
            description: &description,
            reference: &d.id,
            callback_url: &callback,
        })
        .await
    {
        Ok(p) => {
            match store.set_paylink(d, &p.paylink_id, &p.paylink_url).await {
                Ok(()) | Err(StoreError::Conflict(_)) => {}
                Err(e) => return Err(e),
            }
            Ok(Paylink::Done(store.get_deposit(&d.account_id, &d.id).await?.unwrap_or_else(|| d.clone())))
        }
        Err(e) => {
            tracing::warn!(deposit = %d.id, error = %e, "paylink not created yet; the reconciler will retry");
            store.release_paylink_claim(d).await?;
            Ok(Paylink::NotCreated(d.clone()))
        }
    }
}
