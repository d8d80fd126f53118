//! `toLocale…String` pinned to what node prints with the `en-US` locale and
//! `TZ=UTC` (Boa without `Intl` would print `toString()`'s output instead).
//! Only the defaults exist: locales other than `en-US`/`en` and options other
//! than `timeZone: "UTC"` (dates) or the fraction digits (numbers) throw a
//! `RangeError`, so that a handler never silently formats differently than it
//! did under node.

use boa_engine::object::FunctionObjectBuilder;
use boa_engine::object::builtins::JsDate;
use boa_engine::property::PropertyKey;
use boa_engine::{
    Context, JsNativeError, JsObject, JsResult, JsString, JsValue, NativeFunction, js_string,
};

const MS_PER_DAY: f64 = 86_400_000.0;

/// Replaces the locale methods of `Date.prototype` and `Number.prototype`.
pub fn install(context: &mut Context) -> JsResult<()> {
    let date = context.intrinsics().constructors().date().prototype();
    method(
        context,
        &date,
        js_string!("toLocaleDateString"),
        |this, args, context| format_date(this, args, "toLocaleDateString", context, date_part),
    )?;
    method(
        context,
        &date,
        js_string!("toLocaleTimeString"),
        |this, args, context| format_date(this, args, "toLocaleTimeString", context, time_part),
    )?;
    method(
        context,
        &date,
        js_string!("toLocaleString"),
        |this, args, context| {
            format_date(this, args, "toLocaleString", context, |t| {
                format!("{}, {}", date_part(t), time_part(t))
            })
        },
    )?;
    let number = context.intrinsics().constructors().number().prototype();
    method(
        context,
        &number,
        js_string!("toLocaleString"),
        number_to_locale_string,
    )?;
    Ok(())
}

/// Defines `object[name]` as a native method, non-enumerable like the
/// builtin it replaces.
fn method(
    context: &mut Context,
    object: &JsObject,
    name: JsString,
    body: fn(&JsValue, &[JsValue], &mut Context) -> JsResult<JsValue>,
) -> JsResult<()> {
    let function = FunctionObjectBuilder::new(context.realm(), NativeFunction::from_fn_ptr(body))
        .name(name.clone())
        .length(0)
        .build();
    object.set(name, function, true, context)?;
    Ok(())
}

fn format_date(
    this: &JsValue,
    args: &[JsValue],
    method: &str,
    context: &mut Context,
    format: impl Fn(f64) -> String,
) -> JsResult<JsValue> {
    let date = this
        .as_object()
        .and_then(|object| JsDate::from_object(object).ok())
        .ok_or_else(|| {
            JsNativeError::typ().with_message(format!("{method}: this is not a Date"))
        })?;
    check_locale(args.first(), method, context)?;
    check_options(args.get(1), method, &["timeZone"], context)?;
    if let Some(options) = args.get(1).and_then(JsValue::as_object) {
        let zone = options.get(js_string!("timeZone"), context)?;
        if !zone.is_undefined() {
            let zone = zone.to_string(context)?.to_std_string_escaped();
            if !["utc", "etc/utc", "gmt", "etc/gmt"].contains(&zone.to_ascii_lowercase().as_str()) {
                return Err(unsupported(
                    method,
                    &format!("timeZone {zone:?} (only UTC)"),
                ));
            }
        }
    }
    let time = date.get_time(context)?.to_number(context)?;
    let text = if time.is_finite() {
        format(time)
    } else {
        "Invalid Date".to_owned()
    };
    Ok(JsString::from(text.as_str()).into())
}

fn number_to_locale_string(
    this: &JsValue,
    args: &[JsValue],
    context: &mut Context,
) -> JsResult<JsValue> {
    let method = "Number.prototype.toLocaleString";
    let value = this_number(this).ok_or_else(|| {
        JsNativeError::typ().with_message(format!("{method}: this is not a Number"))
    })?;
    check_locale(args.first(), method, context)?;
    const KEYS: [&str; 2] = ["minimumFractionDigits", "maximumFractionDigits"];
    check_options(args.get(1), method, &KEYS, context)?;
    let mut digits = [None, None];
    if let Some(options) = args.get(1).and_then(JsValue::as_object) {
        for (slot, key) in digits.iter_mut().zip(KEYS) {
            let given = options.get(JsString::from(key), context)?;
            if !given.is_undefined() {
                let n = given.to_number(context)?;
                if !(0.0..=100.0).contains(&n) {
                    return Err(JsNativeError::range()
                        .with_message(format!("{key} value is out of range."))
                        .into());
                }
                *slot = Some(n.floor() as usize);
            }
        }
    }
    // ECMA-402's SetNumberFormatDigitOptions for the decimal style.
    let (min, max) = match digits {
        [None, None] => (0, 3),
        [Some(min), None] => (min, min.max(3)),
        [None, Some(max)] => (0, max),
        [Some(min), Some(max)] if min <= max => (min, max),
        [Some(_), Some(_)] => {
            return Err(JsNativeError::range()
                .with_message("maximumFractionDigits value is out of range.")
                .into());
        }
    };
    Ok(JsString::from(number(value, min, max).as_str()).into())
}

