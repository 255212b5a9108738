//! Transaction PINs: stored only as a keyed digest, HMAC-SHA256(pepper, account id ‖ 0 ‖ PIN),
//! with the pepper from Secrets Manager. Compared in constant time.

use crate::platform::crypto;
use crate::platform::secrets::KeyRing;

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

/// What an attempt guesses: the PIN, or a withdrawal OTP's code. Each has its own count
/// (a right PIN does not wipe out wrong codes), and either one's fifth wrong guess
/// locks the same PIN lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Guess {
    /// The transaction PIN.
    Pin,
    /// A withdrawal OTP code.
    OtpCode,
}

impl Guess {
    /// The account attribute counting this kind's attempts.
    pub const fn counter(self) -> &'static str {
        match self {
            Guess::Pin => "pin_failures",
            Guess::OtpCode => "otp_failures",
        }
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
    /// No check may run now: locked until then ([`LOCKED_UNTIL_RESET`]: until reset),
    /// or (not `locked`) every attempt is taken by checks still running, which a right
    /// PIN frees at once and a crashed check frees at `until`.
    Refused {
        /// Unix seconds.
        until: i64,
        /// A lock (not checks in flight).
        locked: bool,
    },
}

/// Whether `pin` has the shape of a transaction PIN: 4 to 6 ASCII digits.
pub fn is_valid_pin(pin: &str) -> bool {
    (4..=6).contains(&pin.len()) && pin.bytes().all(|b| b.is_ascii_digit())
}

fn message(account_id: &str, pin: &str) -> Vec<u8> {
    [account_id.as_bytes(), b"\0", pin.as_bytes()].concat()
}

/// The digest to store for `pin`: `<key id>:<hex HMAC>` under the ring's current key.
pub fn digest(ring: &KeyRing, account_id: &str, pin: &str) -> String {
    let (kid, key) = ring.current();
    format!("{kid}:{}", crypto::hmac_sha256_hex(key, &message(account_id, pin)))
}

/// What comparing a PIN with a stored digest found.
pub use crate::platform::secrets::KeyCheck as Check;

/// Compares `pin` with the stored digest under the key it names, in constant time.
pub fn verify(ring: &KeyRing, account_id: &str, pin: &str, stored: &str) -> Check {
    let Some((kid, hex)) = stored.split_once(':') else { return Check::NoMatch };
    let Some(key) = ring.key(kid) else { return Check::UnknownKey };
    if crypto::verify_hmac_sha256_hex(key, &message(account_id, pin), hex) {
        Check::Match
    } else {
        Check::NoMatch
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_verify_only_the_right_pin_account_and_pepper() {
        let ring = KeyRing::single("k1", "pepper-pepper-pepper");
        let d = digest(&ring, "acct1", "1234");
        assert!(d.starts_with("k1:"));
        assert_eq!(verify(&ring, "acct1", "1234", &d), Check::Match);
        assert_eq!(verify(&ring, "acct1", "1235", &d), Check::NoMatch);
        assert_eq!(verify(&ring, "acct2", "1234", &d), Check::NoMatch);
        let other = KeyRing::single("k1", "another-pepper-value");
        assert_eq!(verify(&other, "acct1", "1234", &d), Check::NoMatch);
        assert_eq!(verify(&ring, "acct1", "1234", "zz"), Check::NoMatch);
        assert!(!d.contains("1234"));
        // Rotated: old digests still verify with their key; new ones use the new key.
        let rotated = ring.rotated("k2", "a-brand-new-pepper!!");
        assert_eq!(verify(&rotated, "acct1", "1234", &d), Check::Match);
        assert!(digest(&rotated, "acct1", "1234").starts_with("k2:"));
        assert_eq!(verify(&ring, "acct1", "1234", &digest(&rotated, "acct1", "1234")), Check::UnknownKey);
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
