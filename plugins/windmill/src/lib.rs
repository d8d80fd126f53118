//! Windmill: every Dodo Payments event starts a run of a Windmill flow or
//! script, whose inputs are the body's keys.
//!
//! The mapping is the table in this crate's README.md (the contract is
//! hookwasm's `plugins.md`).

use hookwasm_sdk::ids::{NAMESPACE_URL, uuid_v5};
use hookwasm_sdk::prelude::*;
use hookwasm_sdk::url::with_query_param;

/// The Windmill plugin.
pub struct Windmill;

hookwasm_sdk::plugin!(
    Windmill,
    name = "windmill",
    description = "Dodo Payments events to Windmill flow or script runs",
    form = include_str!("../form.json"),
);

impl Plugin for Windmill {
    fn transform(event: &Event) -> Result<Outcome, Error> {
        // The flow's webhook URL names the workspace and flow: no default.
        let url = event.require_endpoint_url()?;
        let dodo = event.envelope()?;
        let event_type = event.event_type.as_str();
        let inputs = match event_type {
            "payment.succeeded" => payment(&dodo, event_type)?,
            "subscription.active" => subscription_started(&dodo)?,
            "subscription.cancelled" => subscription_cancelled(&dodo),
            _ if event_type.starts_with("dispute.") => dispute(&dodo, event_type)?,
            _ => generic(&dodo, event_type),
        };
        // Windmill refuses a second job with the same id, so retries and
        // replays of this delivery run the flow once.
        let job_id = uuid_v5(NAMESPACE_URL, &event.delivery_key);
        Ok(Request::post(with_query_param(url, "job_id", &job_id))
            .json(inputs)
            .into())
    }
}

fn payment(dodo: &Envelope, event_type: &str) -> Result<Object, Error> {
    let data = dodo.data();
    let currency = dodo.currency()?;
    Ok(Object::new()
        .set("event_type", event_type)
        .set("payment_id", data.get("payment_id"))
        .set("amount", data.get("total_amount").money(currency)?)
        .set("currency", currency)
        .set("customer_email", data.field("customer.email"))
        .set("customer_name", data.field("customer.name"))
        .set("payment_method", data.get("payment_method").or("unknown"))
        .set("timestamp", dodo.timestamp())
        .set(
            "metadata",
            Object::new()
                .set("business_id", business_id(dodo))
                // Payments have no `product_id`; their products are in the cart.
                .set("product_id", data.field("product_cart[0].product_id")),
        ))
}

fn subscription_started(dodo: &Envelope) -> Result<Object, Error> {
    let data = dodo.data();
    let currency = dodo.currency()?;
    Ok(Object::new()
        .set("event_type", "subscription_started")
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
        .set("customer_id", data.field("customer.customer_id"))
        .set("timestamp", dodo.timestamp()))
}

fn subscription_cancelled(dodo: &Envelope) -> Object {
    let data = dodo.data();
    Object::new()
        .set("event_type", "subscription_cancelled")
        .set("subscription_id", data.get("subscription_id"))
        .set("customer_email", data.field("customer.email"))
        .set("cancelled_at", data.get("cancelled_at"))
        .set(
            "cancel_at_next_billing",
            data.get("cancel_at_next_billing_date"),
        )
        .set("customer_id", data.field("customer.customer_id"))
        .set("timestamp", dodo.timestamp())
}

fn dispute(dodo: &Envelope, event_type: &str) -> Result<Object, Error> {
    let data = dodo.data();
    let currency = dodo.currency()?;
    Ok(Object::new()
        .set("event_type", event_type)
        .set("dispute_id", data.get("dispute_id"))
        .set("payment_id", data.get("payment_id"))
        // Dodo types dispute amounts as strings of digits; numbers work too.
        .set("amount", data.get("amount").money(currency)?)
        .set("currency", currency)
        .set("status", data.get("dispute_status"))
        .set("stage", data.get("dispute_stage"))
        .set("remarks", data.get("remarks").or(""))
        .set("urgent", event_type == "dispute.opened")
        .set("business_id", business_id(dodo))
        .set("timestamp", dodo.timestamp()))
}

/// Any other event: its type, where and when it happened, and its `data`
/// unchanged, so a flow can take any Dodo event.
fn generic(dodo: &Envelope, event_type: &str) -> Object {
    Object::new()
        .set("event_type", event_type)
        .set("business_id", dodo.business_id())
        .set("timestamp", dodo.timestamp())
        .set("data", dodo.data())
}

/// `data.business_id`, else the envelope's (subscriptions carry none in
/// `data`).
fn business_id(dodo: &Envelope) -> Value {
    dodo.field("data.business_id")
        .or(dodo.business_id().or(Value::Null))
}

#[cfg(test)]
mod tests;