/// A number primitive, or the value inside a `Number` object.
fn this_number(this: &JsValue) -> Option<f64> {
    this.as_number()
        .or_else(|| this.as_object()?.downcast_ref::<f64>().map(|n| *n))
}

/// Only the default locale exists: `undefined`, `"en-US"`, `"en"`, or a list
/// starting with one of them.
fn check_locale(locale: Option<&JsValue>, method: &str, context: &mut Context) -> JsResult<()> {
    let Some(locale) = locale.filter(|l| !l.is_undefined()) else {
        return Ok(());
    };
    let first = match locale.as_object() {
        Some(list) => list.get(0, context)?,
        None => locale.clone(),
    };
    let name = first.to_string(context)?.to_std_string_escaped();
    if name.eq_ignore_ascii_case("en-US") || name.eq_ignore_ascii_case("en") {
        Ok(())
    } else {
        Err(unsupported(
            method,
            &format!("locale {name:?} (only en-US)"),
        ))
    }
}

/// `options` may be absent, or an object with only the `allowed` keys.
fn check_options(
    options: Option<&JsValue>,
    method: &str,
    allowed: &[&str],
    context: &mut Context,
) -> JsResult<()> {
    let Some(options) = options.filter(|o| !o.is_undefined()) else {
        return Ok(());
    };
    let Some(options) = options.as_object() else {
        return Err(unsupported(method, "non-object options"));
    };
    for key in options.own_property_keys(context)? {
        let name = match &key {
            PropertyKey::String(name) => name.to_std_string_escaped(),
            PropertyKey::Index(index) => index.get().to_string(),
            PropertyKey::Symbol(_) => continue,
        };
        if !allowed.contains(&name.as_str()) {
            return Err(unsupported(method, &format!("option `{name}`")));
        }
    }
    Ok(())
}

fn unsupported(method: &str, what: &str) -> boa_engine::JsError {
    JsNativeError::range()
        .with_message(format!(
            "{method}: {what} is not supported: this engine has no Intl, only node's en-US \
             defaults; format the value yourself"
        ))
        .into()
}

/// `M/D/YYYY` of the UTC day holding time value `t` (finite).
fn date_part(t: f64) -> String {
    let (year, month, day) = civil_from_days((t / MS_PER_DAY).floor() as i64);
    // en-US shows the year of the era without the era: 1 BC (year 0) is "1".
    let year = if year <= 0 { 1 - year } else { year };
    format!("{month}/{day}/{year}")
}

/// `h:mm:ss AM` of time value `t` (finite), UTC.
fn time_part(t: f64) -> String {
    let in_day = t.rem_euclid(MS_PER_DAY) as u64 / 1000;
    let (hour, minute, second) = (in_day / 3600, in_day / 60 % 60, in_day % 60);
    let half = if hour < 12 { "AM" } else { "PM" };
    let hour = match hour % 12 {
        0 => 12,
        h => h,
    };
    format!("{hour}:{minute:02}:{second:02} {half}")
}

