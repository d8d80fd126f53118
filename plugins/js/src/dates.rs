//! Date strings the way node reads them: Boa's `Date` parser wants exactly
//! three fraction digits and a `T`, but Dodo timestamps carry six
//! (`2025-01-15T23:30:12.482913Z`) and SQL-style ones a space. `new Date(s)`
//! and `Date.parse(s)` are wrapped so that such strings are rewritten to the
//! form Boa reads before it parses them; node truncates extra digits to
//! milliseconds, and so does the rewrite.
//!
//! Also node's time zone name: with `TZ=UTC` node ends `toString()` with
//! ` (Coordinated Universal Time)`, which Boa leaves out.

use boa_engine::object::FunctionObjectBuilder;
use boa_engine::object::builtins::{JsArray, JsProxyBuilder};
use boa_engine::property::Attribute;
use boa_engine::{
    Context, JsNativeError, JsObject, JsResult, JsString, JsValue, NativeFunction, js_string,
};

/// `s` rewritten so that Boa's ISO parser accepts it, or `None` when it needs
/// no rewrite (or is not an ISO-style date-time at all).
///
/// `[+-]YYYYYY-MM-DD` or `YYYY-MM-DD`, then `T` or a space, `HH:MM:SS`, then
/// optionally `.` and one or more digits: the separator becomes `T` and the
/// fraction exactly three digits (cut, or padded with zeros). What follows
/// (`Z`, an offset, nothing) is kept.
pub fn normalize(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let year_digits = match bytes.first() {
        Some(b'+' | b'-') => 7,
        _ => 4,
    };
    // YYYY-MM-DD
    let date_end = year_digits + 6;
    let digits = |range: std::ops::Range<usize>| {
        bytes
            .get(range)
            .is_some_and(|part| part.iter().all(u8::is_ascii_digit))
    };
    let at = |i: usize, byte: u8| bytes.get(i) == Some(&byte);
    let sign = usize::from(year_digits == 7);
    let date_like = digits(sign..year_digits)
        && at(year_digits, b'-')
        && digits(year_digits + 1..year_digits + 3)
        && at(year_digits + 3, b'-')
        && digits(year_digits + 4..date_end);
    // THH:MM:SS
    let time = date_end + 1;
    let time_like = digits(time..time + 2)
        && at(time + 2, b':')
        && digits(time + 3..time + 5)
        && at(time + 5, b':')
        && digits(time + 6..time + 8);
    if !date_like || !time_like {
        return None;
    }
    let separator_is_space = at(date_end, b' ');
    if !separator_is_space && !at(date_end, b'T') {
        return None;
    }

    let seconds_end = time + 8;
    let (fraction, rest) = if at(seconds_end, b'.') {
        let fraction_start = seconds_end + 1;
        let count = bytes[fraction_start..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        if count == 0 {
            // `12.Z` is invalid in node too; leave it for Boa to refuse.
            return None;
        }
        (
            Some(&s[fraction_start..fraction_start + count]),
            &s[fraction_start + count..],
        )
    } else {
        (None, &s[seconds_end..])
    };
    if !separator_is_space && fraction.is_none_or(|digits| digits.len() == 3) {
        return None;
    }

    let mut out = String::with_capacity(s.len());
    out.push_str(&s[..date_end]);
    out.push('T');
    out.push_str(&s[time..seconds_end]);
    if let Some(digits) = fraction {
        out.push('.');
        let kept = &digits[..digits.len().min(3)];
        out.push_str(kept);
        out.extend(std::iter::repeat_n('0', 3 - kept.len()));
    }
    out.push_str(rest);
    Some(out)
}

/// Replaces the realm's `Date` with a proxy whose `new Date(string)` rewrites
/// the string first, and `Date.parse` with a function doing the same. The
/// proxy forwards everything else, so `Date.now()`, `Date.UTC`,
/// `instanceof Date` and subclassing behave as before.
pub fn install(context: &mut Context) -> JsResult<()> {
    let date = context.intrinsics().constructors().date().constructor();

    let original_parse = date.get(js_string!("parse"), context)?;
    let original_parse = original_parse
        .as_callable()
        .ok_or_else(|| JsNativeError::typ().with_message("Date.parse is not a function"))?;
    let parse = FunctionObjectBuilder::new(
        context.realm(),
        NativeFunction::from_copy_closure_with_captures(parse, original_parse),
    )
    .name(js_string!("parse"))
    .length(1)
    .build();
    date.set(js_string!("parse"), parse, true, context)?;

    let prototype = context.intrinsics().constructors().date().prototype();
    for name in [js_string!("toString"), js_string!("toTimeString")] {
        let original = prototype.get(name.clone(), context)?;
        let original = original.as_callable().ok_or_else(|| {
            JsNativeError::typ().with_message("Date.prototype.toString is not a function")
        })?;
        let named = FunctionObjectBuilder::new(
            context.realm(),
            NativeFunction::from_copy_closure_with_captures(with_zone_name, original),
        )
        .name(name.clone())
        .length(0)
        .build();
        prototype.set(name, named, true, context)?;
    }

    let proxy = JsProxyBuilder::new(date.clone())
        .construct(construct)
        .apply(apply)
        .build(context)?;
    let proxy = JsObject::from(proxy);
    // `new Date().constructor === Date`, as before the swap.
    prototype.set(js_string!("constructor"), proxy.clone(), true, context)?;
    context.register_global_property(
        js_string!("Date"),
        proxy,
        Attribute::WRITABLE | Attribute::CONFIGURABLE,
    )?;
    Ok(())
}

/// `args[0]` rewritten when it is a string that needs it.
fn rewritten(value: &JsValue) -> Option<JsValue> {
    let text = value.as_string()?.to_std_string().ok()?;
    normalize(&text).map(|fixed| JsString::from(fixed.as_str()).into())
}

/// `Date.parse(s)`: `s` rewritten, then Boa's own `Date.parse`.
fn parse(
    this: &JsValue,
    args: &[JsValue],
    original: &JsObject,
    context: &mut Context,
) -> JsResult<JsValue> {
    let text: JsValue = args
        .first()
        .cloned()
        .unwrap_or_default()
        .to_string(context)?
        .into();
    let argument = rewritten(&text).unwrap_or(text);
    original.call(this, &[argument], context)
}

/// What node appends to `toString()` and `toTimeString()` with `TZ=UTC`.
const ZONE_NAME: &str = " (Coordinated Universal Time)";

/// `Date.prototype.toString` (or `toTimeString`) with node's zone name.
fn with_zone_name(
    this: &JsValue,
    args: &[JsValue],
    original: &JsObject,
    context: &mut Context,
) -> JsResult<JsValue> {
    let text = original.call(this, args, context)?;
    append_zone_name(text)
}

fn append_zone_name(text: JsValue) -> JsResult<JsValue> {
    match text.as_string() {
        Some(text) if text.to_std_string_escaped() != "Invalid Date" => {
            Ok(js_string!(&text, &JsString::from(ZONE_NAME)).into())
        }
        _ => Ok(text),
    }
}

/// The proxy's `apply(target, thisArg, argumentsList)` trap: `Date()`
/// called without `new` returns the current time as text.
fn apply(_: &JsValue, trap_args: &[JsValue], context: &mut Context) -> JsResult<JsValue> {
    let Some(target) = trap_args.first().and_then(JsValue::as_object) else {
        return Err(JsNativeError::typ()
            .with_message("Date: apply trap called without its target")
            .into());
    };
    let this = trap_args.get(1).cloned().unwrap_or_default();
    let text = target.call(&this, &[], context)?;
    append_zone_name(text)
}

/// The proxy's `construct(target, argumentsList, newTarget)` trap.
fn construct(_: &JsValue, trap_args: &[JsValue], context: &mut Context) -> JsResult<JsValue> {
    let [target, arguments, new_target] = trap_args else {
        return Err(JsNativeError::typ()
            .with_message("Date: construct trap called without its three arguments")
            .into());
    };
    let (Some(target), Some(arguments)) = (target.as_object(), arguments.as_object()) else {
        return Err(JsNativeError::typ()
            .with_message("Date: construct trap called with non-objects")
            .into());
    };
    let arguments = JsArray::from_object(arguments)?;
    let count = arguments.length(context)?;
    let mut values = Vec::with_capacity(usize::try_from(count).unwrap_or(0));
    for index in 0..count {
        values.push(arguments.get(index, context)?);
    }
    if let [only] = values.as_mut_slice()
        && let Some(fixed) = rewritten(only)
    {
        *only = fixed;
    }
    let new_target = new_target.as_object();
    Ok(target
        .construct(&values, new_target.as_ref(), context)?
        .into())
}

#[cfg(test)]
mod tests {
    use super::normalize;

    #[test]
    fn fractions_become_three_digits() {
        let cases = [
            ("2025-01-15T23:30:12.482913Z", "2025-01-15T23:30:12.482Z"),
            ("2025-01-15T23:30:12.4Z", "2025-01-15T23:30:12.400Z"),
            (
                "2025-01-15T23:30:12.48+02:00",
                "2025-01-15T23:30:12.480+02:00",
            ),
            ("2025-01-15T23:30:12.999999999", "2025-01-15T23:30:12.999"),
            (
                "+012025-01-15T23:30:12.1234Z",
                "+012025-01-15T23:30:12.123Z",
            ),
            (
                "-000005-01-15T23:30:12.1234Z",
                "-000005-01-15T23:30:12.123Z",
            ),
            ("2025-01-15 23:30:12Z", "2025-01-15T23:30:12Z"),
            ("2025-01-15 23:30:12.482913", "2025-01-15T23:30:12.482"),
        ];
        for (input, output) in cases {
            assert_eq!(normalize(input).as_deref(), Some(output), "{input}");
        }
    }

    #[test]
    fn what_boa_reads_already_is_left_alone() {
        for input in [
            "2025-01-15T23:30:12.482Z",
            "2025-01-15T23:30:12Z",
            "2025-01-15T23:30Z",
            "2025-01-15",
            "2025-01-15T23:30:12.Z",
            "Wed Jan 15 2025",
            "",
            "2025-01-15X23:30:12.123456Z",
            "2025-1-15T23:30:12.123456Z",
            "é2025-01-15T23:30:12.123456Z",
            "2025-01-15T23:30:1",
        ] {
            assert_eq!(normalize(input), None, "{input}");
        }
    }
}
