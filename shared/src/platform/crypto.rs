//! The few cryptographic primitives kobo uses, from aws-lc-rs (already linked by rustls):
//! SHA-256, HMAC-SHA256 and its constant-time verification.

use aws_lc_rs::{digest, hmac};

/// Hex SHA-256 of `data`.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(digest::digest(&digest::SHA256, data).as_ref())
}

/// HMAC-SHA256 of the concatenation of `parts` under `key`.
pub fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let key = hmac::Key::new(hmac::HMAC_SHA256, key);
    let mut ctx = hmac::Context::with_key(&key);
    for p in parts {
        ctx.update(p);
    }
    ctx.sign().as_ref().to_vec()
}

/// Hex HMAC-SHA256 of `data`: the signature format of the seeds (`X-Signature`,
/// `X-Webhook-Signature`).
pub fn hmac_sha256_hex(key: &[u8], data: &[u8]) -> String {
    hex::encode(hmac_sha256(key, &[data]))
}

/// Whether `signature_hex` is the hex HMAC-SHA256 of `data` under `key`, compared in
/// constant time. Any malformed signature is simply not valid.
pub fn verify_hmac_sha256_hex(key: &[u8], data: &[u8], signature_hex: &str) -> bool {
    let Ok(tag) = hex::decode(signature_hex.trim()) else {
        return false;
    };
    hmac::verify(&hmac::Key::new(hmac::HMAC_SHA256, key), data, &tag).is_ok()
}

/// A secret that makes a callback URL a credential: HMAC-SHA256 of `context:id` under
/// `key`, 40 hex digits. Never stored: it is checked by computing it again.
pub fn url_secret(key: &[u8], context: &str, id: &str) -> String {
    let mut h = hmac_sha256_hex(key, format!("{context}:{id}").as_bytes());
    h.truncate(40);
    h
}

/// Whether `given` is [`url_secret`] of `context` and `id` (constant time).
pub fn url_secret_ok(key: &[u8], context: &str, id: &str, given: &str) -> bool {
    let want = url_secret(key, context, id);
    given.len() == want.len()
        && aws_lc_rs::constant_time::verify_slices_are_equal(want.as_bytes(), given.as_bytes()).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vectors() {
        // RFC 4231 test case 2.
        assert_eq!(
            hmac_sha256_hex(b"Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(sha256_hex(b"abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    #[test]
    fn verification_is_exact() {
        let sig = hmac_sha256_hex(b"k", b"body");
        assert!(verify_hmac_sha256_hex(b"k", b"body", &sig));
        assert!(!verify_hmac_sha256_hex(b"k", b"body!", &sig));
        assert!(!verify_hmac_sha256_hex(b"k2", b"body", &sig));
        assert!(!verify_hmac_sha256_hex(b"k", b"body", &sig[..10]));
        assert!(!verify_hmac_sha256_hex(b"k", b"body", "not hex"));
    }
}
