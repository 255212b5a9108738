//! Money: an integer number of kobo (1/100 naira). Decimals exist only at the edges,
//! where [`Kobo::parse_naira`] reads them and [`Kobo`]'s `Display` prints them.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The largest amount kobo accepts from outside: ₦1,000,000,000.00. Anything above is a
/// typo or an attack, and keeps every sum far from `i64` overflow.
pub const MAX_AMOUNT: Kobo = Kobo(100_000_000_000);

/// An amount of money in kobo. Signed, so ledger entries can be debits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Kobo(i64);

/// Why a decimal naira string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    /// Not a plain decimal number such as `1500` or `1500.50`.
    #[error("must be a decimal number of naira such as 1500 or 1500.50")]
    NotANumber,
    /// More than two digits after the point.
    #[error("must have at most two decimal places")]
    TooPrecise,
    /// Zero or negative where a positive amount is required.
    #[error("must be greater than zero")]
    NotPositive,
    /// Above [`MAX_AMOUNT`].
    #[error("must not exceed {MAX_AMOUNT}")]
    TooLarge,
}

impl Kobo {
    /// Zero kobo.
    pub const ZERO: Kobo = Kobo(0);

    /// An amount of kobo.
    pub const fn new(kobo: i64) -> Kobo {
        Kobo(kobo)
    }

    /// The number of kobo.
    pub const fn as_i64(self) -> i64 {
        self.0
    }

    /// Whole naira to kobo (a constant: overflow fails the build).
    pub const fn naira(n: i64) -> Kobo {
        Kobo(n * 100)
    }

    /// Whether the amount is above zero.
    pub const fn is_positive(self) -> bool {
        self.0 > 0
    }

    /// The amount as naira for a JSON number (2 decimals; exact for every amount kobo holds).
    pub fn as_naira_f64(self) -> f64 {
        self.0 as f64 / 100.0
    }

    /// Naira from an upstream's JSON number, rounded to the kobo; `None` when not finite
    /// or out of range.
    pub fn from_naira_f64(naira: f64) -> Option<Kobo> {
        let k = (naira * 100.0).round();
        (k.is_finite() && k.abs() <= MAX_AMOUNT.0 as f64).then_some(Kobo(k as i64))
    }

    /// An amount an upstream wrote as decimal naira text (`"5000"`, `"5000.5"`,
    /// `"5000.00"`, `"5000.000"`), read exactly: `None` for a sign, an exponent,
    /// separators, a fraction of a kobo, or more than [`MAX_AMOUNT`]. Zero is allowed
    /// (the caller compares it with what it expects).
    pub fn from_decimal_text(s: &str) -> Option<Kobo> {
        let s = s.trim();
        let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
        let frac = frac.trim_end_matches('0');
        if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        if frac.len() > 2 {
            return None;
        }
        let whole = whole.trim_start_matches('0');
        if whole.len() > 12 {
            return None;
        }
        let naira: i64 = if whole.is_empty() { 0 } else { whole.parse().ok()? };
        let cents: i64 = format!("{frac:0<2}").parse().ok()?;
        let amount = Kobo(naira.checked_mul(100)?.checked_add(cents)?);
        (amount <= MAX_AMOUNT).then_some(amount)
    }

    /// Multiplies by a count, or `None` on overflow.
    pub fn checked_mul(self, n: i64) -> Option<Kobo> {
        self.0.checked_mul(n).map(Kobo)
    }

    /// Parses a positive naira amount with at most two decimals (`"50000"`, `"123.4"`,
    /// `"0.05"`), no sign, no exponent, no separators, at most [`MAX_AMOUNT`].
    pub fn parse_naira(s: &str) -> Result<Kobo, MoneyError> {
        let s = s.trim();
        let (whole, frac) = match s.split_once('.') {
            Some((w, f)) => (w, f),
            None => (s, ""),
        };
        let digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
        if (whole.is_empty() && frac.is_empty()) || !digits(whole) || !digits(frac) {
            return Err(MoneyError::NotANumber);
        }
        if frac.len() > 2 {
            return Err(MoneyError::TooPrecise);
        }
        let whole = whole.trim_start_matches('0');
        // More than 12 integer digits is above MAX_AMOUNT whatever they are.
        if whole.len() > 12 {
            return Err(MoneyError::TooLarge);
        }
        let naira: i64 = if whole.is_empty() { 0 } else { whole.parse().map_err(|_| MoneyError::NotANumber)? };
        let mut cents: i64 = if frac.is_empty() { 0 } else { frac.parse().map_err(|_| MoneyError::NotANumber)? };
        if frac.len() == 1 {
            cents *= 10;
        }
        let amount = Kobo(naira * 100 + cents);
        if amount.0 <= 0 {
            return Err(MoneyError::NotPositive);
        }
        if amount > MAX_AMOUNT {
            return Err(MoneyError::TooLarge);
        }
        Ok(amount)
    }

