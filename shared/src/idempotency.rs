//! Idempotency keys on spending actions: the same key with the same request returns the
//! first answer and spends once; with a different request it is a 409. The record is
//! written in the same transaction as the spend, so two racing retries cannot both spend.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::TransactWriteItem;

use crate::error::{ApiError, StoreError};
use crate::item::{n, s, Item, Reader};
use crate::keys;
use crate::store::{key, sdk_err, Store};

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
    crate::crypto::sha256_hex(text.as_bytes())
}

impl IdemRecord {
    /// The item form.
    pub fn to_item(&self) -> Item {
        HashMap::from([
            ("PK".into(), s(keys::account_pk(&self.account_id))),
            ("SK".into(), s(keys::idem_sk(&self.key_hash))),
            ("type".into(), s("idempotency")),
            ("request_hash".into(), s(&self.request_hash)),
            ("status".into(), n(self.status)),
            ("body".into(), s(&self.body)),
            ("expires_at".into(), n(crate::model::now_unix() + IDEM_TTL_SECS)),
        ])
    }

    /// The transaction item that writes it only if the key is new.
    pub fn put(&self, table: &str) -> Result<TransactWriteItem, StoreError> {
        crate::store::put_new(table, self.to_item())
    }

    /// What a replay of `request_hash` gets: the first answer, or 409 for another request.
    pub fn replay(&self, request_hash: &str) -> Result<(u16, String), ApiError> {
        if self.request_hash == request_hash {
            Ok((self.status, self.body.clone()))
        } else {
            Err(ApiError::IdempotencyMismatch)
        }
    }
}

impl Store {
    /// The record of a key, if it is remembered (strongly consistent).
    pub async fn get_idem(&self, account_id: &str, key_hash: &str) -> Result<Option<IdemRecord>, StoreError> {
        let out = self
            .client()
            .get_item()
            .table_name(self.table())
            .set_key(Some(key(keys::account_pk(account_id), keys::idem_sk(key_hash))))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk_err)?;
        let Some(item) = out.item else {
            return Ok(None);
        };
        let r = Reader::new(&item);
        if r.opt_i64("expires_at")?.is_some_and(|t| t < crate::model::now_unix()) {
            return Ok(None);
        }
        Ok(Some(IdemRecord {
            account_id: account_id.to_string(),
            key_hash: key_hash.to_string(),
            request_hash: r.s("request_hash")?,
            status: u16::try_from(r.i64("status")?).unwrap_or(200),
            body: r.s("body")?,
        }))
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
