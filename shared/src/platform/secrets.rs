//! Secrets in Secrets Manager, one per purpose, each cached per container for a few
//! minutes:
//!
//! - key rings kobo generates and uses itself, each `{"current": "<kid>", "<kid>": "<key>",
//!   ...}`: the PIN pepper, the callback-URL key and the vault key (webhook secrets and
//!   pending OTP codes at rest). Whatever they protect names the key id it was made with,
//!   so a rotation (`kobo secrets rotate`) adds a key and makes it current while the old
//!   ones keep verifying and opening what they made;
//! - the provider credentials, set by the operator.
//!
//! A value is refetched when its TTL has passed, and at once (at most every few seconds)
//! when a caller meets a key id or a signature the cached value does not know: a warm
//! container accepts a rotated secret without waiting for its TTL. Values are never
//! logged, and a malformed secret's error says where, never what.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_secretsmanager::Client;
use serde::Deserialize;
use tokio::sync::RwLock;

/// How long a fetched secret is trusted before it is fetched again.
pub const DEFAULT_TTL: Duration = Duration::from_secs(300);

/// Refreshes asked for by callers (an unknown key id, a failed signature) are at most
/// this frequent, so forged requests cannot turn into a Secrets Manager call each.
pub const MIN_REFRESH_INTERVAL: Duration = Duration::from_secs(5);

/// A key ring: the current key id and every key still in use. Never logged.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyRing {
    current: String,
    keys: BTreeMap<String, String>,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeyRing(current {}, {} keys)", self.current, self.keys.len())
    }
}

/// What checking something made under a key ring found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyCheck {
    /// It is right.
    Match,
    /// It is wrong (or malformed).
    NoMatch,
    /// It names a key the ring does not hold: fetch the ring again and retry once.
    UnknownKey,
}

/// Whether `kid` has the shape of a key id: 1 to 16 ASCII letters and digits.
pub fn is_key_id(kid: &str) -> bool {
    (1..=16).contains(&kid.len()) && kid.bytes().all(|b| b.is_ascii_alphanumeric())
}

impl KeyRing {
    /// A ring of one key (tests, tools).
    pub fn single(kid: &str, key: &str) -> KeyRing {
        KeyRing { current: kid.to_string(), keys: BTreeMap::from([(kid.to_string(), key.to_string())]) }
    }

    /// The key new data is made with, and its id.
    pub fn current(&self) -> (&str, &[u8]) {
        let key = self.keys.get(&self.current).map(String::as_bytes).unwrap_or_default();
        (self.current.as_str(), key)
    }

    /// The key with id `kid`, if the ring still holds it.
    pub fn key(&self, kid: &str) -> Option<&[u8]> {
        self.keys.get(kid).map(String::as_bytes)
    }

    /// Every key id the ring holds.
    pub fn key_ids(&self) -> impl Iterator<Item = &str> {
        self.keys.keys().map(String::as_str)
    }

    /// This ring with a new key made current (the old ones kept).
    pub fn rotated(&self, kid: &str, key: &str) -> KeyRing {
        let mut keys = self.keys.clone();
        keys.insert(kid.to_string(), key.to_string());
        KeyRing { current: kid.to_string(), keys }
    }

    /// The next unused key id of the form `k<n>`.
    pub fn next_key_id(&self) -> String {
        (1..).map(|n| format!("k{n}")).find(|k| !self.keys.contains_key(k)).unwrap_or_else(|| "k0".into())
    }

    /// The JSON stored in Secrets Manager.
    pub fn to_json(&self) -> String {
        let mut m: serde_json::Map<String, serde_json::Value> =
            self.keys.iter().map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone()))).collect();
        m.insert("current".into(), serde_json::Value::String(self.current.clone()));
        serde_json::Value::Object(m).to_string()
    }
}

impl<'de> Deserialize<'de> for KeyRing {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<KeyRing, D::Error> {
        use serde::de::Error;
        let mut keys = BTreeMap::<String, String>::deserialize(d)?;
        let current = keys.remove("current").ok_or_else(|| D::Error::custom("no \"current\" key id"))?;
        if let Some(bad) = keys.keys().find(|k| !is_key_id(k)) {
            return Err(D::Error::custom(format!("key id {bad:?} is not 1-16 letters and digits")));
        }
        if keys.values().any(|v| v.len() < 16) {
            return Err(D::Error::custom("a key is shorter than 16 characters"));
        }
        if !keys.contains_key(&current) {
            return Err(D::Error::custom("the current key id names no key"));
        }
        Ok(KeyRing { current, keys })
    }
}

