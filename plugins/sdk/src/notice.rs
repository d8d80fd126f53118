//! What a Dodo Payments event says, in words, for chat messages: a title, a
//! tone, a one-line summary, labelled facts (amount, customer, status, ids)
//! and longer texts (a failure's error, a dispute's reason). The Slack,
//! Discord and Teams plugins render the same [`Notice`], each in its own
//! format and within its own limits.
//!
//! Handled: every `payment.*`, `refund.*`, `dispute.*`, `subscription.*` and
//! `license_key.*` event ([`notice`] returns `None` for anything else). Values
//! are cleaned ([`crate::text::clean_line`]) but not cut: cutting and escaping
//! is the renderer's job. A license key's `key` is never included: it is the
//! secret the customer bought.

use crate::text::{clean_line, clean_text};
use crate::url::percent_encode;
use crate::{Envelope, Error, Field, PayloadValue, time};

/// The event families [`notice`] describes, for skip reasons.
pub const FAMILIES: &str = "payment.*, refund.*, dispute.*, subscription.* and license_key.*";

/// How an event should look: green, red, amber or plain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tone {
    /// Money in, or things going right (payment succeeded, dispute won).
    Good,
    /// Needs attention now (payment failed, dispute opened, subscription on hold).
    Bad,
    /// Worth a look (payment cancelled, subscription cancelled, dispute challenged).
    Warning,
    /// For information (payment processing, refund succeeded, plan changed).
    Neutral,
}

impl Tone {
    /// An emoji for the tone, to start a title with.
    pub fn emoji(self) -> &'static str {
        match self {
            Tone::Good => "✅",
            Tone::Bad => "🚨",
            Tone::Warning => "⚠️",
            Tone::Neutral => "ℹ️",
        }
    }
}

/// A labelled value, e.g. `Amount: 21.59 USD`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fact {
    /// The label (ours, plain words).
    pub label: &'static str,
    /// The value, cleaned (one line, except in [`Notice::details`]), never empty.
    pub value: String,
    /// Whether the value is an identifier (`pay_…`), best shown as code.
    pub id: bool,
}

/// A Dodo event described for people.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notice {
    /// The event type, e.g. `payment.succeeded`.
    pub event_type: String,
    /// e.g. `Payment succeeded` (letters, digits and spaces only: safe in
    /// any markup).
    pub title: String,
    /// How it should look.
    pub tone: Tone,
    /// One line: `Payment succeeded: 21.59 USD · Jane Doe`, for notification
    /// previews and fallback text.
    pub summary: String,
    /// Short facts, at most 10.
    pub facts: Vec<Fact>,
    /// Longer texts (`Error`, `Reason`, `Remarks`…), possibly multi-line.
    pub details: Vec<Fact>,
    /// When the event happened (the envelope's `timestamp`), in unix
    /// milliseconds, when it is a valid RFC 3339 date-time.
    pub unix_millis: Option<i64>,
}

impl Notice {
    /// The event time as `2025-01-15 23:30 UTC`.
    pub fn time_utc(&self) -> Option<String> {
        self.unix_millis.map(format_utc)
    }

    /// The event time as RFC 3339 with milliseconds, `2025-01-15T23:30:12.482Z`.
    pub fn time_rfc3339(&self) -> Option<String> {
        self.unix_millis.map(format_rfc3339)
    }
}

/// Whether [`notice`] describes events of this type (one of the
/// [`FAMILIES`]); needs no payload.
pub fn handles(event_type: &str) -> bool {
    matches!(
        event_type.split_once('.').map(|(family, _)| family),
        Some("payment" | "refund" | "dispute" | "subscription" | "license_key")
    )
}

