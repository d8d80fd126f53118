//! HubSpot: Dodo Payments events become HubSpot custom event occurrences
//! (`POST /events/v3/send`) on the customer's contact, found by e-mail, so
//! that payments, refunds, disputes and subscription changes show on the
//! contact's timeline and can drive workflows, lists and reports.
//!
//! The mapping is the table in this crate's README.md.

use hookwasm_sdk::ids::{NAMESPACE_URL, uuid_v5};
use hookwasm_sdk::prelude::*;

/// HubSpot's custom event endpoint, used when the endpoint configures no `url`.
pub const DEFAULT_URL: &str = "https://api.hubapi.com/events/v3/send";

/// HubSpot refuses a non-URL property value longer than this many characters
/// (it counts UTF-16 code units, as Java does; a cut to this many units is
/// within the limit however HubSpot counts).
const MAX_PROPERTY_CHARS: usize = 256;

/// HubSpot limits an event's internal name (the part after `pe{HubID}_`).
const MAX_EVENT_NAME_CHARS: usize = 50;

/// The HubSpot plugin.
pub struct HubSpot;

hookwasm_sdk::plugin!(
    HubSpot,
    name = "hubspot",
    description = "Dodo Payments events to HubSpot custom events on the customer's contact",
    default_url = DEFAULT_URL,
    form = include_str!("../form.json"),
);

/// The kinds of Dodo event this plugin maps, by the event type's first part.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Family {
    Payment,
    Refund,
    Dispute,
    Subscription,
}

impl Family {
    fn of(event_type: &str) -> Option<Family> {
        let (family, rest) = event_type.split_once('.')?;
        if rest.is_empty() {
            return None;
        }
        match family {
            "payment" => Some(Family::Payment),
            "refund" => Some(Family::Refund),
            "dispute" => Some(Family::Dispute),
            "subscription" => Some(Family::Subscription),
            _ => None,
        }
    }
}

impl Plugin for HubSpot {
    fn transform(event: &Event) -> Result<Outcome, Error> {
        let event_type = event.event_type.as_str();
        let Some(family) = Family::of(event_type) else {
            let reason = if event_type.starts_with("license_key.") {
                format!(
                    "{event_type} carries no customer e-mail address, which HubSpot needs to find the contact"
                )
            } else {
                format!(
                    "hubspot maps payment.*, refund.*, dispute.* and subscription.* events, not {event_type}"
                )
            };
            return Ok(Outcome::skip(reason));
        };
        let event_name = event_name(event)?;
        let dodo = event.envelope()?;
        let email = dodo
            .customer()
            .get("email")
            .non_empty_str()?
            .ok_or_else(|| Error::missing("data.customer.email"))?;
        // Required: a retry hours later must not be dated by its arrival.
        dodo.timestamp().unix_millis()?;
        let occurred_at = dodo.timestamp().require_str()?;

        let properties = match family {
            Family::Payment => payment(&dodo, event_type)?,
            Family::Refund => refund(&dodo, event_type)?,
            Family::Dispute => dispute(&dodo, event_type)?,
            Family::Subscription => subscription(&dodo, event_type)?,
        };
        let body = Object::new()
            .set("eventName", event_name)
            .set("email", email)
            .set("occurredAt", occurred_at)
            // HubSpot accepts the first occurrence with a given uuid and
            // rejects the others for a year: retries and replays land once.
            .set("uuid", uuid_v5(NAMESPACE_URL, &event.delivery_key))
            .set("properties", properties.0);

        let url = event
            .endpoint_url
            .as_deref()
            .filter(|url| !url.is_empty())
            .unwrap_or(DEFAULT_URL);
        Ok(Request::post(url).json(body).into())
    }
}

/// The event's fully qualified name: the setting `event.<type>` when set,
/// else `pe{portal_id}_dodo_<type with "_" for ".">`.
fn event_name(event: &Event) -> Result<String, Error> {
    let event_type = event.event_type.as_str();
    let key = format!("event.{event_type}");
    if let Some(name) = event.setting(&key).map(str::trim).filter(|n| !n.is_empty()) {
        return Ok(name.to_owned());
    }
    let portal_id = event
        .setting("portal_id")
        .map(str::trim)
        .filter(|id| !id.is_empty())
        .ok_or_else(|| {
            Error::new(format!(
                "no HubSpot event name for {event_type}: set the portal_id setting (your HubID) or the {key} setting"
            ))
        })?;
    if !portal_id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::new(format!(
            "the portal_id setting {portal_id:?} is not a HubID (digits only)"
        )));
    }
    // Internal names are lowercase letters, digits and underscores.
    let internal: String = format!("dodo_{event_type}")
        .chars()
        .map(|c| match c.to_ascii_lowercase() {
            c @ ('a'..='z' | '0'..='9') => c,
            _ => '_',
        })
        .collect();
    if internal.len() > MAX_EVENT_NAME_CHARS {
        return Err(Error::new(format!(
            "{internal} is longer than HubSpot's {MAX_EVENT_NAME_CHARS}-character event name limit; set the {key} setting"
        )));
    }
    Ok(format!("pe{portal_id}_{internal}"))
}

/// Event properties: every value a string of at most 256 characters (HubSpot
/// takes strings for its string, number, enumeration and datetime types).
#[derive(Default)]
struct Properties(Object);

