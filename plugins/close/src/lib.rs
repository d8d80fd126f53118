//! Close: Dodo Payments events become Notes on the customer's lead in Close
//! CRM (`POST /api/v1/activity/note/`), or, for the events that introduce a
//! customer, a new Lead with the customer as its contact
//! (`POST /api/v1/lead/`).
//!
//! A plugin makes one request per event, and every Close activity needs the
//! lead's id: finding the lead by e-mail would be a second request (a
//! search). So the lead id comes from the payload (Dodo metadata the
//! merchant set); without one, the documented request that needs no lookup,
//! creating a lead, is made for the event types the endpoint chooses.
//!
//! The mapping is the table in this crate's README.md.

use hookwasm_sdk::prelude::*;
use hookwasm_sdk::url::origin;

/// Close's API origin, used when the endpoint configures no `url`.
pub const DEFAULT_URL: &str = "https://api.close.com";

const NOTE_PATH: &str = "/api/v1/activity/note/";
const LEAD_PATH: &str = "/api/v1/lead/";

/// The metadata key holding the Close lead id, unless set otherwise.
const DEFAULT_LEAD_ID_KEY: &str = "close_lead_id";

/// The event types that create a lead when there is no lead id, unless set
/// otherwise.
const DEFAULT_NEW_LEAD_ON: &str = "subscription.active";

/// Close documents no length limit for notes or lead fields; free text from
/// the payload is cut to this many characters to keep the timeline readable.
const MAX_TEXT_CHARS: usize = 1_000;

/// The Close plugin.
pub struct Close;

hookwasm_sdk::plugin!(
    Close,
    name = "close",
    description = "Dodo Payments events to Close CRM notes on the customer's lead, or new leads",
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
    LicenseKey,
}

impl Family {
    fn of(event_type: &str) -> Option<(Family, &str)> {
        let (family, action) = event_type.split_once('.')?;
        if action.is_empty() {
            return None;
        }
        let family = match family {
            "payment" => Family::Payment,
            "refund" => Family::Refund,
            "dispute" => Family::Dispute,
            "subscription" => Family::Subscription,
            "license_key" => Family::LicenseKey,
            _ => return None,
        };
        Some((family, action))
    }
}

impl Plugin for Close {
    fn transform(event: &Event) -> Result<Outcome, Error> {
        let event_type = event.event_type.as_str();
        let Some((family, action)) = Family::of(event_type) else {
            return Ok(Outcome::skip(format!(
                "close maps payment.*, refund.*, dispute.*, subscription.* and license_key.* events, not {event_type}"
            )));
        };
        let base = base_url(event)?;
        let key = lead_id_key(event)?;
        let dodo = event.envelope()?;
        let lead_id = lead_id(&dodo, key)?;
        if lead_id.is_none() && !new_lead_on(event).any(|t| t == event_type) {
            return Ok(Outcome::skip(format!(
                "no Close lead id at data.customer.metadata.{key} or data.metadata.{key}, and \
                 {event_type} is not in the new_lead_on setting: a note needs its lead's id \
                 (finding the lead by e-mail would take a second request)"
            )));
        }
        let note = summary(&dodo, family, action)?.text(event_type, &event.delivery_key);
        let Some(lead_id) = lead_id else {
            let body = lead(&dodo, event, note)?;
            return Ok(Request::post(format!("{base}{LEAD_PATH}"))
                .json(body)
                .into());
        };
        let body = Object::new()
            .set("lead_id", lead_id)
            // Plain text: Close escapes it into note_html, so nothing in the
            // payload is read as HTML.
            .set("note", note)
            .set("activity_at", timestamp(&dodo)?);
        Ok(Request::post(format!("{base}{NOTE_PATH}"))
            .json(body)
            .into())
    }
}

/// The origin of the endpoint URL, else Close's API.
fn base_url(event: &Event) -> Result<String, Error> {
    match event.endpoint_url.as_deref().filter(|url| !url.is_empty()) {
        None => Ok(DEFAULT_URL.to_owned()),
        Some(url) => origin(url)
            .ok_or_else(|| Error::new(format!("the endpoint url {url:?} is not an absolute URL"))),
    }
}

/// The `lead_id_key` setting: the metadata key holding the Close lead id.
fn lead_id_key(event: &Event) -> Result<&str, Error> {
    match event.setting("lead_id_key").map(str::trim) {
        None | Some("") => Ok(DEFAULT_LEAD_ID_KEY),
        Some(key) if key.contains(['.', '[', ']']) => Err(Error::new(format!(
            "the lead_id_key setting {key:?} must be a metadata key, without '.' or brackets"
        ))),
        Some(key) => Ok(key),
    }
}