/// Describes `event_type`'s payload `dodo`; `None` when the event type is not
/// one of the [`FAMILIES`]. Errors name a mistyped field
/// (`data.total_amount is not an integer`).
pub fn notice(event_type: &str, dodo: &Envelope) -> Result<Option<Notice>, Error> {
    let Some((family, action)) = event_type.split_once('.') else {
        return Ok(None);
    };
    let (noun, tone) = match family {
        "payment" => ("Payment", payment_tone(action)),
        "refund" => ("Refund", refund_tone(action)),
        "dispute" => ("Dispute", dispute_tone(action)),
        "subscription" => ("Subscription", subscription_tone(action)),
        "license_key" => ("License key", license_tone(action)),
        _ => return Ok(None),
    };
    let data = dodo.data();
    let mut notice = Builder::default();
    let amount = match family {
        "payment" => payment(&mut notice, &data, dodo, action)?,
        "refund" => refund(&mut notice, &data, dodo)?,
        "dispute" => dispute(&mut notice, &data, dodo)?,
        "subscription" => subscription(&mut notice, &data, dodo, action)?,
        _ => license_key(&mut notice, &data)?,
    };

    let title = title(noun, action);
    let who = match notice.customer_name.clone() {
        Some(name) => Some(name),
        None => notice.customer_email.clone(),
    };
    let mut summary = title.clone();
    if let Some(amount) = &amount {
        summary.push_str(": ");
        summary.push_str(amount);
    }
    if let Some(who) = who {
        summary.push_str(" · ");
        summary.push_str(&who);
    }
    Ok(Some(Notice {
        event_type: clean_line(event_type),
        title,
        tone,
        summary,
        facts: notice.facts,
        details: notice.details,
        unix_millis: dodo
            .timestamp()
            .str()
            .ok()
            .flatten()
            .and_then(time::unix_millis),
    }))
}

/// `Payment` + `on_hold` → `Payment on hold`; only letters, digits and
/// spaces survive.
fn title(noun: &str, action: &str) -> String {
    let words: String = action
        .chars()
        .map(|c| if c == '_' || c == '.' { ' ' } else { c })
        .filter(|c| c.is_ascii_alphanumeric() || *c == ' ')
        .collect();
    let words = words.split_whitespace().collect::<Vec<_>>().join(" ");
    if words.is_empty() {
        format!("{noun} event")
    } else {
        format!("{noun} {}", words.to_ascii_lowercase())
    }
}

fn payment_tone(action: &str) -> Tone {
    match action {
        "succeeded" => Tone::Good,
        "failed" => Tone::Bad,
        "cancelled" => Tone::Warning,
        _ => Tone::Neutral,
    }
}

fn refund_tone(action: &str) -> Tone {
    match action {
        "failed" => Tone::Bad,
        _ => Tone::Neutral,
    }
}

fn dispute_tone(action: &str) -> Tone {
    match action {
        "opened" | "lost" => Tone::Bad,
        "won" | "cancelled" => Tone::Good,
        "challenged" | "accepted" | "expired" => Tone::Warning,
        _ => Tone::Neutral,
    }
}

fn subscription_tone(action: &str) -> Tone {
    match action {
        "active" | "renewed" | "unpaused" => Tone::Good,
        "on_hold" | "failed" => Tone::Bad,
        "cancelled" | "expired" | "paused" => Tone::Warning,
        _ => Tone::Neutral,
    }
}

fn license_tone(action: &str) -> Tone {
    match action {
        "created" => Tone::Good,
        _ => Tone::Neutral,
    }
}

/// The notice under construction.
#[derive(Default)]
struct Builder {
    facts: Vec<Fact>,
    details: Vec<Fact>,
    customer_name: Option<String>,
    customer_email: Option<String>,
}

impl Builder {
    fn fact(&mut self, label: &'static str, value: Option<String>) {
        if let Some(value) = value.map(|v| clean_line(&v)).filter(|v| !v.is_empty()) {
            self.facts.push(Fact {
                label,
                value,
                id: false,
            });
        }
    }

    /// A string field as a fact; error when it is not a string.
    fn text(&mut self, label: &'static str, field: Field) -> Result<(), Error> {
        self.fact(label, field.str()?.map(str::to_owned));
        Ok(())
    }

