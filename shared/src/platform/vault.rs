//! Secrets at rest (webhook signing secrets, OTP codes waiting to be checked):
//! AES-256-GCM under keys derived (HKDF-SHA256) from the vault key ring in Secrets
//! Manager, with the owner's identity as associated data so a ciphertext cannot be moved
//! to another owner. Each ciphertext names the key id it was sealed with, so a rotated
//! ring still opens what older keys sealed.

use std::collections::BTreeMap;

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use aws_lc_rs::hkdf::{Salt, HKDF_SHA256};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use crate::platform::secrets::KeyRing;

/// Encrypts and decrypts secrets at rest.
pub struct Vault {
    current: String,
    keys: BTreeMap<String, LessSafeKey>,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Vault(..)")
    }
}

/// A vault operation failed (wrong key, tampered data, or no randomness).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("vault: {0}")]
pub struct VaultError(&'static str);

impl VaultError {
    /// Whether the ciphertext names a key the ring does not hold (fetch it again).
    pub fn is_unknown_key(&self) -> bool {
        self.0 == UNKNOWN_KEY
    }
}

/// The message of a ciphertext sealed under a key the ring does not hold.
pub const UNKNOWN_KEY: &str = "sealed under a key id the ring does not hold";

fn derive(master: &[u8]) -> Result<LessSafeKey, VaultError> {
    let prk = Salt::new(HKDF_SHA256, b"kobo webhook secrets").extract(master);
    let okm = prk.expand(&[b"aes-256-gcm v1"], &AES_256_GCM).map_err(|_| VaultError("key derivation failed"))?;
    let key: UnboundKey = okm.into();
    Ok(LessSafeKey::new(key))
}

impl Vault {
    /// A vault keyed from every key of `ring`; it seals with the current one.
    pub fn new(ring: &KeyRing) -> Result<Vault, VaultError> {
        let (current, _) = ring.current();
        let mut keys = BTreeMap::new();
        for kid in ring.key_ids() {
            if let Some(master) = ring.key(kid) {
                keys.insert(kid.to_string(), derive(master)?);
            }
        }
        Ok(Vault { current: current.to_string(), keys })
    }

    /// `<key id>:base64(nonce ‖ ciphertext ‖ tag)`.
    pub fn seal(&self, plaintext: &str, context: &str) -> Result<String, VaultError> {
        let key = self.keys.get(&self.current).ok_or(VaultError("no current key"))?;
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new().fill(&mut nonce).map_err(|_| VaultError("no randomness"))?;
        let mut buf = plaintext.as_bytes().to_vec();
        key.seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(context.as_bytes()), &mut buf)
            .map_err(|_| VaultError("encryption failed"))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&buf);
        Ok(format!("{}:{}", self.current, STANDARD.encode(out)))
    }

    /// The plaintext of [`Vault::seal`]'s output for the same `context`.
    pub fn open(&self, sealed: &str, context: &str) -> Result<String, VaultError> {
        let (kid, body) = sealed.split_once(':').ok_or(VaultError("no key id"))?;
        let key = self.keys.get(kid).ok_or(VaultError(UNKNOWN_KEY))?;
        let raw = STANDARD.decode(body).map_err(|_| VaultError("not base64"))?;
        if raw.len() < NONCE_LEN + 16 {
            return Err(VaultError("too short"));
        }
        let (nonce, rest) = raw.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| VaultError("bad nonce"))?;
        let mut buf = rest.to_vec();
        let plain = key
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
        let ring = KeyRing::single("k1", "master-master-master");
        let v = Vault::new(&ring).unwrap_or_else(|e| panic!("{e}"));
        let sealed = v.seal("whsec_abc", "acct/ep1").unwrap_or_default();
        assert!(sealed.starts_with("k1:"));
        assert_eq!(v.open(&sealed, "acct/ep1").as_deref(), Ok("whsec_abc"));
        assert!(v.open(&sealed, "acct/ep2").is_err(), "bound to its endpoint");
        let other = Vault::new(&KeyRing::single("k1", "other-other-other-other")).unwrap_or_else(|e| panic!("{e}"));
        assert!(other.open(&sealed, "acct/ep1").is_err());
        assert!(!sealed.contains("abc"));
        assert_ne!(v.seal("whsec_abc", "acct/ep1").unwrap_or_default(), sealed, "fresh nonce each time");
        // Rotated: the old ciphertext still opens; new ones use the new key; a vault
        // that does not know the new key says so.
        let rotated = Vault::new(&ring.rotated("k2", "new-master-new-master")).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(rotated.open(&sealed, "acct/ep1").as_deref(), Ok("whsec_abc"));
        let newer = rotated.seal("whsec_abc", "acct/ep1").unwrap_or_default();
        assert!(newer.starts_with("k2:"));
        assert!(v.open(&newer, "acct/ep1").is_err_and(|e| e.is_unknown_key()));
    }
}