/// Credentials of the upstream providers, set by the operator. Never logged.
#[derive(Clone, PartialEq, Eq, Deserialize)]
pub struct ProviderSecrets {
    /// API key of the upstream SMM panel.
    pub smm_api_key: String,
    /// API key of the top-up (VTU) provider.
    #[serde(default)]
    pub topup_api_key: Option<String>,
    /// Secret the top-up provider signs its callbacks with (`X-Signature`).
    #[serde(default)]
    pub topup_webhook_secret: Option<String>,
    /// VTpass's static `api-key`.
    #[serde(default)]
    pub vtpass_api_key: Option<String>,
    /// VTpass's public key (`PK_…`, on GETs).
    #[serde(default)]
    pub vtpass_public_key: Option<String>,
    /// VTpass's secret key (`SK_…`, on POSTs).
    #[serde(default)]
    pub vtpass_secret_key: Option<String>,
    /// Hubtel ClientID.
    #[serde(default)]
    pub hubtel_client_id: Option<String>,
    /// Hubtel ClientSecret.
    #[serde(default)]
    pub hubtel_client_secret: Option<String>,
}

impl std::fmt::Debug for ProviderSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ProviderSecrets(..)")
    }
}

/// Why the secret could not be had.
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    /// Secrets Manager refused or failed.
    #[error("secrets manager: {0}")]
    Fetch(String),
    /// The secret is not the expected JSON (the message says where, never what).
    #[error("secret {0} is not a JSON object with the expected keys: {1}")]
    Shape(String, String),
}

/// Describes a JSON decoding error without quoting the input: serde's own messages quote
/// the offending value, which here would be a secret.
pub fn redacted(e: &serde_json::Error) -> String {
    let what = match e.classify() {
        serde_json::error::Category::Io => "unreadable",
        serde_json::error::Category::Syntax => "not valid JSON",
        serde_json::error::Category::Data => "a field is missing or of the wrong type",
        serde_json::error::Category::Eof => "truncated",
    };
    format!("{what} (line {}, column {})", e.line(), e.column())
}

struct Loaded<T> {
    at: Instant,
    value: Arc<T>,
}

/// A secret fetched on first use and again once its TTL has passed or a caller asks.
pub struct SecretsCache<T> {
    client: Client,
    id: String,
    ttl: Duration,
    state: RwLock<Option<Loaded<T>>>,
    /// Serializes refreshes; when the last one found nothing new.
    refreshing: tokio::sync::Mutex<Option<Instant>>,
}

impl<T> std::fmt::Debug for SecretsCache<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretsCache").field("id", &self.id).field("ttl", &self.ttl).finish_non_exhaustive()
    }
}

impl<T: serde::de::DeserializeOwned + PartialEq> SecretsCache<T> {
    /// A cache for secret `id` with the default TTL; nothing is fetched until used.
    pub fn new(client: Client, id: impl Into<String>) -> SecretsCache<T> {
        SecretsCache::with_ttl(client, id, DEFAULT_TTL)
    }

    /// A cache for secret `id` trusted for `ttl`.
    pub fn with_ttl(client: Client, id: impl Into<String>, ttl: Duration) -> SecretsCache<T> {
        SecretsCache { client, id: id.into(), ttl, state: RwLock::new(None), refreshing: tokio::sync::Mutex::new(None) }
    }

    /// The secret's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The secret: cached, or fetched when cold or older than the TTL. A failed fetch
    /// is tried again by the next caller.
    pub async fn get(&self) -> Result<Arc<T>, SecretsError> {
        if let Some(l) = self.state.read().await.as_ref() {
            if l.at.elapsed() < self.ttl {
                return Ok(l.value.clone());
            }
        }
        self.fetch().await
    }

    /// The secret fetched again now, because a caller met a key id or a signature the
    /// cached one does not know. Refreshes queue behind each other, and after one that
    /// found nothing new, none fetches for [`MIN_REFRESH_INTERVAL`]: forged requests
    /// cannot turn into a Secrets Manager call each, while a real rotation is picked up
    /// by the first caller that meets it.
    pub async fn refresh(&self) -> Result<Arc<T>, SecretsError> {
        let mut fruitless = self.refreshing.lock().await;
        if fruitless.is_some_and(|at| at.elapsed() < MIN_REFRESH_INTERVAL) {
            return self.get().await;
        }
        let before = self.state.read().await.as_ref().map(|l| l.value.clone());
        let after = self.fetch().await?;
        *fruitless = before.is_some_and(|b| *b == *after).then(Instant::now);
        Ok(after)
    }