    /// An identifier field (`pay_…`) as a fact.
    fn id(&mut self, label: &'static str, field: Field) -> Result<(), Error> {
        if let Some(value) = field.str()?.map(clean_line).filter(|v| !v.is_empty()) {
            self.facts.push(Fact {
                label,
                value,
                id: true,
            });
        }
        Ok(())
    }

    /// A date-time field as `2025-02-15 23:30 UTC` (as sent when it is not
    /// RFC 3339).
    fn date(&mut self, label: &'static str, field: Field) -> Result<(), Error> {
        let text = field.str()?;
        self.fact(
            label,
            text.map(|t| time::unix_millis(t).map_or_else(|| t.to_owned(), format_utc)),
        );
        Ok(())
    }

    fn detail(&mut self, label: &'static str, value: Option<&str>) {
        if let Some(value) = value.map(clean_text).filter(|v| !v.is_empty()) {
            self.details.push(Fact {
                label,
                value,
                id: false,
            });
        }
    }

    /// `Customer` (name) and `Email`.
    fn customer(&mut self, data: &Field) -> Result<(), Error> {
        let customer = data.get("customer");
        let name = customer.get("name").str()?.map(clean_line);
        let email = customer.get("email").str()?.map(clean_line);
        self.customer_name = name.filter(|n| !n.is_empty());
        self.customer_email = email.filter(|e| !e.is_empty());
        self.fact("Customer", self.customer_name.clone());
        self.fact("Email", self.customer_email.clone());
        Ok(())
    }
}

/// `21.59 USD`, or `None` when the amount is absent.
fn money(field: &Field, dodo: &Envelope) -> Result<Option<String>, Error> {
    let currency = dodo.currency()?;
    Ok(field
        .money(currency)?
        .map(|amount| format!("{amount} {}", clean_line(currency))))
}

fn payment(
    notice: &mut Builder,
    data: &Field,
    dodo: &Envelope,
    action: &str,
) -> Result<Option<String>, Error> {
    let amount = money(&data.get("total_amount"), dodo)?;
    notice.fact("Amount", amount.clone());
    notice.text("Status", data.get("status"))?;
    notice.customer(data)?;
    let card = [
        data.get("card_network").str()?,
        data.get("card_last_four")
            .str()?
            .map(|last| format!("•••• {last}"))
            .as_deref(),
    ]
    .into_iter()
    .flatten()
    .map(clean_line)
    .filter(|s| !s.is_empty())
    .collect::<Vec<_>>()
    .join(" ");
    let method = data.get("payment_method").str()?.map(clean_line);
    let method = match (method.filter(|m| !m.is_empty()), card.is_empty()) {
        (Some(method), false) => Some(format!("{method} ({card})")),
        (Some(method), true) => Some(method),
        (None, false) => Some(card),
        (None, true) => None,
    };
    notice.fact("Method", method);
    notice.id("Payment", data.get("payment_id"))?;
    notice.id("Subscription", data.get("subscription_id"))?;

    let message = data.get("error_message").non_empty_str()?;
    let code = data.get("error_code").non_empty_str()?.map(clean_line);
    let message = match (message, action) {
        (Some(message), _) => Some(message),
        // The contract's default for a failure without a message.
        (None, "failed") => Some("Payment processing failed"),
        (None, _) => None,
    };
    if let Some(message) = message {
        let error = match code {
            Some(code) if !code.is_empty() => format!("{message} ({code})"),
            _ => message.to_owned(),
        };
        notice.detail("Error", Some(&error));
    }
    Ok(amount)
}

fn refund(notice: &mut Builder, data: &Field, dodo: &Envelope) -> Result<Option<String>, Error> {
    let amount = money(&data.get("amount"), dodo)?;
    notice.fact("Amount", amount.clone());
    notice.text("Status", data.get("status"))?;
    notice.customer(data)?;
    notice.id("Refund", data.get("refund_id"))?;
    notice.id("Payment", data.get("payment_id"))?;
    let partial = data.get("is_partial").bool()?;
    notice.fact(
        "Partial",
        partial.map(|p| if p { "yes" } else { "no" }.to_owned()),
    );
    notice.detail("Reason", data.get("reason").str()?);
    Ok(amount)
}

