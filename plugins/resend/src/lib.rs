//! Resend: Dodo Payments events become transactional e-mails sent with
//! Resend's `POST /emails`, either a simple built-in e-mail (a subject from
//! the settings, an HTML and a text body listing the event's details) or a
//! published Resend template filled with the event's variables.
//!
//! The mapping is the table in this crate's README.md.

use hookwasm_sdk::ids::sha256_hex;
use hookwasm_sdk::prelude::*;

/// Resend's e-mail endpoint, used when the endpoint configures no `url`.
pub const DEFAULT_URL: &str = "https://api.resend.com/emails";

/// Resend refuses an `Idempotency-Key` longer than this (characters).
const MAX_IDEMPOTENCY_KEY: usize = 256;

/// Resend's limit for a template variable's string value, in characters
/// (counted here in UTF-16 units, as JavaScript counts them, which is never
/// fewer than Unicode characters).
const MAX_VARIABLE: usize = 2_000;

/// The largest number a template variable may hold (2^53 − 1).
const MAX_NUMBER: i64 = (1 << 53) - 1;

/// Resend's limit for a tag's name and value, in (ASCII) characters.
const MAX_TAG: usize = 256;

/// Resend's limits for template variable keys.
const MAX_KEY: usize = 50;
const MAX_VARIABLES: usize = 50;
const RESERVED_KEYS: [&str; 7] = [
    "FIRST_NAME",
    "LAST_NAME",
    "EMAIL",
    "UNSUBSCRIBE_URL",
    "RESEND_UNSUBSCRIBE_URL",
    "CONTACT",
    "THIS",
];

/// The Resend plugin.
pub struct Resend;

hookwasm_sdk::plugin!(
    Resend,
    name = "resend",
    description = "Dodo Payments events to Resend e-mails (a built-in e-mail or a Resend template)",
    default_url = DEFAULT_URL,
    form = include_str!("../form.json"),
);

impl Plugin for Resend {
    fn transform(event: &Event) -> Result<Outcome, Error> {
        let event_type = event.event_type.as_str();
        let (subject_key, template_key) = settings_for(event_type);
        let subject = setting(event, &subject_key);
        let template = setting(event, &template_key);
        if subject.is_none() && template.is_none() {
            return Ok(Outcome::skip(format!(
                "resend sends only the event types that have a subject or a template; set `{subject_key}` (a built-in e-mail) or `{template_key}` (a Resend template) to send {event_type}"
            )));
        }
        let from = setting(event, "from");
        if from.is_none() && template.is_none() {
            return Err(Error::new(
                "setting `from` is missing; set it to a sender on a verified domain, e.g. `Shop <billing@shop.example>`",
            ));
        }

        let dodo = event.envelope()?;
        let Some(to) = recipient(&dodo)? else {
            return Ok(Outcome::skip(format!(
                "{event_type} carries no customer e-mail address (only data.customer_id), so there is nobody to e-mail"
            )));
        };
        let variables = variables(&dodo, event_type)?;
        let subject = subject.map(|s| fill(s, &variables));

        let mut body = Object::new()
            .set("from", from)
            .set("to", json!([to]))
            .set("subject", subject.as_deref())
            .set("reply_to", setting(event, "reply_to"))
            .set(
                "tags",
                json!([{"name": "event_type", "value": tag_value(event_type)}]),
            );
        body = match template {
            // A template cannot be combined with html or text.
            Some(id) => body.set(
                "template",
                Object::new()
                    .set("id", id)
                    .set("variables", Object::from(variables.to_json())),
            ),
            None => {
                let subject = subject.unwrap_or_default();
                body.set("html", html_body(&subject, &variables, event_type))
                    .set("text", text_body(&variables, event_type))
            }
        };

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

/// The settings for `event_type`: `payment.succeeded` →
/// (`subject_payment_succeeded`, `template_payment_succeeded`).
pub fn settings_for(event_type: &str) -> (String, String) {
    let suffix = event_type.replace(['.', '-'], "_");
    (format!("subject_{suffix}"), format!("template_{suffix}"))
}

fn setting<'a>(event: &'a Event, key: &str) -> Option<&'a str> {
    event
        .setting(key)
        .map(str::trim)
        .filter(|value| !value.is_empty())
}

