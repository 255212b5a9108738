//! Transaction PINs: stored only as a keyed digest, HMAC-SHA256(pepper, account id ‖ 0 ‖ PIN),
//! with the pepper from Secrets Manager. Compared in constant time.

use crate::platform::crypto;

/// Attempts (reserved before each check) that lock the PIN when the last is wrong.
pub const PIN_LIMIT: u32 = 5;

/// A lock that only an operator (or the portal's PIN reset) lifts.
pub const LOCKED_UNTIL_RESET: i64 = i64::MAX;

/// A full set of reservations with no lock after this long means checks that never
/// finished (a crashed container): the attempts are released.
pub const STALE_ATTEMPT_SECS: i64 = 120;

/// When the `level`-th lock in a row (1 = first since the last right PIN) ends: 30
/// minutes, then 24 hours, then until an operator resets the PIN.
pub fn lock_until(level: u32, now: i64) -> i64 {
    match level {
        0 | 1 => now + 30 * 60,
        2 => now + 24 * 3600,
        _ => LOCKED_UNTIL_RESET,
    }
}

/// What reserving an attempt found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    /// This check may run: it is attempt `n` of [`PIN_LIMIT`], and the account has been
    /// locked `level` times since its last right PIN.
    Reserved {
        /// 1-based.
        n: u32,
        /// Locks in a row so far.
        level: u32,
    },
    /// No check may run: locked until then ([`LOCKED_UNTIL_RESET`]: until reset), or
    /// every attempt is taken by checks still running.
    Refused {
        /// Unix seconds.
        until: i64,
    },
}

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
    fn locks_escalate_to_an_operator_reset() {
        assert_eq!(lock_until(1, 100), 100 + 1800);
        assert_eq!(lock_until(2, 100), 100 + 86_400);
        assert_eq!(lock_until(3, 100), LOCKED_UNTIL_RESET);
        assert_eq!(lock_until(9, 100), LOCKED_UNTIL_RESET);
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
