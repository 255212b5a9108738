//! Account actions: `balance`, `deposit`, `deposit_status`.

use kobo_shared::ApiError;
use lambda_http::{Body, Response};

use super::Caller;
use crate::render;

/// `balance`: the wallet as read (strongly consistent) during authentication; no
/// further DynamoDB call.
pub fn balance(caller: &Caller) -> Response<Body> {
    render::ok(&render::Balance { balance: caller.account.balance.to_string(), currency: "NGN" })
}

/// `deposit`: `amount` in naira → a Hubtel paylink to pay it. When Hubtel's rate limit
/// has no slot within a few seconds the deposit is accepted as `pending` and its paylink
/// follows (read it with `deposit_status`).
pub async fn deposit(
    app: &crate::App,
    caller: &Caller,
    p: &crate::request::Params,
) -> Result<Response<Body>, ApiError> {
    use kobo_shared::deposits::{self, Deposit, DepositStatus, MAX_DEPOSIT, MIN_DEPOSIT};
    let amount = kobo_shared::Kobo::parse_naira(p.require("amount")?).map_err(|e| ApiError::field("amount", e))?;
    if amount < MIN_DEPOSIT || amount > MAX_DEPOSIT {
        return Err(ApiError::field("amount", format!("must be between {MIN_DEPOSIT} and {MAX_DEPOSIT}")));
    }
    if app.config.public_url.is_empty() {
        tracing::error!("KOBO_PUBLIC_URL is not set; deposits need it for Hubtel's callback");
        return Err(ApiError::Unavailable);
    }
    let d = Deposit {
        id: deposits::new_deposit_id(),
        account_id: caller.account.id.clone(),
        amount,
        status: DepositStatus::Pending,
        paylink_id: None,
        paylink_url: None,
        created_at: kobo_shared::model::now_rfc3339(),
    };
    app.store.put_deposit(&d).await?;
    let d = match (app.hubtel.get().await, app.secrets.get().await) {
        (Ok(hubtel), Ok(secrets)) => {
            deposits::create_paylink(
                &app.store,
                hubtel,
                &app.hubtel_throttle,
                secrets.pin_pepper.as_bytes(),
                &app.config.public_url,
                &d,
                std::time::Duration::from_secs(5),
            )
            .await?
        }
        _ => d,
    };
    Ok(render::ok(&deposit_view(&d)))
}

fn deposit_view(d: &kobo_shared::deposits::Deposit) -> serde_json::Value {
    serde_json::json!({
        "deposit_id": d.id,
        "amount": d.amount.to_string(),
        "currency": "NGN",
        "status": d.status.as_str(),
        "paylink_url": d.paylink_url,
    })
}

/// `deposit_status`: `deposit_id` → the deposit (owner only).
pub async fn deposit_status(
    app: &crate::App,
    caller: &Caller,
    p: &crate::request::Params,
) -> Result<Response<Body>, ApiError> {
    let id = p.require("deposit_id")?;
    let not_found = || ApiError::NotFound("Deposit not found".into());
    if !id.starts_with("dep_") || id.len() > 64 {
        return Err(not_found());
    }
    let d = app.store.get_deposit(&caller.account.id, id).await?.ok_or_else(not_found)?;
    Ok(render::ok(&deposit_view(&d)))
}