/// The event types of the `new_lead_on` setting (comma-separated; `none` for
/// none), or the default when it is unset or empty (as a form leaves it).
fn new_lead_on(event: &Event) -> impl Iterator<Item = &str> {
    let types = match event.setting("new_lead_on").map(str::trim) {
        None | Some("") => DEFAULT_NEW_LEAD_ON,
        Some(types) if types.eq_ignore_ascii_case("none") => "",
        Some(types) => types,
    };
    types.split(',').map(str::trim).filter(|t| !t.is_empty())
}

/// The Close lead id in the customer's metadata, else in the payment's or
/// subscription's metadata.
fn lead_id<'a>(dodo: &'a Envelope, key: &str) -> Result<Option<&'a str>, Error> {
    for field in [
        dodo.customer().get("metadata").get(key),
        dodo.data().get("metadata").get(key),
    ] {
        if let Some(id) = field.non_empty_str()? {
            let id = id.trim();
            if !id.starts_with("lead_") || id.contains(char::is_whitespace) {
                return Err(Error::invalid(field.path(), "a Close lead id (lead_…)"));
            }
            return Ok(Some(id));
        }
    }
    Ok(None)
}

/// The envelope's `timestamp`, unchanged, when it is a valid date-time: the
/// note is placed on the timeline when the event happened.
fn timestamp<'a>(dodo: &'a Envelope) -> Result<Option<&'a str>, Error> {
    let field = dodo.timestamp();
    if !field.is_present() {
        return Ok(None);
    }
    field.unix_millis()?;
    field.str()
}

/// A new lead: named after the customer, the customer as its contact, the
/// event's summary as its description.
fn lead(dodo: &Envelope, event: &Event, description: String) -> Result<Object, Error> {
    let customer = dodo.customer();
    let email = customer.get("email").non_empty_str()?;
    let name = customer.get("name").non_empty_str()?;
    let phone = customer.get("phone_number").non_empty_str()?;
    let lead_name = name
        .or(email)
        .ok_or_else(|| Error::missing("data.customer.email"))?;

    let contact = Object::new()
        .set("name", name.map(cut))
        .set(
            "emails",
            email.map(|email| json!([{"type": "office", "email": email}])),
        )
        .set(
            "phones",
            phone.map(|phone| json!([{"type": "office", "phone": phone}])),
        );
    let mut lead = Object::new()
        .set("name", cut(lead_name))
        .set("description", description)
        .set("contacts", json!([Value::from(contact)]));
    if let Some(status) = setting(event, "lead_status_id") {
        lead.insert("status_id", status);
    }
    if let Some(field_id) = setting(event, "customer_id_field") {
        if !field_id.starts_with("cf_") {
            return Err(Error::new(format!(
                "the customer_id_field setting {field_id:?} is not a Close custom field id (cf_…)"
            )));
        }
        let customer_id = customer
            .get("customer_id")
            .non_empty_str()?
            .or(dodo.field("data.customer_id").non_empty_str()?);
        lead.insert(&format!("custom.{field_id}"), customer_id);
    }
    Ok(lead)
}

fn setting<'a>(event: &'a Event, key: &str) -> Option<&'a str> {
    event.setting(key).map(str::trim).filter(|v| !v.is_empty())
}

/// What a note says: a headline and `Label: value` lines.
struct Summary {
    headline: String,
    lines: Vec<(&'static str, String)>,
}

impl Summary {
    fn new(object: &str, action: &str, amount: Option<String>) -> Summary {
        let mut headline = format!("{object} {}", action.replace(['_', '.'], " "));
        if let Some(amount) = amount {
            headline.push_str(": ");
            headline.push_str(&amount);
        }
        Summary {
            headline,
            lines: Vec::new(),
        }
    }

    /// A line for a string field, cut to [`MAX_TEXT_CHARS`]; none when missing.
    fn line(&mut self, label: &'static str, field: &Field) -> Result<&mut Self, Error> {
        if let Some(value) = field.non_empty_str()? {
            self.lines.push((label, cut(value)));
        }
        Ok(self)
    }

    fn line_or(
        &mut self,
        label: &'static str,
        field: &Field,
        default: &str,
    ) -> Result<&mut Self, Error> {
        let value = field.non_empty_str()?.unwrap_or(default);
        self.lines.push((label, cut(value)));
        Ok(self)
    }

    fn yes_no(&mut self, label: &'static str, field: &Field) -> Result<&mut Self, Error> {
        if let Some(flag) = field.bool()? {
            self.lines
                .push((label, if flag { "yes" } else { "no" }.to_owned()));
        }
        Ok(self)
    }