    /// Adds, or `None` on overflow.
    pub fn checked_add(self, other: Kobo) -> Option<Kobo> {
        self.0.checked_add(other.0).map(Kobo)
    }

    /// Subtracts, or `None` on overflow.
    pub fn checked_sub(self, other: Kobo) -> Option<Kobo> {
        self.0.checked_sub(other.0).map(Kobo)
    }

    /// The same amount with the opposite sign.
    pub fn negate(self) -> Kobo {
        Kobo(self.0.saturating_neg())
    }

    /// The larger of zero and this amount.
    pub fn at_least_zero(self) -> Kobo {
        Kobo(self.0.max(0))
    }

    /// Applies a discount in basis points (1/100 of a percent) and rounds **up** to the kobo,
    /// so a discount never gives away a fraction of a kobo.
    pub fn less_basis_points_ceil(self, bp: u32) -> Kobo {
        let bp = i128::from(bp.min(10_000));
        let scaled = i128::from(self.0) * (10_000 - bp);
        Kobo(div_ceil_i128(scaled, 10_000) as i64)
    }
}

/// Ceiling division for a non-negative divisor, correct for negative numerators too.
fn div_ceil_i128(n: i128, d: i128) -> i128 {
    let q = n / d;
    if n % d > 0 {
        q + 1
    } else {
        q
    }
}

impl fmt::Display for Kobo {
    /// Naira with exactly two decimals: `50000.00`, `-0.05`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        write!(f, "{sign}{}.{:02}", abs / 100, abs % 100)
    }
}

impl FromStr for Kobo {
    type Err = MoneyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Kobo::parse_naira(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_plain_and_decimal_naira() {
        assert_eq!(Kobo::parse_naira("50000"), Ok(Kobo(5_000_000)));
        assert_eq!(Kobo::parse_naira("50000.00"), Ok(Kobo(5_000_000)));
        assert_eq!(Kobo::parse_naira("123.4"), Ok(Kobo(12_340)));
        assert_eq!(Kobo::parse_naira("0.05"), Ok(Kobo(5)));
        assert_eq!(Kobo::parse_naira(".5"), Ok(Kobo(50)));
        assert_eq!(Kobo::parse_naira("7."), Ok(Kobo(700)));
        assert_eq!(Kobo::parse_naira("000100"), Ok(Kobo(10_000)));
    }

    #[test]
    fn refuses_what_is_not_money() {
        for bad in ["", ".", "abc", "1e3", "-5", "+5", "1,000", "1.2.3", "NaN", "١٢", " . "] {
            assert_eq!(Kobo::parse_naira(bad), Err(MoneyError::NotANumber), "{bad:?}");
        }
        assert_eq!(Kobo::parse_naira("1.234"), Err(MoneyError::TooPrecise));
        assert_eq!(Kobo::parse_naira("0"), Err(MoneyError::NotPositive));
        assert_eq!(Kobo::parse_naira("0.00"), Err(MoneyError::NotPositive));
        assert_eq!(Kobo::parse_naira("1000000000.01"), Err(MoneyError::TooLarge));
        assert_eq!(Kobo::parse_naira("99999999999999999999999"), Err(MoneyError::TooLarge));
        assert_eq!(Kobo::parse_naira("1000000000"), Ok(MAX_AMOUNT));
    }

    #[test]
    fn displays_two_decimals() {
        assert_eq!(Kobo(5_000_000).to_string(), "50000.00");
        assert_eq!(Kobo(5).to_string(), "0.05");
        assert_eq!(Kobo(-5).to_string(), "-0.05");
        assert_eq!(Kobo(-12_345).to_string(), "-123.45");
        assert_eq!(Kobo(0).to_string(), "0.00");
        assert_eq!(Kobo(i64::MIN).to_string(), "-92233720368547758.08");
    }

    #[test]
    fn round_trips_every_small_amount() {
        for k in 1..5_000 {
            assert_eq!(Kobo::parse_naira(&Kobo(k).to_string()), Ok(Kobo(k)));
        }
    }

    #[test]
    fn discounts_round_up_to_the_kobo() {
        assert_eq!(Kobo(1000).less_basis_points_ceil(1000), Kobo(900));
        assert_eq!(Kobo(999).less_basis_points_ceil(1000), Kobo(900)); // 899.1 -> 900
        assert_eq!(Kobo(1000).less_basis_points_ceil(20_000), Kobo(0)); // capped at 100%
        assert_eq!(Kobo(1).less_basis_points_ceil(1), Kobo(1));
    }
}
