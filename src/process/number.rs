//! `number` and `integer` fields: JSON numbers and numeric text → a [`Number`] that keeps its
//! digits (serde_json's `arbitrary_precision`), within what DynamoDB's `N` type can store.

use serde_json::{Number, Value};

/// DynamoDB's `N` keeps at most 38 significant digits.
const MAX_SIGNIFICANT_DIGITS: usize = 38;
/// DynamoDB's `N` magnitude: 1E-130 to 9.99…E+125 (and zero).
const MIN_EXPONENT: i64 = -130;
const MAX_EXPONENT: i64 = 125;

/// A decimal number from a JSON number or numeric text, with its digits kept.
///
/// Text is trimmed and a leading `+` dropped; what remains must be a JSON number (`-3.5e2`,
/// `51.7600`; not `1.`, `.5`, `1,234`, `0x1F`, `NaN` or `Infinity`). A JSON number keeps its
/// text as written except that an exponent is spelled `e+N`/`e-N`, as serde_json stores it.
pub(crate) fn to_number(value: &Value) -> Result<Number, String> {
    let number = match value {
        Value::Number(n) => n.clone(),
        Value::String(text) => parse_text(text)?,
        other => return Err(format!("{} is not a number", kind_of(other))),
    };
    check_storable(number.as_str())?;
    Ok(number)
}

/// A whole number from a JSON number or text (`42`, `"-7"`), written without a decimal point
/// or an exponent: `4.0` and `1e3` are refused rather than silently rounded.
pub(crate) fn to_integer(value: &Value) -> Result<Number, String> {
    let number = match value {
        Value::Number(n) => n.clone(),
        Value::String(text) => parse_text(text)?,
        other => return Err(format!("{} is not an integer", kind_of(other))),
    };
    if number.as_str().contains(['.', 'e', 'E']) {
        return Err(format!(
            "`{}` is not an integer: integers are written without a decimal point or exponent",
            number.as_str()
        ));
    }
    check_storable(number.as_str())?;
    Ok(number)
}

/// Numeric text → a number: trimmed, a leading `+` dropped, then the JSON number grammar.
pub(crate) fn parse_text(text: &str) -> Result<Number, String> {
    let trimmed = text.trim();
    let unsigned = match trimmed.strip_prefix('+') {
        Some(rest) if rest.starts_with(|c: char| c.is_ascii_digit()) => rest,
        _ => trimmed,
    };
    if unsigned.is_empty() {
        return Err("empty text is not a number".to_owned());
    }
    unsigned
        .parse::<Number>()
        .map_err(|_| "the text is not a decimal number (such as `51.76`, `-3.5e2`)".to_owned())
}

/// Whether DynamoDB can store this number text (already valid JSON number grammar).
fn check_storable(text: &str) -> Result<(), String> {
    let unsigned = text.strip_prefix('-').unwrap_or(text);
    let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
        Some(at) => (&unsigned[..at], &unsigned[at + 1..]),
        None => (unsigned, "0"),
    };
    let (integer, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = || integer.bytes().chain(fraction.bytes());
    let Some(first) = digits().position(|b| b != b'0') else {
        return Ok(()); // zero
    };
    let trailing_zeros = digits().rev().position(|b| b != b'0').unwrap_or(0);
    let significant = integer.len() + fraction.len() - trailing_zeros - first;
    if significant > MAX_SIGNIFICANT_DIGITS {
        return Err(format!(
            "the number has {significant} significant digits; DynamoDB keeps at most {MAX_SIGNIFICANT_DIGITS}"
        ));
    }
    // An exponent too long for i64 is out of range whatever its digits.
    let exponent: i64 = exponent.parse().unwrap_or(if exponent.starts_with('-') {
        i64::MIN
    } else {
        i64::MAX
    });
    let scientific = exponent.saturating_add(integer.len() as i64 - 1 - first as i64);
    if !(MIN_EXPONENT..=MAX_EXPONENT).contains(&scientific) {
        return Err(format!(
            "the number is out of DynamoDB's range (1E{MIN_EXPONENT} to 9.9E{MAX_EXPONENT} in magnitude)"
        ));
    }
    Ok(())
}