    /// The note: headline, lines, and the Dodo event and delivery key (Close
    /// has no idempotency key, so a duplicate after a retry is recognisable).
    fn text(&self, event_type: &str, delivery_key: &str) -> String {
        let mut text = self.headline.clone();
        for (label, value) in &self.lines {
            text.push('\n');
            text.push_str(label);
            text.push_str(": ");
            text.push_str(value);
        }
        text.push_str("\n\nDodo Payments ");
        text.push_str(event_type);
        text.push_str(" · delivery ");
        text.push_str(delivery_key);
        text
    }
}

/// `text` cut to [`MAX_TEXT_CHARS`] characters, ending with `…` when cut.
fn cut(text: &str) -> String {
    match text.char_indices().nth(MAX_TEXT_CHARS) {
        None => text.to_owned(),
        Some(_) => {
            let end = text
                .char_indices()
                .nth(MAX_TEXT_CHARS - 1)
                .map_or(text.len(), |(i, _)| i);
            format!("{}…", &text[..end])
        }
    }
}

/// `"21.59 USD"`, or `None` without an amount.
fn amount(field: &Field, currency: &str) -> Result<Option<String>, Error> {
    Ok(field
        .money(currency)?
        .map(|amount| format!("{amount} {currency}")))
}

fn summary(dodo: &Envelope, family: Family, action: &str) -> Result<Summary, Error> {
    let data = dodo.data();
    let currency = dodo.currency()?;
    let mut summary = match family {
        Family::Payment => {
            let mut s = Summary::new(
                "Payment",
                action,
                amount(&data.get("total_amount"), currency)?,
            );
            s.line("Payment", &data.get("payment_id"))?.line_or(
                "Method",
                &data.get("payment_method"),
                "unknown",
            )?;
            if action == "failed" {
                s.line_or(
                    "Error",
                    &data.get("error_message"),
                    "Payment processing failed",
                )?;
            } else {
                s.line("Error", &data.get("error_message"))?;
            }
            s.line("Error code", &data.get("error_code"))?
                .line("Product", &data.field("product_cart[0].product_id"))?
                .line("Subscription", &data.get("subscription_id"))?;
            s
        }
        Family::Refund => {
            let mut s = Summary::new("Refund", action, amount(&data.get("amount"), currency)?);
            s.line("Refund", &data.get("refund_id"))?
                .line("Payment", &data.get("payment_id"))?
                .line("Reason", &data.get("reason"))?
                .yes_no("Partial", &data.get("is_partial"))?;
            s
        }
        Family::Dispute => {
            // Dodo types dispute amounts as strings of digits; numbers work too.
            let mut s = Summary::new("Dispute", action, amount(&data.get("amount"), currency)?);
            s.line("Dispute", &data.get("dispute_id"))?
                .line("Payment", &data.get("payment_id"))?
                .line("Status", &data.get("dispute_status"))?
                .line("Stage", &data.get("dispute_stage"))?
                .line("Reason", &data.get("reason"))?
                .line("Remarks", &data.get("remarks"))?;
            s
        }
        Family::Subscription => {
            let plan = amount(&data.get("recurring_pre_tax_amount"), currency)?;
            let interval = data.get("payment_frequency_interval").non_empty_str()?;
            let plan = match (plan, interval) {
                (Some(plan), Some(interval)) => Some(format!("{plan} / {}", cut(interval))),
                (plan, _) => plan,
            };
            let mut s = Summary::new("Subscription", action, plan);
            s.line("Subscription", &data.get("subscription_id"))?
                .line("Product", &data.get("product_id"))?
                .line("Status", &data.get("status"))?
                .line("Next billing", &data.get("next_billing_date"))?
                .line("Cancelled at", &data.get("cancelled_at"))?
                .yes_no(
                    "Cancels at next billing",
                    &data.get("cancel_at_next_billing_date"),
                )?;
            s
        }
        Family::LicenseKey => {
            // Never the key itself: a secret of the customer's.
            let mut s = Summary::new("License key", action, None);
            s.line("License key id", &data.get("id"))?
                .line("Product", &data.get("product_id"))?
                .line("Payment", &data.get("payment_id"))?
                .line("Status", &data.get("status"))?
                .line("Expires", &data.get("expires_at"))?;
            s
        }
    };
    let customer = dodo.customer();
    let name = customer.get("name").non_empty_str()?;
    let email = customer.get("email").non_empty_str()?;
    let who = match (name, email) {
        (Some(name), Some(email)) => Some(format!("{} <{}>", cut(name), cut(email))),
        (Some(one), None) | (None, Some(one)) => Some(cut(one)),
        (None, None) => None,
    };
    if let Some(who) = who {
        summary.lines.push(("Customer", who));
    }
    let customer_id = customer
        .get("customer_id")
        .non_empty_str()?
        .or(data.get("customer_id").non_empty_str()?);
    if let Some(id) = customer_id {
        summary.lines.push(("Customer id", cut(id)));
    }
    Ok(summary)
}

#[cfg(test)]
mod tests;
