//! Segment: Dodo Payments events become Segment `track` calls (with an
//! `identify` carrying the customer's traits) on the HTTP Tracking API's
//! `/v1/batch`, so that every destination connected to the Segment source
//! (analytics, warehouses, marketing tools) gets the payments, refunds,
//! disputes and subscription changes. Successful payments and refunds follow
//! Segment's e-commerce spec (`Order Completed`, `Order Refunded`).
//!
//! The mapping is the table in this crate's README.md.

use hookwasm_sdk::ids::{NAMESPACE_URL, sha256_hex, uuid_v5};
use hookwasm_sdk::money::exponent;
use hookwasm_sdk::prelude::*;
use hookwasm_sdk::serde_json::{self, Number};
use hookwasm_sdk::url::origin;

/// Segment's US (Oregon) batch endpoint, used when the endpoint configures
/// no `url`. EU workspaces configure `https://events.eu1.segmentapis.com`.
pub const DEFAULT_URL: &str = "https://api.segment.io/v1/batch";

const DEFAULT_ORIGIN: &str = "https://api.segment.io";
const BATCH_PATH: &str = "/v1/batch";

/// Segment refuses a message (each call in a batch) over 32 KB; kept a little
/// under 32 × 1024 bytes whichever "KB" Segment means.
const MAX_MESSAGE_BYTES: usize = 32_000;

/// Free text (names, reasons, error messages) is cut to this many bytes, so
/// that a message stays far below 32 KB.
const MAX_TEXT_BYTES: usize = 1_000;

/// At most this many cart lines go into `products`.
const MAX_PRODUCTS: usize = 100;

/// Delivery keys up to this length are the `messageId` as they are; longer
/// ones are hashed. Segment wants message ids "with fewer than 100
/// characters", and the identify call's id adds `:identify` (9).
const MAX_RAW_KEY: usize = 80;

/// The Segment plugin.
pub struct Segment;

hookwasm_sdk::plugin!(
    Segment,
    name = "segment",
    description = "Dodo Payments events to Segment identify and track calls (HTTP Tracking API)",
    default_url = DEFAULT_URL,
    form = include_str!("../form.json"),
);

impl Plugin for Segment {
    fn transform(event: &Event) -> Result<Outcome, Error> {
        let event_type = event.event_type.as_str();
        let Some(name) = track_name(event_type) else {
            return Ok(Outcome::skip(format!(
                "segment maps payment.*, refund.*, dispute.*, subscription.* and license_key.* events, not {event_type}"
            )));
        };
        let identify = identify_setting(event)?;
        let url = format!("{}{BATCH_PATH}", base_url(event)?);
        let dodo = event.envelope()?;

        let identity = identity(&dodo)?;
        let timestamp = timestamp(&dodo)?;
        let (track_id, identify_id) = message_ids(&event.delivery_key);

        let properties = match event_type.split_once('.').map(|(family, _)| family) {
            Some("payment") => payment(&dodo, event_type)?,
            Some("refund") => refund(&dodo, event_type)?,
            Some("dispute") => dispute(&dodo)?,
            Some("subscription") => subscription(&dodo)?,
            _ => license_key(&dodo)?,
        };

        let mut batch = Vec::new();
        if identify {
            let traits = traits(&dodo)?;
            if !traits.is_empty() {
                let call = identity
                    .clone()
                    .set("type", "identify")
                    .set("messageId", identify_id)
                    .set("timestamp", timestamp)
                    .set("traits", traits);
                batch.push(checked("identify", call)?);
            }
        }
        let call = identity
            .set("type", "track")
            .set("messageId", track_id)
            .set("event", name)
            .set("timestamp", timestamp)
            .set("properties", properties.0);
        batch.push(checked("track", call)?);

        Ok(Request::post(url).json(json!({ "batch": batch })).into())
    }
}

/// The `track` event name: Segment's e-commerce spec names where one fits,
/// else "Object Action" in title case (Segment's naming guidance).
fn track_name(event_type: &str) -> Option<String> {
    let (family, action) = event_type.split_once('.')?;
    if action.is_empty() {
        return None;
    }
    let object = match family {
        "payment" => "Payment",
        "refund" => "Refund",
        "dispute" => "Dispute",
        "subscription" => "Subscription",
        "license_key" => "License Key",
        _ => return None,
    };
    Some(match event_type {
        "payment.succeeded" => "Order Completed".to_owned(),
        "refund.succeeded" => "Order Refunded".to_owned(),
        "subscription.active" => "Subscription Started".to_owned(),
        _ => {
            let mut name = object.to_owned();
            for word in action.split(['_', '.']).filter(|w| !w.is_empty()) {
                name.push(' ');
                let mut chars = word.chars();
                if let Some(first) = chars.next() {
                    name.push(first.to_ascii_uppercase());
                    name.push_str(chars.as_str());
                }
            }
            name
        }
    })
}

