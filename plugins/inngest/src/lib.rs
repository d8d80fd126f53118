//! Inngest: Dodo Payments events become Inngest events, which trigger the
//! durable functions that listen for them.
//!
//! The mapping is the table in this crate's README.md (the contract is
//! hookwasm's `plugins.md`).

use hookwasm_sdk::prelude::*;

/// The Inngest plugin.
pub struct Inngest;

hookwasm_sdk::plugin!(
    Inngest,
    name = "inngest",
    description = "Dodo Payments events to Inngest events (durable functions)",
    form = include_str!("../form.json"),
);

impl Plugin for Inngest {
    fn transform(event: &Event) -> Result<Outcome, Error> {
        // The event key is part of the URL: no default.
        let url = event.require_endpoint_url()?;
        let dodo = event.envelope()?;
        let event_type = event.event_type.as_str();
        let (name, data, user) = match event_type {
            "payment.succeeded" => ("payment.succeeded", payment(&dodo)?, user(&dodo)),
            "subscription.active" => (
                "subscription.started",
                subscription_started(&dodo)?,
                user(&dodo),
            ),
            "subscription.cancelled" => (
                "subscription.cancelled",
                subscription_cancelled(&dodo),
                user(&dodo),
            ),
            _ if event_type.starts_with("dispute.") => {
                let user =
                    Object::new().set("email", dodo.field("data.customer.email").or("unknown"));
                (event_type, dispute(&dodo, event_type)?, user)
            }
            // Anything else keeps its type as name and its data unchanged.
            _ => (event_type, dodo.data().or(json!({})), user(&dodo)),
        };
        let prefix = event.setting("name_prefix").unwrap_or_default();
        let body = Object::new()
            .set("name", format!("{prefix}{name}"))
            // Inngest runs functions once per event id (within 24 h), so
            // retries and replays of this delivery run them once.
            .set("id", event.delivery_key.as_str())
            // Milliseconds: Inngest reads seconds as January 1970 and refuses them.
            .set("ts", dodo.timestamp().unix_millis()?)
            .set("data", data)
            .set("user", user);
        Ok(Request::post(url).json(body).into())
    }
}

/// `{"email": …}` when the customer has an e-mail address, else `{}`.
fn user(dodo: &Envelope) -> Object {
    Object::new().set("email", dodo.field("data.customer.email"))
}

fn payment(dodo: &Envelope) -> Result<Value, Error> {
    let data = dodo.data();
    let currency = dodo.currency()?;
    Ok(Object::new()
        .set("payment_id", data.get("payment_id"))
        .set("amount", data.get("total_amount").money(currency)?)
        .set("currency", currency)
        .set("customer_email", data.field("customer.email"))
        .set("customer_name", data.field("customer.name"))
        .set("payment_method", data.get("payment_method").or("unknown"))
        .into())
}

fn subscription_started(dodo: &Envelope) -> Result<Value, Error> {
    let data = dodo.data();
    let currency = dodo.currency()?;
    Ok(Object::new()
        .set("subscription_id", data.get("subscription_id"))
        .set("customer_email", data.field("customer.email"))
        .set("customer_name", data.field("customer.name"))
        .set("product_id", data.get("product_id"))
        .set(
            "amount",
            data.get("recurring_pre_tax_amount").money(currency)?,
        )
        .set("currency", currency)
        .set("frequency", data.get("payment_frequency_interval"))
        .set("next_billing", data.get("next_billing_date"))
        .into())
}

fn subscription_cancelled(dodo: &Envelope) -> Value {
    let data = dodo.data();
    Object::new()
        .set("subscription_id", data.get("subscription_id"))
        .set("customer_email", data.field("customer.email"))
        .set("cancelled_at", data.get("cancelled_at"))
        .set(
            "cancel_at_next_billing",
            data.get("cancel_at_next_billing_date"),
        )
        .into()
}

fn dispute(dodo: &Envelope, event_type: &str) -> Result<Value, Error> {
    let data = dodo.data();
    let currency = dodo.currency()?;
    Ok(Object::new()
        .set("dispute_id", data.get("dispute_id"))
        .set("payment_id", data.get("payment_id"))
        // Dodo types dispute amounts as strings of digits; numbers work too.
        .set("amount", data.get("amount").money(currency)?)
        .set("currency", currency)
        .set("status", data.get("dispute_status"))
        .set("stage", data.get("dispute_stage"))
        .set("remarks", data.get("remarks").or(""))
        .set("urgent", event_type == "dispute.opened")
        .into())
}

#[cfg(test)]
mod tests;
