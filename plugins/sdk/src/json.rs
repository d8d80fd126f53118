//! Building JSON bodies that leave out what the payload did not have.
//!
//! Destinations differ on `null` (Loops rejects null properties), so the
//! contract's rule is: a missing or `null` source value is omitted. [`Object`]
//! applies it on every [`Object::set`], which lets mapping code be one line
//! per row of the mapping table.

use serde_json::{Map, Value};

use crate::{Field, PayloadValue};

/// A value that may go into an [`Object`]; `None` means "leave the key out".
///
/// Implemented for JSON values (`null` becomes `None`), strings, booleans,
/// integers, [`Object`], [`Field`] (its value, if present) and `Option` of any
/// of these.
pub trait IntoJson {
    /// The JSON to store, or `None` to omit the key.
    fn into_json(self) -> Option<Value>;
}

impl IntoJson for Value {
    fn into_json(self) -> Option<Value> {
        (!self.is_null()).then_some(self)
    }
}

impl IntoJson for &Value {
    fn into_json(self) -> Option<Value> {
        self.clone().into_json()
    }
}

impl<T: IntoJson> IntoJson for Option<T> {
    fn into_json(self) -> Option<Value> {
        self.and_then(IntoJson::into_json)
    }
}

impl IntoJson for &PayloadValue<'_> {
    fn into_json(self) -> Option<Value> {
        (!self.is_null()).then(|| self.into())
    }
}

impl IntoJson for Field<'_> {
    fn into_json(self) -> Option<Value> {
        self.to_value()
    }
}

impl IntoJson for &Field<'_> {
    fn into_json(self) -> Option<Value> {
        self.to_value()
    }
}

impl IntoJson for Object {
    fn into_json(self) -> Option<Value> {
        Some(self.into())
    }
}

macro_rules! into_json_via_value {
    ($($ty:ty),*) => {$(
        impl IntoJson for $ty {
            fn into_json(self) -> Option<Value> {
                Some(Value::from(self))
            }
        }
    )*};
}

into_json_via_value!(&str, String, bool, i64, u64, i32, u32);

impl IntoJson for &String {
    fn into_json(self) -> Option<Value> {
        Some(Value::from(self.as_str()))
    }
}

/// A JSON object under construction; keys whose value is missing or `null`
/// are left out.
///
/// ```
/// use hookwasm_sdk::{Object, json};
/// let nothing: Option<&str> = None;
/// let body = Object::new()
///     .set("payment_id", "pay_1")
///     .set("amount", Some("21.59"))
///     .set("error_message", nothing)
///     .set("remarks", json!(null))
///     .set("user", Object::new().set("email", "jane@example.com"));
/// assert_eq!(
///     serde_json::Value::from(body),
///     json!({"payment_id": "pay_1", "amount": "21.59", "user": {"email": "jane@example.com"}})
/// );
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Object(Map<String, Value>);

impl Object {
    /// An empty object.
    pub fn new() -> Self {
        Object::default()
    }

    /// Sets `key` to `value`, or leaves it out when `value` is missing/`null`.
    pub fn set(mut self, key: &str, value: impl IntoJson) -> Self {
        self.insert(key, value);
        self
    }

    /// Like [`Object::set`], for use in a loop or behind a condition.
    pub fn insert(&mut self, key: &str, value: impl IntoJson) -> &mut Self {
        match value.into_json() {
            Some(value) => self.0.insert(key.to_owned(), value),
            // Setting a key to "nothing" again must not leave an older value.
            None => self.0.remove(key),
        };
        self
    }

    /// The value stored under `key`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.get(key)
    }

    /// Whether no key has been set.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<Object> for Value {
    fn from(object: Object) -> Value {
        Value::Object(object.0)
    }
}

impl From<Map<String, Value>> for Object {
    fn from(map: Map<String, Value>) -> Object {
        Object(map)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Envelope;
    use serde_json::json;

    #[test]
    fn omits_none_and_null_keeps_everything_else() {
        let body = Object::new()
            .set("none", None::<String>)
            .set("null", Value::Null)
            .set("empty", "")
            .set("false", false)
            .set("zero", 0i64)
            .set("list", json!([null]))
            .set("owned", String::from("x"))
            .set("nested", Object::new());
        assert_eq!(
            Value::from(body),
            json!({"empty": "", "false": false, "zero": 0, "list": [null], "owned": "x", "nested": {}})
        );
    }

    #[test]
    // `&Field` is borrowed on purpose: both impls are under test.
    #[allow(clippy::needless_borrows_for_generic_args)]
    fn fields_go_in_as_their_value() {
        let dodo = Envelope::parse(r#"{"data":{"name":"Zoë","tags":["a"],"gone":null}}"#).unwrap();
        let data = dodo.data();
        let body = Object::new()
            .set("name", data.get("name"))
            .set("tags", &data.get("tags"))
            .set("gone", data.get("gone"))
            .set("absent", data.get("absent"));
        assert_eq!(Value::from(body), json!({"name": "Zoë", "tags": ["a"]}));
    }

    #[test]
    fn setting_nothing_removes_an_earlier_value() {
        let mut body = Object::new().set("k", "v");
        body.insert("k", None::<&str>);
        assert!(body.is_empty());
        assert_eq!(body.get("k"), None);
    }
}