/// The customer's address; `None` when the payload has no customer object
/// but a bare `data.customer_id` (license keys), which no replay can turn
/// into an address.
fn recipient<'a>(dodo: &'a Envelope) -> Result<Option<&'a str>, Error> {
    let customer = dodo.customer();
    if !customer.is_present() && dodo.field("data.customer_id").is_present() {
        return Ok(None);
    }
    customer
        .get("email")
        .non_empty_str()?
        .map(Some)
        .ok_or_else(|| Error::missing("data.customer.email"))
}

/// The event's variables, in order: names as Resend recommends them
/// (capitals), values strings (at most 2,000 characters) or numbers.
#[derive(Debug, Default)]
struct Variables(Vec<(String, Value)>);

impl Variables {
    /// Adds `key` unless the value is missing or `null`; booleans become
    /// `"true"`/`"false"`, long strings are cut, numbers beyond 2^53 − 1 and
    /// fractions are sent as text.
    fn add(&mut self, key: &str, value: impl IntoJson) {
        let value = match value.into_json() {
            None | Some(Value::Null | Value::Array(_) | Value::Object(_)) => return,
            Some(Value::String(text)) => Value::String(cut_utf16(&text, MAX_VARIABLE)),
            Some(Value::Bool(b)) => Value::String(b.to_string()),
            Some(Value::Number(n)) => match n.as_i64() {
                Some(i) if i.abs() <= MAX_NUMBER => Value::Number(n),
                _ => Value::String(n.to_string()),
            },
        };
        self.0.retain(|(k, _)| k != key);
        if self.0.len() < MAX_VARIABLES {
            self.0.push((key.to_owned(), value));
        }
    }

    fn get(&self, key: &str) -> Option<&Value> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// The value as text (numbers written out), if present.
    fn text(&self, key: &str) -> Option<String> {
        self.get(key).map(|value| match value {
            Value::String(text) => text.clone(),
            other => other.to_string(),
        })
    }

    fn to_json(&self) -> hookwasm_sdk::serde_json::Map<String, Value> {
        self.0.iter().cloned().collect()
    }
}

