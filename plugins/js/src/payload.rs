//! The payload's JSON text turned straight into JavaScript values, as
//! `JSON.parse` would build them (same key order, same numbers), without
//! running Boa's `JSON.parse` (slow) or going through a `serde_json::Value`
//! (whose map sorts keys unless the workspace-wide `preserve_order` feature is
//! on, which would change the other plugins' output).

use std::fmt;

use boa_engine::builtins::object::OrdinaryObject;
use boa_engine::object::ObjectInitializer;
use boa_engine::object::builtins::JsArray;
use boa_engine::property::Attribute;
use boa_engine::{Context, JsObject, JsString, JsValue};
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

/// Parses `text` (one JSON value) into a value of `context`'s realm.
pub fn parse(text: &str, context: &mut Context) -> Result<JsValue, String> {
    let mut json = serde_json::Deserializer::from_str(text);
    let value = Seed { context }
        .deserialize(&mut json)
        .map_err(|error| format!("the payload is not JSON: {error}"))?;
    json.end()
        .map_err(|error| format!("the payload is not JSON: {error}"))?;
    Ok(value)
}

/// A JavaScript number from an integer: Boa's compact int32 form when it fits,
/// otherwise the nearest double (what `JSON.parse` gives for large integers).
fn integer(value: i128) -> JsValue {
    match i32::try_from(value) {
        Ok(small) => JsValue::new(small),
        Err(_) => JsValue::new(value as f64),
    }
}

/// A plain object with these members, as `JSON.parse` makes it: data
/// properties (writable, enumerable, configurable) in order, a later
/// duplicate key replacing the value in the first one's place, `"__proto__"`
/// an ordinary key.
///
/// Built on the realm's shared shapes, as object literals are: objects with
/// the same keys (the items of an array, say) share one shape, which makes
/// both building and reading them cheaper than with a fresh shape each.
pub fn object(members: Vec<(JsString, JsValue)>, context: &mut Context) -> JsObject {
    let mut object = ObjectInitializer::with_native_data(OrdinaryObject, context);
    for (key, value) in members {
        object.property(key, value, Attribute::all());
    }
    object.build()
}

/// Builds one JSON value (and, recursively, its members) in `context`.
struct Seed<'c> {
    context: &'c mut Context,
}

impl<'de> DeserializeSeed<'de> for Seed<'_> {
    type Value = JsValue;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<JsValue, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Seed<'_> {
    type Value = JsValue;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<JsValue, E> {
        Ok(JsValue::null())
    }

    fn visit_bool<E: de::Error>(self, value: bool) -> Result<JsValue, E> {
        Ok(JsValue::new(value))
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<JsValue, E> {
        Ok(integer(value.into()))
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<JsValue, E> {
        Ok(integer(value.into()))
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<JsValue, E> {
        Ok(JsValue::new(value))
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<JsValue, E> {
        Ok(JsString::from(value).into())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut items: A) -> Result<JsValue, A::Error> {
        let mut values = Vec::with_capacity(items.size_hint().unwrap_or(0));
        while let Some(value) = items.next_element_seed(Seed {
            context: &mut *self.context,
        })? {
            values.push(value);
        }
        Ok(JsArray::from_iter(values, self.context).into())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut entries: A) -> Result<JsValue, A::Error> {
        let mut members = Vec::with_capacity(entries.size_hint().unwrap_or(0));
        while let Some(key) = entries.next_key_seed(Key)? {
            let value = entries.next_value_seed(Seed {
                context: &mut *self.context,
            })?;
            members.push((key, value));
        }
        Ok(object(members, self.context).into())
    }
}

/// An object key, made a JavaScript string without an intermediate `String`
/// when the text has no escapes.
struct Key;

impl<'de> DeserializeSeed<'de> for Key {
    type Value = JsString;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<JsString, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl Visitor<'_> for Key {
    type Value = JsString;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<JsString, E> {
        Ok(JsString::from(value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `text` parsed here, then written back by Boa's own `JSON.stringify`.
    fn round_trip(text: &str) -> String {
        let mut context = Context::default();
        let value = parse(text, &mut context).unwrap();
        let stringify = context
            .intrinsics()
            .objects()
            .json()
            .get(boa_engine::js_string!("stringify"), &mut context)
            .unwrap();
        stringify
            .as_callable()
            .unwrap()
            .call(&JsValue::undefined(), &[value], &mut context)
            .unwrap()
            .to_string(&mut context)
            .unwrap()
            .to_std_string_escaped()
    }

    #[test]
    fn keeps_key_order_and_values() {
        let text = r#"{"z":1,"a":[true,false,null,"s"],"m":{"y":-2.5,"b":1e3},"é":"ü\n"}"#;
        assert_eq!(
            round_trip(text),
            r#"{"z":1,"a":[true,false,null,"s"],"m":{"y":-2.5,"b":1000},"é":"ü\n"}"#
        );
    }

    #[test]
    fn numbers_are_javascript_numbers() {
        assert_eq!(
            round_trip("[9007199254740993,-0,0.1,1.0,2147483648,-2147483649,1e21,5e-7]"),
            "[9007199254740992,0,0.1,1,2147483648,-2147483649,1e+21,5e-7]"
        );
    }

    #[test]
    fn duplicate_keys_keep_the_first_place_and_the_last_value() {
        assert_eq!(round_trip(r#"{"a":1,"b":2,"a":3}"#), r#"{"a":3,"b":2}"#);
    }

    #[test]
    fn integer_like_keys_come_first_as_in_javascript() {
        assert_eq!(
            round_trip(r#"{"b":1,"10":2,"a":3,"2":4}"#),
            r#"{"2":4,"10":2,"b":1,"a":3}"#
        );
    }

    #[test]
    fn proto_is_an_ordinary_key() {
        assert_eq!(
            round_trip(r#"{"__proto__":{"x":1}}"#),
            r#"{"__proto__":{"x":1}}"#
        );
    }

    #[test]
    fn invalid_json_is_an_error_not_a_panic() {
        let mut context = Context::default();
        for text in ["", "{", "[1,]", "{\"a\":1} x", "nul", "\"\\ud800\""] {
            let error = parse(text, &mut context).unwrap_err();
            assert!(
                error.starts_with("the payload is not JSON: "),
                "{text}: {error}"
            );
        }
    }
}