impl Properties {
    fn new(event_type: &str, dodo: &Envelope) -> Result<Properties, Error> {
        let customer = dodo.customer();
        let mut props = Properties::default();
        props.put("event_type", Some(event_type));
        props.text("customer_id", &customer.get("customer_id"))?;
        props.text("customer_name", &customer.get("name"))?;
        Ok(props)
    }

    fn put(&mut self, key: &str, value: Option<&str>) {
        self.0.insert(key, value.map(cut));
    }

    /// A string field, cut to HubSpot's limit; left out when missing.
    fn text(&mut self, key: &str, field: &Field) -> Result<&mut Self, Error> {
        self.put(key, field.str()?);
        Ok(self)
    }

    /// Like [`Properties::text`], with a default for missing or empty values.
    fn text_or(&mut self, key: &str, field: &Field, default: &str) -> Result<&mut Self, Error> {
        let value = field.str()?.filter(|s| !s.is_empty()).unwrap_or(default);
        self.put(key, Some(value));
        Ok(self)
    }

    /// A boolean as `"true"` / `"false"` (HubSpot has no boolean event property).
    fn flag(&mut self, key: &str, field: &Field) -> Result<&mut Self, Error> {
        self.put(key, field.bool()?.map(|b| if b { "true" } else { "false" }));
        Ok(self)
    }

    /// An amount in minor units as a decimal string in `currency`.
    fn money(&mut self, key: &str, field: &Field, currency: &str) -> Result<&mut Self, Error> {
        self.0.insert(key, field.money(currency)?);
        Ok(self)
    }
}

/// `text` cut to 256 UTF-16 code units, ending with `…` when cut.
fn cut(text: &str) -> String {
    if text.encode_utf16().count() <= MAX_PROPERTY_CHARS {
        return text.to_owned();
    }
    let mut units = 0;
    let mut out = String::new();
    for c in text.chars() {
        units += c.len_utf16();
        // Leave one unit for the ellipsis.
        if units > MAX_PROPERTY_CHARS - 1 {
            break;
        }
        out.push(c);
    }
    out.push('…');
    out
}

fn payment(dodo: &Envelope, event_type: &str) -> Result<Properties, Error> {
    let data = dodo.data();
    let currency = dodo.currency()?;
    let mut props = Properties::new(event_type, dodo)?;
    props
        .text("payment_id", &data.get("payment_id"))?
        .money("amount", &data.get("total_amount"), currency)?
        .text_or("payment_method", &data.get("payment_method"), "unknown")?
        .text("status", &data.get("status"))?
        .text("error_code", &data.get("error_code"))?
        .text("subscription_id", &data.get("subscription_id"))?
        .text("product_id", &data.field("product_cart[0].product_id"))?;
    props.put("currency", Some(currency));
    if event_type == "payment.failed" {
        props.text_or(
            "error_message",
            &data.get("error_message"),
            "Payment processing failed",
        )?;
    } else {
        props.text("error_message", &data.get("error_message"))?;
    }
    Ok(props)
}

fn refund(dodo: &Envelope, event_type: &str) -> Result<Properties, Error> {
    let data = dodo.data();
    let currency = dodo.currency()?;
    let mut props = Properties::new(event_type, dodo)?;
    props
        .text("refund_id", &data.get("refund_id"))?
        .text("payment_id", &data.get("payment_id"))?
        .money("amount", &data.get("amount"), currency)?
        .text("status", &data.get("status"))?
        .text("reason", &data.get("reason"))?
        .flag("is_partial", &data.get("is_partial"))?;
    props.put("currency", Some(currency));
    Ok(props)
}

fn dispute(dodo: &Envelope, event_type: &str) -> Result<Properties, Error> {
    let data = dodo.data();
    let currency = dodo.currency()?;
    let mut props = Properties::new(event_type, dodo)?;
    props
        .text("dispute_id", &data.get("dispute_id"))?
        .text("payment_id", &data.get("payment_id"))?
        // Dodo types dispute amounts as strings of digits; numbers work too.
        .money("amount", &data.get("amount"), currency)?
        .text("status", &data.get("dispute_status"))?
        .text("stage", &data.get("dispute_stage"))?
        .text("reason", &data.get("reason"))?
        .text_or("remarks", &data.get("remarks"), "")?;
    props.put("currency", Some(currency));
    Ok(props)
}

fn subscription(dodo: &Envelope, event_type: &str) -> Result<Properties, Error> {
    let data = dodo.data();
    let currency = dodo.currency()?;
    let mut props = Properties::new(event_type, dodo)?;
    props
        .text("subscription_id", &data.get("subscription_id"))?
        .text("product_id", &data.get("product_id"))?
        .money("amount", &data.get("recurring_pre_tax_amount"), currency)?
        .text("status", &data.get("status"))?
        .text("frequency", &data.get("payment_frequency_interval"))?
        .text("next_billing_date", &data.get("next_billing_date"))?
        .text("cancelled_at", &data.get("cancelled_at"))?
        .flag(
            "cancel_at_next_billing_date",
            &data.get("cancel_at_next_billing_date"),
        )?;
    props.put("currency", Some(currency));
    Ok(props)
}

#[cfg(test)]
mod tests;
