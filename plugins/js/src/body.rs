//! The request body: `JSON.stringify(webhook.payload)`, written in Rust
//! straight into UTF-8 bytes, byte-identical to node's.
//!
//! Boa's own `JSON.stringify` builds an engine string per value and costs
//! about 40 000 fuel per property under WebAssembly: a 100 KB pass-through
//! payload would exceed the default fuel limit. Plain objects and arrays
//! (all a handler normally builds) are walked here; any other object (a
//! Proxy, a typed array, a boxed string…) is handed to the original
//! `JSON.stringify`, whose output is spliced in.

use boa_engine::property::PropertyKey;
use boa_engine::string::JsStrVariant;
use boa_engine::{
    Context, JsBigInt, JsNativeError, JsObject, JsResult, JsString, JsValue, js_string,
};

/// Deeper nesting is refused instead of overflowing the sandbox's stack.
const MAX_DEPTH: usize = 200;

/// `JSON.stringify(value)`, or `None` where it returns `undefined`.
/// `stringify` is the realm's original `JSON.stringify`.
pub fn stringify(
    value: JsValue,
    stringify: &JsObject,
    context: &mut Context,
) -> JsResult<Option<String>> {
    let mut writer = Writer {
        out: String::new(),
        stack: Vec::new(),
        stringify,
    };
    let written = writer.property(value, || js_string!(), context)?;
    Ok(written.then_some(writer.out))
}

struct Writer<'a> {
    out: String,
    /// The objects being serialised, outermost first: a cycle is an error.
    stack: Vec<JsObject>,
    stringify: &'a JsObject,
}

