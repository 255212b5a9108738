//! Phone numbers, meter and smartcard numbers, sender ids: validation and masking.

/// Normalizes a Nigerian mobile number (`08012345678`, `+2348012345678`,
/// `2348012345678`, spaces and dashes allowed) to `08012345678`.
pub fn normalize_phone(raw: &str) -> Option<String> {
    let digits: String = raw.chars().filter(|c| !matches!(c, ' ' | '-' | '(' | ')')).collect();
    let local = if let Some(rest) = digits.strip_prefix("+234") {
        format!("0{rest}")
    } else if let Some(rest) = digits.strip_prefix("234").filter(|r| r.len() == 10) {
        format!("0{rest}")
    } else {
        digits
    };
    let b = local.as_bytes();
    let ok = b.len() == 11
        && local.bytes().all(|c| c.is_ascii_digit())
        && b[0] == b'0'
        && matches!(b[1], b'7' | b'8' | b'9')
        && matches!(b[2], b'0' | b'1');
    ok.then_some(local)
}

/// Whether a string is `min..=max` ASCII digits (meter numbers, smartcard numbers).
pub fn is_digits(s: &str, min: usize, max: usize) -> bool {
    (min..=max).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
}

/// ISO 3166-1 alpha-2 codes.
const ISO_COUNTRIES: &str = "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW";

/// Whether `s` is a sender id Hubtel accepts: 1 to 11 ASCII letters and digits.
pub fn is_sender_id(s: &str) -> bool {
    (1..=11).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Whether `s` is an E.164 number: `+`, then 8 to 15 digits, the first not 0.
pub fn is_e164(s: &str) -> bool {
    let Some(d) = s.strip_prefix('+') else { return false };
    (8..=15).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit()) && !d.starts_with('0')
}

/// Whether `s` is an ISO 3166-1 alpha-2 country code.
pub fn is_country(s: &str) -> bool {
    s.len() == 2 && ISO_COUNTRIES.split(' ').any(|c| c == s)
}

/// A Nigerian local number (`08012345678`) in E.164 (`+2348012345678`).
pub fn nigerian_e164(local: &str) -> Option<String> {
    normalize_phone(local).map(|l| format!("+234{}", &l[1..]))
}

/// Masks a phone number for logs: `0801****678`.
pub fn mask_phone(phone: &str) -> String {
    let chars: Vec<char> = phone.chars().collect();
    if chars.len() <= 7 {
        return "*".repeat(chars.len());
    }
    let head: String = chars[..4].iter().collect();
    let tail: String = chars[chars.len() - 3..].iter().collect();
    format!("{head}{}{tail}", "*".repeat(chars.len() - 7))
}

/// A Nigerian mobile number, normalized to its local form (`08012345678`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NigerianPhone(String);

impl NigerianPhone {
    /// Reads `08012345678`, `+2348012345678`, `2348012345678` (spaces and dashes allowed).
    pub fn parse(raw: &str) -> Option<NigerianPhone> {
        normalize_phone(raw).map(NigerianPhone)
    }

    /// The local form, `08012345678`.
    pub fn local(&self) -> &str {
        &self.0
    }

    /// The E.164 form, `+2348012345678`.
    pub fn e164(&self) -> String {
        format!("+234{}", &self.0[1..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones() {
        assert_eq!(normalize_phone("08012345678").as_deref(), Some("08012345678"));
        assert_eq!(normalize_phone("+2348012345678").as_deref(), Some("08012345678"));
        assert_eq!(normalize_phone("2349012345678").as_deref(), Some("09012345678"));
        assert_eq!(normalize_phone("0701 234 5678").as_deref(), Some("07012345678"));
        for bad in ["0801234567", "080123456789", "06012345678", "08212345678", "+4478000000", "abc", ""] {
            assert_eq!(normalize_phone(bad), None, "{bad}");
        }
    }

    #[test]
    fn masks_phones() {
        assert_eq!(mask_phone("08012345678"), "0801****678");
        assert_eq!(mask_phone("123"), "***");
    }
}
