//! Transaction PINs: stored only as a keyed digest, HMAC-SHA256(pepper, account id ‖ 0 ‖ PIN),
//! with the pepper from Secrets Manager. Compared in constant time.

use crate::platform::crypto;

/// Whether `pin` has the shape of a transaction PIN: 4 to 6 ASCII digits.
pub fn is_valid_pin(pin: &str) -> bool {
    (4..=6).contains(&pin.len()) && pin.bytes().all(|b| b.is_ascii_digit())
}

fn message(account_id: &str, pin: &str) -> Vec<u8> {
    [account_id.as_bytes(), b"\0", pin.as_bytes()].concat()
}

/// The hex digest to store for `pin`.
pub fn digest(pepper: &[u8], account_id: &str, pin: &str) -> String {
    crypto::hmac_sha256_hex(pepper, &message(account_id, pin))
}

/// Whether `pin` matches the stored hex `digest`, in constant time.
pub fn verify(pepper: &[u8], account_id: &str, pin: &str, stored: &str) -> bool {
    crypto::verify_hmac_sha256_hex(pepper, &message(account_id, pin), stored)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_verify_only_the_right_pin_account_and_pepper() {
        let d = digest(b"pepper", "acct1", "1234");
        assert!(verify(b"pepper", "acct1", "1234", &d));
        assert!(!verify(b"pepper", "acct1", "1235", &d));
        assert!(!verify(b"pepper", "acct2", "1234", &d));
        assert!(!verify(b"other", "acct1", "1234", &d));
        assert!(!verify(b"pepper", "acct1", "1234", "zz"));
        assert!(!d.contains("1234"));
    }

    #[test]
    fn pin_shape() {
        assert!(is_valid_pin("1234"));
        assert!(is_valid_pin("123456"));
        assert!(!is_valid_pin("123"));
        assert!(!is_valid_pin("12a4"));
        assert!(!is_valid_pin("1234567"));
    }
}
