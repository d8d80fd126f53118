//! Zapier: every Dodo Payments event becomes one flat JSON object posted to
//! a Zap's Catch Hook, shaped so that Zapier's field mapper shows each value
//! as its own field.
//!
//! The mapping is the table in this crate's README.md: a few fields that
//! every event has (`event_type`, `event_id`, `delivery_key`, `timestamp`,
//! `amount`…), then the webhook's `data` flattened to `parent_child` keys,
//! with amounts as money strings next to their minor units.

use hookwasm_sdk::prelude::*;
use hookwasm_sdk::serde_json::{Map, Number};

/// The Zapier plugin.
pub struct Zapier;

hookwasm_sdk::plugin!(
    Zapier,
    name = "zapier",
    description = "Dodo Payments events to a Zapier Catch Hook, as flat JSON for the field mapper",
    form = include_str!("../form.json"),
);

/// Deeper objects than this are sent as one JSON string field (Dodo's own
/// payloads are at most three levels deep).
const MAX_DEPTH: usize = 6;

/// Separates the values of a list in one field: what Zapier's "Text to
/// Line-item" step splits on.
const LIST_SEPARATOR: &str = ", ";

/// Amount fields of `data` (in minor units) and the field naming their
/// currency.
const AMOUNTS: [(&str, &str); 6] = [
    ("total_amount", "currency"),
    ("tax", "currency"),
    ("amount", "currency"),
    ("recurring_pre_tax_amount", "currency"),
    ("settlement_amount", "settlement_currency"),
    ("settlement_tax", "settlement_currency"),
];

impl Plugin for Zapier {
    fn transform(event: &Event) -> Result<Outcome, Error> {
        // The Catch Hook URL is the credential: no default, kept as it is.
        let url = event.require_endpoint_url()?;
        let dodo = event.envelope()?;
        let data = dodo.data();
        let event_type = event.event_type.as_str();

        let mut fields = Map::new();
        match data.value() {
            Some(object @ PayloadValue::Object(_)) => flatten(&mut fields, "", object, 0),
            // Not what Dodo sends, but kept rather than lost.
            Some(other) => flatten(&mut fields, "data", other, 0),
            None => {}
        }
        apply_defaults(&mut fields, &data, event_type);
        add_money(&mut fields, &dodo)?;

        // Set last, so that no field of `data` can stand in for them.
        let business_id = match dodo.business_id().non_empty_str()? {
            Some(id) => Some(id),
            None => data.get("business_id").non_empty_str()?,
        };
        let mut body = Object::from(fields)
            .set("event_type", event_type)
            // The sender's webhook id: the same for every retry of the event.
            .set("event_id", event.id.as_str())
            // Unique per (endpoint, event) and stable across retries and
            // replays: what a Zap filters duplicates on (Zapier does not).
            .set("delivery_key", event.delivery_key.as_str())
            .set("timestamp", dodo.timestamp())
            .set("business_id", business_id);
        let (amount, minor) = headline_amount(&dodo, event_type)?;
        if let Some(amount) = amount {
            body = body
                .set("amount", amount)
                .set("amount_minor", minor)
                .set("currency", dodo.currency()?);
        }
        Ok(Request::post(url).json(body).into())
    }
}

/// Flattens `value` into `out`: object members become `prefix_key` fields
/// (`customer.email` → `customer_email`), lists become one field of
/// comma-separated values plus a `_count`, nulls are left out.
fn flatten(out: &mut Map<String, Value>, prefix: &str, value: &PayloadValue, depth: usize) {
    match value {
        PayloadValue::Null => {}
        PayloadValue::Object(_) if depth >= MAX_DEPTH => {
            out.insert(
                prefix.to_owned(),
                Value::String(Value::from(value).to_string()),
            );
        }
        PayloadValue::Object(object) => {
            for (key, member) in object.iter() {
                flatten(out, &join(prefix, key), member, depth + 1);
            }
        }
        PayloadValue::Array(items) => flatten_list(out, prefix, items, depth),
        scalar => {
            out.insert(prefix.to_owned(), Value::from(scalar));
        }
    }
}

