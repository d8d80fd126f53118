//! SendGrid: Dodo Payments events become transactional e-mails sent with
//! SendGrid's v3 Mail Send API and a dynamic template per event type
//! (receipts, failed-payment notices, subscription e-mails…).
//!
//! The mapping is the table in this crate's README.md: the endpoint's
//! settings name one dynamic template per event type
//! (`template_payment_succeeded = "d-…"`), and the event's fields become the
//! template's `dynamic_template_data`.

use hookwasm_sdk::ids::sha256_hex;
use hookwasm_sdk::prelude::*;

/// SendGrid's Mail Send endpoint, used when the endpoint configures no `url`
/// (EU regional subusers configure `https://api.eu.sendgrid.com/v3/mail/send`).
pub const DEFAULT_URL: &str = "https://api.sendgrid.com/v3/mail/send";

/// SendGrid refuses more than 10,000 bytes of `custom_args`; a delivery key
/// longer than this is hashed, which keeps them far below.
const MAX_DELIVERY_KEY: usize = 1_000;

/// SendGrid's limit for one category name, in characters.
const MAX_CATEGORY: usize = 255;

/// The SendGrid plugin.
pub struct SendGrid;

hookwasm_sdk::plugin!(
    SendGrid,
    name = "sendgrid",
    description = "Dodo Payments events to SendGrid dynamic template e-mails (v3 Mail Send)",
    default_url = DEFAULT_URL,
    form = include_str!("../form.json"),
);

impl Plugin for SendGrid {
    fn transform(event: &Event) -> Result<Outcome, Error> {
        let event_type = event.event_type.as_str();
        let setting = template_setting(event_type);
        let Some(template_id) = event.setting(&setting).filter(|id| !id.trim().is_empty()) else {
            return Ok(Outcome::skip(format!(
                "sendgrid sends only the event types that have a template; set `{setting}` to a dynamic template id (d-…) to send {event_type}"
            )));
        };
        let from = event
            .setting("from")
            .filter(|from| !from.trim().is_empty())
            .ok_or_else(|| {
                Error::new("setting `from` is missing; set it to a verified sender address")
            })?;

        let dodo = event.envelope()?;
        let Some(to) = recipient(&dodo)? else {
            return Ok(Outcome::skip(format!(
                "{event_type} carries no customer e-mail address (only data.customer_id), so there is nobody to e-mail"
            )));
        };
        let personalization = Object::new()
            .set("to", json!([Value::from(to)]))
            .set("dynamic_template_data", template_data(&dodo, event_type)?);
        let body = Object::new()
            .set("personalizations", json!([Value::from(personalization)]))
            .set(
                "from",
                Object::new()
                    .set("email", from.trim())
                    .set("name", non_empty_setting(event, "from_name")),
            )
            .set(
                "reply_to",
                non_empty_setting(event, "reply_to").map(|email| Object::new().set("email", email)),
            )
            .set("template_id", template_id.trim())
            // Shown in SendGrid's statistics per category.
            .set("categories", json!([cut_chars(event_type, MAX_CATEGORY)]))
            // SendGrid has no idempotency key: the delivery key travels with
            // the message and comes back in SendGrid's event webhooks and the
            // Email Activity feed, where duplicates can be told apart.
            .set(
                "custom_args",
                Object::new()
                    .set("hookwasm_delivery_key", delivery_key(&event.delivery_key))
                    .set("dodo_event_type", cut_chars(event_type, MAX_CATEGORY)),
            );

        let url = event
            .endpoint_url
            .as_deref()
            .filter(|url| !url.is_empty())
            .unwrap_or(DEFAULT_URL);
        Ok(Request::post(url).json(body).into())
    }
}

/// The setting naming the template for `event_type`:
/// `payment.succeeded` → `template_payment_succeeded`.
pub fn template_setting(event_type: &str) -> String {
    format!("template_{}", event_type.replace(['.', '-'], "_"))
}

fn non_empty_setting<'a>(event: &'a Event, key: &str) -> Option<&'a str> {
    event
        .setting(key)
        .map(str::trim)
        .filter(|value| !value.is_empty())
}

/// `{"email", "name"}` of the customer; `None` when the payload has no
/// customer object but a bare `data.customer_id` (license keys), which no
/// replay can turn into an address.
fn recipient(dodo: &Envelope) -> Result<Option<Object>, Error> {
    let customer = dodo.customer();
    if !customer.is_present() && dodo.field("data.customer_id").is_present() {
        return Ok(None);
    }
    let email = customer
        .get("email")
        .non_empty_str()?
        .ok_or_else(|| Error::missing("data.customer.email"))?;
    let name = customer.get("name").str()?.and_then(recipient_name);
    Ok(Some(Object::new().set("email", email).set("name", name)))
}

/// SendGrid refuses `;` and `,` in recipient names: they become spaces
/// (`"Doe, Jane"` → `"Doe Jane"`); a name left empty is left out.
fn recipient_name(name: &str) -> Option<String> {
    let cleaned = name.replace([';', ','], " ");
    let words: Vec<&str> = cleaned.split_whitespace().collect();
    (!words.is_empty()).then(|| words.join(" "))
}

