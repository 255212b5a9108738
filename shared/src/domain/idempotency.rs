//! Idempotency keys on spending actions: the same key with the same request returns the
//! first answer and spends once; with a different request it is a 409.

use crate::error::ApiError;

/// How long a key is remembered (seconds).
pub const IDEM_TTL_SECS: i64 = 24 * 3600;

/// A stored first answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdemRecord {
    /// Owner.
    pub account_id: String,
    /// SHA-256 of the key.
    pub key_hash: String,
    /// Fingerprint of the request it answered.
    pub request_hash: String,
    /// The answer's status.
    pub status: u16,
    /// The answer's JSON body.
    pub body: String,
}

/// Checks a presented key: 1 to 255 visible ASCII characters.
pub fn validate_key(k: &str) -> Result<&str, ApiError> {
    let k = k.trim();
    if k.is_empty() || k.len() > 255 || !k.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ApiError::Validation("Idempotency-Key must be 1 to 255 visible ASCII characters".into()));
    }
    Ok(k)
}

/// Fingerprint of a request: SHA-256 over its fields in name order, credentials and
/// transport fields left out.
pub fn fingerprint<'a>(fields: impl Iterator<Item = (&'a str, &'a str)>) -> String {
    let mut text = String::new();
    for (k, v) in fields {
        if matches!(k, "key" | "request_id" | "origin" | "domain") {
            continue;
        }
        text.push_str(k);
        text.push('=');
        text.push_str(v);
        text.push('\n');
    }
    crate::platform::crypto::sha256_hex(text.as_bytes())
}

impl IdemRecord {
    /// What a replay of `request_hash` gets: the first answer, or 409 for another request.
    pub fn replay(&self, request_hash: &str) -> Result<(u16, String), ApiError> {
        if self.request_hash == request_hash {
            Ok((self.status, self.body.clone()))
        } else {
            Err(ApiError::IdempotencyMismatch)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_ignore_credentials_only() {
        let a = fingerprint([("action", "add"), ("key", "k1"), ("quantity", "10")].into_iter());
        let b = fingerprint([("action", "add"), ("key", "k2"), ("quantity", "10")].into_iter());
        let c = fingerprint([("action", "add"), ("key", "k1"), ("quantity", "11")].into_iter());
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert!(validate_key("abc-123").is_ok());
        assert!(validate_key("").is_err());
        assert!(validate_key("a b").is_err());
        assert!(validate_key(&"x".repeat(256)).is_err());
    }
}
