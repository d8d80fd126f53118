//! Microsoft Teams: every Dodo Payments payment, refund, dispute,
//! subscription and license key event becomes an Adaptive Card in a Teams
//! channel or chat, posted to a Workflows webhook (the "Post to a channel
//! when a webhook request is received" flow): a coloured title, the facts,
//! longer texts, a dashboard button and the event time.
//!
//! The mapping is the table in this crate's README.md; what each event says
//! comes from `hookwasm_sdk::notice`.

use hookwasm_sdk::notice::{self, Fact, Notice, Tone};
use hookwasm_sdk::prelude::*;
use hookwasm_sdk::text::{allot, fit, utf16_len};

/// Teams' limit and the shares this plugin gives the parts of a card.
mod limit {
    /// Teams refuses a message over ~28 KB. A card is kept under this many
    /// bytes of JSON, leaving room for what the workflow wraps around it.
    pub const BODY_BYTES: usize = 25_000;
    /// Characters (UTF-16 units) of payload text per card, at most 3 bytes of
    /// JSON each: the facts and longer texts share it.
    pub const TEXT: usize = 6_000;
    /// A fact's value, and a longer text, at most (ours: Adaptive Cards
    /// document no per-element limit).
    pub const FACT: usize = 1_000;
    pub const DETAIL: usize = 4_000;
    /// Lines of a longer text, each its own block.
    pub const DETAIL_LINES: usize = 10;
    /// The title, the footer line and `fallbackText`.
    pub const TITLE: usize = 200;
    pub const FOOTER: usize = 300;
    pub const FALLBACK: usize = 500;
    /// The dashboard link (the common 2,048 characters of a URL).
    pub const URL: usize = 2_048;
}

/// The setting holding the dashboard link template.
const DASHBOARD_URL: &str = "dashboard_url";

/// The Teams plugin.
pub struct Teams;

hookwasm_sdk::plugin!(
    Teams,
    name = "teams",
    description = "Dodo Payments events to Microsoft Teams Adaptive Cards (Workflows webhook)",
    form = include_str!("../form.json"),
);

impl Plugin for Teams {
    fn transform(event: &Event) -> Result<Outcome, Error> {
        let event_type = event.event_type.as_str();
        if !notice::handles(event_type) {
            return Ok(skip(event_type));
        }
        // The workflow's URL (with its `sig`) is the credential: no default.
        let url = event.require_endpoint_url()?;
        let dodo = event.envelope()?;
        let Some(notice) = notice::notice(event_type, &dodo)? else {
            return Ok(skip(event_type));
        };
        let link = match event.setting(DASHBOARD_URL) {
            Some(template) => notice::link(DASHBOARD_URL, template, event_type, &dodo)?,
            None => None,
        }
        .filter(|url| utf16_len(url) <= limit::URL);
        // Smaller text budgets until the card fits; the first always does
        // (at most 3 bytes of JSON per character), the others are a guard.
        // No idempotency key: Workflows webhooks have none.
        let mut budget = limit::TEXT;
        loop {
            let request = Request::post(url).json(message(&notice, link.as_deref(), budget));
            if request.body.len() <= limit::BODY_BYTES || budget < 100 {
                return Ok(request.into());
            }
            budget /= 2;
        }
    }
}

fn skip(event_type: &str) -> Outcome {
    Outcome::skip(format!(
        "teams has no message for {event_type}: it posts {}",
        notice::FAMILIES
    ))
}

/// A `TextRun`: plain text, never read as markdown (a `TextBlock` would
/// read payload text as markdown, and Teams clients differ on escapes).
fn run(text: impl Into<String>) -> Object {
    Object::new()
        .set("type", "TextRun")
        .set("text", text.into())
}

fn rich(inlines: Vec<Object>) -> Value {
    let inlines: Vec<Value> = inlines.into_iter().map(Value::from).collect();
    json!({"type": "RichTextBlock", "inlines": inlines})
}

/// `Label: value`, the label bold, an identifier in monospace.
fn fact_line(fact: &Fact, max: usize) -> Value {
    let value = run(fit(&fact.value, max));
    let value = if fact.id {
        value.set("fontType", "Monospace")
    } else {
        value
    };
    rich(vec![
        run(format!("{}: ", fact.label)).set("weight", "Bolder"),
        value,
    ])
}

/// A longer text: its label, then one block per line.
fn detail_blocks(detail: &Fact, max: usize, out: &mut Vec<Value>) {
    out.push(json!({
        "type": "TextBlock", "text": detail.label, "weight": "Bolder", "wrap": true,
        "spacing": "Medium",
    }));
    let text = fit(&detail.value, max);
    let mut lines: Vec<&str> = text.split('\n').collect();
    let rest = lines.split_off(lines.len().min(limit::DETAIL_LINES - 1));
    let mut lines: Vec<String> = lines.into_iter().map(str::to_owned).collect();
    if !rest.is_empty() {
        lines.push(rest.join(" "));
    }
    for line in lines.into_iter().filter(|l| !l.is_empty()) {
        out.push(rich(vec![run(line)]));
    }
}

fn color(tone: Tone) -> &'static str {
    match tone {
        Tone::Good => "Good",
        Tone::Bad => "Attention",
        Tone::Warning => "Warning",
        Tone::Neutral => "Accent",
    }
}

/// The message with the card, the payload text within `budget` characters.
fn message(notice: &Notice, link: Option<&str>, budget: usize) -> Value {
    let mut footer = format!("Dodo Payments · {}", notice.event_type);
    if let Some(utc) = notice.time_utc() {
        footer.push_str(" · ");
        footer.push_str(&utc);
    }

    let wants: Vec<usize> = notice
        .facts
        .iter()
        .map(|f| utf16_len(&f.value).min(limit::FACT))
        .chain(
            notice
                .details
                .iter()
                .map(|d| utf16_len(&d.value).min(limit::DETAIL)),
        )
        .collect();
    let shares = allot(&wants, budget);
    let (fact_shares, detail_shares) = shares.split_at(notice.facts.len());

    let mut body = vec![json!({
        "type": "TextBlock",
        "text": fit(&format!("{} {}", notice.tone.emoji(), notice.title), limit::TITLE),
        "size": "Large",
        "weight": "Bolder",
        "color": color(notice.tone),
        "wrap": true,
    })];
    for (fact, &share) in notice.facts.iter().zip(fact_shares) {
        body.push(fact_line(fact, share));
    }
    for (detail, &share) in notice.details.iter().zip(detail_shares) {
        detail_blocks(detail, share, &mut body);
    }
    let mut footer = rich(vec![
        run(fit(&footer, limit::FOOTER))
            .set("size", "Small")
            .set("isSubtle", true),
    ]);
    footer["spacing"] = json!("Medium");
    body.push(footer);

    let card = Object::new()
        .set(
            "$schema",
            "http://adaptivecards.io/schemas/adaptive-card.json",
        )
        .set("type", "AdaptiveCard")
        .set("version", "1.4")
        .set("fallbackText", fit(&notice.summary, limit::FALLBACK))
        .set("msteams", json!({"width": "Full"}))
        .set("body", Value::from(body))
        .set(
            "actions",
            link.map(
                |url| json!([{"type": "Action.OpenUrl", "title": "Open in dashboard", "url": url}]),
            ),
        );
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": Value::from(card),
        }],
    })
}

#[cfg(test)]
mod tests;
