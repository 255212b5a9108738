//! Hubtel's payment and send-money callbacks are not signed, so their URL is the
//! credential: `/callbacks/hubtel/<kind>/<account>/<id>/<secret>`, where the secret is an
//! HMAC of the id under the app secret — never stored, checked by computing it again in
//! constant time.

use crate::platform::crypto::{url_secret, url_secret_ok};

/// Which of Hubtel's callbacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HubtelCallback {
    /// A paylink was paid (deposits).
    Payment,
    /// Send-money finished (withdrawals).
    Withdrawal,
}

impl HubtelCallback {
    /// The path segment after `/callbacks/hubtel/`.
    pub const fn kind(self) -> &'static str {
        match self {
            HubtelCallback::Payment => "payment",
            HubtelCallback::Withdrawal => "withdrawal",
        }
    }

    const fn context(self) -> &'static str {
        match self {
            HubtelCallback::Payment => "hubtel-deposit-callback",
            HubtelCallback::Withdrawal => "hubtel-withdrawal-callback",
        }
    }

    /// The secret of `id`'s callback URL under `key` (40 hex digits).
    pub fn secret(self, key: &[u8], id: &str) -> String {
        url_secret(key, self.context(), id)
    }

    /// Whether `given` is that secret (constant time).
    pub fn secret_ok(self, key: &[u8], id: &str, given: &str) -> bool {
        url_secret_ok(key, self.context(), id, given)
    }

    /// The callback URL of `id` under kobo's public URL.
    pub fn url(self, public_url: &str, key: &[u8], account_id: &str, id: &str) -> String {
        let secret = self.secret(key, id);
        format!("{}/callbacks/hubtel/{}/{account_id}/{id}/{secret}", public_url.trim_end_matches('/'), self.kind())
    }
}
