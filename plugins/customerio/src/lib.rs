//! Customer.io: Dodo Payments events become Customer.io person events and
//! attribute updates (Track API v2), for campaigns and journeys.
//!
//! The mapping is the table in this crate's README.md (the contract is
//! hookwasm's `plugins.md`).

use hookwasm_sdk::ids::ulid;
use hookwasm_sdk::prelude::*;
use hookwasm_sdk::url::origin;

/// Customer.io's US data centre, used when the endpoint configures no `url`.
pub const DEFAULT_BASE: &str = "https://track.customer.io";

/// The Customer.io plugin.
pub struct CustomerIo;

hookwasm_sdk::plugin!(
    CustomerIo,
    name = "customerio",
    description = "Dodo Payments events to Customer.io people and events (Track API v2)",
    default_url = DEFAULT_BASE,
    form = include_str!("../form.json"),
);

impl Plugin for CustomerIo {
    fn transform(event: &Event) -> Result<Outcome, Error> {
        let mapped = matches!(
            event.event_type.as_str(),
            "payment.succeeded" | "subscription.active" | "subscription.cancelled"
        );
        if !mapped {
            return Ok(Outcome::skip(format!(
                "customerio maps payment.succeeded, subscription.active and subscription.cancelled, not {}",
                event.event_type
            )));
        }
        let base = base_url(event)?;
        let dodo = event.envelope()?;
        let person = Person {
            identifiers: identifiers(&dodo)?,
            timestamp: dodo.timestamp().unix_seconds()?,
            event_id: event_id(&dodo, &event.delivery_key)?,
        };

        let (path, body) = match event.event_type.as_str() {
            "payment.succeeded" => ("/api/v2/batch", payment_completed(&dodo, &person)?),
            "subscription.active" => ("/api/v2/entity", subscription_started(&dodo, &person)?),
            _ => ("/api/v2/entity", subscription_cancelled(&dodo, &person)),
        };
        Ok(Request::post(format!("{base}{path}")).json(body).into())
    }
}

/// What every operation about this event's customer carries.
struct Person {
    identifiers: Object,
    /// Unix seconds of the event, so Customer.io orders operations by when
    /// they happened rather than when they arrived.
    timestamp: i64,
    /// The `event` operation's ULID: Customer.io dedupes on it.
    event_id: String,
}

impl Person {
    fn op(&self, action: &str) -> Object {
        Object::new()
            .set("type", "person")
            .set("identifiers", self.identifiers.clone())
            .set("action", action)
            .set("timestamp", self.timestamp)
    }

    /// A custom event: `action: "event"` plus its `name` (the seed examples'
    /// `action: "payment_completed"` is not a Track v2 action).
    fn event(&self, name: &str, attributes: Object) -> Object {
        self.op("event")
            .set("name", name)
            .set("id", self.event_id.as_str())
            .set("attributes", attributes)
    }
}

/// The origin of the endpoint URL (EU accounts configure
/// `https://track-eu.customer.io`), else the US data centre.
fn base_url(event: &Event) -> Result<String, Error> {
    match event.endpoint_url.as_deref().filter(|url| !url.is_empty()) {
        None => Ok(DEFAULT_BASE.to_owned()),
        Some(url) => origin(url)
            .ok_or_else(|| Error::new(format!("the endpoint url {url:?} is not an absolute URL"))),
    }
}

/// `{"id": customer_id}`, or `{"email": …}` for a customer without an id.
fn identifiers(dodo: &Envelope) -> Result<Object, Error> {
    let customer = dodo.customer();
    if let Some(id) = customer.get("customer_id").non_empty_str()? {
        return Ok(Object::new().set("id", id));
    }
    if let Some(email) = customer.get("email").non_empty_str()? {
        return Ok(Object::new().set("email", email));
    }
    Err(Error::missing("data.customer.customer_id"))
}

/// A ULID of the event time and the delivery key: the same for every retry
/// and replay of this delivery, so Customer.io records the event once.
fn event_id(dodo: &Envelope, delivery_key: &str) -> Result<String, Error> {
    let millis = dodo.timestamp().unix_millis()?;
    ulid(millis, delivery_key)
        .ok_or_else(|| Error::invalid("timestamp", "a date-time from 1970 on"))
}

/// `payment.succeeded`: the customer's latest payment as attributes, and the
/// payment as an event, in one batch.
fn payment_completed(dodo: &Envelope, person: &Person) -> Result<Object, Error> {
    let data = dodo.data();
    let currency = dodo.currency()?;
    let amount = data.get("total_amount").money(currency)?;
    let method = data.get("payment_method").or("unknown");

    let identify = person.op("identify").set(
        "attributes",
        Object::new()
            .set("email", data.field("customer.email"))
            .set("name", data.field("customer.name"))
            .set("last_payment_method", method.clone())
            .set("last_payment_amount", amount.clone())
            .set("last_payment_currency", currency)
            .set("last_payment_date", dodo.timestamp()),
    );
    let event = person.event(
        "payment_completed",
        Object::new()
            .set("email", data.field("customer.email"))
            .set("name", data.field("customer.name"))
            .set("payment_amount", amount)
            .set("payment_method", method)
            .set("payment_id", data.get("payment_id"))
            .set("currency", currency),
    );
    Ok(Object::new().set("batch", json!([Value::from(identify), Value::from(event)])))
}

fn subscription_started(dodo: &Envelope, person: &Person) -> Result<Object, Error> {
    let data = dodo.data();
    let currency = dodo.currency()?;
    Ok(person.event(
        "subscription_started",
        Object::new()
            .set("email", data.field("customer.email"))
            .set("subscription_id", data.get("subscription_id"))
            .set("product_id", data.get("product_id"))
            .set(
                "amount",
                data.get("recurring_pre_tax_amount").money(currency)?,
            )
            .set("currency", currency)
            .set("frequency", data.get("payment_frequency_interval"))
            .set("next_billing", data.get("next_billing_date")),
    ))
}

fn subscription_cancelled(dodo: &Envelope, person: &Person) -> Object {
    let data = dodo.data();
    person.event(
        "subscription_cancelled",
        Object::new()
            .set("email", data.field("customer.email"))
            .set("subscription_id", data.get("subscription_id"))
            .set("cancelled_at", data.get("cancelled_at"))
            .set(
                "cancel_at_next_billing",
                data.get("cancel_at_next_billing_date"),
            ),
    )
}

#[cfg(test)]
mod tests;