impl Writer<'_> {
    /// SerializeJSONProperty for `value`, held under `key` (only computed
    /// when a `toJSON` method needs it). Returns whether anything was written
    /// (`false`: the value serialises to `undefined`).
    fn property(
        &mut self,
        mut value: JsValue,
        key: impl FnOnce() -> JsString,
        context: &mut Context,
    ) -> JsResult<bool> {
        // GetV(value, "toJSON"): a BigInt looks on BigInt.prototype.
        let holder = match value.as_object() {
            Some(object) => Some(object),
            None if value.is_bigint() => {
                Some(context.intrinsics().constructors().bigint().prototype())
            }
            None => None,
        };
        if let Some(holder) = holder {
            let to_json = holder.get(js_string!("toJSON"), context)?;
            if let Some(to_json) = to_json.as_callable() {
                value = to_json.call(&value, &[key().into()], context)?;
            }
        }
        // Boxed primitives serialise as their primitive.
        if let Some(object) = value.as_object() {
            if object.is::<f64>() {
                value = value.to_number(context)?.into();
            } else if object.is::<JsString>() {
                value = value.to_string(context)?.into();
            } else if let Some(boolean) = object.downcast_ref::<bool>().map(|b| *b) {
                value = boolean.into();
            } else if let Some(bigint) = object.downcast_ref::<JsBigInt>().map(|b| b.clone()) {
                value = bigint.into();
            }
        }

        if value.is_null() {
            self.out.push_str("null");
        } else if let Some(boolean) = value.as_boolean() {
            self.out.push_str(if boolean { "true" } else { "false" });
        } else if let Some(text) = value.as_string() {
            quote(&mut self.out, &text);
        } else if let Some(number) = value.as_number() {
            self.number(number, &value, context)?;
        } else if value.is_bigint() {
            return Err(JsNativeError::typ()
                .with_message("Do not know how to serialize a BigInt")
                .into());
        } else if let Some(object) = value.as_object().filter(|o| !o.is_callable()) {
            self.object(&object, context)?;
        } else {
            // undefined, a symbol or a function.
            return Ok(false);
        }
        Ok(true)
    }

    /// A finite number as JavaScript prints it; `null` otherwise.
    fn number(&mut self, number: f64, value: &JsValue, context: &mut Context) -> JsResult<()> {
        if !number.is_finite() {
            self.out.push_str("null");
        } else if number.fract() == 0.0 && number.abs() < 1e15 {
            // Integers print without exponent up to 1e21; below 1e15 the
            // i64 form is exact (and -0 prints as 0, as in JavaScript).
            self.out.push_str(&(number as i64).to_string());
        } else {
            let text = value.to_string(context)?;
            self.out.push_str(&text.to_std_string_escaped());
        }
        Ok(())
    }

    /// An object or array, entering it on the cycle stack.
    fn object(&mut self, object: &JsObject, context: &mut Context) -> JsResult<()> {
        if self.stack.iter().any(|seen| JsObject::equals(seen, object)) {
            return Err(JsNativeError::typ()
                .with_message("Converting circular structure to JSON")
                .into());
        }
        if self.stack.len() >= MAX_DEPTH {
            return Err(JsNativeError::range()
                .with_message(format!("JSON nesting deeper than {MAX_DEPTH} levels"))
                .into());
        }
        self.stack.push(object.clone());
        let written = if object.is_array() {
            self.array(object, context)
        } else if object.is_ordinary() {
            self.plain_object(object, context)
        } else {
            self.exotic(object, context)
        };
        self.stack.pop();
        written
    }

    fn array(&mut self, array: &JsObject, context: &mut Context) -> JsResult<()> {
        let length = array
            .get(js_string!("length"), context)?
            .to_length(context)?;
        self.out.push('[');
        for index in 0..length {
            if index > 0 {
                self.out.push(',');
            }
            let element = array.get(index, context)?;
            let key = || JsString::from(index.to_string().as_str());
            if !self.property(element, key, context)? {
                self.out.push_str("null");
            }
        }
        self.out.push(']');
        Ok(())
    }

    fn plain_object(&mut self, object: &JsObject, context: &mut Context) -> JsResult<()> {
        // EnumerableOwnProperties(object, key), taken before any value is
        // read, as the specification does.
        let keys: Vec<(PropertyKey, JsString)> = object
            .own_property_keys(context)?
            .into_iter()
            .filter_map(|key| {
                let name = match &key {
                    PropertyKey::String(name) => name.clone(),
                    PropertyKey::Index(index) => JsString::from(index.get().to_string().as_str()),
                    PropertyKey::Symbol(_) => return None,
                };
                let enumerable = object
                    .borrow()
                    .properties()
                    .get(&key)
                    .and_then(|property| property.enumerable())
                    .unwrap_or(false);
                enumerable.then_some((key, name))
            })
            .collect();

        self.out.push('{');
        let mut first = true;
        for (key, name) in keys {
            // A data property's value straight from the property map; a
            // getter (or a property deleted meanwhile) through [[Get]].
            let stored = object
                .borrow()
                .properties()
                .get(&key)
                .and_then(|property| property.value().cloned());
            let value = match stored {
                Some(value) => value,
                None => object.get(key, context)?,
            };
            let rollback = self.out.len();
            if !first {
                self.out.push(',');
            }
            quote(&mut self.out, &name);
            self.out.push(':');
            if self.property(value, || name.clone(), context)? {
                first = false;
            } else {
                // `undefined` members are left out altogether.
                self.out.truncate(rollback);
            }
        }
        self.out.push('}');
        Ok(())
    }

    /// Anything but a plain object or array: the original `JSON.stringify`
    /// knows its internal methods.
    fn exotic(&mut self, object: &JsObject, context: &mut Context) -> JsResult<()> {
        let text = self
            .stringify
            .call(&JsValue::undefined(), &[object.clone().into()], context)?;
        match text.as_string() {
            Some(text) => self.out.push_str(&text.to_std_string_escaped()),
            None => self.out.push_str("null"),
        }
        Ok(())
    }
}

/// QuoteJSONString, with V8's lower-case hex escapes.
fn quote(out: &mut String, text: &JsString) {
    out.push('"');
    match text.as_str().variant() {
        JsStrVariant::Latin1(bytes) => {
            // Runs of printable ASCII (most of any payload) are copied whole.
            let mut rest = bytes;
            while !rest.is_empty() {
                let plain = rest
                    .iter()
                    .position(|&b| !(0x20..0x80).contains(&b) || b == b'"' || b == b'\\')
                    .unwrap_or(rest.len());
                if let Ok(ascii) = std::str::from_utf8(&rest[..plain]) {
                    out.push_str(ascii);
                }
                if let Some(&byte) = rest.get(plain) {
                    push_escaped(out, u32::from(byte));
                    rest = &rest[plain + 1..];
                } else {
                    rest = &[];
                }
            }
        }
        JsStrVariant::Utf16(units) => {
            for unit in char::decode_utf16(units.iter().copied()) {
                match unit {
                    Ok(c) => push_escaped(out, u32::from(c)),
                    Err(lone) => push_unicode_escape(out, lone.unpaired_surrogate()),
                }
            }
        }
    }
    out.push('"');
}