/// "an object", "a bool"…, for messages about a value of the wrong kind.
pub(crate) fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::{to_integer, to_number};

    fn number(value: Value) -> Result<String, String> {
        to_number(&value).map(|n| n.as_str().to_owned())
    }

    fn integer(value: Value) -> Result<String, String> {
        to_integer(&value).map(|n| n.as_str().to_owned())
    }

    fn body_number(text: &str) -> Value {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn numeric_text_keeps_its_digits() {
        assert_eq!(number(json!("51.7600")).unwrap(), "51.7600");
        assert_eq!(number(json!("421.4100")).unwrap(), "421.4100");
        assert_eq!(number(json!(" 12 ")).unwrap(), "12");
        assert_eq!(number(json!("+4")).unwrap(), "4");
        assert_eq!(number(json!("-0.8960")).unwrap(), "-0.8960");
        assert_eq!(number(json!("-3.5e2")).unwrap(), "-3.5e+2");
        assert_eq!(number(json!("0")).unwrap(), "0");
    }

    #[test]
    fn json_numbers_keep_their_digits() {
        assert_eq!(
            number(body_number("1234567890.123456789")).unwrap(),
            "1234567890.123456789"
        );
        assert_eq!(number(body_number("22055.70")).unwrap(), "22055.70");
        assert_eq!(number(body_number("-8.65")).unwrap(), "-8.65");
        assert_eq!(number(body_number("263517227")).unwrap(), "263517227");
    }

    #[test]
    fn text_that_is_not_a_decimal_number_is_refused() {
        for text in [
            "NaN",
            "nan",
            "Infinity",
            "-Infinity",
            "1,234",
            "",
            "   ",
            "0x1F",
            "1.",
            ".5",
            "12abc",
            "1e",
            "--1",
            "+-1",
            "++1",
            "01",
            "-0.8960%",
        ] {
            assert!(number(json!(text)).is_err(), "{text:?} was accepted");
        }
    }

    #[test]
    fn other_kinds_are_not_numbers() {
        assert_eq!(
            number(json!(true)).unwrap_err(),
            "a boolean is not a number"
        );
        assert!(number(json!({"a": 1})).is_err());
        assert!(number(json!([1])).is_err());
    }

    #[test]
    fn more_than_38_significant_digits_are_refused() {
        let ok = "1".repeat(38);
        assert_eq!(number(json!(ok)).unwrap(), ok);
        let err = number(json!("1".repeat(39))).unwrap_err();
        assert!(err.contains("39 significant digits"), "{err}");
        // Zeros around the digits do not count.
        assert!(number(json!(format!("0.000{}000", "9".repeat(38)))).is_ok());
        assert!(number(json!(format!("{}{}", "9".repeat(38), "0".repeat(20)))).is_ok());
        assert!(number(body_number(&"7".repeat(200))).is_err());
        assert!(number(json!("5".repeat(10_000))).is_err());
    }

    #[test]
    fn numbers_outside_dynamodb_range_are_refused() {
        assert!(number(json!("9.9e125")).is_ok());
        assert!(number(json!("1e126")).unwrap_err().contains("range"));
        assert!(number(json!("1e-130")).is_ok());
        assert!(number(json!("0.01e-129")).is_err());
        assert!(number(json!("1e99999999999999999999")).is_err());
        assert!(number(json!("0e99999")).is_ok());
    }

    #[test]
    fn integers_from_numbers_and_text() {
        assert_eq!(integer(json!(42)).unwrap(), "42");
        assert_eq!(integer(json!("-7")).unwrap(), "-7");
        assert_eq!(integer(json!(" 72115500 ")).unwrap(), "72115500");
        assert_eq!(
            integer(body_number("12345678901234567890123")).unwrap(),
            "12345678901234567890123"
        );
    }

    #[test]
    fn fractions_and_exponents_are_not_integers() {
        let err = integer(json!("4.0")).unwrap_err();
        assert!(err.contains("without a decimal point"), "{err}");
        assert!(integer(body_number("4.5")).is_err());
        assert!(integer(body_number("1e3")).is_err());
        assert!(integer(json!(false)).is_err());
        assert!(integer(json!("seven")).is_err());
    }
}