fn dispute(notice: &mut Builder, data: &Field, dodo: &Envelope) -> Result<Option<String>, Error> {
    // Dodo types dispute amounts as strings of digits; numbers work too.
    let amount = money(&data.get("amount"), dodo)?;
    notice.fact("Amount", amount.clone());
    notice.text("Status", data.get("dispute_status"))?;
    notice.text("Stage", data.get("dispute_stage"))?;
    notice.customer(data)?;
    notice.id("Dispute", data.get("dispute_id"))?;
    notice.id("Payment", data.get("payment_id"))?;
    notice.detail("Reason", data.get("reason").str()?);
    notice.detail("Remarks", data.get("remarks").str()?);
    Ok(amount)
}

/// A whole number, if the value is one (for counts shown in passing).
fn count(field: &Field) -> Option<u64> {
    match field.value()? {
        // `as_i64` first: a number converted from a `serde_json::Value` is
        // stored as i64 even when positive.
        PayloadValue::Number(n) => n
            .as_i64()
            .and_then(|i| u64::try_from(i).ok())
            .or_else(|| n.as_u64()),
        _ => None,
    }
}

fn subscription(
    notice: &mut Builder,
    data: &Field,
    dodo: &Envelope,
    action: &str,
) -> Result<Option<String>, Error> {
    let amount = money(&data.get("recurring_pre_tax_amount"), dodo)?;
    let interval = data
        .get("payment_frequency_interval")
        .str()?
        .map(|i| clean_line(i).to_lowercase())
        .filter(|i| !i.is_empty());
    let every = match (count(&data.get("payment_frequency_count")), interval) {
        (Some(1) | None, Some(interval)) => Some(format!("per {interval}")),
        (Some(n), Some(interval)) => Some(format!("every {n} {interval}s")),
        (_, None) => None,
    };
    notice.fact(
        "Amount",
        match (&amount, every) {
            (Some(amount), Some(every)) => Some(format!("{amount} {every}")),
            (amount, _) => amount.clone(),
        },
    );
    notice.text("Status", data.get("status"))?;
    notice.customer(data)?;
    notice.id("Subscription", data.get("subscription_id"))?;
    notice.id("Product", data.get("product_id"))?;
    if let Some(quantity) = count(&data.get("quantity")).filter(|&q| q != 1) {
        notice.fact("Quantity", Some(quantity.to_string()));
    }
    notice.date("Cancelled", data.get("cancelled_at"))?;
    let next_billing = data.get("next_billing_date");
    if data.get("cancel_at_next_billing_date").bool()? == Some(true) {
        // Cancelled at the end of the period: that date is when it ends,
        // not another billing.
        notice.date("Ends", next_billing)?;
        if !notice.facts.iter().any(|f| f.label == "Ends") {
            notice.fact("Ends", Some("at the next billing date".to_owned()));
        }
    } else if !matches!(action, "cancelled" | "expired" | "failed") {
        notice.date("Next billing", next_billing)?;
    }
    notice.detail("Feedback", data.get("cancellation_feedback").str()?);
    notice.detail("Comment", data.get("cancellation_comment").str()?);
    Ok(amount)
}

fn license_key(notice: &mut Builder, data: &Field) -> Result<Option<String>, Error> {
    // Never `data.key`: the license key itself is the customer's secret.
    notice.id("License", data.get("id"))?;
    notice.text("Status", data.get("status"))?;
    notice.customer(data)?;
    notice.id("Customer ID", data.get("customer_id"))?;
    notice.id("Product", data.get("product_id"))?;
    notice.id("Payment", data.get("payment_id"))?;
    notice.id("Subscription", data.get("subscription_id"))?;
    let used = count(&data.get("instances_count"));
    let limit = count(&data.get("activations_limit"));
    notice.fact(
        "Activations",
        match (used, limit) {
            (Some(used), Some(limit)) => Some(format!("{used} of {limit}")),
            (Some(used), None) => Some(format!("{used} (no limit)")),
            (None, _) => None,
        },
    );
    notice.date("Expires", data.get("expires_at"))?;
    Ok(None)
}