/// The template's data: what every event has, then the fields of its kind.
fn template_data(dodo: &Envelope, event_type: &str) -> Result<Object, Error> {
    let data = dodo.data();
    let customer = dodo.customer();
    let common = Object::new()
        .set("event_type", event_type)
        .set("timestamp", dodo.timestamp())
        .set("customer_name", customer.get("name"))
        .set("customer_email", customer.get("email"))
        .set(
            "customer_id",
            if customer.get("customer_id").is_present() {
                customer.get("customer_id")
            } else {
                data.get("customer_id")
            },
        );
    let kind = event_type.split('.').next().unwrap_or_default();
    match kind {
        "payment" => payment(common, dodo, event_type),
        "subscription" => subscription(common, dodo),
        "refund" => refund(common, dodo),
        "dispute" => dispute(common, dodo),
        "license_key" => Ok(license_key(common, dodo)),
        // Anything else: its data as it is, for the template to pick from.
        _ => Ok(common.set("data", data)),
    }
}

fn payment(common: Object, dodo: &Envelope, event_type: &str) -> Result<Object, Error> {
    let data = dodo.data();
    let currency = dodo.currency()?;
    let error_message = match event_type {
        "payment.failed" => data.get("error_message").or("Payment processing failed"),
        _ => data.get("error_message").or(Value::Null),
    };
    Ok(common
        .set("payment_id", data.get("payment_id"))
        .set("status", data.get("status"))
        .set("amount", data.get("total_amount").money(currency)?)
        .set("tax", data.get("tax").money(currency)?)
        .set("currency", currency)
        .set("payment_method", data.get("payment_method").or("unknown"))
        .set("card_last_four", data.get("card_last_four"))
        .set("card_network", data.get("card_network"))
        .set("invoice_id", data.get("invoice_id"))
        .set("payment_link", data.get("payment_link"))
        .set("subscription_id", data.get("subscription_id"))
        .set("error_code", data.get("error_code"))
        .set("error_message", error_message)
        .set("created_at", data.get("created_at"))
        .set("products", products(&data.get("product_cart"))))
}

/// `[{product_id, quantity}]` of a payment's cart, for `{{#each products}}`.
fn products(cart: &Field) -> Option<Value> {
    let items = cart.value()?.as_array()?;
    let products: Vec<Value> = (0..items.len())
        .map(|i| {
            let item = cart.at(i);
            Object::new()
                .set("product_id", item.get("product_id"))
                .set("quantity", item.get("quantity"))
                .into()
        })
        .collect();
    Some(Value::Array(products))
}

fn subscription(common: Object, dodo: &Envelope) -> Result<Object, Error> {
    let data = dodo.data();
    let currency = dodo.currency()?;
    Ok(common
        .set("subscription_id", data.get("subscription_id"))
        .set("status", data.get("status"))
        .set("product_id", data.get("product_id"))
        .set("quantity", data.get("quantity"))
        .set(
            "amount",
            data.get("recurring_pre_tax_amount").money(currency)?,
        )
        .set("currency", currency)
        .set("frequency", data.get("payment_frequency_interval"))
        .set("frequency_count", data.get("payment_frequency_count"))
        .set("next_billing_date", data.get("next_billing_date"))
        .set("previous_billing_date", data.get("previous_billing_date"))
        .set("cancelled_at", data.get("cancelled_at"))
        .set(
            "cancel_at_next_billing_date",
            data.get("cancel_at_next_billing_date"),
        )
        .set("trial_period_days", data.get("trial_period_days"))
        .set("expires_at", data.get("expires_at"))
        .set("created_at", data.get("created_at")))
}

fn refund(common: Object, dodo: &Envelope) -> Result<Object, Error> {
    let data = dodo.data();
    let currency = dodo.currency()?;
    Ok(common
        .set("refund_id", data.get("refund_id"))
        .set("payment_id", data.get("payment_id"))
        .set("status", data.get("status"))
        .set("amount", data.get("amount").money(currency)?)
        .set("currency", currency)
        .set("reason", data.get("reason"))
        .set("is_partial", data.get("is_partial"))
        .set("created_at", data.get("created_at")))
}

fn dispute(common: Object, dodo: &Envelope) -> Result<Object, Error> {
    let data = dodo.data();
    let currency = dodo.currency()?;
    Ok(common
        .set("dispute_id", data.get("dispute_id"))
        .set("payment_id", data.get("payment_id"))
        // Dodo types dispute amounts as strings of digits; numbers work too.
        .set("amount", data.get("amount").money(currency)?)
        .set("currency", currency)
        .set("status", data.get("dispute_status"))
        .set("stage", data.get("dispute_stage"))
        .set("reason", data.get("reason"))
        .set("remarks", data.get("remarks").or(""))
        .set("created_at", data.get("created_at")))
}

fn license_key(common: Object, dodo: &Envelope) -> Object {
    let data = dodo.data();
    common
        .set("license_key_id", data.get("id"))
        .set("license_key", data.get("key"))
        .set("status", data.get("status"))
        .set("product_id", data.get("product_id"))
        .set("payment_id", data.get("payment_id"))
        .set("subscription_id", data.get("subscription_id"))
        .set("activations_limit", data.get("activations_limit"))
        .set("instances_count", data.get("instances_count"))
        .set("expires_at", data.get("expires_at"))
        .set("created_at", data.get("created_at"))
}

/// The delivery key, hashed to `sha256:<hex>` in the (unlikely) case that
/// it is long enough to crowd SendGrid's 10,000-byte `custom_args` limit.
fn delivery_key(key: &str) -> String {
    if key.len() <= MAX_DELIVERY_KEY {
        key.to_owned()
    } else {
        format!("sha256:{}", sha256_hex(key))
    }
}

/// At most `max` characters of `text`, the last being `…` when it was cut.
fn cut_chars(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_owned(),
        Some(_) => {
            let end = text.char_indices().nth(max - 1).map_or(0, |(i, _)| i);
            format!("{}…", &text[..end])
        }
    }
}

#[cfg(test)]
mod tests;