/// The `identify` setting: `true` (default) sends an identify call with the
/// customer's traits before the track call; `false` sends the track call only.
fn identify_setting(event: &Event) -> Result<bool, Error> {
    match event.setting("identify").map(str::trim) {
        None | Some("") => Ok(true),
        Some(value) if value.eq_ignore_ascii_case("true") => Ok(true),
        Some(value) if value.eq_ignore_ascii_case("false") => Ok(false),
        Some(value) => Err(Error::new(format!(
            "the identify setting must be true or false, not {value:?}"
        ))),
    }
}

/// The origin of the endpoint URL (EU workspaces configure
/// `https://events.eu1.segmentapis.com`), else Segment's US endpoint.
fn base_url(event: &Event) -> Result<String, Error> {
    match event.endpoint_url.as_deref().filter(|url| !url.is_empty()) {
        None => Ok(DEFAULT_ORIGIN.to_owned()),
        Some(url) => origin(url)
            .ok_or_else(|| Error::new(format!("the endpoint url {url:?} is not an absolute URL"))),
    }
}

/// `userId` ← the Dodo customer id; for a customer without one,
/// `anonymousId` ← a UUIDv5 of the e-mail address (ASCII lower-cased), the same for
/// every event of that address. Segment needs one of the two.
fn identity(dodo: &Envelope) -> Result<Object, Error> {
    let customer = dodo.customer();
    if let Some(id) = customer.get("customer_id").non_empty_str()? {
        return Ok(Object::new().set("userId", id));
    }
    // License keys name the customer by id only, outside `customer`.
    if let Some(id) = dodo.field("data.customer_id").non_empty_str()? {
        return Ok(Object::new().set("userId", id));
    }
    if let Some(email) = customer.get("email").non_empty_str()? {
        let seed = format!("mailto:{}", email.to_ascii_lowercase());
        return Ok(Object::new().set("anonymousId", uuid_v5(NAMESPACE_URL, &seed)));
    }
    Err(Error::missing("data.customer.customer_id"))
}

/// The envelope's `timestamp`, unchanged, when it is a valid date-time (so
/// that destinations date the event when it happened, not when a retry
/// arrived); left out when missing.
fn timestamp<'a>(dodo: &'a Envelope) -> Result<Option<&'a str>, Error> {
    let field = dodo.timestamp();
    if !field.is_present() {
        return Ok(None);
    }
    field.unix_millis()?;
    field.str()
}

/// `messageId`s for the track and identify calls, the same for every retry
/// and replay of this delivery: Segment deduplicates on them.
fn message_ids(delivery_key: &str) -> (String, String) {
    let base = if delivery_key.len() <= MAX_RAW_KEY {
        delivery_key.to_owned()
    } else {
        format!("sha256:{}", sha256_hex(delivery_key))
    };
    let identify = format!("{base}:identify");
    (base, identify)
}

/// `call` as a JSON value, or an error when it is over Segment's message limit.
fn checked(kind: &str, call: Object) -> Result<Value, Error> {
    let value = Value::from(call);
    let size = serde_json::to_vec(&value).map_or(0, |bytes| bytes.len());
    if size > MAX_MESSAGE_BYTES {
        return Err(Error::new(format!(
            "the {kind} call is {size} bytes; Segment accepts at most 32 KB per call"
        )));
    }
    Ok(value)
}

/// The customer's traits (Segment's reserved `email`, `name`, `phone`).
fn traits(dodo: &Envelope) -> Result<Object, Error> {
    let customer = dodo.customer();
    let mut traits = Properties::default();
    traits
        .id("email", &customer.get("email"))?
        .text("name", &customer.get("name"))?
        .id("phone", &customer.get("phone_number"))?;
    Ok(traits.0)
}

/// Track properties, with the SDK's null rule (missing and `null` are left out).
#[derive(Default)]
struct Properties(Object);

impl Properties {
    /// An identifier, sent whole; empty strings are left out.
    fn id(&mut self, key: &str, field: &Field) -> Result<&mut Self, Error> {
        self.0.insert(key, field.non_empty_str()?);
        Ok(self)
    }