/// The placeholders of [`link`] and where their values come from.
const PLACEHOLDERS: [&str; 8] = [
    "id",
    "payment_id",
    "subscription_id",
    "refund_id",
    "dispute_id",
    "customer_id",
    "license_key_id",
    "business_id",
];

/// Fills a link template such as
/// `https://app.dodopayments.com/transactions/payments/{payment_id}`: each
/// placeholder is replaced by the percent-encoded value from the payload.
/// `None` when the template needs a value that this event does not have (a
/// link to nowhere is worse than none). Placeholders: `{payment_id}`,
/// `{subscription_id}`, `{refund_id}`, `{dispute_id}`, `{customer_id}`,
/// `{license_key_id}`, `{business_id}`, and `{id}`, the id of the event's
/// own object (the payment of a `payment.*` event, the refund of a
/// `refund.*`…). Other `{…}` are left as they are.
///
/// `setting` names the setting in the error when the template is not an
/// `http(s)://` URL without spaces.
pub fn link(
    setting: &str,
    template: &str,
    event_type: &str,
    dodo: &Envelope,
) -> Result<Option<String>, Error> {
    let lower = template.to_ascii_lowercase();
    let scheme_ok = lower.starts_with("https://") || lower.starts_with("http://");
    if !scheme_ok
        || template
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(Error::new(format!(
            "setting {setting} is not an http(s) URL: {}",
            crate::text::fit(&clean_line(template), 100)
        )));
    }
    let mut url = template.to_owned();
    for name in PLACEHOLDERS {
        let placeholder = format!("{{{name}}}");
        if !url.contains(&placeholder) {
            continue;
        }
        let Some(value) = placeholder_value(name, event_type, dodo) else {
            return Ok(None);
        };
        url = url.replace(&placeholder, &percent_encode(value));
    }
    Ok(Some(url))
}

fn placeholder_value<'a>(name: &str, event_type: &str, dodo: &'a Envelope) -> Option<&'a str> {
    let text = |path: &str| dodo.field(path).non_empty_str().ok().flatten();
    match name {
        "id" => match event_type.split_once('.').map(|(family, _)| family) {
            Some("payment") => text("data.payment_id"),
            Some("refund") => text("data.refund_id"),
            Some("dispute") => text("data.dispute_id"),
            Some("subscription") => text("data.subscription_id"),
            Some("license_key") => text("data.id"),
            _ => None,
        },
        "customer_id" => text("data.customer.customer_id").or_else(|| text("data.customer_id")),
        "license_key_id" => event_type
            .starts_with("license_key.")
            .then(|| text("data.id"))
            .flatten(),
        "business_id" => text("data.business_id").or_else(|| text("business_id")),
        other => text(&format!("data.{other}")),
    }
}

/// Unix milliseconds as `(year, month, day, hour, minute, second, millis)`
/// in UTC (Howard Hinnant's `civil_from_days`).
fn utc(unix_millis: i64) -> (i64, i64, i64, i64, i64, i64, i64) {
    let millis = unix_millis.rem_euclid(1_000);
    let seconds = unix_millis.div_euclid(1_000);
    let days = seconds.div_euclid(86_400);
    let of_day = seconds.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (
        year,
        month,
        day,
        of_day / 3_600,
        of_day % 3_600 / 60,
        of_day % 60,
        millis,
    )
}

/// `2025-01-15 23:30 UTC`.
fn format_utc(unix_millis: i64) -> String {
    let (y, mo, d, h, mi, _, _) = utc(unix_millis);
    format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02} UTC")
}

