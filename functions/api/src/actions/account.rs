//! Account actions: `balance`, `deposit`, `deposit_status`.

use kobo_shared::ApiError;
use lambda_http::{Body, Response};

use kobo_shared::domain::deposit::{MAX_DEPOSIT, MIN_DEPOSIT};
use kobo_shared::domain::phone::NigerianPhone;
use kobo_shared::domain::withdrawal::{MAX_WITHDRAWAL, MIN_WITHDRAWAL};
use kobo_shared::Kobo;

use super::Caller;
use crate::render::{self, DepositView, OtpSent, WithdrawalHeld, WithdrawalView};
use crate::request::Params;
use crate::App;

/// `deposit`: an amount within the deposit limits.
pub struct DepositRequest {
    amount: Kobo,
}

fn amount_within(p: &Params, min: Kobo, max: Kobo) -> Result<Kobo, ApiError> {
    let amount = Kobo::parse_naira(p.require("amount")?).map_err(|e| ApiError::field("amount", e))?;
    if amount < min || amount > max {
        return Err(ApiError::field("amount", format!("must be between {min} and {max}")));
    }
    Ok(amount)
}

impl TryFrom<&Params> for DepositRequest {
    type Error = ApiError;
    fn try_from(p: &Params) -> Result<DepositRequest, ApiError> {
        Ok(DepositRequest { amount: amount_within(p, MIN_DEPOSIT, MAX_DEPOSIT)? })
    }
}

/// `withdraw`: an amount within the limits, the phone it goes to and the OTP sent to it.
/// (The transaction PIN is checked by the PIN check, which counts failures.)
pub struct WithdrawRequest {
    amount: Kobo,
    phone: Option<String>,
    otp_id: String,
    code: String,
}

impl TryFrom<&Params> for WithdrawRequest {
    type Error = ApiError;
    fn try_from(p: &Params) -> Result<WithdrawRequest, ApiError> {
        Ok(WithdrawRequest {
            amount: amount_within(p, MIN_WITHDRAWAL, MAX_WITHDRAWAL)?,
            phone: optional_phone(p)?,
            otp_id: p.require("otp_id")?.to_string(),
            code: p.require("otp")?.to_string(),
        })
    }
}

/// `phone` when given (E.164): it may only name the account's payout phone.
fn optional_phone(p: &Params) -> Result<Option<String>, ApiError> {
    match p.get("phone").map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => NigerianPhone::parse(v)
            .map(|n| Some(n.e164()))
            .ok_or_else(|| ApiError::field("phone", "must be a Nigerian mobile number")),
    }
}

/// The account's verified payout phone; a `phone` the request names must be it.
fn payout_phone(caller: &Caller, given: Option<&str>) -> Result<String, ApiError> {
    let Some(registered) = caller.account.payout_phone.clone() else {
        return Err(ApiError::NoPayoutPhone);
    };
    match given {
        Some(g) if g != registered => {
            Err(ApiError::field("phone", "is not this account's verified payout phone; OTPs and payouts go only there"))
        }
        _ => Ok(registered),
    }
}

fn not_found(what: &str) -> ApiError {
    ApiError::NotFound(what.into())
}

/// A deposit or withdrawal id of kobo's shape (`prefix` + at most 64 characters in all);
/// anything else names nothing.
fn ref_of(p: &Params, field: &str, prefix: &str, missing: &str) -> Result<String, ApiError> {
    let id = p.require(field)?;
    if !id.starts_with(prefix) || id.len() > 64 {
        return Err(not_found(missing));
    }
    Ok(id.to_string())
}

/// `balance`: the wallet as read (strongly consistent) during authentication; no
/// further DynamoDB call.
pub fn balance(caller: &Caller) -> Response<Body> {
    render::ok(&render::Balance { balance: caller.account.balance.to_string(), currency: "NGN" })
}

