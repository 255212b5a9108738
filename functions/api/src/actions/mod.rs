//! The actions, grouped as the seed groups them. Each group is its own module.

pub mod account;

use kobo_shared::model::{Account, ApiKeyRecord, Plan};
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
}

/// Runs an authorized action.
pub async fn dispatch(
    _app: &App,
    caller: &Caller,
    action: Action,
    _req: &ApiRequest,
) -> Result<Response<Body>, ApiError> {
    match action {
        Action::Balance => Ok(account::balance(caller)),
        other => Err(ApiError::NotImplemented(other.as_str())),
    }
}
