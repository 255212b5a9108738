//! Hubtel's payment and send-money callbacks are not signed, so their URL is the
//! credential: `/callbacks/hubtel/<kind>/<account>/<id>/<secret>`, where the secret is an
//! HMAC of the account, the id and (deposits) the amount under the callback key ring's current key (its id leads the secret, so a rotated
//! key still verifies the URLs it made) — never stored, checked by computing it again in
//! constant time.

use crate::domain::money::Kobo;
use crate::platform::crypto::{url_secret, url_secret_ok};
use crate::platform::secrets::{KeyCheck, KeyRing};

/// The amount of a Hubtel callback's `data.amount` in the forms Hubtel sends it: a JSON
/// number (`5000`, `5000.5`) or a string (`"5000.00"`), read exactly from its decimal
/// text. `None` for anything else (missing, `null`, a fraction of a kobo, words).
pub fn hubtel_amount(v: &serde_json::Value) -> Option<Kobo> {
    match v {
        serde_json::Value::Number(n) => Kobo::from_decimal_text(&n.to_string()),
        serde_json::Value::String(s) => Kobo::from_decimal_text(s),
        _ => None,
    }
}

/// The secret of VTpass's callback URL (`/callbacks/vtpass/<secret>`, set once in the
/// VTpass dashboard): `<key id>.<40 hex>` of the callback key ring's current key.
pub fn vtpass_secret(ring: &KeyRing) -> String {
    let (kid, key) = ring.current();
    format!("{kid}.{}", url_secret(key, "vtpass-callback", "vtpass"))
}

/// Whether `given` is VTpass's callback secret under the key it names (constant time).
pub fn vtpass_secret_check(ring: &KeyRing, given: &str) -> KeyCheck {
    let Some((kid, mac)) = given.split_once('.') else { return KeyCheck::NoMatch };
    let Some(key) = ring.key(kid) else { return KeyCheck::UnknownKey };
    if url_secret_ok(key, "vtpass-callback", "vtpass", mac) {
        KeyCheck::Match
    } else {
        KeyCheck::NoMatch
    }
}

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

    /// What a callback URL's secret binds: the account, the id and, for a deposit, the
    /// amount (so a URL cannot be replayed for another account or a payment of another
    /// amount).
    fn bound(account_id: &str, id: &str, amount: Option<Kobo>) -> String {
        let amount = amount.map(|a| a.as_i64().to_string()).unwrap_or_default();
        format!("{account_id}\0{id}\0{amount}")
    }

    /// The secret of a callback URL under the ring's current key: `<key id>.<40 hex>`.
    pub fn secret(self, ring: &KeyRing, account_id: &str, id: &str, amount: Option<Kobo>) -> String {
        let (kid, key) = ring.current();
        format!("{kid}.{}", url_secret(key, self.context(), &Self::bound(account_id, id, amount)))
    }

    /// Whether `given` is that secret under the key it names (constant time).
    pub fn check(self, ring: &KeyRing, account_id: &str, id: &str, amount: Option<Kobo>, given: &str) -> KeyCheck {
        let Some((kid, mac)) = given.split_once('.') else { return KeyCheck::NoMatch };
        let Some(key) = ring.key(kid) else { return KeyCheck::UnknownKey };
        if url_secret_ok(key, self.context(), &Self::bound(account_id, id, amount), mac) {
            KeyCheck::Match
        } else {
            KeyCheck::NoMatch
        }
    }

    /// The callback URL of `id` under kobo's public URL (`amount` for deposits only).
    pub fn url(self, public_url: &str, ring: &KeyRing, account_id: &str, id: &str, amount: Option<Kobo>) -> String {
        let secret = self.secret(ring, account_id, id, amount);
        format!("{}/callbacks/hubtel/{}/{account_id}/{id}/{secret}", public_url.trim_end_matches('/'), self.kind())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn amounts_in_the_forms_hubtel_sends() {
        for v in [json!(5000), json!(5000.0), json!("5000"), json!("5000.00"), json!(" 5000.000 ")] {
            assert_eq!(hubtel_amount(&v), Some(Kobo::naira(5_000)), "{v}");
        }
        assert_eq!(hubtel_amount(&json!(1250.5)), Some(Kobo::new(125_050)));
        assert_eq!(hubtel_amount(&json!("0.05")), Some(Kobo::new(5)));
        for v in [json!(null), json!(""), json!("5,000"), json!("-5"), json!("5e3"), json!(5000.001), json!(true)] {
            assert_eq!(hubtel_amount(&v), None, "{v}");
        }
    }
}
