//! API keys: `kobo_<account id>_<secret>`. Random, shown once, stored only as SHA-256.
//! The account id inside the key lets one `BatchGetItem` fetch the key and its account.

use rand::distr::{Alphanumeric, SampleString};

const PREFIX: &str = "kobo_";
/// Length of the random part: 40 alphanumerics, about 238 bits.
const SECRET_LEN: usize = 40;
/// Longest key accepted for parsing; anything longer is refused before hashing.
const MAX_KEY_LEN: usize = 128;

/// A freshly generated key. `secret` is the full key to show once; only `hash` is stored.
#[derive(Debug, Clone)]
pub struct NewKey {
    /// The full key, to hand to the reseller exactly once.
    pub secret: String,
    /// Hex SHA-256 of the full key: what the store keeps.
    pub hash: String,
    /// A short, safe-to-show hint such as `kobo_x1y2…a9Zq`.
    pub hint: String,
}

/// The parts of a presented key, if it is well formed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresentedKey<'a> {
    /// The account the key claims to belong to (verified by the stored hash).
    pub account_id: &'a str,
    /// Hex SHA-256 of the whole key.
    pub hash: String,
}

/// Generates a new random account id: 12 lowercase alphanumerics.
pub fn new_account_id() -> String {
    Alphanumeric.sample_string(&mut rand::rng(), 12).to_ascii_lowercase()
}

/// Whether `id` has the shape of an account id (1 to 32 ASCII alphanumerics).
pub fn is_account_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 32 && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Generates a new key for `account_id`.
pub fn generate(account_id: &str) -> NewKey {
    let secret = format!("{PREFIX}{account_id}_{}", Alphanumeric.sample_string(&mut rand::rng(), SECRET_LEN));
    from_secret(secret)
}

/// Builds the stored form of a given full key (used by fixtures with a known key).
pub fn from_secret(secret: String) -> NewKey {
    let hash = hash_key(&secret);
    let tail = &secret[secret.len().saturating_sub(4)..];
    let head_len = secret.rfind('_').map(|i| (i + 1).min(secret.len())).unwrap_or(0);
    let hint = format!("{}…{tail}", &secret[..head_len]);
    NewKey { secret, hash, hint }
}

/// Hex SHA-256 of a key.
pub fn hash_key(key: &str) -> String {
    crate::platform::crypto::sha256_hex(key.as_bytes())
}

/// Splits a presented key into its account id and hash, or `None` if it cannot be a
/// kobo key (so no DynamoDB call is spent on it).
pub fn parse(key: &str) -> Option<PresentedKey<'_>> {
    if key.len() > MAX_KEY_LEN {
        return None;
    }
    let rest = key.strip_prefix(PREFIX)?;
    let (account_id, secret) = rest.split_once('_')?;
    if !is_account_id(account_id) || secret.is_empty() || !secret.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return None;
    }
    Some(PresentedKey { account_id, hash: hash_key(key) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_parse_back_to_their_account() {
        let id = new_account_id();
        assert!(is_account_id(&id));
        let k = generate(&id);
        let p = parse(&k.secret);
        assert_eq!(p.as_ref().map(|p| p.account_id), Some(id.as_str()));
        assert_eq!(p.map(|p| p.hash), Some(k.hash.clone()));
        assert_eq!(k.hash.len(), 64);
        assert!(!k.hint.contains(&k.secret[k.secret.len() - 10..k.secret.len() - 4]));
        assert_ne!(generate(&id).secret, k.secret);
    }

    #[test]
    fn malformed_keys_are_refused_without_lookup() {
        for bad in ["", "kobo_", "kobo__x", "kobo_abc_", "nope_abc_def", "kobo_a-b_cd", "kobo_abc_d%f"] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
        assert_eq!(parse(&format!("kobo_abc_{}", "x".repeat(200))), None);
    }
}