/// (year, month 1–12, day 1–31) of the proleptic Gregorian calendar, for
/// `days` since 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * shifted_month + 2) / 5 + 1) as u32;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// `x` as node's `en-US` decimal format: grouped thousands, between `min` and
/// `max` fraction digits, rounded half away from zero on the shortest decimal
/// form of `x` (as ICU does, so `1.0005` gives `1.001`).
fn number(x: f64, min: usize, max: usize) -> String {
    if x.is_nan() {
        return "NaN".to_owned();
    }
    let sign = if x.is_sign_negative() { "-" } else { "" };
    if x.is_infinite() {
        return format!("{sign}∞");
    }
    // Shortest round-trip digits: `d.ddde±x`.
    let scientific = format!("{:e}", x.abs());
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let exponent: i64 = exponent.parse().unwrap_or(0);
    let digits: Vec<u8> = mantissa.bytes().filter(u8::is_ascii_digit).collect();
    // The decimal point sits after `point` digits (may be ≤ 0 or past the end).
    let point = exponent + 1;
    let digit = |i: i64| -> u8 {
        usize::try_from(i)
            .ok()
            .and_then(|i| digits.get(i))
            .copied()
            .unwrap_or(b'0')
    };
    let mut integer: Vec<u8> = (0..point.max(1))
        .map(|i| if point > 0 { digit(i) } else { b'0' })
        .collect();
    let mut fraction: Vec<u8> = (0..max as i64).map(|i| digit(point + i)).collect();
    if digit(point + max as i64) >= b'5' {
        round_up(&mut integer, &mut fraction);
    }
    while fraction.len() > min && fraction.last() == Some(&b'0') {
        fraction.pop();
    }

    let mut out = String::from(sign);
    for (i, d) in integer.iter().enumerate() {
        if i > 0 && (integer.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(char::from(*d));
    }
    if !fraction.is_empty() {
        out.push('.');
        out.extend(fraction.iter().map(|d| char::from(*d)));
    }
    out
}

/// Adds one unit in the last place of `integer.fraction` (decimal digits).
fn round_up(integer: &mut Vec<u8>, fraction: &mut [u8]) {
    for d in fraction.iter_mut().rev().chain(integer.iter_mut().rev()) {
        if *d == b'9' {
            *d = b'0';
        } else {
            *d += 1;
            return;
        }
    }
    integer.insert(0, b'1');
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Node 20 (`TZ=UTC`, en-US) printed these.
    #[test]
    fn dates_as_node_prints_them() {
        let cases = [
            (1_736_983_812_482.0, "1/15/2025", "11:30:12 PM"),
            (1_736_899_509_000.0, "1/15/2025", "12:05:09 AM"),
            (1_736_942_400_000.0, "1/15/2025", "12:00:00 PM"),
            (-62_009_366_400_000.0, "1/1/5", "12:00:00 AM"),
            (-62_324_985_600_000.0, "1/1/6", "12:00:00 AM"),
            (317_305_252_800_000.0, "1/1/12025", "12:00:00 PM"),
            (0.0, "1/1/1970", "12:00:00 AM"),
            (-1.0, "12/31/1969", "11:59:59 PM"),
            (8.64e15, "9/13/275760", "12:00:00 AM"),
            (-8.64e15, "4/20/271822", "12:00:00 AM"),
            (-62_198_755_200_000.0, "1/1/2", "12:00:00 AM"),
        ];
        for (t, date, time) in cases {
            assert_eq!(
                (date_part(t).as_str(), time_part(t).as_str()),
                (date, time),
                "{t}"
            );
        }
    }

    /// Node 20 printed these for `x.toLocaleString()`.
    #[test]
    fn numbers_as_node_prints_them() {
        let cases = [
            (0.0, "0"),
            (-0.0, "-0"),
            (1.0, "1"),
            (1234.5, "1,234.5"),
            (1_234_567.891, "1,234,567.891"),
            (1.0005, "1.001"),
            (1.0015, "1.002"),
            (0.0625, "0.063"),
            (-1234.5678, "-1,234.568"),
            (1e21, "1,000,000,000,000,000,000,000"),
            (
                1.234_567_890_123_456_6e25,
                "12,345,678,901,234,566,000,000,000",
            ),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "∞"),
            (f64::NEG_INFINITY, "-∞"),
            (0.1 + 0.2, "0.3"),
            (123_456_789_012_345_680_000.0, "123,456,789,012,345,680,000"),
            (5e-7, "0"),
            (999.9995, "1,000"),
            (-0.0001, "-0"),
            (-0.0005, "-0.001"),
            (999_999.999_9, "1,000,000"),
        ];
        for (x, text) in cases {
            assert_eq!(number(x, 0, 3), text, "{x}");
        }
        assert_eq!(number(1234.5, 2, 3), "1,234.50");
        assert_eq!(number(1234.5, 0, 0), "1,235");
        assert_eq!(number(0.5, 0, 0), "1");
        assert_eq!(number(2.0, 2, 2), "2.00");
    }
}