    /// Free text, cut to [`MAX_TEXT_BYTES`].
    fn text(&mut self, key: &str, field: &Field) -> Result<&mut Self, Error> {
        self.0.insert(key, field.str()?.map(cut));
        Ok(self)
    }

    /// Free text with a default for missing or empty values.
    fn text_or(&mut self, key: &str, field: &Field, default: &str) -> Result<&mut Self, Error> {
        let value = field.str()?.filter(|s| !s.is_empty()).unwrap_or(default);
        self.0.insert(key, cut(value));
        Ok(self)
    }

    fn flag(&mut self, key: &str, field: &Field) -> Result<&mut Self, Error> {
        self.0.insert(key, field.bool()?);
        Ok(self)
    }

    /// A whole number (a count), passed through.
    fn count(&mut self, key: &str, field: &Field) -> Result<&mut Self, Error> {
        let count = match integer(field)? {
            None => None,
            Some(n) => {
                Some(i64::try_from(n).map_err(|_| Error::invalid(field.path(), "an integer"))?)
            }
        };
        self.0.insert(key, count.map(Value::from));
        Ok(self)
    }

    /// An amount in minor units as a number in the currency's unit (the
    /// e-commerce spec types `total`, `revenue`, `tax` as numbers).
    fn amount(&mut self, key: &str, field: &Field, currency: &str) -> Result<&mut Self, Error> {
        let value = integer(field)?.and_then(|minor| amount_number(minor, currency));
        self.0.insert(key, value);
        Ok(self)
    }

    fn set(&mut self, key: &str, value: impl IntoJson) -> &mut Self {
        self.0.insert(key, value);
        self
    }
}

/// `text` cut to [`MAX_TEXT_BYTES`] bytes of UTF-8 on a character boundary,
/// ending with `…` when cut.
fn cut(text: &str) -> String {
    if text.len() <= MAX_TEXT_BYTES {
        return text.to_owned();
    }
    let room = MAX_TEXT_BYTES - '…'.len_utf8();
    let end = (0..=room)
        .rev()
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(0);
    format!("{}…", &text[..end])
}

/// An amount in minor units as a JSON number in the currency's unit, using
/// its ISO 4217 exponent: `2159` USD → `21.59`, `500` JPY → `500`, `1234`
/// KWD → `1.234`. Dividing two exact values by a power of ten is correctly
/// rounded: the same number as parsing the decimal text, without linking a
/// float parser into the plugin.
fn amount_number(minor: i128, currency: &str) -> Option<Value> {
    let scale = match exponent(currency) {
        0 => return i64::try_from(minor).ok().map(Value::from),
        3 => 1_000.0,
        _ => 100.0,
    };
    // Exact for amounts below 2^53 minor units.
    Number::from_f64(minor as f64 / scale).map(Value::Number)
}

/// An integer (a JSON integer, or for amounts a string of digits); `None`
/// when absent or `null`.
fn integer(field: &Field) -> Result<Option<i128>, Error> {
    let invalid = || Error::invalid(field.path(), "an integer");
    match field.value() {
        None => Ok(None),
        Some(PayloadValue::Number(n)) => n
            .as_i64()
            .map(i128::from)
            .or_else(|| n.as_u64().map(i128::from))
            .map(Some)
            .ok_or_else(invalid),
        Some(PayloadValue::Str(s)) => {
            let digits = s.strip_prefix('-').unwrap_or(s);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(invalid());
            }
            s.parse().map(Some).map_err(|_| invalid())
        }
        Some(_) => Err(invalid()),
    }
}

/// `products` ← the first [`MAX_PRODUCTS`] lines of `product_cart`.
fn products(data: &Field) -> Result<Option<Value>, Error> {
    let cart = data.get("product_cart");
    let Some(value) = cart.value() else {
        return Ok(None);
    };
    let Some(lines) = value.as_array() else {
        return Err(Error::invalid(cart.path(), "an array"));
    };
    let mut products = Vec::new();
    for index in 0..lines.len().min(MAX_PRODUCTS) {
        let line = cart.at(index);
        let mut product = Properties::default();
        product
            .id("product_id", &line.get("product_id"))?
            .count("quantity", &line.get("quantity"))?;
        products.push(Value::from(product.0));
    }
    Ok((!products.is_empty()).then_some(Value::Array(products)))
}