/// What every event has, then the fields of its kind.
fn variables(dodo: &Envelope, event_type: &str) -> Result<Variables, Error> {
    let data = dodo.data();
    let customer = dodo.customer();
    let mut v = Variables::default();
    v.add("EVENT_TYPE", event_type);
    v.add("TIMESTAMP", dodo.timestamp());
    v.add("CUSTOMER_NAME", customer.get("name"));
    v.add("CUSTOMER_EMAIL", customer.get("email"));
    v.add("CUSTOMER_ID", data.get("customer_id"));
    v.add("CUSTOMER_ID", customer.get("customer_id"));
    let currency = dodo.currency()?;
    let money = |field: &str| data.get(field).money(currency);
    match event_type.split('.').next().unwrap_or_default() {
        "payment" => {
            v.add("PAYMENT_ID", data.get("payment_id"));
            v.add("STATUS", data.get("status"));
            v.add("AMOUNT", money("total_amount")?);
            v.add("TAX", money("tax")?);
            v.add("CURRENCY", currency);
            v.add("PAYMENT_METHOD", data.get("payment_method").or("unknown"));
            v.add("CARD_LAST_FOUR", data.get("card_last_four"));
            v.add("CARD_NETWORK", data.get("card_network"));
            v.add("INVOICE_ID", data.get("invoice_id"));
            v.add("PAYMENT_LINK", data.get("payment_link"));
            v.add("SUBSCRIPTION_ID", data.get("subscription_id"));
            v.add("ERROR_CODE", data.get("error_code"));
            let error_message = match event_type {
                "payment.failed" => data.get("error_message").or("Payment processing failed"),
                _ => data.get("error_message").or(Value::Null),
            };
            v.add("ERROR_MESSAGE", error_message);
            v.add("CREATED_AT", data.get("created_at"));
            v.add("PRODUCT_IDS", product_ids(&data.get("product_cart")));
        }
        "subscription" => {
            v.add("SUBSCRIPTION_ID", data.get("subscription_id"));
            v.add("STATUS", data.get("status"));
            v.add("PRODUCT_ID", data.get("product_id"));
            v.add("QUANTITY", data.get("quantity"));
            v.add("AMOUNT", money("recurring_pre_tax_amount")?);
            v.add("CURRENCY", currency);
            v.add("FREQUENCY", data.get("payment_frequency_interval"));
            v.add("FREQUENCY_COUNT", data.get("payment_frequency_count"));
            v.add("NEXT_BILLING_DATE", data.get("next_billing_date"));
            v.add("PREVIOUS_BILLING_DATE", data.get("previous_billing_date"));
            v.add("CANCELLED_AT", data.get("cancelled_at"));
            v.add(
                "CANCEL_AT_NEXT_BILLING_DATE",
                data.get("cancel_at_next_billing_date"),
            );
            v.add("TRIAL_PERIOD_DAYS", data.get("trial_period_days"));
            v.add("EXPIRES_AT", data.get("expires_at"));
            v.add("CREATED_AT", data.get("created_at"));
        }
        "refund" => {
            v.add("REFUND_ID", data.get("refund_id"));
            v.add("PAYMENT_ID", data.get("payment_id"));
            v.add("STATUS", data.get("status"));
            v.add("AMOUNT", money("amount")?);
            v.add("CURRENCY", currency);
            v.add("REASON", data.get("reason"));
            v.add("IS_PARTIAL", data.get("is_partial"));
            v.add("CREATED_AT", data.get("created_at"));
        }
        "dispute" => {
            v.add("DISPUTE_ID", data.get("dispute_id"));
            v.add("PAYMENT_ID", data.get("payment_id"));
            // Dodo types dispute amounts as strings of digits; numbers work too.
            v.add("AMOUNT", money("amount")?);
            v.add("CURRENCY", currency);
            v.add("STATUS", data.get("dispute_status"));
            v.add("STAGE", data.get("dispute_stage"));
            v.add("REASON", data.get("reason"));
            v.add("REMARKS", data.get("remarks").or(""));
            v.add("CREATED_AT", data.get("created_at"));
        }
        "license_key" => {
            v.add("LICENSE_KEY_ID", data.get("id"));
            v.add("LICENSE_KEY", data.get("key"));
            v.add("STATUS", data.get("status"));
            v.add("PRODUCT_ID", data.get("product_id"));
            v.add("PAYMENT_ID", data.get("payment_id"));
            v.add("SUBSCRIPTION_ID", data.get("subscription_id"));
            v.add("ACTIVATIONS_LIMIT", data.get("activations_limit"));
            v.add("INSTANCES_COUNT", data.get("instances_count"));
            v.add("EXPIRES_AT", data.get("expires_at"));
            v.add("CREATED_AT", data.get("created_at"));
        }
        // Anything else: the top-level values of its data, by their names.
        _ => {
            let members = data.value().and_then(PayloadValue::as_object);
            for (key, _) in members.iter().flat_map(|object| object.iter()) {
                let name = key.to_ascii_uppercase();
                let usable = !name.is_empty()
                    && name.len() <= MAX_KEY
                    && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
                    && !RESERVED_KEYS.contains(&name.as_str());
                if usable && v.get(&name).is_none() {
                    v.add(&name, data.get(key));
                }
            }
        }
    }
    Ok(v)
}

/// The product ids of a payment's cart, comma-separated.
fn product_ids(cart: &Field) -> Option<String> {
    let count = cart.value()?.as_array()?.len();
    let ids: Vec<&str> = (0..count)
        .filter_map(|i| cart.at(i).get("product_id").non_empty_str().ok().flatten())
        .collect();
    (!ids.is_empty()).then(|| ids.join(", "))
}