fn push_escaped(out: &mut String, code_point: u32) {
    match code_point {
        0x08 => out.push_str("\\b"),
        0x09 => out.push_str("\\t"),
        0x0a => out.push_str("\\n"),
        0x0c => out.push_str("\\f"),
        0x0d => out.push_str("\\r"),
        0x22 => out.push_str("\\\""),
        0x5c => out.push_str("\\\\"),
        0..0x20 => push_unicode_escape(out, code_point as u16),
        // Latin-1 and decoded UTF-16 are always valid scalar values.
        _ => out.push(char::from_u32(code_point).unwrap_or(char::REPLACEMENT_CHARACTER)),
    }
}

fn push_unicode_escape(out: &mut String, unit: u16) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push_str("\\u");
    for shift in [12, 8, 4, 0] {
        out.push(char::from(HEX[usize::from((unit >> shift) & 0xf)]));
    }
}

#[cfg(test)]
mod tests {
    use boa_engine::Source;

    use crate::realm::Realm;

    use super::*;

    /// (ours, Boa's `JSON.stringify`) for the value of the expression `js`.
    fn both(js: &str) -> (Option<String>, Option<String>) {
        let Realm {
            mut context,
            builtins,
            ..
        } = Realm::new().unwrap();
        let value = context.eval(Source::from_bytes(js)).unwrap();
        let ours = stringify(value.clone(), &builtins.stringify, &mut context).unwrap();
        let theirs = builtins
            .stringify
            .call(&JsValue::undefined(), &[value], &mut context)
            .unwrap()
            .as_string()
            .map(|s| s.to_std_string_escaped());
        (ours, theirs)
    }

    /// Node 20 printed these for `JSON.stringify(js)`.
    #[test]
    fn as_node_prints_them() {
        let cases = [
            (
                r#"({b: 1, a: [1, "x", null, true, undefined, () => 1], c: undefined, 2: 0, 1: -0})"#,
                r#"{"1":0,"2":0,"b":1,"a":[1,"x",null,true,null,null]}"#,
            ),
            (
                r#"["\u0000\u001f\u007f\b\t\n\f\r\"\\/é€😀\u2028\ud800\udc00x\udfff"]"#,
                "[\"\\u0000\\u001f\u{7f}\\b\\t\\n\\f\\r\\\"\\\\/é€😀\u{2028}\u{10000}x\\udfff\"]",
            ),
            (
                "[1e21, 1e-7, 0.1, 123456789012345680000, 2**53, -1.5, NaN, Infinity, 1/3]",
                "[1e+21,1e-7,0.1,123456789012345680000,9007199254740992,-1.5,null,null,0.3333333333333333]",
            ),
            (
                "({d: new Date(0), n: new Number(3), s: new String('s'), b: new Boolean(false)})",
                r#"{"d":"1970-01-01T00:00:00.000Z","n":3,"s":"s","b":false}"#,
            ),
            ("({toJSON(key) { return {key}; }})", r#"{"key":""}"#),
            (
                "({a: {toJSON(key) { return key + '!'; }}, b: [{toJSON(k) { return k; }}]})",
                r#"{"a":"a!","b":["0"]}"#,
            ),
            ("[,1]", "[null,1]"),
            ("new Proxy({a: 1}, {})", r#"{"a":1}"#),
            (
                "Object.defineProperty({a: 1}, 'hidden', {value: 2, enumerable: false})",
                r#"{"a":1}"#,
            ),
            ("({get g() { return 5; }})", r#"{"g":5}"#),
            ("new Map([[1, 2]])", "{}"),
            ("[new Uint8Array([1, 2])]", r#"[{"0":1,"1":2}]"#),
            ("({[Symbol('s')]: 1, u: Symbol('x')})", "{}"),
        ];
        for (js, node) in cases {
            let (ours, theirs) = both(js);
            assert_eq!(ours.as_deref(), Some(node), "{js}");
            assert_eq!(ours, theirs, "{js}: Boa's JSON.stringify");
        }
    }

    #[test]
    fn undefined_functions_and_symbols_give_nothing() {
        for js in ["undefined", "(() => 1)", "Symbol('x')"] {
            assert_eq!(both(js), (None, None), "{js}");
        }
    }

    #[test]
    fn cycles_bigints_and_depth_are_errors() {
        let Realm {
            mut context,
            builtins,
            ..
        } = Realm::new().unwrap();
        for js in [
            "const a = {}; a.self = a; a",
            "({n: 1n})",
            "let v = []; for (let i = 0; i < 300; i++) v = [v]; v",
        ] {
            let value = context.eval(Source::from_bytes(js)).unwrap();
            assert!(
                stringify(value, &builtins.stringify, &mut context).is_err(),
                "{js}"
            );
        }
    }
}
