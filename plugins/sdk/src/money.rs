//! Amounts in minor units (cents, yen, fils) as the decimal strings that
//! destinations display, using each currency's ISO 4217 exponent.
//!
//! Dodo sends integers in the currency's minor unit (`2159` USD is $21.59),
//! and dispute amounts as strings of digits. Dividing by 100 is wrong for
//! JPY (`500` is ¥500) and KWD (`1234` is 1.234 KD), so the exponent comes
//! from the currency. The formatting works on the digits, never on floats, so
//! arbitrarily long amounts stay exact.

use crate::PayloadValue;

/// Currencies without minor units (ISO 4217 exponent 0).
const EXPONENT_0: [&str; 17] = [
    "BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI", "VND",
    "VUV", "XAF", "XOF", "XPF",
];

/// Currencies with three decimal places (ISO 4217 exponent 3).
const EXPONENT_3: [&str; 7] = ["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"];

/// The currency used when a payload has none, as the seed examples do.
pub const DEFAULT_CURRENCY: &str = "USD";

/// How many decimal places `currency` has: 0, 2 or 3 (2 when unknown).
/// The code is matched case-insensitively.
///
/// ```
/// use hookwasm_sdk::money::exponent;
/// assert_eq!(exponent("JPY"), 0);
/// assert_eq!(exponent("usd"), 2);
/// assert_eq!(exponent("KWD"), 3);
/// ```
pub fn exponent(currency: &str) -> usize {
    let is = |code: &&str| code.eq_ignore_ascii_case(currency);
    if EXPONENT_0.iter().any(is) {
        0
    } else if EXPONENT_3.iter().any(is) {
        3
    } else {
        2
    }
}

/// Formats an amount given as an optionally negative string of ASCII digits,
/// in `currency`'s minor unit; `None` when `minor_units` is not such a string.
///
/// ```
/// use hookwasm_sdk::money::format_minor_units;
/// assert_eq!(format_minor_units("2159", "USD").as_deref(), Some("21.59"));
/// assert_eq!(format_minor_units("5", "USD").as_deref(), Some("0.05"));
/// assert_eq!(format_minor_units("500", "JPY").as_deref(), Some("500"));
/// assert_eq!(format_minor_units("1234", "KWD").as_deref(), Some("1.234"));
/// assert_eq!(format_minor_units("-250", "EUR").as_deref(), Some("-2.50"));
/// assert_eq!(format_minor_units("12.5", "EUR"), None);
/// ```
pub fn format_minor_units(minor_units: &str, currency: &str) -> Option<String> {
    let (negative, digits) = match minor_units.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, minor_units),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let digits = digits.trim_start_matches('0');
    let exponent = exponent(currency);

    let mut out = String::with_capacity(digits.len() + exponent + 3);
    // "-0" is zero: no sign.
    if negative && !digits.is_empty() {
        out.push('-');
    }
    if digits.len() > exponent {
        let (whole, fraction) = digits.split_at(digits.len() - exponent);
        out.push_str(whole);
        if exponent > 0 {
            out.push('.');
            out.push_str(fraction);
        }
    } else {
        // Fewer digits than decimal places: "5" cents is "0.05".
        out.push('0');
        if exponent > 0 {
            out.push('.');
            out.extend(std::iter::repeat_n('0', exponent - digits.len()));
            out.push_str(digits);
        }
    }
    Some(out)
}