/// `template` with each `{NAME}` replaced by the variable's value: empty for
/// a variable of another kind of event or one this event leaves out; braces
/// around anything else are left as written, so that a typo shows.
fn fill(template: &str, variables: &Variables) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let name_len = after
            .bytes()
            .take_while(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || *b == b'_')
            .count();
        let name = &after[..name_len];
        let known = KNOWN_VARIABLES.contains(&name) || variables.get(name).is_some();
        if !name.is_empty() && after[name_len..].starts_with('}') && known {
            out.push_str(&variables.text(name).unwrap_or_default());
            rest = &after[name_len + 1..];
        } else {
            out.push('{');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// Every variable name the mappings above can produce for Dodo's event
/// types (for [`fill`]).
const KNOWN_VARIABLES: [&str; 40] = [
    "EVENT_TYPE",
    "TIMESTAMP",
    "CUSTOMER_NAME",
    "CUSTOMER_EMAIL",
    "CUSTOMER_ID",
    "PAYMENT_ID",
    "STATUS",
    "AMOUNT",
    "TAX",
    "CURRENCY",
    "PAYMENT_METHOD",
    "CARD_LAST_FOUR",
    "CARD_NETWORK",
    "INVOICE_ID",
    "PAYMENT_LINK",
    "SUBSCRIPTION_ID",
    "ERROR_CODE",
    "ERROR_MESSAGE",
    "CREATED_AT",
    "PRODUCT_IDS",
    "PRODUCT_ID",
    "QUANTITY",
    "FREQUENCY",
    "FREQUENCY_COUNT",
    "NEXT_BILLING_DATE",
    "PREVIOUS_BILLING_DATE",
    "CANCELLED_AT",
    "CANCEL_AT_NEXT_BILLING_DATE",
    "TRIAL_PERIOD_DAYS",
    "EXPIRES_AT",
    "REFUND_ID",
    "REASON",
    "IS_PARTIAL",
    "DISPUTE_ID",
    "STAGE",
    "REMARKS",
    "LICENSE_KEY_ID",
    "LICENSE_KEY",
    "ACTIVATIONS_LIMIT",
    "INSTANCES_COUNT",
];

/// The built-in e-mail's first sentence for `event_type`.
fn intro(event_type: &str) -> String {
    let sentence = match event_type {
        "payment.succeeded" => "Thank you for your payment.",
        "payment.failed" => "Your payment could not be processed.",
        "payment.processing" => "Your payment is being processed.",
        "payment.cancelled" => "Your payment was cancelled.",
        "refund.succeeded" => "Your refund has been issued.",
        "refund.failed" => "Your refund could not be processed.",
        "subscription.active" => "Your subscription is now active.",
        "subscription.renewed" => "Your subscription has been renewed.",
        "subscription.on_hold" => "Your subscription is on hold.",
        "subscription.cancelled" => "Your subscription has been cancelled.",
        "subscription.failed" => "Your subscription could not be started.",
        "subscription.expired" => "Your subscription has expired.",
        "subscription.plan_changed" => "Your subscription plan has changed.",
        "subscription.updated" => "Your subscription has been updated.",
        "subscription.paused" => "Your subscription is paused.",
        "subscription.unpaused" => "Your subscription has resumed.",
        "license_key.created" => "Your license key is ready.",
        other if other.starts_with("dispute.") => {
            "There is an update on a dispute about your payment."
        }
        other => return format!("There is an update on your account ({other})."),
    };
    sentence.to_owned()
}

/// The details listed in the built-in e-mail: (label, value) rows.
fn rows(v: &Variables, event_type: &str) -> Vec<(String, String)> {
    let amount = v.text("AMOUNT").map(|amount| match v.text("CURRENCY") {
        Some(currency) => format!("{amount} {currency}"),
        None => amount,
    });
    let mut rows: Vec<(&str, Option<String>)> = Vec::new();
    match event_type.split('.').next().unwrap_or_default() {
        "payment" => {
            rows.push(("Amount", amount));
            rows.push(("Payment ID", v.text("PAYMENT_ID")));
            rows.push(("Payment method", v.text("PAYMENT_METHOD")));
            if event_type == "payment.failed" {
                rows.push(("Reason", v.text("ERROR_MESSAGE")));
                rows.push(("Pay again", v.text("PAYMENT_LINK")));
            }
            rows.push(("Invoice", v.text("INVOICE_ID")));
        }
        "subscription" => {
            rows.push(("Subscription ID", v.text("SUBSCRIPTION_ID")));
            rows.push(("Product", v.text("PRODUCT_ID")));
            rows.push(("Amount", amount));
            let every = match (v.text("FREQUENCY_COUNT"), v.text("FREQUENCY")) {
                (Some(count), Some(unit)) if count != "1" => Some(format!("every {count} {unit}")),
                (_, Some(unit)) => Some(format!("every {unit}")),
                _ => None,
            };
            rows.push(("Billed", every));
            rows.push(("Next billing date", v.text("NEXT_BILLING_DATE")));
            rows.push(("Cancelled at", v.text("CANCELLED_AT")));
        }
        "refund" => {
            rows.push(("Amount", amount));
            rows.push(("Refund ID", v.text("REFUND_ID")));
            rows.push(("Payment ID", v.text("PAYMENT_ID")));
            rows.push(("Reason", v.text("REASON")));
        }
        "dispute" => {
            rows.push(("Amount", amount));
            rows.push(("Dispute ID", v.text("DISPUTE_ID")));
            rows.push(("Payment ID", v.text("PAYMENT_ID")));
            rows.push(("Status", v.text("STATUS")));
            rows.push(("Stage", v.text("STAGE")));
        }
        "license_key" => {
            rows.push(("License key", v.text("LICENSE_KEY")));
            rows.push(("Product", v.text("PRODUCT_ID")));
            rows.push(("Expires", v.text("EXPIRES_AT")));
        }
        _ => {
            for (key, _) in &v.0 {
                if !key.starts_with("CUSTOMER_") && key != "EVENT_TYPE" && key != "TIMESTAMP" {
                    rows.push((key.as_str(), v.text(key)));
                }
            }
        }
    }
    rows.push(("Date", v.text("TIMESTAMP")));
    rows.into_iter()
        .filter_map(|(label, value)| Some((label.to_owned(), value.filter(|s| !s.is_empty())?)))
        .collect()
}

fn greeting(v: &Variables) -> String {
    match v
        .text("CUSTOMER_NAME")
        .filter(|name| !name.trim().is_empty())
    {
        Some(name) => format!("Hi {name},"),
        None => "Hello,".to_owned(),
    }
}

fn text_body(v: &Variables, event_type: &str) -> String {
    let mut text = format!("{}\n\n{}\n\n", greeting(v), intro(event_type));
    for (label, value) in rows(v, event_type) {
        text.push_str(&format!("{label}: {value}\n"));
    }
    text
}

fn html_body(subject: &str, v: &Variables, event_type: &str) -> String {
    let mut html = format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{}</title></head>\
         <body style=\"font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;color:#111;line-height:1.5\">\
         <p>{}</p><p>{}</p><table style=\"border-collapse:collapse\">",
        escape(subject),
        escape(&greeting(v)),
        escape(&intro(event_type)),
    );
    for (label, value) in rows(v, event_type) {
        let value = if value.starts_with("https://") {
            format!("<a href=\"{0}\">{0}</a>", escape(&value))
        } else {
            escape(&value)
        };
        html.push_str(&format!(
            "<tr><td style=\"padding:2px 16px 2px 0;color:#555\">{}</td><td style=\"padding:2px 0\">{value}</td></tr>",
            escape(&label)
        ));
    }
    html.push_str("</table></body></html>");
    html
}