/// A list: its length as `{prefix}_count`; a list of values as one field of
/// comma-separated values; a list of objects as one such field per member
/// (`product_cart_product_id`, `product_cart_quantity`), aligned by position
/// (an item without the member leaves its place empty).
fn flatten_list(out: &mut Map<String, Value>, prefix: &str, items: &[PayloadValue], depth: usize) {
    out.insert(join(prefix, "count"), Value::from(items.len()));
    if items.is_empty() {
        return;
    }
    if items
        .iter()
        .all(|item| !item.is_object() && !item.is_array())
    {
        let values: Vec<String> = items.iter().map(scalar_text).collect();
        out.insert(
            prefix.to_owned(),
            Value::String(values.join(LIST_SEPARATOR)),
        );
        return;
    }
    // Each item flattened on its own, then joined member by member. Lists
    // inside the items are left out: their values could not be told apart.
    let flat_items: Vec<Map<String, Value>> = items
        .iter()
        .map(|item| {
            let mut flat = Map::new();
            match item {
                PayloadValue::Object(object) => {
                    for (key, member) in object.iter() {
                        if !member.is_array() {
                            flatten(&mut flat, key, member, depth + 1);
                        }
                    }
                }
                PayloadValue::Array(_) => {}
                scalar => {
                    flat.insert("value".to_owned(), Value::from(scalar));
                }
            }
            flat
        })
        .collect();
    let mut members: Vec<&String> = Vec::new();
    for flat in &flat_items {
        for key in flat.keys() {
            if !members.contains(&key) {
                members.push(key);
            }
        }
    }
    for member in members {
        let values: Vec<String> = flat_items
            .iter()
            .map(|flat| flat.get(member).map(json_text).unwrap_or_default())
            .collect();
        out.insert(
            join(prefix, member),
            Value::String(values.join(LIST_SEPARATOR)),
        );
    }
}

/// `prefix_key`, with the customer's own prefix not repeated
/// (`customer.customer_id` → `customer_id`).
fn join(prefix: &str, key: &str) -> String {
    let repeats_prefix = key
        .strip_prefix(prefix)
        .is_some_and(|rest| rest.starts_with('_'));
    if prefix.is_empty() || repeats_prefix {
        key.to_owned()
    } else {
        format!("{prefix}_{key}")
    }
}

/// A value as the text of a list element (null is empty).
fn scalar_text(value: &PayloadValue) -> String {
    json_text(&Value::from(value))
}

fn json_text(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// hookwasm's shared defaults, where the event has the field at all.
fn apply_defaults(out: &mut Map<String, Value>, data: &Field, event_type: &str) {
    let mut default = |key: &str, value: &str| {
        let empty = match out.get(key) {
            None => true,
            Some(Value::String(text)) => text.is_empty(),
            Some(_) => false,
        };
        if empty {
            out.insert(key.to_owned(), Value::from(value));
        }
    };
    if event_type.starts_with("payment.") {
        default("payment_method", "unknown");
    }
    if event_type == "payment.failed" {
        default("error_message", "Payment processing failed");
    }
    if event_type.starts_with("dispute.") && data.is_present() {
        default("remarks", "");
    }
}

/// Each amount of `data` as a money string (`"21.59"`), with the amount in
/// minor units next to it (`total_amount_minor: 2159`).
fn add_money(out: &mut Map<String, Value>, dodo: &Envelope) -> Result<(), Error> {
    let data = dodo.data();
    for (field, currency_field) in AMOUNTS {
        let amount = data.get(field);
        let currency = match currency_field {
            "currency" => dodo.currency()?,
            other => data.get(other).non_empty_str()?.unwrap_or("USD"),
        };
        if let Some(money) = amount.money(currency)? {
            out.insert(format!("{field}_minor"), minor_units(&amount));
            out.insert(field.to_owned(), Value::String(money));
        }
    }
    Ok(())
}

/// The amount in minor units as a JSON number; a digit string too long for
/// one stays a string.
fn minor_units(amount: &Field) -> Value {
    match amount.value() {
        Some(PayloadValue::Str(digits)) => match digits.parse::<i64>() {
            Ok(n) => Value::Number(Number::from(n)),
            Err(_) => Value::String(digits.to_string()),
        },
        Some(other) => Value::from(other),
        None => Value::Null,
    }
}

/// The event's main amount (money string, minor units): the payment's
/// total, the subscription's recurring price, the refund's or dispute's
/// amount; for other events the first of those fields present.
fn headline_amount(dodo: &Envelope, event_type: &str) -> Result<(Option<String>, Value), Error> {
    let candidates: &[&str] = match event_type.split('.').next().unwrap_or_default() {
        "payment" => &["total_amount"],
        "subscription" => &["recurring_pre_tax_amount"],
        "refund" | "dispute" => &["amount"],
        _ => &["total_amount", "amount", "recurring_pre_tax_amount"],
    };
    let currency = dodo.currency()?;
    for name in candidates {
        let field = dodo.data().get(name);
        if let Some(money) = field.money(currency)? {
            return Ok((Some(money), minor_units(&field)));
        }
    }
    Ok((None, Value::Null))
}

#[cfg(test)]
mod tests;