/// Formats a JSON amount, an integer or a string of digits, in `currency`'s
/// minor unit; `None` for anything else (floats, other strings, other types).
///
/// ```
/// use hookwasm_sdk::{PayloadValue, money::format};
/// assert_eq!(format(&PayloadValue::from(2159u64), "USD").as_deref(), Some("21.59"));
/// assert_eq!(format(&PayloadValue::from("2159"), "USD").as_deref(), Some("21.59"));
/// assert_eq!(format(&PayloadValue::from(21.59), "USD"), None);
/// ```
pub fn format(amount: &PayloadValue, currency: &str) -> Option<String> {
    match amount {
        PayloadValue::Number(n) => {
            let digits = match (n.as_i64(), n.as_u64()) {
                (Some(i), _) => i.to_string(),
                (None, Some(u)) => u.to_string(),
                // A float, or an integer too large for serde_json to keep exact.
                (None, None) => return None,
            };
            format_minor_units(&digits, currency)
        }
        PayloadValue::Str(s) => format_minor_units(s, currency),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fmt(amount: &str, currency: &str) -> String {
        format_minor_units(amount, currency).unwrap()
    }

    #[test]
    fn the_contract_examples() {
        assert_eq!(fmt("2159", "USD"), "21.59");
        assert_eq!(fmt("5", "USD"), "0.05");
        assert_eq!(fmt("500", "JPY"), "500");
        assert_eq!(fmt("1234", "KWD"), "1.234");
        assert_eq!(fmt("-250", "EUR"), "-2.50");
    }

    #[test]
    fn every_listed_exponent() {
        for code in EXPONENT_0 {
            assert_eq!(fmt("1234", code), "1234", "{code}");
        }
        for code in EXPONENT_3 {
            assert_eq!(fmt("1234", code), "1.234", "{code}");
        }
        for code in ["USD", "EUR", "GBP", "INR", "XYZ", ""] {
            assert_eq!(fmt("1234", code), "12.34", "{code}");
        }
        assert_eq!(exponent("jpy"), 0);
        assert_eq!(exponent("Kwd"), 3);
    }

    #[test]
    fn zero_and_small_amounts() {
        assert_eq!(fmt("0", "USD"), "0.00");
        assert_eq!(fmt("-0", "USD"), "0.00");
        assert_eq!(fmt("0", "JPY"), "0");
        assert_eq!(fmt("0", "KWD"), "0.000");
        assert_eq!(fmt("1", "KWD"), "0.001");
        assert_eq!(fmt("99", "USD"), "0.99");
        assert_eq!(fmt("100", "USD"), "1.00");
        assert_eq!(fmt("-5", "USD"), "-0.05");
        assert_eq!(fmt("-7", "JPY"), "-7");
    }

    #[test]
    fn leading_zeros_are_dropped() {
        assert_eq!(fmt("0005", "USD"), "0.05");
        assert_eq!(fmt("000", "USD"), "0.00");
        assert_eq!(fmt("012345", "JPY"), "12345");
    }

    #[test]
    fn long_digit_strings_stay_exact() {
        let digits = "123456789012345678901234567890123456789";
        assert_eq!(
            fmt(digits, "USD"),
            "1234567890123456789012345678901234567.89"
        );
        assert_eq!(fmt(&format!("-{digits}"), "KWD").len(), digits.len() + 2);
    }

    #[test]
    fn garbage_is_refused() {
        for bad in [
            "", "-", "--5", "+5", "12.5", "1e3", " 12", "12 ", "12a", "١٢", "0x10",
        ] {
            assert_eq!(format_minor_units(bad, "USD"), None, "{bad:?}");
        }
    }

    fn format_json(amount: serde_json::Value, currency: &str) -> Option<String> {
        format(&PayloadValue::from(&amount), currency)
    }

    #[test]
    fn json_amounts() {
        assert_eq!(format_json(json!(2159), "USD").as_deref(), Some("21.59"));
        assert_eq!(format_json(json!(-250), "EUR").as_deref(), Some("-2.50"));
        assert_eq!(
            format_json(json!(u64::MAX), "JPY").as_deref(),
            Some("18446744073709551615")
        );
        assert_eq!(
            format_json(json!(i64::MIN), "USD").as_deref(),
            Some("-92233720368547758.08")
        );
        assert_eq!(format_json(json!("2159"), "USD").as_deref(), Some("21.59"));
        assert_eq!(format_json(json!(21.59), "USD"), None);
        assert_eq!(format_json(json!(2159.0), "USD"), None);
        assert_eq!(format_json(json!(null), "USD"), None);
        assert_eq!(format_json(json!(true), "USD"), None);
        assert_eq!(format_json(json!([1]), "USD"), None);
        assert_eq!(format_json(json!("twenty"), "USD"), None);
    }
}