/// `text` safe in HTML text and in a double-quoted attribute.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A tag value Resend accepts: ASCII letters, digits, `_` and `-` only
/// (`payment.succeeded` → `payment_succeeded`), at most 256 characters.
fn tag_value(text: &str) -> String {
    let value: String = text
        .chars()
        .map(|c| match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '_' | '-' => c,
            _ => '_',
        })
        .take(MAX_TAG)
        .collect();
    if value.is_empty() {
        "unknown".to_owned()
    } else {
        value
    }
}

/// The delivery key, which dedupes retries and replays in Resend (for 24 h);
/// hashed when it is longer than Resend's 256 characters or not plain ASCII.
fn idempotency_key(delivery_key: &str) -> String {
    if delivery_key.len() <= MAX_IDEMPOTENCY_KEY
        && delivery_key.bytes().all(|b| b.is_ascii_graphic())
    {
        delivery_key.to_owned()
    } else {
        format!("sha256:{}", sha256_hex(delivery_key))
    }
}

/// At most `max` UTF-16 units of `text`, cut on a character boundary, the
/// last character being `…` when it was cut.
fn cut_utf16(text: &str, max: usize) -> String {
    if text.encode_utf16().count() <= max {
        return text.to_owned();
    }
    let mut units = 0;
    let mut end = 0;
    for (i, c) in text.char_indices() {
        // Room for the ellipsis (one unit).
        if units + c.len_utf16() > max - 1 {
            break;
        }
        units += c.len_utf16();
        end = i + c.len_utf8();
    }
    format!("{}…", &text[..end])
}

#[cfg(test)]
mod tests;
