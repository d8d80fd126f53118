//! A forgiving, path-aware view of a Dodo Payments webhook
//! (`{business_id, type, timestamp, data}`).
//!
//! Payloads are read as untyped JSON on purpose: Dodo adds fields, leaves
//! optional ones out or `null`, and types a few loosely (dispute amounts are
//! strings). A [`Field`] is "whatever is at this path, if anything" and knows
//! its path, so that a value that is required or mistyped turns into an
//! [`Error`] like `data.total_amount is not an integer`, never a panic.
//!
//! The payload is parsed into a [`PayloadValue`] tree that borrows its
//! strings from the payload instead of copying each into its own allocation:
//! parsing is most of what a mapping costs, and this makes it about three
//! times cheaper than a `serde_json::Value`.

use crate::money::{self, DEFAULT_CURRENCY};
use crate::{Error, time};

/// A JSON value of the received payload, borrowing its strings from it
/// ([`serde_json_borrow`]'s DOM: objects keep their keys in order).
/// `serde_json::Value::from(&value)` makes an owned copy.
pub use serde_json_borrow::Value as PayloadValue;

/// A parsed webhook payload: a JSON object, with accessors for the Dodo
/// envelope's fields. It borrows from the payload text it was parsed from.
///
/// ```
/// use hookwasm_sdk::Envelope;
/// let dodo = Envelope::parse(r#"{"type":"payment.succeeded","data":{"customer":{"name":"Jane"}}}"#)?;
/// assert_eq!(dodo.field("data.customer.name").str()?, Some("Jane"));
/// assert_eq!(dodo.field("data.customer.email").require_str().unwrap_err().to_string(),
///            "data.customer.email is missing");
/// assert_eq!(dodo.currency()?, "USD");
/// # Ok::<(), hookwasm_sdk::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Envelope<'a> {
    root: PayloadValue<'a>,
}

impl<'a> Envelope<'a> {
    /// Parses the raw payload. Errors: `payload is empty`, `payload is not
    /// JSON: …`, `payload is not a JSON object`.
    pub fn parse(payload: &'a str) -> Result<Envelope<'a>, Error> {
        if payload.trim().is_empty() {
            return Err(Error::new("payload is empty"));
        }
        let root = serde_json::from_str(payload)
            .map_err(|e| Error::new(format!("payload is not JSON: {e}")))?;
        Envelope::from_payload_value(root)
    }

    /// A view of an already parsed `serde_json::Value`, which must be a JSON
    /// object (its strings are borrowed, not copied).
    pub fn from_value(root: &'a serde_json::Value) -> Result<Envelope<'a>, Error> {
        Envelope::from_payload_value(PayloadValue::from(root))
    }

    fn from_payload_value(root: PayloadValue<'a>) -> Result<Envelope<'a>, Error> {
        if !root.is_object() {
            return Err(Error::new("payload is not a JSON object"));
        }
        Ok(Envelope { root })
    }

    /// The value at a path such as `data.customer.email` or
    /// `data.product_cart[0].product_id`.
    pub fn field(&self, path: &str) -> Field<'_> {
        Field::new("", Some(&self.root)).field(path)
    }

    /// The top-level `business_id`.
    pub fn business_id(&self) -> Field<'_> {
        self.field("business_id")
    }

    /// The top-level `timestamp`: when the event happened, RFC 3339.
    pub fn timestamp(&self) -> Field<'_> {
        self.field("timestamp")
    }

    /// The top-level `data`: the payment, subscription, refund, dispute…
    pub fn data(&self) -> Field<'_> {
        self.field("data")
    }

    /// `data.customer`.
    pub fn customer(&self) -> Field<'_> {
        self.field("data.customer")
    }

    /// `data.currency`, or `USD` when it is missing, `null` or empty (as the
    /// seed examples default it). Error when it is not a string.
    pub fn currency(&self) -> Result<&str, Error> {
        let currency = self.field("data.currency").str()?;
        Ok(currency
            .filter(|c| !c.is_empty())
            .unwrap_or(DEFAULT_CURRENCY))
    }

    /// The whole payload.
    pub fn root(&self) -> &PayloadValue<'a> {
        &self.root
    }

    /// The whole payload as an owned `serde_json::Value` (a copy).
    pub fn to_value(&self) -> serde_json::Value {
        serde_json::Value::from(&self.root)
    }
}

