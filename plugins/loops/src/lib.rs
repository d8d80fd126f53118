//! Loops: Dodo Payments events become Loops events, which trigger Loops'
//! transactional e-mails (payment confirmation, payment failed, welcome).
//!
//! The mapping is the table in this crate's README.md (the contract is
//! hookwasm's `plugins.md`).

use hookwasm_sdk::ids::sha256_hex;
use hookwasm_sdk::prelude::*;
use hookwasm_sdk::url::percent_encode;

/// Loops' event endpoint, used when the endpoint configures no `url`.
pub const DEFAULT_URL: &str = "https://app.loops.so/api/v1/events/send";

/// Loops refuses an `Idempotency-Key` longer than this.
const MAX_IDEMPOTENCY_KEY: usize = 100;

/// The Loops plugin.
pub struct Loops;

hookwasm_sdk::plugin!(
    Loops,
    name = "loops",
    description = "Dodo Payments events to Loops events (transactional e-mail)",
    default_url = DEFAULT_URL,
    form = include_str!("../form.json"),
);

impl Plugin for Loops {
    fn transform(event: &Event) -> Result<Outcome, Error> {
        let event_name = match event.event_type.as_str() {
            "payment.succeeded" => "payment_confirmation",
            "payment.failed" => "payment_failed",
            "subscription.active" => "subscription_welcome",
            other => {
                return Ok(Outcome::skip(format!(
                    "loops maps payment.succeeded, payment.failed and subscription.active, not {other}"
                )));
            }
        };
        let dodo = event.envelope()?;
        let properties = match event_name {
            "payment_confirmation" => payment_confirmation(&dodo)?,
            "payment_failed" => payment_failed(&dodo, event.setting("retry_link"))?,
            _ => subscription_welcome(&dodo)?,
        };
        let body = recipient(&dodo)?
            .set("eventName", event_name)
            .set("eventProperties", properties);

        let url = event
            .endpoint_url
            .as_deref()
            .filter(|url| !url.is_empty())
            .unwrap_or(DEFAULT_URL);
        Ok(Request::post(url)
            .header("idempotency-key", idempotency_key(&event.delivery_key))
            .json(body)
            .into())
    }
}

/// `email`, or `userId` when the customer has no e-mail address.
fn recipient(dodo: &Envelope) -> Result<Object, Error> {
    let customer = dodo.customer();
    if let Some(email) = customer.get("email").non_empty_str()? {
        return Ok(Object::new().set("email", email));
    }
    if let Some(customer_id) = customer.get("customer_id").non_empty_str()? {
        return Ok(Object::new().set("userId", customer_id));
    }
    Err(Error::missing("data.customer.email"))
}

fn payment_confirmation(dodo: &Envelope) -> Result<Object, Error> {
    let data = dodo.data();
    let currency = dodo.currency()?;
    Ok(Object::new()
        .set("customer_name", data.field("customer.name"))
        .set("payment_id", data.get("payment_id"))
        .set("amount", data.get("total_amount").money(currency)?)
        .set("currency", currency)
        .set("payment_method", data.get("payment_method").or("unknown"))
        .set("payment_date", dodo.timestamp()))
}

fn payment_failed(dodo: &Envelope, retry_link: Option<&str>) -> Result<Object, Error> {
    let data = dodo.data();
    let currency = dodo.currency()?;
    Ok(Object::new()
        .set("customer_name", data.field("customer.name"))
        .set("payment_id", data.get("payment_id"))
        .set("amount", data.get("total_amount").money(currency)?)
        .set("currency", currency)
        .set(
            "error_message",
            data.get("error_message").or("Payment processing failed"),
        )
        .set(
            "retry_link",
            retry_link.and_then(|t| fill_retry_link(t, dodo)),
        ))
}

fn subscription_welcome(dodo: &Envelope) -> Result<Object, Error> {
    let data = dodo.data();
    let currency = dodo.currency()?;
    Ok(Object::new()
        .set("customer_name", data.field("customer.name"))
        .set("subscription_id", data.get("subscription_id"))
        .set("product_id", data.get("product_id"))
        .set(
            "amount",
            data.get("recurring_pre_tax_amount").money(currency)?,
        )
        .set("currency", currency)
        .set("frequency", data.get("payment_frequency_interval"))
        .set("next_billing", data.get("next_billing_date")))
}

/// The `retry_link` setting with `{payment_id}` replaced; `None` when the
/// template needs a payment id and the payload has none (a link to nowhere
/// is worse than no link: the e-mail template can leave the button out).
fn fill_retry_link(template: &str, dodo: &Envelope) -> Option<String> {
    const PLACEHOLDER: &str = "{payment_id}";
    if !template.contains(PLACEHOLDER) {
        return Some(template.to_owned());
    }
    let payment_id = dodo.field("data.payment_id").non_empty_str().ok()??;
    Some(template.replace(PLACEHOLDER, &percent_encode(payment_id)))
}

/// The delivery key, which dedupes retries and replays in Loops; hashed when
/// an unusually long endpoint id would push it past Loops' limit.
fn idempotency_key(delivery_key: &str) -> String {
    if delivery_key.len() <= MAX_IDEMPOTENCY_KEY {
        delivery_key.to_owned()
    } else {
        format!("sha256:{}", sha256_hex(delivery_key))
    }
}

#[cfg(test)]
mod tests;
