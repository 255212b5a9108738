//! The actions, grouped as the seed groups them. Each group is its own module.

pub mod account;
pub mod catalog;
pub mod orders;
pub mod vtu;
pub mod vtu_lists;

use kobo_shared::domain::account::{Account, ApiKeyRecord, Plan};
use kobo_shared::{Action, ApiError};
use lambda_http::{Body, Response};

use crate::request::ApiRequest;
use crate::App;

/// The authenticated caller.
#[derive(Debug, Clone)]
pub struct Caller {
    /// Its account as read during authentication.
    pub account: Account,
    /// The key it used.
    pub key: ApiKeyRecord,
    /// Its plan, if the plan still exists.
    pub plan: Option<Plan>,
    /// What the authentication wave read and took for this request's action.
    pub pre: std::sync::Arc<crate::prefetch::Prefetched>,
}

/// Queues a low-balance SMS when a spend took the balance from at or above the account's
/// alert threshold to below it (accounts with notices on only).
pub async fn low_balance_notice(app: &App, caller: &Caller, after: kobo_shared::Kobo) {
    let a = &caller.account;
    let (Some(phone), Some(alert)) = (&a.notice_phone, a.low_balance_alert) else { return };
    if a.balance >= alert && after < alert {
        let sms = kobo_shared::domain::sms::Sms {
            to: phone.clone(),
            content: format!("kobo: your wallet balance is NGN {after}, below your alert of NGN {alert}."),
        };
        if let Err(e) = app.store.queue_sms(&a.id, &sms).await {
            tracing::warn!(error = %e, "low-balance notice not queued");
        }
    }
}

/// Runs an authorized action.
pub async fn dispatch(
    app: &App,
    caller: &Caller,
    action: Action,
    req: &ApiRequest,
) -> Result<Response<Body>, ApiError> {
    match action {
        Action::Balance => Ok(account::balance(caller)),
        Action::Services => catalog::services(app, caller).await,
        Action::Add => orders::add(app, caller, req).await,
        Action::AddBulk => orders::add_bulk(app, caller, req).await,
        Action::Status => orders::status(app, caller, req).await,
        Action::Refill => orders::refill(app, caller, req).await,
        Action::RefillStatus => orders::refill_status(app, caller, req).await,
        Action::Cancel => orders::cancel(app, caller, req).await,
        Action::VtuDataPlans | Action::VtuSmePlans | Action::VtuCablePlans | Action::VtuElectricDiscos => {
            vtu::catalog(app, caller, action, &req.params).await
        }
        Action::VtuCableVerify | Action::VtuElectricityVerify | Action::VtuEducationVerify => {
            vtu::verify(app, caller, action, &req.params).await
        }
        Action::VtuAirtimeNetworks | Action::VtuEducationProducts | Action::VtuRechargeCardNetworks => {
            vtu_lists::list(app, caller, action, &req.params).await
        }
        Action::VtuAirtime
        | Action::VtuData
        | Action::VtuSme
        | Action::VtuCable
        | Action::VtuElectricity
        | Action::VtuEducation
        | Action::VtuRechargeCard => vtu::purchase(app, caller, action, req).await,
        Action::VtuStatus => vtu::status(app, caller, &req.params).await,
        Action::Deposit => account::deposit(app, caller, &req.params).await,
        Action::DepositStatus => account::deposit_status(app, caller, &req.params).await,
        Action::WithdrawOtp => account::withdraw_otp(app, caller, &req.params).await,
        Action::Withdraw => account::withdraw(app, caller, &req.params).await,
        Action::WithdrawalStatus => account::withdrawal_status(app, caller, &req.params).await,
    }
}
