//! Account actions: `balance`.

use lambda_http::{Body, Response};

use super::Caller;
use crate::render;

/// `balance`: the wallet as read (strongly consistent) during authentication; no
/// further DynamoDB call.
pub fn balance(caller: &Caller) -> Response<Body> {
    render::ok(&render::Balance { balance: caller.account.balance.to_string(), currency: "NGN" })
}