fn payment(dodo: &Envelope, event_type: &str) -> Result<Properties, Error> {
    let data = dodo.data();
    let currency = dodo.currency()?;
    let mut props = Properties::default();
    props.id("payment_id", &data.get("payment_id"))?;
    if event_type == "payment.succeeded" {
        // E-commerce spec: `Order Completed`. Revenue excludes tax; Dodo's
        // total_amount includes it.
        let total = integer(&data.get("total_amount"))?;
        let tax = integer(&data.get("tax"))?;
        let revenue = total.map(|total| total - tax.unwrap_or(0));
        props
            .id("order_id", &data.get("payment_id"))?
            .id("checkout_id", &data.get("checkout_session_id"))?
            .amount("total", &data.get("total_amount"), currency)?
            .set(
                "revenue",
                revenue.and_then(|minor| amount_number(minor, currency)),
            )
            .amount("tax", &data.get("tax"), currency)?;
    } else {
        props
            .amount("amount", &data.get("total_amount"), currency)?
            .id("status", &data.get("status"))?
            .id("error_code", &data.get("error_code"))?;
        if event_type == "payment.failed" {
            props.text_or(
                "error_message",
                &data.get("error_message"),
                "Payment processing failed",
            )?;
        } else {
            props.text("error_message", &data.get("error_message"))?;
        }
    }
    props
        .set("currency", currency)
        .text_or("payment_method", &data.get("payment_method"), "unknown")?
        .id("subscription_id", &data.get("subscription_id"))?
        .set("products", products(&data)?);
    Ok(props)
}

fn refund(dodo: &Envelope, event_type: &str) -> Result<Properties, Error> {
    let data = dodo.data();
    let currency = dodo.currency()?;
    let mut props = Properties::default();
    if event_type == "refund.succeeded" {
        // E-commerce spec: `Order Refunded` names the order and its total.
        props.id("order_id", &data.get("payment_id"))?.amount(
            "total",
            &data.get("amount"),
            currency,
        )?;
    }
    props
        .id("refund_id", &data.get("refund_id"))?
        .id("payment_id", &data.get("payment_id"))?
        .amount("amount", &data.get("amount"), currency)?
        .set("currency", currency)
        .id("status", &data.get("status"))?
        .text("reason", &data.get("reason"))?
        .flag("is_partial", &data.get("is_partial"))?;
    Ok(props)
}

fn dispute(dodo: &Envelope) -> Result<Properties, Error> {
    let data = dodo.data();
    let currency = dodo.currency()?;
    let mut props = Properties::default();
    props
        .id("dispute_id", &data.get("dispute_id"))?
        .id("payment_id", &data.get("payment_id"))?
        // Dodo types dispute amounts as strings of digits; numbers work too.
        .amount("amount", &data.get("amount"), currency)?
        .set("currency", currency)
        .id("status", &data.get("dispute_status"))?
        .id("stage", &data.get("dispute_stage"))?
        .text("reason", &data.get("reason"))?
        .text_or("remarks", &data.get("remarks"), "")?;
    Ok(props)
}

fn subscription(dodo: &Envelope) -> Result<Properties, Error> {
    let data = dodo.data();
    let currency = dodo.currency()?;
    let mut props = Properties::default();
    props
        .id("subscription_id", &data.get("subscription_id"))?
        .id("product_id", &data.get("product_id"))?
        .amount("amount", &data.get("recurring_pre_tax_amount"), currency)?
        .set("currency", currency)
        .id("status", &data.get("status"))?
        .id("interval", &data.get("payment_frequency_interval"))?
        .count("interval_count", &data.get("payment_frequency_count"))?
        .count("quantity", &data.get("quantity"))?
        .id("next_billing_date", &data.get("next_billing_date"))?
        .id("previous_billing_date", &data.get("previous_billing_date"))?
        .id("cancelled_at", &data.get("cancelled_at"))?
        .flag(
            "cancel_at_next_billing_date",
            &data.get("cancel_at_next_billing_date"),
        )?
        .count("trial_period_days", &data.get("trial_period_days"))?;
    Ok(props)
}

/// A license key event, without the key itself (a secret of the customer's).
fn license_key(dodo: &Envelope) -> Result<Properties, Error> {
    let data = dodo.data();
    let mut props = Properties::default();
    props
        .id("license_key_id", &data.get("id"))?
        .id("product_id", &data.get("product_id"))?
        .id("payment_id", &data.get("payment_id"))?
        .id("subscription_id", &data.get("subscription_id"))?
        .id("status", &data.get("status"))?
        .id("expires_at", &data.get("expires_at"))?
        .count("activations_limit", &data.get("activations_limit"))?;
    Ok(props)
}

#[cfg(test)]
mod tests;