    async fn fetch(&self) -> Result<Arc<T>, SecretsError> {
        let out = self
            .client
            .get_secret_value()
            .secret_id(&self.id)
            .send()
            .await
            .map_err(|e| SecretsError::Fetch(aws_sdk_secretsmanager::error::DisplayErrorContext(&e).to_string()))?;
        let value: T = parse(&self.id, out.secret_string().unwrap_or_default())?;
        let value = Arc::new(value);
        *self.state.write().await = Some(Loaded { at: Instant::now(), value: value.clone() });
        Ok(value)
    }
}

/// Parses a secret's JSON, with an error that never quotes it.
pub fn parse<T: serde::de::DeserializeOwned>(id: &str, text: &str) -> Result<T, SecretsError> {
    serde_json::from_str(text).map_err(|e| SecretsError::Shape(id.to_string(), redacted(&e)))
}

/// The three key rings a function may need, each fetched only when first used (so a
/// function whose IAM policy does not grant one never asks for it).
#[derive(Debug)]
pub struct KeyRings {
    /// Transaction-PIN digests.
    pub pin_pepper: SecretsCache<KeyRing>,
    /// Hubtel callback URLs.
    pub callback_key: SecretsCache<KeyRing>,
    /// Webhook secrets and pending OTP codes at rest.
    pub vault_key: SecretsCache<KeyRing>,
}

impl KeyRings {
    /// The rings with these ids, with the default TTL (operator tools).
    pub fn from_ids(client: &Client, pin_pepper: &str, callback_key: &str, vault_key: &str) -> KeyRings {
        KeyRings {
            pin_pepper: SecretsCache::new(client.clone(), pin_pepper),
            callback_key: SecretsCache::new(client.clone(), callback_key),
            vault_key: SecretsCache::new(client.clone(), vault_key),
        }
    }

    /// The rings the config names.
    pub fn new(client: &Client, config: &crate::platform::config::Config) -> KeyRings {
        let ttl = Duration::from_secs(config.secrets_ttl_secs);
        KeyRings {
            pin_pepper: SecretsCache::with_ttl(client.clone(), config.pin_pepper_secret_id.clone(), ttl),
            callback_key: SecretsCache::with_ttl(client.clone(), config.callback_key_secret_id.clone(), ttl),
            vault_key: SecretsCache::with_ttl(client.clone(), config.vault_key_secret_id.clone(), ttl),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rings_parse_rotate_and_round_trip() {
        let ring: KeyRing =
            parse("ring", r#"{"current":"k1","k1":"0123456789abcdef0123"}"#).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(ring.current().0, "k1");
        let next = ring.rotated(&ring.next_key_id(), "fedcba9876543210fedc");
        assert_eq!(next.current().0, "k2");
        assert_eq!(next.key("k1"), Some("0123456789abcdef0123".as_bytes()), "old keys stay");
        let again: KeyRing = parse("ring", &next.to_json()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(again, next);
        assert!(!format!("{next:?}").contains("0123456789"), "Debug never shows a key");
    }

    #[test]
    fn malformed_secrets_are_refused_without_quoting_them() {
        let secret = "s3cr3t-VALUE-that-must-not-leak";
        for text in [
            format!(r#"{{"current":"k2","k1":"{secret}"}}"#),
            format!(r#"{{"k1":"{secret}"}}"#),
            format!(r#"{{"current":"k1","k1":{{"nested":"{secret}"}}}}"#),
            format!(r#"{{"current":"k1","k1":"{secret}""#),
            format!(r#"{{"current":"k1","bad id!":"{secret}"}}"#),
            secret.to_string(),
        ] {
            let e = parse::<KeyRing>("kobo/pin-pepper", &text).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(!e.is_empty(), "{text} was accepted");
            assert!(!e.contains("s3cr3t") && !e.contains("VALUE"), "the error quotes the secret: {e}");
        }
        let e = parse::<ProviderSecrets>("kobo/providers", &format!(r#"{{"smm_api_key": 5, "x": "{secret}"}}"#))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(!e.is_empty() && !e.contains("s3cr3t"), "{e}");
    }
}