/// `2025-01-15T23:30:12.482Z`.
fn format_rfc3339(unix_millis: i64) -> String {
    let (y, mo, d, h, mi, s, ms) = utc(unix_millis);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{ms:03}Z")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn describe(payload: &Value) -> Notice {
        let dodo = Envelope::from_value(payload).unwrap();
        let event_type = payload["type"].as_str().unwrap();
        notice(event_type, &dodo).unwrap().unwrap()
    }

    fn facts(notice: &Notice) -> Vec<(&str, &str)> {
        notice
            .facts
            .iter()
            .map(|f| (f.label, f.value.as_str()))
            .collect()
    }

    #[test]
    fn a_failed_payment() {
        let notice = describe(&json!({
            "type": "payment.failed", "timestamp": "2025-01-15T23:12:40.051776Z",
            "data": {"total_amount": 2159, "currency": "USD", "status": "failed",
                     "customer": {"name": "Jane Doe", "email": "jane@example.com"},
                     "payment_method": "card", "card_network": "VISA", "card_last_four": "9995",
                     "payment_id": "pay_1", "subscription_id": null,
                     "error_code": "INSUFFICIENT_FUNDS", "error_message": "No funds"}}));
        assert_eq!(notice.title, "Payment failed");
        assert_eq!(notice.tone, Tone::Bad);
        assert_eq!(notice.summary, "Payment failed: 21.59 USD · Jane Doe");
        assert_eq!(
            facts(&notice),
            [
                ("Amount", "21.59 USD"),
                ("Status", "failed"),
                ("Customer", "Jane Doe"),
                ("Email", "jane@example.com"),
                ("Method", "card (VISA •••• 9995)"),
                ("Payment", "pay_1"),
            ]
        );
        assert!(notice.facts[5].id);
        assert_eq!(notice.details[0].value, "No funds (INSUFFICIENT_FUNDS)");
        assert_eq!(notice.time_utc().as_deref(), Some("2025-01-15 23:12 UTC"));
        assert_eq!(
            notice.time_rfc3339().as_deref(),
            Some("2025-01-15T23:12:40.051Z")
        );
    }

    #[test]
    fn subscriptions_say_how_often() {
        let mut payload = json!({"type": "subscription.on_hold", "data": {
            "recurring_pre_tax_amount": 1234, "currency": "KWD", "payment_frequency_count": 3,
            "payment_frequency_interval": "Month", "quantity": 2,
            "next_billing_date": "2025-08-23T12:01:14.672875Z", "cancel_at_next_billing_date": true}});
        let notice = describe(&payload);
        assert_eq!(notice.title, "Subscription on hold");
        assert_eq!(
            facts(&notice),
            [
                ("Amount", "1.234 KWD every 3 months"),
                ("Quantity", "2"),
                ("Ends", "2025-08-23 12:01 UTC"),
            ]
        );
        assert_eq!(notice.summary, "Subscription on hold: 1.234 KWD");
        payload["data"]["payment_frequency_count"] = json!(1);
        payload["data"]["cancel_at_next_billing_date"] = json!(false);
        let labels = |payload: &Value| -> Vec<&'static str> {
            describe(payload).facts.iter().map(|f| f.label).collect()
        };
        assert_eq!(describe(&payload).facts[0].value, "1.234 KWD per month");
        assert_eq!(labels(&payload), ["Amount", "Quantity", "Next billing"]);
        // A cancelled subscription is not billed again.
        payload["type"] = json!("subscription.cancelled");
        assert_eq!(labels(&payload), ["Amount", "Quantity"]);
        payload["data"]["cancel_at_next_billing_date"] = json!(true);
        payload["data"]["next_billing_date"] = Value::Null;
        assert_eq!(
            describe(&payload).facts[2].value,
            "at the next billing date"
        );
    }

    #[test]
    fn license_keys_keep_the_key_secret() {
        let notice = describe(&json!({"type": "license_key.created", "data": {
            "id": "lic_1", "key": "db44b22c-SECRET", "status": "active", "instances_count": 0,
            "activations_limit": null, "customer_id": "cus_1", "product_id": "pdt_1"}}));
        assert!(!format!("{notice:?}").contains("SECRET"));
        assert_eq!(notice.summary, "License key created");
        assert_eq!(
            facts(&notice),
            [
                ("License", "lic_1"),
                ("Status", "active"),
                ("Customer ID", "cus_1"),
                ("Product", "pdt_1"),
                ("Activations", "0 (no limit)"),
            ]
        );
    }

    #[test]
    fn other_families_and_odd_types() {
        let dodo = Envelope::parse("{}").unwrap();
        for event_type in [
            "payout.paid",
            "credit.added",
            "",
            "payment",
            "abandoned_checkout.x",
        ] {
            assert_eq!(notice(event_type, &dodo).unwrap(), None, "{event_type}");
        }
        let odd = notice("payment.<b>*x*</b>", &dodo).unwrap().unwrap();
        assert_eq!(odd.title, "Payment bxb");
        assert_eq!(
            notice("refund.", &dodo).unwrap().unwrap().title,
            "Refund event"
        );
        assert_eq!(
            notice("dispute.won", &dodo).unwrap().unwrap().summary,
            "Dispute won"
        );
    }

    #[test]
    fn mistyped_values_are_errors() {
        let dodo = Envelope::parse(r#"{"data":{"customer":{"name":7}}}"#).unwrap();
        assert_eq!(
            notice("refund.succeeded", &dodo).unwrap_err().to_string(),
            "data.customer.name is not a string"
        );
        let dodo = Envelope::parse(r#"{"data":{"amount":"12.5"}}"#).unwrap();
        assert_eq!(
            notice("dispute.opened", &dodo).unwrap_err().to_string(),
            "data.amount is not an integer"
        );
    }

    #[test]
    fn links() {
        let payload = json!({"business_id": "bus_1", "data": {"payment_id": "pay/1 x",
                             "customer": {"customer_id": "cus_1"}}});
        let dodo = Envelope::from_value(&payload).unwrap();
        let fill =
            |template: &str, event_type: &str| link("dashboard_url", template, event_type, &dodo);
        assert_eq!(
            fill(
                "https://d.test/p/{payment_id}?c={customer_id}&b={business_id}",
                "payment.failed"
            )
            .unwrap(),
            Some("https://d.test/p/pay%2F1%20x?c=cus_1&b=bus_1".to_owned())
        );
        assert_eq!(
            fill("https://d.test/{id}", "payment.failed")
                .unwrap()
                .as_deref(),
            Some("https://d.test/pay%2F1%20x")
        );
        assert_eq!(fill("https://d.test/{id}", "refund.failed").unwrap(), None);
        assert_eq!(
            fill("https://d.test/{refund_id}", "payment.failed").unwrap(),
            None
        );
        assert_eq!(
            fill("HTTP://d.test/{other}", "payment.failed")
                .unwrap()
                .as_deref(),
            Some("HTTP://d.test/{other}")
        );
        for bad in ["javascript:alert(1)", "d.test/x", "https://d.test/a b", ""] {
            assert!(
                fill(bad, "payment.failed")
                    .unwrap_err()
                    .to_string()
                    .starts_with("setting dashboard_url is not an http(s) URL"),
                "{bad}"
            );
        }
    }

    #[test]
    fn utc_formatting() {
        assert_eq!(format_rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(format_rfc3339(-1), "1969-12-31T23:59:59.999Z");
        assert_eq!(format_utc(951_782_400_000), "2000-02-29 00:00 UTC");
        for text in [
            "2024-02-29T12:34:56.789Z",
            "2038-01-19T03:14:08.000Z",
            "1900-03-01T00:00:00.000Z",
        ] {
            assert_eq!(format_rfc3339(time::unix_millis(text).unwrap()), text);
        }
    }
}