/// `deposit`: `amount` in naira → a Hubtel paylink to pay it. When Hubtel's rate limit
/// has no slot within a few seconds the deposit is accepted as `pending` and its paylink
/// follows (read it with `deposit_status`).
pub async fn deposit(app: &App, caller: &Caller, p: &Params) -> Result<Response<Body>, ApiError> {
    use kobo_shared::domain::deposit as deposits;
    use kobo_shared::domain::deposit::{Deposit, DepositStatus};
    use kobo_shared::flows::deposits as deposit_flows;
    let DepositRequest { amount } = DepositRequest::try_from(p)?;
    if app.config.public_url.is_empty() {
        tracing::error!("KOBO_PUBLIC_URL is not set; deposits need it for Hubtel's callback");
        return Err(ApiError::Unavailable);
    }
    let id = deposits::new_deposit_id();
    // At most a few deposits of one account wait for Hubtel at a time: a flood of them
    // cannot take the budget every account shares.
    let now = app.clock.now_unix();
    let queue = kobo_shared::db::queue_slots::QueueKind::Deposit;
    if !app.store.take_queue_slot(&caller.account.id, queue, &id, now + deposits::DEPOSIT_QUEUE_SECS, now).await? {
        return Err(ApiError::RateLimited { retry_after: 60 });
    }
    let d = Deposit {
        id,
        account_id: caller.account.id.clone(),
        amount,
        status: DepositStatus::Pending,
        paylink_id: None,
        paylink_url: None,
        created_at: kobo_shared::domain::time::now_rfc3339(),
    };
    if let Err(e) = app.store.put_deposit(&d).await {
        // Nothing was made: its queue slot goes back (or frees itself at expiry).
        if let Err(e) = app.store.free_queue_slot(&caller.account.id, queue, &d.id).await {
            tracing::warn!(error = %e, "deposit queue slot not freed; it frees itself when it expires");
        }
        return Err(e.into());
    }
    let d = match (app.providers.hubtel.get().await, app.keys.callback_key.get().await) {
        (Ok(hubtel), Ok(ring)) => deposit_flows::create_paylink(
            &app.store,
            &*hubtel,
            &app.providers.hubtel_throttle,
            &ring,
            &app.config.public_url,
            &d,
            std::time::Duration::from_secs(5),
        )
        .await?
        .deposit(),
        _ => d,
    };
    if d.status != DepositStatus::Pending {
        // Its paylink exists: nothing of it waits for Hubtel any more.
        if let Err(e) = app.store.free_queue_slot(&caller.account.id, queue, &d.id).await {
            tracing::warn!(error = %e, "deposit queue slot not freed; it frees itself when it expires");
        }
    }
    Ok(render::ok(&DepositView::from(&d)))
}

/// `deposit_status`: `deposit_id` → the deposit (owner only).
pub async fn deposit_status(app: &App, caller: &Caller, p: &Params) -> Result<Response<Body>, ApiError> {
    let id = ref_of(p, "deposit_id", "dep_", "Deposit not found")?;
    let d = app.store.get_deposit(&caller.account.id, &id).await?.ok_or_else(|| not_found("Deposit not found"))?;
    Ok(render::ok(&DepositView::from(&d)))
}

fn hubtel_unavailable(e: impl std::fmt::Display) -> ApiError {
    tracing::warn!(error = %e, "Hubtel unavailable");
    ApiError::Unavailable
}

/// `withdraw_otp`: `phone` (Nigerian) → an OTP by SMS to it, for one withdrawal to that
/// phone. Answers the `otp_id` and Hubtel's `prefix` (shown next to the code).
pub async fn withdraw_otp(app: &App, caller: &Caller, p: &Params) -> Result<Response<Body>, ApiError> {
    use kobo_shared::domain::withdrawal::{OtpRecord, OTP_TTL_SECS};
    use kobo_shared::upstream::HubtelApi;
    let phone = payout_phone(caller, optional_phone(p)?.as_deref())?;
    // The PIN first: a stolen key alone cannot make kobo text the owner.
    super::vtu::check_pin(app, caller, p).await?;
    let hubtel = app.providers.hubtel.get().await.map_err(hubtel_unavailable)?;
    let hubtel = &*hubtel;
    let account = &caller.account.id;
    let id = format!("otp_{}", uuid::Uuid::now_v7().simple());
    let now = app.clock.now_unix();
    // At most a couple of one account's OTPs wait for Hubtel at a time.
    let queue = kobo_shared::db::queue_slots::QueueKind::Otp;
    if !app.store.take_queue_slot(account, queue, &id, now + OTP_TTL_SECS, now).await? {
        return Err(ApiError::RateLimited { retry_after: 60 });
    }
    let free_slot = || async {
        if let Err(e) = app.store.free_queue_slot(account, queue, &id).await {
            tracing::warn!(error = %e, "OTP queue slot not freed; it frees itself when the OTP expires");
        }
    };
    // No slot of the account's share within a few seconds: the OTP is queued and sent by
    // the reconciler.
    let session = if app.providers.hubtel_throttle.acquire_for(account, std::time::Duration::from_secs(8)).await? {
        match hubtel.otp_send("kobo", &phone, "NG").await {
            Ok(s) => s,
            Err(e) => {
                free_slot().await;
                return Err(hubtel_unavailable(e));
            }
        }
    } else {
        kobo_shared::domain::withdrawal::OtpSession { request_id: String::new(), prefix: String::new() }
    };
    let queued = session.request_id.is_empty();
    let otp = OtpRecord {
        id: id.clone(),
        account_id: account.clone(),
        phone,
        session,
        expires_at: now + OTP_TTL_SECS,
        used: false,
    };
    app.store.put_otp(&otp).await?;
    if !queued {
        free_slot().await;
    }
    Ok(render::ok(&if queued {
        OtpSent {
            status: "pending",
            otp_id: otp.id,
            prefix: None,
            expires_in: OTP_TTL_SECS,
            message: Some("The code will arrive by SMS shortly"),
        }
    } else {
        OtpSent {
            status: "sent",
            otp_id: otp.id,
            prefix: Some(otp.session.prefix),
            expires_in: OTP_TTL_SECS,
            message: None,
        }
    }))
}

