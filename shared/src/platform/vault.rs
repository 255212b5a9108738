//! Webhook secrets at rest: AES-256-GCM under a key derived (HKDF-SHA256) from the app
//! secret in Secrets Manager, with the endpoint's identity as associated data so a
//! ciphertext cannot be moved to another endpoint.

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use aws_lc_rs::hkdf::{Salt, HKDF_SHA256};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;

/// Encrypts and decrypts webhook secrets.
pub struct Vault {
    key: LessSafeKey,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Vault(..)")
    }
}

/// A vault operation failed (wrong key, tampered data, or no randomness).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("webhook secret vault: {0}")]
pub struct VaultError(&'static str);

impl Vault {
    /// A vault keyed from `master` (the app secret's pepper).
    pub fn new(master: &[u8]) -> Result<Vault, VaultError> {
        let prk = Salt::new(HKDF_SHA256, b"kobo webhook secrets").extract(master);
        let okm = prk.expand(&[b"aes-256-gcm v1"], &AES_256_GCM).map_err(|_| VaultError("key derivation failed"))?;
        let key: UnboundKey = okm.into();
        Ok(Vault { key: LessSafeKey::new(key) })
    }

    /// `base64(nonce ‖ ciphertext ‖ tag)`.
    pub fn seal(&self, plaintext: &str, context: &str) -> Result<String, VaultError> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new().fill(&mut nonce).map_err(|_| VaultError("no randomness"))?;
        let mut buf = plaintext.as_bytes().to_vec();
        self.key
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(context.as_bytes()), &mut buf)
            .map_err(|_| VaultError("encryption failed"))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&buf);
        Ok(STANDARD.encode(out))
    }

    /// The plaintext of [`Vault::seal`]'s output for the same `context`.
    pub fn open(&self, sealed: &str, context: &str) -> Result<String, VaultError> {
        let raw = STANDARD.decode(sealed).map_err(|_| VaultError("not base64"))?;
        if raw.len() < NONCE_LEN + 16 {
            return Err(VaultError("too short"));
        }
        let (nonce, rest) = raw.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| VaultError("bad nonce"))?;
        let mut buf = rest.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(context.as_bytes()), &mut buf)
            .map_err(|_| VaultError("wrong key or tampered ciphertext"))?;
        String::from_utf8(plain.to_vec()).map_err(|_| VaultError("not UTF-8"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_tamper() {
        let v = Vault::new(b"master").unwrap_or_else(|e| panic!("{e}"));
        let sealed = v.seal("whsec_abc", "acct/ep1").unwrap_or_default();
        assert_eq!(v.open(&sealed, "acct/ep1").as_deref(), Ok("whsec_abc"));
        assert!(v.open(&sealed, "acct/ep2").is_err(), "bound to its endpoint");
        let other = Vault::new(b"other").unwrap_or_else(|e| panic!("{e}"));
        assert!(other.open(&sealed, "acct/ep1").is_err());
        assert!(!sealed.contains("abc"));
        assert_ne!(v.seal("whsec_abc", "acct/ep1").unwrap_or_default(), sealed, "fresh nonce each time");
    }
}