/// Whatever is at one path of a payload, if anything.
///
/// Navigating never fails: [`Field::get`] on a missing value or a non-object
/// gives another missing field. Only the typed accessors return errors, and
/// those name the path.
#[derive(Clone, Debug, PartialEq)]
pub struct Field<'a> {
    path: String,
    value: Option<&'a PayloadValue<'a>>,
}

impl<'a> Field<'a> {
    /// A field at `path` holding `value` (`None` when absent).
    pub fn new(path: impl Into<String>, value: Option<&'a PayloadValue<'a>>) -> Field<'a> {
        Field {
            path: path.into(),
            value,
        }
    }

    /// The path, e.g. `data.customer.email`, as used in error messages.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The member `key` of this object (the last one, should the payload
    /// repeat a key, as `JSON.parse` and `serde_json` read it).
    pub fn get(&self, key: &str) -> Field<'a> {
        let path = if self.path.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.path)
        };
        let value = self
            .value
            .and_then(PayloadValue::as_object)
            .and_then(|object| {
                object
                    .as_vec()
                    .iter()
                    .rev()
                    .find(|(k, _)| k.0 == key)
                    .map(|(_, v)| v)
            });
        Field::new(path, value)
    }

    /// The element `index` of this array.
    pub fn at(&self, index: usize) -> Field<'a> {
        Field::new(
            format!("{}[{index}]", self.path),
            self.value
                .and_then(PayloadValue::as_array)
                .and_then(|items| items.get(index)),
        )
    }

    /// The value at a relative path of `.`-separated keys, each optionally
    /// followed by `[index]`s: `customer.email`, `product_cart[0].product_id`.
    pub fn field(&self, path: &str) -> Field<'a> {
        let mut field = self.clone();
        for segment in path.split('.') {
            let (key, mut indexes) = segment.split_at(segment.find('[').unwrap_or(segment.len()));
            if !key.is_empty() {
                field = field.get(key);
            }
            while let Some((index, rest)) = indexes
                .strip_prefix('[')
                .and_then(|rest| rest.split_once(']'))
            {
                field = match index.parse() {
                    Ok(index) => field.at(index),
                    // Not an index: nothing can be there.
                    Err(_) => Field::new(format!("{}[{index}]", field.path), None),
                };
                indexes = rest;
            }
            if !indexes.is_empty() {
                // Malformed, like `list[` or `list[0]x`: nothing can be there.
                field = Field::new(format!("{}{indexes}", field.path), None);
            }
        }
        field
    }

    /// The value, or `None` when it is absent or `null`.
    pub fn value(&self) -> Option<&'a PayloadValue<'a>> {
        self.value.filter(|v| !v.is_null())
    }

    /// Whether there is a non-`null` value.
    pub fn is_present(&self) -> bool {
        self.value().is_some()
    }

    /// The value, or `default` when it is absent, `null` or an empty string
    /// (the seed examples' `value || default`).
    pub fn or(&self, default: impl Into<serde_json::Value>) -> serde_json::Value {
        match self.value() {
            Some(PayloadValue::Str(s)) if s.is_empty() => default.into(),
            Some(value) => value.into(),
            None => default.into(),
        }
    }

    /// The value as an owned `serde_json::Value` (a copy), or `None` when it
    /// is absent or `null`.
    pub fn to_value(&self) -> Option<serde_json::Value> {
        self.value().map(serde_json::Value::from)
    }

    /// The string, `None` when absent or `null`; error when another type.
    pub fn str(&self) -> Result<Option<&'a str>, Error> {
        match self.value() {
            None => Ok(None),
            Some(PayloadValue::Str(s)) => Ok(Some(s.as_ref())),
            Some(_) => Err(Error::invalid(&self.path, "a string")),
        }
    }

    /// Like [`Field::str`], with an empty string counted as absent: for
    /// identifiers such as e-mail addresses and customer ids.
    pub fn non_empty_str(&self) -> Result<Option<&'a str>, Error> {
        Ok(self.str()?.filter(|s| !s.is_empty()))
    }

    /// The string; error when absent, `null` or another type.
    pub fn require_str(&self) -> Result<&'a str, Error> {
        self.str()?.ok_or_else(|| Error::missing(&self.path))
    }

    /// The boolean, `None` when absent or `null`; error when another type.
    pub fn bool(&self) -> Result<Option<bool>, Error> {
        match self.value() {
            None => Ok(None),
            Some(PayloadValue::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(Error::invalid(&self.path, "a boolean")),
        }
    }

    /// An amount in minor units (an integer or a string of digits) as a
    /// decimal string in `currency` (see [`money`]); `None` when absent or
    /// `null`; error when anything else.
    pub fn money(&self, currency: &str) -> Result<Option<String>, Error> {
        match self.value() {
            None => Ok(None),
            Some(amount) => money::format(amount, currency)
                .map(Some)
                .ok_or_else(|| Error::invalid(&self.path, "an integer")),
        }
    }

    /// Like [`Field::money`], but an absent amount is an error too.
    pub fn require_money(&self, currency: &str) -> Result<String, Error> {
        self.money(currency)?
            .ok_or_else(|| Error::missing(&self.path))
    }

    /// An RFC 3339 date-time as milliseconds since the epoch (see
    /// [`time::unix_millis`]); error when absent or not a date-time.
    pub fn unix_millis(&self) -> Result<i64, Error> {
        let text = self.require_str()?;
        time::unix_millis(text).ok_or_else(|| Error::invalid(&self.path, "an RFC 3339 date-time"))
    }

    /// An RFC 3339 date-time as whole seconds since the epoch; error when
    /// absent or not a date-time.
    pub fn unix_seconds(&self) -> Result<i64, Error> {
        Ok(self.unix_millis()?.div_euclid(1_000))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    use serde_json::Value;

    fn dodo(value: Value) -> Envelope<'static> {
        Envelope::from_value(Box::leak(Box::new(value))).unwrap()
    }

    #[test]
    fn parse_refuses_what_is_not_an_object() {
        let message = |payload: &str| Envelope::parse(payload).unwrap_err().to_string();
        assert_eq!(message(""), "payload is empty");
        assert_eq!(message(" \n"), "payload is empty");
        assert_eq!(message("[1]"), "payload is not a JSON object");
        assert_eq!(message("null"), "payload is not a JSON object");
        assert_eq!(message("\"text\""), "payload is not a JSON object");
        assert_eq!(
            message("{\"type\":"),
            "payload is not JSON: EOF while parsing a value at line 1 column 8"
        );
        assert!(message("<xml/>").starts_with("payload is not JSON: "));
    }

    #[test]
    fn parse_survives_absurd_nesting() {
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(Envelope::parse(&deep).is_err());
    }

    #[test]
    fn paths_are_named_in_errors() {
        let d = dodo(json!({"data": {"total_amount": "12.5", "customer": {"email": 7}}}));
        assert_eq!(
            d.field("data.customer.email")
                .str()
                .unwrap_err()
                .to_string(),
            "data.customer.email is not a string"
        );
        assert_eq!(
            d.field("data.total_amount")
                .money("USD")
                .unwrap_err()
                .to_string(),
            "data.total_amount is not an integer"
        );
        assert_eq!(
            d.field("data.customer.name")
                .require_str()
                .unwrap_err()
                .to_string(),
            "data.customer.name is missing"
        );
        assert_eq!(
            d.data().get("product_cart").at(0).get("product_id").path(),
            "data.product_cart[0].product_id"
        );
        assert_eq!(
            d.field("timestamp").unix_millis().unwrap_err().to_string(),
            "timestamp is missing"
        );
    }

    #[test]
    fn dotted_paths_with_indexes() {
        let d = dodo(
            json!({"data": {"product_cart": [{"product_id": "p1"}, {"product_id": "p2"}],
                                     "matrix": [[1, 2], [3, 4]]}}),
        );
        let second = d.field("data.product_cart[1].product_id");
        assert_eq!(second.path(), "data.product_cart[1].product_id");
        assert_eq!(second.str().unwrap(), Some("p2"));
        assert_eq!(d.field("data.matrix[1][0]").to_value(), Some(json!(3)));
        assert_eq!(d.field("data.product_cart[9].product_id").value(), None);
        assert_eq!(d.field("data.product_cart[x]").value(), None);
        assert_eq!(d.field("data.product_cart[").value(), None);
        assert_eq!(d.field("").value(), Some(d.root()));
        assert_eq!(
            d.field("data.matrix").to_value(),
            Some(json!([[1, 2], [3, 4]]))
        );
    }

    #[test]
    fn repeated_keys_read_as_the_last_and_escapes_are_decoded() {
        let d = Envelope::parse(
            r#"{"data": {"customer": {"name": "first"}, "customer": {"name": "Jane \"J\" Do\u00e9"}}}"#,
        )
        .unwrap();
        assert_eq!(
            d.customer().get("name").str().unwrap(),
            Some("Jane \"J\" Doé")
        );
        assert_eq!(
            d.to_value(),
            json!({"data": {"customer": {"name": "Jane \"J\" Doé"}}})
        );
    }

    #[test]
    fn navigating_through_wrong_types_finds_nothing() {
        let d = dodo(json!({"data": {"customer": "cus_1", "list": 5}}));
        assert_eq!(d.field("data.customer.email").value(), None);
        assert_eq!(d.field("data.list[0]").value(), None);
        assert_eq!(d.field("data.customer.email").str().unwrap(), None);
    }

    #[test]
    fn null_is_absent() {
        let d = dodo(json!({"data": {"remarks": null, "flag": null}}));
        assert!(!d.field("data.remarks").is_present());
        assert_eq!(d.field("data.remarks").str().unwrap(), None);
        assert_eq!(d.field("data.flag").bool().unwrap(), None);
        assert_eq!(d.field("data.remarks").money("USD").unwrap(), None);
        assert_eq!(d.field("data.remarks").or(""), json!(""));
    }

    #[test]
    fn defaults_apply_to_missing_null_and_empty() {
        let d = dodo(json!({"data": {"a": "card", "b": null, "c": "", "d": false}}));
        assert_eq!(d.field("data.a").or("unknown"), json!("card"));
        assert_eq!(d.field("data.b").or("unknown"), json!("unknown"));
        assert_eq!(d.field("data.c").or("unknown"), json!("unknown"));
        assert_eq!(d.field("data.d").or("unknown"), json!(false));
        assert_eq!(d.field("data.zzz").or("unknown"), json!("unknown"));
    }

    #[test]
    fn currency_defaults_to_usd() {
        assert_eq!(dodo(json!({})).currency().unwrap(), "USD");
        assert_eq!(
            dodo(json!({"data": {"currency": null}}))
                .currency()
                .unwrap(),
            "USD"
        );
        assert_eq!(
            dodo(json!({"data": {"currency": ""}})).currency().unwrap(),
            "USD"
        );
        assert_eq!(
            dodo(json!({"data": {"currency": "JPY"}}))
                .currency()
                .unwrap(),
            "JPY"
        );
        assert_eq!(
            dodo(json!({"data": {"currency": 840}}))
                .currency()
                .unwrap_err()
                .to_string(),
            "data.currency is not a string"
        );
    }

    #[test]
    fn money_accepts_numbers_and_digit_strings() {
        let d = dodo(json!({"data": {"n": 2159, "s": "2159", "neg": -250, "f": 1.5, "b": true}}));
        assert_eq!(
            d.field("data.n").money("USD").unwrap().as_deref(),
            Some("21.59")
        );
        assert_eq!(
            d.field("data.s").money("USD").unwrap().as_deref(),
            Some("21.59")
        );
        assert_eq!(
            d.field("data.neg").money("EUR").unwrap().as_deref(),
            Some("-2.50")
        );
        assert_eq!(d.field("data.missing").money("USD").unwrap(), None);
        assert!(d.field("data.f").money("USD").is_err());
        assert!(d.field("data.b").money("USD").is_err());
        assert_eq!(
            d.field("data.missing")
                .require_money("USD")
                .unwrap_err()
                .to_string(),
            "data.missing is missing"
        );
    }

    #[test]
    fn timestamps() {
        let d = dodo(json!({"timestamp": "2025-01-15T23:30:12.482913Z", "bad": "soon", "num": 5}));
        assert_eq!(d.timestamp().unix_millis().unwrap(), 1_736_983_812_482);
        assert_eq!(d.timestamp().unix_seconds().unwrap(), 1_736_983_812);
        assert_eq!(
            d.field("bad").unix_millis().unwrap_err().to_string(),
            "bad is not an RFC 3339 date-time"
        );
        assert_eq!(
            d.field("num").unix_millis().unwrap_err().to_string(),
            "num is not a string"
        );
    }

    #[test]
    fn unicode_passes_through() {
        let d = Envelope::parse(r#"{"data":{"customer":{"name":"Zoë 山田 🚀"}}}"#).unwrap();
        assert_eq!(
            d.field("data.customer.name").str().unwrap(),
            Some("Zoë 山田 🚀")
        );
    }
}

/// Arbitrary payloads: reading the envelope and any field of it, as money,
/// a date-time, a string or a bool, is a value or an error, never a panic.
#[cfg(test)]
mod fuzz {
    use super::*;
    use proptest::prelude::*;
    use serde_json::Value;
    use serde_json::json;

    fn any_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            any::<u64>().prop_map(|n| json!(n)),
            any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(|f| json!(f)),
            "\\PC{0,24}".prop_map(Value::String),
            "-?[0-9]{0,25}".prop_map(Value::String),
            "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{0,12})?(Z|[+-][0-9]{2}:[0-9]{2})?"
                .prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 40, 5, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                prop::collection::btree_map(
                    prop_oneof![
                        Just("data".to_string()),
                        Just("customer".to_string()),
                        Just("total_amount".to_string()),
                        Just("currency".to_string()),
                        Just("created_at".to_string()),
                        "[a-z_]{1,10}",
                    ],
                    inner,
                    0..5
                )
                .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    fn exercise(envelope: &Envelope, path: &str, currency: &str) {
        for field in [
            envelope.field(path),
            envelope.data(),
            envelope.customer(),
            envelope.timestamp(),
        ] {
            let _ = field.money(currency);
            let _ = field.require_money(currency);
            let _ = field.unix_millis();
            let _ = field.unix_seconds();
            let _ = field.non_empty_str();
            let _ = field.bool();
            let _ = field.at(0).get("x").or(0);
        }
        let _ = envelope.currency();
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn any_bytes_are_an_envelope_or_an_error(text in "\\PC{0,200}") {
            if let Ok(envelope) = Envelope::parse(&text) {
                exercise(&envelope, "data.total_amount", "USD");
            }
        }

        #[test]
        fn any_json_fields_read_without_panicking(
            data in any_json(),
            path in "[a-z_.]{0,30}",
            currency in prop_oneof!["[A-Z]{3}", "\\PC{0,5}"],
        ) {
            let root = json!({ "business_id": "b", "type": "payment.succeeded", "timestamp": "2025-01-15T23:30:12Z", "data": data });
            if let Ok(envelope) = Envelope::from_value(&root) {
                exercise(&envelope, &path, &currency);
            }
            let text = serde_json::to_string(&data).unwrap();
            if let Ok(envelope) = Envelope::parse(&text) {
                exercise(&envelope, &path, &currency);
            }
        }
    }
}