/// `withdraw`: `amount`, `phone`, `pin`, `otp_id`, `otp` → the amount is held from the
/// balance and the withdrawal waits for an operator.
pub async fn withdraw(app: &App, caller: &Caller, p: &Params) -> Result<Response<Body>, ApiError> {
    use kobo_shared::domain::pin::Guess;
    use kobo_shared::domain::withdrawal as withdrawals;
    use kobo_shared::domain::withdrawal::{Withdrawal, WithdrawalStatus};
    use kobo_shared::flows::orders::SpendError;
    use kobo_shared::flows::withdrawals as withdrawal_flows;
    use kobo_shared::upstream::HubtelApi;
    let WithdrawRequest { amount, phone, otp_id, code } = WithdrawRequest::try_from(p)?;
    let phone = payout_phone(caller, phone.as_deref())?;
    let (otp_id, code) = (otp_id.as_str(), code.as_str());
    super::vtu::check_pin(app, caller, p).await?;
    let invalid_otp = || ApiError::field("otp", "is invalid or expired; request a new one with withdraw_otp");
    let otp = app.store.get_otp(&caller.account.id, otp_id).await?.ok_or_else(invalid_otp)?;
    let now = app.clock.now_unix();
    if otp.used || otp.expires_at < now || otp.phone != phone || otp.session.request_id.is_empty() {
        return Err(invalid_otp());
    }
    // Every check of a code uses the OTP up, right or wrong (one guess per OTP), and
    // counts against the same attempts as the PIN (reserved before the code is looked at).
    if !app.store.use_otp(&caller.account.id, otp_id).await? {
        return Err(invalid_otp());
    }
    let attempt = super::vtu::reserve_attempt(app, &caller.account.id, Guess::OtpCode, now).await?;
    let hubtel = app.providers.hubtel.get().await.map_err(hubtel_unavailable)?;
    let hubtel = &*hubtel;
    // Check the code now when Hubtel has a slot; otherwise hold the amount and let the
    // reconciler check it (a right code then waits for approval, a wrong one is released
    // and counted). The code waits sealed, never in clear.
    let checked_now =
        app.providers.hubtel_throttle.acquire_for(&caller.account.id, std::time::Duration::from_secs(8)).await?;
    if checked_now {
        if hubtel.otp_verify(&otp.session, code).await.map_err(hubtel_unavailable)? {
            app.store.pin_ok(&caller.account.id, Guess::OtpCode).await?;
        } else {
            app.store.pin_wrong(&caller.account.id, Guess::OtpCode, attempt, now).await?;
            return Err(invalid_otp());
        }
    }
    let id = withdrawals::new_withdrawal_id();
    let pending_otp = if checked_now {
        None
    } else {
        let ring = app.keys.vault_key.get().await.map_err(|e| {
            tracing::error!(error = %e, "vault key unavailable");
            ApiError::Unavailable
        })?;
        let vault = kobo_shared::platform::vault::Vault::new(&ring).map_err(|_| ApiError::Unavailable)?;
        let sealed = vault
            .seal(code, &withdrawals::otp_code_context(&caller.account.id, &id))
            .map_err(|_| ApiError::Unavailable)?;
        Some((otp.session.clone(), sealed))
    };
    let w = Withdrawal {
        id,
        account_id: caller.account.id.clone(),
        amount,
        phone,
        status: if checked_now { WithdrawalStatus::PendingApproval } else { WithdrawalStatus::Verifying },
        transaction_id: None,
        reason: None,
        pending_otp,
        created_at: kobo_shared::domain::time::now_rfc3339(),
        send_attempts: 0,
        payout_unknown: false,
        sending_since: None,
    };
    match withdrawal_flows::hold(&app.store, &w, caller.account.min_balance).await {
        Ok(()) => {}
        Err(SpendError::InsufficientBalance) => return Err(ApiError::InsufficientBalance),
        // No idempotency record rides with a hold, so no replay can come back.
        Err(SpendError::Replay(_)) => return Err(ApiError::Unavailable),
        Err(SpendError::Store(e)) => return Err(e.into()),
    }
    // Held: from here on nothing may turn the answer into an error.
    let balance = match app.store.balance(&caller.account.id).await {
        Ok(Some(b)) => b,
        Ok(None) | Err(_) => caller.account.balance.checked_sub(amount).unwrap_or_default(),
    };
    Ok(render::ok(&WithdrawalHeld {
        withdrawal_id: w.id,
        amount: amount.to_string(),
        currency: "NGN",
        status: w.status.as_str(),
        balance: balance.to_string(),
    }))
}

/// `withdrawal_status`: `withdrawal_id` → its state (owner only).
pub async fn withdrawal_status(app: &App, caller: &Caller, p: &Params) -> Result<Response<Body>, ApiError> {
    let id = ref_of(p, "withdrawal_id", "wdr_", "Withdrawal not found")?;
    let w =
        app.store.get_withdrawal(&caller.account.id, &id).await?.ok_or_else(|| not_found("Withdrawal not found"))?;
    Ok(render::ok(&WithdrawalView {
        withdrawal_id: w.id,
        amount: w.amount.to_string(),
        currency: "NGN",
        status: w.status.as_str(),
        reason: w.reason,
    }))
}
