//! Webhook secrets and signatures: the seed's `X-Webhook-Signature` (hex HMAC-SHA256 of
//! the exact body bytes, keyed by the secret as text) and Standard Webhooks'
//! `webhook-signature` (`v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, keyed by the
//! secret's decoded bytes).

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use crate::platform::crypto;

/// Prefix of kobo webhook secrets (as Standard Webhooks names them).
pub const SECRET_PREFIX: &str = "whsec_";

/// A new secret: `whsec_` + base64 of 32 random bytes.
pub fn new_secret() -> Result<String, String> {
    let mut bytes = [0u8; 32];
    SystemRandom::new().fill(&mut bytes).map_err(|_| "the system random source failed".to_string())?;
    Ok(format!("{SECRET_PREFIX}{}", STANDARD.encode(bytes)))
}

/// `X-Webhook-Signature`: hex HMAC-SHA256 of `body` keyed by the secret text, exactly as
/// the seed's PHP (`hash_hmac("sha256", $payload, $secret)`) and Node examples compute it.
pub fn seed_signature(secret: &str, body: &[u8]) -> String {
    crypto::hmac_sha256_hex(secret.as_bytes(), body)
}

/// The Standard Webhooks signature of one secret: `v1,<base64>`.
pub fn standard_signature(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> String {
    let key = secret
        .strip_prefix(SECRET_PREFIX)
        .and_then(|b64| STANDARD.decode(b64).ok())
        .unwrap_or_else(|| secret.as_bytes().to_vec());
    let ts = timestamp.to_string();
    let mac = crypto::hmac_sha256(&key, &[id.as_bytes(), b".", ts.as_bytes(), b".", body]);
    format!("v1,{}", STANDARD.encode(mac))
}

/// `webhook-signature` for every secret in force (two during a rotation's grace period),
/// space separated.
pub fn standard_signatures(secrets: &[&str], id: &str, timestamp: i64, body: &[u8]) -> String {
    secrets.iter().map(|s| standard_signature(s, id, timestamp, body)).collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_webhooks_reference_vector() {
        // From the Standard Webhooks specification's test vectors.
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let id = "msg_p5jXN8AQM9LWM0D4loKWxJek";
        let ts = 1614265330;
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(standard_signature(secret, id, ts, body), "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn seed_signature_is_hex_hmac_of_the_body() {
        let s = seed_signature("secret", b"{}");
        assert_eq!(s.len(), 64);
        assert!(crypto::verify_hmac_sha256_hex(b"secret", b"{}", &s));
        let a = new_secret().unwrap_or_default();
        let b = new_secret().unwrap_or_default();
        assert!(a.starts_with(SECRET_PREFIX) && a != b && a.len() > 40);
    }
}
